package raftfsm

import (
	"crypto/sha256"
	"fmt"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

func applySetClusterID(txn *memdb.Txn, c *SetClusterID) *Result {
	m := currentMeta(txn)
	if m.ClusterID != "" {
		if m.ClusterID == c.ClusterID {
			return &Result{}
		}
		return &Result{Err: fmt.Errorf("cluster id is already %s", m.ClusterID)}
	}
	m.ClusterID = c.ClusterID
	mustInsert(txn, tableMeta, m)
	return &Result{}
}

func applyRegisterNode(txn *memdb.Txn, c *RegisterNode) *Result {
	if c.Node.ID == "" {
		return &Result{Err: fmt.Errorf("register node: empty id")}
	}
	n := c.Node
	n.UpdatedAt = c.At
	n.RegisteredAt = c.At
	if raw, _ := txn.First(tableNodes, "id", n.ID); raw != nil {
		old := raw.(*Node)
		n.RegisteredAt = old.RegisteredAt
		if (old.State == NodeDraining || old.State == NodeInactive) && n.State == NodeReady {
			n.State = old.State // re-registering (a restart) never undoes a drain or a deactivation
		}
		// The agent does not know its dynamic reservations: keep those
		// that still fit beside its static ones.
		n.Dynamic = fitDynamic(n.Total, n.Reserved, old.Dynamic)
	}
	if n.State == "" {
		n.State = NodeReady
	}
	mustInsert(txn, tableNodes, &n)
	return &Result{}
}

func applySetNodeState(txn *memdb.Txn, c *SetNodeState, index uint64) *Result {
	raw, _ := txn.First(tableNodes, "id", c.ID)
	if raw == nil {
		return &Result{Err: fmt.Errorf("node %s not found", c.ID)}
	}
	switch c.State {
	case NodeReady, NodeInactive, NodeDraining, NodeDown, NodeLeft:
	default:
		return &Result{Err: fmt.Errorf("node state %q is not one of ready, inactive, draining, down, left", c.State)}
	}
	n := *raw.(*Node)
	if n.State == c.State {
		return &Result{}
	}
	n.State = c.State
	n.UpdatedAt = c.At
	mustInsert(txn, tableNodes, &n)
	res := &Result{}
	if c.State != NodeDown && c.State != NodeLeft {
		return res
	}
	// The node's tasks are gone with it (or, if it is only cut off, will be
	// killed when it comes back): they are lost, and their frameworks
	// replace them elsewhere.
	msg := c.Reason
	if msg == "" {
		msg = fmt.Sprintf("node %s (%s) is %s", n.Name, n.ID, c.State)
	}
	it, err := txn.Get(tableTasks, "node_active", c.ID, true)
	if err != nil {
		panic(fmt.Sprintf("raftfsm: tasks of node %s: %v", c.ID, err))
	}
	var lost []*Task
	for obj := it.Next(); obj != nil; obj = it.Next() {
		lost = append(lost, obj.(*Task))
	}
	for i, t := range lost {
		nt := *t
		nt.State, nt.Message, nt.Reason, nt.UpdatedAt = TaskLost, msg, ReasonAgentLost, c.At
		transition(txn, &nt, TaskStatus{State: TaskLost, Time: c.At, Message: msg, Reason: ReasonAgentLost, Source: SourceMaster}, index, i)
		mustInsert(txn, tableTasks, &nt)
		res.Ended = append(res.Ended, &nt)
	}
	return res
}

// transition records a task's new status in its history and, for a task of
// a subscribed framework, among the updates that framework must
// acknowledge, with an id derived from the entry's index and the update's
// position in it (n), the same on every server.
func transition(txn *memdb.Txn, t *Task, s TaskStatus, index uint64, n int) {
	if fw := frameworkOf(txn, t.Framework); fw != nil && !fw.Removed() &&
		(s.State != TaskKilling || fw.HasCapability(CapabilityTaskKillingState)) {
		s.UUID = statusUUID(index, t.ID, n)
		t.Unacked = appendBounded(t.Unacked, s, maxUnacked)
	}
	t.History = appendBounded(t.History, s, maxHistory)
}

// CapabilityTaskKillingState is the Mesos framework capability to receive
// TASK_KILLING updates; frameworks without it are not sent them.
const CapabilityTaskKillingState = "TASK_KILLING_STATE"

// statusUUID is a version-4-shaped UUID that every server derives alike.
func statusUUID(index uint64, taskID string, n int) []byte {
	sum := sha256.Sum256([]byte(fmt.Sprintf("status\x00%d\x00%s\x00%d", index, taskID, n)))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

func frameworkOf(txn *memdb.Txn, id string) *Framework {
	if id == "" {
		return nil
	}
	raw, _ := txn.First(tableFWs, "id", id)
	if raw == nil {
		return nil
	}
	return raw.(*Framework)
}

func applyUpsertJob(txn *memdb.Txn, c *UpsertJob) *Result {
	if c.Spec.ID == "" {
		return &Result{Err: fmt.Errorf("upsert job: empty id")}
	}
	j := &Job{Spec: c.Spec, Version: 1, CreatedAt: c.At, UpdatedAt: c.At}
	if raw, _ := txn.First(tableJobs, "id", c.Spec.ID); raw != nil {
		old := raw.(*Job)
		j.CreatedAt = old.CreatedAt
		j.Version = old.Version + 1
	}
	mustInsert(txn, tableJobs, j)
	return &Result{JobVersion: j.Version}
}

func applyDeleteJob(txn *memdb.Txn, c *DeleteJob) *Result {
	raw, _ := txn.First(tableJobs, "id", c.ID)
	if raw == nil {
		return &Result{Err: fmt.Errorf("job %s not found", c.ID)}
	}
	if err := txn.Delete(tableJobs, raw); err != nil {
		panic(fmt.Sprintf("raftfsm: delete job %s: %v", c.ID, err))
	}
	for _, t := range tasksOfJob(txn, c.ID) {
		requestKill(txn, t, nil, c.At)
	}
	return &Result{}
}

func tasksOfJob(txn *memdb.Txn, job string) []*Task {
	it, err := txn.Get(tableTasks, "job", job)
	if err != nil {
		return nil
	}
	var out []*Task
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*Task))
	}
	return out
}

