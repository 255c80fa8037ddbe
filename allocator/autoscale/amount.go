package autoscale

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// eps absorbs float drift in CPU, memory and disk sums: 0.1+0.2 must fit in 0.3.
const eps = 1e-9

// Amount is a quantity of a host's resources. Mem and Disk are in MiB; Ports is a count of
// host ports (ranges do not matter to capacity planning).
type Amount struct {
	CPUs  float64
	Mem   float64
	Disk  float64
	GPUs  int
	Ports int
}

// Add returns a + b.
func (a Amount) Add(b Amount) Amount {
	return Amount{a.CPUs + b.CPUs, a.Mem + b.Mem, a.Disk + b.Disk, a.GPUs + b.GPUs, a.Ports + b.Ports}
}

// Sub returns a - b, each resource at least zero.
func (a Amount) Sub(b Amount) Amount {
	return Amount{max(a.CPUs-b.CPUs, 0), max(a.Mem-b.Mem, 0), max(a.Disk-b.Disk, 0), max(a.GPUs-b.GPUs, 0), max(a.Ports-b.Ports, 0)}
}

// Fits reports whether b fits in a, every resource.
func (a Amount) Fits(b Amount) bool {
	return b.CPUs <= a.CPUs+eps && b.Mem <= a.Mem+eps && b.Disk <= a.Disk+eps && b.GPUs <= a.GPUs && b.Ports <= a.Ports
}

// IsZero reports whether a holds nothing.
func (a Amount) IsZero() bool { return a == Amount{} }

// DominantShare is the largest share of of that a takes, over the resources of has
// (Dominant Resource Fairness's measure, here of a task against a host): 0.5 for 2 CPUs and
// 1 GiB of a 4-CPU, 16-GiB host. A resource of is without counts as a full share if a
// wants any of it, so an ask for GPUs against a GPU-less shape is 1 or more.
func (a Amount) DominantShare(of Amount) float64 {
	share := func(want, have float64) float64 {
		switch {
		case want <= eps:
			return 0
		case have <= eps:
			return 1 + want
		}
		return want / have
	}
	return max(share(a.CPUs, of.CPUs), share(a.Mem, of.Mem), share(a.Disk, of.Disk),
		share(float64(a.GPUs), float64(of.GPUs)), share(float64(a.Ports), float64(of.Ports)))
}

// String is the amount for people: "4 cpus/16 GiB", with disk, GPUs and ports when set.
func (a Amount) String() string {
	parts := []string{fmt.Sprintf("%s cpus", num(a.CPUs)), bytesText(a.Mem)}
	if a.Disk > eps {
		parts = append(parts, bytesText(a.Disk)+" disk")
	}
	if a.GPUs > 0 {
		parts = append(parts, fmt.Sprintf("%d gpus", a.GPUs))
	}
	if a.Ports > 0 {
		parts = append(parts, fmt.Sprintf("%d ports", a.Ports))
	}
	return strings.Join(parts, "/")
}

// and is a as a phrase joined by "and", only the resources it has: "5 cpus and 2 GiB".
func (a Amount) and() string {
	var parts []string
	if a.CPUs > eps {
		parts = append(parts, num(a.CPUs)+" cpus")
	}
	if a.Mem > eps {
		parts = append(parts, bytesText(a.Mem))
	}
	if a.Disk > eps {
		parts = append(parts, bytesText(a.Disk)+" disk")
	}
	if a.GPUs > 0 {
		parts = append(parts, fmt.Sprintf("%d gpus", a.GPUs))
	}
	if a.Ports > 0 {
		parts = append(parts, fmt.Sprintf("%d ports", a.Ports))
	}
	switch len(parts) {
	case 0:
		return "nothing"
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// num prints a resource count without float noise: 5, 2.5, 0.1.
func num(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

// bytesText prints MiB as GiB from 1 GiB up: "512 MiB", "2 GiB", "1.5 GiB".
func bytesText(mib float64) string {
	if mib >= 1024-eps {
		return strconv.FormatFloat(math.Round(mib/1024*10)/10, 'f', -1, 64) + " GiB"
	}
	return num(mib) + " MiB"
}
