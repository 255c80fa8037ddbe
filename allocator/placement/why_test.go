package placement

import (
	"maps"
	"testing"

	"github.com/clusterd/clusterd/allocator"
)

func TestWhyCountsEachHostUnderItsFirstReason(t *testing.T) {
	task := Task{ID: "web.1", Group: "web", Resources: allocator.Resources{CPUs: 4, Mem: 4000},
		Constraints: []Constraint{hard("rack", "LIKE", "r[12]"), hard("hostname", "UNIQUE")}}
	small := node("small", 2, "rack=r1")
	small.Free.CPUs = 0 // too small counts before busy
	taken := busy(node("taken", 8, "rack=r1"), 1)
	noMem := node("nomem", 8, "rack=r2")
	noMem.Free.Mem = 100
	noCPU := busy(node("nocpu", 8, "rack=r2"), 3)
	noCPU.Free.Mem = 100 // CPUs count before memory
	hosts := []Host{node("bare", 8), node("r3", 8, "rack=r3"), small, taken, noCPU, noMem}
	w := Place(Config{}, hosts, []Running{{Group: "web", Host: "taken"}}, []Task{task}).Unplaced["web.1"]
	want := map[string]int{
		"missing attribute rack":     1, // bare
		"constraint rack LIKE r[12]": 1, // r3
		ReasonTooSmallCPUs:           1, // small
		"constraint hostname UNIQUE": 1, // taken, though it also has too few CPUs free
		ReasonCPUs:                   1, // nocpu
		ReasonMem:                    1, // nomem
	}
	if !maps.Equal(w.Reasons, want) || w.Hosts != 6 || w.Permanent != 3 || w.Unplaceable {
		t.Errorf("why %+v, want reasons %v, 6 hosts, 3 of them permanent", w, want)
	}
}

func TestWhyIsUnplaceableWhenNoHostIsBigEnough(t *testing.T) {
	hosts := []Host{busy(node("a", 8), 0), node("b", 4), node("c", 8)}
	hosts[2].Total.GPUs = 0
	tasks := job("web", 2, 6)
	tasks[0].Resources.GPUs = 1
	tasks[1].Resources.GPUs = 1
	w := Place(Config{}, hosts, nil, tasks).Unplaced["web.aa"]
	want := map[string]int{ReasonTooSmallCPUs: 1, ReasonTooSmallGPUs: 2}
	if !maps.Equal(w.Reasons, want) || w.Permanent != 3 || !w.Unplaceable {
		t.Errorf("why %+v, want %v, all permanent: unplaceable", w, want)
	}
}

func TestWhyIsUnplaceableWhenNoHostMatchesAHardConstraint(t *testing.T) {
	hosts := []Host{node("a", 8, "os=linux"), node("b", 8, "os=bsd"), node("c", 8)}
	w := Place(Config{}, hosts, nil, job("web", 1, 1, hard("os", "IS", "plan9"))).Unplaced["web.aa"]
	want := map[string]int{"constraint os IS plan9": 2, "missing attribute os": 1}
	if !maps.Equal(w.Reasons, want) || !w.Unplaceable {
		t.Errorf("why %+v, want %v: unplaceable", w, want)
	}
}

func TestWhyIsNotUnplaceableWhileSomeHostIsOnlyBusy(t *testing.T) {
	hosts := []Host{node("a", 2), busy(node("b", 8), 1)}
	w := Place(Config{}, hosts, nil, job("web", 1, 4)).Unplaced["web.aa"]
	want := map[string]int{ReasonTooSmallCPUs: 1, ReasonCPUs: 1}
	if !maps.Equal(w.Reasons, want) || w.Permanent != 1 || w.Unplaceable {
		t.Errorf("why %+v, want %v, one permanent: not unplaceable", w, want)
	}
}

func TestWhyCountsTheGroupsLayoutForNow(t *testing.T) {
	// A UNIQUE zone whose zones are all used is not cured by more hosts, but by tasks ending:
	// it is counted for now, not as permanent.
	hosts := []Host{node("a", 8, "zone=a"), node("b", 8, "zone=b")}
	w := Place(Config{}, hosts, []Running{{Group: "web", Host: "a"}, {Group: "web", Host: "b"}}, job("web", 1, 1, hard("zone", "UNIQUE"))).Unplaced["web.aa"]
	if !maps.Equal(w.Reasons, map[string]int{"constraint zone UNIQUE": 2}) || w.Permanent != 0 || w.Unplaceable {
		t.Errorf("why %+v, want both hosts under zone UNIQUE, for now", w)
	}
}

func TestWhyOfALaterTaskSeesWhatOtherGroupsPlacedInBetween(t *testing.T) {
	hosts := []Host{busy(node("a", 8), 4), busy(node("b", 8), 4)}
	first := Task{ID: "web.1", Group: "web", Resources: allocator.Resources{CPUs: 6}, Priority: 3}
	cache := Task{ID: "cache", Group: "cache", Resources: allocator.Resources{CPUs: 2}, Priority: 2, Exclusive: true}
	second := first
	second.ID, second.Priority = "web.2", 1
	r := Place(Config{}, hosts, nil, []Task{first, cache, second})
	if got := r.Unplaced["web.1"].Reasons; !maps.Equal(got, map[string]int{ReasonCPUs: 2}) {
		t.Errorf("web.1: reasons %v, want both hosts under insufficient cpus", got)
	}
	want := map[string]int{ReasonHeld: 1, ReasonCPUs: 1}
	if got := r.Unplaced["web.2"].Reasons; !maps.Equal(got, want) {
		t.Errorf("web.2: reasons %v, want %v: cache now holds a host", got, want)
	}
	if got := r.Unplaced["web.1"].Reasons; !maps.Equal(got, map[string]int{ReasonCPUs: 2}) {
		t.Errorf("web.1's reasons changed afterwards: %v", got)
	}
}
