package allocator

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// epsilon absorbs float drift in CPU, memory and disk arithmetic: 0.1+0.2-0.3 is not 0.
const epsilon = 1e-9

// PortRange is an inclusive range of ports: {31000, 31000} is the single port 31000.
type PortRange struct{ Begin, End uint16 }

// String is "31000-31005", or "31000" for a single port.
func (p PortRange) String() string {
	if p.Begin == p.End {
		return strconv.Itoa(int(p.Begin))
	}
	return strconv.Itoa(int(p.Begin)) + "-" + strconv.Itoa(int(p.End))
}

// Resources is an amount of an agent's capacity. Mem and Disk are in MiB.
//
// Values are treated as immutable: no method modifies its receiver's or its argument's Ports
// slice, and a result may share that slice with an input, so do not modify a Ports slice
// after handing it to the allocator or after getting it back.
type Resources struct {
	CPUs  float64
	Mem   float64
	Disk  float64
	GPUs  int
	Ports []PortRange // kept sorted, non-overlapping, merged
}

// Add returns r + o; the ports are the union of both, sorted and merged.
func (r Resources) Add(o Resources) Resources {
	return Resources{
		CPUs:  r.CPUs + o.CPUs,
		Mem:   r.Mem + o.Mem,
		Disk:  r.Disk + o.Disk,
		GPUs:  r.GPUs + o.GPUs,
		Ports: unionPorts(r.Ports, o.Ports),
	}
}

// Sub returns r - o. The caller guarantees r.Contains(o); a scalar that would still go below
// zero (float drift) becomes zero. Ports of o are cut out of r's ranges, so removing 31005
// from [31000-31010] leaves [31000-31004,31006-31010].
func (r Resources) Sub(o Resources) Resources {
	return Resources{
		CPUs:  max(r.CPUs-o.CPUs, 0),
		Mem:   max(r.Mem-o.Mem, 0),
		Disk:  max(r.Disk-o.Disk, 0),
		GPUs:  max(r.GPUs-o.GPUs, 0),
		Ports: subtractPorts(r.Ports, o.Ports),
	}
}

// Contains reports whether o fits in r: every scalar of r is at least o's (within 1e-9 for
// float drift) and every port of o lies inside one of r's ranges.
func (r Resources) Contains(o Resources) bool {
	return r.CPUs+epsilon >= o.CPUs &&
		r.Mem+epsilon >= o.Mem &&
		r.Disk+epsilon >= o.Disk &&
		r.GPUs >= o.GPUs &&
		portsContain(r.Ports, o.Ports)
}

// IsZero reports whether r holds nothing (scalars within 1e-9 of zero, no ports).
func (r Resources) IsZero() bool {
	return math.Abs(r.CPUs) <= epsilon && math.Abs(r.Mem) <= epsilon &&
		math.Abs(r.Disk) <= epsilon && r.GPUs == 0 && r.NumPorts() == 0
}

// String is e.g. "cpus:0.5 mem:128 disk:0 gpus:0 ports:[31000-31001,31005]".
func (r Resources) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cpus:%s mem:%s disk:%s gpus:%d ports:[", fmtAmount(r.CPUs), fmtAmount(r.Mem), fmtAmount(r.Disk), r.GPUs)
	b.WriteString(portsString(r.Ports))
	b.WriteByte(']')
	return b.String()
}

// NumPorts is how many ports r's ranges hold.
func (r Resources) NumPorts() int {
	n := 0
	for _, p := range r.Ports {
		if p.Begin <= p.End {
			n += int(p.End) - int(p.Begin) + 1
		}
	}
	return n
}

// TakePorts returns n ports from r's ranges, lowest first, as single-port ranges, or false
// when r has fewer. It does not change r: subtract the result to remove them.
func (r Resources) TakePorts(n int) ([]PortRange, bool) {
	if n < 0 {
		return nil, false
	}
	out := make([]PortRange, 0, n)
	for _, p := range normalizePorts(r.Ports) {
		for port := int(p.Begin); port <= int(p.End) && len(out) < n; port++ {
			out = append(out, PortRange{uint16(port), uint16(port)})
		}
	}
	if len(out) < n {
		return nil, false
	}
	return out, true
}

