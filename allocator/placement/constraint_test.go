package placement

import (
	"fmt"
	"maps"
	"strings"
	"testing"
)

func TestParseConstraintReadsMarathonsForm(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want Constraint
	}{
		{[]string{"hostname", "UNIQUE"}, Constraint{Field: "hostname", Operator: Unique}},
		{[]string{"zone", "GROUP_BY", "3"}, Constraint{Field: "zone", Operator: GroupBy, Value: "3"}},
		{[]string{"zone", "GROUP_BY"}, Constraint{Field: "zone", Operator: GroupBy}},
		{[]string{"rack", "cluster", "r1"}, Constraint{Field: "rack", Operator: Cluster, Value: "r1"}},
		{[]string{"rack", "CLUSTER"}, Constraint{Field: "rack", Operator: Cluster}},
		{[]string{"rack", "like", "r[0-9]"}, Constraint{Field: "rack", Operator: Like, Value: "r[0-9]"}},
		{[]string{"rack", "UNLIKE", "r1|r2"}, Constraint{Field: "rack", Operator: Unlike, Value: "r1|r2"}},
		{[]string{"rack", "MAX_PER", "2"}, Constraint{Field: "rack", Operator: MaxPer, Value: "2"}},
		{[]string{"os", "IS", "linux"}, Constraint{Field: "os", Operator: Is, Value: "linux"}},
	} {
		got, err := ParseConstraint(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseConstraint(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseConstraintErrorsNameWhatIsWrong(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"hostname"}, "want [field, operator] or [field, operator, value], got 1 items"},
		{[]string{"a", "UNIQUE", "b", "c"}, "got 4 items"},
		{[]string{"", "UNIQUE"}, "no field"},
		{[]string{"zone", "SPREAD"}, `unknown operator "SPREAD": want UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER or IS`},
		{[]string{"hostname", "UNIQUE", "x"}, `UNIQUE takes no value, got "x"`},
		{[]string{"zone", "GROUP_BY", "three"}, `GROUP_BY wants a count of at least 1, got "three"`},
		{[]string{"zone", "GROUP_BY", "0"}, `GROUP_BY wants a count of at least 1, got "0"`},
		{[]string{"rack", "MAX_PER"}, "MAX_PER wants a count"},
		{[]string{"rack", "MAX_PER", "-1"}, `MAX_PER wants a count of at least 1, got "-1"`},
		{[]string{"rack", "LIKE"}, "LIKE wants a regular expression"},
		{[]string{"rack", "UNLIKE", "r[0-"}, "UNLIKE wants a regular expression: error parsing regexp"},
		{[]string{"os", "IS"}, "IS wants the value to match"},
	} {
		_, err := ParseConstraint(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConstraint(%q) error = %v, want it to say %q", tc.in, err, tc.want)
		}
	}
}

func TestConstraintStringIsMarathonsFormWithSpaces(t *testing.T) {
	for c, want := range map[Constraint]string{
		{Field: "zone", Operator: "group_by", Value: "3"}:        "zone GROUP_BY 3",
		{Field: "hostname", Operator: Unique}:                    "hostname UNIQUE",
		{Field: "rack", Operator: Like, Value: "r1", Soft: true}: "rack LIKE r1 (soft)",
	} {
		if got := c.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", c, got, want)
		}
	}
}

func TestUniqueHostnameNeverPutsTwoTasksOfAGroupOnOneHost(t *testing.T) {
	hosts := []Host{node("a", 8), node("b", 8), node("c", 8)}
	tasks := append(job("web", 5, 1, hard("hostname", "UNIQUE")), job("db", 2, 1, hard("hostname", "UNIQUE"))...)
	r := Place(Config{}, hosts, []Running{{Group: "web", Host: "b"}}, tasks)
	wantPlaced(t, r, 4) // web on a and c only (b runs one), db on two hosts
	seen := map[string]bool{"web@b": true}
	for _, a := range r.Assignments {
		k := a.Task[:strings.Index(a.Task, ".")] + "@" + a.Host
		if seen[k] {
			t.Errorf("%s: a second task of the group on %s", a.Task, a.Host)
		}
		seen[k] = true
	}
	for _, id := range []string{"web.ac", "web.ad", "web.ae"} {
		if got := r.Unplaced[id].Reasons; !maps.Equal(got, map[string]int{"constraint hostname UNIQUE": 3}) {
			t.Errorf("%s: reasons %v, want all 3 hosts under hostname UNIQUE", id, got)
		}
	}
}

