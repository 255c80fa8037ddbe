// Package jobs is clusterd's built-in jobs framework: services kept at their
// instance count with restart backoff and rolling replacement on update, and
// batch jobs run to completion with retries. It schedules through resource
// offers like any external framework.
//
// Decide is pure: it takes the replicated jobs and tasks, the offers the
// framework holds and the cluster's hosts, and returns what to launch on
// which offers, what to kill, and why the rest is pending. The node does the
// I/O (accepting offers, writing to Raft); time and task ids come in as
// inputs.
package jobs

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/allocator/placement"
	"github.com/clusterd/clusterd/node/jobs/schedule"
	"github.com/clusterd/clusterd/raftfsm"
)

// FrameworkID is the built-in framework's id on tasks.
const FrameworkID = "clusterd-jobs"

// DefaultRole is the built-in framework's own role: jobs that name no role
// are accounted to it, beside the roles of Mesos frameworks. A job that
// names a role (to use its reservations, within its quota) is placed on
// offers made to the framework in that role.
const DefaultRole = "jobs"

// RoleOf is the role a job's tasks are allocated to.
func RoleOf(spec raftfsm.JobSpec) string {
	if spec.Role == "" {
		return DefaultRole
	}
	return spec.Role
}

// Host is a node as the planner sees it: what it has in all and what is free
// now (unallocated, including what is offered to this framework).
type Host struct {
	ID         string
	Name       string
	Attributes map[string]string // what constraints match, with "hostname" (Name)
	Total      allocator.Resources
	Free       allocator.Resources
}

// Input is everything Plan decides from.
type Input struct {
	Now   time.Time
	Jobs  []*raftfsm.Job
	Tasks map[string][]*raftfsm.Task // by job id, active and terminal
	// Offers are the outstanding offers made to this framework.
	Offers []allocator.Offer
	Hosts  []Host
	// NewTaskID returns a fresh unique id for an instance of a job.
	NewTaskID func(job string, instance int) string
	// Schedule parses a cron job's schedule (the node caches them); nil
	// parses every time.
	Schedule func(spec, timeZone string) (schedule.Schedule, error)
	// Placement scores the hosts a task fits on; the zero Config packs
	// CPUs and memory (placement.DefaultConfig).
	Placement placement.Config
	// Records is true when the log keeps runs and deployments (log version
	// 2): without, no run is started or ended and no deployment ended.
	Records bool
	// Moving are the nodes (draining) whose service tasks move elsewhere
	// by the services' rolling-update rules, as if they ran an old
	// version: a replacement starts first, then the task stops. Batch
	// tasks there are let finish.
	Moving map[string]bool
}

// Accept is a set of tasks to launch on one agent's offers of one role.
type Accept struct {
	Agent     allocator.AgentID
	Role      string
	Framework allocator.FrameworkID // the offers' framework, as the allocator names it
	Offers    []allocator.OfferID
	Tasks     []raftfsm.Task
}

// Pending says why some instances of a job were not placed.
type Pending struct {
	Instances   int
	Unplaceable bool // no host could ever fit one instance
	Message     string
	Hosts       map[string]int // reason -> number of hosts rejected for it
	// Why is placement's account for the job's most urgent unplaced
	// instance (Hosts 0 when no host is ready); nil when its instances fit
	// what is free and only wait for an offer. The autoscaler reads it.
	Why *placement.Why
}

// Plan is Decide's decision.
type Plan struct {
	Accepts []Accept
	// Unused are offers with nothing launched on them.
	Unused []allocator.Offer
	// Kill are tasks to kill and why (scale down, replaced versions,
	// unhealthy, timed out).
	Kill []Kill
	// Pending is keyed by job id.
	Pending map[string]Pending
	// WakeAt is the earliest time something is due (a backoff, a schedule,
	// a completion limit); zero if none.
	WakeAt time.Time
	// StartRuns, EndRuns and EndDeployments are the job records to write.
	StartRuns      []raftfsm.StartRun
	EndRuns        []raftfsm.EndRun
	EndDeployments []raftfsm.EndDeployment
}

func (p *Plan) wakeAt(t time.Time) {
	if !t.IsZero() && (p.WakeAt.IsZero() || t.Before(p.WakeAt)) {
		p.WakeAt = t
	}
}

// instanceNeed is one instance that needs a task launched.
type instanceNeed struct {
	job          *raftfsm.Job
	instance     int
	attempt      int
	failures     int
	run          int
	pendingSince time.Time
}

