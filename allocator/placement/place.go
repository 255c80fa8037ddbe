package placement

import (
	"time"

	"github.com/clusterd/clusterd/allocator"
)

// Host is a machine tasks may be placed on.
type Host struct {
	ID string
	// Hostname is the value of the constraint field "hostname"; empty means ID.
	Hostname   string
	Attributes map[string]string // such as "zone": "eu-1a"; read, never modified
	// Total is the host's capacity: a task that does not fit in it can never run here. A
	// Total below Free (in any resource, or all zero) is taken as Free.
	Total allocator.Resources
	// Free is what the caller may use now, such as the sum of its offers for the host.
	Free allocator.Resources
}

// Task is a task to place.
type Task struct {
	ID string
	// Group is the job or app the task belongs to: constraints and Spread count the tasks of
	// a group, and an exclusive task shares its host only with its own group.
	Group string
	// Resources is what the task needs; its Ports are ignored (see Ports).
	Resources allocator.Resources
	// Ports is how many host ports the task needs: Place takes them from the host's free
	// ranges, lowest first.
	Ports       int
	Constraints []Constraint
	// Exclusive asks for a host running no task of another group (Fenzo's exclusive host
	// constraint), and keeps other groups off it once placed.
	Exclusive bool
	// Priority orders the tasks: higher first. PendingSince orders those of equal priority:
	// the one waiting longest first; ties go by ID.
	Priority     int
	PendingSince time.Time
}

// Running is a task already on a host, which constraints, Spread and exclusivity count.
type Running struct {
	Group     string
	Host      string // a Host.ID; tasks on hosts not given are ignored
	Exclusive bool   // it holds its host for its group (Task.Exclusive)
}

// Assignment is a task placed on a host.
type Assignment struct {
	Task  string
	Host  string
	Ports []allocator.PortRange // Task.Ports ports, one per range, lowest first
	Score float64               // the host's score for the task, 0 to 1
}

// Result is what Place decided.
type Result struct {
	// Assignments are in the order the tasks were placed: most urgent first.
	Assignments []Assignment
	// Unplaced says, for each task not placed, why (by task ID).
	Unplaced map[string]Why
}

// Place decides where tasks go: most urgent first (Task.Priority, then PendingSince, then
// ID), each on the best host for it, seeing the placements before it (free resources
// shrink, the group's counts grow, so UNIQUE holds within one call too).
//
// For each task, Place filters the hosts (free resources, then exclusivity and the hard
// constraints), scores those that pass (the weighted average of Config.Fitness and the
// task's soft constraints, each 0 to 1), and takes the highest score, the first visited
// among equals. Hosts are visited by the free amount of the resource the heaviest built-in
// calculator packs (CPUs for a custom one), least free first, from the first host with
// enough of it (Spread: most free first), then by ID; so with bin packing the first hosts
// visited are the fullest that fit, and a Config.GoodEnough search usually stops at the
// first. A full search also stops at a host scoring 1 or once no host still to visit can
// score higher than the best so far (the bin packers bound their scores along the order),
// which gives the same result as visiting every host.
//
// A task Place could not place is in Result.Unplaced with every host counted under the
// first reason it was rejected for (see Why). Place only reads its arguments. Hosts and
// tasks should have unique IDs: a host whose ID repeats an earlier one in hosts is left
// out, and so is a task whose ID repeats a more urgent one's.
//
// Place is deterministic: the same arguments give the same result, whatever the order of
// hosts (they are visited by ID among equals), of running tasks, and of tasks (placed by
// urgency, then ID).
func Place(cfg Config, hosts []Host, running []Running, tasks []Task) Result {
	p := newPlacer(resolve(cfg), hosts, tasks)
	p.addRunning(running)
	for _, i := range p.urgent {
		p.placeTask(i)
	}
	return p.result
}
