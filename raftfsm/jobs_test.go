package raftfsm

import (
	"strings"
	"testing"
	"time"
)

// A log written before versions existed must replay exactly as the old
// binary applied it, new fields and all: a new follower of an old cluster
// would otherwise diverge from its peers.
func TestAVersionOneLogKeepsItsOldMeaning(t *testing.T) {
	log := func(a *applier) {
		a.apply(&RegisterNode{Node: Node{ID: "n1", Total: Resources{CPUs: 4, Mem: 1024}, Reserved: map[string]Resources{"r": {CPUs: 1}}}, At: t0})
		spec := JobSpec{ID: "web", Type: JobService, Cmd: "serve", Instances: 1, Resources: Resources{CPUs: 0.1, Mem: 32},
			Constraints: []Constraint{{Field: "zone", Operator: "GROUP_BY"}}, BackoffSeconds: 1}
		a.apply(&UpsertJob{Spec: spec, At: t0})
		spec.Instances = 3
		a.apply(&UpsertJob{Spec: spec, At: t0}) // only instances changed
		a.apply(&LaunchTasks{Tasks: []Task{{ID: "t", Framework: "clusterd-jobs", Job: "web", Node: "n1", Role: "jobs", Name: "x", Run: 2, Cmd: "serve"}}, At: t0})
		a.apply(&TaskStatusBatch{Updates: []StatusUpdate{{TaskID: "t", State: TaskRunning, Message: "up", At: t0}, {TaskID: "t", State: TaskRunning, Healthy: ptr(false), At: t0}}})
		a.apply(&KillTasks{IDs: []string{"t"}, GraceSeconds: ptr(0.5), Reason: "unhealthy", At: t0})
		a.apply(&SetNodeState{ID: "n1", State: NodeInactive, At: t0})
	}
	old, cur := newApplier(t), newApplierAt(t, 2)
	log(old)
	log(cur)
	v1, v2 := old.fsm.View(), cur.fsm.View()
	if v1.LogVersion() != 1 || v2.LogVersion() != 2 {
		t.Fatalf("log versions %d and %d", v1.LogVersion(), v2.LogVersion())
	}
	if n := v1.Node("n1"); n.Reserved != nil || n.State != NodeReady {
		t.Errorf("version 1: node %+v, want no reservations and the unknown state refused", n)
	}
	if n := v2.Node("n1"); n.Reserved["r"].CPUs != 1 || n.State != NodeInactive {
		t.Errorf("version 2: node %+v", n)
	}
	if j := v1.Job("web"); j.Version != 2 || j.Spec.Constraints != nil || j.Spec.BackoffSeconds != 0 || j.Deployments != nil {
		t.Errorf("version 1: job %+v, want every upsert a version and only the fields of then", j)
	}
	if j := v2.Job("web"); j.Version != 1 || j.Spec.Instances != 3 || len(j.Spec.Constraints) != 1 || len(j.Deployments) != 1 {
		t.Errorf("version 2: job %+v, want a scale to keep the version", j)
	}
	t1, t2 := v1.Task("t"), v2.Task("t")
	// Version 1 took the health report for a RUNNING update without a
	// message, which cleared the message; version 2 keeps it.
	if t1.Role != "" || t1.Name != "" || t1.Run != 0 || t1.Healthy != nil || t1.KillReason != "" || t1.KillGraceSeconds != 0 || t1.Message != "" {
		t.Errorf("version 1: task %+v", t1)
	}
	if t2.Role != "jobs" || t2.Run != 2 || t2.Healthy == nil || *t2.Healthy || t2.KillReason != "unhealthy" || t2.KillGraceSeconds != 0.5 || t2.Message != "up" {
		t.Errorf("version 2: task %+v", t2)
	}
	if h := t2.History[len(t2.History)-1]; h.Healthy == nil || t1.History[len(t1.History)-1].Healthy != nil {
		t.Errorf("the health report is in the history only at version 2: %+v", h)
	}
}

func TestALogVersionNewerThanKnownStopsTheServer(t *testing.T) {
	a := newApplier(t)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "upgrade") {
			t.Fatalf("applying a newer log version: %v, want a stop saying to upgrade", r)
		}
	}()
	a.apply(&SetLogVersion{Version: LogVersion + 1})
}

