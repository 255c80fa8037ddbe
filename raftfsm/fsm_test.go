package raftfsm

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// applier feeds commands to an FSM as raft would, with increasing indexes.
type applier struct {
	t     testing.TB
	fsm   *FSM
	index uint64
}

// newApplier feeds a log of version 1 (as old logs are); newApplierAt
// raises the log version first, as a leader of a current cluster does.
func newApplier(t testing.TB) *applier { return &applier{t: t, fsm: New()} }

func newApplierAt(t testing.TB, version int) *applier {
	a := newApplier(t)
	a.apply(&SetLogVersion{Version: version})
	return a
}

func (a *applier) apply(c Command) *Result {
	a.t.Helper()
	data, err := Encode(c)
	if err != nil {
		a.t.Fatal(err)
	}
	a.index++
	return a.fsm.Apply(&raft.Log{Index: a.index, Type: raft.LogCommand, Data: data}).(*Result)
}

func exit(code int) *int { return &code }

// snapshotOf is f's snapshot as Persist writes it.
func snapshotOf(t testing.TB, f *FSM) *bytes.Buffer {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := snap.(*fsmSnapshot).encode(&buf); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// restoredCopy is a new FSM restored from f's snapshot.
func restoredCopy(t testing.TB, f *FSM) *FSM {
	t.Helper()
	restored := New()
	if err := restored.Restore(io.NopCloser(snapshotOf(t, f))); err != nil {
		t.Fatal(err)
	}
	return restored
}

func testTask(id, job string, instance int) Task {
	return Task{ID: id, Framework: "clusterd-jobs", Job: job, JobVersion: 1, Instance: instance, Node: "n1",
		Resources: Resources{CPUs: 0.1, Mem: 32}, Cmd: "true"}
}

func populate(a *applier) {
	a.apply(&SetClusterID{ClusterID: "c1"})
	a.apply(&RegisterNode{Node: Node{ID: "n1", Name: "one", Total: Resources{CPUs: 2, Mem: 1024, Ports: []PortRange{{31000, 32000}}}}, At: t0})
	a.apply(&UpsertJob{Spec: JobSpec{ID: "web", Type: "service", Cmd: "sleep 100", Instances: 2, Resources: Resources{CPUs: 0.1, Mem: 32}}, At: t0})
	a.apply(&LaunchTasks{Tasks: []Task{testTask("web.0.0", "web", 0), testTask("web.1.0", "web", 1)}, At: t0})
	a.apply(&TaskStatusBatch{Updates: []StatusUpdate{
		{TaskID: "web.0.0", State: TaskStarting, At: t0.Add(time.Millisecond)},
		{TaskID: "web.0.0", State: TaskRunning, At: t0.Add(2 * time.Millisecond)},
		{TaskID: "web.1.0", State: TaskFailed, ExitCode: exit(3), Message: "exited with code 3", At: t0.Add(3 * time.Millisecond)},
	}})
}

func TestSnapshotRestoreReproducesStateExactly(t *testing.T) {
	a := newApplier(t)
	populate(a)
	before := a.fsm.View()
	after := restoredCopy(t, a.fsm).View()
	if before.Digest() != after.Digest() {
		t.Fatalf("digest changed across snapshot/restore: %s != %s", before.Digest(), after.Digest())
	}
	if after.Index() != before.Index() || after.ClusterID() != "c1" {
		t.Fatalf("restored index %d cluster %q, want %d c1", after.Index(), after.ClusterID(), before.Index())
	}
	if got := len(after.ActiveTasksOnNode("n1")); got != 1 {
		t.Fatalf("restored active tasks on n1 = %d, want 1 (indexes must be rebuilt)", got)
	}
}

func TestRestoreReplacesPreviousState(t *testing.T) {
	buf := snapshotOf(t, New())
	a := newApplier(t)
	populate(a)
	if err := a.fsm.Restore(io.NopCloser(buf)); err != nil {
		t.Fatal(err)
	}
	if v := a.fsm.View(); len(v.Tasks()) != 0 || len(v.Jobs()) != 0 || v.ClusterID() != "" {
		t.Fatalf("restore kept old state: %d tasks %d jobs", len(v.Tasks()), len(v.Jobs()))
	}
}

func TestSameLogGivesSameDigest(t *testing.T) {
	a, b := newApplier(t), newApplier(t)
	populate(a)
	populate(b)
	if a.fsm.View().Digest() != b.fsm.View().Digest() {
		t.Fatal("two FSMs fed the same log differ")
	}
	b.apply(&KillTasks{IDs: []string{"web.0.0"}, At: t0})
	if a.fsm.View().Digest() == b.fsm.View().Digest() {
		t.Fatal("digest did not change after a kill request")
	}
}

func TestTerminalTaskNeverChangesAgain(t *testing.T) {
	a := newApplier(t)
	populate(a)
	res := a.apply(&TaskStatusBatch{Updates: []StatusUpdate{
		{TaskID: "web.1.0", State: TaskRunning, At: t0.Add(time.Second)},
		{TaskID: "web.1.0", State: TaskFinished, ExitCode: exit(0), At: t0.Add(time.Second)},
	}})
	if res.Rejected != 2 || len(res.Ended) != 0 {
		t.Fatalf("updates to a failed task: rejected %d ended %d, want 2 and 0", res.Rejected, len(res.Ended))
	}
	task := a.fsm.View().Task("web.1.0")
	if task.State != TaskFailed || *task.ExitCode != 3 {
		t.Fatalf("failed task changed to %s", task.State)
	}
}

func TestOutOfOrderUpdateDoesNotMoveTaskBackwards(t *testing.T) {
	a := newApplier(t)
	populate(a)
	a.apply(&TaskStatusBatch{Updates: []StatusUpdate{{TaskID: "web.0.0", State: TaskStarting, Message: "late", At: t0}}})
	if s := a.fsm.View().Task("web.0.0").State; s != TaskRunning {
		t.Fatalf("late STARTING moved a running task to %s", s)
	}
}

func TestStatusBatchReportsEndedTasks(t *testing.T) {
	a := newApplier(t)
	populate(a)
	res := a.apply(&TaskStatusBatch{Updates: []StatusUpdate{
		{TaskID: "web.0.0", State: TaskFinished, ExitCode: exit(0), At: t0.Add(time.Second)},
		{TaskID: "nope", State: TaskFinished, At: t0},
	}})
	if len(res.Ended) != 1 || res.Ended[0].ID != "web.0.0" || res.Rejected != 1 {
		t.Fatalf("ended %v rejected %d", res.Ended, res.Rejected)
	}
	if n := len(a.fsm.View().ActiveTasksOnNode("n1")); n != 0 {
		t.Fatalf("%d active tasks left on n1, want 0", n)
	}
	h := a.fsm.View().Task("web.0.0").History
	if len(h) != 4 || h[0].State != TaskStaging || h[3].State != TaskFinished {
		t.Fatalf("history %+v", h)
	}
}

func TestLaunchRejectsDuplicateTaskIDs(t *testing.T) {
	a := newApplier(t)
	populate(a)
	res := a.apply(&LaunchTasks{Tasks: []Task{testTask("web.0.0", "web", 0), testTask("web.0.1", "web", 0)}, At: t0})
	if res.Rejected != 1 || len(res.Launched) != 1 {
		t.Fatalf("rejected %d launched %d, want 1 and 1", res.Rejected, len(res.Launched))
	}
	if s := a.fsm.View().Task("web.0.0").State; s != TaskRunning {
		t.Fatalf("duplicate launch reset an existing task to %s", s)
	}
}

func TestDeleteJobRequestsKillOfItsActiveTasks(t *testing.T) {
	a := newApplier(t)
	populate(a)
	if res := a.apply(&DeleteJob{ID: "web", At: t0}); res.Err != nil {
		t.Fatal(res.Err)
	}
	v := a.fsm.View()
	if v.Job("web") != nil {
		t.Fatal("job still present")
	}
	if !v.Task("web.0.0").KillRequested {
		t.Fatal("running task not marked for kill")
	}
	if v.Task("web.1.0").KillRequested {
		t.Fatal("failed task marked for kill")
	}
	if res := a.apply(&DeleteJob{ID: "web", At: t0}); res.Err == nil {
		t.Fatal("deleting a missing job succeeded")
	}
}

func TestUpsertJobBumpsVersionAndKeepsCreation(t *testing.T) {
	a := newApplier(t)
	populate(a)
	res := a.apply(&UpsertJob{Spec: JobSpec{ID: "web", Type: "service", Cmd: "sleep 200", Instances: 3}, At: t0.Add(time.Hour)})
	j := a.fsm.View().Job("web")
	if res.JobVersion != 2 || j.Version != 2 || !j.CreatedAt.Equal(t0) || !j.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("job after update: %+v", j)
	}
}

