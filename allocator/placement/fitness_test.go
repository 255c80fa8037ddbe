package placement

import (
	"maps"
	"math"
	"strconv"
	"testing"

	"github.com/clusterd/clusterd/allocator"
)

// busy is host h with only free CPUs (and free*1000 MiB) free.
func busy(h Host, free float64) Host {
	h.Free.CPUs, h.Free.Mem = free, free*1000
	return h
}

func TestBinPackCPUPrefersTheFullestHostThatFits(t *testing.T) {
	hosts := []Host{node("a", 8), busy(node("b", 8), 3), busy(node("c", 8), 1), busy(node("d", 16), 5)}
	r := Place(Config{Fitness: []Weighted{{BinPackCPU{}, 1}}}, hosts, nil, job("web", 1, 2))
	if got := where(r)["web.aa"]; got != "b" {
		t.Errorf("placed on %q, want b (7 of 8 CPUs used with the task; d would be at 13 of 16, c has too few)", got)
	}
	if s := r.Assignments[0].Score; math.Abs(s-7.0/8) > 1e-9 {
		t.Errorf("score %v, want 7/8", s)
	}
}

func TestBinPackCPUPacksBiggerHostsByShareNotByAmount(t *testing.T) {
	hosts := []Host{busy(node("a", 4), 2), busy(node("b", 32), 3)}
	r := Place(Config{Fitness: []Weighted{{BinPackCPU{}, 1}}}, hosts, nil, job("web", 1, 2))
	if got := where(r)["web.aa"]; got != "a" {
		t.Errorf("placed on %q, want a (full with the task) over b (31/32)", got)
	}
}

func TestBinPackMemPrefersTheFullestHostByMemory(t *testing.T) {
	a, b := node("a", 8), node("b", 8)
	a.Free.Mem, b.Free.Mem = 6000, 1000 // b is fuller by memory, a by nothing else
	b.Free.CPUs = 8
	r := Place(Config{Fitness: []Weighted{{BinPackMem{}, 1}}}, []Host{a, b}, nil, job("web", 1, 1))
	if got := where(r)["web.aa"]; got != "b" {
		t.Errorf("placed on %q, want b", got)
	}
}

func TestBinPackPortsPrefersHostsWithTheFewestFreePorts(t *testing.T) {
	a, b := node("a", 8), node("b", 8)
	a.Total.Ports = []allocator.PortRange{{Begin: 31000, End: 31009}}
	b.Total.Ports = a.Total.Ports
	a.Free.Ports = []allocator.PortRange{{Begin: 31000, End: 31009}}
	b.Free.Ports = []allocator.PortRange{{Begin: 31008, End: 31009}}
	tasks := job("web", 1, 1)
	tasks[0].Ports = 2
	r := Place(Config{Fitness: []Weighted{{BinPackPorts{}, 1}}}, []Host{a, b}, nil, tasks)
	if got := where(r)["web.aa"]; got != "b" {
		t.Errorf("placed on %q, want b", got)
	}
	if s := r.Assignments[0].Score; s != 1 {
		t.Errorf("score %v, want 1 (all 10 ports in use with the task's)", s)
	}
}

func TestBinPackCPUMemIsTheMeanOfCPUAndMem(t *testing.T) {
	task := &Task{Resources: allocator.Resources{CPUs: 1, Mem: 1000}}
	h := &HostState{Total: allocator.Resources{CPUs: 4, Mem: 8000}, Free: allocator.Resources{CPUs: 2, Mem: 8000}}
	cpu, mem, both := BinPackCPU{}.Score(task, h), BinPackMem{}.Score(task, h), BinPackCPUMem{}.Score(task, h)
	if cpu != 0.75 || mem != 0.125 || both != (0.75+0.125)/2 {
		t.Errorf("cpu %v mem %v both %v, want 0.75, 0.125 and their mean", cpu, mem, both)
	}
	if s := (BinPackCPU{}).Score(task, &HostState{}); s != 0 {
		t.Errorf("score on a host without CPUs %v, want 0", s)
	}
}

func TestSpreadPrefersHostsWithFewerTasksOfTheGroup(t *testing.T) {
	hosts := []Host{node("a", 8), node("b", 8), node("c", 8)}
	running := []Running{{Group: "web", Host: "a"}, {Group: "web", Host: "a"}, {Group: "web", Host: "b"}, {Group: "db", Host: "c"}}
	r := Place(Config{Fitness: []Weighted{{Spread{}, 1}}}, hosts, running, job("web", 2, 1))
	if got := perHost(r); !maps.Equal(got, map[string]int{"b": 1, "c": 1}) {
		t.Errorf("tasks per host %v, want one on c (no web task) then one on b (one, as c has now)", got)
	}
	if s := r.Assignments[0].Score; s != 1 {
		t.Errorf("first score %v, want 1", s)
	}
}

// attrScore is a custom Fitness that scores a host by its "score" attribute.
type attrScore struct{}

func (attrScore) Name() string { return "attr" }
func (attrScore) Score(_ *Task, h *HostState) float64 {
	s, _ := strconv.ParseFloat(h.Attributes["score"], 64)
	return s
}

func TestGoodEnoughStopsAtTheFirstHostScoringEnough(t *testing.T) {
	// Equal free CPUs: the hosts are visited by ID.
	hosts := []Host{node("a", 8, "score=0.3"), node("b", 8, "score=0.6"), node("c", 8, "score=0.9"), node("d", 8, "score=0.7")}
	for _, tc := range []struct {
		good float64
		want string
	}{{0.5, "b"}, {0.65, "c"}, {0.95, "c"}, {0, "c"}, {1, "c"}, {0.2, "a"}} {
		r := Place(Config{Fitness: []Weighted{{attrScore{}, 1}}, GoodEnough: tc.good}, hosts, nil, job("web", 1, 1))
		if got := where(r)["web.aa"]; got != tc.want {
			t.Errorf("good enough %v: placed on %q, want %q", tc.good, got, tc.want)
		}
	}
}