// offerSpace tracks what is left of the offers on one agent, in one role,
// while placing.
type offerSpace struct {
	agent     allocator.AgentID
	role      string
	framework allocator.FrameworkID
	name      string
	offers    []allocator.Offer
	left      allocator.Resources
	tasks     []raftfsm.Task
}

// Decide plans launches and kills for every job.
func Decide(in Input) Plan {
	p := Plan{Pending: map[string]Pending{}}
	in.Hosts = withLifetimes(in)
	jobs := append([]*raftfsm.Job(nil), in.Jobs...)
	// Older jobs first: a newly submitted job does not starve one that has
	// waited longer.
	sort.Slice(jobs, func(i, j int) bool {
		if !jobs[i].CreatedAt.Equal(jobs[j].CreatedAt) {
			return jobs[i].CreatedAt.Before(jobs[j].CreatedAt)
		}
		return jobs[i].Spec.ID < jobs[j].Spec.ID
	})
	byID := make(map[string]*raftfsm.Job, len(jobs))
	for _, j := range jobs {
		byID[j.Spec.ID] = j
	}
	var needs []instanceNeed
	for _, j := range jobs {
		tasks := in.Tasks[j.Spec.ID]
		if j.Spec.Type == raftfsm.JobService {
			d := reconcileService(j, tasks, in.Now, in.Moving)
			needs = append(needs, d.needs...)
			p.Kill = append(p.Kill, d.kills...)
			if d.end != nil && in.Records {
				p.EndDeployments = append(p.EndDeployments, *d.end)
			}
			p.wakeAt(d.wake)
			continue
		}
		d := reconcileRuns(j, tasks, byID, in)
		needs = append(needs, d.needs...)
		p.Kill = append(p.Kill, d.kills...)
		p.StartRuns = append(p.StartRuns, d.starts...)
		p.EndRuns = append(p.EndRuns, d.ends...)
		p.wakeAt(d.wake)
	}
	spaces := groupOffers(in.Offers)
	unplaced := placeAll(in, needs, spaces)
	for _, s := range spaces {
		if len(s.tasks) == 0 {
			p.Unused = append(p.Unused, s.offers...)
			continue
		}
		ids := make([]allocator.OfferID, len(s.offers))
		for i, o := range s.offers {
			ids[i] = o.ID
		}
		p.Accepts = append(p.Accepts, Accept{Agent: s.agent, Role: s.role, Framework: s.framework, Offers: ids, Tasks: s.tasks})
	}
	for id, pend := range explain(in, unplaced, spaces) {
		p.Pending[id] = pend
	}
	return p
}

func groupOffers(offers []allocator.Offer) []*offerSpace {
	type key struct {
		agent allocator.AgentID
		role  string
	}
	byKey := map[key]*offerSpace{}
	var out []*offerSpace
	for _, o := range offers {
		k := key{o.Agent, o.Role}
		s := byKey[k]
		if s == nil {
			s = &offerSpace{agent: o.Agent, role: o.Role, framework: o.Framework, name: o.Hostname}
			byKey[k] = s
			out = append(out, s)
		}
		s.offers = append(s.offers, o)
		s.left = s.left.Add(o.Resources)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].agent != out[j].agent {
			return out[i].agent < out[j].agent
		}
		return out[i].role < out[j].role
	})
	return out
}

func wants(spec raftfsm.JobSpec) allocator.Resources {
	return allocator.Resources{CPUs: spec.Resources.CPUs, Mem: spec.Resources.Mem, Disk: spec.Resources.Disk, GPUs: spec.Resources.GPUs}
}

