package placement

import (
	"math"

	"github.com/clusterd/clusterd/allocator"
)

// Fitness scores how well a host suits a task, as a Fenzo fitness calculator does. Place
// calls Score for every host that passed the task's filters (resources, hard constraints,
// exclusivity) and combines the scores of Config.Fitness by their weights.
//
// Score must return a number from 0 (worst) to 1 (best); Place clamps others into that
// range and takes NaN as 0. It must be deterministic, must not modify t or h, and must not
// keep them: Place reuses h for the next host.
type Fitness interface {
	// Name is a short name for the calculator, such as "binpack-cpu".
	Name() string
	Score(t *Task, h *HostState) float64
}

// Weighted is a fitness calculator with its weight in Config.Fitness.
type Weighted struct {
	Fitness Fitness
	Weight  float64 // > 0; calculators with another weight are left out
}

// HostState is a host as a Fitness sees it, in the middle of a Place call: what is free has
// this call's earlier assignments taken out, and the task counts include them.
type HostState struct {
	ID         string
	Hostname   string
	Attributes map[string]string // the Host's map itself: read it, do not modify it
	Total      allocator.Resources
	Free       allocator.Resources // ports as ranges
	// Tasks is how many tasks run or were placed on the host, of every group; GroupTasks how
	// many of those are of the scored task's group. Place counts them only when a
	// calculator may read them (a Fitness that is not one of this package's bin packers, or
	// Spread) or a task is exclusive; otherwise both are 0.
	Tasks      int
	GroupTasks int
}

// The built-in calculators. The bin packers score a host by how full the resource would be
// with the task on it, (total - free + wanted) / total, so the fullest host that still
// fits scores highest and tasks are packed onto as few hosts as possible (Fenzo's bin
// packers); a host with none of the resource in total scores 0.
type (
	// BinPackCPU packs by CPUs (Fenzo's cpuBinPacker).
	BinPackCPU struct{}
	// BinPackMem packs by memory (Fenzo's memoryBinPacker).
	BinPackMem struct{}
	// BinPackPorts packs by ports: the share of the host's ports in use with the task's
	// (this package's network packer: Fenzo's networkBinPacker packs bandwidth).
	BinPackPorts struct{}
	// BinPackCPUMem is the mean of BinPackCPU and BinPackMem (Fenzo's cpuMemBinPacker), the
	// default.
	BinPackCPUMem struct{}
	// Spread prefers hosts with fewer tasks of the task's group: 1/(1+n) for a host
	// already running n of them.
	Spread struct{}
)

// Name is "binpack-cpu".
func (BinPackCPU) Name() string { return "binpack-cpu" }

// Name is "binpack-mem".
func (BinPackMem) Name() string { return "binpack-mem" }

// Name is "binpack-ports".
func (BinPackPorts) Name() string { return "binpack-ports" }

// Name is "binpack-cpu-mem".
func (BinPackCPUMem) Name() string { return "binpack-cpu-mem" }

// Name is "spread".
func (Spread) Name() string { return "spread" }

// Score is the host's CPU use with the task on it, as a share of its total CPUs.
func (BinPackCPU) Score(t *Task, h *HostState) float64 {
	return packed(h.Total.CPUs, h.Free.CPUs, t.Resources.CPUs)
}

// Score is the host's memory use with the task on it, as a share of its total memory.
func (BinPackMem) Score(t *Task, h *HostState) float64 {
	return packed(h.Total.Mem, h.Free.Mem, t.Resources.Mem)
}

// Score is the share of the host's ports in use with the task's taken too.
func (BinPackPorts) Score(t *Task, h *HostState) float64 {
	return packed(float64(h.Total.NumPorts()), float64(h.Free.NumPorts()), float64(t.Ports))
}

// Score is the mean of the CPU and memory bin-packing scores.
func (BinPackCPUMem) Score(t *Task, h *HostState) float64 {
	return (BinPackCPU{}.Score(t, h) + BinPackMem{}.Score(t, h)) / 2
}

