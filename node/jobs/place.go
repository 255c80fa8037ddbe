package jobs

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/allocator/placement"
	"github.com/clusterd/clusterd/raftfsm"
)

// placeAll places the instances that need a task on the offers, role by
// role (a job's tasks run only on offers made in its role), through the
// placement library: constraints, bin packing, most urgent first. It adds
// the tasks to their offer spaces and returns the needs left unplaced.
func placeAll(in Input, needs []instanceNeed, spaces []*offerSpace) []instanceNeed {
	byRole := map[string][]int{}
	var roles []string
	for i, need := range needs {
		role := RoleOf(need.job.Spec)
		if _, ok := byRole[role]; !ok {
			roles = append(roles, role)
		}
		byRole[role] = append(byRole[role], i)
	}
	sort.Strings(roles)
	running := runningTasks(in)
	placed := make([]bool, len(needs))
	for _, role := range roles {
		idx := byRole[role]
		mine := map[string]*offerSpace{}
		for _, s := range spaces {
			if s.role == role {
				mine[string(s.agent)] = s
			}
		}
		if len(mine) == 0 {
			continue
		}
		// Every ready host is given, those without an offer with nothing
		// free: GROUP_BY and CLUSTER must see the values of hosts not
		// offered now, or they would spread over the offered ones only.
		var hosts []placement.Host
		for _, h := range in.Hosts {
			ph := placementHost(h)
			ph.Free = allocator.Resources{}
			if s := mine[h.ID]; s != nil {
				ph.Free = s.left
			}
			hosts = append(hosts, ph)
		}
		for _, s := range mine {
			if !hasHost(in.Hosts, string(s.agent)) {
				hosts = append(hosts, placement.Host{ID: string(s.agent), Hostname: s.name, Total: s.left, Free: s.left})
			}
		}
		tasks := make([]placement.Task, len(idx))
		for k, i := range idx {
			tasks[k] = placementTask(needKey(i), needs[i])
		}
		res := placement.Place(in.Placement, hosts, running, tasks)
		for _, a := range res.Assignments {
			i := keyNeed(a.Task)
			s := mine[a.Host]
			s.tasks = append(s.tasks, newTask(needs[i], s, a.Ports, in.NewTaskID))
			placed[i] = true
			running = append(running, placement.Running{Group: needs[i].job.Spec.ID, Host: a.Host})
		}
	}
	var left []instanceNeed
	for i, need := range needs {
		if !placed[i] {
			left = append(left, need)
		}
	}
	return left
}

// explain says, per job, why its unplaced instances are pending. It places
// them again on what each host has free, offered or not: hosts rejected
// there are counted by reason, and an instance that fits there only waits
// for an offer.
func explain(in Input, unplaced []instanceNeed, spaces []*offerSpace) map[string]Pending {
	out := map[string]Pending{}
	if len(unplaced) == 0 {
		return out
	}
	taken := map[string]allocator.Resources{} // what this plan launches, by agent
	running := runningTasks(in)
	for _, s := range spaces {
		for _, t := range s.tasks {
			taken[t.Node] = taken[t.Node].Add(toAlloc(t.Resources))
			running = append(running, placement.Running{Group: t.Job, Host: t.Node})
		}
	}
	hosts := make([]placement.Host, len(in.Hosts))
	for i, h := range in.Hosts {
		hosts[i] = placementHost(h)
		hosts[i].Free = h.Free.Sub(taken[h.ID])
	}
	tasks := make([]placement.Task, len(unplaced))
	count := map[string]int{}
	for i, need := range unplaced {
		tasks[i] = placementTask(needKey(i), need)
		count[need.job.Spec.ID]++
	}
	res := placement.Place(in.Placement, hosts, running, tasks)
	// The most urgent instance that fits nowhere speaks for its job; a job
	// whose instances all fit what is free waits only for offers.
	whys := map[string]*placement.Why{}
	jobOf := map[string]*raftfsm.Job{}
	for i, need := range unplaced {
		id := need.job.Spec.ID
		jobOf[id] = need.job
		if w, ok := res.Unplaced[needKey(i)]; ok && whys[id] == nil {
			whys[id] = &w
		}
	}
	for id, n := range count {
		out[id] = pending(jobOf[id], n, in.Hosts, whys[id])
	}
	return out
}

