package jobs

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/raftfsm"
)

// t0 is the planner's "now" in most tests.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// service is a service job at version 1 wanting cpus and mem per instance.
func service(id string, instances int, cpus, mem float64) *raftfsm.Job {
	return &raftfsm.Job{
		Spec: raftfsm.JobSpec{
			ID: id, Type: "service", Cmd: "run " + id, Instances: instances,
			Resources: raftfsm.Resources{CPUs: cpus, Mem: mem},
		},
		Version:   1,
		CreatedAt: t0.Add(-time.Hour),
		UpdatedAt: t0.Add(-time.Hour),
	}
}

// batch is a batch job at version 1.
func batch(id string, instances, retries int, cpus, mem float64) *raftfsm.Job {
	j := service(id, instances, cpus, mem)
	j.Spec.Type = "batch"
	j.Spec.Retries = retries
	return j
}

// unusedIDs are the ids of the offers a plan left unused.
func unusedIDs(p Plan) []allocator.OfferID {
	var ids []allocator.OfferID
	for _, o := range p.Unused {
		ids = append(ids, o.ID)
	}
	return ids
}

// offer is an offer to the jobs framework of cpus, mem and the given ports on agent.
func offer(id, agent string, cpus, mem float64, ports ...allocator.PortRange) allocator.Offer {
	return allocator.Offer{
		ID:        allocator.OfferID(id),
		Framework: FrameworkID + "@" + DefaultRole,
		Role:      DefaultRole,
		Agent:     allocator.AgentID(agent),
		Hostname:  agent + ".example",
		Resources: allocator.Resources{CPUs: cpus, Mem: mem, Disk: 1000, Ports: ports},
		CreatedAt: t0,
	}
}

// task is a task of job j's instance at the given attempt, version and state,
// last updated at t0.
func task(j *raftfsm.Job, instance, attempt int, version uint64, state string) *raftfsm.Task {
	return &raftfsm.Task{
		ID:         fmt.Sprintf("%s.%d.a%d", j.Spec.ID, instance, attempt),
		Framework:  FrameworkID,
		Job:        j.Spec.ID,
		JobVersion: version,
		Instance:   instance,
		Attempt:    attempt,
		Node:       "agent-1",
		Resources:  j.Spec.Resources,
		Cmd:        j.Spec.Cmd,
		State:      state,
		CreatedAt:  t0.Add(-10 * time.Minute),
		UpdatedAt:  t0,
	}
}

// ids is a NewTaskID that hands out "job.instance#n" and counts its calls.
type ids struct{ n int }

func (g *ids) New(job string, instance int) string {
	g.n++
	return fmt.Sprintf("%s.%d#%d", job, instance, g.n)
}

func input(now time.Time, jobs []*raftfsm.Job, tasks []*raftfsm.Task, offers ...allocator.Offer) Input {
	byJob := map[string][]*raftfsm.Task{}
	for _, t := range tasks {
		byJob[t.Job] = append(byJob[t.Job], t)
	}
	hosts := map[allocator.AgentID]bool{}
	var hs []Host
	for _, o := range offers {
		if !hosts[o.Agent] {
			hosts[o.Agent] = true
			hs = append(hs, Host{ID: string(o.Agent), Name: o.Hostname, Total: o.Resources, Free: o.Resources})
		}
	}
	return Input{Now: now, Jobs: jobs, Tasks: byJob, Offers: offers, Hosts: hs, NewTaskID: (&ids{}).New, Records: true}
}

// launched is every task the plan launches, in plan order.
func launched(p Plan) []raftfsm.Task {
	var out []raftfsm.Task
	for _, a := range p.Accepts {
		out = append(out, a.Tasks...)
	}
	return out
}

func instancesOf(ts []raftfsm.Task) []int {
	out := make([]int, len(ts))
	for i, t := range ts {
		out[i] = t.Instance
	}
	sort.Ints(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func pr(begin, end uint16) allocator.PortRange { return allocator.PortRange{Begin: begin, End: end} }

func offerIDs(ids ...string) []allocator.OfferID {
	out := make([]allocator.OfferID, len(ids))
	for i, id := range ids {
		out[i] = allocator.OfferID(id)
	}
	return out
}

func TestServiceLaunchesMissingInstances(t *testing.T) {
	web := service("web", 3, 1, 256)
	web.Spec.Env = map[string]string{"MODE": "prod"}
	web.Spec.KillGraceSeconds = 5
	in := input(t0, []*raftfsm.Job{web}, nil, offer("o1", "agent-1", 2.5, 1024))
	var gotIDs []string
	in.NewTaskID = func(job string, instance int) string {
		id := fmt.Sprintf("%s-%d-new", job, instance)
		gotIDs = append(gotIDs, id)
		return id
	}

	p := Decide(in)

	if len(p.Accepts) != 1 {
		t.Fatalf("accepts = %+v, want one accept on agent-1", p.Accepts)
	}
	a := p.Accepts[0]
	if a.Agent != "agent-1" || !slices.Equal(a.Offers, offerIDs("o1")) {
		t.Errorf("accept on %s offers %v, want agent-1 offers [o1]", a.Agent, a.Offers)
	}
	if got := instancesOf(a.Tasks); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("launched instances %v, want [0 1] (room for 2 of 3)", got)
	}
	for _, tk := range a.Tasks {
		want := fmt.Sprintf("web-%d-new", tk.Instance)
		if tk.ID != want {
			t.Errorf("task id %q, want %q from NewTaskID", tk.ID, want)
		}
		if tk.Framework != "clusterd-jobs" || tk.Job != "web" || tk.JobVersion != 1 {
			t.Errorf("task %s: framework %q job %q version %d, want clusterd-jobs web 1", tk.ID, tk.Framework, tk.Job, tk.JobVersion)
		}
		if tk.Node != "agent-1" {
			t.Errorf("task %s on node %q, want the offer's agent agent-1", tk.ID, tk.Node)
		}
		if tk.Attempt != 0 || tk.Failures != 0 {
			t.Errorf("task %s attempt %d failures %d, want a first attempt", tk.ID, tk.Attempt, tk.Failures)
		}
		if tk.Resources.CPUs != 1 || tk.Resources.Mem != 256 || tk.Resources.Disk != 0 || len(tk.Resources.Ports) != 0 {
			t.Errorf("task %s resources %+v, want the job's cpus:1 mem:256", tk.ID, tk.Resources)
		}
		if tk.Cmd != "run web" || tk.Env["MODE"] != "prod" || tk.KillGraceSeconds != 5 {
			t.Errorf("task %s cmd %q env %v grace %v, want the job's", tk.ID, tk.Cmd, tk.Env, tk.KillGraceSeconds)
		}
	}
	if len(gotIDs) != 2 {
		t.Errorf("NewTaskID called for %v, want only the 2 launched tasks", gotIDs)
	}
	pend, ok := p.Pending["web"]
	if !ok || pend.Instances != 1 || pend.Unplaceable {
		t.Errorf("pending = %+v (present %v), want 1 instance waiting, not unplaceable", pend, ok)
	}
	if len(p.Kill) != 0 || len(p.Unused) != 0 || !p.WakeAt.IsZero() {
		t.Errorf("kill %v unused %v wake %v, want none", p.Kill, p.Unused, p.WakeAt)
	}
}

func TestNothingToDoLeavesOffersUnused(t *testing.T) {
	web := service("web", 2, 1, 256)
	tasks := []*raftfsm.Task{
		task(web, 0, 0, 1, raftfsm.TaskRunning),
		task(web, 1, 0, 1, raftfsm.TaskStaging),
	}
	p := Decide(input(t0, []*raftfsm.Job{web}, tasks, offer("o1", "agent-1", 4, 4096), offer("o2", "agent-2", 4, 4096)))

	if len(p.Accepts) != 0 || len(p.Kill) != 0 || len(p.Pending) != 0 || !p.WakeAt.IsZero() {
		t.Errorf("plan = %+v, want nothing launched, killed, pending or waiting", p)
	}
	if got := p.Unused; !slices.Equal(unusedIDs(p), offerIDs("o1", "o2")) {
		t.Errorf("unused = %v, want [o1 o2]", got)
	}
}

func TestOffersOfOneAgentAreAcceptedTogether(t *testing.T) {
	// Neither offer alone fits a task of 2 cpus; together they do.
	big := service("big", 1, 2, 512)
	p := Decide(input(t0, []*raftfsm.Job{big}, nil,
		offer("o1", "agent-1", 1, 512), offer("o2", "agent-1", 1, 512), offer("o3", "agent-2", 1, 512)))

	if len(p.Accepts) != 1 || p.Accepts[0].Agent != "agent-1" {
		t.Fatalf("accepts = %+v, want one on agent-1", p.Accepts)
	}
	if got := sorted(stringsOf(p.Accepts[0].Offers)); !slices.Equal(got, []string{"o1", "o2"}) {
		t.Errorf("accepted offers %v, want both of agent-1's [o1 o2]", got)
	}
	if !slices.Equal(unusedIDs(p), offerIDs("o3")) {
		t.Errorf("unused = %v, want [o3]", p.Unused)
	}
}

func stringsOf(os []allocator.OfferID) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = string(o)
	}
	return out
}

