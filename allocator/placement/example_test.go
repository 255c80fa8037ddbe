package placement_test

import (
	"fmt"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/allocator/placement"
)

func ExamplePlace() {
	idle := allocator.Resources{CPUs: 8, Mem: 16384}
	hosts := []placement.Host{
		{ID: "a", Hostname: "a.example", Attributes: map[string]string{"zone": "eu-1a"}, Total: idle, Free: idle},
		{ID: "b", Hostname: "b.example", Attributes: map[string]string{"zone": "eu-1b"}, Total: idle, Free: idle},
		{ID: "c", Hostname: "c.example", Attributes: map[string]string{"zone": "eu-1b"}, Total: idle, Free: allocator.Resources{CPUs: 1, Mem: 1024}},
	}
	unique, _ := placement.ParseConstraint([]string{"hostname", "UNIQUE"})
	spread, _ := placement.ParseConstraint([]string{"zone", "GROUP_BY"})
	var tasks []placement.Task
	for i := range 4 {
		tasks = append(tasks, placement.Task{
			ID: fmt.Sprintf("web-%d", i), Group: "web",
			Resources:   allocator.Resources{CPUs: 2, Mem: 2048},
			Constraints: []placement.Constraint{unique, spread},
		})
	}
	r := placement.Place(placement.DefaultConfig(), hosts, nil, tasks)
	for _, a := range r.Assignments {
		fmt.Println(a.Task, "on", a.Host)
	}
	for _, id := range []string{"web-2", "web-3"} {
		why := r.Unplaced[id]
		fmt.Println(id, why.Reasons, "unplaceable:", why.Unplaceable)
	}
	// Output:
	// web-0 on a
	// web-1 on b
	// web-2 map[constraint hostname UNIQUE:2 insufficient cpus:1] unplaceable: false
	// web-3 map[constraint hostname UNIQUE:2 insufficient cpus:1] unplaceable: false
}

func ExampleParseConstraint() {
	c, err := placement.ParseConstraint([]string{"rack", "MAX_PER", "2"})
	fmt.Println(c, err)
	_, err = placement.ParseConstraint([]string{"zone", "GROUP_BY", "three"})
	fmt.Println(err)
	// Output:
	// rack MAX_PER 2 <nil>
	// constraint "zone GROUP_BY three": GROUP_BY wants a count of at least 1, got "three"
}
