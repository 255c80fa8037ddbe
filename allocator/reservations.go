package allocator

import (
	"fmt"
	"maps"
	"slices"
)

// Reserve reserves res of an agent's free unreserved resources for role (a dynamic
// reservation, Mesos's RESERVE): from now on they are offered only to frameworks of that
// role. It fails, changing nothing, for an unknown agent, the role "" or "*", an invalid
// amount, or when the agent's free unreserved resources do not contain res (resources in an
// outstanding offer are not free: rescind or wait for the offer first, or reserve them
// inside the accept with AcceptOperations).
//
// Dynamic reservations survive UpdateAgent while they fit; reservations do not count
// toward quota until they are offered or allocated. A deactivated agent may be reserved
// on; it is offered once activated.
func (a *Allocator) Reserve(agent AgentID, role string, res Resources) error {
	st, err := a.reservationTarget("reserve", agent, role, res)
	if err != nil {
		return err
	}
	res = cloneResources(res).normalized()
	if res.IsZero() {
		return nil
	}
	if free := st.unres.free(); !free.Contains(res) {
		return fmt.Errorf("reserve %v on agent %q for role %q: only %v is free and unreserved: %w", res, agent, role, free, ErrOverCommit)
	}
	a.reserve(st, role, res)
	return nil
}

// reserve moves res, non-zero, normalized and within st's free unreserved resources, into
// role's dynamic reservation on st.
func (a *Allocator) reserve(st *agentState, role string, res Resources) {
	st.unres.total = st.unres.total.Sub(res)
	r := a.reservedPool(st, role)
	r.total = r.total.Add(res)
	r.dynamic = r.dynamic.Add(res)
	a.markDirty(st)
}

// Unreserve returns res, dynamically reserved for role on agent, to the agent's unreserved
// resources (Mesos's UNRESERVE). It fails, changing nothing, with ErrOverCommit when res is
// not within the role's dynamic reservation there (static reservations are the agent's
// configuration and cannot be unreserved) or not free: held by a task or an outstanding
// offer, counted as Offer.Dynamic says (tasks and offers use the static reservation first).
func (a *Allocator) Unreserve(agent AgentID, role string, res Resources) error {
	st, err := a.reservationTarget("unreserve", agent, role, res)
	if err != nil {
		return err
	}
	res = cloneResources(res).normalized()
	if res.IsZero() {
		return nil
	}
	r := st.reserved[role]
	var dyn Resources
	if r != nil {
		dyn = r.dynamic
	}
	if !dyn.Contains(res) {
		return fmt.Errorf("unreserve %v on agent %q for role %q: the role's dynamic reservation there is %v: %w", res, agent, role, dyn, ErrOverCommit)
	}
	if free := r.freeDynamic(); !free.Contains(res) {
		return fmt.Errorf("unreserve %v on agent %q for role %q: only %v of the dynamic reservation is free; wait for its tasks or offers to end: %w", res, agent, role, free, ErrOverCommit)
	}
	a.unreserve(st, role, res)
	return nil
}

// unreserve moves res, non-zero, normalized and within the free part of role's dynamic
// reservation on st, back to st's unreserved resources.
func (a *Allocator) unreserve(st *agentState, role string, res Resources) {
	r := st.reserved[role]
	if r.dynamic = r.dynamic.Sub(res); r.dynamic.IsZero() {
		r.dynamic = Resources{}
	}
	r.total = r.total.Sub(res)
	if r.total.IsZero() && r.allocated.IsZero() && r.offered.IsZero() {
		delete(st.reserved, role)
		if len(st.reserved) == 0 {
			st.reserved = nil
		}
		a.unindexReservation(role, st.info.ID)
	}
	st.unres.total = st.unres.total.Add(res)
	a.markDirty(st)
}

func (a *Allocator) reservationTarget(op string, agent AgentID, role string, res Resources) (*agentState, error) {
	st, ok := a.agents[agent]
	if !ok {
		return nil, fmt.Errorf("%s on agent %q: %w", op, agent, ErrUnknownAgent)
	}
	if err := checkRole(role); err != nil {
		return nil, fmt.Errorf("%s on agent %q: %w", op, agent, err)
	}
	if err := res.check(); err != nil {
		return nil, fmt.Errorf("%s on agent %q for role %q: %w: %w", op, agent, role, err, ErrInvalidResources)
	}
	return st, nil
}

// AgentReserved is an agent's reservations, static and dynamic, by role (nil when none).
// The map is a copy.
func (a *Allocator) AgentReserved(id AgentID) map[string]Resources {
	st, ok := a.agents[id]
	if !ok || len(st.reserved) == 0 {
		return nil
	}
	out := make(map[string]Resources, len(st.reserved))
	for role, r := range st.reserved {
		out[role] = r.total
	}
	return out
}

// AgentDynamicReserved is the part of AgentReserved made by Reserve (a copy; nil when none).
func (a *Allocator) AgentDynamicReserved(id AgentID) map[string]Resources {
	st, ok := a.agents[id]
	if !ok {
		return nil
	}
	var out map[string]Resources
	for role, r := range st.reserved {
		if !r.dynamic.IsZero() {
			if out == nil {
				out = map[string]Resources{}
			}
			out[role] = r.dynamic
		}
	}
	return out
}

// AgentStaticReserved is the part of AgentReserved that is the agent's static reservations
// (Agent.Reserved as the allocator keeps it: cleaned, without empty ones; a copy; nil when
// none).
func (a *Allocator) AgentStaticReserved(id AgentID) map[string]Resources {
	if st, ok := a.agents[id]; ok && len(st.info.Reserved) > 0 {
		return maps.Clone(st.info.Reserved)
	}
	return nil
}

// RoleReserved is the sum over all agents of the role's reservations, static and dynamic
// (scalars only: ports of different agents do not add up).
func (a *Allocator) RoleReserved(role string) Resources {
	var sum scalars
	for _, id := range slices.Sorted(maps.Keys(a.reservedAgents[role])) { // sorted: the same float sum every time
		sum = sum.plus(scalarsOf(a.agents[id].reserved[role].total))
	}
	return sum.resources()
}
