package jobs

import (
	"fmt"
	"strings"
	"time"

	"github.com/clusterd/clusterd/node/jobs/schedule"
	"github.com/clusterd/clusterd/raftfsm"
)

// maxMissed bounds how many missed schedule times one decision looks at: a
// cluster down for a year does not make a year of skipped runs.
const maxMissed = 1000

// runDecision is what reconciling a batch or cron job decides.
type runDecision struct {
	needs  []instanceNeed
	kills  []Kill
	starts []raftfsm.StartRun
	ends   []raftfsm.EndRun
	wake   time.Time
}

func (d *runDecision) wakeAt(t time.Time) {
	if !t.IsZero() && (d.wake.IsZero() || t.Before(d.wake)) {
		d.wake = t
	}
}

// activeRuns are the runs whose instances run now. A batch job stored
// before runs existed has one implicit run, number 0, of its version.
func activeRuns(j *raftfsm.Job) []raftfsm.Run {
	if len(j.Runs) == 0 && j.Spec.Type == raftfsm.JobBatch && len(j.Spec.Parents) == 0 {
		return []raftfsm.Run{{Number: 0, Version: j.Version, State: raftfsm.RunRunning, StartedAt: j.UpdatedAt}}
	}
	var out []raftfsm.Run
	for _, r := range j.Runs {
		if r.State == raftfsm.RunRunning {
			out = append(out, r)
		}
	}
	return out
}

// reconcileRuns runs each active run's instances to completion, retrying a
// failed one up to the job's retries (with backoff), and ends the run when
// every instance finished (succeeded) or one failed for good (failed,
// once the others are done). Tasks running longer than
// max_completion_seconds are killed, which counts as a failure. Cron jobs
// start runs on their schedule; dependent jobs after their parents.
func reconcileRuns(j *raftfsm.Job, tasks []*raftfsm.Task, jobs map[string]*raftfsm.Job, in Input) runDecision {
	var d runDecision
	now := in.Now
	byRun := map[int][]*raftfsm.Task{}
	running := false
	for _, t := range tasks {
		byRun[t.Run] = append(byRun[t.Run], t)
		if !t.Active() || t.KillRequested {
			continue
		}
		if limit := j.Spec.MaxCompletionSeconds; limit > 0 {
			since := t.RunningSince()
			if since.IsZero() {
				since = t.CreatedAt
			}
			if due := since.Add(time.Duration(limit * float64(time.Second))); !now.Before(due) {
				d.kills = append(d.kills, Kill{t.ID, KillTimeout})
			} else {
				d.wakeAt(due)
			}
		}
	}
	for _, r := range activeRuns(j) {
		running = true
		done, failedIdx := 0, -1
		var why string
		latest := map[int]*raftfsm.Task{}
		for _, t := range byRun[r.Number] {
			if l := latest[t.Instance]; l == nil || t.Attempt > l.Attempt {
				latest[t.Instance] = t
			}
		}
		for i := 0; i < j.Spec.Instances; i++ {
			last := latest[i]
			need := instanceNeed{job: j, instance: i, run: r.Number, pendingSince: r.StartedAt}
			switch {
			case last != nil && last.JobVersion < r.Version:
				// A batch job stored before runs: a new version reruns
				// every instance once the old version's task stopped.
				if last.Active() {
					if !last.KillRequested {
						d.kills = append(d.kills, Kill{last.ID, KillReplaced})
					}
					continue
				}
				need.attempt = last.Attempt + 1
			case last == nil:
			case last.Active():
				continue
			case last.State == raftfsm.TaskFinished, last.State == raftfsm.TaskKilled && !failed(last):
				// Finished, or killed by a user: this instance is done.
				done++
				continue
			case last.State == raftfsm.TaskLost:
				// Lost with its node: not its fault, no retry used.
				need.attempt, need.failures, need.pendingSince = last.Attempt+1, last.Failures, last.UpdatedAt
			default:
				need.attempt, need.failures, need.pendingSince = last.Attempt+1, last.Failures+1, last.UpdatedAt
				if need.failures > j.Spec.Retries {
					if failedIdx < 0 {
						failedIdx, why = i, describeEnd(last)
					}
					done++
					continue
				}
				if at := last.UpdatedAt.Add(Backoff(j.Spec, need.failures)); at.After(now) {
					d.wakeAt(at)
					continue
				}
			}
			d.needs = append(d.needs, need)
		}
		if !in.Records || len(j.Runs) == 0 || done < j.Spec.Instances {
			continue
		}
		end := raftfsm.EndRun{Job: j.Spec.ID, Number: r.Number, State: raftfsm.RunSucceeded, At: now}
		if failedIdx >= 0 {
			end.State = raftfsm.RunFailed
			end.Message = fmt.Sprintf("instance %d failed after %d retries: %s", failedIdx, j.Spec.Retries, why)
		}
		d.ends = append(d.ends, end)
	}
	if !in.Records {
		return d
	}
	switch {
	case j.Spec.Type == raftfsm.JobCron:
		scheduleRuns(j, running, in, &d)
	case len(j.Spec.Parents) > 0 && !running:
		if why := parentsDone(j, jobs); why == "" {
			d.starts = append(d.starts, raftfsm.StartRun{Job: j.Spec.ID, Trigger: raftfsm.TriggerParents, At: now})
		}
	}
	return d
}