// pending words why n instances of j wait; why is nil when they fit what
// is free and only wait for it to be offered.
func pending(j *raftfsm.Job, n int, hosts []Host, why *placement.Why) Pending {
	noun := "instance"
	if n > 1 {
		noun = "instances"
	}
	p := Pending{Instances: n, Hosts: map[string]int{}, Why: why}
	switch {
	case len(hosts) == 0:
		if p.Why == nil {
			p.Why = &placement.Why{} // no host at all: more hosts would place it
		}
		p.Message = fmt.Sprintf("%d %s waiting: no node is ready for tasks (none registered, or all inactive or draining)", n, noun)
	case why == nil:
		p.Message = fmt.Sprintf("%d %s waiting: resources are free but not yet offered; it will be placed shortly", n, noun)
	case why.Invalid != "":
		p.Unplaceable = true
		p.Message = fmt.Sprintf("%d %s unplaceable: %s", n, noun, why.Invalid)
	case why.Unplaceable:
		p.Unplaceable = true
		for r, c := range why.Reasons {
			p.Hosts[r] = c
		}
		if onlyTooSmall(why.Reasons) {
			p.Message = fmt.Sprintf("%d %s unplaceable: no node is big enough (%s); lower the job's resources or add a larger node",
				n, noun, strings.Join(largestShortfalls(hosts, wants(j.Spec), j.Spec.Ports), "; "))
		} else {
			p.Message = fmt.Sprintf("%d %s unplaceable: no node can ever run it (%s); change the job's constraints or resources, or add a node that meets them",
				n, noun, summarize(why.Reasons, why.Hosts))
		}
	default:
		for r, c := range why.Reasons {
			p.Hosts[r] = c
		}
		p.Message = fmt.Sprintf("%d %s waiting: %s", n, noun, summarize(why.Reasons, why.Hosts))
	}
	return p
}

func onlyTooSmall(reasons map[string]int) bool {
	for r := range reasons {
		if !strings.HasPrefix(r, "host too small: ") {
			return false
		}
	}
	return true
}

func placementHost(h Host) placement.Host {
	return placement.Host{ID: h.ID, Hostname: h.Name, Attributes: h.Attributes, Total: h.Total, Free: h.Free}
}

func hasHost(hosts []Host, id string) bool {
	for _, h := range hosts {
		if h.ID == id {
			return true
		}
	}
	return false
}

// placementTask is an instance as the placement library sees it; key
// names it in the Result.
func placementTask(key string, need instanceNeed) placement.Task {
	spec := need.job.Spec
	return placement.Task{
		ID:           key,
		Group:        spec.ID,
		Resources:    wants(spec),
		Ports:        spec.Ports,
		Constraints:  withLifetime(Constraints(spec), spec.Lifetime),
		Priority:     spec.Priority,
		PendingSince: need.pendingSince,
	}
}

// Constraints are a job's constraints as the placement library takes them.
func Constraints(spec raftfsm.JobSpec) []placement.Constraint {
	if len(spec.Constraints) == 0 {
		return nil
	}
	out := make([]placement.Constraint, len(spec.Constraints))
	for i, c := range spec.Constraints {
		out[i] = placement.Constraint{Field: c.Field, Operator: placement.Operator(c.Operator), Value: c.Value, Soft: c.Soft}
	}
	return out
}

// LifetimeAttribute is the host attribute the planner adds for placement
// only: "long" or "short" when the host's hinted tasks are all of that
// lifetime, "mixed" when both, "none" when it runs no hinted task.
const LifetimeAttribute = "clusterd.lifetime"

// withLifetime adds a task's lifetime hint as a soft constraint: a host
// running only its kind, or none, is preferred, as Mantis keeps long- and
// short-lived tasks apart so hosts empty together.
func withLifetime(cs []placement.Constraint, lifetime string) []placement.Constraint {
	if lifetime == "" {
		return cs
	}
	return append(slices.Clone(cs), placement.Constraint{Field: LifetimeAttribute, Operator: placement.Like, Value: lifetime + "|none", Soft: true})
}

