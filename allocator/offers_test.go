package allocator

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// acceptSetup is one agent (2 cpus, 2 GiB, ports 31000-31009) offered to framework f, with
// framework g beside it.
func acceptSetup(t *testing.T) (*Allocator, Offer) {
	t.Helper()
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 2, Mem: 2048, Disk: 100, Ports: ports(PortRange{31000, 31009})})
	addFramework(t, a, "f", "*")
	o := onlyOffer(t, a.Allocate(t0))
	addFramework(t, a, "g", "*")
	return a, o
}

func TestAllocatorNeverOffersSameResourceTwice(t *testing.T) {
	a, o := acceptSetup(t)
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatalf("offered again while the offer is outstanding: %v", got)
	}
	must(t, a.Accept(t0, "f", []OfferID{o.ID}, []Launch{
		{TaskID: "t1", Resources: Resources{CPUs: 0.5, Mem: 512, Ports: ports(PortRange{31005, 31005})}},
	}, -1))
	// The rest goes to g (lower share); t1's half cpu and port 31005 are in no offer.
	rest := onlyOffer(t, a.Allocate(t0))
	want := Resources{CPUs: 1.5, Mem: 1536, Disk: 100, Ports: ports(PortRange{31000, 31004}, PortRange{31006, 31009})}
	if rest.Framework != "g" || rest.Resources.String() != want.String() {
		t.Fatalf("rest offered %s to %s, want %s to g", rest.Resources, rest.Framework, want)
	}
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatalf("offered a third time: %v", got)
	}
	if !a.RemoveTask("t1") {
		t.Fatal("RemoveTask(t1) = false")
	}
	freed := onlyOffer(t, a.Allocate(t0))
	want = Resources{CPUs: 0.5, Mem: 512, Ports: ports(PortRange{31005, 31005})}
	if freed.Resources.String() != want.String() {
		t.Fatalf("freed resources offered as %s, want %s", freed.Resources, want)
	}
}

// assertConsumedWithoutLaunch checks what a framework sees after a rejected accept: no task
// started, the offer is gone, and its resources are offered again at once (no filter).
func assertConsumedWithoutLaunch(t *testing.T, a *Allocator, o Offer) {
	t.Helper()
	if got := a.AgentAllocated(o.Agent); !got.IsZero() {
		t.Fatalf("rejected accept launched %v", got)
	}
	if slices.Contains(offerIDs(a.Offers()), o.ID) {
		t.Fatalf("rejected accept left offer %s outstanding", o.ID)
	}
	a.RemoveFramework("g")
	again := onlyOffer(t, a.Allocate(t0))
	if again.Framework != o.Framework || again.Resources.String() != o.Resources.String() {
		t.Fatalf("re-offered %s to %s, want %s to %s", again.Resources, again.Framework, o.Resources, o.Framework)
	}
}

func TestAcceptRejectsMoreThanOfferedAndLaunchesNothing(t *testing.T) {
	a, o := acceptSetup(t)
	err := a.Accept(t0, "f", []OfferID{o.ID}, []Launch{
		{TaskID: "web.0", Resources: Resources{CPUs: 0.5, Mem: 128}},
		{TaskID: "web.1", Resources: Resources{CPUs: 2, Mem: 128}},
	}, 0)
	if !errors.Is(err, ErrOverCommit) {
		t.Fatalf("err = %v, want ErrOverCommit", err)
	}
	if want := `accept offer O-3-1: task "web.1" wants cpus:2 but the offers have cpus:1.5 left`; err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
	var oe *OfferError
	if !errors.As(err, &oe) || oe.Task != "web.1" {
		t.Fatalf("err %#v does not name task web.1", err)
	}
	assertConsumedWithoutLaunch(t, a, o)
}

