package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"sort"
	"time"
)

// Goals and Nomad's figures on the same kind of machine (docs/BENCHMARKS.md).
const (
	goalLatencyP50MS   = 50.0
	goalThroughputS    = 5.0
	goalIdleRSSMB      = 40.0
	goalPerTaskKB      = 1024.0
	nomadLatency       = "0.7-0.9 s"
	nomadThroughput    = "111 s"
	nomadIdleRSS       = "98 MB"
	nomadPerTask       = "~27 MB"
	settleBeforeRSS    = 2 * time.Second
	perRunLatencyLimit = 30 * time.Second
)

type env struct {
	hc      *http.Client
	node    *devNode
	es      *eventStream
	recheck time.Duration
}

func (e *env) url(path string) string { return e.node.url + path }

type latencyResult struct {
	Runs        int       `json:"runs"`
	P50MS       float64   `json:"p50_ms"`
	P90MS       float64   `json:"p90_ms"`
	P99MS       float64   `json:"p99_ms"`
	MaxMS       float64   `json:"max_ms"`
	MinMS       float64   `json:"min_ms"`
	MeanMS      float64   `json:"mean_ms"`
	SubmitP50MS float64   `json:"post_p50_ms"` // the POST alone
	ServerP50MS float64   `json:"server_p50_ms"`
	ServerP90MS float64   `json:"server_p90_ms"`
	ServerMaxMS float64   `json:"server_max_ms"`
	Wait        waitStats `json:"wait"`
	GoalP50MS   float64   `json:"goal_p50_ms"`
	GoalMet     bool      `json:"goal_met"`
	Nomad       string    `json:"nomad"`
}

// runLatency: submit→complete of a one-instance /bin/true batch job, runs
// times, each with a fresh job id, woken by the event stream.
func runLatency(ctx context.Context, e *env, runs int) (*latencyResult, error) {
	r := &latencyResult{Runs: runs, GoalP50MS: goalLatencyP50MS, Nomad: nomadLatency}
	var total, posts, server []float64
	stamp := time.Now().Unix() % 100000
	for i := 0; i < runs; i++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("after %d runs: %w", i, err)
		}
		id := fmt.Sprintf("lat-%d-%d", stamp, i)
		spec := jobSpec{ID: id, Type: "batch", Cmd: "/bin/true", Instances: 1, CPUs: 0.01, Mem: 8}
		runCtx, cancel := context.WithTimeout(ctx, perRunLatencyLimit)
		e.es.drain()
		start := time.Now()
		_, err := do(runCtx, e.hc, "POST", e.url("/v1/jobs"), spec, nil)
		posted := time.Since(start)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("run %d: %w", i, err)
		}
		j, err := waitJob(runCtx, e.hc, e.node.url, id, e.es, e.recheck, &r.Wait, batchDone)
		elapsed := time.Since(start)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", i, err)
		}
		total = append(total, ms(elapsed))
		posts = append(posts, ms(posted))
		// Outside the timed path: the server's own view (job created →
		// task finished), which excludes the client's wake-up delay.
		if d, ok := serverSpan(ctx, e, j); ok {
			server = append(server, ms(d))
		}
	}
	r.P50MS, r.P90MS, r.P99MS = pct(total, 50), pct(total, 90), pct(total, 99)
	r.MaxMS, r.MinMS, r.MeanMS = pct(total, 100), pct(total, 0), mean(total)
	r.SubmitP50MS = pct(posts, 50)
	r.ServerP50MS, r.ServerP90MS, r.ServerMaxMS = pct(server, 50), pct(server, 90), pct(server, 100)
	r.GoalMet = r.P50MS <= goalLatencyP50MS
	return r, nil
}

// batchDone is the wait condition of a batch job: complete (or an error if
// it failed).
func batchDone(j *job) (bool, error) {
	switch j.State {
	case "complete":
		return true, nil
	case "failed", "dead":
		return false, fmt.Errorf("job %s is %s (tasks %v)", j.ID, j.State, j.Tasks)
	}
	return false, nil
}