// withLifetimes gives each host its LifetimeAttribute, from the active
// tasks of hinted jobs, when some job has a hint (copies: the input is
// not changed).
func withLifetimes(in Input) []Host {
	hinted := map[string]string{}
	for _, j := range in.Jobs {
		if j.Spec.Lifetime != "" {
			hinted[j.Spec.ID] = j.Spec.Lifetime
		}
	}
	if len(hinted) == 0 {
		return in.Hosts
	}
	kinds := map[string]map[string]bool{}
	for job, tasks := range in.Tasks {
		l := hinted[job]
		if l == "" {
			continue
		}
		for _, t := range tasks {
			if t.Active() && t.Node != "" {
				if kinds[t.Node] == nil {
					kinds[t.Node] = map[string]bool{}
				}
				kinds[t.Node][l] = true
			}
		}
	}
	out := make([]Host, len(in.Hosts))
	for i, h := range in.Hosts {
		attrs := make(map[string]string, len(h.Attributes)+1)
		maps.Copy(attrs, h.Attributes)
		switch k := kinds[h.ID]; {
		case len(k) == 0:
			attrs[LifetimeAttribute] = "none"
		case len(k) > 1:
			attrs[LifetimeAttribute] = "mixed"
		case k["long"]:
			attrs[LifetimeAttribute] = "long"
		default:
			attrs[LifetimeAttribute] = "short"
		}
		h.Attributes = attrs
		out[i] = h
	}
	return out
}

// needKey and keyNeed name a need by its index, zero-padded so that the
// library's tie break by ID keeps the planner's order (older jobs first).
func needKey(i int) string { return fmt.Sprintf("%09d", i) }

func keyNeed(key string) int {
	i, _ := strconv.Atoi(key) // always one of needKey's
	return i
}

// runningTasks are the active tasks of every job, which constraints count.
func runningTasks(in Input) []placement.Running {
	var out []placement.Running
	for job, tasks := range in.Tasks {
		for _, t := range tasks {
			if t.Active() && t.Node != "" {
				out = append(out, placement.Running{Group: job, Host: t.Node})
			}
		}
	}
	return out
}

// newTask is the task that runs need on s's agent with the given ports.
func newTask(need instanceNeed, s *offerSpace, ports []allocator.PortRange, newID func(string, int) string) raftfsm.Task {
	spec := need.job.Spec
	res := wants(spec)
	res.Ports = ports
	s.left = s.left.Sub(res)
	env := make(map[string]string, len(spec.Env)+len(ports)+2)
	for k, v := range spec.Env {
		env[k] = v
	}
	if len(ports) > 0 {
		list := make([]string, len(ports))
		for i, p := range ports {
			env[fmt.Sprintf("PORT%d", i)] = fmt.Sprint(p.Begin)
			list[i] = fmt.Sprint(p.Begin)
		}
		env["PORT"] = list[0]
		env["PORTS"] = strings.Join(list, ",")
	}
	return raftfsm.Task{
		ID:               newID(spec.ID, need.instance),
		Framework:        FrameworkID,
		Role:             RoleOf(spec),
		Job:              spec.ID,
		Run:              need.run,
		JobVersion:       need.job.Version,
		Instance:         need.instance,
		Attempt:          need.attempt,
		Failures:         need.failures,
		Node:             string(s.agent),
		Resources:        toFSM(res),
		Cmd:              CommandLine(spec),
		Env:              env,
		KillGraceSeconds: spec.KillGraceSeconds,
		Profile:          spec.Profile,
		User:             spec.User,
		HealthChecks:     spec.HealthChecks,
	}
}

func toAlloc(r raftfsm.Resources) allocator.Resources {
	out := allocator.Resources{CPUs: r.CPUs, Mem: r.Mem, Disk: r.Disk, GPUs: r.GPUs}
	for _, p := range r.Ports {
		out.Ports = append(out.Ports, allocator.PortRange{Begin: p.Begin, End: p.End})
	}
	return out
}
