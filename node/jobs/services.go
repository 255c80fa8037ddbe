package jobs

import (
	"math"
	"sort"
	"time"

	"github.com/clusterd/clusterd/raftfsm"
)

// Why the framework kills a task (raftfsm.Task.KillReason). A task killed
// as unhealthy or for running too long failed; the others did not.
const (
	KillScaledDown = "scaled down"
	KillReplaced   = "replaced by a newer version"
	KillUnhealthy  = "unhealthy"
	KillTimeout    = "ran longer than max_completion_seconds"
	KillMoved      = "moved off a draining node"
)

// Kill is a task the plan stops, and why.
type Kill struct {
	ID     string
	Reason string
}

// stableRun is how long a service task must run before its next failure
// starts a fresh backoff: it was healthy, not crash-looping.
const stableRun = time.Minute

// Marathon's defaults, for jobs stored before they were part of the spec.
const (
	defaultBackoffSeconds = 1
	defaultBackoffFactor  = 1.15
	defaultMaxLaunchDelay = 300
)

// serviceParams are a service's restart and upgrade parameters with
// defaults filled in.
type serviceParams struct {
	backoff, factor, maxDelay float64
	minHealth, maxOver        float64
}

func paramsOf(s raftfsm.JobSpec) serviceParams {
	if s.BackoffSeconds <= 0 {
		// Stored before these fields existed.
		return serviceParams{defaultBackoffSeconds, defaultBackoffFactor, defaultMaxLaunchDelay, 1, 1}
	}
	return serviceParams{s.BackoffSeconds, s.BackoffFactor, s.MaxLaunchDelaySeconds, s.MinHealthCapacity, s.MaxOverCapacity}
}

// Backoff is the delay before the n-th consecutive restart of a failing
// service instance: backoff × factor^(n-1), at most maxDelay (Marathon's
// backoffSeconds, backoffFactor and maxLaunchDelaySeconds).
func Backoff(spec raftfsm.JobSpec, failures int) time.Duration {
	p := paramsOf(spec)
	if failures < 1 {
		return 0
	}
	d := p.backoff * math.Pow(max(p.factor, 1), float64(failures-1))
	// Whole microseconds: 1.15² is 1.3224999999999998.
	return time.Duration(math.Round(min(d, p.maxDelay)*1e6)) * time.Microsecond
}

// Serving reports whether a task serves: running, not being killed, and
// passing its health checks when it has any.
func Serving(t *raftfsm.Task) bool {
	if t.State != raftfsm.TaskRunning || t.KillRequested {
		return false
	}
	return len(t.HealthChecks) == 0 || (t.Healthy != nil && *t.Healthy)
}

// serviceDecision is what reconciling a service decides.
type serviceDecision struct {
	needs []instanceNeed
	kills []Kill
	end   *raftfsm.EndDeployment
	wake  time.Time
}

