package allocator

import (
	"testing"
	"time"
)

func TestDeclinedResourcesGoToAnotherFrameworkAtOnce(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "*")
	o := onlyOffer(t, a.Allocate(t0))
	addFramework(t, a, "g", "other")
	must(t, a.Decline(t0, "f", []OfferID{o.ID}, time.Hour))
	o = onlyOffer(t, a.Allocate(t0))
	if o.Framework != "g" || o.Resources.CPUs != 4 {
		t.Fatalf("declined resources offered as %+v, want all of a1 to g at once", o)
	}
}

func TestRefuseFilterCoversOnlyTheDeclinedResources(t *testing.T) {
	a := newTest(t)
	addAgent(t, a, "a1", Resources{CPUs: 4, Mem: 4096})
	addFramework(t, a, "f", "*")
	must(t, a.AddTask("t1", "f", "a1", Resources{CPUs: 2, Mem: 2048}))
	o := onlyOffer(t, a.Allocate(t0))
	must(t, a.Decline(t0, "f", []OfferID{o.ID}, time.Hour)) // cpus:2 mem:2048
	if got := a.Allocate(t0.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("declined resources offered again to f within the filter: %v", got)
	}
	// More frees up on the agent: f may want the bigger offer, as in Mesos.
	a.RemoveTask("t1")
	o = onlyOffer(t, a.Allocate(t0.Add(time.Minute)))
	if o.Framework != "f" || o.Resources.CPUs != 4 {
		t.Fatalf("offer %+v, want all 4 cpus to f", o)
	}
	// The filter is per framework and per agent: f on another agent is not filtered.
	addAgent(t, a, "a2", Resources{CPUs: 1, Mem: 1024})
	if o := onlyOffer(t, a.Allocate(t0.Add(time.Minute))); o.Agent != "a2" || o.Framework != "f" {
		t.Fatalf("offer %+v, want a2 to f", o)
	}
}