func TestServiceReplacesKilledTaskImmediately(t *testing.T) {
	web := service("web", 1, 1, 256)
	killed := task(web, 0, 4, 1, raftfsm.TaskKilled)
	killed.KillRequested = true
	killed.Failures = 3 // it had been failing before the user killed it
	p := Decide(input(t0, []*raftfsm.Job{web}, []*raftfsm.Task{killed}, offer("o1", "agent-1", 4, 4096)))

	got := launched(p)
	if len(got) != 1 {
		t.Fatalf("launched %d tasks, want the killed instance relaunched now", len(got))
	}
	if got[0].Instance != 0 || got[0].Attempt != 5 || got[0].Failures != 0 {
		t.Errorf("relaunched instance %d attempt %d failures %d, want instance 0 attempt 5 failures 0",
			got[0].Instance, got[0].Attempt, got[0].Failures)
	}
	if !p.WakeAt.IsZero() {
		t.Errorf("WakeAt = %v, want none: a kill is not a failure", p.WakeAt)
	}
}

func TestServiceBacksOffAfterFailures(t *testing.T) {
	web := service("web", 1, 1, 256)
	failedAt := t0
	failed := task(web, 0, 2, 1, raftfsm.TaskFailed)
	failed.Failures = 2
	failed.UpdatedAt = failedAt

	// One second later the third consecutive failure's backoff (1 s ×
	// 1.15², Marathon's defaults) still runs.
	p := Decide(input(failedAt.Add(time.Second), []*raftfsm.Job{web}, []*raftfsm.Task{failed}, offer("o1", "agent-1", 4, 4096)))
	if n := len(launched(p)); n != 0 {
		t.Fatalf("launched %d tasks during backoff, want none", n)
	}
	if want := failedAt.Add(1322500 * time.Microsecond); !p.WakeAt.Equal(want) {
		t.Errorf("WakeAt = %v, want %v = failure + 1.3225s", p.WakeAt, want)
	}
	if len(p.Pending) != 0 {
		t.Errorf("pending %v, want a backing-off instance not reported as waiting for resources", p.Pending)
	}
	if !slices.Equal(unusedIDs(p), offerIDs("o1")) {
		t.Errorf("unused = %v, want [o1]", p.Unused)
	}

	// Once the backoff expires the instance runs again, counting the failure.
	p = Decide(input(failedAt.Add(2*time.Second), []*raftfsm.Job{web}, []*raftfsm.Task{failed}, offer("o1", "agent-1", 4, 4096)))
	got := launched(p)
	if len(got) != 1 {
		t.Fatalf("launched %d tasks at backoff expiry, want 1", len(got))
	}
	if got[0].Attempt != 3 || got[0].Failures != 3 {
		t.Errorf("relaunch attempt %d failures %d, want attempt 3 failures 3", got[0].Attempt, got[0].Failures)
	}
	if !p.WakeAt.IsZero() {
		t.Errorf("WakeAt = %v, want none once relaunched", p.WakeAt)
	}
}

func TestErroredTasksCountAsFailures(t *testing.T) {
	web := service("web", 1, 1, 256)
	last := task(web, 0, 0, 1, raftfsm.TaskError)
	p := Decide(input(t0, []*raftfsm.Job{web}, []*raftfsm.Task{last}, offer("o1", "agent-1", 4, 4096)))
	if len(launched(p)) != 0 || !p.WakeAt.Equal(t0.Add(time.Second)) {
		t.Errorf("launched %d, WakeAt %v; want a 1s backoff from %v", len(launched(p)), p.WakeAt, t0)
	}
}

// A task lost with its node did not fail: it is replaced at once, and a
// batch job's retries are not used up by node failures.
func TestLostTasksRunAgainAtOnceWithoutUsingRetries(t *testing.T) {
	web := service("web", 1, 1, 256)
	last := task(web, 0, 0, 1, raftfsm.TaskLost)
	p := Decide(input(t0, []*raftfsm.Job{web}, []*raftfsm.Task{last}, offer("o1", "agent-1", 4, 4096)))
	if got := launched(p); len(got) != 1 || got[0].Failures != 0 || !p.WakeAt.IsZero() {
		t.Fatalf("service: launched %v, WakeAt %v; want an immediate relaunch", got, p.WakeAt)
	}
	batch := &raftfsm.Job{Spec: raftfsm.JobSpec{ID: "b", Type: "batch", Cmd: "true", Instances: 1, Resources: raftfsm.Resources{CPUs: 1, Mem: 256}, Retries: 0}, Version: 1, CreatedAt: t0}
	lost := task(batch, 0, 0, 1, raftfsm.TaskLost)
	p = Decide(input(t0, []*raftfsm.Job{batch}, []*raftfsm.Task{lost}, offer("o1", "agent-1", 4, 4096)))
	if len(launched(p)) != 1 {
		t.Fatalf("batch with retries 0: a lost instance was not run again")
	}
}

