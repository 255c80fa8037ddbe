package node

import (
	"math"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/isolate"
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
		ID: s.ID, Type: s.Type, Cmd: s.Cmd, Instances: s.Instances,
		Resources: raftfsm.Resources{CPUs: s.CPUs, Mem: s.Mem, Disk: s.Disk, GPUs: s.GPUs},
		Ports:     s.Ports, Env: s.Env, Role: s.Role, Profile: s.Profile, User: s.User,
	}
	if s.Retries != nil {
		out.Retries = *s.Retries
	}
	if s.KillGraceSeconds != nil {
		out.KillGraceSeconds = *s.KillGraceSeconds
	}
	return out
}

func specToAPI(s raftfsm.JobSpec) api.JobSpec {
	out := api.JobSpec{
		ID: s.ID, Type: s.Type, Cmd: s.Cmd, Instances: s.Instances,
		CPUs: s.Resources.CPUs, Mem: s.Resources.Mem, Disk: s.Resources.Disk, GPUs: s.Resources.GPUs,
		Ports: s.Ports, Env: s.Env, Role: s.Role, Profile: s.Profile, User: s.User,
	}
	grace := s.KillGraceSeconds
	out.KillGraceSeconds = &grace
	if s.Type == api.JobBatch {
		r := s.Retries
		out.Retries = &r
	}
	return out
}

func taskToAPI(t *raftfsm.Task, nodeName string) api.Task {
	out := api.Task{
		ID: t.ID, Job: t.Job, JobVersion: t.JobVersion, Instance: t.Instance, Framework: t.Framework,
		Node: t.Node, NodeName: nodeName, State: t.State, Message: t.Message, Reason: t.Reason, ExitCode: t.ExitCode,
		Cmd: t.Cmd, Env: t.Env, Resources: fsmToAPI(t.Resources), KillRequested: t.KillRequested,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
	for _, h := range t.History {
		out.History = append(out.History, api.TaskStatus{State: h.State, Time: h.Time, Message: h.Message, Reason: h.Reason, ExitCode: h.ExitCode})
	}
	return out
}