func TestForgetTasksKeepsActiveTasks(t *testing.T) {
	a := newApplier(t)
	populate(a)
	res := a.apply(&ForgetTasks{IDs: []string{"web.0.0", "web.1.0"}})
	v := a.fsm.View()
	if res.Rejected != 1 || v.Task("web.0.0") == nil || v.Task("web.1.0") != nil {
		t.Fatalf("forget: rejected %d; running kept=%v failed gone=%v", res.Rejected, v.Task("web.0.0") != nil, v.Task("web.1.0") == nil)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	var h []TaskStatus
	for i := 0; i < 100; i++ {
		h = appendBounded(h, TaskStatus{State: fmt.Sprint(i)}, maxHistory)
	}
	if len(h) != maxHistory || h[0].State != "0" || h[len(h)-1].State != "99" {
		t.Fatalf("history len %d first %s last %s", len(h), h[0].State, h[len(h)-1].State)
	}
}

func TestUnknownCommandStopsUnlessIgnorable(t *testing.T) {
	f := New()
	res := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{byte(IgnoreUnknownFlag | 5), '{', '}'}}).(*Result)
	if res.Err == nil {
		t.Fatal("ignorable unknown command gave no error result")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("an unknown, non-ignorable command was applied silently")
		}
	}()
	f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: []byte{0x7f, '{', '}'}})
}

