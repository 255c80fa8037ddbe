package allocator

import (
	"fmt"
	"math"
)

// SetQuota sets a role's quota limit on scalar resources: the role's frameworks together,
// registered or not, never hold more than limit through offers, and Accept rejects launches
// that would take the role beyond it. A zero kind means no limit on that kind; an all-zero
// limit removes the quota. Ports cannot be limited. Lowering a quota below what the role
// already holds takes nothing away: the role is offered nothing more of a limited kind
// until it is back under its limit.
//
// What counts (consumption) is what the role's tasks and outstanding offers hold, reserved
// resources included; unallocated reservations do not count. The default role "*" has no
// quota.
func (a *Allocator) SetQuota(role string, limit Resources) error {
	if role == "" || role == DefaultRole {
		return fmt.Errorf("set quota of role %q: the default role has no quota; set it on a named role: %w", role, ErrInvalidRole)
	}
	if err := limit.check(); err != nil {
		return fmt.Errorf("set quota of role %q: %w: %w", role, err, ErrInvalidResources)
	}
	if len(limit.Ports) > 0 {
		return fmt.Errorf("set quota of role %q: ports cannot be limited; give cpus, mem, disk or gpus: %w", role, ErrInvalidResources)
	}
	q := scalarsOf(limit)
	if q == (scalars{}) {
		delete(a.quotas, role)
	} else {
		a.quotas[role] = q
	}
	// Agents left pending because the role was at its limit are still pending; nothing to
	// wake up.
	return nil
}

// Quota returns a role's quota limit and whether it has one.
func (a *Allocator) Quota(role string) (Resources, bool) {
	q, ok := a.quotas[role]
	return q.resources(), ok
}

// RoleConsumed is what a role's tasks and outstanding offers hold (scalars only): what its
// quota limits. It is RoleAllocated plus RoleOffered.
func (a *Allocator) RoleConsumed(role string) Resources {
	if u := a.consumed[role]; u != nil {
		return u.sum().resources()
	}
	return Resources{}
}

// RoleAllocated is what a role's tasks hold, on all agents, whether their frameworks are
// registered or not (scalars only: ports of different agents do not add up).
func (a *Allocator) RoleAllocated(role string) Resources {
	if u := a.consumed[role]; u != nil {
		return u.tasks.sum.resources()
	}
	return Resources{}
}

// RoleOffered is what a role's outstanding offers hold, on all agents (scalars only).
func (a *Allocator) RoleOffered(role string) Resources {
	if u := a.consumed[role]; u != nil {
		return u.offers.sum.resources()
	}
	return Resources{}
}

// consume accounts s more (add) or less held by role's tasks, or by its offers (offer).
func (a *Allocator) consume(role string, s scalars, add, offer bool) {
	u := a.consumed[role]
	if u == nil {
		u = &roleUse{}
		a.consumed[role] = u
	}
	if offer {
		u.offers.change(s, add)
	} else {
		u.tasks.change(s, add)
	}
	if u.tasks.n == 0 && u.offers.n == 0 {
		delete(a.consumed, role)
	}
}

// headroom is how much more the role may hold: per kind, its limit minus its consumption
// (never below zero), or +Inf for a kind without limit.
func (a *Allocator) headroom(role string) scalars {
	inf := math.Inf(1)
	q, ok := a.quotas[role]
	if !ok {
		return scalars{inf, inf, inf, inf}
	}
	var used scalars
	if u := a.consumed[role]; u != nil {
		used = u.sum()
	}
	room := func(limit, used float64) float64 {
		if limit == 0 {
			return inf
		}
		if r := limit - used; r > epsilon {
			return r
		}
		return 0
	}
	return scalars{room(q.cpus, used.cpus), room(q.mem, used.mem), room(q.disk, used.disk), room(q.gpus, used.gpus)}
}

// capTo returns the part of free that fits in room and takes it from room. Ports are
// not limited and come whole.
func capTo(free Resources, room *scalars) Resources {
	out := free
	out.CPUs = min(free.CPUs, room.cpus)
	out.Mem = min(free.Mem, room.mem)
	out.Disk = min(free.Disk, room.disk)
	if g := math.Floor(room.gpus + epsilon); float64(free.GPUs) > g {
		out.GPUs = int(g)
	}
	room.cpus -= out.CPUs
	room.mem -= out.Mem
	room.disk -= out.Disk
	room.gpus -= float64(out.GPUs)
	return out
}

// withinQuota reports whether the role may hold s more, and if not, which kind is short.
func (a *Allocator) withinQuota(role string, s scalars) (string, bool) {
	room := a.headroom(role)
	for _, k := range []struct {
		name       string
		want, room float64
	}{{"cpus", s.cpus, room.cpus}, {"mem", s.mem, room.mem}, {"disk", s.disk, room.disk}, {"gpus", s.gpus, room.gpus}} {
		if k.want > k.room+epsilon {
			return fmt.Sprintf("%s:%s more but role %q has %s:%s left under its quota", k.name, fmtAmount(k.want), role, k.name, fmtAmount(k.room)), false
		}
	}
	return "", true
}
