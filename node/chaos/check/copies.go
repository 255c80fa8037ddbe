package check

import (
	"fmt"
	"sort"
	"time"
)

// RunningSample is what really ran on one agent at one moment: the task
// ids of its live units or processes (from systemd or /proc, not from the
// agent's own report), one entry per unit, so a task started twice on
// one agent appears twice.
type RunningSample struct {
	At    time.Time
	Agent string
	Tasks []string
}

// AtMostOneCopy checks that no task id ever ran twice at once: never two
// units of it on one agent, and never on two agents in samples taken
// within window of each other (the sampling period: a task replaced after
// its agent was lost gets a new id, so the same id on two agents close in
// time is a second copy, not a move).
func AtMostOneCopy(samples []RunningSample, window time.Duration) Result {
	const name = "at most one running copy"
	type sighting struct {
		at    time.Time
		agent string
	}
	var violations []string
	byTask := map[string][]sighting{}
	for _, s := range samples {
		count := map[string]int{}
		for _, id := range s.Tasks {
			count[id]++
		}
		ids := make([]string, 0, len(count))
		for id := range count {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if count[id] > 1 {
				violations = append(violations, fmt.Sprintf("task %q ran %d times on agent %s at %s", id, count[id], s.Agent, ts(s.At)))
			}
			byTask[id] = append(byTask[id], sighting{s.At, s.Agent})
		}
	}
	ids := make([]string, 0, len(byTask))
	for id := range byTask {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		ss := byTask[id]
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].at.Before(ss[j].at) })
		// Each sighting against the later ones within the window; report
		// the first overlap per task (one copy too many is the bug; its
		// every sample would only repeat it).
	found:
		for i := range ss {
			for j := i + 1; j < len(ss) && ss[j].at.Sub(ss[i].at) <= window; j++ {
				if ss[j].agent != ss[i].agent {
					violations = append(violations, fmt.Sprintf("task %q ran on two agents at once: %s at %s and %s at %s",
						id, ss[i].agent, ts(ss[i].at), ss[j].agent, ts(ss[j].at)))
					break found
				}
			}
		}
	}
	return result(name, len(samples), violations)
}
