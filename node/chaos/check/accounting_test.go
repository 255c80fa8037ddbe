package check

import (
	"testing"
	"time"
)

func TestAccountingWithinTotalsPasses(t *testing.T) {
	total := map[string]float64{"cpus": 2, "mem": 1024, "ports": 100}
	samples := []AgentResources{
		// 0.1 added twenty times is not exactly 2 in floating point.
		{At: at(0), Agent: "a1", Total: total, Allocated: map[string]float64{"cpus": sum(0.1, 20), "mem": 1024, "ports": 3}},
		{At: at(1000), Agent: "a2", Total: total, Allocated: map[string]float64{}},
	}
	r := Accounting(samples)
	wantOK(t, r)
	if r.Checked != 2 {
		t.Errorf("checked %d samples, want 2", r.Checked)
	}
}

func sum(x float64, n int) float64 {
	s := 0.0
	for range n {
		s += x
	}
	return s
}

func TestAccountingCatchesOverAllocation(t *testing.T) {
	total := map[string]float64{"cpus": 2, "mem": 1024}
	samples := []AgentResources{
		{At: at(0), Agent: "a1", Total: total, Allocated: map[string]float64{"cpus": 2.5, "mem": 512}},
		{At: at(1000), Agent: "a1", Total: total, Allocated: map[string]float64{"cpus": 3, "mem": 512}},
		{At: at(2000), Agent: "a2", Total: total, Allocated: map[string]float64{"mem": -16, "gpus": 1}},
	}
	r := Accounting(samples)
	wantViolation(t, r, "agent a1 had 2.5 cpus allocated of 2 at 12:00:00.000 (2 samples like it)")
	wantViolation(t, r, "agent a2 had -16 mem allocated, a negative amount, at 12:00:02.000")
	wantViolation(t, r, "agent a2 had 1 gpus allocated of 0")
	if len(r.Violations) != 3 {
		t.Errorf("want 3 violations, got:\n%s", r)
	}
}

func TestLeaksMatchingUnitsPass(t *testing.T) {
	samples := []UnitSample{
		{At: at(0), Agent: "a1", Units: []string{"t1", "t2"}, Running: []string{"t1", "t2"}},
		// t2 just finished; its unit goes away within the grace.
		{At: at(1000), Agent: "a1", Units: []string{"t1", "t2"}, Running: []string{"t1"}},
		{At: at(2000), Agent: "a1", Units: []string{"t1"}, Running: []string{"t1"}},
		{At: at(2000), Agent: "a2"},
	}
	wantOK(t, Leaks(samples, 5*time.Second))
}

func TestLeaksCatchOrphanAndGhost(t *testing.T) {
	var samples []UnitSample
	for i := range 10 {
		samples = append(samples, UnitSample{At: at(i * 1000), Agent: "a1", Units: []string{"t1", "old"}, Running: []string{"t1", "t3"}})
	}
	r := Leaks(samples, 5*time.Second)
	wantViolation(t, r, `agent a1: unit of task "old" runs but the task is not running in the cluster's state, from 12:00:00.000 to 12:00:05.000`)
	wantViolation(t, r, `agent a1: task "t3" is running in the cluster's state but no unit of it runs`)
	if len(r.Violations) != 2 {
		t.Errorf("want each mismatch reported once, got:\n%s", r)
	}

	// With no grace, one sample is enough.
	wantViolation(t, Leaks(samples[:1], 0), `unit of task "old"`)
	// A mismatch that keeps clearing never persists over the grace.
	flapping := []UnitSample{
		{At: at(0), Agent: "a1", Units: []string{"x"}},
		{At: at(3000), Agent: "a1"},
		{At: at(6000), Agent: "a1", Units: []string{"x"}},
		{At: at(9000), Agent: "a1"},
	}
	wantOK(t, Leaks(flapping, 5*time.Second))
}

func TestGoroutinesSteadyAcrossLeaderChangesPass(t *testing.T) {
	var samples []GoroutineSample
	counts := []int{120, 180, 125, 130, 200, 128, 131, 126}
	for i, c := range counts {
		samples = append(samples, GoroutineSample{At: at(i * 10000), Node: "n1", Incarnation: "pid 100", Count: c})
	}
	// A restart: a new process with its own, higher, baseline.
	for i, c := range []int{300, 305, 301, 302} {
		samples = append(samples, GoroutineSample{At: at(100000 + i*10000), Node: "n1", Incarnation: "pid 200", Count: c})
	}
	wantOK(t, Goroutines(samples, DefaultGoroutineConfig()))
}

func TestGoroutinesCatchGrowth(t *testing.T) {
	var samples []GoroutineSample
	for i := range 8 {
		// Each step-down leaves 20 goroutines behind.
		samples = append(samples, GoroutineSample{At: at(i * 10000), Node: "n2", Incarnation: "pid 7", Count: 120 + 20*i})
		samples = append(samples, GoroutineSample{At: at(i * 10000), Node: "n3", Incarnation: "pid 8", Count: 120})
	}
	r := Goroutines(samples, DefaultGoroutineConfig())
	wantViolation(t, r, "node n2 (incarnation pid 7): goroutines grew from a floor of 120 to 200 across 8 samples", "260 at 12:01:10.000")
	if len(r.Violations) != 1 {
		t.Errorf("want only n2, got:\n%s", r)
	}
}