func TestBackoffGrowsByItsFactorUpToTheMaximumDelay(t *testing.T) {
	marathon := raftfsm.JobSpec{Type: raftfsm.JobService} // stored before the fields: Marathon's defaults
	custom := raftfsm.JobSpec{Type: raftfsm.JobService, BackoffSeconds: 2, BackoffFactor: 2, MaxLaunchDelaySeconds: 10}
	for _, c := range []struct {
		spec     raftfsm.JobSpec
		failures int
		want     time.Duration
	}{
		{marathon, 1, time.Second}, {marathon, 2, 1150 * time.Millisecond}, {marathon, 3, 1322500 * time.Microsecond},
		{marathon, 100, 300 * time.Second},
		{custom, 1, 2 * time.Second}, {custom, 2, 4 * time.Second}, {custom, 3, 8 * time.Second}, {custom, 4, 10 * time.Second}, {custom, 50, 10 * time.Second},
	} {
		if got := Backoff(c.spec, c.failures); got != c.want {
			t.Errorf("Backoff(%+v, %d) = %v, want %v", c.spec, c.failures, got, c.want)
		}
	}
}

func TestServiceThatRanStablyStartsAFreshBackoff(t *testing.T) {
	web := service("web", 1, 1, 256)
	failed := task(web, 0, 9, 1, raftfsm.TaskFailed)
	failed.Failures = 8 // crash-looped earlier, then ran fine for an hour
	failed.History = []raftfsm.TaskStatus{
		{State: raftfsm.TaskStarting, Time: t0.Add(-time.Hour - time.Second)},
		{State: raftfsm.TaskRunning, Time: t0.Add(-time.Hour)},
		{State: raftfsm.TaskFailed, Time: t0},
	}
	p := Decide(input(t0, []*raftfsm.Job{web}, []*raftfsm.Task{failed}, offer("o1", "agent-1", 4, 4096)))
	if want := t0.Add(time.Second); !p.WakeAt.Equal(want) {
		t.Errorf("WakeAt = %v, want %v: a healthy run resets the backoff to 1s", p.WakeAt, want)
	}
	p = Decide(input(t0.Add(time.Second), []*raftfsm.Job{web}, []*raftfsm.Task{failed}, offer("o1", "agent-1", 4, 4096)))
	if got := launched(p); len(got) != 1 || got[0].Failures != 1 {
		t.Errorf("launched %+v, want one relaunch with failures 1", got)
	}

	// A task that failed soon after starting keeps counting.
	failed.History[1].Time = t0.Add(-10 * time.Second)
	p = Decide(input(t0, []*raftfsm.Job{web}, []*raftfsm.Task{failed}, offer("o1", "agent-1", 4, 4096)))
	if want := t0.Add(Backoff(web.Spec, 9)); !p.WakeAt.Equal(want) {
		t.Errorf("WakeAt = %v, want %v for a crash-looping task", p.WakeAt, want)
	}
}

func TestWakeAtIsTheEarliestBackoffOfAllJobs(t *testing.T) {
	a, b := service("a", 1, 1, 64), service("b", 2, 1, 64)
	fa := task(a, 0, 0, 1, raftfsm.TaskFailed)
	fa.Failures = 4 // next backoff 1.15^4 s
	fb0 := task(b, 0, 0, 1, raftfsm.TaskFailed)
	fb0.Failures = 1 // next backoff 1.15 s
	fb1 := task(b, 1, 0, 1, raftfsm.TaskFailed)
	fb1.Failures = 2 // next backoff 1.3225 s
	p := Decide(input(t0, []*raftfsm.Job{a, b}, []*raftfsm.Task{fa, fb0, fb1}))
	if want := t0.Add(1150 * time.Millisecond); !p.WakeAt.Equal(want) {
		t.Errorf("WakeAt = %v, want the earliest expiry %v", p.WakeAt, want)
	}
}

func TestServiceScaleDownKillsHighestInstances(t *testing.T) {
	web := service("web", 2, 1, 256)
	var tasks []*raftfsm.Task
	for i := 4; i >= 0; i-- {
		tasks = append(tasks, task(web, i, 0, 1, raftfsm.TaskRunning))
	}
	already := task(web, 5, 0, 1, raftfsm.TaskKilling)
	already.KillRequested = true
	gone := task(web, 6, 0, 1, raftfsm.TaskFinished)
	tasks = append(tasks, already, gone)

	p := Decide(input(t0, []*raftfsm.Job{web}, tasks, offer("o1", "agent-1", 8, 8192)))

	want := []string{"web.2.a0", "web.3.a0", "web.4.a0"}
	if got := killIDs(p); !slices.Equal(got, want) {
		t.Errorf("kill = %v, want %v (instances 2-4; not the one already being killed, not the finished one)", got, want)
	}
	if n := len(launched(p)); n != 0 {
		t.Errorf("launched %d tasks while scaling down, want none", n)
	}
	if len(p.Pending) != 0 {
		t.Errorf("pending %v, want none", p.Pending)
	}
}

func TestServiceScaleToZeroKillsEverything(t *testing.T) {
	web := service("web", 0, 1, 256)
	tasks := []*raftfsm.Task{task(web, 0, 0, 1, raftfsm.TaskRunning), task(web, 1, 0, 1, raftfsm.TaskStarting)}
	p := Decide(input(t0, []*raftfsm.Job{web}, tasks))
	if got := killIDs(p); !slices.Equal(got, []string{"web.0.a0", "web.1.a0"}) {
		t.Errorf("kill = %v, want both tasks", got)
	}
}

// killIDs are the ids of the tasks a plan kills, sorted.
func killIDs(p Plan) []string {
	var ids []string
	for _, k := range p.Kill {
		ids = append(ids, k.ID)
	}
	sort.Strings(ids)
	return ids
}

// rollout is a service of n instances at version 2 with every instance
// running version 1, and the given upgrade strategy.
func rollout(n int, minHealth, maxOver float64) (*raftfsm.Job, []*raftfsm.Task) {
	web := service("web", n, 1, 256)
	web.Version = 2
	web.Spec.BackoffSeconds, web.Spec.BackoffFactor, web.Spec.MaxLaunchDelaySeconds = 1, 1.15, 300
	web.Spec.MinHealthCapacity, web.Spec.MaxOverCapacity = minHealth, maxOver
	web.Deployments = []raftfsm.Deployment{{Version: 2, State: raftfsm.DeploymentRunning, StartedAt: t0}}
	var tasks []*raftfsm.Task
	for i := 0; i < n; i++ {
		tasks = append(tasks, task(web, i, 0, 1, raftfsm.TaskRunning))
	}
	return web, tasks
}

