// Package autoscale decides when a group of agents should grow or shrink, in the manner of
// Netflix Fenzo's autoscaler: it owns the group rules (size bounds, idle hosts to keep,
// cool-down, hysteresis, the shape of a new host), the two strategies that estimate how
// many hosts a group needs (thresholds on idle hosts, and shortfall analysis that bin-packs
// the pending backlog into hosts of the group's shape), the choice of hosts to remove
// (balanced across zones, emptiest first) and the drain → terminate lifecycle that never
// kills a long-lived task, and a bin-packing score that keeps long- and short-lived tasks
// apart so hosts empty together.
//
// It is a pure core, like the allocator: it does no I/O, never reads the clock (every
// evaluation takes now), uses no randomness and starts no goroutines. The leader feeds it a
// Snapshot of the cluster (hosts, their tasks, the pending tasks with why they are not
// placed, as placement.Why reports it) and hands the Decisions to an actuator; the only
// state it carries between evaluations is in Decider: since when a need has lasted and when
// the last action was taken. What a drain has done lives in the cluster state (a host's
// state and drain start), so a new leader resumes a drain without this package's help.
package autoscale
