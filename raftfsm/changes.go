package raftfsm

import memdb "github.com/hashicorp/go-memdb"

// Tables a Change can name.
const (
	ChangedNode      = tableNodes
	ChangedJob       = tableJobs
	ChangedTask      = tableTasks
	ChangedFramework = tableFWs
	ChangedRole      = tableRoles
)

// Change is one object that a batch of applied entries created, changed or
// deleted. Before and After are *Node, *Job, *Task, *Framework or *Role
// (by Table), shared with the store: do not modify them. Before is nil for a
// new object, After for a deleted one.
type Change struct {
	Table  string
	Before any
	After  any
}

// maxFeedChanges bounds the changes kept for readers that fell behind. Each
// holds two versions of an object; a reader further behind reads the whole
// state again instead.
const maxFeedChanges = 1 << 16

type changeBatch struct {
	index   uint64
	changes []Change
}

// changeFeed keeps the changes of the latest applied batches, for readers
// that follow the state change by change (the operator event stream).
type changeFeed struct {
	batches []changeBatch
	total   int
	// dropped is the index of the newest batch no longer kept: a reader
	// whose position is older than it missed changes.
	dropped uint64
}

func (f *changeFeed) add(index uint64, mc memdb.Changes) {
	var out []Change
	for _, c := range mc {
		if c.Table == tableMeta {
			continue
		}
		out = append(out, Change{Table: c.Table, Before: c.Before, After: c.After})
	}
	if len(out) == 0 {
		return
	}
	f.batches = append(f.batches, changeBatch{index: index, changes: out})
	f.total += len(out)
	for f.total > maxFeedChanges && len(f.batches) > 1 {
		f.dropped = f.batches[0].index
		f.total -= len(f.batches[0].changes)
		f.batches[0] = changeBatch{}
		f.batches = f.batches[1:]
	}
}

// reset forgets every change: the state was replaced up to index.
func (f *changeFeed) reset(index uint64) {
	*f = changeFeed{dropped: index}
}

func (f *changeFeed) since(index uint64) ([]Change, uint64, bool) {
	if index < f.dropped {
		return nil, index, false
	}
	var out []Change
	through := index
	for _, b := range f.batches {
		if b.index > index {
			out = append(out, b.changes...)
			through = b.index
		}
	}
	return out, through, true
}
