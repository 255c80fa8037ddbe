package allocator

import (
	"errors"
	"testing"
	"time"
)

func TestReservedResourcesAreOfferedOnlyToTheirRole(t *testing.T) {
	a := newTest(t)
	must(t, a.AddAgent(Agent{ID: "a1", Total: Resources{CPUs: 8, Mem: 8192, Ports: ports(PortRange{31000, 31009})},
		Reserved: map[string]Resources{"analytics": {CPUs: 4, Mem: 2048, Ports: ports(PortRange{31000, 31004})}}}))
	addFramework(t, a, "web", "*")
	o := onlyOffer(t, a.Allocate(t0))
	want := Resources{CPUs: 4, Mem: 6144, Ports: ports(PortRange{31005, 31009})}
	if o.Framework != "web" || o.Resources.String() != want.String() || !o.Reserved.IsZero() {
		t.Fatalf("offer %+v, want only the unreserved %v to web", o, want)
	}
	// The reservation waits for its role's first framework.
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatalf("reserved resources offered with no framework of their role: %v", got)
	}
	addFramework(t, a, "an", "analytics")
	o = onlyOffer(t, a.Allocate(t0))
	want = Resources{CPUs: 4, Mem: 2048, Ports: ports(PortRange{31000, 31004})}
	if o.Framework != "an" || o.Role != "analytics" || o.Reserved.String() != want.String() || o.Resources.String() != want.String() {
		t.Fatalf("offer %+v, want the reservation %v to an", o, want)
	}
	// A task on it takes from the reservation and counts toward the role's share.
	must(t, a.Accept(t0, "an", []OfferID{o.ID}, []Launch{{TaskID: "q", Resources: Resources{CPUs: 1, Mem: 512, Ports: ports(PortRange{31000, 31000})}}}, -1))
	if got := a.agents["a1"].reserved["analytics"].allocated; got.CPUs != 1 || got.Mem != 512 {
		t.Fatalf("reservation allocated %v, want cpus:1 mem:512", got)
	}
	for _, s := range a.Shares() {
		if s.Role == "analytics" && s.Allocated.CPUs != 1 {
			t.Fatalf("analytics share %+v, want cpus:1 allocated", s)
		}
	}
	// Declined by web, the unreserved resources go to analytics with the rest of its
	// reservation, in one offer that says which part is reserved.
	must(t, a.Decline(t0, "web", []OfferID{"O-3-1"}, time.Hour))
	for _, o := range a.Allocate(t0) {
		if o.Framework != "an" || o.Reserved.CPUs != 3 || o.Resources.CPUs != 7 {
			t.Fatalf("offer %+v, want the rest of the reservation (3 cpus) and the unreserved 4 to an", o)
		}
	}
}

func TestAddAgentRejectsBadReservations(t *testing.T) {
	a := newTest(t)
	for _, c := range []struct {
		name string
		res  map[string]Resources
		want error
	}{
		{"more than the total", map[string]Resources{"r": {CPUs: 5}}, ErrInvalidResources},
		{"two that do not fit together", map[string]Resources{"r": {CPUs: 3}, "s": {CPUs: 3}}, ErrInvalidResources},
		{"for the default role", map[string]Resources{"*": {CPUs: 1}}, ErrInvalidRole},
		{"negative", map[string]Resources{"r": {CPUs: -1}}, ErrInvalidResources},
	} {
		if err := a.AddAgent(Agent{ID: "a1", Total: Resources{CPUs: 4}, Reserved: c.res}); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestReserveAndUnreserveMoveFreeResources(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "*")
	if err := a.Reserve("a1", "db", Resources{CPUs: 5}); !errors.Is(err, ErrOverCommit) {
		t.Fatalf("reserving more than is free: err = %v, want ErrOverCommit", err)
	}
	if err := a.Reserve("nope", "db", Resources{CPUs: 1}); !errors.Is(err, ErrUnknownAgent) {
		t.Fatalf("unknown agent: err = %v", err)
	}
	if err := a.Reserve("a1", "*", Resources{CPUs: 1}); !errors.Is(err, ErrInvalidRole) {
		t.Fatalf("role *: err = %v", err)
	}
	must(t, a.Reserve("a1", "db", Resources{CPUs: 1, Mem: 1024}))
	o := onlyOffer(t, a.Allocate(t0))
	if o.Resources.CPUs != 3 || o.Resources.Mem != 3072 {
		t.Fatalf("offer %v, want the unreserved cpus:3 mem:3072", o.Resources)
	}
	// Offered resources are not free: they cannot be reserved.
	if err := a.Reserve("a1", "db", Resources{CPUs: 1}); !errors.Is(err, ErrOverCommit) {
		t.Fatalf("reserving offered resources: err = %v, want ErrOverCommit", err)
	}
	if got := a.AgentReserved("a1")["db"]; got.CPUs != 1 || got.Mem != 1024 {
		t.Fatalf("AgentReserved = %v", got)
	}
	if err := a.Unreserve("a1", "db", Resources{CPUs: 2}); !errors.Is(err, ErrOverCommit) {
		t.Fatalf("unreserving more than reserved: err = %v, want ErrOverCommit", err)
	}
	must(t, a.Unreserve("a1", "db", Resources{CPUs: 1, Mem: 1024}))
	if got := a.AgentReserved("a1"); got != nil {
		t.Fatalf("reservations left after unreserving all: %v", got)
	}
	if o := onlyOffer(t, a.Allocate(t0)); o.Resources.CPUs != 1 || o.Framework != "f" {
		t.Fatalf("offer %+v, want the unreserved cpu to f", o)
	}
}

func TestUnreserveRefusesStaticOrBusyReservations(t *testing.T) {
	a := newTest(t)
	must(t, a.AddAgent(Agent{ID: "a1", Total: Resources{CPUs: 4, Mem: 4096}, Reserved: map[string]Resources{"db": {CPUs: 1}}}))
	addFramework(t, a, "d", "db")
	if err := a.Unreserve("a1", "db", Resources{CPUs: 1}); !errors.Is(err, ErrOverCommit) {
		t.Fatalf("unreserving a static reservation: err = %v, want ErrOverCommit", err)
	}
	must(t, a.Reserve("a1", "db", Resources{CPUs: 1}))
	must(t, a.AddTask("t", "d", "a1", Resources{CPUs: 2}))
	if err := a.Unreserve("a1", "db", Resources{CPUs: 1}); !errors.Is(err, ErrOverCommit) {
		t.Fatalf("unreserving resources a task holds: err = %v, want ErrOverCommit", err)
	}
	// Dynamic reservations survive an update of the agent while they fit.
	a.UpdateAgent(Agent{ID: "a1", Total: Resources{CPUs: 4, Mem: 4096}, Reserved: map[string]Resources{"db": {CPUs: 1}}})
	if got := a.AgentReserved("a1")["db"]; got.CPUs != 2 {
		t.Fatalf("reservation after update %v, want cpus:2", got)
	}
	if got := a.AgentDynamicReserved("a1")["db"]; got.CPUs != 1 {
		t.Fatalf("dynamic reservation after update %v, want cpus:1", got)
	}
}
