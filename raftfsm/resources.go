package raftfsm

import (
	"maps"
	"slices"
	"sort"
)

// The little resource arithmetic Apply needs to keep reservations inside a
// node's total. The allocator has the full version; raftfsm must not import
// it, and only these three operations are needed here.

// epsilon absorbs float drift (0.1+0.2-0.3 is not 0).
const epsilon = 1e-9

func (r Resources) add(o Resources) Resources {
	return Resources{CPUs: r.CPUs + o.CPUs, Mem: r.Mem + o.Mem, Disk: r.Disk + o.Disk, GPUs: r.GPUs + o.GPUs,
		Ports: mergePorts(append(slices.Clone(r.Ports), o.Ports...))}
}

// sub is r - o for an o that r contains.
func (r Resources) sub(o Resources) Resources {
	out := Resources{CPUs: max(r.CPUs-o.CPUs, 0), Mem: max(r.Mem-o.Mem, 0), Disk: max(r.Disk-o.Disk, 0), GPUs: max(r.GPUs-o.GPUs, 0)}
	for _, p := range mergePorts(r.Ports) {
		lo, hi := int(p.Begin), int(p.End)
		for _, q := range mergePorts(o.Ports) {
			if int(q.End) < lo || int(q.Begin) > hi {
				continue
			}
			if int(q.Begin) > lo {
				out.Ports = append(out.Ports, PortRange{uint16(lo), q.Begin - 1})
			}
			lo = int(q.End) + 1
		}
		if lo <= hi {
			out.Ports = append(out.Ports, PortRange{uint16(lo), uint16(hi)})
		}
	}
	return out
}

func (r Resources) contains(o Resources) bool {
	if r.CPUs+epsilon < o.CPUs || r.Mem+epsilon < o.Mem || r.Disk+epsilon < o.Disk || r.GPUs < o.GPUs {
		return false
	}
	have := mergePorts(r.Ports)
	for _, q := range o.Ports {
		i := sort.Search(len(have), func(i int) bool { return have[i].End >= q.Begin })
		if q.Begin > q.End || i == len(have) || have[i].Begin > q.Begin || have[i].End < q.End {
			return false
		}
	}
	return true
}

func (r Resources) valid() bool {
	for _, v := range []float64{r.CPUs, r.Mem, r.Disk} {
		if !(v >= 0) || v > 1e15 {
			return false
		}
	}
	for _, p := range r.Ports {
		if p.Begin > p.End {
			return false
		}
	}
	return r.GPUs >= 0
}

func (r Resources) isZero() bool {
	return r.CPUs <= epsilon && r.Mem <= epsilon && r.Disk <= epsilon && r.GPUs == 0 && len(r.Ports) == 0
}

// mergePorts sorts ranges and merges overlapping and adjacent ones.
func mergePorts(ps []PortRange) []PortRange {
	if len(ps) == 0 {
		return nil
	}
	s := slices.Clone(ps)
	slices.SortFunc(s, func(a, b PortRange) int { return int(a.Begin) - int(b.Begin) })
	out := s[:1]
	for _, p := range s[1:] {
		if last := &out[len(out)-1]; int(p.Begin) <= int(last.End)+1 {
			last.End = max(last.End, p.End)
			continue
		}
		out = append(out, p)
	}
	return out
}

// fitDynamic keeps, in role order, the dynamic reservations that still fit
// in what the total leaves beside the static ones, as the allocator does when
// an agent re-registers with a smaller total.
func fitDynamic(total Resources, static, dynamic map[string]Resources) map[string]Resources {
	left := total
	for _, role := range slices.Sorted(maps.Keys(static)) {
		if left.contains(static[role]) {
			left = left.sub(static[role])
		}
	}
	var out map[string]Resources
	for _, role := range slices.Sorted(maps.Keys(dynamic)) {
		res := dynamic[role]
		if !left.contains(res) {
			continue
		}
		left = left.sub(res)
		if out == nil {
			out = map[string]Resources{}
		}
		out[role] = res
	}
	return out
}
