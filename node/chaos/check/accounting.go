package check

import (
	"fmt"
	"sort"
	"time"
)

// AgentResources is one agent's resources as the leader accounted them at
// one moment: its total and what its tasks (and offers, if the harness
// counts them) hold, by resource name (cpus, mem, disk, gpus, and ports as
// a count).
type AgentResources struct {
	At        time.Time
	Agent     string
	Total     map[string]float64
	Allocated map[string]float64
}

// Accounting checks that no agent ever had more of a resource allocated
// than it has, and none a negative amount (a release counted twice).
// Scalars are compared with a relative tolerance of 1e-9, because the
// allocator's sums of fractional cpus are floating point.
func Accounting(samples []AgentResources) Result {
	const name = "resource accounting"
	var violations []string
	type key struct{ agent, res string }
	over := map[key]int{}
	first := map[key]string{}
	for _, s := range samples {
		names := make([]string, 0, len(s.Allocated))
		for r := range s.Allocated {
			names = append(names, r)
		}
		sort.Strings(names)
		for _, r := range names {
			used, total := s.Allocated[r], s.Total[r]
			var what string
			switch {
			case used < -1e-9:
				what = fmt.Sprintf("agent %s had %g %s allocated, a negative amount, at %s", s.Agent, used, r, ts(s.At))
			case used > total+1e-9*max(1, total):
				what = fmt.Sprintf("agent %s had %g %s allocated of %g at %s", s.Agent, used, r, total, ts(s.At))
			default:
				continue
			}
			k := key{s.Agent, r}
			if over[k] == 0 {
				first[k] = what
			}
			over[k]++
		}
	}
	keys := make([]key, 0, len(over))
	for k := range over {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].agent != keys[j].agent {
			return keys[i].agent < keys[j].agent
		}
		return keys[i].res < keys[j].res
	})
	for _, k := range keys {
		violations = append(violations, fmt.Sprintf("%s (%d samples like it)", first[k], over[k]))
	}
	return result(name, len(samples), violations)
}