// apply plays a plan's launches (as running tasks) and kills (as ended
// tasks) on tasks, as the cluster would between two rounds.
func apply(p Plan, tasks []*raftfsm.Task, state string) []*raftfsm.Task {
	killed := map[string]bool{}
	for _, k := range p.Kill {
		killed[k.ID] = true
	}
	var out []*raftfsm.Task
	for _, t := range tasks {
		if killed[t.ID] {
			c := *t
			c.State, c.KillRequested = raftfsm.TaskKilled, true
			t = &c
		}
		out = append(out, t)
	}
	for _, t := range launched(p) {
		c := t
		c.State = state
		out = append(out, &c)
	}
	return out
}

func TestRollingUpdateWithFullHealthStartsAllNewTasksBeforeStoppingOldOnes(t *testing.T) {
	web, tasks := rollout(3, 1, 1)
	p := Decide(input(t0, []*raftfsm.Job{web}, tasks, offer("o1", "agent-1", 8, 8192)))
	if got := launched(p); len(got) != 3 || got[0].JobVersion != 2 || got[0].Attempt != 1 {
		t.Fatalf("launched %+v, want all 3 instances at version 2 next to the old ones (over capacity 1)", got)
	}
	if len(p.Kill) != 0 {
		t.Fatalf("kill %v before any new task is healthy: min health 1 keeps all 3", p.Kill)
	}
	tasks = apply(p, tasks, raftfsm.TaskStarting)
	if p = Decide(input(t0, []*raftfsm.Job{web}, tasks)); len(p.Kill) != 0 {
		t.Fatalf("kill %v while the new tasks are still starting", p.Kill)
	}
	for _, tk := range tasks {
		if tk.JobVersion == 2 {
			tk.State = raftfsm.TaskRunning
		}
	}
	p = Decide(input(t0, []*raftfsm.Job{web}, tasks))
	if got := killIDs(p); len(got) != 3 || len(p.EndDeployments) != 0 {
		t.Fatalf("kill %v, deployment ends %v: want the 3 old tasks stopped, the deployment still running", got, p.EndDeployments)
	}
	tasks = apply(p, tasks, raftfsm.TaskRunning)
	p = Decide(input(t0, []*raftfsm.Job{web}, tasks))
	if len(p.EndDeployments) != 1 || p.EndDeployments[0].Version != 2 || len(p.Kill) != 0 || len(launched(p)) != 0 {
		t.Fatalf("after the rollout: %+v, want only the deployment recorded as done", p)
	}
}

func TestRollingUpdateNeverDropsBelowTheMinimumHealthCapacity(t *testing.T) {
	for _, tc := range []struct{ minHealth, maxOver float64 }{{1, 1}, {1, 0.5}, {0.5, 0}, {0.75, 0.25}, {0, 1}} {
		web, tasks := rollout(4, tc.minHealth, tc.maxOver)
		minHealthy := int(tc.minHealth*4 + 0.999)
		maxTotal := 4 + int(tc.maxOver*4)
		for round := 0; ; round++ {
			if round > 20 {
				t.Fatalf("%+v: the rollout did not finish in 20 rounds", tc)
			}
			p := Decide(input(t0, []*raftfsm.Job{web}, tasks, offer("o1", "agent-1", 32, 32768)))
			tasks = apply(p, tasks, raftfsm.TaskRunning)
			serving, total, old := 0, 0, 0
			for _, tk := range tasks {
				if tk.Active() && !tk.KillRequested {
					total++
					serving++
					if tk.JobVersion < 2 {
						old++
					}
				}
			}
			if serving < minHealthy || total > maxTotal {
				t.Fatalf("%+v round %d: %d healthy, %d running: want at least %d healthy and at most %d running", tc, round, serving, total, minHealthy, maxTotal)
			}
			if old == 0 && total == 4 {
				break
			}
		}
	}
}

func TestRollingUpdateWaitsForNewTasksToPassTheirHealthChecks(t *testing.T) {
	web, tasks := rollout(2, 1, 1)
	web.Spec.HealthChecks = []raftfsm.HealthCheck{{Protocol: "HTTP", Path: "/", IntervalSeconds: 1}}
	for _, tk := range tasks {
		tk.Healthy = ptr(true)
	}
	p := Decide(input(t0, []*raftfsm.Job{web}, tasks, offer("o1", "agent-1", 8, 8192)))
	if got := launched(p); len(got) != 2 || len(got[0].HealthChecks) != 1 || got[0].HealthChecks[0].Protocol != "HTTP" {
		t.Fatalf("launched %+v, want 2 new tasks carrying the job's health check for their agent", got)
	}
	tasks = apply(p, tasks, raftfsm.TaskRunning) // running, not checked yet
	if p = Decide(input(t0, []*raftfsm.Job{web}, tasks)); len(p.Kill) != 0 {
		t.Fatalf("kill %v before the new tasks passed a health check", p.Kill)
	}
	for _, tk := range tasks {
		tk.Healthy = ptr(true)
	}
	if p = Decide(input(t0, []*raftfsm.Job{web}, tasks)); len(p.Kill) != 2 {
		t.Fatalf("kill %v once the new tasks are healthy, want the 2 old ones", p.Kill)
	}
}