// requestKill marks an active task for killing, with a new grace period
// when one is given. Even a task still in STAGING is not declared killed
// here: its agent may be starting it at this moment, so only the agent,
// which knows, reports TASK_KILLED.
func requestKill(txn *memdb.Txn, t *Task, grace *float64, at time.Time) bool {
	if !t.Active() || (t.KillRequested && grace == nil) {
		return false
	}
	nt := *t
	nt.KillRequested = true
	if grace != nil {
		nt.KillGraceSeconds = *grace
	}
	nt.UpdatedAt = at
	mustInsert(txn, tableTasks, &nt)
	return true
}

func applyLaunchTasks(txn *memdb.Txn, c *LaunchTasks) *Result {
	res := &Result{}
	for i := range c.Tasks {
		t := c.Tasks[i]
		if t.ID == "" || t.Node == "" {
			res.Rejected++
			continue
		}
		if raw, _ := txn.First(tableTasks, "id", t.ID); raw != nil {
			res.Rejected++
			continue
		}
		t.State = TaskStaging
		t.CreatedAt = c.At
		t.UpdatedAt = c.At
		t.History = []TaskStatus{{State: TaskStaging, Time: c.At}}
		mustInsert(txn, tableTasks, &t)
		res.Launched = append(res.Launched, &t)
	}
	return res
}

func applyTaskStatus(txn *memdb.Txn, c *TaskStatusBatch, index uint64) *Result {
	res := &Result{}
	for i, u := range c.Updates {
		raw, _ := txn.First(tableTasks, "id", u.TaskID)
		if raw == nil {
			res.Rejected++
			continue
		}
		t := raw.(*Task)
		rank := stateRank(u.State)
		if rank < 0 || !t.Active() || rank < stateRank(t.State) || (u.State == t.State && u.Message == t.Message) {
			// Unknown state, a task that already ended, an update that
			// arrived out of order, or a retransmission: nothing changes.
			res.Rejected++
			continue
		}
		nt := *t
		nt.State = u.State
		nt.Message = u.Message
		nt.Reason = u.Reason
		nt.ExitCode = u.ExitCode
		nt.UpdatedAt = u.At
		transition(txn, &nt, TaskStatus{State: u.State, Time: u.At, Message: u.Message, Reason: u.Reason, ExitCode: u.ExitCode}, index, i)
		mustInsert(txn, tableTasks, &nt)
		if !nt.Active() {
			res.Ended = append(res.Ended, &nt)
		}
	}
	return res
}

// appendBounded appends s to a history or an update queue of at most limit
// entries. It copies, because the old slice is shared with older versions
// of the task that readers may still hold.
func appendBounded(h []TaskStatus, s TaskStatus, limit int) []TaskStatus {
	if len(h) >= limit {
		// Keep the first entry (STAGING: when it was created; or the update
		// in flight) and the newest.
		start := len(h) - limit + 2
		out := make([]TaskStatus, 0, limit)
		out = append(out, h[0])
		out = append(out, h[start:]...)
		return append(out, s)
	}
	out := make([]TaskStatus, 0, len(h)+1)
	out = append(out, h...)
	return append(out, s)
}

func applyKillTasks(txn *memdb.Txn, c *KillTasks) *Result {
	res := &Result{}
	for _, id := range c.IDs {
		raw, _ := txn.First(tableTasks, "id", id)
		if raw == nil || !raw.(*Task).Active() {
			res.Rejected++
			continue
		}
		requestKill(txn, raw.(*Task), c.GraceSeconds, c.At)
	}
	return res
}

func applyForgetTasks(txn *memdb.Txn, c *ForgetTasks) *Result {
	res := &Result{}
	for _, id := range c.IDs {
		raw, _ := txn.First(tableTasks, "id", id)
		if raw == nil || raw.(*Task).Active() {
			res.Rejected++
			continue
		}
		if err := txn.Delete(tableTasks, raw); err != nil {
			panic(fmt.Sprintf("raftfsm: delete task %s: %v", id, err))
		}
	}
	return res
}
