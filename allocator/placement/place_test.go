package placement

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/clusterd/clusterd/allocator"
)

func TestPlaceOrdersTasksByPriorityThenPendingSinceThenID(t *testing.T) {
	mk := func(id string, prio int, waited time.Duration) Task {
		return Task{ID: id, Group: id, Resources: allocator.Resources{CPUs: 1}, Priority: prio, PendingSince: t0.Add(-waited)}
	}
	tasks := []Task{mk("low-old", 0, time.Hour), mk("high-new", 2, 0), mk("mid-b", 1, time.Minute), mk("mid-a", 1, time.Minute), mk("mid-new", 1, 0), mk("mid-old", 1, time.Hour)}
	r := Place(Config{}, []Host{node("a", 4)}, nil, tasks)
	var got []string
	for _, a := range r.Assignments {
		got = append(got, a.Task)
	}
	if want := []string{"high-new", "mid-old", "mid-a", "mid-b"}; !slices.Equal(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
	if got := slices.Sorted(maps.Keys(r.Unplaced)); !slices.Equal(got, []string{"low-old", "mid-new"}) {
		t.Errorf("unplaced %v, want [low-old mid-new]", got)
	}
}

func TestPlaceSeesItsOwnEarlierPlacements(t *testing.T) {
	r := Place(Config{}, []Host{node("a", 8)}, nil, job("web", 3, 3))
	wantPlaced(t, r, 2)
	if w := r.Unplaced["web.ac"]; !maps.Equal(w.Reasons, map[string]int{ReasonCPUs: 1}) {
		t.Errorf("why %+v, want the host under insufficient cpus", w)
	}
}

func TestPlaceTakesPortsLowestFirstFromFreeRanges(t *testing.T) {
	h := node("a", 8)
	h.Total.Ports = []allocator.PortRange{{Begin: 31000, End: 31010}}
	h.Free.Ports = []allocator.PortRange{{Begin: 31005, End: 31010}, {Begin: 31000, End: 31001}} // unsorted on purpose
	tasks := job("web", 3, 1)
	for i := range tasks {
		tasks[i].Ports = 3
	}
	r := Place(Config{}, []Host{h}, nil, tasks)
	wantPlaced(t, r, 2)
	got := fmt.Sprint(r.Assignments[0].Ports, r.Assignments[1].Ports)
	if want := "[31000 31001 31005] [31006 31007 31008]"; got != want {
		t.Errorf("ports %s, want %s", got, want)
	}
	if w := r.Unplaced["web.ac"]; !maps.Equal(w.Reasons, map[string]int{ReasonPorts: 1}) {
		t.Errorf("why %+v, want insufficient ports", w)
	}
}

func TestPlaceDoesNotDependOnTheOrderOfHostsOrTasks(t *testing.T) {
	var hosts []Host
	for i := range 12 {
		hosts = append(hosts, busy(node(fmt.Sprintf("h%02d", i), 8, "zone="+string(rune('a'+i%3))), float64(2+i%5)))
	}
	tasks := append(job("web", 6, 1, hard("zone", "GROUP_BY"), hard("hostname", "UNIQUE")), job("db", 5, 2, soft("zone", "UNIQUE"))...)
	tasks = append(tasks, job("batch", 8, 0.5)...)
	want := Place(Config{}, hosts, nil, tasks)
	for k := range 5 {
		h, ts := slices.Clone(hosts), slices.Clone(tasks)
		slices.Reverse(h)
		ts = append(ts[k:], ts[:k]...)
		if k%2 == 1 {
			slices.Reverse(ts)
		}
		got := Place(Config{}, h, nil, ts)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("rotation %d: result differs:\n got  %+v\n want %+v", k, got, want)
		}
	}
}

func TestPlaceLeavesOutRepeatedIDs(t *testing.T) {
	a1, a2 := node("a", 1), node("a", 8) // the second "a" is left out
	tasks := []Task{{ID: "t", Group: "x", Resources: allocator.Resources{CPUs: 1}, Priority: 1}, {ID: "t", Group: "y", Resources: allocator.Resources{CPUs: 1}}}
	r := Place(Config{}, []Host{a1, a2}, nil, tasks)
	if len(r.Assignments) != 1 || len(r.Unplaced) != 0 {
		t.Fatalf("result %+v, want one assignment of t", r)
	}
	tasks[1].Resources.CPUs = 0.5
	r = Place(Config{}, []Host{a1, a2}, nil, append(tasks, Task{ID: "u", Resources: allocator.Resources{CPUs: 0.5}}))
	if w := r.Unplaced["u"]; w.Hosts != 1 {
		t.Errorf("why %+v, want one host considered", w)
	}
}

func TestPlaceDoesNotModifyItsArguments(t *testing.T) {
	h := node("a", 8, "zone=a")
	h.Free.Ports = []allocator.PortRange{{Begin: 31000, End: 31010}}
	hosts := []Host{h, node("b", 8, "zone=b")}
	running := []Running{{Group: "web", Host: "a", Exclusive: true}}
	tasks := job("web", 3, 1, hard("zone", "GROUP_BY"))
	tasks[0].Ports = 2
	clone := func() ([]Host, []Running, []Task) {
		var hs []Host
		for _, h := range hosts {
			h.Attributes = maps.Clone(h.Attributes)
			h.Free.Ports = slices.Clone(h.Free.Ports)
			hs = append(hs, h)
		}
		var ts []Task
		for _, t := range tasks {
			t.Constraints = slices.Clone(t.Constraints)
			ts = append(ts, t)
		}
		return hs, slices.Clone(running), ts
	}
	h0, r0, t0 := clone()
	Place(Config{}, hosts, running, tasks)
	if h1, r1, t1 := clone(); !reflect.DeepEqual(h0, h1) || !reflect.DeepEqual(r0, r1) || !reflect.DeepEqual(t0, t1) {
		t.Errorf("Place modified its arguments")
	}
}

func TestPlaceTakesATotalBelowFreeAsFree(t *testing.T) {
	h := node("a", 8)
	h.Total = allocator.Resources{} // unknown
	r := Place(Config{}, []Host{h}, nil, job("web", 9, 1))
	wantPlaced(t, r, 8)
	if w := r.Unplaced["web.ai"]; w.Unplaceable || !maps.Equal(w.Reasons, map[string]int{ReasonCPUs: 1}) {
		t.Errorf("why %+v, want insufficient cpus for now", w)
	}
}

func TestPlaceIgnoresRunningTasksOnHostsNotGiven(t *testing.T) {
	r := Place(Config{}, []Host{node("a", 8)}, []Running{{Group: "web", Host: "gone"}}, job("web", 1, 1, hard("hostname", "UNIQUE")))
	wantPlaced(t, r, 1)
}

func TestPlaceWithoutHostsExplainsNothingAsUnplaceable(t *testing.T) {
	r := Place(Config{}, nil, nil, job("web", 1, 1))
	if w, ok := r.Unplaced["web.aa"]; !ok || w.Hosts != 0 || w.Unplaceable || len(w.Reasons) != 0 {
		t.Errorf("why %+v, want no host considered and not unplaceable (a host may come)", w)
	}
}

func TestPlaceRejectsNegativeResourcesAsInvalid(t *testing.T) {
	tasks := job("web", 1, -1)
	w := Place(Config{}, []Host{node("a", 8)}, nil, tasks).Unplaced["web.aa"]
	if w.Invalid == "" || !w.Unplaceable {
		t.Errorf("why %+v, want invalid", w)
	}
}
