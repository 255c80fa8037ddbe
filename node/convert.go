package node

import (
	"math"
	"time"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/isolate"
	"github.com/clusterd/clusterd/node/jobs"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// The node translates between the three schemas it sits between: the API's
// (wire), raftfsm's (log) and the allocator's (its own input types).

func toAlloc(r raftfsm.Resources) allocator.Resources {
	out := allocator.Resources{CPUs: r.CPUs, Mem: r.Mem, Disk: r.Disk, GPUs: r.GPUs}
	for _, p := range r.Ports {
		out.Ports = append(out.Ports, allocator.PortRange{Begin: p.Begin, End: p.End})
	}
	return out
}

func allocToAPI(r allocator.Resources) api.Resources {
	out := api.Resources{CPUs: r.CPUs, Mem: r.Mem, Disk: r.Disk, GPUs: r.GPUs}
	for _, p := range r.Ports {
		out.Ports = append(out.Ports, api.PortRange{Begin: p.Begin, End: p.End})
	}
	return out
}

func fsmToAPI(r raftfsm.Resources) api.Resources {
	out := api.Resources{CPUs: r.CPUs, Mem: r.Mem, Disk: r.Disk, GPUs: r.GPUs}
	for _, p := range r.Ports {
		out.Ports = append(out.Ports, api.PortRange{Begin: p.Begin, End: p.End})
	}
	return out
}

func apiToFSM(r api.Resources) raftfsm.Resources {
	out := raftfsm.Resources{CPUs: r.CPUs, Mem: r.Mem, Disk: r.Disk, GPUs: r.GPUs}
	for _, p := range r.Ports {
		out.Ports = append(out.Ports, raftfsm.PortRange{Begin: p.Begin, End: p.End})
	}
	return out
}

func machineToFSM(m isolate.MachineResources) raftfsm.Resources {
	// Whole MiB: fractions of a MiB only make tables unreadable.
	out := raftfsm.Resources{CPUs: m.CPUs, Mem: math.Floor(m.MemMiB), Disk: math.Floor(m.DiskMiB), GPUs: len(m.GPUs)}
	for _, p := range m.Ports {
		out.Ports = append(out.Ports, raftfsm.PortRange{Begin: p.Begin, End: p.End})
	}
	return out
}

func specToFSM(s api.JobSpec) raftfsm.JobSpec {
	out := raftfsm.JobSpec{
		ID: s.ID, Type: s.Type, Cmd: s.Cmd, Args: s.Args, Instances: s.Instances,
		Resources: raftfsm.Resources{CPUs: s.CPUs, Mem: s.Mem, Disk: s.Disk, GPUs: s.GPUs},
		Ports:     s.Ports, Env: s.Env, Role: s.Role, Profile: s.Profile, User: s.User,
		Priority: s.Priority, Lifetime: s.Lifetime, MaxCompletionSeconds: s.MaxCompletionSeconds,
		Schedule: s.Schedule, TimeZone: s.TimeZone, ConcurrencyPolicy: s.ConcurrencyPolicy, Parents: s.Parents,
		BackoffSeconds: deref(s.BackoffSeconds), BackoffFactor: deref(s.BackoffFactor), MaxLaunchDelaySeconds: deref(s.MaxLaunchDelaySeconds),
		RetentionSeconds: deref(s.RetentionSeconds), EpsilonSeconds: deref(s.EpsilonSeconds), KillGraceSeconds: deref(s.KillGraceSeconds),
	}
	if s.Retries != nil {
		out.Retries = *s.Retries
	}
	if u := s.UpgradeStrategy; u != nil {
		out.MinHealthCapacity, out.MaxOverCapacity = deref(u.MinimumHealthCapacity), deref(u.MaximumOverCapacity)
	}
	for _, c := range s.Constraints {
		out.Constraints = append(out.Constraints, raftfsm.Constraint{Field: c.Field, Operator: c.Operator, Value: c.Value, Soft: c.Soft})
	}
	for _, hc := range s.HealthChecks {
		out.HealthChecks = append(out.HealthChecks, raftfsm.HealthCheck{Protocol: hc.Protocol, Path: hc.Path, PortIndex: hc.PortIndex, Command: hc.Command,
			GracePeriodSeconds: deref(hc.GracePeriodSeconds), IntervalSeconds: deref(hc.IntervalSeconds), TimeoutSeconds: deref(hc.TimeoutSeconds),
			MaxConsecutiveFailures: derefInt(hc.MaxConsecutiveFailures)})
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func derefInt(p *int) int { return deref(p) }

func specToAPI(s raftfsm.JobSpec) api.JobSpec {
	out := api.JobSpec{
		ID: s.ID, Type: s.Type, Cmd: s.Cmd, Args: s.Args, Instances: s.Instances,
		CPUs: s.Resources.CPUs, Mem: s.Resources.Mem, Disk: s.Resources.Disk, GPUs: s.Resources.GPUs,
		Ports: s.Ports, Env: s.Env, Role: s.Role, Profile: s.Profile, User: s.User,
		Priority: s.Priority, Lifetime: s.Lifetime, MaxCompletionSeconds: s.MaxCompletionSeconds,
		Schedule: s.Schedule, TimeZone: s.TimeZone, ConcurrencyPolicy: s.ConcurrencyPolicy, Parents: s.Parents,
	}
	grace := s.KillGraceSeconds
	out.KillGraceSeconds = &grace
	if s.RetentionSeconds > 0 {
		out.RetentionSeconds = ptr(s.RetentionSeconds)
	}
	if s.Type != api.JobService {
		out.Retries = ptr(s.Retries)
	}
	if s.Type == api.JobCron {
		out.EpsilonSeconds = ptr(s.EpsilonSeconds)
	}
	if s.Type == api.JobService && s.BackoffSeconds > 0 {
		// Jobs stored before these fields existed have none: show only what
		// is set.
		out.BackoffSeconds, out.BackoffFactor, out.MaxLaunchDelaySeconds = ptr(s.BackoffSeconds), ptr(s.BackoffFactor), ptr(s.MaxLaunchDelaySeconds)
		out.UpgradeStrategy = &api.UpgradeStrategy{MinimumHealthCapacity: ptr(s.MinHealthCapacity), MaximumOverCapacity: ptr(s.MaxOverCapacity)}
	}
	for _, c := range s.Constraints {
		out.Constraints = append(out.Constraints, api.Constraint{Field: c.Field, Operator: c.Operator, Value: c.Value, Soft: c.Soft})
	}
	for _, hc := range s.HealthChecks {
		out.HealthChecks = append(out.HealthChecks, api.HealthCheck{Protocol: hc.Protocol, Path: hc.Path, PortIndex: hc.PortIndex, Command: hc.Command,
			GracePeriodSeconds: ptr(hc.GracePeriodSeconds), IntervalSeconds: ptr(hc.IntervalSeconds), TimeoutSeconds: ptr(hc.TimeoutSeconds),
			MaxConsecutiveFailures: ptr(hc.MaxConsecutiveFailures)})
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func taskToAPI(t *raftfsm.Task, nodeName string) api.Task {
	out := api.Task{
		ID: t.ID, Job: t.Job, JobVersion: t.JobVersion, Instance: t.Instance, Framework: t.Framework,
		Node: t.Node, NodeName: nodeName, State: t.State, Message: t.Message, Reason: t.Reason, ExitCode: t.ExitCode,
		Cmd: t.Cmd, Env: t.Env, Resources: fsmToAPI(t.Resources), KillRequested: t.KillRequested, KillReason: t.KillReason, Healthy: t.Healthy, Run: t.Run,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
	for _, h := range t.History {
		out.History = append(out.History, api.TaskStatus{State: h.State, Time: h.Time, Message: h.Message, Reason: h.Reason, ExitCode: h.ExitCode, Healthy: h.Healthy, UUID: h.UUID})
	}
	return out
}

// fillRecords adds a job's deployments, runs, the progress of a service's
// roll-out and a cron job's next run to its API form.
func fillRecords(out *api.Job, j *raftfsm.Job, tasks []*raftfsm.Task, now time.Time) {
	for _, d := range j.Deployments {
		out.Deployments = append(out.Deployments, api.DeploymentRecord{Version: d.Version, State: d.State, StartedAt: d.StartedAt, FinishedAt: d.FinishedAt})
	}
	for _, r := range j.Runs {
		out.Runs = append(out.Runs, api.Run{Number: r.Number, Version: r.Version, Trigger: r.Trigger, ScheduledFor: r.ScheduledFor,
			State: r.State, Message: r.Message, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt})
	}
	out.NextRun = jobs.NextRun(j, now)
	if n := len(j.Deployments); n > 0 && j.Deployments[n-1].State == raftfsm.DeploymentRunning {
		d := &api.Deployment{Version: j.Version, Instances: j.Spec.Instances, StartedAt: j.Deployments[n-1].StartedAt}
		for _, t := range tasks {
			switch {
			case !t.Active() || t.KillRequested:
			case t.JobVersion == j.Version:
				d.Updated++
				if jobs.Serving(t) {
					d.Healthy++
				}
			default:
				d.Old++
			}
		}
		out.Deployment = d
	}
}