// serverSpan is the job's created_at to the last TASK_FINISHED time of its
// tasks, from the server's timestamps.
func serverSpan(ctx context.Context, e *env, j *job) (time.Duration, bool) {
	var tasks []task
	if err := getJSON(ctx, e.hc, e.url("/v1/tasks?job="+j.ID), &tasks); err != nil || len(tasks) == 0 || j.CreatedAt.IsZero() {
		return 0, false
	}
	var last time.Time
	for _, t := range tasks {
		fin := t.UpdatedAt
		for _, h := range t.History {
			if h.State == "TASK_FINISHED" {
				fin = h.Time
			}
		}
		if fin.After(last) {
			last = fin
		}
	}
	if last.IsZero() {
		return 0, false
	}
	return last.Sub(j.CreatedAt), true
}

type throughputResult struct {
	Tasks          int                `json:"tasks"`
	Seconds        float64            `json:"seconds"`
	TasksPerSecond float64            `json:"tasks_per_second"`
	PostMS         float64            `json:"post_ms"`
	ServerSeconds  float64            `json:"server_seconds"`
	Finished       int                `json:"finished"`
	RaftApplies    float64            `json:"raft_applies"`
	RaftApplySumS  float64            `json:"raft_apply_seconds_sum"`
	Counters       map[string]float64 `json:"counters"` // deltas over the run
	Wait           waitStats          `json:"wait"`
	GoalSeconds    float64            `json:"goal_seconds"`
	GoalMet        bool               `json:"goal_met"`
	Nomad          string             `json:"nomad"`
}

// runThroughput: one batch job of n /bin/true instances, POST to complete.
func runThroughput(ctx context.Context, e *env, n int) (*throughputResult, error) {
	r := &throughputResult{Tasks: n, GoalSeconds: goalThroughputS, Nomad: nomadThroughput}
	before, err := scrapeMetrics(ctx, e.hc, e.node.url)
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("tput-%d", time.Now().Unix()%100000)
	spec := jobSpec{ID: id, Type: "batch", Cmd: "/bin/true", Instances: n, CPUs: 0.01, Mem: 8}
	e.es.drain()
	start := time.Now()
	if _, err := do(ctx, e.hc, "POST", e.url("/v1/jobs"), spec, nil); err != nil {
		return nil, err
	}
	r.PostMS = ms(time.Since(start))
	j, err := waitJob(ctx, e.hc, e.node.url, id, e.es, e.recheck, &r.Wait, batchDone)
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	r.Seconds = elapsed.Seconds()
	r.TasksPerSecond = float64(n) / r.Seconds
	r.Finished = j.Tasks["TASK_FINISHED"]
	r.GoalMet = r.Seconds <= goalThroughputS
	if d, ok := serverSpan(ctx, e, j); ok {
		r.ServerSeconds = d.Seconds()
	}
	after, err := scrapeMetrics(ctx, e.hc, e.node.url)
	if err != nil {
		return nil, err
	}
	r.RaftApplies = after["clusterd_raft_apply_duration_seconds_count"] - before["clusterd_raft_apply_duration_seconds_count"]
	r.RaftApplySumS = after["clusterd_raft_apply_duration_seconds_sum"] - before["clusterd_raft_apply_duration_seconds_sum"]
	r.Counters = map[string]float64{}
	for _, name := range []string{"clusterd_tasks_launched_total", "clusterd_task_status_updates_total",
		"clusterd_offers_total", "clusterd_allocation_runs_total"} {
		r.Counters[name] = after[name] - before[name]
	}
	return r, nil
}

