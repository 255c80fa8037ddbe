package allocator

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func res(r Resources) *Resources { return &r }

// checkResults fails unless results are, in order, for the given operation index and task,
// each nil or wrapping the given sentinel in an *OfferError.
func checkResults(t *testing.T, results []OperationResult, want ...OperationResult) {
	t.Helper()
	if len(results) != len(want) {
		t.Fatalf("results %+v, want %d", results, len(want))
	}
	for i, r := range results {
		w := want[i]
		var oe *OfferError
		if r.Index != w.Index || r.Task != w.Task || (w.Err == nil) != (r.Err == nil) ||
			(w.Err != nil && (!errors.Is(r.Err, w.Err) || !errors.As(r.Err, &oe))) {
			t.Errorf("result %d = {%d %q %v}, want {%d %q %v}", i, r.Index, r.Task, r.Err, w.Index, w.Task, w.Err)
		}
	}
}

func TestAcceptOperationsReservesThenLaunchesOnTheReservedPart(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096, Ports: ports(PortRange{31000, 31009})})
	addFramework(t, a, "d", "db")
	o := onlyOffer(t, a.Allocate(t0))
	reserve := Resources{CPUs: 2, Mem: 1024, Ports: ports(PortRange{31000, 31001})}
	task := Resources{CPUs: 2, Mem: 1024, Ports: ports(PortRange{31000, 31000})}
	results, err := a.AcceptOperations(t0, "d", []OfferID{o.ID}, []Operation{
		{Reserve: &reserve},
		{Launch: []Launch{{TaskID: "db.0", Resources: task}}},
	}, 0)
	must(t, err)
	checkResults(t, results, OperationResult{Index: 0}, OperationResult{Index: 1, Task: "db.0"})

	// The reservation is the agent's, exactly as Reserve makes it, and the task holds it.
	if got := a.AgentDynamicReserved("a1")["db"]; got.String() != reserve.String() {
		t.Fatalf("dynamic reservation %v, want %v", got, reserve)
	}
	if got := a.agents["a1"].reserved["db"].allocated; got.String() != task.String() {
		t.Fatalf("the reservation's allocated part is %v, want the task's %v", got, task)
	}
	if got := a.AgentStaticReserved("a1"); got != nil {
		t.Fatalf("static reservations %v, want none", got)
	}
	if got := a.RoleConsumed("db"); got.CPUs != 2 || got.Mem != 1024 {
		t.Fatalf("db consumes %v, want the task's cpus:2 mem:1024", got)
	}
	// The unreserved rest goes to another role; the reserved port 31001 does not.
	addFramework(t, a, "w", "web")
	o = onlyOffer(t, a.Allocate(t0))
	if want := (Resources{CPUs: 2, Mem: 3072, Ports: ports(PortRange{31002, 31009})}); o.Framework != "w" || o.Resources.String() != want.String() {
		t.Fatalf("offer %+v, want the unreserved %v to w", o, want)
	}
	// Dynamic reservations survive an update of the agent.
	a.UpdateAgent(Agent{ID: "a1", Total: Resources{CPUs: 4, Mem: 4096, Ports: ports(PortRange{31000, 31009})}})
	// When the task ends its reservation is offered to db again, and said to be dynamic.
	a.RemoveTask("db.0")
	for _, o := range a.Allocate(t0.Add(time.Minute)) {
		if o.Framework == "d" && (o.Reserved.String() != reserve.String() || o.Dynamic.String() != reserve.String()) {
			t.Fatalf("offer %+v to d, want the reservation %v, all dynamic", o, reserve)
		}
		if o.Framework == "w" && !o.Reserved.IsZero() {
			t.Fatalf("reserved resources offered to w: %+v", o)
		}
	}
}