// check reports why r cannot be a resource amount: a negative, NaN or infinite scalar, or a
// port range whose Begin is above its End.
func (r Resources) check() error {
	for _, s := range []struct {
		name string
		v    float64
	}{{"cpus", r.CPUs}, {"mem", r.Mem}, {"disk", r.Disk}} {
		if math.IsNaN(s.v) || math.IsInf(s.v, 0) || s.v < 0 {
			return fmt.Errorf("%s:%v is not a non-negative finite number", s.name, s.v)
		}
	}
	if r.GPUs < 0 {
		return fmt.Errorf("gpus:%d is negative", r.GPUs)
	}
	for _, p := range r.Ports {
		if p.Begin > p.End {
			return fmt.Errorf("port range %d-%d ends before it begins", p.Begin, p.End)
		}
	}
	return nil
}

// normalized returns r with its ports sorted and merged (r itself when they already are).
func (r Resources) normalized() Resources {
	r.Ports = normalizePorts(r.Ports)
	return r
}

// fmtAmount prints a scalar without float noise: 1.4999999999999998 prints as 1.5.
func fmtAmount(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}

func portsString(ps []PortRange) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// portsNormalized reports whether ps is sorted, valid and has no overlapping or adjacent
// ranges (adjacent ones would have been merged).
func portsNormalized(ps []PortRange) bool {
	for i, p := range ps {
		if p.Begin > p.End {
			return false
		}
		if i > 0 && int(p.Begin) <= int(ps[i-1].End)+1 {
			return false
		}
	}
	return true
}

// normalizePorts returns ps sorted with overlapping and adjacent ranges merged and invalid
// ranges (Begin > End) dropped. It returns ps itself, without allocating, when ps already is.
func normalizePorts(ps []PortRange) []PortRange {
	if portsNormalized(ps) {
		return ps
	}
	sorted := make([]PortRange, 0, len(ps))
	for _, p := range ps {
		if p.Begin <= p.End {
			sorted = append(sorted, p)
		}
	}
	slices.SortFunc(sorted, func(a, b PortRange) int { return int(a.Begin) - int(b.Begin) })
	out := sorted[:0]
	for _, p := range sorted {
		if n := len(out); n > 0 && int(p.Begin) <= int(out[n-1].End)+1 {
			out[n-1].End = max(out[n-1].End, p.End)
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func unionPorts(a, b []PortRange) []PortRange {
	switch {
	case len(b) == 0:
		return normalizePorts(a)
	case len(a) == 0:
		return normalizePorts(b)
	}
	all := make([]PortRange, 0, len(a)+len(b))
	all = append(append(all, a...), b...)
	return normalizePorts(all)
}

// subtractPorts cuts every range of b out of a's ranges.
func subtractPorts(a, b []PortRange) []PortRange {
	a = normalizePorts(a)
	if len(b) == 0 || len(a) == 0 {
		return a
	}
	b = normalizePorts(b)
	var out []PortRange
	j := 0
	for _, r := range a {
		lo, hi := int(r.Begin), int(r.End)
		for j < len(b) && int(b[j].End) < lo {
			j++
		}
		// b[j] may reach into the next range of a too, so walk the overlap with k.
		for k := j; k < len(b) && int(b[k].Begin) <= hi && lo <= hi; k++ {
			if int(b[k].Begin) > lo {
				out = append(out, PortRange{uint16(lo), b[k].Begin - 1})
			}
			lo = int(b[k].End) + 1
		}
		if lo <= hi {
			out = append(out, PortRange{uint16(lo), uint16(hi)})
		}
	}
	return out
}

// portsContain reports whether every range of b lies inside a range of a.
func portsContain(a, b []PortRange) bool {
	if len(b) == 0 {
		return true
	}
	a = normalizePorts(a)
	for _, p := range b {
		if p.Begin > p.End {
			return false
		}
		i, _ := slices.BinarySearchFunc(a, p.Begin, func(r PortRange, port uint16) int {
			if r.End < port {
				return -1
			}
			return 1
		})
		if i == len(a) || a[i].Begin > p.Begin || a[i].End < p.End {
			return false
		}
	}
	return true
}

// firstMissingPort returns a port of want that is not inside have's ranges.
func firstMissingPort(have, want []PortRange) (uint16, bool) {
	for _, p := range normalizePorts(want) {
		for port := int(p.Begin); port <= int(p.End); port++ {
			if !portsContain(have, []PortRange{{uint16(port), uint16(port)}}) {
				return uint16(port), true
			}
		}
	}
	return 0, false
}