// CommandLine is the shell command a job's tasks run: its cmd, or its args
// exec'd (each quoted, so no shell word splitting or expansion applies).
func CommandLine(spec raftfsm.JobSpec) string {
	if len(spec.Args) == 0 {
		return spec.Cmd
	}
	words := make([]string, 0, len(spec.Args)+1)
	words = append(words, "exec")
	for _, a := range spec.Args {
		words = append(words, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	return strings.Join(words, " ")
}

func toFSM(r allocator.Resources) raftfsm.Resources {
	out := raftfsm.Resources{CPUs: r.CPUs, Mem: r.Mem, Disk: r.Disk, GPUs: r.GPUs}
	for _, p := range r.Ports {
		out.Ports = append(out.Ports, raftfsm.PortRange{Begin: p.Begin, End: p.End})
	}
	return out
}

// largestShortfalls says, for each resource no node has enough of, what the
// job wants and what the largest node has.
func largestShortfalls(hosts []Host, want allocator.Resources, ports int) []string {
	var most allocator.Resources
	mostPorts := 0
	for _, h := range hosts {
		most.CPUs = max(most.CPUs, h.Total.CPUs)
		most.Mem = max(most.Mem, h.Total.Mem)
		most.Disk = max(most.Disk, h.Total.Disk)
		most.GPUs = max(most.GPUs, h.Total.GPUs)
		mostPorts = max(mostPorts, h.Total.NumPorts())
	}
	var out []string
	if most.CPUs+1e-9 < want.CPUs {
		out = append(out, fmt.Sprintf("wants cpus %g, the largest node has %g", want.CPUs, most.CPUs))
	}
	if most.Mem+1e-9 < want.Mem {
		out = append(out, fmt.Sprintf("wants mem %g MiB, the largest node has %g MiB", want.Mem, most.Mem))
	}
	if most.Disk+1e-9 < want.Disk {
		out = append(out, fmt.Sprintf("wants disk %g MiB, the largest node has %g MiB", want.Disk, most.Disk))
	}
	if most.GPUs < want.GPUs {
		out = append(out, fmt.Sprintf("wants %d gpus, the largest node has %d", want.GPUs, most.GPUs))
	}
	if mostPorts < ports {
		out = append(out, fmt.Sprintf("wants %d ports, the largest node has %d", ports, mostPorts))
	}
	if len(out) == 0 {
		// Each resource fits on some node, but never all on the same one.
		out = append(out, "no single node has all of the resources it wants")
	}
	return out
}

func summarize(reasons map[string]int, hosts int) string {
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s on %d of %d nodes", k, reasons[k], hosts))
	}
	if len(parts) == 0 {
		return "resources are free but not yet offered; it will be placed shortly"
	}
	return strings.Join(parts, ", ")
}

// State summarizes a job for the API. A service is "running" when every
// instance runs its latest version, healthy, "deploying" until then, and
// "suspended" at 0 instances. A batch job is "running", "complete" or
// "failed" as its latest run; a cron job between runs is "scheduled", and
// a dependent job that never ran is "waiting".
func State(j *raftfsm.Job, tasks []*raftfsm.Task) string {
	if j.Spec.Type == raftfsm.JobService {
		if j.Spec.Instances == 0 {
			return "suspended"
		}
		current := 0
		for _, t := range tasks {
			if t.Active() && t.JobVersion < j.Version && !t.KillRequested {
				return "deploying"
			}
			if t.JobVersion == j.Version && t.Instance < j.Spec.Instances && Serving(t) {
				current++
			}
		}
		if current >= j.Spec.Instances {
			return "running"
		}
		return "deploying"
	}
	r := j.CurrentRun()
	switch {
	case r == nil && len(j.Runs) == 0 && j.Spec.Type == raftfsm.JobBatch && len(j.Spec.Parents) == 0:
		return legacyBatchState(j, tasks)
	case r == nil && j.Spec.Type == raftfsm.JobCron:
		return "scheduled"
	case r == nil:
		return "waiting"
	case r.State == raftfsm.RunRunning:
		return "running"
	case j.Spec.Type == raftfsm.JobCron:
		return "scheduled"
	case r.State == raftfsm.RunSucceeded:
		return "complete"
	case r.State == raftfsm.RunFailed:
		return "failed"
	}
	return r.State
}

// legacyBatchState is the state of a batch job stored before runs existed.
func legacyBatchState(j *raftfsm.Job, tasks []*raftfsm.Task) string {
	latest := map[int]*raftfsm.Task{}
	for _, t := range tasks {
		if l := latest[t.Instance]; l == nil || t.Attempt > l.Attempt {
			latest[t.Instance] = t
		}
	}
	finished, failedN := 0, 0
	for i := 0; i < j.Spec.Instances; i++ {
		t := latest[i]
		if t == nil || t.JobVersion != j.Version {
			continue
		}
		switch {
		case t.State == raftfsm.TaskFinished:
			finished++
		case t.State == raftfsm.TaskKilled && !failed(t):
			failedN++
		case (t.State == raftfsm.TaskFailed || t.State == raftfsm.TaskError || failed(t)) && t.Failures >= j.Spec.Retries:
			failedN++
		}
	}
	switch {
	case failedN > 0 && finished+failedN == j.Spec.Instances:
		return "failed"
	case finished == j.Spec.Instances:
		return "complete"
	}
	return "running"
}
