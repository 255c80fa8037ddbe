package raftfsm

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

// frameworkCluster is one node, one subscribed framework and two of its
// tasks, launched.
func frameworkCluster(t *testing.T, caps ...string) *applier {
	t.Helper()
	a := newApplierAt(t, 2)
	a.apply(&SetClusterID{ClusterID: "c1"})
	a.apply(&RegisterNode{Node: Node{ID: "n1", Name: "one", Total: Resources{CPUs: 4, Mem: 4096, Ports: []PortRange{{31000, 31099}}}}, At: t0})
	if res := a.apply(&SubscribeFramework{Framework: Framework{ID: "fw1", Name: "example", Roles: []string{"*"}, Capabilities: caps}, At: t0}); res.Err != nil {
		t.Fatal(res.Err)
	}
	a.apply(&LaunchTasks{Tasks: []Task{
		{ID: "a", Framework: "fw1", Node: "n1", Resources: Resources{CPUs: 1, Mem: 64}, Cmd: "sleep 60"},
		{ID: "b", Framework: "fw1", Node: "n1", Resources: Resources{CPUs: 1, Mem: 64}, Cmd: "sleep 60"},
	}, At: t0})
	return a
}

func states(ts []TaskStatus) []string {
	var out []string
	for _, s := range ts {
		out = append(out, s.State)
	}
	return out
}

func TestFrameworkUpdatesWaitForAcknowledgementOneAtATimeInOrder(t *testing.T) {
	a := frameworkCluster(t)
	a.apply(&TaskStatusBatch{Updates: []StatusUpdate{
		{TaskID: "a", State: TaskStarting, At: t0},
		{TaskID: "a", State: TaskRunning, At: t0.Add(time.Millisecond)},
	}})
	task := a.fsm.View().Task("a")
	if got := states(task.Unacked); len(got) != 2 || got[0] != TaskStarting || got[1] != TaskRunning {
		t.Fatalf("unacknowledged updates %v, want [STARTING RUNNING]", got)
	}
	first, second := task.Unacked[0].UUID, task.Unacked[1].UUID
	if len(first) != 16 || bytes.Equal(first, second) {
		t.Fatalf("update ids %x and %x: want two different 16-byte ids", first, second)
	}
	if first[6]>>4 != 4 || first[8]>>6 != 2 {
		t.Errorf("update id %x is not shaped as a version 4 UUID", first)
	}
	// Acknowledging the second before the first, another framework's ack
	// and an ack of an unknown task change nothing.
	res := a.apply(&Acknowledge{Acks: []Ack{
		{Framework: "fw1", TaskID: "a", UUID: second},
		{Framework: "other", TaskID: "a", UUID: first},
		{Framework: "fw1", TaskID: "nope", UUID: first},
	}})
	if res.Rejected != 3 || len(a.fsm.View().Task("a").Unacked) != 2 {
		t.Fatalf("out-of-order, foreign and unknown acks: rejected %d, %d updates left; want 3 rejected, 2 left", res.Rejected, len(a.fsm.View().Task("a").Unacked))
	}
	a.apply(&Acknowledge{Acks: []Ack{{Framework: "fw1", TaskID: "a", UUID: first}}})
	if got := a.fsm.View().Task("a").Unacked; len(got) != 1 || !bytes.Equal(got[0].UUID, second) {
		t.Fatalf("after acknowledging STARTING: %v, want only RUNNING left", states(got))
	}
	if again := a.apply(&Acknowledge{Acks: []Ack{{Framework: "fw1", TaskID: "a", UUID: first}}}); again.Rejected != 1 {
		t.Fatal("a duplicate acknowledgement was applied again")
	}
	a.apply(&Acknowledge{Acks: []Ack{{Framework: "fw1", TaskID: "a", UUID: second}}})
	if got := a.fsm.View().UnackedTasksOfFramework("fw1"); len(got) != 0 {
		t.Fatalf("tasks with unacknowledged updates after every ack: %d", len(got))
	}
	// History keeps every transition whatever was acknowledged.
	if got := states(a.fsm.View().Task("a").History); len(got) != 3 {
		t.Fatalf("history %v, want STAGING, STARTING, RUNNING", got)
	}
}

