package placement

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/allocator"
)

// node is an idle host with cpus CPUs, 1,000 MiB of memory per CPU and attributes given as
// "name=value".
func node(id string, cpus float64, attrs ...string) Host {
	r := allocator.Resources{CPUs: cpus, Mem: cpus * 1000, Disk: 10000}
	h := Host{ID: id, Hostname: id + ".example", Total: r, Free: r, Attributes: map[string]string{}}
	for _, a := range attrs {
		k, v, _ := strings.Cut(a, "=")
		h.Attributes[k] = v
	}
	return h
}

// job is n tasks of group g, each wanting cpus CPUs and 100 MiB, with the constraints.
func job(g string, n int, cpus float64, cons ...Constraint) []Task {
	tasks := make([]Task, n)
	for i := range tasks {
		tasks[i] = Task{ID: g + "." + string(rune('a'+i/26)) + string(rune('a'+i%26)), Group: g,
			Resources: allocator.Resources{CPUs: cpus, Mem: 100}, Constraints: cons, PendingSince: t0}
	}
	return tasks
}

func hard(fields ...string) Constraint {
	c, err := ParseConstraint(fields)
	if err != nil {
		panic(err)
	}
	return c
}

func soft(fields ...string) Constraint {
	c := hard(fields...)
	c.Soft = true
	return c
}

// where is each placed task's host.
func where(r Result) map[string]string {
	m := map[string]string{}
	for _, a := range r.Assignments {
		m[a.Task] = a.Host
	}
	return m
}

// perHost counts the placed tasks per host.
func perHost(r Result) map[string]int {
	m := map[string]int{}
	for _, a := range r.Assignments {
		m[a.Host]++
	}
	return m
}

// perValue counts the placed tasks per value of attribute attr of their hosts.
func perValue(r Result, hosts []Host, attr string) map[string]int {
	byID := map[string]Host{}
	for _, h := range hosts {
		byID[h.ID] = h
	}
	m := map[string]int{}
	for _, a := range r.Assignments {
		m[byID[a.Host].Attributes[attr]]++
	}
	return m
}

func hostsOf(r Result) []string {
	return slices.Sorted(maps.Keys(perHost(r)))
}

func wantPlaced(t *testing.T, r Result, n int) {
	t.Helper()
	if len(r.Assignments) != n {
		t.Fatalf("placed %d tasks, want %d; unplaced: %v", len(r.Assignments), n, r.Unplaced)
	}
}
