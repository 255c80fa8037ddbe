// Command benchrun is the driver behind scripts/bench: it starts
// `clusterd agent --dev` on free loopback ports (a fresh node per scenario),
// drives it over the HTTP API and prints the figures of docs/BENCHMARKS.md.
//
//	go run ./scripts/benchrun -bin /path/to/clusterd [-scenario all|latency|throughput|memory|idle] [-json]
//
// Scenarios:
//
//	latency     submit→complete of a one-instance /bin/true batch job, -runs times
//	throughput  one batch job of -tasks /bin/true instances, POST→complete
//	memory      clusterd's RSS idle and with -mem-tasks running `sleep 600` tasks
//	idle        clusterd's idle RSS only
//
// Waits are driven by the server-sent event stream GET /v1/events: the job
// is re-read on each event. -recheck is a safety net (a re-read when no
// event came for that long); such wake-ups are counted as "fallback" in the
// results, so a stream that misses changes is visible.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

type machine struct {
	Date      string `json:"date"`
	NProc     int    `json:"nproc"`
	CPUModel  string `json:"cpu_model"`
	MemTotal  string `json:"mem_total"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"` // of the driver
}

type results struct {
	Machine    machine           `json:"machine"`
	Latency    *latencyResult    `json:"latency,omitempty"`
	Throughput *throughputResult `json:"throughput,omitempty"`
	Memory     *memoryResult     `json:"memory,omitempty"`
	Errors     map[string]string `json:"errors,omitempty"`
}

func main() {
	var (
		bin      = flag.String("bin", "", "path of the clusterd binary (required)")
		scenario = flag.String("scenario", "all", "all, latency, throughput, memory or idle")
		runs     = flag.Int("runs", 100, "latency: number of submit→done runs")
		tasks    = flag.Int("tasks", 1000, "throughput: instances of the batch job")
		memTasks = flag.Int("mem-tasks", 200, "memory: running sleep tasks")
		timeout  = flag.Duration("timeout", 10*time.Minute, "overall time limit")
		recheck  = flag.Duration("recheck", time.Second, "re-read a job when no event came for this long (a safety net, counted as fallback)")
		jsonOut  = flag.Bool("json", false, "print the results as JSON instead of a table")
		logLevel = flag.String("log-level", "info", "the node's --log-level")
		nodeLog  = flag.String("node-log", "", "append each node's log to this file")
	)
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "benchrun: -bin is required")
		flag.Usage()
		os.Exit(2)
	}
	var which []string
	switch *scenario {
	case "all":
		which = []string{"latency", "throughput", "memory"}
	case "latency", "throughput", "memory", "idle":
		which = []string{*scenario}
	default:
		fmt.Fprintf(os.Stderr, "benchrun: -scenario %q: use all, latency, throughput, memory or idle\n", *scenario)
		os.Exit(2)
	}
	if *runs < 1 || *runs > 100000 || *tasks < 1 || *tasks > 10000 || *memTasks < 1 || *memTasks > 10000 {
		fmt.Fprintln(os.Stderr, "benchrun: -runs must be 1..100000, -tasks and -mem-tasks 1..10000")
		os.Exit(2)
	}
	if *recheck < 10*time.Millisecond {
		fmt.Fprintln(os.Stderr, "benchrun: -recheck must be at least 10ms")
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	// SIGINT/SIGTERM: cancel, so the current node is stopped and cleaned up.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		logf("%v: stopping", s)
		cancel()
	}()

	res := results{Machine: machineInfo(), Errors: map[string]string{}}
	hc := newHTTPClient()
	for _, sc := range which {
		if ctx.Err() != nil {
			res.Errors[sc] = "not run: " + ctx.Err().Error()
			continue
		}
		logf("%s: starting a dev node", sc)
		err := func() error {
			n, err := startNode(ctx, *bin, *logLevel, hc)
			if err != nil {
				return err
			}
			defer func() {
				if *nodeLog != "" {
					if err := n.copyLog(*nodeLog); err != nil {
						logf("copy node log: %v", err)
					}
				}
				if k := n.stop(); k > 0 {
					logf("%s: killed %d leftover task processes", sc, k)
				}
			}()
			// The stream lives as long as the node.
			esCtx, esCancel := context.WithCancel(ctx)
			defer esCancel()
			es, err := followEvents(esCtx, hc, n.url)
			if err != nil {
				return err
			}
			e := &env{hc: hc, node: n, es: es, recheck: *recheck}
			logf("%s: node %s (pid %d) ready", sc, n.url, n.pid())
			switch sc {
			case "latency":
				res.Latency, err = runLatency(ctx, e, *runs)
			case "throughput":
				res.Throughput, err = runThroughput(ctx, e, *tasks)
			case "memory":
				res.Memory, err = runMemory(ctx, e, *memTasks)
			case "idle":
				var r memoryResult
				if err = sleepCtx(ctx, settleBeforeRSS); err == nil {
					var kb int64
					kb, err = rssKB(n.pid())
					r.IdleRSSMB = float64(kb) / 1024
					r.GoalIdleMB, r.NomadIdle = goalIdleRSSMB, nomadIdleRSS
					r.IdleGoalMet = r.IdleRSSMB <= goalIdleRSSMB
					res.Memory = &r
				}
			}
			if err != nil {
				logf("%s failed: %v\nlast lines of the node's log:\n%s", sc, err, n.logTail(15))
			}
			return err
		}()
		if err != nil {
			res.Errors[sc] = err.Error()
		}
		hc.CloseIdleConnections()
	}
	if len(res.Errors) == 0 {
		res.Errors = nil
	}

	if *jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			logf("encode: %v", err)
			os.Exit(1)
		}
	} else {
		printTable(res)
	}
	if res.Errors != nil {
		os.Exit(1)
	}
}