func TestUpdateIDsAreTheSameOnEveryServer(t *testing.T) {
	replay := func() *applier {
		a := frameworkCluster(t)
		a.apply(&TaskStatusBatch{Updates: []StatusUpdate{{TaskID: "a", State: TaskRunning, At: t0}, {TaskID: "b", State: TaskRunning, At: t0}}})
		a.apply(&SetNodeState{ID: "n1", State: NodeDown, At: t0.Add(time.Minute)})
		return a
	}
	x, y := replay().fsm.View(), replay().fsm.View()
	for _, id := range []string{"a", "b"} {
		ux, uy := x.Task(id).Unacked, y.Task(id).Unacked
		if len(ux) != 2 || len(uy) != 2 || !bytes.Equal(ux[1].UUID, uy[1].UUID) || !bytes.Equal(ux[0].UUID, uy[0].UUID) {
			t.Fatalf("task %s: updates differ between two replays of one log", id)
		}
		if ux[1].State != TaskLost || ux[1].Source != SourceMaster {
			t.Errorf("task %s on a down node: last update %s from %q, want TASK_LOST from the master", id, ux[1].State, ux[1].Source)
		}
	}
	if x.Digest() != y.Digest() {
		t.Fatal("same log, different digest")
	}
}

func TestBuiltInFrameworkTasksQueueNoUpdates(t *testing.T) {
	a := newApplier(t)
	populate(a) // tasks of clusterd-jobs, which never subscribes
	if got := a.fsm.View().Task("web.0.0").Unacked; len(got) != 0 {
		t.Fatalf("a built-in task queued %d updates to acknowledge", len(got))
	}
}

func TestKillingIsSentOnlyToFrameworksThatAskForIt(t *testing.T) {
	for _, tc := range []struct {
		caps []string
		want []string
	}{
		{nil, []string{TaskRunning, TaskKilled}},
		{[]string{CapabilityTaskKillingState}, []string{TaskRunning, TaskKilling, TaskKilled}},
	} {
		a := frameworkCluster(t, tc.caps...)
		a.apply(&TaskStatusBatch{Updates: []StatusUpdate{
			{TaskID: "a", State: TaskRunning, At: t0},
			{TaskID: "a", State: TaskKilling, At: t0},
			{TaskID: "a", State: TaskKilled, At: t0},
		}})
		if got := states(a.fsm.View().Task("a").Unacked); !slices.Equal(got, tc.want) {
			t.Errorf("capabilities %v: updates %v, want %v", tc.caps, got, tc.want)
		}
	}
}

func TestRemoveFrameworkKillsItsTasksAndRefusesItsID(t *testing.T) {
	a := frameworkCluster(t)
	a.apply(&TaskStatusBatch{Updates: []StatusUpdate{{TaskID: "a", State: TaskRunning, At: t0}, {TaskID: "b", State: TaskFinished, At: t0}}})
	res := a.apply(&RemoveFramework{ID: "fw1", Reason: "torn down", At: t0.Add(time.Minute)})
	if res.Err != nil || len(res.Killed) != 1 || res.Killed[0].ID != "a" {
		t.Fatalf("remove: err %v, killed %v; want the running task a killed", res.Err, res.Killed)
	}
	v := a.fsm.View()
	if !v.Task("a").KillRequested || v.Task("b").KillRequested {
		t.Fatal("remove must kill the active task and leave the finished one alone")
	}
	if n := len(v.UnackedTasksOfFramework("fw1")); n != 0 {
		t.Fatalf("a removed framework still has %d tasks with updates to acknowledge", n)
	}
	if fw := v.Framework("fw1"); fw == nil || !fw.Removed() || fw.RemovedReason != "torn down" {
		t.Fatalf("removed framework record: %+v", fw)
	}
	if again := a.apply(&SubscribeFramework{Framework: Framework{ID: "fw1", Name: "example"}, At: t0.Add(2 * time.Minute)}); again.Err == nil {
		t.Fatal("a removed framework's id subscribed again")
	}
	// Its tasks' later updates are not queued for anyone.
	a.apply(&TaskStatusBatch{Updates: []StatusUpdate{{TaskID: "a", State: TaskKilled, At: t0.Add(3 * time.Minute)}}})
	if got := a.fsm.View().Task("a").Unacked; len(got) != 0 {
		t.Fatalf("a removed framework's task queued %v", states(got))
	}
}