func TestChangedFiresAfterApply(t *testing.T) {
	a := newApplier(t)
	ch := a.fsm.Changed()
	select {
	case <-ch:
		t.Fatal("changed before any apply")
	default:
	}
	a.apply(&SetClusterID{ClusterID: "c"})
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("Changed not closed after apply")
	}
}

// Golden files: every command type and a snapshot as written by the first
// release. A later version must still decode and apply them to the same
// state. Regenerate only when adding a new type: CLUSTERD_UPDATE_GOLDEN=1.
// goldenCommands are, per golden version, the commands its files hold. A
// version's files are written once (CLUSTERD_UPDATE_GOLDEN=1 rewrites only
// the newest) and must decode to the same state forever.
var goldenCommands = map[int][]Command{
	1: {
		&SetClusterID{ClusterID: "c1"},
		&RegisterNode{Node: Node{ID: "n1", Name: "one", HTTPAddr: "10.0.0.1:5050", Isolator: "process", Total: Resources{CPUs: 2, Mem: 1024, Disk: 100, Ports: []PortRange{{31000, 32000}}}, Attributes: map[string]string{"zone": "a"}}, At: t0},
		&SetNodeState{ID: "n1", State: NodeDraining, At: t0},
		&UpsertJob{Spec: JobSpec{ID: "web", Type: "service", Cmd: "sleep 100", Instances: 2, Resources: Resources{CPUs: 0.1, Mem: 32}, Env: map[string]string{"A": "b"}, KillGraceSeconds: 5, Role: "*"}, At: t0},
		&LaunchTasks{Tasks: []Task{testTask("web.0.0", "web", 0), testTask("web.1.0", "web", 1)}, At: t0},
		&TaskStatusBatch{Updates: []StatusUpdate{{TaskID: "web.0.0", State: TaskRunning, At: t0}, {TaskID: "web.1.0", State: TaskFailed, ExitCode: exit(1), At: t0}}},
		&KillTasks{IDs: []string{"web.0.0"}, At: t0},
		&ForgetTasks{IDs: []string{"web.1.0"}},
		&DeleteJob{ID: "web", At: t0},
	},
	2: {
		&SetLogVersion{Version: 2},
		&SetClusterID{ClusterID: "c2"},
		&RegisterNode{Node: Node{ID: "n1", Name: "one", HTTPAddr: "10.0.0.1:5050", Isolator: "systemd", Total: Resources{CPUs: 8, Mem: 4096, Disk: 100, Ports: []PortRange{{31000, 32000}}},
			Reserved: map[string]Resources{"analytics": {CPUs: 2}}}, At: t0},
		&SubscribeFramework{Framework: Framework{ID: "c2-0001", Name: "spark", User: "spark", Roles: []string{"analytics", "*"}, FailoverTimeout: 60,
			Capabilities: []string{"MULTI_ROLE", "TASK_KILLING_STATE"}, Info: []byte(`{"name":"spark","user":"spark"}`)}, At: t0},
		&SubscribeFramework{Framework: Framework{ID: "c2-0001", Name: "spark", User: "spark", Roles: []string{"analytics"}, FailoverTimeout: 120}, Update: true, At: t0},
		&UpdateRoles{Updates: []RoleUpdate{{Role: "analytics", Weight: ptr(2.0), Quota: &Resources{CPUs: 6, Mem: 2048}}}, At: t0},
		&ReserveResources{Ops: []ReservationOp{{Node: "n1", Role: "analytics", Resources: Resources{Mem: 512, Ports: []PortRange{{31000, 31009}}}}}, At: t0},
		&LaunchTasks{Tasks: []Task{{ID: "t1", Framework: "c2-0001", Role: "analytics", Name: "one", Node: "n1", Resources: Resources{CPUs: 1, Mem: 128}, Cmd: "sleep 9"},
			{ID: "t2", Framework: "c2-0001", Role: "analytics", Name: "two", Node: "n1", Resources: Resources{CPUs: 1, Mem: 128}, Cmd: "sleep 9"}}, At: t0},
		&TaskStatusBatch{Updates: []StatusUpdate{{TaskID: "t1", State: TaskStarting, At: t0}, {TaskID: "t1", State: TaskRunning, At: t0}, {TaskID: "t2", State: TaskRunning, At: t0}}},
		&KillTasks{IDs: []string{"t2"}, GraceSeconds: ptr(1.5), At: t0},
		&DisconnectFramework{ID: "c2-0001", At: t0.Add(time.Second)},
		&Acknowledge{Acks: []Ack{{Framework: "c2-0001", TaskID: "t1", UUID: statusUUID(9, "t1", 0)}}},
		&RemoveFramework{ID: "c2-0001", Reason: "failover timeout", At: t0.Add(time.Minute)},
		&UpsertJob{Spec: JobSpec{ID: "svc", Type: JobService, Cmd: "serve", Instances: 2, Resources: Resources{CPUs: 0.1, Mem: 32}, Role: "jobs",
			Constraints: []Constraint{{Field: "hostname", Operator: "UNIQUE"}}, HealthChecks: []HealthCheck{{Protocol: "HTTP", Path: "/health", IntervalSeconds: 10}},
			BackoffSeconds: 1, BackoffFactor: 1.15, MaxLaunchDelaySeconds: 300, MinHealthCapacity: 1, MaxOverCapacity: 1}, At: t0},
		&ScaleJob{ID: "svc", Instances: 3, At: t0},
		&EndDeployment{Job: "svc", Version: 1, At: t0},
		&UpsertJob{Spec: JobSpec{ID: "nightly", Type: JobCron, Cmd: "backup", Instances: 1, Resources: Resources{CPUs: 0.1, Mem: 32},
			Schedule: "R/2026-11-23T02:00:00Z/P1D", EpsilonSeconds: 60, ConcurrencyPolicy: "forbid", MaxCompletionSeconds: 3600}, At: t0},
		&StartRun{Job: "nightly", Trigger: TriggerSchedule, ScheduledFor: t0, At: t0},
		&LaunchTasks{Tasks: []Task{{ID: "nightly.0.1", Framework: "clusterd-jobs", Role: "jobs", Job: "nightly", JobVersion: 1, Run: 1, Node: "n1", Resources: Resources{CPUs: 0.1, Mem: 32}, Cmd: "backup"}}, At: t0},
		&TaskStatusBatch{Updates: []StatusUpdate{{TaskID: "nightly.0.1", State: TaskRunning, At: t0}, {TaskID: "nightly.0.1", State: TaskRunning, Healthy: ptr(true), At: t0}}},
		&KillTasks{IDs: []string{"nightly.0.1"}, Reason: "timeout", At: t0},
		&EndRun{Job: "nightly", Number: 1, State: RunFailed, Message: "timed out", At: t0},
	},
}

