package allocator

import (
	"slices"
	"testing"
	"time"
)

func TestDeactivatedAgentIsNotOfferedButKeepsItsTasks(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addAgent(t, a, "a2", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "db")
	must(t, a.SetQuota("db", Resources{CPUs: 100}))
	must(t, a.AddTask("t1", "f", "a1", Resources{CPUs: 1, Mem: 1024}))
	must(t, a.AddTask("t2", "f", "a1", Resources{CPUs: 1, Mem: 1024}))
	offers := a.Allocate(t0)
	if len(offers) != 2 {
		t.Fatalf("got %d offers, want both agents", len(offers))
	}
	rescinded := a.DeactivateAgent("a1")
	if len(rescinded) != 1 || rescinded[0].ID != offers[0].ID {
		t.Fatalf("DeactivateAgent rescinded %v, want a1's offer %s", rescinded, offers[0].ID)
	}
	if got := a.DeactivateAgent("a1"); got != nil {
		t.Fatalf("deactivating again rescinded %v", got)
	}
	if a.AgentActive("a1") || !a.AgentActive("a2") || a.AgentActive("nope") || a.DeactivateAgent("nope") != nil {
		t.Fatal("AgentActive wrong, or an unknown agent was deactivated")
	}
	// Its tasks still count toward the share and the quota.
	if got := a.RoleConsumed("db"); got.CPUs != 6 { // 2 of tasks, 4 of a2's offer
		t.Fatalf("db consumes %v, want cpus:6", got)
	}
	if s := a.Shares(); s[0].Allocated.CPUs != 2 {
		t.Fatalf("shares %+v, want f with its 2 cpus allocated", s)
	}
	// Nothing frees it for offers: a task ending, a reservation, an update.
	a.RemoveTask("t1")
	must(t, a.Reserve("a1", "db", Resources{CPUs: 1}))
	must(t, a.Unreserve("a1", "db", Resources{CPUs: 0.5}))
	if got := a.UpdateAgent(Agent{ID: "a1", Total: Resources{CPUs: 8, Mem: 4096}}); got != nil {
		t.Fatalf("updating a deactivated agent rescinded %v", got)
	}
	if a.AgentActive("a1") {
		t.Fatal("UpdateAgent activated a1")
	}
	for i := range 3 {
		if got := a.Allocate(t0.Add(time.Duration(i) * time.Minute)); len(got) != 0 {
			t.Fatalf("deactivated agent offered: %v", got)
		}
		if _, ok := a.dirty["a1"]; ok {
			t.Fatal("deactivated agent is pending: every Allocate looks at it")
		}
	}
	// Once activated, all that is free on it is offered, its reservation included.
	a.ActivateAgent("a1")
	o := onlyOffer(t, a.Allocate(t0))
	if o.Agent != "a1" || o.Resources.CPUs != 7 || o.Reserved.CPUs != 0.5 || o.Dynamic.CPUs != 0.5 {
		t.Fatalf("offer after activation %+v, want a1's free cpus:7, 0.5 of them dynamically reserved", o)
	}
	a.ActivateAgent("a1") // idempotent
	a.ActivateAgent("nope")
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatalf("offered twice: %v", got)
	}
}