func TestUniqueZoneAllowsOneTaskPerZone(t *testing.T) {
	hosts := []Host{node("a1", 8, "zone=a"), node("a2", 8, "zone=a"), node("b1", 8, "zone=b"), node("c1", 8, "zone=c")}
	r := Place(Config{}, hosts, []Running{{Group: "web", Host: "c1"}}, job("web", 3, 1, hard("zone", "UNIQUE")))
	wantPlaced(t, r, 2)
	if got := perValue(r, hosts, "zone"); !maps.Equal(got, map[string]int{"a": 1, "b": 1}) {
		t.Errorf("tasks per zone %v, want one in a and one in b (c runs one)", got)
	}
}

func TestClusterWithValueOnlyUsesHostsWithThatValue(t *testing.T) {
	hosts := []Host{node("a", 8, "rack=r1"), node("b", 8, "rack=r2"), node("c", 8, "rack=r1"), node("d", 8)}
	r := Place(Config{}, hosts, nil, job("web", 4, 3, hard("rack", "CLUSTER", "r1")))
	wantPlaced(t, r, 4)
	if got := hostsOf(r); fmt.Sprint(got) != "[a c]" {
		t.Errorf("hosts used %v, want [a c]", got)
	}
}

func TestClusterWithoutValueKeepsTheGroupWhereMostOfItRuns(t *testing.T) {
	hosts := []Host{node("a", 8, "rack=r1"), node("b", 8, "rack=r2"), node("c", 8, "rack=r2"), node("d", 8, "rack=r1")}
	running := []Running{{Group: "web", Host: "a"}, {Group: "web", Host: "b"}, {Group: "web", Host: "c"}}
	r := Place(Config{}, hosts, running, job("web", 3, 1, hard("rack", "CLUSTER")))
	wantPlaced(t, r, 3)
	if got := perValue(r, hosts, "rack"); !maps.Equal(got, map[string]int{"r2": 3}) {
		t.Errorf("tasks per rack %v, want all on r2, where two of the three running ones are", got)
	}
}

func TestClusterWithoutValueFollowsTheFirstPlacedTask(t *testing.T) {
	hosts := []Host{node("a", 2, "rack=r1"), node("b", 8, "rack=r2"), node("c", 8, "rack=r2"), node("d", 2, "rack=r1")}
	// Bin packing puts the first task on a small (fuller-after) host: r1; the rest follow
	// to r1 until it is full.
	r := Place(Config{}, hosts, nil, job("web", 6, 1, hard("rack", "CLUSTER")))
	wantPlaced(t, r, 4)
	if got := perValue(r, hosts, "rack"); !maps.Equal(got, map[string]int{"r1": 4}) {
		t.Errorf("tasks per rack %v, want 4 on r1", got)
	}
	if got := r.Unplaced["web.ae"].Reasons; !maps.Equal(got, map[string]int{"constraint rack CLUSTER": 2, ReasonCPUs: 2}) {
		t.Errorf("reasons %v, want r2's hosts under the constraint and r1's under cpus", got)
	}
}

func TestGroupBySpreadsEvenlyAcrossZones(t *testing.T) {
	var hosts []Host
	for i := range 9 {
		hosts = append(hosts, node(fmt.Sprintf("h%d", i), 16, "zone="+string(rune('a'+i%3))))
	}
	running := []Running{{Group: "web", Host: "h0"}, {Group: "web", Host: "h3"}} // two in zone a
	r := Place(Config{}, hosts, running, job("web", 7, 1, hard("zone", "GROUP_BY")))
	wantPlaced(t, r, 7)
	got := perValue(r, hosts, "zone")
	got["a"] += 2
	if !maps.Equal(got, map[string]int{"a": 3, "b": 3, "c": 3}) {
		t.Errorf("tasks per zone with the running ones %v, want 3 each", got)
	}
}

func TestGroupByWithACountWaitsForValuesItAssumes(t *testing.T) {
	hosts := []Host{node("a", 8, "zone=a"), node("b", 8, "zone=b")}
	r := Place(Config{}, hosts, nil, job("web", 3, 1, hard("zone", "GROUP_BY", "3")))
	wantPlaced(t, r, 2)
	if got := perValue(r, hosts, "zone"); !maps.Equal(got, map[string]int{"a": 1, "b": 1}) {
		t.Errorf("tasks per zone %v, want one each", got)
	}
	w := r.Unplaced["web.ac"]
	if !maps.Equal(w.Reasons, map[string]int{"constraint zone GROUP_BY 3": 2}) || w.Unplaceable {
		t.Errorf("why %+v, want both hosts under zone GROUP_BY 3 (a third zone is assumed), not unplaceable", w)
	}
}

