package jobs

import (
	"fmt"
	"testing"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/raftfsm"
)

// BenchmarkDecide1000ServicesOn1000Nodes is one leader step of the built-in
// framework in a busy cluster: 1,000 services of 10 instances, 9 of each
// running, so 1,000 instances to place, with UNIQUE hostname and GROUP_BY
// zone, on 1,000 nodes in 3 zones each offering what it has free.
func BenchmarkDecide1000ServicesOn1000Nodes(b *testing.B) {
	var hosts []Host
	var offers []allocator.Offer
	for i := range 1000 {
		id := fmt.Sprintf("node-%04d", i)
		free := allocator.Resources{CPUs: 16, Mem: 65536, Disk: 100000}
		hosts = append(hosts, Host{ID: id, Name: id, Attributes: map[string]string{"zone": fmt.Sprintf("z%d", i%3)},
			Total: allocator.Resources{CPUs: 32, Mem: 131072, Disk: 200000}, Free: free})
		offers = append(offers, allocator.Offer{ID: allocator.OfferID("o-" + id), Framework: FrameworkID + "@" + DefaultRole, Role: DefaultRole,
			Agent: allocator.AgentID(id), Hostname: id, Resources: free, CreatedAt: t0})
	}
	var js []*raftfsm.Job
	tasks := map[string][]*raftfsm.Task{}
	for j := range 1000 {
		job := service(fmt.Sprintf("svc-%04d", j), 10, 0.25, 256)
		job.Spec.Constraints = []raftfsm.Constraint{{Field: "hostname", Operator: "UNIQUE"}, {Field: "zone", Operator: "GROUP_BY"}}
		js = append(js, job)
		for i := range 9 {
			tk := task(job, i, 0, 1, raftfsm.TaskRunning)
			tk.Node = hosts[(j*9+i)%len(hosts)].ID
			tasks[job.Spec.ID] = append(tasks[job.Spec.ID], tk)
		}
	}
	ids := &ids{}
	b.ReportAllocs()
	b.ResetTimer()
	placed := 0
	for range b.N {
		p := Decide(Input{Now: t0, Jobs: js, Tasks: tasks, Offers: offers, Hosts: hosts, NewTaskID: ids.New})
		placed = len(launched(p))
	}
	b.ReportMetric(float64(placed), "placed")
}