func TestRolesAndRoleQueries(t *testing.T) {
	a := newTest(t)
	must(t, a.AddAgent(Agent{ID: "a1", Total: Resources{CPUs: 8, Mem: 8192, Ports: ports(PortRange{31000, 31009})},
		Reserved: map[string]Resources{"static": {CPUs: 1, Mem: 512}}}))
	addAgent(t, a, "a2", Resources{CPUs: 8, Mem: 8192})
	must(t, a.Reserve("a1", "dynamic", Resources{CPUs: 2, Ports: ports(PortRange{31000, 31000})}))
	must(t, a.Reserve("a2", "dynamic", Resources{CPUs: 0.5, Mem: 100}))
	must(t, a.SetRoleWeight("weighted", 3))
	must(t, a.SetQuota("limited", Resources{CPUs: 4}))
	addFramework(t, a, "f", "web")
	addFramework(t, a, "g", "gone")
	must(t, a.AddTask("t", "g", "a2", Resources{CPUs: 1, Mem: 256}))
	a.RemoveFramework("g") // its task still holds resources for role gone

	want := []string{"dynamic", "gone", "limited", "static", "web", "weighted"}
	if got := a.Roles(); !slices.Equal(got, want) {
		t.Fatalf("Roles() = %v, want %v", got, want)
	}
	if a.Weight("weighted") != 3 || a.Weight("web") != 1 || a.Weight("") != 1 {
		t.Fatalf("weights %v %v %v, want 3 1 1", a.Weight("weighted"), a.Weight("web"), a.Weight(""))
	}
	must(t, a.SetRoleWeight("", 2))
	if a.Weight("*") != 2 || a.Weight("") != 2 || !slices.Contains(a.Roles(), "*") {
		t.Fatalf("the default role's weight %v, roles %v", a.Weight("*"), a.Roles())
	}
	if got := a.RoleReserved("dynamic"); got.CPUs != 2.5 || got.Mem != 100 || got.Ports != nil {
		t.Fatalf("RoleReserved(dynamic) = %v, want cpus:2.5 mem:100 and no ports", got)
	}
	if got := a.RoleReserved("static"); got.CPUs != 1 || got.Mem != 512 {
		t.Fatalf("RoleReserved(static) = %v", got)
	}
	if got := a.AgentStaticReserved("a1"); len(got) != 1 || got["static"].CPUs != 1 {
		t.Fatalf("AgentStaticReserved(a1) = %v", got)
	}
	if a.AgentStaticReserved("a2") != nil || a.AgentDynamicReserved("nope") != nil {
		t.Fatal("static reservations where there are none")
	}

	offers := a.Allocate(t0) // both agents' unreserved resources to f
	if len(offers) != 2 {
		t.Fatalf("got %d offers, want 2", len(offers))
	}
	if got := a.FrameworkOffers("f"); !slices.Equal(offerIDs(got), offerIDs(offers)) {
		t.Fatalf("FrameworkOffers(f) = %v, want %v", offerIDs(got), offerIDs(offers))
	}
	if a.FrameworkOffers("g") != nil || a.FrameworkOffers("nope") != nil {
		t.Fatal("offers of a framework that holds none")
	}
	must(t, a.Accept(t0, "f", []OfferID{offers[0].ID}, []Launch{{TaskID: "w", Resources: Resources{CPUs: 2, Mem: 1024}}}, -1))
	if got := a.RoleAllocated("web"); got.CPUs != 2 || got.Mem != 1024 {
		t.Fatalf("RoleAllocated(web) = %v, want cpus:2 mem:1024", got)
	}
	if got, want := a.RoleOffered("web"), offers[1].Resources; got.CPUs != want.CPUs || got.Mem != want.Mem {
		t.Fatalf("RoleOffered(web) = %v, want %v", got, want)
	}
	if got := a.RoleAllocated("gone"); got.CPUs != 1 || !a.RoleOffered("gone").IsZero() {
		t.Fatalf("RoleAllocated(gone) = %v, RoleOffered %v", got, a.RoleOffered("gone"))
	}
	if got := a.RoleConsumed("web"); got.CPUs != a.RoleAllocated("web").CPUs+a.RoleOffered("web").CPUs {
		t.Fatalf("RoleConsumed(web) = %v, not allocated plus offered", got)
	}
	a.RemoveTask("t")
	if slices.Contains(a.Roles(), "gone") {
		t.Fatalf("Roles() = %v still lists gone, which holds nothing", a.Roles())
	}
}

func TestOfferAndFrameworkRoleLookups(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "")
	addFramework(t, a, "g", "web")
	if r, ok := a.FrameworkRole("f"); !ok || r != DefaultRole {
		t.Fatalf("FrameworkRole(f) = %q, %v; want *", r, ok)
	}
	if r, ok := a.FrameworkRole("g"); !ok || r != "web" {
		t.Fatalf("FrameworkRole(g) = %q, %v; want web", r, ok)
	}
	if _, ok := a.FrameworkRole("nope"); ok {
		t.Fatal("an unknown framework has a role")
	}
	o := onlyOffer(t, a.Allocate(t0))
	if got, ok := a.Offer(o.ID); !ok || got.ID != o.ID || got.Resources.String() != o.Resources.String() {
		t.Fatalf("Offer(%s) = %+v, %v", o.ID, got, ok)
	}
	must(t, a.Decline(t0, o.Framework, []OfferID{o.ID}, 0))
	if _, ok := a.Offer(o.ID); ok {
		t.Fatal("a declined offer is still found")
	}
}
