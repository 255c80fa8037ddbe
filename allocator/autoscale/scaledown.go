package autoscale

import (
	"cmp"
	"slices"
)

// drainPlan is the hosts chosen for removal and why each.
type drainPlan struct {
	hosts        []*Host
	idle         int // of them, hosts that run nothing
	consolidated int // of them, hosts whose tasks move or finish
}

// chooseDrain picks at most budget hosts of a group to drain: up to extraIdle hosts that run
// nothing and, when r.ConsolidateBelow is set, lightly used hosts whose long-lived tasks fit
// in what the group's other busy hosts have free (after the tasks of hosts already draining
// are found room). Each pick is from the zone with the most ready hosts left (ties by zone
// name), so removal keeps the zones balanced; within a zone, hosts that run nothing come
// first, then those with the fewest long-lived tasks, the fewest tasks, the least used, by ID.
func chooseDrain(r *Rules, hosts []*Host, extraIdle, budget int) drainPlan {
	var plan drainPlan
	if budget <= 0 {
		return plan
	}
	zones := map[string]int{}
	var candidates, targets []*Host
	for _, h := range hosts {
		if h.State != Ready {
			continue
		}
		zones[h.Zone]++
		switch {
		case len(h.Tasks) == 0:
			candidates = append(candidates, h)
		default:
			targets = append(targets, h)
			if r.ConsolidateBelow > 0 && h.Allocated.DominantShare(h.Total) < r.ConsolidateBelow {
				candidates = append(candidates, h)
			}
		}
	}
	if len(candidates) == 0 {
		return plan
	}
	slices.SortFunc(candidates, func(a, b *Host) int {
		return cmp.Or(
			cmp.Compare(min(len(a.Tasks), 1), min(len(b.Tasks), 1)),
			cmp.Compare(a.longLived(), b.longLived()),
			cmp.Compare(len(a.Tasks), len(b.Tasks)),
			cmp.Compare(a.Allocated.DominantShare(a.Total), b.Allocated.DominantShare(b.Total)),
			cmp.Compare(a.ID, b.ID))
	})
	slices.SortFunc(targets, func(a, b *Host) int { return cmp.Compare(a.ID, b.ID) })
	room := newRoom(targets)
	// Long-lived tasks of hosts already draining need room first: they are moving now.
	consolidate := r.ConsolidateBelow > 0
	for _, h := range hosts {
		if h.State == Draining && !room.take(h, nil) {
			consolidate = false // the group is short of room already: move nothing more
		}
	}
	chosen := map[*Host]bool{}
	for budget > 0 {
		order := make([]string, 0, len(zones))
		for z := range zones {
			order = append(order, z)
		}
		slices.SortFunc(order, func(a, b string) int { return cmp.Or(cmp.Compare(zones[b], zones[a]), cmp.Compare(a, b)) })
		var pick *Host
		for _, z := range order {
			for _, h := range candidates {
				if chosen[h] || h.Zone != z {
					continue
				}
				if len(h.Tasks) == 0 {
					if plan.idle < extraIdle {
						pick = h
						break
					}
					continue
				}
				if consolidate && !room.received[h] && room.take(h, chosen) {
					pick = h
					break
				}
			}
			if pick != nil {
				break
			}
		}
		if pick == nil {
			break
		}
		chosen[pick] = true
		plan.hosts = append(plan.hosts, pick)
		if len(pick.Tasks) == 0 {
			plan.idle++
		} else {
			plan.consolidated++
		}
		zones[pick.Zone]--
		budget--
	}
	return plan
}

// room is what the busy ready hosts of a group have free for tasks moved off other hosts.
type room struct {
	hosts    []*Host
	free     map[*Host]Amount
	received map[*Host]bool // hosts promised some moved task: they stay
}

func newRoom(targets []*Host) *room {
	r := &room{hosts: targets, free: map[*Host]Amount{}, received: map[*Host]bool{}}
	for _, h := range targets {
		r.free[h] = h.Total.Sub(h.Allocated)
	}
	return r
}

// take finds room, first-fit decreasing, for the long-lived tasks of host from on hosts other
// than from and those in gone, and keeps it if all fit; short-lived tasks finish in place.
func (r *room) take(from *Host, gone map[*Host]bool) bool {
	var moving []Amount
	for _, t := range from.Tasks {
		if t.Lifetime.longLived() {
			moving = append(moving, t.Ask)
		}
	}
	slices.SortStableFunc(moving, func(a, b Amount) int {
		return cmp.Compare(b.DominantShare(from.Total), a.DominantShare(from.Total))
	})
	free := map[*Host]Amount{}
	used := map[*Host]bool{}
	for _, a := range moving {
		placed := false
		for _, h := range r.hosts {
			if h == from || gone[h] {
				continue
			}
			f, ok := free[h]
			if !ok {
				f = r.free[h]
			}
			if f.Fits(a) {
				free[h] = f.Sub(a)
				used[h] = true
				placed = true
				break
			}
		}
		if !placed {
			return false
		}
	}
	for h, f := range free {
		r.free[h] = f
	}
	for h := range used {
		r.received[h] = true
	}
	return true
}
