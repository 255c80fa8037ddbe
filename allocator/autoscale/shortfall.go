package autoscale

import (
	"cmp"
	"slices"
)

// Shortfall is Fenzo's shortfall analysis of a group: how many new hosts of the group's
// shape the pending tasks counted for it would need.
type Shortfall struct {
	Tasks int    // pending tasks counted: more hosts of this group would place them
	Need  Amount // what they ask for, summed
	Hosts int    // new hosts of the shape that place them all, by first-fit decreasing
	// Skipped counts the pending tasks considered for the group but not counted, by why
	// more of its hosts would not help ("larger than the host shape", "constraint zone IS
	// us-east-1d not met by the group's hosts").
	Skipped map[string]int
}

// HostsFor is how many hosts of shape the asks need when bin-packed first-fit decreasing by
// dominant resource (the share of the shape an ask takes in its largest resource), the
// classic approximation within 11/9 of the optimum plus one host. Asks that do not fit
// the shape at all are left out. Ties keep the asks' order, so the result is deterministic.
func HostsFor(shape Amount, asks []Amount) int {
	order := make([]int, 0, len(asks))
	for i, a := range asks {
		if shape.Fits(a) && !a.IsZero() {
			order = append(order, i)
		}
	}
	share := make([]float64, len(asks))
	for _, i := range order {
		share[i] = asks[i].DominantShare(shape)
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(share[b], share[a]) })
	var free []Amount // what each opened host still has
	for _, i := range order {
		placed := false
		for h := range free {
			if free[h].Fits(asks[i]) {
				free[h] = free[h].Sub(asks[i])
				placed = true
				break
			}
		}
		if !placed {
			free = append(free, shape.Sub(asks[i]))
		}
	}
	return len(free)
}

// shortfallOf analyses the pending tasks assigned to one group.
func shortfallOf(shape Amount, pending []*Pending) Shortfall {
	s := Shortfall{Skipped: map[string]int{}}
	asks := make([]Amount, 0, len(pending))
	for _, p := range pending {
		asks = append(asks, p.Ask)
		s.Need = s.Need.Add(p.Ask)
	}
	s.Tasks = len(pending)
	s.Hosts = HostsFor(shape, asks)
	return s
}
