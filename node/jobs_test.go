package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// startJobsNode is a one-node cluster that allocates often, for the
// built-in framework's tests.
func startJobsNode(t *testing.T, change func(*Config)) (*Node, *backend) {
	t.Helper()
	n := startNodeWith(t, func(c *Config) {
		c.AllocationInterval = 50 * time.Millisecond
		if change != nil {
			change(c)
		}
	})
	return n, &backend{n: n}
}

// submitJob submits spec with the API's defaults filled in.
func submitJob(t *testing.T, b *backend, spec api.JobSpec) error {
	t.Helper()
	spec.ApplyDefaults()
	if err := spec.Validate(); err != nil {
		t.Fatalf("job %s: %v", spec.ID, err)
	}
	_, err := b.SubmitJob(context.Background(), spec)
	return err
}

// tasksIn counts a job's tasks in state.
func tasksIn(n *Node, job, state string) int {
	c := 0
	for _, t := range n.fsm.View().TasksOfJob(job) {
		if t.State == state {
			c++
		}
	}
	return c
}

func TestConstraintsMatchTheNodesAttributesAndPendingSaysWhy(t *testing.T) {
	n, b := startJobsNode(t, func(c *Config) { c.Attributes = map[string]string{"zone": "eu-1a"} })
	unique := api.JobSpec{ID: "web", Type: api.JobService, Cmd: "sleep 60", Instances: 2, CPUs: 0.1, Mem: 16,
		Constraints: []api.Constraint{{Field: "hostname", Operator: "UNIQUE"}}}
	if err := submitJob(t, b, unique); err != nil {
		t.Fatal(err)
	}
	inZone := api.JobSpec{ID: "zoned", Type: api.JobService, Cmd: "sleep 60", Instances: 1, CPUs: 0.1, Mem: 16,
		Constraints: []api.Constraint{{Field: "zone", Operator: "LIKE", Value: "eu-.*"}}}
	if err := submitJob(t, b, inZone); err != nil {
		t.Fatal(err)
	}
	elsewhere := api.JobSpec{ID: "elsewhere", Type: api.JobService, Cmd: "sleep 60", Instances: 1, CPUs: 0.1, Mem: 16,
		Constraints: []api.Constraint{{Field: "zone", Operator: "IS", Value: "us-2b"}}}
	if err := submitJob(t, b, elsewhere); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "one web task and the zoned task running", 10*time.Second, func() bool {
		return tasksIn(n, "web", raftfsm.TaskRunning) == 1 && tasksIn(n, "zoned", raftfsm.TaskRunning) == 1
	})
	var web, other api.Job
	waitFor(t, "pending reasons", 5*time.Second, func() bool {
		web, _ = b.Job(context.Background(), "web")
		other, _ = b.Job(context.Background(), "elsewhere")
		return web.Pending != nil && other.Pending != nil
	})
	if web.Pending.Unplaceable || web.Pending.Instances != 1 || !strings.Contains(web.Pending.Message, "constraint hostname UNIQUE on 1 of 1 nodes") {
		t.Errorf("web pending = %+v, want the second instance waiting on the UNIQUE constraint", web.Pending)
	}
	if !other.Pending.Unplaceable || !strings.Contains(other.Pending.Message, "constraint zone IS us-2b on 1 of 1 nodes") {
		t.Errorf("elsewhere pending = %+v, want it unplaceable because no node is in us-2b", other.Pending)
	}
	if n := len(n.fsm.View().TasksOfJob("elsewhere")); n != 0 {
		t.Errorf("elsewhere has %d tasks, want none launched", n)
	}
}

