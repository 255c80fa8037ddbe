package jobs

import (
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/raftfsm"
)

func cronJob(id, sched string) *raftfsm.Job {
	j := service(id, 1, 0.1, 32)
	j.Spec.Type, j.Spec.Schedule, j.Spec.TimeZone = raftfsm.JobCron, sched, "UTC"
	j.Spec.EpsilonSeconds, j.Spec.ConcurrencyPolicy, j.Spec.Retries = 60, "forbid", 1
	j.CreatedAt = t0.Add(-time.Hour)
	return j
}

func TestACronRunStartsAtItsTimeAndTheNextWakesTheLeader(t *testing.T) {
	j := cronJob("hourly", "0 * * * *") // t0 is 12:00
	p := Decide(input(t0.Add(10*time.Second), []*raftfsm.Job{j}, nil))
	if len(p.StartRuns) != 1 || !p.StartRuns[0].ScheduledFor.Equal(t0) || p.StartRuns[0].Skip != "" || p.StartRuns[0].Trigger != raftfsm.TriggerSchedule {
		t.Fatalf("starts %+v, want the 12:00 run started", p.StartRuns)
	}
	if want := t0.Add(time.Hour); !p.WakeAt.Equal(want) {
		t.Errorf("wake %v, want the next run at %v", p.WakeAt, want)
	}
	// Once started (LastScheduled is 12:00), nothing more until 13:00.
	j.LastScheduled = t0
	if p := Decide(input(t0.Add(30*time.Minute), []*raftfsm.Job{j}, nil)); len(p.StartRuns) != 0 {
		t.Fatalf("started %+v again before 13:00", p.StartRuns)
	}
}

func TestACronRunMissedByMoreThanEpsilonIsSkippedNotRunLate(t *testing.T) {
	j := cronJob("hourly", "0 * * * *")
	j.CreatedAt = t0.Add(-24 * time.Hour)
	j.LastScheduled = t0.Add(-3 * time.Hour) // the leader was gone for 3 hours
	p := Decide(input(t0.Add(2*time.Minute), []*raftfsm.Job{j}, nil))
	if len(p.StartRuns) != 1 || p.StartRuns[0].Skip == "" || !p.StartRuns[0].ScheduledFor.Equal(t0) || !strings.Contains(p.StartRuns[0].Skip, "3 scheduled run") {
		t.Fatalf("starts %+v, want one skip record for the 3 missed runs up to 12:00", p.StartRuns)
	}
	// Within epsilon, the latest runs and only the older ones are skipped.
	p = Decide(input(t0.Add(30*time.Second), []*raftfsm.Job{j}, nil))
	if len(p.StartRuns) != 2 || p.StartRuns[0].Skip == "" || !p.StartRuns[0].ScheduledFor.Equal(t0.Add(-time.Hour)) ||
		p.StartRuns[1].Skip != "" || !p.StartRuns[1].ScheduledFor.Equal(t0) {
		t.Fatalf("starts %+v, want 10:00 and 11:00 skipped, 12:00 run", p.StartRuns)
	}
}

func TestConcurrencyPolicyDecidesWhatAnOverlappingRunDoes(t *testing.T) {
	for policy, skipped := range map[string]bool{"forbid": true, "allow": false, "replace": false} {
		j := cronJob("slow", "0 * * * *")
		j.Spec.ConcurrencyPolicy = policy
		j.LastScheduled = t0.Add(-time.Hour)
		j.Runs = []raftfsm.Run{{Number: 1, Version: 1, Trigger: raftfsm.TriggerSchedule, ScheduledFor: t0.Add(-time.Hour), State: raftfsm.RunRunning, StartedAt: t0.Add(-time.Hour)}}
		running := task(j, 0, 0, 1, raftfsm.TaskRunning)
		running.Run = 1
		p := Decide(input(t0, []*raftfsm.Job{j}, []*raftfsm.Task{running}))
		if len(p.StartRuns) != 1 || (p.StartRuns[0].Skip != "") != skipped {
			t.Errorf("%s: starts %+v, want skipped %v", policy, p.StartRuns, skipped)
		}
	}
}

func TestARunEndsWhenEveryInstanceIsDone(t *testing.T) {
	j := cronJob("report", "@daily")
	j.Spec.Instances = 2
	j.LastScheduled = t0
	j.Runs = []raftfsm.Run{{Number: 4, Version: 1, State: raftfsm.RunRunning, StartedAt: t0}}
	done := task(j, 0, 0, 1, raftfsm.TaskFinished)
	done.Run = 4
	failing := task(j, 1, 1, 1, raftfsm.TaskFailed)
	failing.Run, failing.Failures, failing.Message = 4, 1, "exited with code 3" // retries 1: this was the last
	p := Decide(input(t0.Add(time.Minute), []*raftfsm.Job{j}, []*raftfsm.Task{done, failing}))
	if len(p.EndRuns) != 1 || p.EndRuns[0].Number != 4 || p.EndRuns[0].State != raftfsm.RunFailed || !strings.Contains(p.EndRuns[0].Message, "code 3") {
		t.Fatalf("ends %+v, want run 4 failed with the instance's exit", p.EndRuns)
	}
	failing.State, failing.Message = raftfsm.TaskFinished, ""
	if p := Decide(input(t0.Add(time.Minute), []*raftfsm.Job{j}, []*raftfsm.Task{done, failing})); len(p.EndRuns) != 1 || p.EndRuns[0].State != raftfsm.RunSucceeded {
		t.Fatalf("ends %+v, want run 4 succeeded", p.EndRuns)
	}
}

