package placement

import (
	"fmt"
	"testing"

	"github.com/clusterd/clusterd/allocator"
)

// BenchmarkPlace200TasksOn10kHosts is Fenzo's TestLotsOfTasks: 10,000 8-CPU hosts filled
// with Fenzo's task mix (see fenzoMix) by Place calls of 200 tasks each, with CPU bin
// packing. One op fills the cluster (about 147 calls); ms/place is the mean time of one
// call of 200 tasks on the 10,000 hosts, and util-% the CPU utilization of the hosts used
// at the end. Fenzo's figures: 56 ms a call at good-enough 0.1, 246 ms with a full search,
// both about 97%.
func BenchmarkPlace200TasksOn10kHosts(b *testing.B) {
	fresh := fenzoCluster(10000, 8)
	tasks := fenzoMix(10000, 8)
	for _, bc := range []struct {
		name string
		good float64
	}{{"good-enough-0.1", 0.1}, {"full-search", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := Config{Fitness: []Weighted{{BinPackCPU{}, 1}}, GoodEnough: bc.good}
			hosts := make([]Host, len(fresh))
			calls, util := 0, 0.0
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				copy(hosts, fresh)
				b.StartTimer()
				n, _ := fill(cfg, hosts, tasks, 200)
				calls += n
				b.StopTimer()
				util = utilization(hosts)
				b.StartTimer()
			}
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(calls), "ms/place")
			b.ReportMetric(100*util, "util-%")
		})
	}
}

// BenchmarkPlace100kTasksOn10kHosts is one Place call of 100 groups of 1,000 tasks, each
// task with ["hostname","UNIQUE"] and ["zone","GROUP_BY"], on 10,000 hosts of 8 CPUs and
// 32 GiB in 10 zones, with CPU bin packing and a full search. In "fits" every task fits
// (half a CPU each); in "overcommitted" tasks want 1 CPU, so 20,000 of them stay unplaced
// and are explained.
func BenchmarkPlace100kTasksOn10kHosts(b *testing.B) {
	hosts := make([]Host, 10000)
	for i := range hosts {
		r := allocator.Resources{CPUs: 8, Mem: 32768, Ports: []allocator.PortRange{{Begin: 31000, End: 32000}}}
		hosts[i] = Host{ID: fmt.Sprintf("host-%05d", i), Attributes: map[string]string{"zone": fmt.Sprintf("zone-%d", i%10)}, Total: r, Free: r}
	}
	for _, bc := range []struct {
		name string
		cpus float64
	}{{"fits", 0.5}, {"overcommitted", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			tasks := make([]Task, 0, 100000)
			for g := range 100 {
				for i := range 1000 {
					tasks = append(tasks, Task{
						ID: fmt.Sprintf("app-%02d.%04d", g, i), Group: fmt.Sprintf("app-%02d", g),
						Resources:    allocator.Resources{CPUs: bc.cpus, Mem: 1024},
						Ports:        1,
						Constraints:  []Constraint{{Field: "hostname", Operator: Unique}, {Field: "zone", Operator: GroupBy}},
						PendingSince: t0,
					})
				}
			}
			cfg := Config{Fitness: []Weighted{{BinPackCPU{}, 1}}}
			var r Result
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				r = Place(cfg, hosts, nil, tasks)
			}
			b.ReportMetric(float64(len(r.Assignments)), "placed")
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/place")
		})
	}
}
