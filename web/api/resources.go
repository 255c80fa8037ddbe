package api

import (
	"fmt"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of host ports.
type PortRange struct {
	Begin uint16 `json:"begin"`
	End   uint16 `json:"end"`
}

// Size is the number of ports in the range.
func (r PortRange) Size() int { return int(r.End) - int(r.Begin) + 1 }

func (r PortRange) String() string {
	if r.Begin == r.End {
		return strconv.Itoa(int(r.Begin))
	}
	return fmt.Sprintf("%d-%d", r.Begin, r.End)
}

// Resources is an amount of the resources clusterd schedules. Mem and Disk are
// in MiB, as in Mesos.
type Resources struct {
	CPUs  float64     `json:"cpus"`
	Mem   float64     `json:"mem"`
	Disk  float64     `json:"disk"`
	GPUs  int         `json:"gpus"`
	Ports []PortRange `json:"ports,omitempty"`
}

// FormatPorts renders ranges the way --resources accepts them: [31000-32000,33000].
func FormatPorts(ranges []PortRange) string {
	parts := make([]string, len(ranges))
	for i, r := range ranges {
		parts[i] = r.String()
	}
	return "[" + strings.Join(parts, ",") + "]"
}
