package allocator

import (
	"fmt"
	"testing"
)

// BenchmarkAllocate1000Agents is one round on a 1,000-agent cluster with 10 frameworks in 2
// roles: Allocate offers every agent, each offer is accepted with one small task (the rest
// returns without a filter) and the tasks end, freeing the agents for the next round.
func BenchmarkAllocate1000Agents(b *testing.B) {
	a := New(DefaultConfig())
	for i := range 1000 {
		addAgent(b, a, AgentID(fmt.Sprintf("agent-%04d", i)), Resources{CPUs: 16, Mem: 65536, Disk: 1e6, Ports: ports(PortRange{31000, 32000})})
	}
	for i := range 10 {
		addFramework(b, a, FrameworkID(fmt.Sprintf("fw-%02d", i)), []string{"web", "batch"}[i%2])
	}
	taskIDs := make([]string, 1000)
	for i := range taskIDs {
		taskIDs[i] = fmt.Sprintf("task-%04d", i)
	}
	launch := []Launch{{Resources: Resources{CPUs: 0.5, Mem: 512, Ports: ports(PortRange{31000, 31000})}}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		offers := a.Allocate(t0)
		if len(offers) != 1000 {
			b.Fatalf("got %d offers, want 1000", len(offers))
		}
		for i, o := range offers {
			launch[0].TaskID = taskIDs[i]
			if err := a.Accept(t0, o.Framework, []OfferID{o.ID}, launch, -1); err != nil {
				b.Fatal(err)
			}
		}
		for _, id := range taskIDs {
			a.RemoveTask(id)
		}
	}
}

// BenchmarkAcceptRemoveCycle is the per-task hot path of 1,000 short tasks on a one-agent
// node: accept one small task on the offer, the task ends (RemoveTask), Allocate re-offers.
func BenchmarkAcceptRemoveCycle(b *testing.B) {
	a := New(DefaultConfig())
	addAgent(b, a, "agent", Resources{CPUs: 8, Mem: 16384, Disk: 1e5, Ports: ports(PortRange{31000, 32000})})
	addFramework(b, a, "batch", "*")
	offer := onlyOffer(b, a.Allocate(t0))
	launch := []Launch{{TaskID: "task", Resources: Resources{CPUs: 0.1, Mem: 64, Ports: ports(PortRange{31005, 31005})}}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := a.Accept(t0, "batch", []OfferID{offer.ID}, launch, -1); err != nil {
			b.Fatal(err)
		}
		a.RemoveTask("task")
		offers := a.Allocate(t0)
		if len(offers) != 1 {
			b.Fatalf("got %d offers, want 1", len(offers))
		}
		offer = offers[0]
	}
}