func TestAcceptRejectsPortsOutsideTheOffer(t *testing.T) {
	for _, c := range []struct {
		name     string
		launches []Launch
		want     error
		msg      string
	}{
		{"port not offered", []Launch{{TaskID: "t", Resources: Resources{CPUs: 0.1, Ports: ports(PortRange{8080, 8080})}}},
			ErrOverCommit, `wants port 8080 but the offers' ports are [31000-31009]`},
		{"range running past the offer", []Launch{{TaskID: "t", Resources: Resources{CPUs: 0.1, Ports: ports(PortRange{31008, 31010})}}},
			ErrOverCommit, `wants port 31010`},
		{"port used by two tasks", []Launch{
			{TaskID: "t1", Resources: Resources{CPUs: 0.1, Ports: ports(PortRange{31003, 31003})}},
			{TaskID: "t2", Resources: Resources{CPUs: 0.1, Ports: ports(PortRange{31003, 31003})}},
		}, ErrOverCommit, `task "t2" wants port 31003 but an earlier task of this accept already uses it`},
		{"port listed twice by one task", []Launch{{TaskID: "t", Resources: Resources{CPUs: 0.1, Ports: ports(PortRange{31003, 31003}, PortRange{31003, 31004})}}},
			ErrInvalidResources, `lists a port twice`},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, o := acceptSetup(t)
			err := a.Accept(t0, "f", []OfferID{o.ID}, c.launches, 0)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want %v saying %q", err, c.want, c.msg)
			}
			assertConsumedWithoutLaunch(t, a, o)
		})
	}
}

func TestAcceptRejectsInvalidLaunches(t *testing.T) {
	for _, c := range []struct {
		name     string
		launches []Launch
		want     error
	}{
		{"duplicate task id in the call", []Launch{
			{TaskID: "t", Resources: Resources{CPUs: 0.1}}, {TaskID: "t", Resources: Resources{CPUs: 0.1}},
		}, ErrTaskExists},
		{"task id of a running task", []Launch{{TaskID: "running", Resources: Resources{CPUs: 0.1}}}, ErrTaskExists},
		{"empty task id", []Launch{{Resources: Resources{CPUs: 0.1}}}, ErrEmptyID},
		{"no cpus and no mem", []Launch{{TaskID: "t", Resources: Resources{Disk: 10}}}, ErrInvalidResources},
		{"negative mem", []Launch{{TaskID: "t", Resources: Resources{CPUs: 1, Mem: -1}}}, ErrInvalidResources},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newTest(t)
			addAgent(t, a, "a1", Resources{CPUs: 2, Mem: 2048})
			addFramework(t, a, "f", "*")
			must(t, a.AddTask("running", "f", "a1", Resources{CPUs: 0.5}))
			o := onlyOffer(t, a.Allocate(t0))
			if err := a.Accept(t0, "f", []OfferID{o.ID}, c.launches, 0); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if got := a.AgentAllocated("a1"); got.CPUs != 0.5 {
				t.Fatalf("allocated %v, want only the running task's cpus:0.5", got)
			}
			if got := onlyOffer(t, a.Allocate(t0)); got.Resources.CPUs != 1.5 {
				t.Fatalf("re-offered %v, want cpus:1.5", got.Resources)
			}
		})
	}
}

func TestAcceptRejectsOffersItDoesNotHold(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 2, Mem: 2048})
	addAgent(t, a, "a2", Resources{CPUs: 2, Mem: 2048})
	addAgent(t, a, "a3", Resources{CPUs: 2, Mem: 2048})
	addFramework(t, a, "f", "*")
	addFramework(t, a, "g", "*")
	offers := a.Allocate(t0) // a1 to f, a2 to g, a3 to f
	of1, og, of3 := offers[0], offers[1], offers[2]
	if of1.Framework != "f" || og.Framework != "g" || of3.Framework != "f" {
		t.Fatalf("offers %+v, want a1:f a2:g a3:f", offers)
	}
	launch := []Launch{{TaskID: "t", Resources: Resources{CPUs: 1}}}

	err := a.Accept(t0, "f", []OfferID{og.ID}, launch, 0)
	if !errors.Is(err, ErrNotYourOffer) || !strings.Contains(err.Error(), `made to framework "g", not "f"`) {
		t.Fatalf("accepting g's offer: err = %v, want ErrNotYourOffer", err)
	}
	if !slices.Contains(offerIDs(a.Offers()), og.ID) {
		t.Fatal("f's failed accept consumed g's offer")
	}
	if err := a.Accept(t0, "f", []OfferID{of1.ID, of3.ID}, launch, 0); !errors.Is(err, ErrMixedAgents) {
		t.Fatalf("offers of two agents: err = %v, want ErrMixedAgents", err)
	}
	if err := a.Accept(t0, "f", []OfferID{of1.ID}, launch, 0); !errors.Is(err, ErrUnknownOffer) {
		t.Fatalf("offer consumed by a failed accept: err = %v, want ErrUnknownOffer", err)
	}
	if err := a.Accept(t0, "f", nil, launch, 0); !errors.Is(err, ErrNoOffers) {
		t.Fatalf("no offers: err = %v, want ErrNoOffers", err)
	}
	if err := a.Accept(t0, "nobody", []OfferID{og.ID}, launch, 0); !errors.Is(err, ErrUnknownFramework) {
		t.Fatalf("unknown framework: err = %v, want ErrUnknownFramework", err)
	}
	if err := a.Accept(t0, "g", []OfferID{og.ID, og.ID}, launch, 0); !errors.Is(err, ErrDuplicateOffer) {
		t.Fatalf("offer listed twice: err = %v, want ErrDuplicateOffer", err)
	}
	if len(a.tasks) != 0 {
		t.Fatalf("failed accepts launched %d tasks", len(a.tasks))
	}
}