func TestGroupByCountsOnlyValuesWhereTheTaskFits(t *testing.T) {
	// Zone c's hosts are too small for the task: the group spreads over a and b alone.
	hosts := []Host{node("a", 8, "zone=a"), node("b", 8, "zone=b"), node("c", 1, "zone=c"), node("d", 8)}
	r := Place(Config{}, hosts, nil, job("web", 4, 2, hard("zone", "GROUP_BY")))
	wantPlaced(t, r, 4)
	if got := perValue(r, hosts, "zone"); !maps.Equal(got, map[string]int{"a": 2, "b": 2}) {
		t.Errorf("tasks per zone %v, want 2 in a and 2 in b", got)
	}
}

func TestLikeMatchesTheWholeValue(t *testing.T) {
	hosts := []Host{node("a", 8, "rack=r1"), node("b", 8, "rack=r12"), node("c", 8, "rack=xr1"), node("d", 8)}
	r := Place(Config{}, hosts, nil, job("web", 2, 1, hard("rack", "LIKE", "r[0-9]")))
	wantPlaced(t, r, 2)
	if got := hostsOf(r); fmt.Sprint(got) != "[a]" {
		t.Errorf("hosts used %v, want [a]: the regular expression is anchored", got)
	}
}

func TestUnlikeAcceptsHostsWithoutTheAttribute(t *testing.T) {
	hosts := []Host{node("a", 1, "rack=r1"), node("b", 1, "rack=r2"), node("c", 1)}
	r := Place(Config{}, hosts, nil, job("web", 3, 1, hard("rack", "UNLIKE", "r1")))
	wantPlaced(t, r, 2)
	if got := hostsOf(r); fmt.Sprint(got) != "[b c]" {
		t.Errorf("hosts used %v, want [b c]", got)
	}
}

func TestMaxPerAllowsNTasksPerValue(t *testing.T) {
	hosts := []Host{node("a1", 8, "rack=r1"), node("a2", 8, "rack=r1"), node("b1", 8, "rack=r2")}
	r := Place(Config{}, hosts, []Running{{Group: "web", Host: "b1"}}, job("web", 5, 1, hard("rack", "MAX_PER", "2")))
	wantPlaced(t, r, 3)
	if got := perValue(r, hosts, "rack"); !maps.Equal(got, map[string]int{"r1": 2, "r2": 1}) {
		t.Errorf("tasks per rack %v, want 2 on r1 and 1 more on r2 (which runs one)", got)
	}
}

func TestIsWantsTheExactValue(t *testing.T) {
	hosts := []Host{node("a", 8, "os=linux"), node("b", 8, "os=linux-rt"), node("c", 8, "os=Linux")}
	r := Place(Config{}, hosts, nil, job("web", 2, 1, hard("os", "IS", "linux")))
	wantPlaced(t, r, 2)
	if got := hostsOf(r); fmt.Sprint(got) != "[a]" {
		t.Errorf("hosts used %v, want [a]", got)
	}
}

func TestHostnameFieldIsTheHostnameOrElseTheID(t *testing.T) {
	a, b := node("id-a", 8), node("id-b", 8)
	b.Hostname = ""
	for _, tc := range []struct{ value, want string }{{"id-a.example", "id-a"}, {"id-b", "id-b"}, {"id-a", ""}} {
		r := Place(Config{}, []Host{a, b}, nil, job("web", 1, 1, hard("hostname", "IS", tc.value)))
		if got := where(r)["web.aa"]; got != tc.want {
			t.Errorf("hostname IS %s: placed on %q, want %q", tc.value, got, tc.want)
		}
	}
}

func TestMissingAttributeFailsEveryOperatorButUnlike(t *testing.T) {
	hosts := []Host{node("bare", 8)}
	for _, c := range []Constraint{hard("zone", "UNIQUE"), hard("zone", "CLUSTER"), hard("zone", "CLUSTER", "a"),
		hard("zone", "GROUP_BY"), hard("zone", "LIKE", ".*"), hard("zone", "MAX_PER", "5"), hard("zone", "IS", "a")} {
		r := Place(Config{}, hosts, nil, job("web", 1, 1, c))
		w := r.Unplaced["web.aa"]
		if len(r.Assignments) != 0 || !maps.Equal(w.Reasons, map[string]int{"missing attribute zone": 1}) || !w.Unplaceable {
			t.Errorf("%v: placed %v, why %+v; want unplaceable for the missing attribute", c, r.Assignments, w)
		}
	}
	r := Place(Config{}, hosts, nil, job("web", 1, 1, hard("zone", "UNLIKE", "a")))
	wantPlaced(t, r, 1)
}