func TestResubscribeKeepsRegistrationAndClearsDisconnection(t *testing.T) {
	a := frameworkCluster(t)
	a.apply(&DisconnectFramework{ID: "fw1", At: t0.Add(time.Second)})
	if fw := a.fsm.View().Framework("fw1"); !fw.DisconnectedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("disconnected at %v", fw.DisconnectedAt)
	}
	a.apply(&SubscribeFramework{Framework: Framework{ID: "fw1", Name: "example", FailoverTimeout: 30}, At: t0.Add(time.Minute)})
	fw := a.fsm.View().Framework("fw1")
	if !fw.RegisteredAt.Equal(t0) || !fw.ReregisteredAt.Equal(t0.Add(time.Minute)) || !fw.DisconnectedAt.IsZero() || fw.FailoverTimeout != 30 {
		t.Fatalf("after re-subscribing: %+v", fw)
	}
	if res := a.apply(&SubscribeFramework{Framework: Framework{ID: "ghost"}, Update: true, At: t0}); res.Err == nil {
		t.Fatal("an update of an unknown framework was accepted")
	}
}

func TestRemovedFrameworksAreBounded(t *testing.T) {
	a := newApplierAt(t, 2)
	for i := 0; i < maxRemovedFrameworks+10; i++ {
		id := string(rune('A'+i/26)) + string(rune('a'+i%26))
		a.apply(&SubscribeFramework{Framework: Framework{ID: id}, At: t0})
		a.apply(&RemoveFramework{ID: id, At: t0.Add(time.Duration(i) * time.Second)})
	}
	a.apply(&SubscribeFramework{Framework: Framework{ID: "live"}, At: t0})
	fws := a.fsm.View().Frameworks()
	if len(fws) != maxRemovedFrameworks+1 {
		t.Fatalf("%d framework records, want the %d latest removed and the live one", len(fws), maxRemovedFrameworks)
	}
	if a.fsm.View().Framework("Aa") != nil {
		t.Fatal("the oldest removed framework was kept")
	}
}

func TestUpdateRolesIsAllOrNothing(t *testing.T) {
	a := newApplierAt(t, 2)
	two := 2.0
	res := a.apply(&UpdateRoles{Updates: []RoleUpdate{{Role: "a", Weight: &two}, {Role: "b", Weight: ptr(-1.0)}}, At: t0})
	if res.Err == nil || a.fsm.View().Role("a") != nil {
		t.Fatal("an update with an invalid weight was partly applied")
	}
	a.apply(&UpdateRoles{Updates: []RoleUpdate{{Role: "a", Weight: &two}, {Role: "b", Quota: &Resources{CPUs: 3}}}, At: t0})
	if r := a.fsm.View().Role("a"); r.EffectiveWeight() != 2 || !r.Quota.isZero() {
		t.Fatalf("role a: %+v", r)
	}
	if r := a.fsm.View().Role("b"); r.EffectiveWeight() != 1 || r.Quota.CPUs != 3 {
		t.Fatalf("role b: %+v", r)
	}
	if res := a.apply(&UpdateRoles{Updates: []RoleUpdate{{Role: "b", Quota: &Resources{Ports: []PortRange{{1, 2}}}}}, At: t0}); res.Err == nil {
		t.Fatal("a quota on ports was accepted")
	}
	// Back to the defaults: the role has nothing to remember.
	a.apply(&UpdateRoles{Updates: []RoleUpdate{{Role: "a", Weight: ptr(1.0)}, {Role: "b", Quota: &Resources{}}}, At: t0})
	if n := len(a.fsm.View().Roles()); n != 0 {
		t.Fatalf("%d roles left at their defaults are still stored", n)
	}
}