func printTable(r results) {
	m := r.Machine
	fmt.Printf("clusterd benchmarks, %s, %d CPUs (%s), %s RAM, Linux %s\n\n", m.Date, m.NProc, m.CPUModel, m.MemTotal, m.Kernel)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tfigure\tvalue\tgoal\tmet\tNomad")
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "NO"
	}
	if l := r.Latency; l != nil {
		fmt.Fprintf(tw, "latency\tsubmit→done p50 (%d runs)\t%.1f ms\t≤ %.0f ms\t%s\t%s\n", l.Runs, l.P50MS, l.GoalP50MS, yes(l.GoalMet), l.Nomad)
		fmt.Fprintf(tw, "latency\tp90 / p99 / max\t%.1f / %.1f / %.1f ms\t\t\t\n", l.P90MS, l.P99MS, l.MaxMS)
		fmt.Fprintf(tw, "latency\tmin / mean\t%.1f / %.1f ms\t\t\t\n", l.MinMS, l.MeanMS)
		fmt.Fprintf(tw, "latency\tPOST alone p50\t%.1f ms\t\t\t\n", l.SubmitP50MS)
		fmt.Fprintf(tw, "latency\tserver-side created→finished p50 / p90 / max\t%.1f / %.1f / %.1f ms\t\t\t\n", l.ServerP50MS, l.ServerP90MS, l.ServerMaxMS)
		fmt.Fprintf(tw, "latency\twake-ups: event / fallback (checks)\t%d / %d (%d)\t\t\t\n", l.Wait.Events, l.Wait.Fallback, l.Wait.Checks)
	}
	if t := r.Throughput; t != nil {
		fmt.Fprintf(tw, "throughput\t%d × /bin/true, POST→complete\t%.2f s (%.0f tasks/s)\t≤ %.0f s\t%s\t%s\n", t.Tasks, t.Seconds, t.TasksPerSecond, t.GoalSeconds, yes(t.GoalMet), t.Nomad)
		fmt.Fprintf(tw, "throughput\tserver-side created→last finished\t%.2f s\t\t\t\n", t.ServerSeconds)
		fmt.Fprintf(tw, "throughput\tPOST alone\t%.1f ms\t\t\t\n", t.PostMS)
		fmt.Fprintf(tw, "throughput\traft applies (count / sum)\t%.0f / %.3f s\t\t\t\n", t.RaftApplies, t.RaftApplySumS)
		fmt.Fprintf(tw, "throughput\tlaunched / status updates / offers / allocation runs\t%.0f / %.0f / %.0f / %.0f\t\t\t\n",
			t.Counters["clusterd_tasks_launched_total"], t.Counters["clusterd_task_status_updates_total"],
			t.Counters["clusterd_offers_total"], t.Counters["clusterd_allocation_runs_total"])
		fmt.Fprintf(tw, "throughput\twake-ups: event / fallback (checks)\t%d / %d (%d)\t\t\t\n", t.Wait.Events, t.Wait.Fallback, t.Wait.Checks)
	}
	if mm := r.Memory; mm != nil {
		fmt.Fprintf(tw, "memory\tidle RSS\t%.1f MB\t≤ %.0f MB\t%s\t%s\n", mm.IdleRSSMB, mm.GoalIdleMB, yes(mm.IdleGoalMet), mm.NomadIdle)
		if mm.Tasks > 0 {
			fmt.Fprintf(tw, "memory\tRSS with %d running tasks\t%.1f MB\t\t\t\n", mm.Tasks, mm.WithTasksRSSMB)
			fmt.Fprintf(tw, "memory\tper running task\t%.0f KB\t≤ %.0f KB\t%s\t%s\n", mm.PerTaskKB, mm.GoalPerTaskKB, yes(mm.PerTaskGoalMet), mm.NomadPerTask)
			fmt.Fprintf(tw, "memory\tPOST→all running / DELETE→all stopped\t%.2f s / %.2f s\t\t\t\n", mm.StartSeconds, mm.DeleteSeconds)
			fmt.Fprintf(tw, "memory\twake-ups: event / fallback (checks)\t%d / %d (%d)\t\t\t\n", mm.Wait.Events, mm.Wait.Fallback, mm.Wait.Checks)
		}
	}
	tw.Flush()
	for sc, e := range r.Errors {
		fmt.Printf("\nERROR %s: %s\n", sc, e)
	}
}

func machineInfo() machine {
	m := machine{Date: time.Now().UTC().Format("2006-01-02"), NProc: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				fmt.Sscan(strings.TrimSpace(rest), &kb)
				m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