// reconcileService keeps a service at its instance count and rolls it to
// its latest version as Marathon does: new tasks start while the job runs
// at most instances × (1 + max_over_capacity) tasks, and old ones stop
// while at least instances × min_health_capacity tasks stay healthy. A
// task its health checks declared unhealthy is killed (and replaced, with
// backoff); instances beyond the count are scaled down, highest first.
//
// A task on a node in moving is replaced the same way as one of an older
// version: that is how a draining node's services move without dropping
// below min_health_capacity.
func reconcileService(j *raftfsm.Job, tasks []*raftfsm.Task, now time.Time, moving map[string]bool) serviceDecision {
	var d serviceDecision
	n, version := j.Spec.Instances, j.Version
	p := paramsOf(j.Spec)
	latest := map[int]*raftfsm.Task{}
	current := map[int]*raftfsm.Task{} // the active task of the latest version, per instance
	var old []*raftfsm.Task            // active tasks of older versions within the count
	dying := map[string]bool{}         // killed by this plan
	total := 0                         // active tasks within the count, not being killed
	for _, t := range tasks {
		if l := latest[t.Instance]; l == nil || t.Attempt > l.Attempt {
			latest[t.Instance] = t
		}
		if !t.Active() || t.KillRequested {
			continue
		}
		switch {
		case t.Instance >= n:
			d.kills = append(d.kills, Kill{t.ID, KillScaledDown})
			dying[t.ID] = true
			continue
		case t.Healthy != nil && !*t.Healthy:
			d.kills = append(d.kills, Kill{t.ID, KillUnhealthy})
			dying[t.ID] = true
			continue
		}
		total++
		if t.JobVersion >= version && !moving[t.Node] {
			current[t.Instance] = t
		} else {
			old = append(old, t)
		}
	}
	maxTotal := n + int(math.Floor(float64(n)*p.maxOver+1e-9))
	oldOf := map[int]bool{}
	for _, t := range old {
		oldOf[t.Instance] = true
	}
	// Instances without a task first (restoring the count), then new tasks
	// beside old ones while the over capacity allows.
	var replacing []instanceNeed
	for i := 0; i < n; i++ {
		if current[i] != nil {
			continue
		}
		last := latest[i]
		need := instanceNeed{job: j, instance: i, pendingSince: pendingSince(j, last)}
		switch {
		case last == nil:
		case last.Active() && (last.KillRequested || dying[last.ID]):
			continue // its end decides what follows (a failure backs off)
		case last.Active():
			// Its task is of an older version: a new one joins it, when
			// the over capacity allows.
			need.attempt = last.Attempt + 1
			need.failures = last.Failures
		default:
			var at time.Time
			need, at = restartService(j, last, now)
			need.pendingSince = pendingSince(j, last)
			if at.After(now) {
				if d.wake.IsZero() || at.Before(d.wake) {
					d.wake = at
				}
				continue
			}
		}
		if oldOf[i] {
			replacing = append(replacing, need)
			continue
		}
		total++
		d.needs = append(d.needs, need)
	}
	for _, need := range replacing {
		if total >= maxTotal {
			break // wait for old tasks to stop
		}
		total++
		d.needs = append(d.needs, need)
	}
	// Old tasks stop while enough tasks stay healthy, those whose instance
	// already runs the new version first, then the unhealthy ones.
	healthyCount := 0
	for i := 0; i < n; i++ {
		if t := current[i]; t != nil && Serving(t) {
			healthyCount++
		}
	}
	for _, t := range old {
		if Serving(t) {
			healthyCount++
		}
	}
	minHealthy := int(math.Ceil(float64(n)*p.minHealth - 1e-9))
	sort.SliceStable(old, func(a, b int) bool {
		ra, rb := current[old[a].Instance] != nil, current[old[b].Instance] != nil
		if ra != rb {
			return ra
		}
		ha, hb := Serving(old[a]), Serving(old[b])
		if ha != hb {
			return !ha
		}
		return old[a].Instance > old[b].Instance
	})
	for _, t := range old {
		h := Serving(t)
		if h && healthyCount-1 < minHealthy {
			continue
		}
		if h {
			healthyCount--
		}
		reason := KillReplaced
		if t.JobVersion >= version {
			reason = KillMoved
		}
		d.kills = append(d.kills, Kill{t.ID, reason})
	}
	if dep := runningDeployment(j); dep != nil && dep.Version == version && len(old) == 0 {
		done := true
		for i := 0; i < n && done; i++ {
			done = current[i] != nil && Serving(current[i])
		}
		if done {
			d.end = &raftfsm.EndDeployment{Job: j.Spec.ID, Version: version, At: now}
		}
	}
	return d
}

func runningDeployment(j *raftfsm.Job) *raftfsm.Deployment {
	for i := len(j.Deployments) - 1; i >= 0; i-- {
		if j.Deployments[i].State == raftfsm.DeploymentRunning {
			return &j.Deployments[i]
		}
	}
	return nil
}

// restartService decides when an instance whose latest task ended runs
// again. A service that exits, even with 0, restarts with backoff: a
// command that returns at once must not restart in a tight loop. A task
// lost with its node, or killed by a user or a scale, is not the task's
// fault: it runs again at once.
func restartService(j *raftfsm.Job, last *raftfsm.Task, now time.Time) (instanceNeed, time.Time) {
	need := instanceNeed{job: j, instance: last.Instance, attempt: last.Attempt + 1}
	if last.State == raftfsm.TaskLost {
		need.failures = last.Failures // not its fault, but it did not run well either
	}
	if !failed(last) && last.State != raftfsm.TaskFinished {
		return need, now
	}
	need.failures = last.Failures + 1
	if since := last.RunningSince(); !since.IsZero() && last.UpdatedAt.Sub(since) >= stableRun {
		need.failures = 1
	}
	return need, last.UpdatedAt.Add(Backoff(j.Spec, need.failures))
}

// failed reports whether a task's end counts against it: it failed or
// erred, or the framework killed it as unhealthy or for running too long.
func failed(t *raftfsm.Task) bool {
	switch t.State {
	case raftfsm.TaskFailed, raftfsm.TaskError:
		return true
	case raftfsm.TaskKilled:
		return t.KillReason == KillUnhealthy || t.KillReason == KillTimeout
	}
	return false
}

// pendingSince is since when an instance waits: the end of its last task,
// or the job's last change.
func pendingSince(j *raftfsm.Job, last *raftfsm.Task) time.Time {
	if last != nil && !last.Active() {
		return last.UpdatedAt
	}
	return j.UpdatedAt
}