func TestABadConstraintIsRefusedAtSubmission(t *testing.T) {
	_, b := startJobsNode(t, nil)
	spec := api.JobSpec{ID: "web", Type: api.JobService, Cmd: "sleep 60", Instances: 1, CPUs: 0.1, Mem: 16,
		Constraints: []api.Constraint{{Field: "zone", Operator: "LIKE", Value: "eu-(1"}}}
	spec.ApplyDefaults()
	_, err := b.SubmitJob(context.Background(), spec)
	var ve *api.ValidationError
	if !errors.As(err, &ve) || ve.Field != "constraints[0]" || !strings.Contains(ve.Message, "regular expression") {
		t.Fatalf("submit: %v, want a validation error on constraints[0] about the regular expression", err)
	}
}

// healthEndpoints answers the HTTP health checks of a job's tasks from the
// test process: for every running task of the job it listens on the task's
// first port (the task itself only sleeps) and answers with status(task).
type healthEndpoints struct {
	t      *testing.T
	n      *Node
	job    string
	mu     sync.Mutex
	status func(*raftfsm.Task) int
	open   map[string]net.Listener
}

func serveHealth(t *testing.T, n *Node, job string, status func(*raftfsm.Task) int) *healthEndpoints {
	h := &healthEndpoints{t: t, n: n, job: job, status: status, open: map[string]net.Listener{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			h.sync()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, l := range h.open {
			l.Close()
		}
	})
	return h
}

func (h *healthEndpoints) setStatus(f func(*raftfsm.Task) int) {
	h.mu.Lock()
	h.status = f
	h.mu.Unlock()
}

// sync opens a listener for each running task and closes those of tasks
// that ended.
func (h *healthEndpoints) sync() {
	active := map[string]bool{}
	for _, task := range h.n.fsm.View().TasksOfJob(h.job) {
		if task.State != raftfsm.TaskRunning || len(task.Resources.Ports) == 0 {
			continue
		}
		active[task.ID] = true
		h.mu.Lock()
		_, ok := h.open[task.ID]
		h.mu.Unlock()
		if ok {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", task.Resources.Ports[0].Begin))
		if err != nil {
			continue // the port of a task just ended is still held: retry
		}
		task := task
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.mu.Lock()
			code := h.status(task)
			h.mu.Unlock()
			w.WriteHeader(code)
		})}
		go srv.Serve(l)
		h.mu.Lock()
		h.open[task.ID] = l
		h.mu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, l := range h.open {
		if !active[id] {
			l.Close()
			delete(h.open, id)
		}
	}
}

// fastCheck is an HTTP check of PORT0 every 100 ms, unhealthy after 3
// failures in a row, with no grace period.
func fastCheck() api.HealthCheck {
	return api.HealthCheck{Protocol: "HTTP", Path: "/health", GracePeriodSeconds: ptrTo(0.0), IntervalSeconds: ptrTo(0.1),
		TimeoutSeconds: ptrTo(1.0), MaxConsecutiveFailures: ptrTo(3)}
}

func ptrTo[T any](v T) *T { return &v }

// healthyTasks counts a job's running tasks its checks found healthy, and
// of those, how many run version.
func healthyTasks(n *Node, job string, version uint64) (healthy, atVersion int) {
	for _, t := range n.fsm.View().TasksOfJob(job) {
		if t.State == raftfsm.TaskRunning && !t.KillRequested && t.Healthy != nil && *t.Healthy {
			healthy++
			if t.JobVersion == version {
				atVersion++
			}
		}
	}
	return healthy, atVersion
}