func TestFitnessScoresAreClampedIntoZeroToOne(t *testing.T) {
	hosts := []Host{node("a", 8, "score=NaN"), node("b", 8, "score=-3"), node("c", 8, "score=7")}
	r := Place(Config{Fitness: []Weighted{{attrScore{}, 1}}}, hosts, nil, job("web", 1, 1))
	if a := r.Assignments[0]; a.Host != "c" || a.Score != 1 {
		t.Errorf("assignment %+v, want c with score 1", a)
	}
}

func TestWeightsCombineCalculators(t *testing.T) {
	hosts := []Host{busy(node("a", 8), 4), node("b", 8)}
	running := []Running{{Group: "web", Host: "a"}}
	for _, tc := range []struct {
		spread float64
		want   string
	}{{0.1, "a"}, {3, "b"}} {
		cfg := Config{Fitness: []Weighted{{BinPackCPU{}, 1}, {Spread{}, tc.spread}}}
		if got := where(Place(cfg, hosts, running, job("web", 1, 1)))["web.aa"]; got != tc.want {
			t.Errorf("spread weight %v: placed on %q, want %q", tc.spread, got, tc.want)
		}
	}
}

// recorder is a custom Fitness that records the host states it is shown.
type recorder struct{ seen *[]HostState }

func (recorder) Name() string { return "recorder" }
func (r recorder) Score(_ *Task, h *HostState) float64 {
	*r.seen = append(*r.seen, *h)
	return 0.5
}

func TestCustomFitnessSeesTheHostAsItStandsInTheCall(t *testing.T) {
	var seen []HostState
	h := node("a", 8)
	h.Free.Ports = []allocator.PortRange{{Begin: 31000, End: 31003}}
	h.Total.Ports = h.Free.Ports
	tasks := append(job("web", 2, 2), job("db", 1, 1)...)
	for i := range tasks {
		tasks[i].Ports = 1
	}
	Place(Config{Fitness: []Weighted{{recorder{&seen}, 1}}}, []Host{h}, []Running{{Group: "web", Host: "a"}}, tasks)
	if len(seen) != 3 {
		t.Fatalf("scored %d times, want 3", len(seen))
	}
	for i, want := range []struct {
		cpus          float64
		ports         int
		tasks, groups int
	}{{8, 4, 1, 0}, {7, 3, 2, 1}, {5, 2, 3, 2}} { // db.aa first (by ID), then web's
		s := seen[i]
		if s.Free.CPUs != want.cpus || s.Free.NumPorts() != want.ports || s.Tasks != want.tasks || s.GroupTasks != want.groups || s.ID != "a" || s.Total.CPUs != 8 {
			t.Errorf("state %d: %+v, want %v free CPUs, %d ports, %d tasks, %d of the group", i, s, want.cpus, want.ports, want.tasks, want.groups)
		}
	}
}

func TestZeroConfigIsDefaultConfig(t *testing.T) {
	hosts := []Host{busy(node("a", 8), 4), node("b", 8), busy(node("c", 4), 3)}
	tasks := append(job("web", 3, 1, soft("hostname", "UNIQUE")), job("db", 2, 2)...)
	a, b := Place(Config{}, hosts, nil, tasks), Place(DefaultConfig(), hosts, nil, tasks)
	if !maps.Equal(where(a), where(b)) {
		t.Errorf("zero config placed %v, default config %v", where(a), where(b))
	}
}

func TestBadWeightsAreLeftOut(t *testing.T) {
	hosts := []Host{busy(node("a", 8), 4), node("b", 8)}
	cfg := Config{Fitness: []Weighted{{Spread{}, -1}, {Spread{}, math.Inf(1)}, {Spread{}, math.NaN()}, {nil, 1}}}
	// Spread is left out: the default CPU and memory packing puts the task on a.
	if got := where(Place(cfg, hosts, []Running{{Group: "web", Host: "a"}}, job("web", 1, 1)))["web.aa"]; got != "a" {
		t.Errorf("placed on %q, want a", got)
	}
}

// inverted embeds BinPackCPU but scores the other way round: Place must use its Score.
type inverted struct{ BinPackCPU }

func (inverted) Score(t *Task, h *HostState) float64 { return 1 - (BinPackCPU{}).Score(t, h) }

func TestACalculatorEmbeddingABuiltInIsScoredByItsOwnScore(t *testing.T) {
	hosts := []Host{busy(node("a", 8), 2), node("b", 8)}
	if got := where(Place(Config{Fitness: []Weighted{{inverted{}, 1}}}, hosts, nil, job("web", 1, 1)))["web.aa"]; got != "b" {
		t.Errorf("placed on %q, want b, the emptier host", got)
	}
	if got := where(Place(Config{Fitness: []Weighted{{&BinPackCPU{}, 1}}}, hosts, nil, job("web", 1, 1)))["web.aa"]; got != "a" {
		t.Errorf("with *BinPackCPU: placed on %q, want a", got)
	}
}

func TestSpreadVisitsTheEmptiestHostsFirstAndEqualOnesByID(t *testing.T) {
	hosts := []Host{busy(node("a", 8), 4), node("d", 8), node("c", 8), node("b", 8)}
	r := Place(Config{Fitness: []Weighted{{Spread{}, 1}}, GoodEnough: 0.5}, hosts, nil, job("web", 1, 1))
	if got := where(r)["web.aa"]; got != "b" {
		t.Errorf("placed on %q, want b: the first by ID of the emptiest hosts", got)
	}
}
