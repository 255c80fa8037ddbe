package allocator

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

func TestDRFOffersNextAgentToLowerDominantShare(t *testing.T) {
	// Three agents of 8 cpus and 8 GiB. "a-mem" runs a mem-heavy task (1 cpu, 6 GiB: share
	// 6/24 = 0.25), "b-cpu" a cpu-heavy one (4 cpus, 1 GiB: share 4/24 = 0.167). The next
	// agent goes to b-cpu, although a-mem sorts first.
	a := newTest(t)
	for _, id := range []AgentID{"a1", "a2", "a3"} {
		addAgent(t, a, id, Resources{CPUs: 8, Mem: 8192})
	}
	addFramework(t, a, "a-mem", "*")
	addFramework(t, a, "b-cpu", "*")
	a.Suppress("a-mem")
	a.Suppress("b-cpu")
	must(t, a.AddTask("m1", "a-mem", "a1", Resources{CPUs: 1, Mem: 6144}))
	must(t, a.AddTask("c1", "b-cpu", "a2", Resources{CPUs: 4, Mem: 1024}))
	if s := a.Shares(); s[0].Framework != "b-cpu" || !near(s[0].Dominant, 4.0/24) || !near(s[1].Dominant, 0.25) {
		t.Fatalf("shares %+v, want b-cpu (1/6) before a-mem (1/4)", s)
	}
	a.Revive("a-mem")
	a.Revive("b-cpu")
	offers := a.Allocate(t0)
	if len(offers) != 3 {
		t.Fatalf("got %d offers, want 3", len(offers))
	}
	// a1 (free 7 cpus, 2 GiB) goes to b-cpu: now 11/24 = 0.458 > 0.25, so a2 (4 cpus,
	// 7 GiB) goes to a-mem: now 13/24 = 0.54, so a3 goes to b-cpu again.
	for i, want := range []FrameworkID{"b-cpu", "a-mem", "b-cpu"} {
		if offers[i].Framework != want {
			t.Errorf("offer of %s went to %s, want %s", offers[i].Agent, offers[i].Framework, want)
		}
	}
}

func TestDRFConvergesToEqualDominantShares(t *testing.T) {
	// The example of the DRF paper: 9 cpus and 18 GiB; A's tasks need <1 cpu, 4 GiB>, B's
	// <3 cpus, 1 GiB>. DRF runs 3 of A's and 2 of B's, both at a dominant share of 2/3.
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 9, Mem: 18 * 1024})
	addFramework(t, a, "A", "*")
	addFramework(t, a, "B", "*")
	task := map[FrameworkID]Resources{"A": {CPUs: 1, Mem: 4096}, "B": {CPUs: 3, Mem: 1024}}
	launched := map[FrameworkID]int{}
	now := t0
	for range 20 {
		offers := a.Allocate(now)
		if len(offers) == 0 {
			break
		}
		for _, o := range offers {
			if !o.Resources.Contains(task[o.Framework]) {
				must(t, a.Decline(now, o.Framework, []OfferID{o.ID}, time.Hour))
				continue
			}
			id := fmt.Sprintf("%s.%d", o.Framework, launched[o.Framework])
			must(t, a.Accept(now, o.Framework, []OfferID{o.ID}, []Launch{{TaskID: id, Resources: task[o.Framework]}}, -1))
			launched[o.Framework]++
		}
	}
	if launched["A"] != 3 || launched["B"] != 2 {
		t.Fatalf("launched %v, want A:3 B:2", launched)
	}
	for _, s := range a.Shares() {
		if !near(s.Dominant, 2.0/3) {
			t.Errorf("%s's dominant share = %v, want 2/3", s.Framework, s.Dominant)
		}
	}
}

func TestDRFKeepsDominantSharesEqualUnderChurn(t *testing.T) {
	// 100 agents of 1 cpu and 1 GiB, each room for one task of either framework: A's are
	// mem-heavy <0.25 cpu, 1 GiB>, B's cpu-heavy <1 cpu, 256 MiB>, so each task is 1/100
	// of its framework's dominant resource and what is left beside it fits neither. Every
	// round each offer that fits gets a task (the rest returns without a filter), one that
	// does not is declined for an hour (as frameworks decline what they cannot use; the
	// filter covers only what was declined), and three of the oldest tasks end. Once the cluster has filled, the two dominant shares stay
	// within two tasks of each other, round after round, wherever the ending tasks were.
	a := newTest(t)
	const agents = 100
	for i := range agents {
		addAgent(t, a, AgentID(fmt.Sprintf("a%03d", i)), Resources{CPUs: 1, Mem: 1024})
	}
	addFramework(t, a, "A", "*")
	addFramework(t, a, "B", "*")
	task := map[FrameworkID]Resources{"A": {CPUs: 0.25, Mem: 1024}, "B": {CPUs: 1, Mem: 256}}
	var running []string
	n := 0
	for round := range 300 {
		now := t0.Add(time.Duration(round) * time.Second)
		for _, o := range a.Allocate(now) {
			if !o.Resources.Contains(task[o.Framework]) {
				must(t, a.Decline(now, o.Framework, []OfferID{o.ID}, time.Hour))
				continue
			}
			id := fmt.Sprintf("%s.%d", o.Framework, n)
			n++
			must(t, a.Accept(now, o.Framework, []OfferID{o.ID}, []Launch{{TaskID: id, Resources: task[o.Framework]}}, -1))
			running = append(running, id)
		}
		if round >= 20 {
			if len(running) < agents*9/10 {
				t.Fatalf("round %d: %d tasks running on %d agents; the cluster did not fill", round, len(running), agents)
			}
			shares := map[FrameworkID]float64{}
			for _, s := range a.Shares() {
				shares[s.Framework] = s.Dominant
			}
			if d := math.Abs(shares["A"] - shares["B"]); d > 2.0/agents+1e-9 {
				t.Fatalf("round %d: dominant shares A %v, B %v; want equal within 2 tasks (%v)", round, shares["A"], shares["B"], 2.0/agents)
			}
		}
		if round >= 10 {
			// Three tasks end, taken from the oldest ten in an order that varies.
			for k := range 3 {
				i := (round*7 + k*3) % min(10, len(running))
				a.RemoveTask(running[i])
				running = slices.Delete(running, i, i+1)
			}
		}
	}
}

