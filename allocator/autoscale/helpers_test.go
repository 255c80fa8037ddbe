package autoscale

import (
	"testing"
	"time"
)

// t0 is the fake clock's start: evaluations pass t0.Add(...), never time.Now.
var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

const gib = 1024.0

// shape is the host of the tests' group: 4 cpus, 16 GiB, 1000 ports.
var shape = Amount{CPUs: 4, Mem: 16 * gib, Ports: 1000}

// testRules are immediate (no delays, no cool-down) unless a test sets them.
func testRules() Rules {
	return Rules{Name: "web", MinSize: 0, MaxSize: 10, MinIdle: 0, MaxIdle: 0, Shape: shape,
		Attributes: map[string][]string{"instance-type": {"m6i.xlarge"}}}
}

// host is a ready host of group web in zone with the given tasks.
func host(id, zone string, ts ...Task) Host {
	h := Host{ID: id, Zone: zone, State: Ready, Total: shape,
		Attributes: map[string]string{"asg": "web", "zone": zone, "instance-type": "m6i.xlarge"}}
	for _, t := range ts {
		h.Tasks = append(h.Tasks, t)
		h.Allocated = h.Allocated.Add(t.Ask)
	}
	return h
}

func service(id string, cpus float64) Task {
	return Task{ID: id, Lifetime: Long, Ask: Amount{CPUs: cpus, Mem: cpus * gib}}
}

func batch(id string, cpus float64) Task {
	return Task{ID: id, Lifetime: Short, Ask: Amount{CPUs: cpus, Mem: cpus * gib}}
}

func pending(id string, cpus, memGiB float64) Pending {
	return Pending{ID: id, Ask: Amount{CPUs: cpus, Mem: memGiB * gib}, Lifetime: Short}
}

func newDecider(t *testing.T, rules ...Rules) *Decider {
	t.Helper()
	d, err := NewDecider("", rules)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// only is the one decision of the evaluation, failing the test if there are more.
func only(t *testing.T, ds []Decision) Decision {
	t.Helper()
	if len(ds) != 1 {
		t.Fatalf("got %d decisions, want 1: %+v", len(ds), ds)
	}
	return ds[0]
}

func want(t *testing.T, d Decision, kind Kind, count int) {
	t.Helper()
	if d.Kind != kind || d.Count != count {
		t.Fatalf("decision %s %d (%s), want %s %d", d.Kind, d.Count, d.Reason, kind, count)
	}
}
