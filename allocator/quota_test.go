package allocator

import (
	"errors"
	"testing"
	"time"
)

func TestQuotaCapsOffersToTheRoleLimit(t *testing.T) {
	a := newTest(t)
	for _, id := range []AgentID{"a1", "a2", "a3"} {
		addAgent(t, a, id, Resources{CPUs: 4, Mem: 4096, Ports: ports(PortRange{31000, 31009})})
	}
	must(t, a.SetQuota("web", Resources{CPUs: 6, Mem: 6144}))
	addFramework(t, a, "w", "web")
	offers := a.Allocate(t0)
	// a1 whole (4 cpus), then 2 cpus and 2 GiB of a2 with all its ports; a3 stays pending.
	if len(offers) != 2 {
		t.Fatalf("got %d offers %v, want 2", len(offers), offers)
	}
	if got := offers[1].Resources; got.CPUs != 2 || got.Mem != 2048 || got.NumPorts() != 10 {
		t.Fatalf("second offer %v, want cpus:2 mem:2048 with all of a2's ports", got)
	}
	if got := a.RoleConsumed("web"); got.CPUs != 6 {
		t.Fatalf("web consumes %v, want cpus:6", got)
	}
	// Another role takes what web may not have.
	addFramework(t, a, "b", "batch")
	offers = a.Allocate(t0)
	if len(offers) != 2 || offers[0].Agent != "a2" || offers[0].Framework != "b" || offers[0].Resources.CPUs != 2 || offers[1].Agent != "a3" {
		t.Fatalf("offers %v, want a2's 2 remaining cpus and a3 to b", offers)
	}
	// When web gives back an offer it may be offered up to its limit again.
	must(t, a.Decline(t0, "w", []OfferID{"O-3-1"}, -1))
	o := onlyOffer(t, a.Allocate(t0))
	if o.Framework != "w" || o.Agent != "a1" || o.Resources.CPUs != 4 {
		t.Fatalf("offer %+v, want a1's 4 cpus to w", o)
	}
	if q, ok := a.Quota("web"); !ok || q.CPUs != 6 {
		t.Fatalf("Quota(web) = %v, %v", q, ok)
	}
	if _, ok := a.Quota("batch"); ok {
		t.Fatal("batch has a quota")
	}
}

func TestQuotaCountsTasksOfTheRoleAndRejectsAcceptsBeyondIt(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 8, Mem: 8192})
	addFramework(t, a, "w", "web")
	must(t, a.AddTask("t1", "w", "a1", Resources{CPUs: 3, Mem: 1024}))
	must(t, a.SetQuota("web", Resources{CPUs: 4, Mem: 100_000}))
	o := onlyOffer(t, a.Allocate(t0))
	if o.Resources.CPUs != 1 {
		t.Fatalf("offer %v, want cpus:1 (quota 4, tasks hold 3)", o.Resources)
	}
	// The quota is lowered while the offer is out: the accept no longer fits. (A role at its
	// limit of one kind is still offered the kinds it has no limit on: limit mem too.)
	must(t, a.SetQuota("web", Resources{CPUs: 3, Mem: 1024}))
	err := a.Accept(t0, "w", []OfferID{o.ID}, []Launch{{TaskID: "t2", Resources: Resources{CPUs: 1, Mem: 64}}}, 0)
	if !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("accept beyond the lowered quota: err = %v, want ErrQuotaExceeded", err)
	}
	if got := a.AgentAllocated("a1"); got.CPUs != 3 {
		t.Fatalf("allocated %v after the rejected accept, want cpus:3", got)
	}
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatalf("role at its cpu limit was offered %v", got)
	}
}

func TestAddTaskRecordsCommittedTasksEvenOverQuota(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 8, Mem: 8192})
	addFramework(t, a, "w", "web")
	must(t, a.SetQuota("web", Resources{CPUs: 2, Mem: 64}))
	must(t, a.AddTask("t1", "w", "a1", Resources{CPUs: 3, Mem: 64}))
	if got := a.RoleConsumed("web"); got.CPUs != 3 {
		t.Fatalf("web consumes %v, want cpus:3", got)
	}
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatalf("role over its quota was offered %v", got)
	}
	a.RemoveTask("t1")
	if o := onlyOffer(t, a.Allocate(t0)); o.Resources.CPUs != 2 {
		t.Fatalf("offer %v, want cpus:2", o.Resources)
	}
}

func TestSetQuotaValidates(t *testing.T) {
	a := newTest(t)
	for _, c := range []struct {
		role  string
		limit Resources
		want  error
	}{
		{"*", Resources{CPUs: 1}, ErrInvalidRole},
		{"", Resources{CPUs: 1}, ErrInvalidRole},
		{"web", Resources{CPUs: -1}, ErrInvalidResources},
		{"web", Resources{CPUs: 1, Ports: ports(PortRange{1, 2})}, ErrInvalidResources},
	} {
		if err := a.SetQuota(c.role, c.limit); !errors.Is(err, c.want) {
			t.Errorf("SetQuota(%q, %v) = %v, want %v", c.role, c.limit, err, c.want)
		}
	}
	must(t, a.SetQuota("web", Resources{CPUs: 1}))
	must(t, a.SetQuota("web", Resources{}))
	if _, ok := a.Quota("web"); ok {
		t.Fatal("an all-zero limit did not remove the quota")
	}
}

func TestPauseStopsOffersUntilResume(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "*")
	a.Pause()
	if !a.Paused() {
		t.Fatal("Paused() = false after Pause")
	}
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatalf("paused allocator offered %v", got)
	}
	addAgent(t, a, "a2", Resources{CPUs: 4, Mem: 4096})
	a.Resume()
	if a.Paused() {
		t.Fatal("Paused() = true after Resume")
	}
	if got := a.Allocate(t0.Add(time.Second)); len(got) != 2 {
		t.Fatalf("after Resume got %d offers, want both agents", len(got))
	}
}
