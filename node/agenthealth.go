package node

import (
	"time"

	"github.com/clusterd/clusterd/node/health"
	"github.com/clusterd/clusterd/raftfsm"
)

// newHealthMonitor is the agent's monitor of its tasks' health checks.
// COMMAND checks run inside the task's isolation when the isolator can
// exec in it; otherwise the monitor refuses them (and the task reports
// why).
func (a *agent) newHealthMonitor() *health.Monitor {
	cfg := health.Config{Logger: a.n.log.With("component", "health")}
	if ex, ok := a.iso.(health.Execer); ok {
		cfg.Execer = ex
	}
	return health.NewMonitor(cfg)
}

// startHealth starts a running task's checks, once: from when it started
// running here, or from now for a task re-adopted after a restart (its
// grace period starts over, which errs towards keeping it).
func (a *agent) startHealth(t *raftfsm.Task, lt *localTask, now time.Time) {
	lt.checked, lt.monitored = true, true
	since := lt.runningAt
	if since.IsZero() {
		since = now
	}
	if err := a.health.Start(t.ID, healthChecks(t.HealthChecks), healthTarget(t), since); err != nil {
		// The job's checks passed validation at submission; this is an
		// agent that cannot run one (a COMMAND check without an isolator
		// that execs). Marking it unhealthy would replace it for ever:
		// say why and leave it running.
		lt.monitored = false
		a.n.log.Warn("health checks not started", "task", t.ID, "err", err)
		a.queue.push(raftfsm.StatusUpdate{TaskID: t.ID, State: raftfsm.TaskRunning, Message: err.Error(), At: now})
	}
}

// stopHealth ends a task's checks, if they run.
func (a *agent) stopHealth(id string, lt *localTask) {
	if lt != nil && lt.monitored {
		lt.monitored = false
		a.health.Stop(id)
	}
}

// healthChanged reports a change of a task's health to the cluster: when
// it turns healthy, and when a check failed its maximum number of times in
// a row (the framework then replaces it). Failures below the maximum are
// the monitor's to log: each would otherwise be a Raft write.
func (a *agent) healthChanged(c health.Change) {
	lt := a.local[c.TaskID]
	if lt == nil || !lt.monitored || lt.killing {
		return
	}
	switch {
	case c.Unhealthy:
		lt.monitored = false // the monitor stopped its checks
		lt.unhealthy = c.Message
		healthy := false
		a.queue.push(raftfsm.StatusUpdate{TaskID: c.TaskID, State: raftfsm.TaskRunning, Healthy: &healthy, Message: c.Message, At: c.At})
	case c.Healthy:
		healthy := true
		a.queue.push(raftfsm.StatusUpdate{TaskID: c.TaskID, State: raftfsm.TaskRunning, Healthy: &healthy, At: c.At})
	}
}

// healthChecks are a task's checks as the monitor runs them.
func healthChecks(checks []raftfsm.HealthCheck) []health.Check {
	out := make([]health.Check, len(checks))
	for i, c := range checks {
		out[i] = health.Check{
			Protocol:               c.Protocol,
			Path:                   c.Path,
			PortIndex:              c.PortIndex,
			Command:                c.Command,
			GracePeriod:            durationOf(c.GracePeriodSeconds),
			Interval:               durationOf(c.IntervalSeconds),
			Timeout:                durationOf(c.TimeoutSeconds),
			MaxConsecutiveFailures: c.MaxConsecutiveFailures,
		}
	}
	return out
}

func durationOf(seconds float64) time.Duration { return time.Duration(seconds * float64(time.Second)) }

// healthTarget is where a task's checks probe: its ports, in order, on
// loopback (tasks share the agent's network).
func healthTarget(t *raftfsm.Task) health.Target {
	var ports []int
	for _, r := range t.Resources.Ports {
		for p := int(r.Begin); p <= int(r.End); p++ {
			ports = append(ports, p)
		}
	}
	return health.Target{TaskID: t.ID, Ports: ports}
}