func TestAcceptOperationsRejectsAnOversizeTaskAndLaunchesTheValidOnes(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096, Ports: ports(PortRange{31000, 31009})})
	addFramework(t, a, "f", "*")
	must(t, a.AddTask("running", "f", "a1", Resources{CPUs: 2, Mem: 2048}))
	o := onlyOffer(t, a.Allocate(t0)) // cpus:2 mem:2048
	results, err := a.AcceptOperations(t0, "f", []OfferID{o.ID}, []Operation{{Launch: []Launch{
		{TaskID: "big", Resources: Resources{CPUs: 3, Mem: 128}},
		{TaskID: "small", Resources: Resources{CPUs: 1, Mem: 1024, Ports: ports(PortRange{31000, 31000})}},
		{TaskID: "small", Resources: Resources{CPUs: 0.1, Mem: 64}},
		{TaskID: "running", Resources: Resources{CPUs: 0.1, Mem: 64}},
		{TaskID: "", Resources: Resources{CPUs: 0.1, Mem: 64}},
		{TaskID: "disk-only", Resources: Resources{Disk: 10}},
		{TaskID: "port-twice", Resources: Resources{CPUs: 0.1, Ports: ports(PortRange{31001, 31002}, PortRange{31002, 31002})}},
		{TaskID: "port-taken", Resources: Resources{CPUs: 0.1, Ports: ports(PortRange{31000, 31000})}},
		{TaskID: "rest", Resources: Resources{CPUs: 1, Mem: 1024}},
		{TaskID: "one-too-many", Resources: Resources{CPUs: 0.1}},
	}}}, -1)
	must(t, err)
	checkResults(t, results,
		OperationResult{Task: "big", Err: ErrOverCommit},
		OperationResult{Task: "small"},
		OperationResult{Task: "small", Err: ErrTaskExists},
		OperationResult{Task: "running", Err: ErrTaskExists},
		OperationResult{Task: "", Err: ErrEmptyID},
		OperationResult{Task: "disk-only", Err: ErrInvalidResources},
		OperationResult{Task: "port-twice", Err: ErrInvalidResources},
		OperationResult{Task: "port-taken", Err: ErrOverCommit},
		OperationResult{Task: "rest"},
		OperationResult{Task: "one-too-many", Err: ErrOverCommit},
	)
	if want := `accept offer O-3-1: task "big" wants cpus:3 but the offers have cpus:2 left`; results[0].Err.Error() != want {
		t.Fatalf("oversize task: %q, want %q", results[0].Err, want)
	}
	if msg := results[7].Err.Error(); !strings.Contains(msg, "port 31000 but an earlier task of this accept already uses it") {
		t.Fatalf("port taken by an earlier task: %q", msg)
	}
	if got := a.AgentAllocated("a1"); got.CPUs != 4 || got.Mem != 4096 || got.NumPorts() != 1 {
		t.Fatalf("allocated %v, want running, small and rest: cpus:4 mem:4096 and port 31000", got)
	}
	if !a.RemoveTask("small") || !a.RemoveTask("rest") || a.RemoveTask("big") {
		t.Fatal("the launched tasks are not exactly small and rest")
	}
}

func TestAcceptOperationsChecksEachTaskAgainstTheQuota(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 8, Mem: 8192})
	addFramework(t, a, "w", "web")
	must(t, a.SetQuota("web", Resources{CPUs: 4}))
	o := onlyOffer(t, a.Allocate(t0)) // cpus:4
	must(t, a.SetQuota("web", Resources{CPUs: 2}))
	results, err := a.AcceptOperations(t0, "w", []OfferID{o.ID}, []Operation{{Launch: []Launch{
		{TaskID: "t1", Resources: Resources{CPUs: 1.5, Mem: 64}},
		{TaskID: "t2", Resources: Resources{CPUs: 1, Mem: 64}},
		{TaskID: "t3", Resources: Resources{CPUs: 0.5, Mem: 64}},
	}}}, -1)
	must(t, err)
	checkResults(t, results, OperationResult{Task: "t1"}, OperationResult{Task: "t2", Err: ErrQuotaExceeded}, OperationResult{Task: "t3"})
	if got := a.RoleConsumed("web"); got.CPUs != 2 {
		t.Fatalf("web consumes %v, want its quota's cpus:2", got)
	}
}