func TestAServiceFailingItsHealthCheckIsKilledAndReplaced(t *testing.T) {
	n, b := startJobsNode(t, nil)
	spec := api.JobSpec{ID: "web", Type: api.JobService, Cmd: "sleep 600", Instances: 1, CPUs: 0.1, Mem: 16, Ports: 1,
		HealthChecks: []api.HealthCheck{fastCheck()}, BackoffSeconds: ptrTo(0.1)}
	sick := map[string]bool{}
	h := serveHealth(t, n, "web", func(task *raftfsm.Task) int {
		if sick[task.ID] {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	if err := submitJob(t, b, spec); err != nil {
		t.Fatal(err)
	}
	var first string
	waitFor(t, "the task healthy", 10*time.Second, func() bool {
		for _, task := range n.fsm.View().TasksOfJob("web") {
			if task.Healthy != nil && *task.Healthy {
				first = task.ID
				return true
			}
		}
		return false
	})
	if j, _ := b.Job(context.Background(), "web"); j.State != "running" {
		t.Errorf("job state %q with its task healthy, want running", j.State)
	}
	h.setStatus(func(task *raftfsm.Task) int {
		if task.ID == first {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	waitFor(t, "the sick task killed and a healthy replacement", 15*time.Second, func() bool {
		old := n.fsm.View().Task(first)
		h, _ := healthyTasks(n, "web", 1)
		return old != nil && !old.Active() && h == 1
	})
	old := n.fsm.View().Task(first)
	if old.KillReason != "unhealthy" || old.Healthy == nil || *old.Healthy || !strings.Contains(old.Message, "503") {
		t.Errorf("old task: kill reason %q healthy %v message %q; want killed as unhealthy, saying the check got 503",
			old.KillReason, old.Healthy, old.Message)
	}
	for _, task := range n.fsm.View().TasksOfJob("web") {
		if task.Active() && task.Failures != 1 {
			t.Errorf("replacement %s counts %d failures, want 1 (an unhealthy kill is a failure)", task.ID, task.Failures)
		}
	}
}

func TestARollingUpdateNeverDropsBelowTheInstanceCountHealthy(t *testing.T) {
	n, b := startJobsNode(t, nil)
	spec := api.JobSpec{ID: "web", Type: api.JobService, Cmd: "sleep 600", Instances: 3, CPUs: 0.1, Mem: 16, Ports: 1,
		HealthChecks: []api.HealthCheck{fastCheck()}}
	serveHealth(t, n, "web", func(*raftfsm.Task) int { return http.StatusOK })
	if err := submitJob(t, b, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 healthy instances", 15*time.Second, func() bool { h, _ := healthyTasks(n, "web", 1); return h == 3 })

	spec.Env = map[string]string{"RELEASE": "2"}
	if err := submitJob(t, b, spec); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	samples := 0
	for {
		healthy, updated := healthyTasks(n, "web", 2)
		if healthy < 3 {
			t.Fatalf("sample %d: %d healthy instances during the update, want never fewer than 3 (minimum health capacity 1)", samples, healthy)
		}
		samples++
		if updated == 3 && tasksIn(n, "web", raftfsm.TaskRunning) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("update not done after 20s: %d of 3 healthy at version 2", updated)
		}
		time.Sleep(100 * time.Millisecond)
	}
	j, err := b.Job(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deployment recorded as done", 5*time.Second, func() bool {
		j, _ = b.Job(context.Background(), "web")
		return j.State == "running"
	})
	t.Logf("update done after %d samples", samples)
}

func TestACrashingServiceIsRestartedWithGrowingBackoff(t *testing.T) {
	n, b := startJobsNode(t, nil)
	spec := api.JobSpec{ID: "crash", Type: api.JobService, Cmd: "exit 3", Instances: 1, CPUs: 0.1, Mem: 16,
		BackoffSeconds: ptrTo(0.3), BackoffFactor: ptrTo(2.0), MaxLaunchDelaySeconds: ptrTo(10.0)}
	if err := submitJob(t, b, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "four attempts", 15*time.Second, func() bool { return len(n.fsm.View().TasksOfJob("crash")) >= 4 })
	tasks := n.fsm.View().TasksOfJob("crash")
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].Attempt < tasks[j].Attempt })
	for k := 1; k < 4; k++ {
		prev, next := tasks[k-1], tasks[k]
		if prev.Active() {
			t.Fatalf("attempt %d launched while attempt %d still runs", next.Attempt, prev.Attempt)
		}
		gap := next.CreatedAt.Sub(prev.UpdatedAt)
		want := time.Duration(0.3 * float64(time.Second) * float64(int(1)<<(k-1)))
		if gap < want-20*time.Millisecond {
			t.Errorf("attempt %d launched %v after attempt %d ended, want at least the backoff %v", next.Attempt, gap, prev.Attempt, want)
		}
		if next.Failures != k {
			t.Errorf("attempt %d counts %d failures, want %d", next.Attempt, next.Failures, k)
		}
	}
}

func TestDependentJobsRunInTheOrderOfTheirParents(t *testing.T) {
	n, b := startJobsNode(t, nil)
	// extract -> (clean, enrich) -> load: each records when it ran.
	dir := t.TempDir()
	job := func(id string, parents ...string) api.JobSpec {
		return api.JobSpec{ID: id, Type: api.JobBatch, Cmd: fmt.Sprintf("date +%%s%%N > %s/%s; sleep 0.2", dir, id), Instances: 1,
			CPUs: 0.1, Mem: 16, Parents: parents}
	}
	// Children first: they wait for their parents' first successful run.
	for _, s := range []api.JobSpec{job("extract"), job("clean", "extract"), job("enrich", "extract"), job("load", "clean", "enrich")} {
		if s.ID == "extract" {
			continue
		}
		if err := submitJob(t, b, s); err == nil {
			t.Fatalf("job %s accepted before its parents exist", s.ID)
		}
	}
	for _, s := range []api.JobSpec{job("extract"), job("clean", "extract"), job("enrich", "extract"), job("load", "clean", "enrich")} {
		if err := submitJob(t, b, s); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "load complete", 20*time.Second, func() bool {
		j, _ := b.Job(context.Background(), "load")
		return j.State == "complete"
	})
	ran := map[string]int64{}
	for _, id := range []string{"extract", "clean", "enrich", "load"} {
		raw, err := os.ReadFile(filepath.Join(dir, id))
		if err != nil {
			t.Fatalf("job %s did not run: %v", id, err)
		}
		ran[id], _ = strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		if runs := n.fsm.View().Job(id).Runs; len(runs) != 1 {
			t.Errorf("job %s has %d runs, want 1", id, len(runs))
		}
	}
	if !(ran["extract"] < ran["clean"] && ran["extract"] < ran["enrich"] && ran["clean"] < ran["load"] && ran["enrich"] < ran["load"]) {
		t.Errorf("start times %v, want extract before clean and enrich, both before load", ran)
	}
}

func TestScalingAServiceKeepsItsVersionAndRemovesTheNewestInstances(t *testing.T) {
	n, b := startJobsNode(t, nil)
	ctx := context.Background()
	if err := submitJob(t, b, api.JobSpec{ID: "web", Type: api.JobService, Cmd: "sleep 600", Instances: 1, CPUs: 0.1, Mem: 16}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "1 running", 10*time.Second, func() bool { return tasksIn(n, "web", raftfsm.TaskRunning) == 1 })
	j, err := b.ScaleJob(ctx, "web", 3)
	if err != nil {
		t.Fatal(err)
	}
	if j.Version != 1 || j.Instances != 3 {
		t.Errorf("scaled job at version %d with %d instances, want version 1 kept and 3 instances", j.Version, j.Instances)
	}
	waitFor(t, "3 running", 10*time.Second, func() bool { return tasksIn(n, "web", raftfsm.TaskRunning) == 3 })
	if _, err := b.ScaleJob(ctx, "web", 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the 2 newest instances gone", 10*time.Second, func() bool {
		active := 0
		for _, task := range n.fsm.View().TasksOfJob("web") {
			if task.Active() {
				active++
			}
		}
		return active == 1
	})
	for _, task := range n.fsm.View().TasksOfJob("web") {
		switch {
		case task.Active() && task.Instance != 0:
			t.Errorf("instance %d still runs, want only instance 0", task.Instance)
		case !task.Active() && task.KillReason != "scaled down":
			t.Errorf("task %s ended with kill reason %q, want scaled down", task.ID, task.KillReason)
		}
	}
	if j, _ := b.Job(ctx, "web"); len(j.Deployments) != 1 || j.Version != 1 {
		t.Errorf("deployments %+v at version %d, want the one deployment of version 1: scaling is not a new version", j.Deployments, j.Version)
	}
	var ve *api.ValidationError
	if err := submitJob(t, b, api.JobSpec{ID: "once", Type: api.JobBatch, Cmd: "true", Instances: 1, CPUs: 0.1, Mem: 16}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ScaleJob(ctx, "once", 2); !errors.As(err, &ve) {
		t.Errorf("scaling a batch job: %v, want a validation error saying to resubmit", err)
	}
}

func TestAManualRunStartsABatchJobAgain(t *testing.T) {
	n, b := startJobsNode(t, nil)
	ctx := context.Background()
	if err := submitJob(t, b, api.JobSpec{ID: "report", Type: api.JobBatch, Cmd: "sleep 0.5", Instances: 1, CPUs: 0.1, Mem: 16}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "run 1 running", 10*time.Second, func() bool { return tasksIn(n, "report", raftfsm.TaskRunning) == 1 })
	if _, err := b.StartRun(ctx, "report"); !errors.Is(err, api.ErrConflict) {
		t.Errorf("a manual run beside a running one: %v, want a conflict", err)
	}
	var j api.Job
	waitFor(t, "run 1 complete", 10*time.Second, func() bool { j, _ = b.Job(ctx, "report"); return j.State == "complete" })
	j, err := b.StartRun(ctx, "report")
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Runs) != 2 || j.Runs[1].Trigger != "manual" || j.Runs[1].State != "running" {
		t.Fatalf("runs %+v, want run 2 started manually", j.Runs)
	}
	waitFor(t, "run 2 succeeded", 10*time.Second, func() bool {
		j, _ = b.Job(ctx, "report")
		return len(j.Runs) == 2 && j.Runs[1].State == "succeeded"
	})
	if c := len(n.fsm.View().TasksOfJob("report")); c != 2 {
		t.Errorf("%d tasks, want one per run", c)
	}
}

// fakeClock is a settable clock for the leader's schedules.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func TestCronRunsAtItsTimesAcrossALeaderChangeOnAFakeClock(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 10, 59, 0, 0, time.UTC)}
	dir := t.TempDir()
	start := func() (*Node, *backend, func()) {
		n, stop := startNodeCtl(t, func(c *Config) {
			c.DataDir = dir
			c.Clock = clock.Now
			c.AllocationInterval = 20 * time.Millisecond
		})
		return n, &backend{n: n}, stop
	}
	n, b, stop := start()
	ctx := context.Background()
	if err := submitJob(t, b, api.JobSpec{ID: "hourly", Type: api.JobCron, Schedule: "0 * * * *", TimeZone: "Europe/Paris",
		Cmd: "true", Instances: 1, CPUs: 0.1, Mem: 16}); err != nil {
		t.Fatal(err)
	}
	runs := func() []raftfsm.Run { return n.fsm.View().Job("hourly").Runs }
	if j, _ := b.Job(ctx, "hourly"); !j.NextRun.Equal(time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("next run %v, want 11:00 UTC (noon in Paris)", j.NextRun)
	}

	clock.Set(time.Date(2026, 3, 1, 10, 59, 59, 0, time.UTC))
	time.Sleep(200 * time.Millisecond)
	if r := runs(); len(r) != 0 {
		t.Fatalf("runs %+v before the first scheduled time", r)
	}
	clock.Set(time.Date(2026, 3, 1, 11, 0, 10, 0, time.UTC))
	waitFor(t, "the 11:00 run", 5*time.Second, func() bool { return len(runs()) == 1 })
	if r := runs()[0]; !r.ScheduledFor.Equal(time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)) || r.Trigger != "schedule" {
		t.Errorf("run 1 = %+v, want scheduled for 11:00 UTC", r)
	}
	waitFor(t, "the 11:00 run to succeed", 10*time.Second, func() bool { return runs()[0].State == raftfsm.RunSucceeded })

	// A leader change (the only server restarts): the 11:00 run is not
	// run again, the 12:00 one runs on time.
	stop()
	n, b, stop = start()
	time.Sleep(200 * time.Millisecond)
	if r := runs(); len(r) != 1 {
		t.Fatalf("after a leader change at 11:00:10: runs %+v, want still only the 11:00 one", r)
	}
	clock.Set(time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC))
	waitFor(t, "the 12:00 run", 5*time.Second, func() bool { return len(runs()) == 2 })
	if r := runs()[1]; !r.ScheduledFor.Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("run 2 = %+v, want scheduled for 12:00 UTC", r)
	}
	waitFor(t, "the 12:00 run to succeed", 10*time.Second, func() bool { return runs()[1].State == raftfsm.RunSucceeded })

	// The cluster is down over 13:00 and back at 13:00:45: within the
	// default epsilon (60 s), the run still starts.
	stop()
	clock.Set(time.Date(2026, 3, 1, 13, 0, 45, 0, time.UTC))
	n, b, stop = start()
	waitFor(t, "the late 13:00 run", 5*time.Second, func() bool { return len(runs()) == 3 })
	if r := runs()[2]; r.State == raftfsm.RunSkipped || !r.ScheduledFor.Equal(time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)) {
		t.Errorf("run 3 = %+v, want the 13:00 run started 45 s late (within epsilon)", r)
	}

	// Down over 14:00 until 14:05: beyond epsilon, the run is recorded as
	// skipped, and nothing runs for it.
	stop()
	clock.Set(time.Date(2026, 3, 1, 14, 5, 0, 0, time.UTC))
	n, b, stop = start()
	waitFor(t, "the 14:00 run recorded", 5*time.Second, func() bool { return len(runs()) == 4 })
	r := runs()[3]
	if r.State != raftfsm.RunSkipped || !strings.Contains(r.Message, "missed") || !r.ScheduledFor.Equal(time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)) {
		t.Errorf("run 4 = %+v, want the 14:00 run skipped as missed by more than epsilon", r)
	}
	time.Sleep(200 * time.Millisecond)
	for _, task := range n.fsm.View().TasksOfJob("hourly") {
		if task.Run == r.Number {
			t.Errorf("task %s runs the skipped run", task.ID)
		}
	}
	if j, _ := b.Job(ctx, "hourly"); !j.NextRun.Equal(time.Date(2026, 3, 1, 15, 0, 0, 0, time.UTC)) {
		t.Errorf("next run %v, want 15:00 UTC", j.NextRun)
	}
	stop()
}