func TestTheLogVersionSurvivesASnapshotAndNeverGoesDown(t *testing.T) {
	a := newApplierAt(t, 2)
	a.apply(&SetLogVersion{Version: 1})
	if v := a.fsm.View().LogVersion(); v != 2 {
		t.Fatalf("log version %d after asking for 1, want it kept at 2", v)
	}
	restored := restoredCopy(t, a.fsm)
	if v := restored.View().LogVersion(); v != 2 || restored.View().Digest() != a.fsm.View().Digest() {
		t.Fatalf("restored log version %d", v)
	}
}

func jobsCluster(t *testing.T) *applier {
	a := newApplierAt(t, 2)
	a.apply(&RegisterNode{Node: Node{ID: "n1", Total: Resources{CPUs: 4, Mem: 4096}}, At: t0})
	return a
}

func TestScalingKeepsTheVersionAndAChangeStartsADeployment(t *testing.T) {
	a := jobsCluster(t)
	spec := JobSpec{ID: "web", Type: JobService, Cmd: "v1", Instances: 2, Resources: Resources{CPUs: 0.1, Mem: 32}}
	a.apply(&UpsertJob{Spec: spec, At: t0})
	a.apply(&ScaleJob{ID: "web", Instances: 5, At: t0.Add(time.Second)})
	j := a.fsm.View().Job("web")
	if j.Version != 1 || j.Spec.Instances != 5 || len(j.Deployments) != 1 || j.Deployments[0].State != DeploymentRunning {
		t.Fatalf("after a scale: %+v", j)
	}
	a.apply(&EndDeployment{Job: "web", Version: 1, At: t0.Add(2 * time.Second)})
	spec.Cmd, spec.Instances = "v2", 5
	a.apply(&UpsertJob{Spec: spec, At: t0.Add(3 * time.Second)})
	spec.Cmd = "v3"
	a.apply(&UpsertJob{Spec: spec, At: t0.Add(4 * time.Second)})
	j = a.fsm.View().Job("web")
	got := []string{}
	for _, d := range j.Deployments {
		got = append(got, d.State)
	}
	if j.Version != 3 || strings.Join(got, ",") != "succeeded,superseded,running" {
		t.Fatalf("version %d, deployments %v: want v1 succeeded, v2 superseded by v3 running", j.Version, got)
	}
	if res := a.apply(&ScaleJob{ID: "nope", Instances: 1, At: t0}); res.Err == nil {
		t.Fatal("scaling an unknown job succeeded")
	}
}

func TestAScheduledRunStartsOnceWhateverTheLeaderCount(t *testing.T) {
	a := jobsCluster(t)
	a.apply(&UpsertJob{Spec: JobSpec{ID: "nightly", Type: JobCron, Cmd: "backup", Instances: 1, Resources: Resources{CPUs: 0.1, Mem: 32}, Schedule: "@daily"}, At: t0})
	due := t0.Add(time.Hour)
	if res := a.apply(&StartRun{Job: "nightly", Trigger: TriggerSchedule, ScheduledFor: due, At: due}); res.Run != 1 {
		t.Fatalf("first run number %d", res.Run)
	}
	// A new leader that decides the same run again, or an older one.
	for _, at := range []time.Time{due, due.Add(-time.Hour)} {
		if res := a.apply(&StartRun{Job: "nightly", Trigger: TriggerSchedule, ScheduledFor: at, At: due}); res.Rejected != 1 {
			t.Fatalf("run for %v started again", at)
		}
	}
	a.apply(&StartRun{Job: "nightly", Trigger: TriggerSchedule, ScheduledFor: due.Add(24 * time.Hour), Skip: "missed by more than its epsilon", At: due.Add(25 * time.Hour)})
	j := a.fsm.View().Job("nightly")
	if len(j.Runs) != 2 || j.Runs[1].State != RunSkipped || !j.LastScheduled.Equal(due.Add(24*time.Hour)) {
		t.Fatalf("runs %+v, last scheduled %v", j.Runs, j.LastScheduled)
	}
	if res := a.apply(&EndRun{Job: "nightly", Number: 1, State: RunSucceeded, At: due.Add(time.Minute)}); res.Rejected != 0 {
		t.Fatal("ending the running run was refused")
	}
	if res := a.apply(&EndRun{Job: "nightly", Number: 1, State: RunFailed, At: due.Add(time.Minute)}); res.Rejected != 1 {
		t.Fatal("a run ended twice")
	}
	if res := a.apply(&StartRun{Job: "nightly", Trigger: TriggerManual, At: due}); res.Run != 3 {
		t.Fatalf("a manual run is number %d, want 3", res.Run)
	}
}

