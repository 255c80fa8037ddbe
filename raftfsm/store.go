package raftfsm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	memdb "github.com/hashicorp/go-memdb"
)

const (
	tableMeta  = "meta"
	tableNodes = "nodes"
	tableJobs  = "jobs"
	tableTasks = "tasks"
	tableFWs   = "frameworks"
	tableRoles = "roles"
	// Log version 3: the CA and gossip keys (one row), join and API tokens.
	tableSecrets     = "secrets"
	tableCredentials = "credentials"

	metaKey = "cluster"
)

func isActive(obj interface{}) (bool, error) { return obj.(*Task).Active(), nil }

func hasUnacked(obj interface{}) (bool, error) { return len(obj.(*Task).Unacked) > 0, nil }

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableMeta: {Name: tableMeta, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
		}},
		tableNodes: {Name: tableNodes, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
		}},
		tableJobs: {Name: tableJobs, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &jobIDIndex{}},
		}},
		tableTasks: {Name: tableTasks, Indexes: map[string]*memdb.IndexSchema{
			"id":        {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			"job":       {Name: "job", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Job"}},
			"framework": {Name: "framework", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Framework"}},
			// framework_unacked finds the updates a framework still has to
			// acknowledge without scanning its acknowledged tasks.
			"framework_unacked": {Name: "framework_unacked", AllowMissing: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
				&memdb.StringFieldIndex{Field: "Framework"},
				&memdb.ConditionalIndex{Conditional: hasUnacked},
			}}},
			"active": {Name: "active", Indexer: &memdb.ConditionalIndex{Conditional: isActive}},
			// node_active answers "what should this agent be running" without
			// scanning the node's finished tasks.
			"node_active": {Name: "node_active", Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
				&memdb.StringFieldIndex{Field: "Node"},
				&memdb.ConditionalIndex{Conditional: isActive},
			}}},
		}},
		tableFWs: {Name: tableFWs, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
		}},
		tableRoles: {Name: tableRoles, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Name"}},
		}},
		tableSecrets: {Name: tableSecrets, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
		}},
		tableCredentials: {Name: tableCredentials, Indexes: map[string]*memdb.IndexSchema{
			"id":   {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			"kind": {Name: "kind", Indexer: &memdb.StringFieldIndex{Field: "Kind"}},
		}},
	}}
}

// jobIDIndex indexes jobs by Spec.ID (StringFieldIndex cannot reach nested fields).
type jobIDIndex struct{}

func (jobIDIndex) FromObject(obj interface{}) (bool, []byte, error) {
	id := obj.(*Job).Spec.ID
	return id != "", []byte(id + "\x00"), nil
}

func (jobIDIndex) FromArgs(args ...interface{}) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("job id index: want 1 argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("job id index: argument %T is not a string", args[0])
	}
	return []byte(s + "\x00"), nil
}

// View is a consistent, read-only snapshot of the replicated state at one
// applied index. Objects it returns are shared with the store: callers must
// not modify them.
type View struct {
	txn   *memdb.Txn
	index uint64
}

// Index is the Raft index of the last entry applied in this view.
func (v *View) Index() uint64 { return v.index }

// ClusterID is the cluster's id, or "" before the first entry is applied.
func (v *View) ClusterID() string {
	if m := first[meta](v, tableMeta, "id", metaKey); m != nil {
		return m.ClusterID
	}
	return ""
}

func first[T any](v *View, table, index string, args ...interface{}) *T {
	raw, err := v.txn.First(table, index, args...)
	if err != nil || raw == nil {
		return nil
	}
	return raw.(*T)
}

func all[T any](v *View, table, index string, args ...interface{}) []*T {
	it, err := v.txn.Get(table, index, args...)
	if err != nil {
		return nil
	}
	var out []*T
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*T))
	}
	return out
}

// Node returns a node by id, or nil.
func (v *View) Node(id string) *Node { return first[Node](v, tableNodes, "id", id) }

// Nodes returns every node, sorted by id.
func (v *View) Nodes() []*Node { return all[Node](v, tableNodes, "id") }

// Job returns a job by id, or nil.
func (v *View) Job(id string) *Job { return first[Job](v, tableJobs, "id", id) }

// Jobs returns every job, sorted by id.
func (v *View) Jobs() []*Job { return all[Job](v, tableJobs, "id") }

// Task returns a task by id, or nil.
func (v *View) Task(id string) *Task { return first[Task](v, tableTasks, "id", id) }

// Tasks returns every task, sorted by id.
func (v *View) Tasks() []*Task { return all[Task](v, tableTasks, "id") }

// TasksOfJob returns a job's tasks, active and terminal.
func (v *View) TasksOfJob(job string) []*Task { return all[Task](v, tableTasks, "job", job) }

// ActiveTasks returns the tasks that hold resources.
func (v *View) ActiveTasks() []*Task { return all[Task](v, tableTasks, "active", true) }

// ActiveTasksOnNode returns the tasks an agent should be running (or
// starting, or killing).
func (v *View) ActiveTasksOnNode(node string) []*Task {
	return all[Task](v, tableTasks, "node_active", node, true)
}

// TasksOfFramework returns a framework's tasks, active and terminal.
func (v *View) TasksOfFramework(fw string) []*Task {
	return all[Task](v, tableTasks, "framework", fw)
}

// UnackedTasksOfFramework returns the tasks with status updates the
// framework has not acknowledged.
func (v *View) UnackedTasksOfFramework(fw string) []*Task {
	return all[Task](v, tableTasks, "framework_unacked", fw, true)
}

// Framework returns a framework (possibly removed) by id, or nil.
func (v *View) Framework(id string) *Framework { return first[Framework](v, tableFWs, "id", id) }

// Frameworks returns every framework, removed ones included, sorted by id.
func (v *View) Frameworks() []*Framework { return all[Framework](v, tableFWs, "id") }

// Role returns a role's configuration, or nil when it has only defaults.
func (v *View) Role(name string) *Role { return first[Role](v, tableRoles, "id", name) }

// Roles returns every role with a weight or quota set, sorted by name.
func (v *View) Roles() []*Role { return all[Role](v, tableRoles, "id") }

// Digest is a hash of the whole state (cluster id, nodes, jobs, tasks,
// frameworks, roles, secrets and credentials), equal on every server that applied the same log. Tests
// compare it across servers and across snapshot/restore.
func (v *View) Digest() string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode(v.ClusterID())
	if n := logVersionOf(v); n > 0 {
		_ = enc.Encode(n) // absent at version 1: old digests stay the same
	}
	for _, n := range v.Nodes() {
		_ = enc.Encode(n)
	}
	for _, j := range v.Jobs() {
		_ = enc.Encode(j)
	}
	for _, t := range v.Tasks() {
		_ = enc.Encode(t)
	}
	for _, f := range v.Frameworks() {
		_ = enc.Encode(f)
	}
	for _, r := range v.Roles() {
		_ = enc.Encode(r)
	}
	// Absent before version 3, so older states keep their digests.
	if s := v.ClusterSecrets(); s != nil {
		_ = enc.Encode(s)
	}
	for _, c := range v.Credentials("") {
		_ = enc.Encode(c)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sortTasks orders tasks by id; memdb iteration already is, this is for
// slices assembled from several queries.
func newView(txn *memdb.Txn) *View {
	v := &View{txn: txn}
	if m := first[meta](v, tableMeta, "id", metaKey); m != nil {
		v.index = m.Index
	}
	return v
}

func sortTasks(ts []*Task) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
}
