package raftfsm

import (
	"fmt"
	"sync"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
)

// Result is what applying one log entry did. The leader uses it to keep its
// soft state (the allocator) in step with the log without re-reading it.
type Result struct {
	// Err is set when the command was rejected as a whole.
	Err error
	// Ended are tasks that became terminal in this entry: their resources are free.
	Ended []*Task
	// Launched are tasks this entry created.
	Launched []*Task
	// Rejected counts parts of the command that were skipped (a duplicate
	// task id, an update for an unknown task).
	Rejected int
	// JobVersion is the new version after UpsertJob.
	JobVersion uint64
	// Framework is the framework after SubscribeFramework.
	Framework *Framework
	// Killed are the active tasks RemoveFramework marked for killing.
	Killed []*Task
	// Run is the number of the run StartRun started.
	Run int
}

// FSM is clusterd's raft.FSM (and raft.BatchingFSM). Reads go through View,
// which never blocks Apply.
type FSM struct {
	db *memdb.MemDB

	mu      sync.Mutex
	changed chan struct{} // closed and replaced after every applied batch
	feed    changeFeed
}

var _ raft.BatchingFSM = (*FSM)(nil)

// New returns an empty FSM.
func New() *FSM {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		// The schema is a constant; an error here is a programming error.
		panic(fmt.Sprintf("raftfsm schema: %v", err))
	}
	return &FSM{db: db, changed: make(chan struct{})}
}

// View returns a consistent read-only view of the current state.
func (f *FSM) View() *View {
	f.mu.Lock()
	db := f.db
	f.mu.Unlock()
	return newView(db.Txn(false))
}

// Changed returns a channel that is closed the next time state changes.
// Take it before reading a View, then wait on it: no change is missed.
func (f *FSM) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *FSM) notify() {
	f.mu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// Apply applies one committed log entry.
func (f *FSM) Apply(l *raft.Log) interface{} {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries in one memdb transaction, so a burst
// of status updates costs one commit and one change notification.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	f.mu.Lock()
	db := f.db
	f.mu.Unlock()
	txn := db.Txn(true)
	txn.TrackChanges()
	out := make([]interface{}, len(logs))
	var last uint64
	for i, l := range logs {
		last = l.Index
		if l.Type != raft.LogCommand {
			out[i] = &Result{}
			continue
		}
		out[i] = applyEntry(txn, l.Data, l.Index)
	}
	if last != 0 {
		m := currentMeta(txn)
		m.Index = last
		mustInsert(txn, tableMeta, m)
	}
	changes := txn.Changes()
	txn.Commit()
	f.mu.Lock()
	f.feed.add(last, changes)
	f.mu.Unlock()
	f.notify()
	return out
}

// ChangesSince returns the objects changed by the batches applied after
// index, oldest first, and the index they bring the caller to. ok is false
// when some of those changes are no longer kept (the caller fell too far
// behind, or a snapshot was restored): it must read the whole state again.
func (f *FSM) ChangesSince(index uint64) (changes []Change, through uint64, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.feed.since(index)
}

// applyEntry decodes and applies one command. A command type this binary
// does not know panics unless it is flagged ignorable: continuing would let
// this server's state silently diverge from its peers'.
func applyEntry(txn *memdb.Txn, data []byte, index uint64) *Result {
	cmd, err := Decode(data)
	if err != nil {
		if u, ok := err.(ErrUnknownCommand); ok && u.Type&IgnoreUnknownFlag != 0 {
			return &Result{Err: err}
		}
		panic(fmt.Sprintf("raftfsm: cannot apply log entry: %v", err))
	}
	return applyCommand(txn, cmd, index)
}

// applyCommand dispatches to one small apply function per command type.
// index is the entry's Raft index: status update ids derive from it, so
// every server computes the same ones.
func applyCommand(txn *memdb.Txn, cmd Command, index uint64) *Result {
	switch c := cmd.(type) {
	case *SetClusterID:
		return applySetClusterID(txn, c)
	case *RegisterNode:
		return applyRegisterNode(txn, c)
	case *SetNodeState:
		return applySetNodeState(txn, c, index)
	case *UpsertJob:
		return applyUpsertJob(txn, c)
	case *DeleteJob:
		return applyDeleteJob(txn, c)
	case *LaunchTasks:
		return applyLaunchTasks(txn, c)
	case *TaskStatusBatch:
		return applyTaskStatus(txn, c, index)
	case *KillTasks:
		return applyKillTasks(txn, c)
	case *ForgetTasks:
		return applyForgetTasks(txn, c)
	case *SubscribeFramework:
		return applySubscribeFramework(txn, c)
	case *DisconnectFramework:
		return applyDisconnectFramework(txn, c)
	case *RemoveFramework:
		return applyRemoveFramework(txn, c)
	case *Acknowledge:
		return applyAcknowledge(txn, c)
	case *UpdateRoles:
		return applyUpdateRoles(txn, c)
	case *ReserveResources:
		return applyReserveResources(txn, c)
	case *ScaleJob:
		return applyScaleJob(txn, c)
	case *StartRun:
		return applyStartRun(txn, c)
	case *EndRun:
		return applyEndRun(txn, c)
	case *EndDeployment:
		return applyEndDeployment(txn, c)
	case *SetLogVersion:
		return applySetLogVersion(txn, c)
	case *SetClusterSecrets:
		return applySetClusterSecrets(txn, c)
	case *PutCredential:
		return applyPutCredential(txn, c)
	case *DeleteCredential:
		return applyDeleteCredential(txn, c)
	}
	return &Result{Err: fmt.Errorf("no apply function for %T", cmd)}
}

// mustInsert panics on a memdb error: those only come from schema misuse,
// and a half-applied entry must never be committed.
func mustInsert(txn *memdb.Txn, table string, obj interface{}) {
	if err := txn.Insert(table, obj); err != nil {
		panic(fmt.Sprintf("raftfsm: insert into %s: %v", table, err))
	}
}

func currentMeta(txn *memdb.Txn) *meta {
	raw, _ := txn.First(tableMeta, "id", metaKey)
	if raw == nil {
		return &meta{Key: metaKey}
	}
	m := *raw.(*meta)
	return &m
}
