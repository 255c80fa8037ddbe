// Package failpoint lets the fault suite crash or stall a node at named
// points of its code: before and after a Raft apply, around the agent's
// checkpoint write, around sending a status update and acknowledging one,
// during snapshot persist and restore.
//
// Only a binary built with `-tags failpoints` has them (node/chaos builds
// one); in every other build Inject is an empty function the compiler
// removes and Watch does nothing, so production code pays nothing.
//
// A failpoints binary arms its points from a file (DATA/failpoints, which
// node.Start names to Watch), re-read every 100 ms, one point per line:
//
//	raft-apply-after=panic@3     panic at the third apply from now
//	checkpoint-write-before=sleep:2s@1
//
// A point fires once, at the given hit (default the first), then disarms.
// panic crashes the process at that point, as power loss would stop it
// there; sleep stalls the goroutine that reached it.
package failpoint

// The named points.
const (
	RaftApplyBefore       = "raft-apply-before"
	RaftApplyAfter        = "raft-apply-after"
	CheckpointWriteBefore = "checkpoint-write-before"
	CheckpointWriteAfter  = "checkpoint-write-after"
	StatusSendBefore      = "status-send-before"
	StatusSendAfter       = "status-send-after"
	AckBefore             = "ack-before"
	AckAfter              = "ack-after"
	SnapshotPersist       = "snapshot-persist"
	SnapshotRestore       = "snapshot-restore"
)

// Points lists every named point.
var Points = []string{RaftApplyBefore, RaftApplyAfter, CheckpointWriteBefore, CheckpointWriteAfter,
	StatusSendBefore, StatusSendAfter, AckBefore, AckAfter, SnapshotPersist, SnapshotRestore}
