// Package raftfsm owns clusterd's replicated state: the typed, versioned
// commands written to the Raft log, the FSM that applies them, snapshots and
// restores, and the read views (with change notification) that the rest of
// the node queries.
//
// Everything here is deterministic: Apply reads no clock (the leader stamps
// each command with its time), draws no random numbers and does no I/O other
// than writing a snapshot to the sink raft hands it. The same log gives the
// same state, and the same Digest, on every server.
//
// It must not know about HTTP, gossip, the isolator or the allocator.
package raftfsm
