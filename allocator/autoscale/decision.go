package autoscale

import "time"

// Kind is what a Decision asks the actuator to do.
type Kind string

// The kinds of decision.
const (
	// None: nothing to do now; Reason says why (within bounds, waiting out a delay, cooling
	// down, at a bound).
	None Kind = "none"
	// ScaleUp: add Count hosts to the group.
	ScaleUp Kind = "scale_up"
	// Drain: stop placing on Hosts and move their tasks off (long-lived tasks by their
	// rolling-update rules, short-lived ones let finish). The cluster marks them draining;
	// a later evaluation terminates them.
	Drain Kind = "drain"
	// Terminate: remove Hosts from the group (for EC2, terminate with a decrement of the
	// desired capacity). They are drained and run no long-lived task.
	Terminate Kind = "terminate"
)

// Decision is one thing the Decider decided for a group, with why, for the actuator, the
// event log, the dashboard and `clusterd autoscale status`.
type Decision struct {
	Group string
	Kind  Kind
	At    time.Time
	// Count is the hosts to add (ScaleUp), or len(Hosts).
	Count int
	// Hosts are the hosts to drain or terminate, by ID.
	Hosts []string
	// Reason says why, for people: "3 tasks need 5 cpus and 2 GiB that no host has: 2
	// more hosts of shape 4 cpus/16 GiB".
	Reason string
	// Size is the group's hosts (ready and booting) before the decision; Idle its idle
	// ones; Shortfall the new hosts the pending backlog needs (Fenzo's shortfall).
	Size, Idle, Shortfall int
}