type memoryResult struct {
	Tasks          int       `json:"tasks"`
	IdleRSSMB      float64   `json:"idle_rss_mb"`
	WithTasksRSSMB float64   `json:"with_tasks_rss_mb"`
	PerTaskKB      float64   `json:"per_task_kb"`
	StartSeconds   float64   `json:"start_seconds"`  // POST to all running
	DeleteSeconds  float64   `json:"delete_seconds"` // DELETE to no active task
	Wait           waitStats `json:"wait"`
	GoalIdleMB     float64   `json:"goal_idle_mb"`
	GoalPerTaskKB  float64   `json:"goal_per_task_kb"`
	IdleGoalMet    bool      `json:"idle_goal_met"`
	PerTaskGoalMet bool      `json:"per_task_goal_met"`
	NomadIdle      string    `json:"nomad_idle"`
	NomadPerTask   string    `json:"nomad_per_task"`
}

// runMemory: clusterd's RSS idle, then with n `sleep 600` service tasks.
func runMemory(ctx context.Context, e *env, n int) (*memoryResult, error) {
	r := &memoryResult{Tasks: n, GoalIdleMB: goalIdleRSSMB, GoalPerTaskKB: goalPerTaskKB,
		NomadIdle: nomadIdleRSS, NomadPerTask: nomadPerTask}
	if err := sleepCtx(ctx, settleBeforeRSS); err != nil {
		return nil, err
	}
	idle, err := rssKB(e.node.pid())
	if err != nil {
		return nil, err
	}
	r.IdleRSSMB = float64(idle) / 1024

	id := fmt.Sprintf("mem-%d", time.Now().Unix()%100000)
	grace := 1.0
	spec := jobSpec{ID: id, Type: "service", Cmd: "sleep 600", Instances: n, CPUs: 0.005, Mem: 1, KillGraceSeconds: &grace}
	e.es.drain()
	start := time.Now()
	if _, err := do(ctx, e.hc, "POST", e.url("/v1/jobs"), spec, nil); err != nil {
		return nil, err
	}
	_, err = waitJob(ctx, e.hc, e.node.url, id, e.es, e.recheck, &r.Wait, func(j *job) (bool, error) {
		return j.Tasks["TASK_RUNNING"] >= n, nil
	})
	if err != nil {
		return nil, err
	}
	r.StartSeconds = time.Since(start).Seconds()
	if err := sleepCtx(ctx, settleBeforeRSS); err != nil {
		return nil, err
	}
	with, err := rssKB(e.node.pid())
	if err != nil {
		return nil, err
	}
	r.WithTasksRSSMB = float64(with) / 1024
	r.PerTaskKB = float64(with-idle) / float64(n)
	r.IdleGoalMet = r.IdleRSSMB <= goalIdleRSSMB
	r.PerTaskGoalMet = r.PerTaskKB <= goalPerTaskKB

	// Clean up: delete the job and wait until none of its tasks is active.
	e.es.drain()
	start = time.Now()
	if _, err := do(ctx, e.hc, "DELETE", e.url("/v1/jobs/"+id), nil, nil); err != nil {
		return r, err
	}
	delCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var ws waitStats
	timer := time.NewTimer(e.recheck)
	defer timer.Stop()
	for {
		var active []task
		if err := getJSON(delCtx, e.hc, e.url("/v1/tasks?active=true&job="+id), &active); err != nil {
			return r, fmt.Errorf("after DELETE: %w", err)
		}
		if len(active) == 0 {
			break
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(e.recheck)
		select {
		case <-delCtx.Done():
			return r, fmt.Errorf("after DELETE: %d tasks still active: %w", len(active), delCtx.Err())
		case <-e.es.C:
			ws.Events++
		case <-timer.C:
			ws.Fallback++
		}
	}
	r.DeleteSeconds = time.Since(start).Seconds()
	return r, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct is the nearest-rank percentile (0: min, 100: max).
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if p <= 0 {
		return s[0]
	}
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(s) {
		rank = len(s)
	}
	return s[rank-1]
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchrun: "+format+"\n", args...)
}