func TestAcceptOperationsWithInvalidOffersConsumesThemAndDoesNothing(t *testing.T) {
	setup := func(t *testing.T) (a *Allocator, f1, g2, f3 Offer) {
		a = newTest(t)
		addAgent(t, a, "a1", Resources{CPUs: 2, Mem: 2048})
		addAgent(t, a, "a2", Resources{CPUs: 2, Mem: 2048})
		addAgent(t, a, "a3", Resources{CPUs: 2, Mem: 2048})
		addFramework(t, a, "f", "db")
		addFramework(t, a, "g", "db")
		offers := a.Allocate(t0) // a1 to f, a2 to g, a3 to f
		if len(offers) != 3 || offers[0].Framework != "f" || offers[1].Framework != "g" || offers[2].Framework != "f" {
			t.Fatalf("offers %+v, want a1:f a2:g a3:f", offers)
		}
		return a, offers[0], offers[1], offers[2]
	}
	ops := []Operation{
		{Reserve: res(Resources{CPUs: 1})},
		{Launch: []Launch{{TaskID: "t", Resources: Resources{CPUs: 1}}}},
	}
	for _, c := range []struct {
		name   string
		offers func(f1, g2, f3 Offer) []OfferID
		want   error
	}{
		{"duplicate offer", func(f1, _, _ Offer) []OfferID { return []OfferID{f1.ID, f1.ID} }, ErrDuplicateOffer},
		{"unknown offer", func(f1, _, _ Offer) []OfferID { return []OfferID{f1.ID, "O-3-99"} }, ErrUnknownOffer},
		{"foreign offer", func(f1, g2, _ Offer) []OfferID { return []OfferID{f1.ID, g2.ID} }, ErrNotYourOffer},
		{"offers of two agents", func(f1, _, f3 Offer) []OfferID { return []OfferID{f1.ID, f3.ID} }, ErrMixedAgents},
		{"no offers", func(Offer, Offer, Offer) []OfferID { return nil }, ErrNoOffers},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, f1, g2, f3 := setup(t)
			ids := c.offers(f1, g2, f3)
			results, err := a.AcceptOperations(t0, "f", ids, ops, time.Hour)
			var oe *OfferError
			if !errors.Is(err, c.want) || !errors.As(err, &oe) || results != nil {
				t.Fatalf("AcceptOperations = %v, %v; want no results and %v", results, err, c.want)
			}
			if len(a.tasks) != 0 || a.AgentDynamicReserved("a1") != nil || a.AgentDynamicReserved("a3") != nil {
				t.Fatalf("rejected accept launched %d tasks or reserved %v", len(a.tasks), a.AgentDynamicReserved("a1"))
			}
			// f's offers among those given are consumed, with no filter; g's is untouched.
			out := offerIDs(a.Offers())
			for _, id := range ids {
				if o := a.offers[id]; id != g2.ID && slices.Contains(out, id) {
					t.Fatalf("rejected accept left f's offer %s (%v) outstanding", id, o)
				}
			}
			if !slices.Contains(out, g2.ID) {
				t.Fatal("f's rejected accept consumed g's offer")
			}
			if c.want != ErrNoOffers {
				a.RemoveFramework("g")
				if o := a.Allocate(t0); len(o) == 0 || o[0].Framework != "f" || o[0].Agent != "a1" {
					t.Fatalf("after the rejected accept got %+v, want a1 re-offered to f at once", o)
				}
			}
		})
	}
	// An unknown framework consumes nothing.
	a, f1, _, _ := setup(t)
	if _, err := a.AcceptOperations(t0, "nobody", []OfferID{f1.ID}, ops, 0); !errors.Is(err, ErrUnknownFramework) {
		t.Fatalf("unknown framework: err = %v", err)
	}
	if !slices.Contains(offerIDs(a.Offers()), f1.ID) {
		t.Fatal("an unknown framework's accept consumed f's offer")
	}
}

func TestAcceptOperationsCannotUnreserveStaticReservations(t *testing.T) {
	a := newTest(t)
	must(t, a.AddAgent(Agent{ID: "a1", Total: Resources{CPUs: 8, Mem: 8192, Ports: ports(PortRange{31000, 31009})},
		Reserved: map[string]Resources{"db": {CPUs: 2, Mem: 1024, Ports: ports(PortRange{31000, 31000})}}}))
	must(t, a.Reserve("a1", "db", Resources{CPUs: 1, Ports: ports(PortRange{31001, 31001})}))
	addFramework(t, a, "d", "db")
	o := onlyOffer(t, a.Allocate(t0))
	if want := (Resources{CPUs: 1, Ports: ports(PortRange{31001, 31001})}); o.Dynamic.String() != want.String() || o.Reserved.CPUs != 3 {
		t.Fatalf("offer reserved %v dynamic %v, want cpus:3 reserved of which %v dynamic", o.Reserved, o.Dynamic, want)
	}
	results, err := a.AcceptOperations(t0, "d", []OfferID{o.ID}, []Operation{
		{Unreserve: res(Resources{CPUs: 2})},                                        // more than the dynamic part
		{Unreserve: res(Resources{Ports: ports(PortRange{31000, 31000})})},          // a static port
		{Unreserve: res(Resources{CPUs: 1, Ports: ports(PortRange{31005, 31005})})}, // an unreserved port
		{Unreserve: res(Resources{CPUs: 1, Ports: ports(PortRange{31001, 31001})})}, // the dynamic part
		{Unreserve: res(Resources{CPUs: 0.5})},                                      // nothing dynamic left
	}, -1)
	must(t, err)
	checkResults(t, results,
		OperationResult{Index: 0, Err: ErrOverCommit},
		OperationResult{Index: 1, Err: ErrOverCommit},
		OperationResult{Index: 2, Err: ErrOverCommit},
		OperationResult{Index: 3},
		OperationResult{Index: 4, Err: ErrOverCommit},
	)
	if msg := results[0].Err.Error(); !strings.Contains(msg, "statically reserved (the agent's configuration) and cannot be unreserved") {
		t.Fatalf("unreserving static cpus: %q", msg)
	}
	if msg := results[2].Err.Error(); !strings.Contains(msg, "unreserve dynamically reserved resources of the offers") {
		t.Fatalf("unreserving unreserved resources: %q", msg)
	}
	if got := a.AgentDynamicReserved("a1"); got != nil {
		t.Fatalf("dynamic reservations %v after unreserving them, want none", got)
	}
	if got := a.AgentStaticReserved("a1")["db"]; got.CPUs != 2 || got.Mem != 1024 || got.NumPorts() != 1 {
		t.Fatalf("static reservation %v, want it untouched", got)
	}
}