func TestDynamicReservationsStayInsideTheNodeAndSurviveReRegistration(t *testing.T) {
	a := newApplierAt(t, 2)
	node := Node{ID: "n1", Total: Resources{CPUs: 4, Mem: 1000, Ports: []PortRange{{31000, 31009}}}, Reserved: map[string]Resources{"static": {CPUs: 1}}}
	a.apply(&RegisterNode{Node: node, At: t0})
	res := a.apply(&ReserveResources{Ops: []ReservationOp{
		{Node: "n1", Role: "db", Resources: Resources{CPUs: 2, Ports: []PortRange{{31000, 31004}}}},
		{Node: "n1", Role: "web", Resources: Resources{CPUs: 1.5}},               // only 1 cpu left unreserved
		{Node: "n1", Role: "*", Resources: Resources{CPUs: 0.5}},                 // not a role one reserves for
		{Node: "n1", Role: "db", Resources: Resources{CPUs: 1}, Unreserve: true}, // applied in order
		{Node: "n1", Role: "web", Resources: Resources{Mem: 10}, Unreserve: true},
	}, At: t0})
	if res.Rejected != 3 {
		t.Fatalf("rejected %d ops, want 3", res.Rejected)
	}
	dyn := a.fsm.View().Node("n1").Dynamic
	if db := dyn["db"]; len(dyn) != 1 || db.CPUs != 1 || len(db.Ports) != 1 || db.Ports[0] != (PortRange{31000, 31004}) {
		t.Fatalf("dynamic reservations %+v, want db: cpus 1, ports 31000-31004", dyn)
	}
	// A restart re-registers without knowing the reservation: it stays.
	a.apply(&RegisterNode{Node: node, At: t0.Add(time.Minute)})
	if db := a.fsm.View().Node("n1").Dynamic["db"]; db.CPUs != 1 {
		t.Fatalf("re-registration dropped the dynamic reservation: %+v", a.fsm.View().Node("n1").Dynamic)
	}
	// A smaller node keeps only what still fits beside the static part.
	small := node
	small.Total = Resources{CPUs: 1.5, Mem: 1000}
	a.apply(&RegisterNode{Node: small, At: t0.Add(2 * time.Minute)})
	if dyn := a.fsm.View().Node("n1").Dynamic; len(dyn) != 0 {
		t.Fatalf("a reservation that no longer fits was kept: %+v", dyn)
	}
}

func TestKillWithGraceReplacesTheGracePeriod(t *testing.T) {
	a := frameworkCluster(t)
	a.apply(&KillTasks{IDs: []string{"a"}, At: t0})
	a.apply(&KillTasks{IDs: []string{"a"}, GraceSeconds: ptr(0.5), At: t0})
	if task := a.fsm.View().Task("a"); !task.KillRequested || task.KillGraceSeconds != 0.5 {
		t.Fatalf("kill with a grace period: requested %v grace %v", task.KillRequested, task.KillGraceSeconds)
	}
}

func TestChangesSinceReportsEveryChangeAndDetectsGaps(t *testing.T) {
	a := frameworkCluster(t)
	from := a.fsm.View().Index()
	a.apply(&TaskStatusBatch{Updates: []StatusUpdate{{TaskID: "a", State: TaskRunning, At: t0}}})
	a.apply(&RemoveFramework{ID: "fw1", At: t0})
	changes, through, ok := a.fsm.ChangesSince(from)
	if !ok || through != a.fsm.View().Index() {
		t.Fatalf("changes since %d: ok %v through %d, want through %d", from, ok, through, a.fsm.View().Index())
	}
	var running, removed bool
	for _, c := range changes {
		if tk, _ := c.After.(*Task); tk != nil && tk.ID == "a" && tk.State == TaskRunning && c.Before.(*Task).State == TaskStaging {
			running = true
		}
		if fw, _ := c.After.(*Framework); fw != nil && fw.Removed() && c.Table == ChangedFramework {
			removed = true
		}
	}
	if !running || !removed {
		t.Fatalf("changes %d: saw task a go running %v, framework removed %v", len(changes), running, removed)
	}
	if _, _, ok := a.fsm.ChangesSince(a.fsm.View().Index()); !ok {
		t.Fatal("a reader that is up to date must be ok")
	}
	// A restored snapshot replaces the state: readers from before must re-read it.
	restored := restoredCopy(t, a.fsm)
	if _, _, ok := restored.ChangesSince(from); ok {
		t.Fatal("changes from before a restore were reported as complete")
	}
}
