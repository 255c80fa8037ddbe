package allocator

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newTest(t testing.TB) *Allocator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.OfferIDPrefix = "O-3"
	return New(cfg)
}

func addAgent(t testing.TB, a *Allocator, id AgentID, total Resources) {
	t.Helper()
	if err := a.AddAgent(Agent{ID: id, Hostname: string(id) + ".example", Total: total, Attributes: map[string]string{"rack": "r1"}}); err != nil {
		t.Fatal(err)
	}
}

func addFramework(t testing.TB, a *Allocator, id FrameworkID, role string) {
	t.Helper()
	if err := a.AddFramework(Framework{ID: id, Name: string(id), Role: role}); err != nil {
		t.Fatal(err)
	}
}

func offerIDs(os []Offer) []OfferID {
	ids := make([]OfferID, len(os))
	for i, o := range os {
		ids[i] = o.ID
	}
	return ids
}

// onlyOffer returns the one offer of os, failing the test if there is not exactly one.
func onlyOffer(t testing.TB, os []Offer) Offer {
	t.Helper()
	if len(os) != 1 {
		t.Fatalf("got %d offers %v, want 1", len(os), os)
	}
	return os[0]
}

func TestAddAgentRejectsDuplicateAndInvalidTotals(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	if err := a.AddAgent(Agent{ID: "a1"}); !errors.Is(err, ErrAgentExists) {
		t.Fatalf("duplicate agent: err = %v, want ErrAgentExists", err)
	}
	if err := a.AddAgent(Agent{ID: "a2", Total: Resources{CPUs: -1}}); !errors.Is(err, ErrInvalidResources) {
		t.Fatalf("negative cpus: err = %v, want ErrInvalidResources", err)
	}
	if err := a.AddAgent(Agent{ID: "a3", Total: Resources{Ports: ports(PortRange{9, 1})}}); !errors.Is(err, ErrInvalidResources) {
		t.Fatalf("inverted port range: err = %v, want ErrInvalidResources", err)
	}
	if err := a.AddFramework(Framework{ID: "f"}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddFramework(Framework{ID: "f"}); !errors.Is(err, ErrFrameworkExists) {
		t.Fatalf("duplicate framework: err = %v, want ErrFrameworkExists", err)
	}
	if s := a.Shares(); len(s) != 1 || s[0].Role != "*" {
		t.Fatalf("framework with no role: shares %+v, want role *", s)
	}
}

func TestAddTaskNeverOverCommits(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096, Ports: ports(PortRange{31000, 31009})})
	addFramework(t, a, "f", "*")
	if err := a.AddTask("t1", "f", "a1", Resources{CPUs: 3, Mem: 1024, Ports: ports(PortRange{31000, 31000})}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		id   string
		fw   FrameworkID
		ag   AgentID
		res  Resources
		want error
	}{
		{"too many cpus", "t2", "f", "a1", Resources{CPUs: 1.5}, ErrOverCommit},
		{"port already taken", "t2", "f", "a1", Resources{CPUs: 0.1, Ports: ports(PortRange{31000, 31000})}, ErrOverCommit},
		{"task id in use", "t1", "f", "a1", Resources{CPUs: 0.1}, ErrTaskExists},
		{"unknown agent", "t2", "f", "nope", Resources{CPUs: 0.1}, ErrUnknownAgent},
		{"unknown framework", "t2", "nope", "a1", Resources{CPUs: 0.1}, ErrUnknownFramework},
	} {
		if err := a.AddTask(c.id, c.fw, c.ag, c.res); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	// Offered resources are not free either.
	onlyOffer(t, a.Allocate(t0))
	if err := a.AddTask("t3", "f", "a1", Resources{CPUs: 0.5}); !errors.Is(err, ErrOverCommit) {
		t.Fatalf("task on offered resources: err = %v, want ErrOverCommit", err)
	}
	if got := a.AgentAllocated("a1"); got.CPUs != 3 || got.Mem != 1024 {
		t.Fatalf("allocated = %v, want only t1's cpus:3 mem:1024", got)
	}
}

func TestRemoveTaskReoffersFreedResourcesAtOnce(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 2, Mem: 2048})
	addFramework(t, a, "f", "*")
	if err := a.AddTask("t1", "f", "a1", Resources{CPUs: 2, Mem: 2048}); err != nil {
		t.Fatal(err)
	}
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatalf("full agent offered: %v", got)
	}
	if !a.RemoveTask("t1") {
		t.Fatal("RemoveTask(t1) = false")
	}
	if a.RemoveTask("t1") {
		t.Fatal("second RemoveTask(t1) = true")
	}
	o := onlyOffer(t, a.Allocate(t0))
	if o.Resources.CPUs != 2 || o.Resources.Mem != 2048 || o.Hostname != "a1.example" || o.Attributes["rack"] != "r1" {
		t.Fatalf("offer after the task ended = %+v, want all of a1", o)
	}
}