func TestSoftUniquePrefersHostsWithoutTheGroupButNeverRejects(t *testing.T) {
	hosts := []Host{node("a", 8), node("b", 8)}
	// Bin packing alone would stack both tasks on one host; the soft UNIQUE outweighs it.
	r := Place(Config{}, hosts, nil, job("web", 3, 1, soft("hostname", "UNIQUE")))
	wantPlaced(t, r, 3)
	if got := perHost(r); !maps.Equal(got, map[string]int{"a": 2, "b": 1}) && !maps.Equal(got, map[string]int{"a": 1, "b": 2}) {
		t.Errorf("tasks per host %v, want 2 and 1", got)
	}
}

func TestSoftConstraintThatNoHostSatisfiesStillPlaces(t *testing.T) {
	hosts := []Host{node("a", 8, "rack=r1"), node("b", 8, "rack=r2")}
	r := Place(Config{}, hosts, nil, job("web", 2, 1, soft("rack", "IS", "r9"), soft("gpu", "LIKE", "yes")))
	wantPlaced(t, r, 2)
}

func TestSoftIsPrefersMatchingHosts(t *testing.T) {
	hosts := []Host{node("a", 4, "rack=r1"), node("b", 8, "rack=r2"), node("c", 8, "rack=r1")}
	r := Place(Config{}, hosts, nil, job("web", 3, 1, soft("rack", "IS", "r2")))
	if got := hostsOf(r); fmt.Sprint(got) != "[b]" {
		t.Errorf("hosts used %v, want [b]", got)
	}
}

func TestSoftGroupByPrefersTheLeastUsedValue(t *testing.T) {
	hosts := []Host{node("a", 8, "zone=a"), node("b", 8, "zone=b")}
	r := Place(Config{}, hosts, []Running{{Group: "web", Host: "a"}, {Group: "web", Host: "a"}}, job("web", 3, 1, soft("zone", "GROUP_BY")))
	wantPlaced(t, r, 3)
	if got := perHost(r); got["b"] < 2 {
		t.Errorf("tasks per host %v, want at least 2 on b (a runs 2)", got)
	}
}

func TestExclusiveTaskGetsAHostWithoutOtherGroups(t *testing.T) {
	hosts := []Host{node("a", 8), node("b", 8), node("c", 8)}
	running := []Running{{Group: "db", Host: "a"}, {Group: "web", Host: "b"}}
	tasks := job("web", 2, 1)
	for i := range tasks {
		tasks[i].Exclusive = true
	}
	r := Place(Config{}, hosts, running, tasks)
	wantPlaced(t, r, 2)
	if got := perHost(r); got["a"] != 0 {
		t.Errorf("tasks per host %v, want none on a, where db runs", got)
	}
	// Once placed, the exclusive tasks keep other groups off their hosts.
	r = Place(Config{}, hosts, append(running, Running{Group: "web", Host: "c", Exclusive: true}, Running{Group: "web", Host: "b", Exclusive: true}), job("batch", 1, 1))
	if got := where(r)["batch.aa"]; got != "a" {
		t.Errorf("batch placed on %q, want a, the host web does not hold", got)
	}
}

func TestExclusiveReasonsAreCountedForNow(t *testing.T) {
	hosts := []Host{node("a", 8), node("b", 8)}
	running := []Running{{Group: "db", Host: "a"}, {Group: "cache", Host: "b", Exclusive: true}}
	tasks := job("web", 1, 1)
	tasks[0].Exclusive = true
	w := Place(Config{}, hosts, running, tasks).Unplaced["web.aa"]
	want := map[string]int{ReasonNotAlone: 1, ReasonHeld: 1}
	if !maps.Equal(w.Reasons, want) || w.Permanent != 0 || w.Unplaceable {
		t.Errorf("why %+v, want reasons %v for now", w, want)
	}
}

func TestInvalidConstraintMakesTheTaskInvalid(t *testing.T) {
	tasks := job("web", 2, 1, Constraint{Field: "rack", Operator: Like, Value: "("})
	r := Place(Config{}, []Host{node("a", 8)}, nil, tasks)
	w := r.Unplaced["web.aa"]
	if len(r.Assignments) != 0 || !strings.Contains(w.Invalid, "LIKE wants a regular expression") || !w.Unplaceable || w.Hosts != 0 {
		t.Errorf("placed %v, why %+v; want invalid, unplaceable, no host considered", r.Assignments, w)
	}
}
