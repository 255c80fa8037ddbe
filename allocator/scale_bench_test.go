package allocator

import (
	"fmt"
	"runtime"
	"testing"
)

// benchCluster builds agents agents (16 cpus, 64 GiB, a port range each) and frameworks
// frameworks spread over 10 roles.
func benchCluster(b *testing.B, agents, frameworks int) *Allocator {
	b.Helper()
	a := New(DefaultConfig())
	for i := range agents {
		addAgent(b, a, AgentID(fmt.Sprintf("agent-%05d", i)), Resources{CPUs: 16, Mem: 65536, Disk: 1e6, Ports: ports(PortRange{31000, 32000})})
	}
	for i := range frameworks {
		addFramework(b, a, FrameworkID(fmt.Sprintf("fw-%04d", i)), fmt.Sprintf("role-%d", i%10))
	}
	return a
}

// benchAllocateCycle times one Allocate over a cluster whose every agent is free: each
// round's offers are declined without a filter (untimed), so the next round finds all
// agents free again.
func benchAllocateCycle(b *testing.B, agents, frameworks int) {
	a := benchCluster(b, agents, frameworks)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		offers := a.Allocate(t0)
		b.StopTimer()
		if len(offers) != agents {
			b.Fatalf("got %d offers, want %d", len(offers), agents)
		}
		for _, o := range offers {
			if err := a.Decline(t0, o.Framework, []OfferID{o.ID}, -1); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
}

// BenchmarkAllocateCycle10kAgents1kFrameworks is one allocation cycle of 10,000 free agents
// among 1,000 frameworks in 10 roles (Mesos 1.8: about 1.1 s; goal 100 ms).
func BenchmarkAllocateCycle10kAgents1kFrameworks(b *testing.B) { benchAllocateCycle(b, 10_000, 1_000) }

// BenchmarkAllocateCycle50kAgents1kFrameworks is the same with 50,000 agents (goal 500 ms).
func BenchmarkAllocateCycle50kAgents1kFrameworks(b *testing.B) { benchAllocateCycle(b, 50_000, 1_000) }

// BenchmarkMemoryPerAgent reports the heap the allocator keeps per agent: the live heap
// after adding 50,000 agents (each with a hostname, a port range and one attribute) minus
// the heap before, divided by 50,000.
func BenchmarkMemoryPerAgent(b *testing.B) {
	const n = 50_000
	ids := make([]AgentID, n)
	for i := range ids {
		ids[i] = AgentID(fmt.Sprintf("agent-%05d", i))
	}
	var perAgent float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		a := New(DefaultConfig())
		for _, id := range ids {
			addAgent(b, a, id, Resources{CPUs: 16, Mem: 65536, Disk: 1e6, Ports: ports(PortRange{31000, 32000})})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perAgent = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(a)
	}
	b.ReportMetric(perAgent, "bytes/agent")
}
