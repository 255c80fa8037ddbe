package allocator

import (
	"fmt"
	"maps"
)

// Reserve reserves res of an agent's free unreserved resources for role (a dynamic
// reservation, Mesos's RESERVE): from now on they are offered only to frameworks of that
// role. It fails, changing nothing, for an unknown agent, the role "" or "*", an invalid
// amount, or when the agent's free unreserved resources do not contain res (resources in an
// outstanding offer are not free: rescind or wait for the offer first).
//
// Dynamic reservations survive UpdateAgent while they fit; reservations do not count
// toward quota until they are offered or allocated.
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
	if st.dynamic == nil {
		st.dynamic = map[string]Resources{}
	}
	st.dynamic[role] = st.dynamic[role].Add(res)
	st.unres.total = st.unres.total.Sub(res)
	p := a.reservedPool(st, role)
	p.total = p.total.Add(res)
	a.dirty[agent] = st
	return nil
}

// Unreserve returns res, dynamically reserved for role on agent, to the agent's unreserved
// resources (Mesos's UNRESERVE). It fails, changing nothing, when res is not within the
// role's dynamic reservation there (static reservations are the agent's configuration and
// cannot be unreserved) or not free (held by a task or an outstanding offer).
func (a *Allocator) Unreserve(agent AgentID, role string, res Resources) error {
	st, err := a.reservationTarget("unreserve", agent, role, res)
	if err != nil {
		return err
	}
	res = cloneResources(res).normalized()
	if res.IsZero() {
		return nil
	}
	dyn := st.dynamic[role]
	if !dyn.Contains(res) {
		return fmt.Errorf("unreserve %v on agent %q for role %q: the role's dynamic reservation there is %v: %w", res, agent, role, dyn, ErrOverCommit)
	}
	p := st.reserved[role]
	if free := p.free(); !free.Contains(res) {
		return fmt.Errorf("unreserve %v on agent %q for role %q: only %v of the reservation is free; wait for its tasks or offers to end: %w", res, agent, role, free, ErrOverCommit)
	}
	if dyn = dyn.Sub(res); dyn.IsZero() {
		delete(st.dynamic, role)
	} else {
		st.dynamic[role] = dyn
	}
	p.total = p.total.Sub(res)
	if p.total.IsZero() && p.allocated.IsZero() && p.offered.IsZero() {
		delete(st.reserved, role)
		if len(st.reserved) == 0 {
			st.reserved = nil
		}
		a.unindexReservation(role, agent)
	}
	st.unres.total = st.unres.total.Add(res)
	a.dirty[agent] = st
	return nil
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
	for role, p := range st.reserved {
		out[role] = p.total
	}
	return out
}

// AgentDynamicReserved is the part of AgentReserved made by Reserve (a copy).
func (a *Allocator) AgentDynamicReserved(id AgentID) map[string]Resources {
	if st, ok := a.agents[id]; ok && len(st.dynamic) > 0 {
		return maps.Clone(st.dynamic)
	}
	return nil
}
