package check

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// UnitSample compares, for one agent at one moment, what really runs
// there (Units: the task ids of its live systemd units or task processes)
// with what the cluster's state says runs there (Running: its tasks in
// TASK_RUNNING, or every non-terminal one if the harness samples during
// transitions).
type UnitSample struct {
	At      time.Time
	Agent   string
	Units   []string
	Running []string
}

// Leaks checks that every agent's units match its running tasks: a unit
// with no running task is leaked (an orphan that still holds resources),
// a running task with no unit is a ghost (the cluster believes it runs).
// A mismatch is a violation once it persists, in every consecutive sample
// of that agent, over at least grace: a task that just ended may keep its
// unit for a moment. With grace 0 every mismatch counts.
func Leaks(samples []UnitSample, grace time.Duration) Result {
	const name = "leaked units"
	var violations []string
	byAgent := map[string][]UnitSample{}
	for _, s := range samples {
		byAgent[s.Agent] = append(byAgent[s.Agent], s)
	}
	agents := make([]string, 0, len(byAgent))
	for a := range byAgent {
		agents = append(agents, a)
	}
	sort.Strings(agents)
	for _, a := range agents {
		ss := byAgent[a]
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].At.Before(ss[j].At) })
		since := map[string]time.Time{} // "orphan\x00id" or "ghost\x00id" → start of its run
		reported := map[string]bool{}
		for _, s := range ss {
			units, running := set(s.Units), set(s.Running)
			now := map[string]bool{}
			for id := range units {
				if !running[id] {
					now["orphan\x00"+id] = true
				}
			}
			for id := range running {
				if !units[id] {
					now["ghost\x00"+id] = true
				}
			}
			for k := range since {
				if !now[k] {
					delete(since, k) // the mismatch cleared: its run ends
				}
			}
			keys := make([]string, 0, len(now))
			for k := range now {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				start, ok := since[k]
				if !ok {
					since[k], start = s.At, s.At
				}
				if reported[k] || s.At.Sub(start) < grace {
					continue
				}
				reported[k] = true
				kind, id, _ := strings.Cut(k, "\x00")
				if kind == "orphan" {
					violations = append(violations, fmt.Sprintf("agent %s: unit of task %q runs but the task is not running in the cluster's state, from %s to %s", a, id, ts(start), ts(s.At)))
				} else {
					violations = append(violations, fmt.Sprintf("agent %s: task %q is running in the cluster's state but no unit of it runs, from %s to %s", a, id, ts(start), ts(s.At)))
				}
			}
		}
	}
	return result(name, len(samples), violations)
}

func set(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// GoroutineSample is one node's goroutine count (from its /metrics or
// pprof), taken after a leader change settled. Incarnation tells the
// node's processes apart (its pid, or start time): a restarted node starts
// from scratch.
type GoroutineSample struct {
	At          time.Time
	Node        string
	Incarnation string
	Count       int
}

// GoroutineConfig tunes Goroutines.
type GoroutineConfig struct {
	// Slack is how many goroutines a node may gain: connections, timers
	// and per-peer loops come and go.
	Slack int
	// MinSamples is how many samples one incarnation needs before its
	// trend is judged.
	MinSamples int
}

// DefaultGoroutineConfig allows a node 50 more goroutines at its late
// floor than at its early one, judged over at least 4 leader changes.
func DefaultGoroutineConfig() GoroutineConfig {
	return GoroutineConfig{Slack: 50, MinSamples: 4}
}

// Goroutines checks that no node's goroutine count grows across leader
// changes: a leader loop, offer stream or watch left behind on each
// step-down is the leak this finds. It compares, per node incarnation, the
// lowest count of the first half of its samples with the lowest count of
// the second half: floors ignore a momentary burst, and a floor that keeps
// rising by more than Slack is growth that did not go away.
func Goroutines(samples []GoroutineSample, cfg GoroutineConfig) Result {
	const name = "goroutine growth"
	def := DefaultGoroutineConfig()
	if cfg.MinSamples < 2 {
		cfg.MinSamples = def.MinSamples
	}
	var violations []string
	type inc struct{ node, incarnation string }
	series := map[inc][]GoroutineSample{}
	for _, s := range samples {
		k := inc{s.Node, s.Incarnation}
		series[k] = append(series[k], s)
	}
	keys := make([]inc, 0, len(series))
	for k := range series {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].node != keys[j].node {
			return keys[i].node < keys[j].node
		}
		return keys[i].incarnation < keys[j].incarnation
	})
	for _, k := range keys {
		ss := series[k]
		if len(ss) < cfg.MinSamples {
			continue
		}
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].At.Before(ss[j].At) })
		half := len(ss) / 2
		early, late := floor(ss[:half]), floor(ss[half:])
		if late-early <= cfg.Slack {
			continue
		}
		var counts []string
		for _, s := range ss {
			counts = append(counts, fmt.Sprintf("%d at %s", s.Count, ts(s.At)))
		}
		violations = append(violations, fmt.Sprintf("node %s (incarnation %s): goroutines grew from a floor of %d to %d across %d samples, more than the slack of %d: %s",
			k.node, k.incarnation, early, late, len(ss), cfg.Slack, listed(counts)))
	}
	return result(name, len(samples), violations)
}

func floor(ss []GoroutineSample) int {
	m := ss[0].Count
	for _, s := range ss[1:] {
		m = min(m, s.Count)
	}
	return m
}
