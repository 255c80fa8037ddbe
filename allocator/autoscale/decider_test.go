package autoscale

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/allocator/placement"
)

type placementResources = allocator.Resources

func TestShortfallBinPacksPendingBacklogIntoHostsOfTheShape(t *testing.T) {
	d := newDecider(t, testRules())
	s := Snapshot{
		Hosts:   []Host{host("h1", "a", service("s1", 4))}, // full
		Pending: []Pending{pending("p1", 2.5, 1), pending("p2", 1.5, 0.5), pending("p3", 1, 0.5)},
	}
	dec := only(t, d.Evaluate(t0, s))
	want(t, dec, ScaleUp, 2)
	const reason = "3 tasks need 5 cpus and 2 GiB that no host has: 2 more hosts of shape 4 cpus/16 GiB/1000 ports"
	if dec.Reason != reason {
		t.Fatalf("reason %q, want %q", dec.Reason, reason)
	}
	if dec.Shortfall != 2 || dec.Size != 1 {
		t.Fatalf("shortfall %d size %d, want 2 and 1", dec.Shortfall, dec.Size)
	}
}

func TestHostsForPacksFirstFitDecreasingByDominantResource(t *testing.T) {
	cpu := func(c float64) Amount { return Amount{CPUs: c, Mem: 1} }
	for _, tc := range []struct {
		name string
		asks []Amount
		want int
	}{
		{"nothing", nil, 0},
		// In the order given, first fit opens 4 hosts (1+1+1, 3, 3, 3); decreasing, 3.
		{"large first", []Amount{cpu(1), cpu(1), cpu(1), cpu(3), cpu(3), cpu(3)}, 3},
		// Memory dominates two asks: they cannot share a host though their cpus would.
		{"by memory", []Amount{{CPUs: 1, Mem: 12 * gib}, {CPUs: 1, Mem: 10 * gib}, {CPUs: 2, Mem: 1}}, 2},
		{"larger than the shape left out", []Amount{cpu(8), cpu(2)}, 1},
		{"gpus the shape lacks left out", []Amount{{CPUs: 1, GPUs: 1}}, 0},
		{"one per host by ports", []Amount{{CPUs: 0.1, Ports: 600}, {CPUs: 0.1, Ports: 600}}, 2},
	} {
		if got := HostsFor(shape, tc.asks); got != tc.want {
			t.Errorf("%s: HostsFor = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestThresholdsKeepMinIdleHosts(t *testing.T) {
	r := testRules()
	r.MinIdle, r.MaxIdle = 2, 3
	d := newDecider(t, r)
	busy := []Host{host("h1", "a", service("s1", 1)), host("h2", "b", service("s2", 1))}
	dec := only(t, d.Evaluate(t0, Snapshot{Hosts: busy}))
	want(t, dec, ScaleUp, 2)
	if !strings.Contains(dec.Reason, "0 idle hosts, want at least 2: 2 more hosts") {
		t.Fatalf("reason %q does not name the threshold", dec.Reason)
	}
	// Once they boot (counted idle), nothing more.
	dec = only(t, d.Evaluate(t0.Add(time.Minute), Snapshot{Hosts: busy, Booting: map[string]int{"web": 2}}))
	want(t, dec, None, 0)
}

func TestScaleUpTakesTheLargerOfThresholdsAndShortfall(t *testing.T) {
	r := testRules()
	r.MinIdle, r.MaxIdle = 1, 2
	d := newDecider(t, r)
	s := Snapshot{Hosts: []Host{host("h1", "a", service("s1", 4))},
		Pending: []Pending{pending("p1", 3, 1), pending("p2", 3, 1), pending("p3", 3, 1)}}
	dec := only(t, d.Evaluate(t0, s))
	want(t, dec, ScaleUp, 3) // shortfall 3 beats the 1 idle host wanted
	if !strings.Contains(dec.Reason, "3 more hosts") || !strings.Contains(dec.Reason, "want at least 1") {
		t.Fatalf("reason %q should give both strategies", dec.Reason)
	}
	// Booting hosts take the backlog first: with 3 booting, no more.
	s.Booting = map[string]int{"web": 3}
	d = newDecider(t, r)
	want(t, only(t, d.Evaluate(t0, s)), None, 0)
}

func TestScaleUpWaitsOutHysteresisAndCooldown(t *testing.T) {
	r := testRules()
	r.ScaleUpDelay, r.Cooldown = 2*time.Minute, 5*time.Minute
	d := newDecider(t, r)
	full := []Host{host("h1", "a", service("s1", 4))}
	need := Snapshot{Hosts: full, Pending: []Pending{pending("p1", 2, 1)}}
	calm := Snapshot{Hosts: full}

	dec := only(t, d.Evaluate(t0, need))
	want(t, dec, None, 0)
	if !strings.Contains(dec.Reason, "scale-up delay") {
		t.Fatalf("reason %q should say it waits for the delay", dec.Reason)
	}
	want(t, only(t, d.Evaluate(t0.Add(time.Minute), need)), None, 0)
	// The burst is gone before the delay: the need starts over.
	want(t, only(t, d.Evaluate(t0.Add(90*time.Second), calm)), None, 0)
	want(t, only(t, d.Evaluate(t0.Add(2*time.Minute), need)), None, 0)
	want(t, only(t, d.Evaluate(t0.Add(3*time.Minute), need)), None, 0)
	want(t, only(t, d.Evaluate(t0.Add(4*time.Minute), need)), ScaleUp, 1)

	// Cool-down: the need lasts (say the host failed to boot), but the next action waits
	// 5 minutes after the last one.
	for _, m := range []time.Duration{5, 7, 8} {
		dec := only(t, d.Evaluate(t0.Add(m*time.Minute), need))
		want(t, dec, None, 0)
		if m >= 7 && !strings.Contains(dec.Reason, "cooling down") {
			t.Fatalf("at +%dm: reason %q should say it cools down", m, dec.Reason)
		}
	}
	want(t, only(t, d.Evaluate(t0.Add(9*time.Minute), need)), ScaleUp, 1)
}

func TestScaleDownWaitsOutItsDelayAndCooldownAfterScaleUp(t *testing.T) {
	r := testRules()
	r.MaxIdle, r.ScaleDownDelay, r.Cooldown = 0, 10*time.Minute, 15*time.Minute
	d := newDecider(t, r)
	full := []Host{host("h1", "a", service("s1", 4))}
	want(t, only(t, d.Evaluate(t0, Snapshot{Hosts: full, Pending: []Pending{pending("p", 1, 1)}})), ScaleUp, 1)
	idle := Snapshot{Hosts: append(slices.Clone(full), host("h2", "a"))}
	// Idle from +1m: the delay ends at +11m, the cool-down at +15m.
	for _, m := range []time.Duration{1, 5, 11, 14} {
		want(t, only(t, d.Evaluate(t0.Add(m*time.Minute), idle)), None, 0)
	}
	dec := only(t, d.Evaluate(t0.Add(15*time.Minute), idle))
	want(t, dec, Drain, 1)
	if !slices.Equal(dec.Hosts, []string{"h2"}) {
		t.Fatalf("drains %v, want [h2]", dec.Hosts)
	}
}

func TestNeverAboveMaxSize(t *testing.T) {
	r := testRules()
	r.MaxSize = 4
	d := newDecider(t, r)
	hosts := []Host{host("h1", "a", service("s1", 4)), host("h2", "b", service("s2", 4))}
	drained := host("h3", "c", service("s3", 4))
	drained.State = Draining // still an instance: it counts against the maximum
	hosts = append(hosts, drained)
	var backlog []Pending
	for i := range 6 {
		backlog = append(backlog, pending("p"+string(rune('a'+i)), 4, 1))
	}
	dec := only(t, d.Evaluate(t0, Snapshot{Hosts: hosts, Pending: backlog}))
	want(t, dec, ScaleUp, 1)
	if !strings.Contains(dec.Reason, "capped at max size 4") {
		t.Fatalf("reason %q should say it is capped", dec.Reason)
	}
	dec = only(t, d.Evaluate(t0.Add(time.Hour), Snapshot{Hosts: hosts, Pending: backlog, Booting: map[string]int{"web": 1}}))
	want(t, dec, None, 0)
	if !strings.HasPrefix(dec.Reason, "at max size 4: ") {
		t.Fatalf("reason %q should say it is at max size", dec.Reason)
	}
}

func TestNeverBelowMinSize(t *testing.T) {
	r := testRules()
	r.MinSize, r.MaxIdle = 2, 0
	r.ScaleUpDelay, r.Cooldown = time.Hour, time.Hour
	d := newDecider(t, r)
	idle := []Host{host("h1", "a"), host("h2", "b"), host("h3", "c")}
	dec := only(t, d.Evaluate(t0, Snapshot{Hosts: idle}))
	want(t, dec, Drain, 1) // 3 idle, max idle 0, but min size 2
	if !strings.Contains(dec.Reason, "down to min size 2") {
		t.Fatalf("reason %q should say it stops at the min size", dec.Reason)
	}
	// A group below its minimum grows at once: no delay, no cool-down.
	d2 := newDecider(t, r)
	dec = only(t, d2.Evaluate(t0, Snapshot{Hosts: idle[:1]}))
	want(t, dec, ScaleUp, 1)
	if !strings.Contains(dec.Reason, "below min size 2") {
		t.Fatalf("reason %q", dec.Reason)
	}
	// And never drains below: at the minimum, idle hosts stay.
	want(t, only(t, d2.Evaluate(t0.Add(2*time.Hour), Snapshot{Hosts: idle[:2]})), None, 0)
}

func TestConstraintBlockedTasksAreNotShortfall(t *testing.T) {
	d := newDecider(t, testRules())
	full := []Host{host("h1", "a", service("s1", 4))}
	gpu := pending("gpu", 1, 1)
	gpu.Constraints = []placement.Constraint{{Field: "instance-type", Operator: placement.Is, Value: "p3.2xlarge"}}
	gpu.Blocked = BlockedUnplaceable
	zoneUnique := pending("zone-unique", 1, 1)
	zoneUnique.Constraints = []placement.Constraint{{Field: "zone", Operator: placement.Unique}}
	zoneUnique.Blocked = BlockedConstraint // both zones hold one of its group already
	rack := pending("rack", 1, 1)
	rack.Constraints = []placement.Constraint{{Field: "rack", Operator: placement.GroupBy}}
	huge := pending("huge", 16, 1)
	invalid := pending("invalid", 1, 1)
	invalid.Blocked = BlockedInvalid
	blocked := []Pending{gpu, zoneUnique, rack, huge, invalid}

	dec := only(t, d.Evaluate(t0, Snapshot{Hosts: full, Pending: blocked}))
	want(t, dec, None, 0)
	for _, part := range []string{"5 tasks not counted", "constraint instance-type IS p3.2xlarge not met by the group's hosts",
		"constraint zone UNIQUE that more hosts would not fix", "constraint rack GROUP_BY not met", "larger than the host shape", "invalid"} {
		if !strings.Contains(dec.Reason, part) {
			t.Errorf("reason %q lacks %q", dec.Reason, part)
		}
	}
	// A task blocked only by hostname UNIQUE (one per host, all used) is fixed by a new host,
	// and one whose LIKE matches a value the group's new hosts may have counts too.
	perHost := pending("per-host", 1, 1)
	perHost.Constraints = []placement.Constraint{{Field: "hostname", Operator: placement.Unique}}
	perHost.Blocked = BlockedConstraint
	like := pending("like", 1, 1)
	like.Constraints = []placement.Constraint{{Field: "instance-type", Operator: placement.Like, Value: "m6i\\..*"}}
	dec = only(t, d.Evaluate(t0.Add(time.Minute), Snapshot{Hosts: full, Pending: append(blocked, perHost, like)}))
	want(t, dec, ScaleUp, 1)
	if !strings.HasPrefix(dec.Reason, "2 tasks need 2 cpus and 2 GiB") {
		t.Fatalf("reason %q: only the two fixable tasks should count", dec.Reason)
	}
}

func TestPendingTaskCountsForTheFirstGroupThatCanPlaceIt(t *testing.T) {
	cpu := testRules()
	gpu := testRules()
	gpu.Name, gpu.Shape = "gpu", Amount{CPUs: 8, Mem: 64 * gib, GPUs: 1}
	d := newDecider(t, cpu, gpu)
	s := Snapshot{Pending: []Pending{
		{ID: "train", Ask: Amount{CPUs: 4, Mem: 8 * gib, GPUs: 1}},
		{ID: "small", Ask: Amount{CPUs: 1, Mem: gib}},
	}}
	ds := d.Evaluate(t0, s)
	if len(ds) != 2 {
		t.Fatalf("decisions %+v, want one per group", ds)
	}
	want(t, ds[0], ScaleUp, 1) // web: "small" only
	want(t, ds[1], ScaleUp, 1) // gpu: "train" only, not "small" again
	if ds[0].Group != "web" || !strings.HasPrefix(ds[0].Reason, "1 task needs 1 cpus and 1 GiB") {
		t.Fatalf("web decision %+v", ds[0])
	}
	if ds[1].Group != "gpu" || !strings.HasPrefix(ds[1].Reason, "1 task needs 4 cpus, 8 GiB and 1 gpus") {
		t.Fatalf("gpu decision %+v", ds[1])
	}
}

func TestScaleDownBalancesZones(t *testing.T) {
	r := testRules()
	r.MaxIdle = 2
	d := newDecider(t, r)
	hosts := []Host{
		host("a1", "a"), host("a2", "a"), host("a3", "a", service("sa", 1)),
		host("b1", "b"), host("b2", "b"), host("b3", "b", service("sb", 1)),
		host("c1", "c"), host("c2", "c", service("sc", 1)),
	}
	dec := only(t, d.Evaluate(t0, Snapshot{Hosts: hosts}))
	want(t, dec, Drain, 3) // 5 idle, keep 2
	if !slices.Equal(dec.Hosts, []string{"a1", "b1", "a2"}) {
		t.Fatalf("drains %v, want [a1 b1 a2]: the zone with most hosts first", dec.Hosts)
	}
	if !strings.Contains(dec.Reason, "zone a: a1, a2; zone b: b1") {
		t.Fatalf("reason %q should list the hosts by zone", dec.Reason)
	}
}

func TestScaleDownPrefersEmptyHostsThenFewestShortLivedTasks(t *testing.T) {
	r := testRules()
	r.MinSize, r.MaxIdle, r.ConsolidateBelow = 1, 0, 0.5
	d := newDecider(t, r)
	hosts := []Host{
		host("busy", "a", service("s1", 3)),                       // 75% used: stays
		host("svc", "a", service("s2", 0.5)),                      // a service to move
		host("two", "a", batch("b1", 0.25), batch("b2", 0.25)),    // two batch tasks
		host("one", "a", batch("b3", 1)),                          // one batch task
		host("idle", "a"),                                         // nothing
		host("mixed", "a", service("s3", 0.25), batch("b4", 0.5)), // a service and a batch
	}
	dec := only(t, d.Evaluate(t0, Snapshot{Hosts: hosts}))
	want(t, dec, Drain, 5)
	if wantIDs := []string{"idle", "one", "two", "svc", "mixed"}; !slices.Equal(dec.Hosts, wantIDs) {
		t.Fatalf("drains %v, want %v", dec.Hosts, wantIDs)
	}
}

func TestConsolidationNeedsRoomForTheServices(t *testing.T) {
	r := testRules()
	r.ConsolidateBelow = 0.5
	d := newDecider(t, r)
	hosts := []Host{
		host("h1", "a", service("s1", 3.5)),
		host("h2", "a", service("s2", 1)), // 25% used, but its service fits nowhere else
	}
	want(t, only(t, d.Evaluate(t0, Snapshot{Hosts: hosts})), None, 0)
	// Room that a draining host's services will take is not room.
	hosts = []Host{
		host("h1", "a", service("s1", 2)),
		host("h2", "a", service("s2", 1)),
		host("h3", "a", service("s3", 2)),
	}
	hosts[2].State, hosts[2].DrainStarted = Draining, t0
	dec := d.Evaluate(t0, Snapshot{Hosts: hosts})
	want(t, only(t, dec), None, 0)
}

func TestDrainThenTerminateNeverKillsServices(t *testing.T) {
	r := testRules()
	r.BatchDeadline = 30 * time.Minute
	d := newDecider(t, r)
	draining := func(id string, ts ...Task) Host {
		h := host(id, "a", ts...)
		h.State, h.DrainStarted = Draining, t0
		return h
	}
	hosts := []Host{
		draining("svc", service("s1", 1), batch("b1", 1)),
		draining("batch", batch("b2", 1)),
		draining("empty"),
		host("keep", "a", service("s2", 1), service("s3", 2)),
	}
	ds := d.Evaluate(t0.Add(time.Minute), Snapshot{Hosts: hosts})
	if len(ds) != 2 {
		t.Fatalf("decisions %+v, want a terminate and a none", ds)
	}
	want(t, ds[0], Terminate, 1)
	if !slices.Equal(ds[0].Hosts, []string{"empty"}) || ds[0].Reason != "empty drained: no tasks left" {
		t.Fatalf("terminate %+v", ds[0])
	}
	// Past the batch deadline the batch host goes, its task with it; the host with a service
	// waits, however long.
	for _, after := range []time.Duration{30 * time.Minute, 48 * time.Hour} {
		ds = d.Evaluate(t0.Add(after), Snapshot{Hosts: hosts[:2]})
		want(t, ds[0], Terminate, 1)
		if !slices.Equal(ds[0].Hosts, []string{"batch"}) {
			t.Fatalf("after %s: terminates %v, want [batch] only", after, ds[0].Hosts)
		}
		if ds[0].Reason != "batch deadline 30m0s passed on batch (1 task left)" {
			t.Fatalf("reason %q", ds[0].Reason)
		}
	}
	// Once the service has moved and the batch ended, the host goes.
	moved := draining("svc")
	want(t, d.Evaluate(t0.Add(time.Hour), Snapshot{Hosts: []Host{moved}})[0], Terminate, 1)
}

func TestBlockedOfReadsPlacementWhy(t *testing.T) {
	res := func(cpus float64) placementResources { return placementResources{CPUs: cpus, Mem: 1024} }
	hosts := []placement.Host{
		{ID: "h1", Attributes: map[string]string{"zone": "a"}, Total: res(4), Free: res(1)},
		{ID: "h2", Attributes: map[string]string{"zone": "b"}, Total: res(4), Free: res(1)},
	}
	tasks := []placement.Task{
		{ID: "resources", Group: "g1", Resources: res(2)},
		{ID: "wrong-zone", Group: "g2", Resources: res(1), Constraints: []placement.Constraint{{Field: "zone", Operator: placement.Is, Value: "c"}}},
		{ID: "too-big", Group: "g3", Resources: res(8)},
		{ID: "bad", Group: "g4", Resources: res(1), Constraints: []placement.Constraint{{Field: "zone", Operator: "NEAR"}}},
	}
	running := []placement.Running{{Group: "g5", Host: "h1"}, {Group: "g5", Host: "h2"}}
	tasks = append(tasks, placement.Task{ID: "unique", Group: "g5", Resources: res(0.5),
		Constraints: []placement.Constraint{{Field: "zone", Operator: placement.Unique}}})
	got := placement.Place(placement.DefaultConfig(), hosts, running, tasks).Unplaced
	for id, wantB := range map[string]Blocked{
		"resources": BlockedResources, "wrong-zone": BlockedUnplaceable, "too-big": BlockedUnplaceable,
		"bad": BlockedInvalid, "unique": BlockedConstraint,
	} {
		w, ok := got[id]
		if !ok {
			t.Fatalf("task %s was placed", id)
		}
		if b := BlockedOf(w); b != wantB {
			t.Errorf("%s: BlockedOf(%+v) = %d, want %d", id, w, b, wantB)
		}
	}
	if BlockedOf(placement.Why{Reasons: map[string]int{}}) != BlockedResources {
		t.Error("with no hosts at all, more hosts help: want BlockedResources")
	}
}

func TestRulesValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		change func(*Rules)
		want   string
	}{
		{func(r *Rules) { r.Name = "" }, "no name"},
		{func(r *Rules) { r.MinSize = -1 }, "min size -1"},
		{func(r *Rules) { r.MinSize, r.MaxSize = 5, 3 }, "max size 3"},
		{func(r *Rules) { r.MinIdle, r.MaxIdle = 3, 1 }, "idle hosts 3..1"},
		{func(r *Rules) { r.Cooldown = -time.Second }, "must not be negative"},
		{func(r *Rules) { r.ConsolidateBelow = 2 }, "consolidate below 2"},
		{func(r *Rules) { r.Shape.CPUs = 0 }, "host shape"},
	} {
		r := testRules()
		tc.change(&r)
		_, err := NewDecider("", []Rules{r})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one containing %q", err, tc.want)
		}
	}
	if _, err := NewDecider("", []Rules{testRules(), testRules()}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a group configured twice: error %v", err)
	}
}
