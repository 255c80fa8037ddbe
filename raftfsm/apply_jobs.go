package raftfsm

import (
	"fmt"
	"slices"

	memdb "github.com/hashicorp/go-memdb"
)

// jobOf returns a copy of a job, safe to change and insert, or nil.
func jobOf(txn *memdb.Txn, id string) *Job {
	raw, _ := txn.First(tableJobs, "id", id)
	if raw == nil {
		return nil
	}
	j := *raw.(*Job)
	j.Deployments = slices.Clone(j.Deployments)
	j.Runs = slices.Clone(j.Runs)
	return &j
}

func applyScaleJob(txn *memdb.Txn, c *ScaleJob) *Result {
	j := jobOf(txn, c.ID)
	switch {
	case j == nil:
		return &Result{Err: fmt.Errorf("job %s not found", c.ID)}
	case c.Instances < 0:
		return &Result{Err: fmt.Errorf("scale job %s: %d instances", c.ID, c.Instances)}
	}
	j.Spec.Instances = c.Instances
	j.UpdatedAt = c.At
	mustInsert(txn, tableJobs, j)
	return &Result{JobVersion: j.Version}
}

func applyStartRun(txn *memdb.Txn, c *StartRun) *Result {
	j := jobOf(txn, c.Job)
	switch {
	case j == nil:
		return &Result{Err: fmt.Errorf("job %s not found", c.Job)}
	case j.Spec.Type != JobBatch && j.Spec.Type != JobCron:
		return &Result{Err: fmt.Errorf("job %s is a %s: only batch and cron jobs have runs", c.Job, j.Spec.Type)}
	}
	if c.Trigger == TriggerSchedule {
		if !c.ScheduledFor.After(j.LastScheduled) {
			// Started or skipped already (perhaps by an earlier leader).
			return &Result{Rejected: 1}
		}
		j.LastScheduled = c.ScheduledFor
	}
	r := Run{Version: j.Version, Trigger: c.Trigger, ScheduledFor: c.ScheduledFor, State: RunRunning, StartedAt: c.At}
	replace := false
	if c.Skip != "" {
		r.State, r.Message, r.FinishedAt = RunSkipped, c.Skip, c.At
	} else {
		replace = j.Spec.ConcurrencyPolicy == "replace"
	}
	n := startRun(txn, j, r, replace, c.At)
	j.UpdatedAt = c.At
	mustInsert(txn, tableJobs, j)
	return &Result{Run: n}
}

func applyEndRun(txn *memdb.Txn, c *EndRun) *Result {
	j := jobOf(txn, c.Job)
	if j == nil {
		return &Result{Err: fmt.Errorf("job %s not found", c.Job)}
	}
	switch c.State {
	case RunSucceeded, RunFailed, RunSuperseded:
	default:
		return &Result{Err: fmt.Errorf("end run of job %s: %q is not an end state", c.Job, c.State)}
	}
	r := j.RunNumber(c.Number)
	if r == nil || r.State != RunRunning {
		return &Result{Rejected: 1}
	}
	r.State, r.Message, r.FinishedAt = c.State, c.Message, c.At
	mustInsert(txn, tableJobs, j)
	return &Result{}
}

func applyEndDeployment(txn *memdb.Txn, c *EndDeployment) *Result {
	j := jobOf(txn, c.Job)
	if j == nil {
		return &Result{Err: fmt.Errorf("job %s not found", c.Job)}
	}
	for i := range j.Deployments {
		if d := &j.Deployments[i]; d.Version == c.Version && d.State == DeploymentRunning {
			d.State, d.FinishedAt = DeploymentSucceeded, c.At
			mustInsert(txn, tableJobs, j)
			return &Result{}
		}
	}
	return &Result{Rejected: 1}
}