func TestAFailedParentStopsItsChildrenAndACycleIsRefused(t *testing.T) {
	n, b := startJobsNode(t, nil)
	ctx := context.Background()
	retries := 0
	for _, s := range []api.JobSpec{
		{ID: "extract", Type: api.JobBatch, Cmd: "exit 4", Instances: 1, CPUs: 0.1, Mem: 16, Retries: &retries},
		{ID: "load", Type: api.JobBatch, Cmd: "true", Instances: 1, CPUs: 0.1, Mem: 16, Parents: []string{"extract"}},
	} {
		if err := submitJob(t, b, s); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "extract failed", 10*time.Second, func() bool { j, _ := b.Job(ctx, "extract"); return j.State == "failed" })
	time.Sleep(300 * time.Millisecond)
	if c := len(n.fsm.View().TasksOfJob("load")); c != 0 {
		t.Errorf("load has %d tasks after its parent failed, want none", c)
	}
	if j, _ := b.Job(ctx, "load"); j.State != "waiting" {
		t.Errorf("load is %q, want waiting for its parent's next successful run", j.State)
	}

	cyclic := api.JobSpec{ID: "extract", Type: api.JobBatch, Cmd: "true", Instances: 1, CPUs: 0.1, Mem: 16, Parents: []string{"load"}}
	cyclic.ApplyDefaults()
	_, err := b.SubmitJob(ctx, cyclic)
	var ve *api.ValidationError
	if !errors.As(err, &ve) || ve.Field != "parents" || !strings.Contains(ve.Message, "extract → load → extract") {
		t.Fatalf("a cycle: %v, want a validation error on parents naming extract → load → extract", err)
	}
}