func describeEnd(t *raftfsm.Task) string {
	if t.Message != "" {
		return strings.ToLower(t.State[len("TASK_"):]) + ": " + t.Message
	}
	return strings.ToLower(t.State[len("TASK_"):])
}

// scheduleRuns starts a cron job's run when its schedule time comes, as
// Chronos does: a time missed by more than epsilon_seconds (the cluster had
// no leader) is skipped, not run late; a time that comes while a run is
// still running is skipped under concurrency_policy forbid, replaces it
// under replace, and runs beside it under allow. Times at or before the
// job's LastScheduled were dealt with already, perhaps by another leader.
func scheduleRuns(j *raftfsm.Job, running bool, in Input, d *runDecision) {
	sched, err := in.schedule(j.Spec.Schedule, j.Spec.TimeZone)
	if err != nil {
		return // refused at submission; an old entry cannot be run
	}
	after := scheduledUpTo(j)
	now := in.Now
	due := schedule.Due(sched, after, now, maxMissed)
	if len(due) > 0 {
		epsilon := time.Duration(j.Spec.EpsilonSeconds * float64(time.Second))
		last := due[len(due)-1]
		missed := due[:len(due)-1]
		if now.Sub(last) > epsilon {
			missed = due
		}
		if len(missed) > 0 {
			at := missed[len(missed)-1]
			d.starts = append(d.starts, raftfsm.StartRun{Job: j.Spec.ID, Trigger: raftfsm.TriggerSchedule, ScheduledFor: at, At: now,
				Skip: fmt.Sprintf("%d scheduled run(s) up to %s missed by more than epsilon (%s): the cluster had no leader then", len(missed), at.Format(time.RFC3339), epsilon)})
		}
		if len(missed) < len(due) {
			start := raftfsm.StartRun{Job: j.Spec.ID, Trigger: raftfsm.TriggerSchedule, ScheduledFor: last, At: now}
			if running && j.Spec.ConcurrencyPolicy == "forbid" {
				start.Skip = "the previous run is still running (concurrency_policy forbid)"
			}
			d.starts = append(d.starts, start)
		}
		after = last
	}
	if next, ok := sched.Next(maxTime(after, now)); ok {
		d.wakeAt(next)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// parentsDone says why a dependent job must not run yet, or "" when every
// parent's latest run succeeded and one of them finished since the job's
// own latest run started (a run per new set of parent results).
func parentsDone(j *raftfsm.Job, jobs map[string]*raftfsm.Job) string {
	var since time.Time
	if r := j.CurrentRun(); r != nil {
		since = r.StartedAt
	}
	fresh := false
	for _, id := range j.Spec.Parents {
		p := jobs[id]
		if p == nil {
			return "parent " + id + " does not exist"
		}
		r := p.CurrentRun()
		if r == nil || r.State != raftfsm.RunSucceeded {
			state := "not run yet"
			if r != nil {
				state = r.State
			}
			return fmt.Sprintf("waiting for parent %s (its latest run: %s)", id, state)
		}
		if r.FinishedAt.After(since) || since.IsZero() {
			fresh = true
		}
	}
	if !fresh {
		return "no parent ran since its latest run"
	}
	return ""
}

// schedule parses a cron job's schedule, through the node's cache when it
// gives one.
func (in Input) schedule(spec, tz string) (schedule.Schedule, error) {
	if in.Schedule != nil {
		return in.Schedule(spec, tz)
	}
	return schedule.Parse(spec, tz)
}

// NextRun is when a cron job's schedule next starts a run, or zero when it
// never will (or the schedule does not parse).
func NextRun(j *raftfsm.Job, now time.Time) time.Time {
	if j.Spec.Type != raftfsm.JobCron {
		return time.Time{}
	}
	sched, err := schedule.Parse(j.Spec.Schedule, j.Spec.TimeZone)
	if err != nil {
		return time.Time{}
	}
	after := scheduledUpTo(j)
	next, ok := sched.Next(maxTime(after, now))
	if !ok {
		return time.Time{}
	}
	return next
}

// scheduledUpTo is the time up to which a cron job's schedule was handled:
// its latest run started or skipped, or its creation (a new job does not
// run what was due before it existed).
func scheduledUpTo(j *raftfsm.Job) time.Time {
	if j.LastScheduled.IsZero() || j.CreatedAt.After(j.LastScheduled) {
		return j.CreatedAt
	}
	return j.LastScheduled
}
