package raftfsm

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
)

// LogVersion is the newest log version this binary applies.
//
// A log's version is replicated state, raised by SetLogVersion. Apply gives
// each command the meaning it had at the log's version, so a new binary
// replays an old log exactly as the old binary did, and a cluster being
// upgraded server by server never diverges: until every server runs a
// binary that knows version N, the leader does not raise the log to N, the
// new fields of existing commands are ignored as the old binaries ignore
// them, and the features that need new commands are refused.
//
//  1. the log before versions existed;
//  2. frameworks, roles and reservations (commands 10-15), task roles and
//     names, kill grace and reasons, health, job deployments and runs,
//     scaling without a new version (commands 16-19), node inactive state;
//  3. the cluster's secrets and credentials (commands 21-23).
const LogVersion = 3

// SetLogVersion raises the log's version. The leader writes it once every
// server advertises a binary that knows the version. A server applying a
// version newer than it knows stops: continuing would diverge.
type SetLogVersion struct {
	Version int `json:"version"`
}

func (SetLogVersion) Type() MessageType { return SetLogVersionType }

// logVersion is the version of the log applied so far (1 before any
// SetLogVersion).
func logVersion(txn *memdb.Txn) int {
	return max(currentMeta(txn).LogVersion, 1)
}

func applySetLogVersion(txn *memdb.Txn, c *SetLogVersion) *Result {
	if c.Version > LogVersion {
		panic(fmt.Sprintf("raftfsm: the log is at version %d, newer than this clusterd knows (%d): upgrade it", c.Version, LogVersion))
	}
	m := currentMeta(txn)
	if c.Version > max(m.LogVersion, 1) {
		m.LogVersion = c.Version
		mustInsert(txn, tableMeta, m)
	}
	return &Result{}
}

// LogVersion is the version of the log applied in this view.
func (v *View) LogVersion() int {
	if m := first[meta](v, tableMeta, "id", metaKey); m != nil && m.LogVersion > 1 {
		return m.LogVersion
	}
	return 1
}

// v1 is the spec as a version 1 log held it: the fields it had.
func (s JobSpec) v1() JobSpec {
	return JobSpec{ID: s.ID, Type: s.Type, Cmd: s.Cmd, Instances: s.Instances, Resources: s.Resources, Ports: s.Ports,
		Env: s.Env, Retries: s.Retries, KillGraceSeconds: s.KillGraceSeconds, Role: s.Role, Profile: s.Profile, User: s.User}
}

// v1 is the task as a version 1 log held it.
func (t Task) v1() Task {
	t.Role, t.Name, t.Run, t.KillReason, t.Healthy, t.Unacked, t.HealthChecks = "", "", 0, "", nil, nil, nil
	return t
}