func TestAnUnhealthyTaskIsKilledAndReplacedWithBackoff(t *testing.T) {
	web := service("web", 1, 1, 256)
	web.Spec.HealthChecks = []raftfsm.HealthCheck{{Protocol: "TCP", IntervalSeconds: 1}}
	sick := task(web, 0, 0, 1, raftfsm.TaskRunning)
	sick.Healthy = ptr(false)
	p := Decide(input(t0, []*raftfsm.Job{web}, []*raftfsm.Task{sick}, offer("o1", "agent-1", 8, 8192)))
	if len(p.Kill) != 1 || p.Kill[0].Reason != KillUnhealthy || len(launched(p)) != 0 {
		t.Fatalf("plan %+v, want the unhealthy task killed and its replacement waiting for its end", p)
	}
	sick.State, sick.KillRequested, sick.KillReason, sick.UpdatedAt = raftfsm.TaskKilled, true, KillUnhealthy, t0
	if p = Decide(input(t0, []*raftfsm.Job{web}, []*raftfsm.Task{sick}, offer("o1", "agent-1", 8, 8192))); len(launched(p)) != 0 || !p.WakeAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("after its kill: launched %d, wake %v; want a 1 s backoff (it failed)", len(launched(p)), p.WakeAt)
	}
	if got := launched(Decide(input(t0.Add(time.Second), []*raftfsm.Job{web}, []*raftfsm.Task{sick}, offer("o1", "agent-1", 8, 8192)))); len(got) != 1 || got[0].Failures != 1 {
		t.Fatalf("replacement %+v, want one launch counting the failure", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestBatchRunsToCompletionAndRetries(t *testing.T) {
	offers := func() []allocator.Offer { return []allocator.Offer{offer("o1", "agent-1", 8, 8192)} }

	t.Run("finished instance is done", func(t *testing.T) {
		job := batch("etl", 2, 3, 1, 256)
		tasks := []*raftfsm.Task{task(job, 0, 0, 1, raftfsm.TaskFinished), task(job, 1, 0, 1, raftfsm.TaskRunning)}
		p := Decide(input(t0, []*raftfsm.Job{job}, tasks, offers()...))
		if len(p.Accepts) != 0 || len(p.Kill) != 0 || len(p.Pending) != 0 || !p.WakeAt.IsZero() {
			t.Errorf("plan = %+v, want a finished batch instance left alone", p)
		}
	})

	t.Run("failed instance retried up to Retries times", func(t *testing.T) {
		job := batch("etl", 1, 2, 1, 256)
		now := t0
		var history []*raftfsm.Task
		last := task(job, 0, 0, 1, raftfsm.TaskFailed)
		last.UpdatedAt = now
		history = append(history, last)
		relaunches := 0
		for round := 0; round < 10; round++ {
			// Jump past any backoff.
			now = now.Add(2 * time.Minute)
			p := Decide(input(now, []*raftfsm.Job{job}, history, offers()...))
			got := launched(p)
			if len(got) == 0 {
				if !p.WakeAt.IsZero() || len(p.Pending) != 0 {
					t.Errorf("retries exhausted but WakeAt %v pending %v, want neither", p.WakeAt, p.Pending)
				}
				break
			}
			relaunches++
			next := got[0]
			if next.Attempt != last.Attempt+1 || next.Failures != last.Failures+1 {
				t.Errorf("retry %d: attempt %d failures %d, want %d and %d",
					relaunches, next.Attempt, next.Failures, last.Attempt+1, last.Failures+1)
			}
			next.ID = fmt.Sprintf("etl.0.a%d", next.Attempt)
			next.State = raftfsm.TaskFailed
			next.UpdatedAt = now
			last = &next
			history = append(history, last)
		}
		if relaunches != 2 {
			t.Errorf("a failing instance with retries 2 was relaunched %d times, want 2", relaunches)
		}
	})

	t.Run("first retry waits for backoff", func(t *testing.T) {
		job := batch("etl", 1, 2, 1, 256)
		failed := task(job, 0, 0, 1, raftfsm.TaskFailed)
		p := Decide(input(t0, []*raftfsm.Job{job}, []*raftfsm.Task{failed}, offers()...))
		if len(launched(p)) != 0 || !p.WakeAt.Equal(t0.Add(time.Second)) {
			t.Errorf("launched %d WakeAt %v, want a retry after 1s", len(launched(p)), p.WakeAt)
		}
	})

	t.Run("no retries means one run", func(t *testing.T) {
		job := batch("etl", 1, 0, 1, 256)
		failed := task(job, 0, 0, 1, raftfsm.TaskFailed)
		p := Decide(input(t0.Add(time.Hour), []*raftfsm.Job{job}, []*raftfsm.Task{failed}, offers()...))
		if len(launched(p)) != 0 || !p.WakeAt.IsZero() {
			t.Errorf("launched %d WakeAt %v, want no retry", len(launched(p)), p.WakeAt)
		}
	})

	t.Run("killed by a user is not relaunched", func(t *testing.T) {
		job := batch("etl", 1, 5, 1, 256)
		killed := task(job, 0, 0, 1, raftfsm.TaskKilled)
		killed.KillRequested = true
		p := Decide(input(t0.Add(time.Hour), []*raftfsm.Job{job}, []*raftfsm.Task{killed}, offers()...))
		if len(launched(p)) != 0 || len(p.Pending) != 0 {
			t.Errorf("launched %d pending %v, want a user-killed batch instance left done", len(launched(p)), p.Pending)
		}
	})

	t.Run("old version is killed and rerun on the new version", func(t *testing.T) {
		job := batch("etl", 2, 0, 1, 256)
		job.Version = 2
		tasks := []*raftfsm.Task{task(job, 0, 0, 1, raftfsm.TaskRunning), task(job, 1, 0, 1, raftfsm.TaskStaging)}
		p := Decide(input(t0, []*raftfsm.Job{job}, tasks, offers()...))
		if got := killIDs(p); !slices.Equal(got, []string{"etl.0.a0", "etl.1.a0"}) {
			t.Errorf("kill = %v, want every outdated batch task killed at once", got)
		}
		if len(launched(p)) != 0 {
			t.Errorf("launched %d tasks before the old ones ended, want none", len(launched(p)))
		}

		for _, tk := range tasks {
			tk.State = raftfsm.TaskKilled
			tk.KillRequested = true
		}
		p = Decide(input(t0, []*raftfsm.Job{job}, tasks, offers()...))
		got := launched(p)
		if len(got) != 2 {
			t.Fatalf("launched %d tasks after the old version was killed, want 2", len(got))
		}
		for _, tk := range got {
			if tk.JobVersion != 2 || tk.Attempt != 1 || tk.Failures != 0 {
				t.Errorf("rerun %+v, want version 2 attempt 1 failures 0", tk)
			}
		}
	})
}

func TestUnplaceableJobSaysWhy(t *testing.T) {
	host := Host{ID: "agent-1", Name: "agent-1.example",
		Total: allocator.Resources{CPUs: 4, Mem: 1024, Disk: 1000},
		Free:  allocator.Resources{CPUs: 0.5, Mem: 1024, Disk: 1000}}

	t.Run("bigger than any node", func(t *testing.T) {
		huge := service("huge", 2, 1, 99999)
		p := Decide(Input{Now: t0, Jobs: []*raftfsm.Job{huge}, Hosts: []Host{host}, NewTaskID: (&ids{}).New})
		pend := p.Pending["huge"]
		if !pend.Unplaceable || pend.Instances != 2 {
			t.Errorf("pending = %+v, want 2 instances unplaceable", pend)
		}
		if !strings.Contains(pend.Message, "mem") || !strings.Contains(pend.Message, "largest node") ||
			!strings.Contains(pend.Message, "99999") || !strings.Contains(pend.Message, "1024") {
			t.Errorf("message %q, want it to name mem, what is wanted and what the largest node has", pend.Message)
		}
		if strings.Contains(pend.Message, "cpus") {
			t.Errorf("message %q blames cpus, which the node has enough of", pend.Message)
		}
		if len(p.Pending) == 0 {
			t.Error("nothing pending, want the instance that does not fit reported")
		}
	})

	t.Run("fits the node but not what is free", func(t *testing.T) {
		web := service("web", 1, 2, 512)
		p := Decide(Input{Now: t0, Jobs: []*raftfsm.Job{web}, Hosts: []Host{host}, NewTaskID: (&ids{}).New})
		pend := p.Pending["web"]
		if pend.Unplaceable || pend.Instances != 1 {
			t.Errorf("pending = %+v, want 1 instance waiting, not unplaceable", pend)
		}
		if pend.Hosts["insufficient cpus"] != 1 || len(pend.Hosts) != 1 {
			t.Errorf("hosts = %v, want only {insufficient cpus: 1}", pend.Hosts)
		}
		if !strings.Contains(pend.Message, "insufficient cpus on 1 of 1 nodes") {
			t.Errorf("message %q, want it to say which resource is short on how many nodes", pend.Message)
		}
	})

	t.Run("each resource fits somewhere but not together", func(t *testing.T) {
		cpuHost := Host{ID: "a", Total: allocator.Resources{CPUs: 16, Mem: 512}, Free: allocator.Resources{CPUs: 16, Mem: 512}}
		memHost := Host{ID: "b", Total: allocator.Resources{CPUs: 1, Mem: 65536}, Free: allocator.Resources{CPUs: 1, Mem: 65536}}
		j := service("j", 1, 8, 4096)
		p := Decide(Input{Now: t0, Jobs: []*raftfsm.Job{j}, Hosts: []Host{cpuHost, memHost}, NewTaskID: (&ids{}).New})
		pend := p.Pending["j"]
		if !pend.Unplaceable || !strings.Contains(pend.Message, "no single node") {
			t.Errorf("pending = %+v, want unplaceable because no single node has both", pend)
		}
	})

	t.Run("too many ports", func(t *testing.T) {
		j := service("j", 1, 1, 64)
		j.Spec.Ports = 3
		h := Host{ID: "a", Total: allocator.Resources{CPUs: 4, Mem: 1024, Ports: []allocator.PortRange{pr(31000, 31001)}}}
		h.Free = h.Total
		p := Decide(Input{Now: t0, Jobs: []*raftfsm.Job{j}, Hosts: []Host{h}, NewTaskID: (&ids{}).New})
		pend := p.Pending["j"]
		if !pend.Unplaceable || !strings.Contains(pend.Message, "ports") {
			t.Errorf("pending = %+v, want unplaceable for ports", pend)
		}
	})

	t.Run("no nodes", func(t *testing.T) {
		web := service("web", 1, 1, 64)
		p := Decide(Input{Now: t0, Jobs: []*raftfsm.Job{web}, NewTaskID: (&ids{}).New})
		pend := p.Pending["web"]
		if pend.Unplaceable || !strings.Contains(pend.Message, "no node is ready") {
			t.Errorf("pending = %+v, want waiting because no nodes registered", pend)
		}
	})
}

func TestPortsAreAssignedFromOffersAndExported(t *testing.T) {
	web := service("web", 2, 1, 256)
	web.Spec.Ports = 2
	web.Spec.Env = map[string]string{"MODE": "prod"}
	p := Decide(input(t0, []*raftfsm.Job{web}, nil,
		offer("o1", "agent-1", 4, 4096, allocator.PortRange{Begin: 31000, End: 31002}, allocator.PortRange{Begin: 31010, End: 31020})))

	got := launched(p)
	if len(got) != 2 {
		t.Fatalf("launched %d tasks, want 2", len(got))
	}
	offered := allocator.Resources{Ports: []allocator.PortRange{pr(31000, 31002), pr(31010, 31020)}}
	seen := map[uint16]string{}
	for _, tk := range got {
		ps := tk.Resources.Ports
		if len(ps) != 2 {
			t.Fatalf("task %s ports %v, want 2", tk.ID, ps)
		}
		for i, port := range ps {
			if port.Begin != port.End {
				t.Errorf("task %s port %d is a range %v, want a single port", tk.ID, i, port)
			}
			if !offered.Contains(allocator.Resources{Ports: []allocator.PortRange{pr(port.Begin, port.End)}}) {
				t.Errorf("task %s got port %d, not in the offer", tk.ID, port.Begin)
			}
			if other, dup := seen[port.Begin]; dup {
				t.Errorf("port %d given to both %s and %s", port.Begin, other, tk.ID)
			}
			seen[port.Begin] = tk.ID
			if want := fmt.Sprint(port.Begin); tk.Env[fmt.Sprintf("PORT%d", i)] != want {
				t.Errorf("task %s PORT%d = %q, want %s", tk.ID, i, tk.Env[fmt.Sprintf("PORT%d", i)], want)
			}
		}
		if tk.Env["PORT"] != fmt.Sprint(ps[0].Begin) {
			t.Errorf("task %s PORT = %q, want the first port %d", tk.ID, tk.Env["PORT"], ps[0].Begin)
		}
		if tk.Env["MODE"] != "prod" {
			t.Errorf("task %s env %v lost the job's MODE", tk.ID, tk.Env)
		}
	}
	if web.Spec.Env["PORT"] != "" || len(web.Spec.Env) != 1 {
		t.Errorf("job env changed to %v, want the job left alone", web.Spec.Env)
	}

	// With ports for only one instance, the other waits.
	p = Decide(input(t0, []*raftfsm.Job{web}, nil, offer("o1", "agent-1", 4, 4096, allocator.PortRange{Begin: 31000, End: 31002})))
	if n := len(launched(p)); n != 1 || p.Pending["web"].Instances != 1 {
		t.Errorf("launched %d pending %+v, want 1 launched and 1 waiting for ports", n, p.Pending["web"])
	}
}

func TestJobsWithoutPortsGetNoPortEnv(t *testing.T) {
	web := service("web", 1, 1, 256)
	p := Decide(input(t0, []*raftfsm.Job{web}, nil, offer("o1", "agent-1", 4, 4096, allocator.PortRange{Begin: 31000, End: 31010})))
	got := launched(p)
	if len(got) != 1 {
		t.Fatalf("launched %d, want 1", len(got))
	}
	if len(got[0].Resources.Ports) != 0 || got[0].Env["PORT"] != "" || got[0].Env["PORT0"] != "" {
		t.Errorf("task ports %v env %v, want no ports taken", got[0].Resources.Ports, got[0].Env)
	}
}

func TestOlderJobsGetResourcesFirst(t *testing.T) {
	older := service("zeta", 1, 2, 256)
	older.CreatedAt = t0.Add(-2 * time.Hour)
	newer := service("alpha", 1, 2, 256)
	newer.CreatedAt = t0.Add(-time.Hour)
	// Room for one of them; the newer one is listed first and sorts first by id.
	p := Decide(input(t0, []*raftfsm.Job{newer, older}, nil, offer("o1", "agent-1", 3, 4096)))

	got := launched(p)
	if len(got) != 1 || got[0].Job != "zeta" {
		t.Fatalf("launched %+v, want only the older job zeta", got)
	}
	if _, ok := p.Pending["alpha"]; !ok {
		t.Errorf("pending = %v, want the newer job alpha waiting", p.Pending)
	}

	// Jobs created at the same time go in id order.
	newer.CreatedAt = older.CreatedAt
	p = Decide(input(t0, []*raftfsm.Job{older, newer}, nil, offer("o1", "agent-1", 3, 4096)))
	if got := launched(p); len(got) != 1 || got[0].Job != "alpha" {
		t.Errorf("launched %+v, want alpha (ties broken by id)", got)
	}
}

func TestDecideDoesNotModifyItsInput(t *testing.T) {
	a, b := service("b", 1, 1, 64), service("a", 1, 1, 64)
	b.CreatedAt = t0.Add(-time.Minute)
	jobs := []*raftfsm.Job{a, b}
	o := offer("o1", "agent-1", 4, 4096, allocator.PortRange{Begin: 31000, End: 31005})
	a.Spec.Ports = 1
	Decide(input(t0, jobs, nil, o))
	if jobs[0] != a || jobs[1] != b {
		t.Error("Decide reordered the caller's jobs slice")
	}
	if o.Resources.NumPorts() != 6 || o.Resources.CPUs != 4 {
		t.Errorf("offer resources changed to %v", o.Resources)
	}
}

// TestNeverPlacesMoreThanOffered checks, over random jobs and offers, that
// what each Accept launches fits in its offers and that every offer is
// accounted for exactly once.
func TestNeverPlacesMoreThanOffered(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	totalPlaced, totalPending, withPorts := 0, 0, 0
	for iter := 0; iter < 500; iter++ {
		var jobs []*raftfsm.Job
		for j := range rng.IntN(5) + 1 {
			typ := "service"
			if rng.IntN(2) == 0 {
				typ = "batch"
			}
			jobs = append(jobs, &raftfsm.Job{
				Spec: raftfsm.JobSpec{
					ID: fmt.Sprintf("job%d", j), Type: typ, Instances: rng.IntN(6),
					Resources: raftfsm.Resources{
						CPUs: float64(rng.IntN(20)+1) / 10, Mem: float64(rng.IntN(8)+1) * 64,
						Disk: float64(rng.IntN(3)) * 100, GPUs: rng.IntN(3) / 2,
					},
					Ports: rng.IntN(3),
				},
				Version:   1,
				CreatedAt: t0.Add(-time.Duration(rng.IntN(1000)) * time.Second),
			})
		}
		var offers []allocator.Offer
		var hosts []Host
		nAgents := rng.IntN(4)
		for a := range nAgents {
			agent := fmt.Sprintf("agent-%d", a)
			var total allocator.Resources
			for k := range rng.IntN(3) + 1 {
				base := uint16(31000 + 100*k)
				r := allocator.Resources{
					CPUs: float64(rng.IntN(30)) / 10, Mem: float64(rng.IntN(16)) * 64,
					Disk: float64(rng.IntN(5)) * 100, GPUs: rng.IntN(2),
				}
				if n := rng.IntN(5); n > 0 {
					r.Ports = []allocator.PortRange{pr(base, base+uint16(n)-1)}
				}
				total = total.Add(r)
				offers = append(offers, allocator.Offer{
					ID: allocator.OfferID(fmt.Sprintf("%s-o%d", agent, k)), Framework: FrameworkID, Role: DefaultRole,
					Agent: allocator.AgentID(agent), Resources: r,
				})
			}
			hosts = append(hosts, Host{ID: agent, Total: total, Free: total})
		}
		rng.Shuffle(len(offers), func(i, j int) { offers[i], offers[j] = offers[j], offers[i] })
		byID := map[allocator.OfferID]allocator.Offer{}
		for _, o := range offers {
			byID[o.ID] = o
		}
		taskIDs := map[string]bool{}
		p := Decide(Input{Now: t0, Jobs: jobs, Offers: offers, Hosts: hosts, NewTaskID: func(job string, i int) string {
			id := fmt.Sprintf("%s.%d.%d", job, i, len(taskIDs))
			taskIDs[id] = true
			return id
		}})

		seen := map[allocator.OfferID]int{}
		wanted := 0
		for _, j := range jobs {
			wanted += j.Spec.Instances
		}
		placed := 0
		for _, a := range p.Accepts {
			if len(a.Tasks) == 0 || len(a.Offers) == 0 {
				t.Fatalf("iter %d: empty accept %+v", iter, a)
			}
			var have, used allocator.Resources
			for _, id := range a.Offers {
				seen[id]++
				o, ok := byID[id]
				if !ok {
					t.Fatalf("iter %d: accept names unknown offer %s", iter, id)
				}
				if o.Agent != a.Agent {
					t.Fatalf("iter %d: accept on %s uses offer %s of %s", iter, a.Agent, id, o.Agent)
				}
				have = have.Add(o.Resources)
			}
			for _, tk := range a.Tasks {
				if tk.Node != string(a.Agent) {
					t.Fatalf("iter %d: task %s node %s in accept on %s", iter, tk.ID, tk.Node, a.Agent)
				}
				var ps []allocator.PortRange
				for _, port := range tk.Resources.Ports {
					ps = append(ps, allocator.PortRange{Begin: port.Begin, End: port.End})
				}
				r := allocator.Resources{CPUs: tk.Resources.CPUs, Mem: tk.Resources.Mem, Disk: tk.Resources.Disk, GPUs: tk.Resources.GPUs, Ports: ps}
				if used.NumPorts()+r.NumPorts() != used.Add(r).NumPorts() {
					t.Fatalf("iter %d: a port of task %s is already used on %s", iter, tk.ID, a.Agent)
				}
				used = used.Add(r)
				placed++
				if len(ps) > 0 {
					withPorts++
				}
			}
			if !have.Contains(used) {
				t.Fatalf("iter %d: accept on %s launches %v but its offers hold %v", iter, a.Agent, used, have)
			}
		}
		for _, o := range p.Unused {
			seen[o.ID]++
		}
		for _, o := range offers {
			if seen[o.ID] != 1 {
				t.Fatalf("iter %d: offer %s appears %d times in accepts and unused, want once", iter, o.ID, seen[o.ID])
			}
		}
		if len(seen) != len(offers) {
			t.Fatalf("iter %d: plan names %d offers, %d were made", iter, len(seen), len(offers))
		}
		pending := 0
		for _, pd := range p.Pending {
			pending += pd.Instances
		}
		if placed+pending != wanted {
			t.Fatalf("iter %d: %d placed + %d pending, want all %d instances accounted for", iter, placed, pending, wanted)
		}
		if (len(p.Pending) > 0) != (pending > 0) {
			t.Fatalf("iter %d: %d jobs pending with %d instances unplaced", iter, len(p.Pending), pending)
		}
		if len(taskIDs) != placed {
			t.Fatalf("iter %d: NewTaskID called %d times for %d tasks", iter, len(taskIDs), placed)
		}
		totalPlaced += placed
		totalPending += pending
	}
	// The generator must exercise both outcomes for the checks to mean much.
	if totalPlaced < 200 || totalPending < 200 || withPorts < 50 {
		t.Errorf("random cases placed %d (%d with ports) and left %d pending; generator too lopsided", totalPlaced, withPorts, totalPending)
	}
	t.Logf("placed %d tasks (%d with ports), %d pending", totalPlaced, withPorts, totalPending)
}

func TestJobsArePlacedOnlyOnOffersOfTheirRole(t *testing.T) {
	plain := service("plain", 1, 1, 256)
	analytics := service("analytics", 1, 1, 256)
	analytics.Spec.Role = "analytics"
	reserved := offer("o2", "agent-1", 4, 4096)
	reserved.Role, reserved.Framework = "analytics", FrameworkID+"@analytics"
	p := Decide(input(t0, []*raftfsm.Job{plain, analytics}, nil, offer("o1", "agent-1", 1, 256), reserved))
	placed := map[string]string{}
	for _, a := range p.Accepts {
		for _, tk := range a.Tasks {
			placed[tk.Job] = a.Role
			if tk.Role != a.Role {
				t.Errorf("task %s has role %q in an accept of role %q", tk.ID, tk.Role, a.Role)
			}
		}
	}
	if placed["plain"] != DefaultRole || placed["analytics"] != "analytics" {
		t.Fatalf("placed by role: %v; want plain on the %s offer, analytics on the analytics one", placed, DefaultRole)
	}
}

// A draining node's service tasks move by the rolling-update rules: the
// replacement starts elsewhere first, the task there stops only once the
// service stays at min_health_capacity without it, and a batch task there
// is let finish.
func TestServiceTasksMoveOffADrainingNodeWithoutDroppingBelowMinHealth(t *testing.T) {
	web := service("web", 3, 1, 256)
	web.Spec.BackoffSeconds, web.Spec.BackoffFactor, web.Spec.MaxLaunchDelaySeconds = 1, 1.15, 300
	web.Spec.MinHealthCapacity, web.Spec.MaxOverCapacity = 1, 0.34 // one extra task at a time
	job := batch("job", 1, 0, 1, 256)
	var tasks []*raftfsm.Task
	for i := 0; i < 3; i++ {
		tasks = append(tasks, task(web, i, 0, 1, raftfsm.TaskRunning))
	}
	tasks[2].Node = "agent-2" // stays
	jt := task(job, 0, 0, 1, raftfsm.TaskRunning)
	tasks = append(tasks, jt)
	moving := map[string]bool{"agent-1": true}
	for round := 0; ; round++ {
		if round > 10 {
			t.Fatal("the service did not move off agent-1 in 10 rounds")
		}
		in := input(t0, []*raftfsm.Job{web, job}, tasks, offer("o2", "agent-2", 8, 8192))
		in.Moving = moving
		p := Decide(in)
		for _, k := range p.Kill {
			if k.ID == jt.ID {
				t.Fatalf("round %d: the batch task on the draining node was killed (%s); it should finish", round, k.Reason)
			}
			if k.Reason != KillMoved {
				t.Fatalf("round %d: kill %s for %q, want %q", round, k.ID, k.Reason, KillMoved)
			}
		}
		for _, l := range launched(p) {
			if l.Node == "agent-1" {
				t.Fatalf("round %d: launched %s on the draining node", round, l.ID)
			}
		}
		tasks = apply(p, tasks, raftfsm.TaskRunning)
		serving, onDrain, total := 0, 0, 0
		for _, tk := range tasks {
			if tk.Job != "web" || !tk.Active() || tk.KillRequested {
				continue
			}
			total++
			serving++
			if tk.Node == "agent-1" {
				onDrain++
			}
		}
		if serving < 3 || total > 4 {
			t.Fatalf("round %d: %d serving, %d running: want at least 3 serving and at most 4 running", round, serving, total)
		}
		if onDrain == 0 && total == 3 {
			break
		}
	}
}

// A lifetime hint keeps long- and short-lived tasks apart: a short task
// goes to the empty host rather than next to a service (which bin packing
// alone would choose), a long one joins the service's host; without
// hints, packing decides.
func TestLifetimeHintKeepsShortTasksOffHostsOfLongOnes(t *testing.T) {
	svc := service("svc", 1, 2, 2048)
	svc.Spec.Lifetime = "long"
	running := task(svc, 0, 0, 1, raftfsm.TaskRunning) // on agent-1
	place := func(j *raftfsm.Job) string {
		t.Helper()
		in := input(t0, []*raftfsm.Job{svc, j}, []*raftfsm.Task{running}, offer("o1", "agent-1", 2, 2048), offer("o2", "agent-2", 4, 4096))
		in.Hosts[0].Total = allocator.Resources{CPUs: 4, Mem: 4096, Disk: 1000}
		got := launched(Decide(in))
		if len(got) != 1 {
			t.Fatalf("%s: launched %d tasks, want 1", j.Spec.ID, len(got))
		}
		return got[0].Node
	}
	short := batch("short", 1, 0, 1, 512)
	if h := place(short); h != "agent-1" {
		t.Fatalf("without a hint the batch task goes to %s, want agent-1 (bin packing)", h)
	}
	short.Spec.Lifetime = "short"
	if h := place(short); h != "agent-2" {
		t.Fatalf("a short task goes to %s, want the empty agent-2, away from the long-lived service", h)
	}
	long := service("long", 1, 1, 512)
	long.Spec.Lifetime = "long"
	if h := place(long); h != "agent-1" {
		t.Fatalf("a long task goes to %s, want agent-1 beside the other long-lived task", h)
	}
}

// What the autoscaler reads of a pending job: with no host at all, a Why
// of 0 hosts (more hosts would place it); with hosts too full, the
// resource reasons; when it fits what is free, no Why.
func TestPendingCarriesPlacementsWhyForTheAutoscaler(t *testing.T) {
	web := service("web", 2, 2, 512)
	p := Decide(input(t0, []*raftfsm.Job{web}, nil))
	if w := p.Pending["web"].Why; w == nil || w.Hosts != 0 || w.Unplaceable {
		t.Fatalf("no hosts: Why %+v, want one of 0 hosts", w)
	}
	in := input(t0, []*raftfsm.Job{web}, nil, offer("o1", "agent-1", 1, 4096))
	in.Hosts[0].Total = allocator.Resources{CPUs: 4, Mem: 4096, Disk: 1000}
	if w := Decide(in).Pending["web"].Why; w == nil || w.Reasons["insufficient cpus"] != 1 {
		t.Fatalf("a host too full: Why %+v, want 1 host short of cpus", w)
	}
}
