package raftfsm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
)

// snapshotVersion is written in every snapshot header. Restore accepts every
// version up to it; bump it only with a decoder for the old layout kept.
// Version 2 added frameworks and roles; version 3 jobs' deployments and
// runs, which an older binary would silently drop; version 4 the cluster's
// secrets and credentials.
const snapshotVersion = 4

// A snapshot is a stream of JSON records, one per line: a header, then one
// record per object. Streaming keeps memory flat for large clusters.
type snapshotHeader struct {
	Version    int    `json:"version"`
	ClusterID  string `json:"cluster_id"`
	Index      uint64 `json:"index"`
	LogVersion int    `json:"log_version,omitempty"`
}

type snapshotRecord struct {
	Node      *Node      `json:"node,omitempty"`
	Job       *Job       `json:"job,omitempty"`
	Task      *Task      `json:"task,omitempty"`
	Framework *Framework `json:"framework,omitempty"`
	Role      *Role      `json:"role,omitempty"`
	// Version 4.
	Secrets    *ClusterSecrets `json:"secrets,omitempty"`
	Credential *Credential     `json:"credential,omitempty"`
}

type fsmSnapshot struct {
	view *View
}

// Snapshot captures the current state cheaply (a memdb read transaction is an
// immutable tree); the encoding happens in Persist, concurrently with Apply.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{view: f.View()}, nil
}

// Persist writes the snapshot to the sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.encode(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

// encode writes the snapshot to w.
func (s *fsmSnapshot) encode(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	v := s.view
	if err := enc.Encode(snapshotHeader{Version: headerVersion(v), ClusterID: v.ClusterID(), Index: v.Index(), LogVersion: logVersionOf(v)}); err != nil {
		return err
	}
	for _, n := range v.Nodes() {
		if err := enc.Encode(snapshotRecord{Node: n}); err != nil {
			return err
		}
	}
	for _, j := range v.Jobs() {
		if err := enc.Encode(snapshotRecord{Job: j}); err != nil {
			return err
		}
	}
	for _, t := range v.Tasks() {
		if err := enc.Encode(snapshotRecord{Task: t}); err != nil {
			return err
		}
	}
	for _, f := range v.Frameworks() {
		if err := enc.Encode(snapshotRecord{Framework: f}); err != nil {
			return err
		}
	}
	for _, r := range v.Roles() {
		if err := enc.Encode(snapshotRecord{Role: r}); err != nil {
			return err
		}
	}
	if s := v.ClusterSecrets(); s != nil {
		if err := enc.Encode(snapshotRecord{Secrets: s}); err != nil {
			return err
		}
	}
	for _, c := range v.Credentials("") {
		if err := enc.Encode(snapshotRecord{Credential: c}); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// headerVersion is the oldest snapshot version that holds v: until the log
// reaches version 3 there are no secrets or credentials, and a version 3
// header lets a server not yet upgraded (in a rolling upgrade) restore the
// snapshot a new leader sends it.
func headerVersion(v *View) int {
	if v.LogVersion() < 3 {
		return 3
	}
	return snapshotVersion
}

// logVersionOf is the view's raised log version, 0 for version 1 (so a
// version 1 state writes the same header as before versions existed).
func logVersionOf(v *View) int {
	if n := v.LogVersion(); n > 1 {
		return n
	}
	return 0
}

// Release is a no-op: the view holds no resources.
func (s *fsmSnapshot) Release() {}

// Restore replaces the whole state with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	txn := db.Txn(true)
	dec := json.NewDecoder(bufio.NewReaderSize(rc, 64<<10))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return fmt.Errorf("restore snapshot: header: %w", err)
	}
	if h.Version < 1 || h.Version > snapshotVersion {
		return fmt.Errorf("restore snapshot: version %d is newer than this clusterd understands (%d); upgrade it", h.Version, snapshotVersion)
	}
	if h.LogVersion > LogVersion {
		return fmt.Errorf("restore snapshot: its log is at version %d, newer than this clusterd knows (%d); upgrade it", h.LogVersion, LogVersion)
	}
	mustInsert(txn, tableMeta, &meta{Key: metaKey, ClusterID: h.ClusterID, Index: h.Index, LogVersion: h.LogVersion})
	for n := 0; ; n++ {
		var rec snapshotRecord
		if err := dec.Decode(&rec); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("restore snapshot: record %d: %w", n, err)
		}
		// A snapshot comes from outside too (a restored backup): a record
		// memdb cannot index is an error, never a panic.
		var table string
		var obj any
		switch {
		case rec.Node != nil:
			table, obj = tableNodes, rec.Node
		case rec.Job != nil:
			table, obj = tableJobs, rec.Job
		case rec.Task != nil:
			table, obj = tableTasks, rec.Task
		case rec.Framework != nil:
			table, obj = tableFWs, rec.Framework
		case rec.Role != nil:
			table, obj = tableRoles, rec.Role
		case rec.Secrets != nil:
			table, obj = tableSecrets, &secretsRow{Key: secretsKey, ClusterSecrets: *rec.Secrets}
		case rec.Credential != nil:
			table, obj = tableCredentials, rec.Credential
		default:
			txn.Abort()
			return fmt.Errorf("restore snapshot: record %d is empty", n)
		}
		if err := txn.Insert(table, obj); err != nil {
			txn.Abort()
			return fmt.Errorf("restore snapshot: record %d (%s): %w", n, table, err)
		}
	}
	txn.Commit()
	f.mu.Lock()
	f.db = db
	f.feed.reset(h.Index)
	f.mu.Unlock()
	f.notify()
	return nil
}

// WriteSnapshot writes the view in the snapshot format Raft persists: a
// backup that Restore, or a cluster's restore, takes back.
func WriteSnapshot(v *View, w io.Writer) error {
	return (&fsmSnapshot{view: v}).encode(w)
}

// SnapshotSummary describes a snapshot: whose state it is, from which
// index, and how much of it there is.
type SnapshotSummary struct {
	ClusterID  string `json:"cluster_id"`
	Index      uint64 `json:"index"`
	LogVersion int    `json:"log_version"`
	Nodes      int    `json:"nodes"`
	Jobs       int    `json:"jobs"`
	Tasks      int    `json:"tasks"`
	Frameworks int    `json:"frameworks"`
}

// ReadSnapshot checks a snapshot by restoring it into a new FSM (the same
// code a restore runs, so a snapshot it accepts restores) and summarizes it.
func ReadSnapshot(r io.Reader) (SnapshotSummary, error) {
	f := New()
	if err := f.Restore(io.NopCloser(r)); err != nil {
		return SnapshotSummary{}, err
	}
	v := f.View()
	return SnapshotSummary{ClusterID: v.ClusterID(), Index: v.Index(), LogVersion: v.LogVersion(), Nodes: len(v.Nodes()),
		Jobs: len(v.Jobs()), Tasks: len(v.Tasks()), Frameworks: len(v.Frameworks())}, nil
}
