package node

import (
	"io"

	"github.com/clusterd/clusterd/node/failpoint"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/hashicorp/raft"
)

// failpointFSM is the FSM with the Raft apply and snapshot failpoints
// around it; only a failpoints build uses it (see openRaft).
type failpointFSM struct{ *raftfsm.FSM }

func (f failpointFSM) Apply(l *raft.Log) interface{} {
	failpoint.Inject(failpoint.RaftApplyBefore)
	r := f.FSM.Apply(l)
	failpoint.Inject(failpoint.RaftApplyAfter)
	return r
}

func (f failpointFSM) ApplyBatch(logs []*raft.Log) []interface{} {
	failpoint.Inject(failpoint.RaftApplyBefore)
	r := f.FSM.ApplyBatch(logs)
	failpoint.Inject(failpoint.RaftApplyAfter)
	return r
}

func (f failpointFSM) Snapshot() (raft.FSMSnapshot, error) {
	s, err := f.FSM.Snapshot()
	if err != nil {
		return nil, err
	}
	return failpointSnapshot{s}, nil
}

func (f failpointFSM) Restore(rc io.ReadCloser) error {
	failpoint.Inject(failpoint.SnapshotRestore)
	return f.FSM.Restore(rc)
}

type failpointSnapshot struct{ raft.FSMSnapshot }

func (s failpointSnapshot) Persist(sink raft.SnapshotSink) error {
	failpoint.Inject(failpoint.SnapshotPersist)
	return s.FSMSnapshot.Persist(sink)
}

// raftFSM is what Raft applies to: the FSM, with failpoints in a
// failpoints build.
func raftFSM(fsm *raftfsm.FSM) raft.FSM {
	if failpoint.Enabled {
		return failpointFSM{fsm}
	}
	return fsm
}
