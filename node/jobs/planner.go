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

const (
	// Restart backoff for failing instances: 1s, 2s, 4s, ... capped.
	backoffBase = time.Second
	backoffMax  = time.Minute
	// A service task that ran this long before failing starts a fresh
	// backoff sequence: it was healthy, not crash-looping.
	stableRun = time.Minute
)

// Host is a node as the planner sees it: what it has in all and what is free
// now (unallocated, including what is offered to this framework).
type Host struct {
	ID    string
	Name  string
	Total allocator.Resources
	Free  allocator.Resources
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
}

// Plan is Plan's decision.
type Plan struct {
	Accepts []Accept
	// Unused are offers with nothing launched on them.
	Unused []allocator.Offer
	// Kill are task ids to kill (scale down, replaced versions).
	Kill []string
	// Pending is keyed by job id.
	Pending map[string]Pending
	// WakeAt is the earliest time a backoff expires; zero if none.
	WakeAt time.Time
}

// instanceNeed is one instance that needs a task launched.
type instanceNeed struct {
	job      *raftfsm.Job
	instance int
	attempt  int
	failures int
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
	jobs := append([]*raftfsm.Job(nil), in.Jobs...)
	// Older jobs first: a newly submitted job does not starve one that has
	// waited longer.
	sort.Slice(jobs, func(i, j int) bool {
		if !jobs[i].CreatedAt.Equal(jobs[j].CreatedAt) {
			return jobs[i].CreatedAt.Before(jobs[j].CreatedAt)
		}
		return jobs[i].Spec.ID < jobs[j].Spec.ID
	})
	var needs []instanceNeed
	for _, j := range jobs {
		n, kill, wake := reconcileJob(j, in.Tasks[j.Spec.ID], in.Now)
		needs = append(needs, n...)
		p.Kill = append(p.Kill, kill...)
		if !wake.IsZero() && (p.WakeAt.IsZero() || wake.Before(p.WakeAt)) {
			p.WakeAt = wake
		}
	}
	spaces := groupOffers(in.Offers)
	unplaced := map[string][]instanceNeed{}
	for _, need := range needs {
		if !place(spaces, need, in.NewTaskID) {
			unplaced[need.job.Spec.ID] = append(unplaced[need.job.Spec.ID], need)
		}
	}
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
	for id, ns := range unplaced {
		p.Pending[id] = explain(ns[0].job, len(ns), in.Hosts)
	}
	return p
}

// reconcileJob compares a job's wanted instances with its tasks.
func reconcileJob(j *raftfsm.Job, tasks []*raftfsm.Task, now time.Time) (needs []instanceNeed, kill []string, wake time.Time) {
	latest := map[int]*raftfsm.Task{}
	var active []*raftfsm.Task
	for _, t := range tasks {
		if l := latest[t.Instance]; l == nil || t.Attempt > l.Attempt {
			latest[t.Instance] = t
		}
		if t.Active() {
			active = append(active, t)
		}
	}
	// Scale down: instances beyond the wanted count, highest first.
	for _, t := range active {
		if t.Instance >= j.Spec.Instances && !t.KillRequested {
			kill = append(kill, t.ID)
		}
	}
	// A service replaces one outdated task at a time: no rolling kill while
	// any instance is down, starting, or being killed.
	rolling := false
	if j.Spec.Type == "service" {
		for i := 0; i < j.Spec.Instances; i++ {
			if l := latest[i]; l != nil && (!l.Active() || l.KillRequested || l.State != raftfsm.TaskRunning) {
				rolling = true
			}
		}
	}
	for i := 0; i < j.Spec.Instances; i++ {
		last := latest[i]
		switch {
		case last == nil:
			needs = append(needs, instanceNeed{job: j, instance: i})
		case last.Active():
			if last.JobVersion < j.Version && !last.KillRequested && (j.Spec.Type != "service" || !rolling) {
				// Outdated: a batch job reruns on the new version; a service
				// rolls, one instance at a time.
				kill = append(kill, last.ID)
				rolling = true
			} else if last.KillRequested || last.State != raftfsm.TaskRunning {
				rolling = true // an instance is in flux: do not take down another
			}
		default:
			need, at, ok := restart(j, last, now)
			if !ok {
				continue
			}
			if at.After(now) {
				if wake.IsZero() || at.Before(wake) {
					wake = at
				}
				continue
			}
			needs = append(needs, need)
		}
	}
	return needs, kill, wake
}

// restart decides whether an instance whose latest task ended runs again,
// and not before when.
func restart(j *raftfsm.Job, last *raftfsm.Task, now time.Time) (instanceNeed, time.Time, bool) {
	need := instanceNeed{job: j, instance: last.Instance, attempt: last.Attempt + 1}
	if last.State == raftfsm.TaskLost {
		// Lost with its node: not the task's fault. It runs again at once,
		// neither backing off nor using up a batch job's retries.
		need.failures = last.Failures
		return need, now, true
	}
	failed := last.State == raftfsm.TaskFailed || last.State == raftfsm.TaskError
	sameVersion := last.JobVersion == j.Version
	if j.Spec.Type == "batch" && sameVersion {
		if !failed {
			// Finished, or killed by a user: this instance is done. (A task
			// killed because the job changed has an older version and runs again.)
			return need, time.Time{}, false
		}
		need.failures = last.Failures + 1
		if need.failures > j.Spec.Retries {
			return need, time.Time{}, false // retries exhausted
		}
	} else if j.Spec.Type != "batch" && (failed || last.State == raftfsm.TaskFinished) {
		// A service that exits, even with 0, restarts with backoff: a
		// command that returns at once must not restart in a tight loop.
		need.failures = last.Failures + 1
		if since := last.RunningSince(); !since.IsZero() && last.UpdatedAt.Sub(since) >= stableRun {
			need.failures = 1
		}
	}
	if need.failures == 0 {
		return need, now, true
	}
	return need, last.UpdatedAt.Add(Backoff(need.failures)), true
}