func TestDRFRoleWeightsGiveProportionalShares(t *testing.T) {
	// 30 one-cpu agents; role gold has weight 2, silver 1. Tasks take a whole agent and the
	// oldest tasks end every round: over a long run gold holds about twice what silver does.
	a := newTest(t)
	for i := range 30 {
		addAgent(t, a, AgentID(fmt.Sprintf("a%02d", i)), Resources{CPUs: 1, Mem: 1024})
	}
	must(t, a.SetRoleWeight("gold", 2))
	addFramework(t, a, "g", "gold")
	addFramework(t, a, "s", "silver")
	var running []string
	n := 0
	for round := range 200 {
		now := t0.Add(time.Duration(round) * time.Second)
		for _, o := range a.Allocate(now) {
			id := fmt.Sprintf("%s.%d", o.Framework, n)
			n++
			must(t, a.Accept(now, o.Framework, []OfferID{o.ID}, []Launch{{TaskID: id, Resources: o.Resources}}, 0))
			running = append(running, id)
		}
		for _, id := range running[:5] {
			a.RemoveTask(id)
		}
		running = running[5:]
	}
	shares := map[string]float64{}
	for _, s := range a.Shares() {
		shares[s.Role] = s.Dominant
	}
	if ratio := shares["gold"] / shares["silver"]; math.Abs(ratio-2) > 0.25 {
		t.Fatalf("gold/silver dominant share = %v/%v = %v, want about 2", shares["gold"], shares["silver"], ratio)
	}
}

func TestRefuseFilterStopsOffersOnThatAgentUntilItRunsOut(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addAgent(t, a, "a2", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "*")
	offers := a.Allocate(t0)
	must(t, a.Decline(t0, "f", []OfferID{offers[0].ID}, 10*time.Second)) // a1
	if got := a.Allocate(t0.Add(9 * time.Second)); len(got) != 0 {
		t.Fatalf("declined agent re-offered before its filter ran out: %v", got)
	}
	// Another framework is not filtered.
	addFramework(t, a, "g", "*")
	o := onlyOffer(t, a.Allocate(t0.Add(9*time.Second)))
	if o.Framework != "g" || o.Agent != "a1" {
		t.Fatalf("offer %+v, want a1 to g", o)
	}
	a.RemoveFramework("g")
	o = onlyOffer(t, a.Allocate(t0.Add(10*time.Second)))
	if o.Framework != "f" || o.Agent != "a1" {
		t.Fatalf("offer %+v, want a1 to f once the filter ran out", o)
	}
}

func TestAcceptFiltersTheUnusedRestWithDefaultRefuse(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "*")
	o := onlyOffer(t, a.Allocate(t0))
	must(t, a.Accept(t0, "f", []OfferID{o.ID}, []Launch{{TaskID: "t1", Resources: Resources{CPUs: 1, Mem: 128}}}, 0))
	if got := a.Allocate(t0.Add(4 * time.Second)); len(got) != 0 {
		t.Fatalf("rest re-offered within DefaultRefuse: %v", got)
	}
	o = onlyOffer(t, a.Allocate(t0.Add(5*time.Second)))
	if o.Resources.CPUs != 3 {
		t.Fatalf("rest offered = %v, want cpus:3", o.Resources)
	}
	// A negative refuse asks for no filter: the rest comes back at once.
	must(t, a.Accept(t0, "f", []OfferID{o.ID}, []Launch{{TaskID: "t2", Resources: Resources{CPUs: 1, Mem: 128}}}, -1))
	if o := onlyOffer(t, a.Allocate(t0.Add(5*time.Second))); o.Resources.CPUs != 2 {
		t.Fatalf("rest offered = %v, want cpus:2", o.Resources)
	}
}

func TestSuppressStopsOffersAndReviveClearsFilters(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "*")
	a.Suppress("f")
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatalf("suppressed framework got offers: %v", got)
	}
	a.Revive("f")
	o := onlyOffer(t, a.Allocate(t0))
	must(t, a.Decline(t0, "f", []OfferID{o.ID}, time.Hour))
	if got := a.Allocate(t0.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("offer despite an hour's filter: %v", got)
	}
	a.Revive("f")
	onlyOffer(t, a.Allocate(t0.Add(time.Minute)))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func near(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
