// Package chaos is clusterd's Jepsen-style fault suite: it starts a real
// five-node cluster (nodetest: the built binary, real Raft, bolt, gossip
// and task processes on loopback addresses), runs a workload of clients and
// a Mesos framework against it while a nemesis injects faults from a
// seeded schedule (SIGKILL and restart, SIGSTOP and SIGCONT, network
// partitions made with nftables), then heals everything, waits for quiet
// and runs the checkers of package check over what was recorded.
//
// Partitions are nftables rules in a table of the run's own (named after
// its HTTP port, so parallel runs never touch each other's), in the output
// hook: a node's traffic to another is dropped by source and destination
// address and by the cluster's ports. That works on one machine because
// each node binds its own loopback address and clusterd dials its peers
// from its bind address. The test's own clients talk from 127.0.0.1 and
// are never cut off, as Jepsen's clients are not.
//
// Everything is bounded: the run's length, each fault's hold, every HTTP
// call. The table, every process and every temp dir are removed at the end,
// also when the run fails; a failed run keeps one directory with the seed,
// the fault log, the history, every node's log and the checkers'
// explanation (Report.Dir).
package chaos
