package raftfsm

import (
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
		if old.State == NodeDraining && n.State == NodeReady {
			n.State = NodeDraining // re-registering (a restart) never undoes a drain
		}
	}
	if n.State == "" {
		n.State = NodeReady
	}
	mustInsert(txn, tableNodes, &n)
	return &Result{}
}

func applySetNodeState(txn *memdb.Txn, c *SetNodeState) *Result {
	raw, _ := txn.First(tableNodes, "id", c.ID)
	if raw == nil {
		return &Result{Err: fmt.Errorf("node %s not found", c.ID)}
	}
	switch c.State {
	case NodeReady, NodeDraining, NodeDown, NodeLeft:
	default:
		return &Result{Err: fmt.Errorf("node state %q is not one of ready, draining, down, left", c.State)}
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
	for _, t := range lost {
		nt := *t
		nt.State, nt.Message, nt.Reason, nt.UpdatedAt = TaskLost, msg, ReasonAgentLost, c.At
		nt.History = appendHistory(t.History, TaskStatus{State: TaskLost, Time: c.At, Message: msg, Reason: ReasonAgentLost})
		mustInsert(txn, tableTasks, &nt)
		res.Ended = append(res.Ended, &nt)
	}
	return res
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
		requestKill(txn, t, c.At)
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

// requestKill marks an active task for killing. Even a task still in
// STAGING is not declared killed here: its agent may be starting it at this
// moment, so only the agent, which knows, reports TASK_KILLED.
func requestKill(txn *memdb.Txn, t *Task, at time.Time) {
	if !t.Active() || t.KillRequested {
		return
	}
	nt := *t
	nt.KillRequested = true
	nt.UpdatedAt = at
	mustInsert(txn, tableTasks, &nt)
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

func applyTaskStatus(txn *memdb.Txn, c *TaskStatusBatch) *Result {
	res := &Result{}
	for _, u := range c.Updates {
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
		nt.History = appendHistory(t.History, TaskStatus{State: u.State, Time: u.At, Message: u.Message, Reason: u.Reason, ExitCode: u.ExitCode})
		mustInsert(txn, tableTasks, &nt)
		if !nt.Active() {
			res.Ended = append(res.Ended, &nt)
		}
	}
	return res
}

// appendHistory copies, because the old slice is shared with older versions
// of the task that readers may still hold.
func appendHistory(h []TaskStatus, s TaskStatus) []TaskStatus {
	start := 0
	if len(h) >= maxHistory {
		// Keep the first entry (STAGING: when it was created) and the newest.
		start = len(h) - maxHistory + 2
		out := make([]TaskStatus, 0, maxHistory)
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
		requestKill(txn, raw.(*Task), c.At)
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