func TestAcceptOperationsReservesAndUnreservesPorts(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096, Ports: ports(PortRange{31000, 31009})})
	addFramework(t, a, "d", "db")
	o := onlyOffer(t, a.Allocate(t0))
	results, err := a.AcceptOperations(t0, "d", []OfferID{o.ID}, []Operation{
		{Reserve: res(Resources{CPUs: 1, Ports: ports(PortRange{31000, 31003})})},
		{Unreserve: res(Resources{Ports: ports(PortRange{31001, 31002})})},
		{Reserve: res(Resources{Ports: ports(PortRange{31002, 31002})})},
		{Reserve: res(Resources{Ports: ports(PortRange{31000, 31000})})}, // already reserved
		{Launch: []Launch{{TaskID: "t", Resources: Resources{CPUs: 1, Ports: ports(PortRange{31003, 31003})}}}},
	}, -1)
	must(t, err)
	checkResults(t, results, OperationResult{Index: 0}, OperationResult{Index: 1}, OperationResult{Index: 2},
		OperationResult{Index: 3, Err: ErrOverCommit}, OperationResult{Index: 4, Task: "t"})
	want := Resources{CPUs: 1, Ports: ports(PortRange{31000, 31000}, PortRange{31002, 31003})}
	if got := a.AgentDynamicReserved("a1")["db"]; got.String() != want.String() {
		t.Fatalf("dynamic reservation %v, want %v", got, want)
	}
	// The task holds the reserved cpu and port 31003; 31000 and 31002 are free and dynamic.
	if got := a.agents["a1"].reserved["db"].freeDynamic(); got.String() != (Resources{Ports: ports(PortRange{31000, 31000}, PortRange{31002, 31002})}).String() {
		t.Fatalf("free dynamic reservation %v, want ports 31000 and 31002", got)
	}
}

func TestAcceptOperationsRejectsMalformedOperations(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "*")
	o := onlyOffer(t, a.Allocate(t0))
	results, err := a.AcceptOperations(t0, "f", []OfferID{o.ID}, []Operation{
		{},
		{Reserve: res(Resources{CPUs: 1}), Launch: []Launch{{TaskID: "t", Resources: Resources{CPUs: 1}}}},
		{Reserve: res(Resources{CPUs: 1})},   // role "*" reserves nothing
		{Unreserve: res(Resources{CPUs: 1})}, // nor unreserves
		{Reserve: res(Resources{CPUs: -1})},
		{Launch: []Launch{{TaskID: "t", Resources: Resources{CPUs: 1}}}},
	}, -1)
	must(t, err)
	checkResults(t, results,
		OperationResult{Index: 0, Err: ErrInvalidOperation},
		OperationResult{Index: 1, Err: ErrInvalidOperation},
		OperationResult{Index: 2, Err: ErrInvalidRole},
		OperationResult{Index: 3, Err: ErrInvalidRole},
		OperationResult{Index: 4, Err: ErrInvalidRole},
		OperationResult{Index: 5, Task: "t"},
	)
	if got := a.AgentAllocated("a1"); got.CPUs != 1 {
		t.Fatalf("allocated %v, want task t's cpus:1", got)
	}
}