func ptr[T any](v T) *T { return &v }

func TestGoldenLogAndSnapshotStillDecode(t *testing.T) {
	newest := 0
	for v := range goldenCommands {
		newest = max(newest, v)
	}
	seen := map[MessageType]bool{}
	for version := 1; version <= newest; version++ {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			a := replayGolden(t, version, version == newest && os.Getenv("CLUSTERD_UPDATE_GOLDEN") == "1", seen)
			if version == newest && len(a.fsm.View().Frameworks()) == 0 {
				t.Error("the newest golden log holds no framework")
			}
		})
	}
	for _, cmds := range goldenCommands {
		for _, c := range cmds {
			if !seen[c.Type()] {
				t.Errorf("command type %d has no golden entry: add it to the newest version and regenerate with CLUSTERD_UPDATE_GOLDEN=1", c.Type())
			}
		}
	}
}

// replayGolden applies a version's golden log (writing it first when
// update is set), checks its snapshot restores to the same state, and
// records the command types it held.
func replayGolden(t *testing.T, version int, update bool, seen map[MessageType]bool) *applier {
	logPath := filepath.Join("testdata", fmt.Sprintf("golden-log-v%d.txt", version))
	snapPath := filepath.Join("testdata", fmt.Sprintf("golden-snapshot-v%d.jsonl", version))
	if update {
		var lines []string
		for _, c := range goldenCommands[version] {
			data, err := Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%d %s", data[0], data[1:]))
		}
		if err := os.WriteFile(logPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	a := newApplier(t)
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var typ int
		if _, err := fmt.Sscanf(line, "%d", &typ); err != nil {
			t.Fatalf("golden line %q: %v", line, err)
		}
		body := line[strings.IndexByte(line, ' ')+1:]
		data := append([]byte{byte(typ)}, body...)
		cmd, err := Decode(data)
		if err != nil {
			t.Fatalf("golden command type %d no longer decodes: %v", typ, err)
		}
		seen[cmd.Type()] = true
		a.index++
		if res := a.fsm.Apply(&raft.Log{Index: a.index, Type: raft.LogCommand, Data: data}).(*Result); res.Err != nil {
			t.Fatalf("golden command type %d: %v", typ, res.Err)
		}
	}
	if update {
		if err := os.WriteFile(snapPath, snapshotOf(t, a.fsm).Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(snapPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	restored := New()
	if err := restored.Restore(f); err != nil {
		t.Fatalf("golden snapshot no longer restores: %v", err)
	}
	if restored.View().Digest() != a.fsm.View().Digest() {
		t.Fatal("golden snapshot restores to a different state than replaying the golden log")
	}
	return a
}

func BenchmarkApplyStatusBatch(b *testing.B) {
	const batch = 256
	a := newApplier(b)
	a.apply(&RegisterNode{Node: Node{ID: "n1"}, At: t0})
	tasks := make([]Task, 0, b.N)
	for i := 0; i < b.N; i++ {
		tasks = append(tasks, testTask(fmt.Sprintf("t%d", i), "job", i))
	}
	for i := 0; i < len(tasks); i += batch {
		a.apply(&LaunchTasks{Tasks: tasks[i:min(i+batch, len(tasks))], At: t0})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		var ups []StatusUpdate
		for j := i; j < min(i+batch, b.N); j++ {
			ups = append(ups, StatusUpdate{TaskID: tasks[j].ID, State: TaskFinished, ExitCode: exit(0), At: t0})
		}
		a.apply(&TaskStatusBatch{Updates: ups})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

func TestNodeDownMarksItsActiveTasksLost(t *testing.T) {
	a := newApplier(t)
	populate(a)
	res := a.apply(&SetNodeState{ID: "n1", State: NodeDown, Reason: "node one failed (gossip)", At: t0.Add(time.Minute)})
	if len(res.Ended) != 1 || res.Ended[0].ID != "web.0.0" {
		t.Fatalf("ended %v, want the running task web.0.0", res.Ended)
	}
	v := a.fsm.View()
	if task := v.Task("web.0.0"); task.State != TaskLost || task.Message != "node one failed (gossip)" {
		t.Fatalf("task on the down node: %s %q", task.State, task.Message)
	}
	if task := v.Task("web.1.0"); task.State != TaskFailed {
		t.Fatalf("an already failed task changed to %s", task.State)
	}
	if again := a.apply(&SetNodeState{ID: "n1", State: NodeDown, At: t0.Add(2 * time.Minute)}); len(again.Ended) != 0 {
		t.Fatal("marking a down node down again ended tasks again")
	}
	if ready := a.apply(&SetNodeState{ID: "n1", State: NodeReady, At: t0.Add(3 * time.Minute)}); ready.Err != nil || v.Task("web.0.0").State != TaskLost {
		t.Fatal("a node coming back must not revive lost tasks")
	}
}