func TestRemoveAgentRescindsOffersAndForgetsTasks(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addAgent(t, a, "a2", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "*")
	if err := a.AddTask("t1", "f", "a1", Resources{CPUs: 1, Mem: 1024}); err != nil {
		t.Fatal(err)
	}
	offers := a.Allocate(t0)
	if len(offers) != 2 {
		t.Fatalf("got %d offers, want 2", len(offers))
	}
	rescinded := a.RemoveAgent("a1")
	if len(rescinded) != 1 || rescinded[0].Agent != "a1" {
		t.Fatalf("rescinded %v, want a1's offer", rescinded)
	}
	if got := a.Offers(); len(got) != 1 || got[0].Agent != "a2" {
		t.Fatalf("outstanding %v, want a2's offer only", got)
	}
	if a.RemoveTask("t1") {
		t.Fatal("task on the removed agent is still known")
	}
	if err := a.Accept(t0, "f", []OfferID{rescinded[0].ID}, nil, 0); !errors.Is(err, ErrUnknownOffer) {
		t.Fatalf("accepting a rescinded offer: err = %v, want ErrUnknownOffer", err)
	}
	if s := a.Shares(); s[0].Dominant != 1 { // its offer of all of a2 is now the whole cluster
		t.Fatalf("share %v, want 1", s[0].Dominant)
	}
}

func TestRemoveFrameworkRescindsOffersButKeepsTasksAllocated(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "*")
	addFramework(t, a, "g", "*")
	if err := a.AddTask("t1", "f", "a1", Resources{CPUs: 1, Mem: 1024}); err != nil {
		t.Fatal(err)
	}
	o := onlyOffer(t, a.Allocate(t0)) // g has the lower share
	if o.Framework != "g" {
		t.Fatalf("offer went to %s, want g", o.Framework)
	}
	if got := a.RemoveFramework("g"); len(got) != 1 || got[0].ID != o.ID {
		t.Fatalf("RemoveFramework rescinded %v, want %s", got, o.ID)
	}
	a.RemoveFramework("f")
	if got := a.AgentAllocated("a1"); got.CPUs != 1 {
		t.Fatalf("allocated after its framework left = %v, want cpus:1", got)
	}
	// f comes back (failover): its running task counts toward its share again.
	addFramework(t, a, "f", "*")
	if s := a.Shares(); len(s) != 1 || s[0].Allocated.CPUs != 1 {
		t.Fatalf("shares %+v, want f with cpus:1 allocated", s)
	}
	if !a.RemoveTask("t1") {
		t.Fatal("RemoveTask(t1) = false")
	}
	if o := onlyOffer(t, a.Allocate(t0)); o.Resources.CPUs != 4 {
		t.Fatalf("offer %v, want all 4 cpus", o.Resources)
	}
}

func TestUpdateAgentRescindsItsOffers(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "*")
	o := onlyOffer(t, a.Allocate(t0))
	rescinded := a.UpdateAgent(Agent{ID: "a1", Hostname: "a1.example", Total: Resources{CPUs: 8, Mem: 4096}})
	if len(rescinded) != 1 || rescinded[0].ID != o.ID {
		t.Fatalf("rescinded %v, want %s", rescinded, o.ID)
	}
	if o := onlyOffer(t, a.Allocate(t0)); o.Resources.CPUs != 8 {
		t.Fatalf("offer after update %v, want cpus:8", o.Resources)
	}
}

func TestSetRoleWeightMustBePositive(t *testing.T) {
	a := newTest(t)
	for _, w := range []float64{0, -1} {
		if err := a.SetRoleWeight("r", w); !errors.Is(err, ErrInvalidWeight) {
			t.Errorf("weight %v: err = %v, want ErrInvalidWeight", w, err)
		}
	}
	if err := a.SetRoleWeight("r", 2); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidateNamesTheBadSetting(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig invalid: %v", err)
	}
	cfg := DefaultConfig()
	cfg.OfferTimeout = -time.Second
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "OfferTimeout") {
		t.Fatalf("negative OfferTimeout: err = %v", err)
	}
}

func TestAllocatorIsDeterministic(t *testing.T) {
	run := func() []Offer {
		a := newTest(t)
		for i := range 40 {
			addAgent(t, a, AgentID(fmt.Sprintf("a%d", i)), Resources{CPUs: float64(1 + i%4), Mem: float64(1024 * (1 + i%3))})
		}
		for i := range 6 {
			addFramework(t, a, FrameworkID(fmt.Sprintf("f%d", i)), []string{"x", "y", "*"}[i%3])
		}
		var all []Offer
		for round := range 5 {
			now := t0.Add(time.Duration(round) * time.Second)
			offers := a.Allocate(now)
			all = append(all, offers...)
			for i, o := range offers {
				if i%3 == 0 {
					must(t, a.Decline(now, o.Framework, []OfferID{o.ID}, 2*time.Second))
				}
			}
			all = append(all, a.RemoveAgent(AgentID(fmt.Sprintf("a%d", round)))...)
		}
		return append(all, a.Offers()...)
	}
	first, second := run(), run()
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("the same calls gave different offers:\n%v\n%v", first, second)
	}
}