// Backoff is the delay before the n-th consecutive restart of a failing instance.
func Backoff(failures int) time.Duration {
	d := backoffBase
	for i := 1; i < failures && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
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

// place puts one instance on the first agent with room (first fit; the
// placement library of a later issue brings bin packing and spreading).
func place(spaces []*offerSpace, need instanceNeed, newID func(string, int) string) bool {
	spec := need.job.Spec
	res := wants(spec)
	role := RoleOf(spec)
	for _, s := range spaces {
		if s.role != role || !s.left.Contains(res) {
			continue
		}
		var ports []allocator.PortRange
		if spec.Ports > 0 {
			var ok bool
			if ports, ok = s.left.TakePorts(spec.Ports); !ok {
				continue
			}
		}
		res.Ports = ports
		s.left = s.left.Sub(res)
		env := make(map[string]string, len(spec.Env)+len(ports)+1)
		for k, v := range spec.Env {
			env[k] = v
		}
		for i, p := range ports {
			env[fmt.Sprintf("PORT%d", i)] = fmt.Sprint(p.Begin)
		}
		if len(ports) > 0 {
			env["PORT"] = fmt.Sprint(ports[0].Begin)
		}
		s.tasks = append(s.tasks, raftfsm.Task{
			ID:               newID(spec.ID, need.instance),
			Framework:        FrameworkID,
			Role:             role,
			Job:              spec.ID,
			JobVersion:       need.job.Version,
			Instance:         need.instance,
			Attempt:          need.attempt,
			Failures:         need.failures,
			Node:             string(s.agent),
			Resources:        toFSM(res),
			Cmd:              spec.Cmd,
			Env:              env,
			KillGraceSeconds: spec.KillGraceSeconds,
			Profile:          spec.Profile,
			User:             spec.User,
		})
		return true
	}
	return false
}

func toFSM(r allocator.Resources) raftfsm.Resources {
	out := raftfsm.Resources{CPUs: r.CPUs, Mem: r.Mem, Disk: r.Disk, GPUs: r.GPUs}
	for _, p := range r.Ports {
		out.Ports = append(out.Ports, raftfsm.PortRange{Begin: p.Begin, End: p.End})
	}
	return out
}

// explain counts, per reason, the hosts that cannot take one instance, and
// tells "waiting for resources to free up" from "no host is big enough".
func explain(j *raftfsm.Job, instances int, hosts []Host) Pending {
	res := wants(j.Spec)
	p := Pending{Instances: instances, Hosts: map[string]int{}}
	fitsSomewhere := false
	for _, h := range hosts {
		if fits(h.Total, res, j.Spec.Ports) {
			fitsSomewhere = true
		}
		for _, r := range shortfalls(h.Free, res, j.Spec.Ports) {
			p.Hosts[r]++
		}
	}
	noun := "instance"
	if instances > 1 {
		noun = "instances"
	}
	switch {
	case len(hosts) == 0:
		p.Message = fmt.Sprintf("%d %s waiting: no node is ready for tasks (none registered, or all inactive or draining)", instances, noun)
	case !fitsSomewhere:
		p.Unplaceable = true
		biggest := largestShortfalls(hosts, res, j.Spec.Ports)
		p.Message = fmt.Sprintf("%d %s unplaceable: no node is big enough (%s); lower the job's resources or add a larger node",
			instances, noun, strings.Join(biggest, "; "))
	default:
		p.Message = fmt.Sprintf("%d %s waiting for resources: %s", instances, noun, summarize(p.Hosts, len(hosts)))
	}
	return p
}

func fits(r, want allocator.Resources, ports int) bool {
	return r.Contains(want) && r.NumPorts() >= ports
}

func shortfalls(have, want allocator.Resources, ports int) []string {
	var out []string
	if have.CPUs+1e-9 < want.CPUs {
		out = append(out, "insufficient cpus")
	}
	if have.Mem+1e-9 < want.Mem {
		out = append(out, "insufficient mem")
	}
	if have.Disk+1e-9 < want.Disk {
		out = append(out, "insufficient disk")
	}
	if have.GPUs < want.GPUs {
		out = append(out, "insufficient gpus")
	}
	if have.NumPorts() < ports {
		out = append(out, "insufficient ports")
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

// State summarizes a job for the API: for a service, whether all instances
// run; for a batch job, whether every instance finished, one failed for good,
// or work remains.
func State(j *raftfsm.Job, tasks []*raftfsm.Task) string {
	latest := map[int]*raftfsm.Task{}
	for _, t := range tasks {
		if l := latest[t.Instance]; l == nil || t.Attempt > l.Attempt {
			latest[t.Instance] = t
		}
	}
	running, finished, failed := 0, 0, 0
	for i := 0; i < j.Spec.Instances; i++ {
		t := latest[i]
		if t == nil || t.JobVersion != j.Version {
			continue
		}
		switch t.State {
		case raftfsm.TaskRunning:
			running++
		case raftfsm.TaskFinished:
			finished++
		case raftfsm.TaskKilled:
			if j.Spec.Type == "batch" {
				failed++
			}
		case raftfsm.TaskFailed, raftfsm.TaskError:
			if j.Spec.Type == "batch" && t.Failures >= j.Spec.Retries {
				failed++
			}
		}
	}
	if j.Spec.Type == "batch" {
		switch {
		case failed > 0 && finished+failed == j.Spec.Instances:
			return "failed"
		case finished == j.Spec.Instances:
			return "complete"
		}
		return "running"
	}
	if running == j.Spec.Instances {
		return "running"
	}
	return "deploying"
}
