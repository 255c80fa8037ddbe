package raftfsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
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
	if logVersion(txn) < 2 {
		n.Reserved, n.Dynamic = nil, nil
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
	switch {
	case c.State == NodeReady || c.State == NodeDraining || c.State == NodeDown || c.State == NodeLeft:
	case c.State == NodeInactive && logVersion(txn) >= 2:
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
	if logVersion(txn) < 2 {
		s.Source, s.Healthy = "", nil // not in a version 1 log
		t.History = appendBounded(t.History, s, maxHistory)
		return
	}
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
	if logVersion(txn) < 2 {
		return applyUpsertJobV1(txn, c)
	}
	j := &Job{Spec: c.Spec, Version: 1, CreatedAt: c.At, UpdatedAt: c.At}
	if raw, _ := txn.First(tableJobs, "id", c.Spec.ID); raw != nil {
		old := raw.(*Job)
		j.CreatedAt = old.CreatedAt
		j.Deployments = slices.Clone(old.Deployments)
		j.Runs = slices.Clone(old.Runs)
		j.LastScheduled = old.LastScheduled
		if sameButInstances(old.Spec, c.Spec) {
			// Only the instance count changed: a scale, not a new version.
			j.Version = old.Version
			mustInsert(txn, tableJobs, j)
			return &Result{JobVersion: j.Version}
		}
		j.Version = old.Version + 1
	}
	startVersion(txn, j, c.At)
	mustInsert(txn, tableJobs, j)
	return &Result{JobVersion: j.Version}
}

// applyUpsertJobV1 is UpsertJob in a version 1 log: every change is a new
// version, and only the fields of then are kept.
func applyUpsertJobV1(txn *memdb.Txn, c *UpsertJob) *Result {
	j := &Job{Spec: c.Spec.v1(), Version: 1, CreatedAt: c.At, UpdatedAt: c.At}
	if raw, _ := txn.First(tableJobs, "id", c.Spec.ID); raw != nil {
		old := raw.(*Job)
		j.CreatedAt = old.CreatedAt
		j.Version = old.Version + 1
	}
	mustInsert(txn, tableJobs, j)
	return &Result{JobVersion: j.Version}
}

// sameButInstances reports whether two specs differ at most in their
// instance count.
func sameButInstances(a, b JobSpec) bool {
	a.Instances, b.Instances = 0, 0
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// startVersion records what a new version of a job starts: a service's
// deployment, a batch job's run (unless it waits for parents). A cron job's
// runs come from its schedule.
func startVersion(txn *memdb.Txn, j *Job, at time.Time) {
	switch j.Spec.Type {
	case JobService:
		for i := range j.Deployments {
			if d := &j.Deployments[i]; d.State == DeploymentRunning {
				d.State, d.FinishedAt = DeploymentSuperseded, at
			}
		}
		j.Deployments = appendCapped(j.Deployments, Deployment{Version: j.Version, State: DeploymentRunning, StartedAt: at}, maxDeployments)
	case JobBatch:
		if len(j.Spec.Parents) == 0 {
			startRun(txn, j, Run{Version: j.Version, Trigger: TriggerSubmit, State: RunRunning, StartedAt: at}, true, at)
		}
	}
}

// startRun appends a run, numbered after the latest; with replace, runs
// still running are superseded and their active tasks asked to stop.
func startRun(txn *memdb.Txn, j *Job, r Run, replace bool, at time.Time) int {
	if replace {
		for i := range j.Runs {
			if old := &j.Runs[i]; old.State == RunRunning {
				old.State, old.FinishedAt, old.Message = RunSuperseded, at, "a newer run took over"
				for _, t := range tasksOfJob(txn, j.Spec.ID) {
					if t.Run == old.Number {
						requestKill(txn, t, nil, "superseded by a newer run", at)
					}
				}
			}
		}
	}
	r.Number = 1
	if cur := j.CurrentRun(); cur != nil {
		r.Number = cur.Number + 1
	}
	j.Runs = appendCapped(j.Runs, r, maxRuns)
	return r.Number
}

// appendCapped appends v, dropping the oldest entries beyond limit. It
// copies: the old slice is shared with older versions of the job.
func appendCapped[T any](s []T, v T, limit int) []T {
	if len(s) >= limit {
		s = s[len(s)-limit+1:]
	}
	out := make([]T, 0, len(s)+1)
	return append(append(out, s...), v)
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
		requestKill(txn, t, nil, "", c.At)
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
// when one is given, and the reason for the kill (the first one given
// stays). Even a task still in STAGING is not declared killed here: its
// agent may be starting it at this moment, so only the agent, which knows,
// reports TASK_KILLED.
func requestKill(txn *memdb.Txn, t *Task, grace *float64, reason string, at time.Time) bool {
	if !t.Active() || (t.KillRequested && grace == nil) {
		return false
	}
	nt := *t
	nt.KillRequested = true
	if grace != nil {
		nt.KillGraceSeconds = *grace
	}
	if nt.KillReason == "" {
		nt.KillReason = reason
	}
	nt.UpdatedAt = at
	mustInsert(txn, tableTasks, &nt)
	return true
}

func applyLaunchTasks(txn *memdb.Txn, c *LaunchTasks) *Result {
	res := &Result{}
	v1 := logVersion(txn) < 2
	for i := range c.Tasks {
		t := c.Tasks[i]
		if v1 {
			t = t.v1()
		}
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
	v1 := logVersion(txn) < 2
	for i, u := range c.Updates {
		raw, _ := txn.First(tableTasks, "id", u.TaskID)
		if raw == nil {
			res.Rejected++
			continue
		}
		t := raw.(*Task)
		if v1 {
			u.Healthy = nil // not in a version 1 log
		}
		rank := stateRank(u.State)
		healthChange := u.Healthy != nil && (t.Healthy == nil || *t.Healthy != *u.Healthy)
		if rank < 0 || !t.Active() || rank < stateRank(t.State) || (u.State == t.State && u.Message == t.Message && !healthChange) {
			// Unknown state, a task that already ended, an update that
			// arrived out of order, or a retransmission: nothing changes.
			res.Rejected++
			continue
		}
		nt := *t
		nt.State = u.State
		if u.Healthy == nil || u.Message != "" || u.State != t.State {
			nt.Message = u.Message // a health report keeps the task's message
		}
		nt.Reason = u.Reason
		nt.ExitCode = u.ExitCode
		if u.Healthy != nil {
			nt.Healthy = u.Healthy
		}
		nt.UpdatedAt = u.At
		transition(txn, &nt, TaskStatus{State: u.State, Time: u.At, Message: nt.Message, Reason: u.Reason, ExitCode: u.ExitCode, Healthy: u.Healthy}, index, i)
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
		grace, reason := c.GraceSeconds, c.Reason
		if logVersion(txn) < 2 {
			grace, reason = nil, "" // not in a version 1 log
		}
		requestKill(txn, raw.(*Task), grace, reason, c.At)
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
