package placement

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/clusterd/clusterd/allocator"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// fenzoCluster is numHosts empty hosts of cores CPUs and 1,000 MiB of memory per CPU, as in
// Fenzo's TestLotsOfTasks.
func fenzoCluster(numHosts, cores int) []Host {
	hosts := make([]Host, numHosts)
	for i := range hosts {
		r := allocator.Resources{CPUs: float64(cores), Mem: float64(cores) * 1000}
		hosts[i] = Host{ID: fmt.Sprintf("host-%05d", i), Total: r, Free: r}
	}
	return hosts
}

// fenzoMix is Fenzo's task mix, enough to fill the cluster: by CPUs, 20% in 1-CPU tasks,
// 40% in half-host tasks and 40% in three-quarter-host tasks, the rest in 1-CPU tasks up to
// the cluster's total, each with 1,000 MiB per CPU; shuffled (with a fixed seed) and
// submitted in that order, one per millisecond.
func fenzoMix(numHosts, cores int) []Task {
	total := numHosts * cores
	var sizes []float64
	used := 0.0
	for range total / 5 { // 20% of the CPUs
		sizes = append(sizes, 1)
		used++
	}
	half, threeQ := float64(cores)/2, float64(cores)*0.75
	for range int(float64(total) * 0.4 / half) {
		sizes = append(sizes, half)
		used += half
	}
	for range int(float64(total) * 0.4 / threeQ) {
		sizes = append(sizes, threeQ)
		used += threeQ
	}
	for ; used+1 <= float64(total); used++ {
		sizes = append(sizes, 1)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(sizes), func(i, j int) { sizes[i], sizes[j] = sizes[j], sizes[i] })
	tasks := make([]Task, len(sizes))
	for i, s := range sizes {
		tasks[i] = Task{
			ID:           fmt.Sprintf("task-%06d", i),
			Group:        fmt.Sprintf("size-%g", s),
			Resources:    allocator.Resources{CPUs: s, Mem: s * 1000},
			PendingSince: t0.Add(time.Duration(i) * time.Millisecond),
		}
	}
	return tasks
}

// fill places tasks on hosts in batches, as Fenzo's test does, taking each batch's
// assignments out of the hosts' Free before the next batch. It returns the number of Place
// calls and of tasks placed.
func fill(cfg Config, hosts []Host, tasks []Task, batch int) (calls, placed int) {
	ix := make(map[string]int, len(hosts))
	for i, h := range hosts {
		ix[h.ID] = i
	}
	byID := make(map[string]*Task, len(tasks))
	for i := range tasks {
		byID[tasks[i].ID] = &tasks[i]
	}
	for start := 0; start < len(tasks); start += batch {
		r := Place(cfg, hosts, nil, tasks[start:min(start+batch, len(tasks))])
		calls++
		for _, a := range r.Assignments {
			h := &hosts[ix[a.Host]]
			h.Free = h.Free.Sub(byID[a.Task].Resources)
			placed++
		}
	}
	return calls, placed
}

// utilization is the share of the CPUs of the hosts running tasks that the tasks use.
func utilization(hosts []Host) float64 {
	var used, total float64
	for _, h := range hosts {
		if h.Free.CPUs < h.Total.CPUs-eps {
			used += h.Total.CPUs - h.Free.CPUs
			total += h.Total.CPUs
		}
	}
	if total == 0 {
		return 0
	}
	return used / total
}

// TestBinPackCPUFillsFenzosTaskMixTo97Percent places Fenzo's mix on 8-CPU hosts 200 tasks at
// a time until every task was tried, and holds CPU bin packing to Fenzo's figure: at least
// 97% of the CPUs of the hosts used are used, with a good-enough search and a full one.
func TestBinPackCPUFillsFenzosTaskMixTo97Percent(t *testing.T) {
	for _, good := range []float64{0.1, 0} {
		t.Run(fmt.Sprintf("good-enough-%g", good), func(t *testing.T) {
			hosts := fenzoCluster(1000, 8)
			tasks := fenzoMix(1000, 8)
			cfg := Config{Fitness: []Weighted{{BinPackCPU{}, 1}}, GoodEnough: good}
			_, placed := fill(cfg, hosts, tasks, 200)
			u := utilization(hosts)
			t.Logf("%d of %d tasks placed, CPU utilization %.2f%%", placed, len(tasks), 100*u)
			if u < 0.97 {
				t.Errorf("CPU utilization %.2f%%, want at least 97%%", 100*u)
			}
		})
	}
}