// Score is 1/(1+n) for a host running n tasks of t's group.
func (Spread) Score(_ *Task, h *HostState) float64 { return 1 / (1 + float64(h.GroupTasks)) }

// packed is how full a resource of the given total would be with want more taken from free.
func packed(total, free, want float64) float64 {
	if total <= 0 {
		return 0
	}
	return clamp((total - free + want) / total)
}

func clamp(s float64) float64 {
	switch {
	case s > 1:
		return 1
	case s >= 0:
		return s
	}
	return 0 // negative or NaN
}

// resource names the amount a search order sorts hosts by.
type resource int

const (
	byCPUs resource = iota
	byMem
	byPorts
)

// builtin is what Place knows of its own calculators: a score read straight from its state
// (the same number Score gives), the host order that lets a search stop early, and an
// upper bound of the score of every host whose free amount of the ordered resource is at
// least free (1 when it knows none).
type builtin interface {
	Fitness
	fast(p *placer, c *class, h int32) float64
	order() (by resource, desc bool)
	bound(by resource, maxTotal, free float64, c *class) float64
}

func (BinPackCPU) fast(p *placer, c *class, h int32) float64 {
	return packed(p.total[h].cpus, p.free[h].cpus, c.need.cpus)
}
func (BinPackMem) fast(p *placer, c *class, h int32) float64 {
	return packed(p.total[h].mem, p.free[h].mem, c.need.mem)
}
func (BinPackPorts) fast(p *placer, c *class, h int32) float64 {
	return packed(float64(p.total[h].ports), float64(p.free[h].ports), float64(c.need.ports))
}
func (BinPackCPUMem) fast(p *placer, c *class, h int32) float64 {
	return (packed(p.total[h].cpus, p.free[h].cpus, c.need.cpus) + packed(p.total[h].mem, p.free[h].mem, c.need.mem)) / 2
}
func (Spread) fast(p *placer, c *class, h int32) float64 {
	return 1 / (1 + float64(p.groups[c.group].onHost[h]))
}

func (BinPackCPU) order() (resource, bool)    { return byCPUs, false }
func (BinPackMem) order() (resource, bool)    { return byMem, false }
func (BinPackPorts) order() (resource, bool)  { return byPorts, false }
func (BinPackCPUMem) order() (resource, bool) { return byCPUs, false }
func (Spread) order() (resource, bool)        { return byCPUs, true }

// packBound bounds (total - f + want) / total over hosts with f ≥ free and total ≤ maxTotal:
// it is 1 - (f - want)/total, largest for the smallest f and the largest total.
func packBound(maxTotal, free, want float64) float64 {
	if maxTotal <= 0 {
		return 0
	}
	return clamp(1 - (free-want)/maxTotal)
}

func (BinPackCPU) bound(by resource, maxTotal, free float64, c *class) float64 {
	if by != byCPUs {
		return 1
	}
	return packBound(maxTotal, free, c.need.cpus)
}
func (BinPackMem) bound(by resource, maxTotal, free float64, c *class) float64 {
	if by != byMem {
		return 1
	}
	return packBound(maxTotal, free, c.need.mem)
}
func (BinPackPorts) bound(by resource, maxTotal, free float64, c *class) float64 {
	if by != byPorts {
		return 1
	}
	return packBound(maxTotal, free, float64(c.need.ports))
}
func (BinPackCPUMem) bound(by resource, maxTotal, free float64, c *class) float64 {
	b := BinPackCPU{}.bound(by, maxTotal, free, c)
	if by == byMem {
		b = BinPackMem{}.bound(by, maxTotal, free, c)
	}
	return (b + 1) / 2
}
func (Spread) bound(resource, float64, float64, *class) float64 { return 1 }

// term is one weighted calculator of the resolved configuration.
type term struct {
	f      Fitness
	fast   builtin // f itself when it is built in
	weight float64
}

// weightOK reports whether w is a usable weight: positive and finite.
func weightOK(w float64) bool { return w > 0 && !math.IsInf(w, 0) }