func TestATaskRunningPastMaxCompletionIsKilledAsAFailure(t *testing.T) {
	j := cronJob("bounded", "@daily")
	j.Spec.MaxCompletionSeconds = 60
	j.LastScheduled = t0
	j.Runs = []raftfsm.Run{{Number: 1, Version: 1, State: raftfsm.RunRunning, StartedAt: t0}}
	tk := task(j, 0, 0, 1, raftfsm.TaskRunning)
	tk.Run = 1
	tk.History = []raftfsm.TaskStatus{{State: raftfsm.TaskRunning, Time: t0}}
	if p := Decide(input(t0.Add(30*time.Second), []*raftfsm.Job{j}, []*raftfsm.Task{tk})); len(p.Kill) != 0 || !p.WakeAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("at 30 s: kills %v, wake %v; want none and a wake at the limit", p.Kill, p.WakeAt)
	}
	p := Decide(input(t0.Add(time.Minute), []*raftfsm.Job{j}, []*raftfsm.Task{tk}))
	if len(p.Kill) != 1 || p.Kill[0].Reason != KillTimeout {
		t.Fatalf("at the limit: kills %v", p.Kill)
	}
	tk.State, tk.KillRequested, tk.KillReason, tk.UpdatedAt = raftfsm.TaskKilled, true, KillTimeout, t0.Add(time.Minute)
	if got := launched(Decide(input(t0.Add(2*time.Minute), []*raftfsm.Job{j}, []*raftfsm.Task{tk}, offer("o1", "a1", 4, 4096)))); len(got) != 1 || got[0].Failures != 1 || got[0].Run != 1 {
		t.Fatalf("after the timeout: %+v, want a retry of run 1 counting the failure", got)
	}
}

// A DAG of four jobs: extract → (transform, audit) → load. Each runs when
// all its parents' latest runs succeeded; a failed parent stops them.
func TestDependentJobsRunInDependencyOrderAndStopAtAFailure(t *testing.T) {
	mk := func(id string, parents ...string) *raftfsm.Job {
		j := service(id, 1, 0.1, 32)
		j.Spec.Type, j.Spec.Parents = raftfsm.JobBatch, parents
		return j
	}
	extract, transform, audit, load := mk("extract"), mk("transform", "extract"), mk("audit", "extract"), mk("load", "transform", "audit")
	all := []*raftfsm.Job{extract, transform, audit, load}
	starts := func(at time.Time) []string {
		var ids []string
		for _, s := range Decide(input(at, all, nil)).StartRuns {
			ids = append(ids, s.Job)
		}
		return ids
	}
	run := func(j *raftfsm.Job, state string, at time.Time) {
		j.Runs = append(j.Runs, raftfsm.Run{Number: len(j.Runs) + 1, State: state, StartedAt: at, FinishedAt: at.Add(time.Second)})
	}
	if got := starts(t0); len(got) != 0 {
		t.Fatalf("started %v before extract ran", got)
	}
	run(extract, raftfsm.RunSucceeded, t0)
	if got := strings.Join(starts(t0.Add(time.Minute)), ","); got != "transform,audit" && got != "audit,transform" {
		t.Fatalf("after extract: started %q, want transform and audit", got)
	}
	run(transform, raftfsm.RunSucceeded, t0.Add(time.Minute))
	if got := starts(t0.Add(2 * time.Minute)); len(got) != 1 || got[0] != "audit" {
		t.Fatalf("load started before audit ran: %v", got)
	}
	run(audit, raftfsm.RunFailed, t0.Add(2*time.Minute))
	if got := starts(t0.Add(3 * time.Minute)); len(got) != 0 {
		t.Fatalf("started %v although audit failed", got)
	}
	run(audit, raftfsm.RunSucceeded, t0.Add(3*time.Minute))
	if got := starts(t0.Add(4 * time.Minute)); len(got) != 1 || got[0] != "load" {
		t.Fatalf("after both parents succeeded: started %v, want load", got)
	}
	run(load, raftfsm.RunSucceeded, t0.Add(5*time.Minute))
	if got := starts(t0.Add(6 * time.Minute)); len(got) != 0 {
		t.Fatalf("started %v again without new parent runs", got)
	}
}
