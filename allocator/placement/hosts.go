package placement

import (
	"math"
	"slices"
	"strings"

	"github.com/clusterd/clusterd/allocator"
)

// eps absorbs float drift in CPU, memory and disk arithmetic, as the allocator does.
const eps = 1e-9

// amount is a host's or a task's resources in the form the search reads: scalars and a
// number of ports.
type amount struct {
	cpus, mem, disk float64
	gpus, ports     int32
}

// fits reports whether n fits in a.
func (a *amount) fits(n *amount) bool {
	return a.cpus+eps >= n.cpus && a.mem+eps >= n.mem && a.disk+eps >= n.disk && a.gpus >= n.gpus && a.ports >= n.ports
}

func (a *amount) of(by resource) float64 {
	switch by {
	case byMem:
		return a.mem
	case byPorts:
		return float64(a.ports)
	}
	return a.cpus
}

// addHosts keeps the first host of each ID, sorted by ID, with its effective free and
// total amounts.
func (p *placer) addHosts(hosts []Host) {
	p.input = hosts
	p.hostAt = make([]int32, 0, len(hosts))
	sorted := true
	for i := range hosts {
		if i > 0 && hosts[i-1].ID >= hosts[i].ID {
			sorted = false
			break
		}
	}
	if sorted {
		for i := range hosts {
			p.hostAt = append(p.hostAt, int32(i))
		}
	} else {
		for i := range hosts {
			p.hostAt = append(p.hostAt, int32(i))
		}
		slices.SortStableFunc(p.hostAt, func(a, b int32) int { return strings.Compare(hosts[a].ID, hosts[b].ID) })
		p.hostAt = slices.CompactFunc(p.hostAt, func(a, b int32) bool { return hosts[a].ID == hosts[b].ID })
	}
	n := len(p.hostAt)
	p.free = make([]amount, n)
	p.total = make([]amount, n)
	for i, at := range p.hostAt {
		h := &hosts[at]
		f := &p.free[i]
		*f = toAmount(&h.Free)
		if len(h.Free.Ports) > 0 {
			ports := normalized(h.Free.Ports)
			if p.ports == nil {
				p.ports = make([][]allocator.PortRange, n)
			}
			p.ports[i] = ports
			f.ports = int32(min(countPorts(ports), math.MaxInt32))
		}
		t := toAmount(&h.Total)
		if len(h.Total.Ports) > 0 {
			t.ports = int32(min(countPorts(normalized(h.Total.Ports)), math.MaxInt32))
		}
		p.total[i] = amount{max(t.cpus, f.cpus), max(t.mem, f.mem), max(t.disk, f.disk), max(t.gpus, f.gpus), max(t.ports, f.ports)}
	}
}

// host is host h as given.
func (p *placer) host(h int32) *Host { return &p.input[p.hostAt[h]] }

// freePorts is host h's free port ranges now.
func (p *placer) freePorts(h int32) []allocator.PortRange {
	if p.ports == nil {
		return nil
	}
	return p.ports[h]
}

// normalized is ps sorted and merged (ps itself when it already is).
func normalized(ps []allocator.PortRange) []allocator.PortRange {
	for i, r := range ps {
		if r.Begin > r.End || i > 0 && int(r.Begin) <= int(ps[i-1].End)+1 {
			return allocator.Resources{Ports: ps}.Add(allocator.Resources{}).Ports
		}
	}
	return ps
}

func countPorts(ps []allocator.PortRange) int { return allocator.Resources{Ports: ps}.NumPorts() }

// toAmount is r's scalars, a negative or NaN one as 0 and +Inf as the largest float (ports
// are counted by the caller).
func toAmount(r *allocator.Resources) amount {
	return amount{cpus: finite(r.CPUs), mem: finite(r.Mem), disk: finite(r.Disk), gpus: int32(max(min(r.GPUs, math.MaxInt32), 0))}
}

func finite(v float64) float64 {
	switch {
	case v > math.MaxFloat64:
		return math.MaxFloat64
	case v > 0:
		return v
	}
	return 0
}

// hostIndex maps host IDs to indices.
func (p *placer) hostIndex() map[string]int32 {
	m := make(map[string]int32, len(p.hostAt))
	for h := range p.hostAt {
		m[p.host(int32(h)).ID] = int32(h)
	}
	return m
}

// state fills p.hs with host h as the task of class c sees it.
func (p *placer) state(c *class, h int32) *HostState {
	host, f, t := p.host(h), &p.free[h], &p.total[h]
	hs := &p.hs
	hs.ID, hs.Hostname, hs.Attributes = host.ID, host.Hostname, host.Attributes
	if hs.Hostname == "" {
		hs.Hostname = host.ID
	}
	hs.Total = allocator.Resources{CPUs: t.cpus, Mem: t.mem, Disk: t.disk, GPUs: int(t.gpus), Ports: normalized(host.Total.Ports)}
	if countPorts(hs.Total.Ports) < int(t.ports) {
		hs.Total.Ports = normalized(host.Free.Ports) // a Total below Free is taken as Free
	}
	hs.Free = allocator.Resources{CPUs: f.cpus, Mem: f.mem, Disk: f.disk, GPUs: int(f.gpus), Ports: p.freePorts(h)}
	hs.Tasks, hs.GroupTasks = 0, 0
	if p.tasksOn != nil {
		hs.Tasks = int(p.tasksOn[h])
	}
	if g := p.groups[c.group]; g.onHost != nil {
		hs.GroupTasks = int(g.onHost[h])
	}
	return hs
}