func TestAcceptOfLaunchesIsAllOrNothingWhereAcceptOperationsIsPerTask(t *testing.T) {
	launches := []Launch{{TaskID: "ok", Resources: Resources{CPUs: 1}}, {TaskID: "big", Resources: Resources{CPUs: 5}}}
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "*")
	o := onlyOffer(t, a.Allocate(t0))
	var oe *OfferError
	if err := a.Accept(t0, "f", []OfferID{o.ID}, launches, 0); !errors.Is(err, ErrOverCommit) || !errors.As(err, &oe) || oe.Task != "big" {
		t.Fatalf("Accept = %v, want ErrOverCommit for task big", err)
	}
	if len(a.tasks) != 0 {
		t.Fatal("a rejected Accept launched a task")
	}
	o = onlyOffer(t, a.Allocate(t0)) // no filter after a rejected accept
	results, err := a.AcceptOperations(t0, "f", []OfferID{o.ID}, []Operation{{Launch: launches}}, 0)
	must(t, err)
	checkResults(t, results, OperationResult{Task: "ok"}, OperationResult{Task: "big", Err: ErrOverCommit})
}

func TestOfferDynamicIsTheReservedPartBeyondTheFreeStaticReservation(t *testing.T) {
	a := newTest(t)
	must(t, a.AddAgent(Agent{ID: "a1", Total: Resources{CPUs: 8, Mem: 8192, Ports: ports(PortRange{31000, 31009})},
		Reserved: map[string]Resources{"db": {CPUs: 2, Ports: ports(PortRange{31000, 31000})}}}))
	must(t, a.Reserve("a1", "db", Resources{CPUs: 3, Ports: ports(PortRange{31001, 31001})}))
	addFramework(t, a, "d", "db")
	dyn := func(o Offer, cpus float64, ps ...PortRange) {
		t.Helper()
		if want := (Resources{CPUs: cpus, Ports: ps}); o.Dynamic.String() != want.String() || !o.Reserved.Contains(o.Dynamic) {
			t.Fatalf("offer reserved %v, dynamic %v; want dynamic %v", o.Reserved, o.Dynamic, want)
		}
	}

	// The documented example: a task holding 1 of the 5 reserved cpus holds a static one,
	// so an offer of the free 4 holds the 3 dynamic ones; when the task ends, its cpu is
	// offered as static.
	must(t, a.AddTask("t", "d", "a1", Resources{CPUs: 1}))
	o := onlyOffer(t, a.Allocate(t0))
	if o.Reserved.CPUs != 4 {
		t.Fatalf("offer reserved %v, want cpus:4", o.Reserved)
	}
	dyn(o, 3, PortRange{31001, 31001})
	a.RemoveTask("t")
	dyn(onlyOffer(t, a.Allocate(t0)), 0)
	// The dynamic cpus are in an offer: they cannot be unreserved until it is gone.
	if err := a.Unreserve("a1", "db", Resources{CPUs: 1}); !errors.Is(err, ErrOverCommit) {
		t.Fatalf("unreserving offered dynamic cpus: err = %v, want ErrOverCommit", err)
	}
	must(t, a.Decline(t0, "d", []OfferID{o.ID}, -1))
	must(t, a.Unreserve("a1", "db", Resources{CPUs: 1}))

	// Quota cuts the reserved part of an offer static first: the next offer gets the rest,
	// all dynamic.
	for _, o := range a.Offers() {
		must(t, a.Decline(t0, "d", []OfferID{o.ID}, -1))
	}
	must(t, a.SetQuota("db", Resources{CPUs: 3, Mem: 1}))
	o1 := onlyOffer(t, a.Allocate(t0)) // 4 reserved cpus (2 static, 2 dynamic) capped to 3
	if o1.Reserved.CPUs != 3 {
		t.Fatalf("offer reserved %v, want cpus:3", o1.Reserved)
	}
	dyn(o1, 1, PortRange{31001, 31001})
	must(t, a.SetQuota("db", Resources{}))
	o2 := onlyOffer(t, a.Allocate(t0))
	if o2.Reserved.CPUs != 1 {
		t.Fatalf("second offer reserved %v, want the last cpu", o2.Reserved)
	}
	dyn(o2, 1)
	// Accepting both, a task takes the static cpus first: one dynamic cpu stays free to
	// unreserve in the same accept.
	results, err := a.AcceptOperations(t0, "d", []OfferID{o1.ID, o2.ID}, []Operation{
		{Launch: []Launch{{TaskID: "t2", Resources: Resources{CPUs: 3}}}},
		{Unreserve: res(Resources{CPUs: 1, Ports: ports(PortRange{31001, 31001})})},
		{Unreserve: res(Resources{CPUs: 1})},
	}, -1)
	must(t, err)
	checkResults(t, results, OperationResult{Task: "t2"}, OperationResult{Index: 1}, OperationResult{Index: 2, Err: ErrOverCommit})
}
