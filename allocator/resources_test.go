package allocator

import (
	"slices"
	"testing"
)

func ports(rs ...PortRange) []PortRange { return rs }

func TestResourcesSubCutsAPortOutOfTheMiddleOfARange(t *testing.T) {
	r := Resources{CPUs: 2, Mem: 1024, Ports: ports(PortRange{31000, 31010})}
	got := r.Sub(Resources{CPUs: 0.5, Mem: 256, Ports: ports(PortRange{31005, 31005})})
	want := ports(PortRange{31000, 31004}, PortRange{31006, 31010})
	if !slices.Equal(got.Ports, want) {
		t.Fatalf("ports = %v, want %v", got.Ports, want)
	}
	if got.CPUs != 1.5 || got.Mem != 768 {
		t.Fatalf("scalars = %v, want cpus:1.5 mem:768", got)
	}
	if !slices.Equal(r.Ports, ports(PortRange{31000, 31010})) {
		t.Fatalf("Sub modified its receiver: %v", r.Ports)
	}
}

func TestResourcesSubPortEdgesAndSpans(t *testing.T) {
	for _, c := range []struct {
		name      string
		have, cut []PortRange
		want      []PortRange
	}{
		{"first port", ports(PortRange{10, 20}), ports(PortRange{10, 10}), ports(PortRange{11, 20})},
		{"last port", ports(PortRange{10, 20}), ports(PortRange{20, 20}), ports(PortRange{10, 19})},
		{"whole range", ports(PortRange{10, 20}, PortRange{30, 40}), ports(PortRange{10, 20}), ports(PortRange{30, 40})},
		{"cut spanning two ranges", ports(PortRange{10, 20}, PortRange{30, 40}), ports(PortRange{15, 35}), ports(PortRange{10, 14}, PortRange{36, 40})},
		{"several holes", ports(PortRange{10, 20}), ports(PortRange{12, 12}, PortRange{14, 15}, PortRange{18, 18}),
			ports(PortRange{10, 11}, PortRange{13, 13}, PortRange{16, 17}, PortRange{19, 20})},
		{"top of the port space", ports(PortRange{65530, 65535}), ports(PortRange{65535, 65535}), ports(PortRange{65530, 65534})},
		{"cut not held", ports(PortRange{10, 20}), ports(PortRange{30, 30}), ports(PortRange{10, 20})},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Resources{Ports: c.have}.Sub(Resources{Ports: c.cut}).Ports
			if !slices.Equal(got, c.want) {
				t.Fatalf("%v minus %v = %v, want %v", c.have, c.cut, got, c.want)
			}
		})
	}
}

func TestResourcesAddMergesAdjacentAndOverlappingPorts(t *testing.T) {
	a := Resources{CPUs: 1, Ports: ports(PortRange{31000, 31004}, PortRange{31020, 31020})}
	b := Resources{CPUs: 0.5, GPUs: 1, Ports: ports(PortRange{31005, 31005}, PortRange{31003, 31010}, PortRange{31021, 31021})}
	got := a.Add(b)
	want := ports(PortRange{31000, 31010}, PortRange{31020, 31021})
	if !slices.Equal(got.Ports, want) {
		t.Fatalf("ports = %v, want %v", got.Ports, want)
	}
	if got.CPUs != 1.5 || got.GPUs != 1 {
		t.Fatalf("scalars = %v", got)
	}
	if got.NumPorts() != 13 {
		t.Fatalf("NumPorts = %d, want 13", got.NumPorts())
	}
}

func TestResourcesContains(t *testing.T) {
	have := Resources{CPUs: 1, Mem: 512, Disk: 100, GPUs: 1, Ports: ports(PortRange{31000, 31005}, PortRange{32000, 32000})}
	for _, c := range []struct {
		name string
		want Resources
		ok   bool
	}{
		{"equal", have, true},
		{"nothing", Resources{}, true},
		{"float drift", Resources{CPUs: 0.1 + 0.2 + 0.7}, true},
		{"more cpus", Resources{CPUs: 1.01}, false},
		{"more mem", Resources{Mem: 513}, false},
		{"more disk", Resources{Disk: 101}, false},
		{"more gpus", Resources{GPUs: 2}, false},
		{"port inside", Resources{Ports: ports(PortRange{31003, 31003}, PortRange{32000, 32000})}, true},
		{"sub-range inside", Resources{Ports: ports(PortRange{31001, 31004})}, true},
		{"port in the gap", Resources{Ports: ports(PortRange{31006, 31006})}, false},
		{"range straddling the end", Resources{Ports: ports(PortRange{31004, 31006})}, false},
		{"port below", Resources{Ports: ports(PortRange{80, 80})}, false},
		{"inverted range", Resources{Ports: ports(PortRange{31003, 31001})}, false},
	} {
		if got := have.Contains(c.want); got != c.ok {
			t.Errorf("%s: %v.Contains(%v) = %v, want %v", c.name, have, c.want, got, c.ok)
		}
	}
}

func TestResourcesStringAndIsZero(t *testing.T) {
	r := Resources{CPUs: 0.1 + 0.2 + 0.2, Mem: 128, Ports: ports(PortRange{31000, 31001}, PortRange{31005, 31005})}
	if got, want := r.String(), "cpus:0.5 mem:128 disk:0 gpus:0 ports:[31000-31001,31005]"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	if r.IsZero() {
		t.Fatal("non-empty resources reported zero")
	}
	if !(Resources{CPUs: 1e-12}).IsZero() {
		t.Fatal("float crumbs not reported zero")
	}
	if (Resources{Ports: ports(PortRange{1, 1})}).IsZero() {
		t.Fatal("a port alone is not zero")
	}
}

func TestResourcesTakePortsLowestFirst(t *testing.T) {
	r := Resources{Ports: ports(PortRange{31008, 31009}, PortRange{31000, 31001})}
	got, ok := r.TakePorts(3)
	want := ports(PortRange{31000, 31000}, PortRange{31001, 31001}, PortRange{31008, 31008})
	if !ok || !slices.Equal(got, want) {
		t.Fatalf("TakePorts(3) = %v, %v; want %v, true", got, ok, want)
	}
	if _, ok := r.TakePorts(5); ok {
		t.Fatal("TakePorts(5) of 4 ports succeeded")
	}
	if got, ok := r.TakePorts(0); !ok || len(got) != 0 {
		t.Fatalf("TakePorts(0) = %v, %v", got, ok)
	}
}