func TestAReplacingRunSupersedesTheRunningOneAndStopsItsTasks(t *testing.T) {
	a := jobsCluster(t)
	a.apply(&UpsertJob{Spec: JobSpec{ID: "etl", Type: JobCron, Cmd: "load", Instances: 1, Resources: Resources{CPUs: 0.1, Mem: 32}, Schedule: "@hourly", ConcurrencyPolicy: "replace"}, At: t0})
	a.apply(&StartRun{Job: "etl", Trigger: TriggerSchedule, ScheduledFor: t0, At: t0})
	a.apply(&LaunchTasks{Tasks: []Task{{ID: "etl.0.a", Framework: "clusterd-jobs", Job: "etl", JobVersion: 1, Run: 1, Node: "n1", Cmd: "load"}}, At: t0})
	a.apply(&StartRun{Job: "etl", Trigger: TriggerSchedule, ScheduledFor: t0.Add(time.Hour), At: t0.Add(time.Hour)})
	v := a.fsm.View()
	j := v.Job("etl")
	if j.Runs[0].State != RunSuperseded || j.Runs[1].State != RunRunning {
		t.Fatalf("runs %+v", j.Runs)
	}
	if task := v.Task("etl.0.a"); !task.KillRequested || task.KillReason == "" {
		t.Fatalf("the replaced run's task: %+v", task)
	}
}

func TestABatchJobStartsARunPerVersionUnlessItHasParents(t *testing.T) {
	a := jobsCluster(t)
	batch := JobSpec{ID: "once", Type: JobBatch, Cmd: "a", Instances: 1, Resources: Resources{CPUs: 0.1, Mem: 32}}
	a.apply(&UpsertJob{Spec: batch, At: t0})
	batch.Cmd = "b"
	a.apply(&UpsertJob{Spec: batch, At: t0.Add(time.Second)})
	j := a.fsm.View().Job("once")
	if len(j.Runs) != 2 || j.Runs[0].State != RunSuperseded || j.Runs[1].Version != 2 || j.Runs[1].Trigger != TriggerSubmit {
		t.Fatalf("runs %+v, want one per version, the older superseded", j.Runs)
	}
	child := JobSpec{ID: "child", Type: JobBatch, Cmd: "c", Instances: 1, Resources: Resources{CPUs: 0.1, Mem: 32}, Parents: []string{"once"}}
	a.apply(&UpsertJob{Spec: child, At: t0})
	if j := a.fsm.View().Job("child"); len(j.Runs) != 0 {
		t.Fatalf("a dependent job ran at submission: %+v", j.Runs)
	}
}

func TestRunsAndDeploymentsAreBounded(t *testing.T) {
	a := jobsCluster(t)
	a.apply(&UpsertJob{Spec: JobSpec{ID: "often", Type: JobCron, Cmd: "x", Instances: 1, Resources: Resources{CPUs: 0.1, Mem: 32}, Schedule: "* * * * *"}, At: t0})
	for i := 1; i <= maxRuns+5; i++ {
		a.apply(&StartRun{Job: "often", Trigger: TriggerSchedule, ScheduledFor: t0.Add(time.Duration(i) * time.Minute), At: t0})
	}
	j := a.fsm.View().Job("often")
	if len(j.Runs) != maxRuns || j.Runs[len(j.Runs)-1].Number != maxRuns+5 {
		t.Fatalf("%d runs kept, newest %d", len(j.Runs), j.Runs[len(j.Runs)-1].Number)
	}
}