func TestAcceptOfSeveralOffersOfOneAgent(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 2, Mem: 2048, Ports: ports(PortRange{31000, 31001})})
	addFramework(t, a, "f", "*")
	must(t, a.AddTask("t0", "f", "a1", Resources{CPUs: 1, Mem: 1024, Ports: ports(PortRange{31001, 31001})}))
	o1 := onlyOffer(t, a.Allocate(t0))
	a.RemoveTask("t0")
	o2 := onlyOffer(t, a.Allocate(t0))
	must(t, a.Accept(t0, "f", []OfferID{o1.ID, o2.ID}, []Launch{
		{TaskID: "big", Resources: Resources{CPUs: 2, Mem: 2048, Ports: ports(PortRange{31000, 31001})}},
	}, 0))
	if got := a.AgentFree("a1"); !got.IsZero() {
		t.Fatalf("free after accepting everything = %v", got)
	}
	if got := a.Offers(); len(got) != 0 {
		t.Fatalf("outstanding after accept: %v", got)
	}
}

func TestDeclineSkipsOffersItDoesNotHold(t *testing.T) {
	a, o := acceptSetup(t)
	err := a.Decline(t0, "f", []OfferID{"O-3-99", o.ID}, time.Minute)
	if !errors.Is(err, ErrUnknownOffer) {
		t.Fatalf("err = %v, want ErrUnknownOffer", err)
	}
	if got := a.Offers(); len(got) != 0 {
		t.Fatalf("the held offer was not declined: %v", got)
	}
	if o := onlyOffer(t, a.Allocate(t0)); o.Framework != "g" {
		t.Fatalf("declined resources went to %s, want g", o.Framework)
	}
}

func TestExpireRescindsOldOffersAndDropsFilters(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OfferTimeout = time.Minute
	a := New(cfg)
	addAgent(t, a, "a1", Resources{CPUs: 2, Mem: 2048})
	addAgent(t, a, "a2", Resources{CPUs: 2, Mem: 2048})
	addFramework(t, a, "f", "*")
	o1 := onlyOffer(t, a.Allocate(t0)[:1])
	must(t, a.Decline(t0, "f", []OfferID{a.Offers()[1].ID}, 30*time.Second))
	if got := a.Expire(t0.Add(59 * time.Second)); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	if len(a.frameworks["f"].refused) != 0 {
		t.Fatal("filter that ran out was not dropped")
	}
	got := a.Expire(t0.Add(time.Minute))
	if len(got) != 1 || got[0].ID != o1.ID || o1.ID != "O-1" {
		t.Fatalf("expired %v, want %s (O-1)", got, o1.ID)
	}
	if got := a.Allocate(t0.Add(time.Minute)); len(got) != 2 {
		t.Fatalf("after expiry got %d offers, want both agents", len(got))
	}
}

func TestOffersSortByCounterAndSkipCrumbs(t *testing.T) {
	a := newTest(t)
	for i := range 11 {
		addAgent(t, a, AgentID(string(rune('a'+i))), Resources{CPUs: 1, Mem: 64})
	}
	addAgent(t, a, "crumbs", Resources{CPUs: 0.005, Mem: 16})
	addFramework(t, a, "f", "*")
	if got := len(a.Allocate(t0)); got != 11 {
		t.Fatalf("got %d offers, want 11 (none of the agent below the minimum allocatable)", got)
	}
	ids := offerIDs(a.Offers())
	if ids[8] != "O-3-9" || ids[9] != "O-3-10" {
		t.Fatalf("offers not in counter order: %v", ids)
	}
}