func TestEndedTasksAreKeptForTheJobsRetentionThenForgotten(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	n, b := startJobsNode(t, func(c *Config) { c.Clock = clock.Now })
	ctx := context.Background()
	if err := submitJob(t, b, api.JobSpec{ID: "report", Type: api.JobBatch, Cmd: "echo done; exit 0", Instances: 1, CPUs: 0.1, Mem: 16,
		RetentionSeconds: ptrTo(120.0)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run to succeed", 10*time.Second, func() bool { j, _ := b.Job(ctx, "report"); return j.State == "complete" })
	tasks := n.fsm.View().TasksOfJob("report")
	if len(tasks) != 1 || tasks[0].ExitCode == nil || *tasks[0].ExitCode != 0 {
		t.Fatalf("tasks %+v, want the one task with exit code 0", tasks)
	}
	id := tasks[0].ID
	readLog := func() string {
		r, err := b.TaskLog(ctx, id, "stdout", 0)
		if err != nil {
			return "error: " + err.Error()
		}
		defer r.Close()
		out, _ := io.ReadAll(r)
		return string(out)
	}
	clock.Set(clock.Now().Add(60 * time.Second))
	time.Sleep(300 * time.Millisecond)
	if n.fsm.View().Task(id) == nil || !strings.Contains(readLog(), "done") {
		t.Fatalf("task forgotten or its output gone 60 s after it ended, within its retention of 120 s")
	}
	clock.Set(clock.Now().Add(65 * time.Second))
	waitFor(t, "the task forgotten after its retention", 5*time.Second, func() bool { return n.fsm.View().Task(id) == nil })
	if j, _ := b.Job(ctx, "report"); len(j.Runs) != 1 || j.Runs[0].State != "succeeded" || j.State != "complete" {
		t.Errorf("job after its tasks were forgotten: state %q runs %+v, want the run's record kept", j.State, j.Runs)
	}
}

func TestACommandHealthCheckRunsInTheTasksSandbox(t *testing.T) {
	n, b := startJobsNode(t, nil)
	marks := t.TempDir()
	check := fastCheck()
	check.Protocol, check.Path = "COMMAND", ""
	// The check runs with the task's environment, in its sandbox (its
	// working directory, where the task wrote "ready").
	check.Command = fmt.Sprintf(`test -e ready && test ! -e %s/$CLUSTERD_TASK_ID`, marks)
	spec := api.JobSpec{ID: "worker", Type: api.JobService, Cmd: "touch ready; exec sleep 600", Instances: 1, CPUs: 0.1, Mem: 16,
		HealthChecks: []api.HealthCheck{check}, BackoffSeconds: ptrTo(0.1)}
	if err := submitJob(t, b, spec); err != nil {
		t.Fatal(err)
	}
	var first string
	waitFor(t, "the task healthy", 10*time.Second, func() bool {
		for _, task := range n.fsm.View().TasksOfJob("worker") {
			if task.Healthy != nil && *task.Healthy {
				first = task.ID
				return true
			}
		}
		return false
	})
	if err := os.WriteFile(filepath.Join(marks, first), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sick task replaced", 15*time.Second, func() bool {
		old := n.fsm.View().Task(first)
		h, _ := healthyTasks(n, "worker", 1)
		return old != nil && !old.Active() && h == 1
	})
	if old := n.fsm.View().Task(first); old.KillReason != "unhealthy" || !strings.Contains(old.Message, "exit") {
		t.Errorf("old task: kill reason %q message %q, want killed as unhealthy, saying the command's exit", old.KillReason, old.Message)
	}
}
