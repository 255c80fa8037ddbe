package node

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	gometrics "github.com/armon/go-metrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/node/jobs"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// gatherSink collects a sink through a registry, as /metrics does, so a
// family the registry would refuse fails the test.
func gatherSink(t *testing.T, s *gometricsSink) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func TestGometricsSinkExportsEachKindUnderAPrometheusName(t *testing.T) {
	s := newGometricsSink()
	s.record([]string{"counter", "raft", "apply"}, 2, nil)
	s.record([]string{"counter", "raft", "apply"}, 3, nil)
	s.record([]string{"gauge", "raft", "peers"}, 3, nil)
	s.record([]string{"gauge", "raft", "peers"}, 5, nil)
	s.record([]string{"timer", "raft", "commitTime"}, 0.003, nil)
	s.record([]string{"timer", "raft", "commitTime"}, 20, nil) // past the last bucket
	s.record([]string{"sample", "raft", "leader", "lastContact"}, 7, nil)
	s.record([]string{"kv", "ignored"}, 1, nil)
	// The same name with and without a label: the union, missing ones empty.
	s.record([]string{"timer", "raft", "replication", "heartbeat"}, 0.001, []gometrics.Label{{Name: "peer_id", Value: "b"}})
	s.record([]string{"timer", "raft", "replication", "heartbeat"}, 0.001, nil)
	// A name taken by another kind is dropped and counted, not exported twice.
	s.record([]string{"gauge", "raft", "commitTime_seconds"}, 1, nil)

	f := gatherSink(t, s)
	if got := f["clusterd_raft_apply_total"]; got == nil || got.GetType() != dto.MetricType_COUNTER || got.Metric[0].GetCounter().GetValue() != 5 {
		t.Errorf("counter: %v", got)
	}
	if got := f["clusterd_raft_peers"]; got == nil || got.GetType() != dto.MetricType_GAUGE || got.Metric[0].GetGauge().GetValue() != 5 {
		t.Errorf("gauge keeps the last value: %v", got)
	}
	h := f["clusterd_raft_commitTime_seconds"]
	if h == nil || h.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("timer: %v", h)
	}
	hist := h.Metric[0].GetHistogram()
	if hist.GetSampleCount() != 2 || hist.GetSampleSum() < 20 {
		t.Errorf("timer count %d sum %v, want 2 and 20.003", hist.GetSampleCount(), hist.GetSampleSum())
	}
	for _, b := range hist.Bucket {
		want := uint64(0)
		if b.GetUpperBound() >= 0.003 {
			want = 1 // the 20 s one is only in +Inf
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v has %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if got := f["clusterd_raft_leader_lastContact"]; got == nil || got.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("sample: %v", got)
	}
	hb := f["clusterd_raft_replication_heartbeat_seconds"]
	if hb == nil || len(hb.Metric) != 2 {
		t.Fatalf("labelled timer: %v", hb)
	}
	if f["clusterd_ignored"] != nil {
		t.Errorf("EmitKey exported")
	}
	if got := f["clusterd_gometrics_series_dropped_total"]; got == nil || got.Metric[0].GetCounter().GetValue() != 1 {
		t.Errorf("dropped: %v", got)
	}
}

func TestGometricsSinkBoundsItsSeries(t *testing.T) {
	s := newGometricsSink()
	for i := range gometricsMaxSeries + 10 {
		s.record([]string{"counter", "raft", "x"}, 1, []gometrics.Label{{Name: "peer", Value: strings.Repeat("p", i%7) + string(rune('a'+i%26)) + time.Duration(i).String()}})
	}
	f := gatherSink(t, s)
	if n := len(f["clusterd_raft_x_total"].Metric); n != gometricsMaxSeries {
		t.Errorf("%d series, want the limit %d", n, gometricsMaxSeries)
	}
	if got := f["clusterd_gometrics_series_dropped_total"].Metric[0].GetCounter().GetValue(); got != 10 {
		t.Errorf("dropped %v, want 10", got)
	}
}

// go-metrics is process-wide: with two nodes in the process nobody can tell
// whose a series is, so neither gets it; once one is left, it gets all.
func TestGometricsGoToTheOnlyNodeOfTheProcessAndToNoneOfSeveral(t *testing.T) {
	a, b := newGometricsSink(), newGometricsSink()
	detachA := attachGometrics(a)
	defer detachA()
	detachB := attachGometrics(b)
	gometrics.IncrCounter([]string{"clusterdtest", "shared"}, 1)
	detachB()
	gometrics.IncrCounter([]string{"clusterdtest", "alone"}, 1)

	fa, fb := gatherSink(t, a), gatherSink(t, b)
	if fa["clusterd_clusterdtest_shared_total"] != nil || fb["clusterd_clusterdtest_shared_total"] != nil {
		t.Errorf("a series emitted while two nodes shared the process was given to one of them")
	}
	if fa["clusterd_clusterdtest_alone_total"] == nil {
		t.Errorf("the only node left did not get the series")
	}
	if fb["clusterd_clusterdtest_alone_total"] != nil {
		t.Errorf("a detached sink still receives")
	}
}

func TestLaunchLatencyRunsFromTheLaunchCommitToTheFirstRunning(t *testing.T) {
	var got []float64
	lt := launchTimer{observe: func(s float64) { got = append(got, s) }}
	t0 := time.Unix(1000, 0)
	a, b := &raftfsm.Task{ID: "a"}, &raftfsm.Task{ID: "b"}
	lt.applied(&raftfsm.LaunchTasks{}, &raftfsm.Result{Launched: []*raftfsm.Task{a, b}}, t0)
	lt.applied(&raftfsm.TaskStatusBatch{Updates: []raftfsm.StatusUpdate{{TaskID: "a", State: raftfsm.TaskStarting}}}, &raftfsm.Result{}, t0.Add(time.Second))
	lt.applied(&raftfsm.TaskStatusBatch{Updates: []raftfsm.StatusUpdate{{TaskID: "a", State: raftfsm.TaskRunning}}}, &raftfsm.Result{}, t0.Add(2*time.Second))
	// A second RUNNING (a re-adopted task) is not a launch.
	lt.applied(&raftfsm.TaskStatusBatch{Updates: []raftfsm.StatusUpdate{{TaskID: "a", State: raftfsm.TaskRunning}}}, &raftfsm.Result{}, t0.Add(9*time.Second))
	// b fails before running: forgotten, never observed.
	lt.applied(&raftfsm.TaskStatusBatch{Updates: []raftfsm.StatusUpdate{{TaskID: "b", State: raftfsm.TaskFailed}}}, &raftfsm.Result{Ended: []*raftfsm.Task{b}}, t0.Add(3*time.Second))
	if len(got) != 1 || got[0] != 2 {
		t.Fatalf("observed %v, want [2]", got)
	}
	if len(lt.started) != 0 {
		t.Errorf("still waiting for %v", lt.started)
	}
}

// scrape GETs /metrics over HTTP and parses it as Prometheus does.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s: %s", resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// gaugeWith is the value of the gauge of family name with label=value.
func gaugeWith(f map[string]*dto.MetricFamily, name, label, value string) (float64, bool) {
	for _, m := range f[name].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == label && l.GetValue() == value {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func histogramCount(f map[string]*dto.MetricFamily, name string) uint64 {
	var n uint64
	for _, m := range f[name].GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// The in-process twin of nodetest's TestMetricsAfterAWorkload: the node's
// own code under the race detector, the bridged raft series included (the
// node is alone in the process while this test runs).
func TestMetricsOfANodeAfterAWorkload(t *testing.T) {
	n, b := startJobsNode(t, func(c *Config) { c.Dev = true }) // Dev: its tasks stop with it
	if err := submitJob(t, b, api.JobSpec{ID: "web", Type: api.JobService, Cmd: "sleep 600", Instances: 2, CPUs: 0.1, Mem: 16}); err != nil {
		t.Fatal(err)
	}
	if err := submitJob(t, b, api.JobSpec{ID: "once", Type: api.JobBatch, Cmd: "true", Instances: 1, CPUs: 0.1, Mem: 16}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 running and the batch finished", 15*time.Second, func() bool {
		return tasksIn(n, "web", raftfsm.TaskRunning) == 2 && tasksIn(n, "once", raftfsm.TaskFinished) == 1
	})
	url := "http://" + n.httpAddr + "/metrics"
	var f map[string]*dto.MetricFamily
	waitFor(t, "the leader step after the tasks ran", 5*time.Second, func() bool {
		f = scrape(t, url)
		share, _ := gaugeWith(f, "clusterd_allocator_role_dominant_share", "role", jobs.DefaultRole)
		return histogramCount(f, "clusterd_task_launch_latency_seconds") >= 2 && share > 0
	})
	for _, name := range []string{"clusterd_allocator_cycle_duration_seconds", "clusterd_placement_duration_seconds", "clusterd_task_launch_latency_seconds"} {
		if histogramCount(f, name) == 0 {
			t.Errorf("%s: no observation", name)
		}
	}
	if v, _ := gaugeWith(f, "clusterd_tasks", "state", raftfsm.TaskRunning); v != 2 {
		t.Errorf("clusterd_tasks{state=TASK_RUNNING} = %v, want 2", v)
	}
	if v, _ := gaugeWith(f, "clusterd_tasks", "state", raftfsm.TaskFinished); v != 1 {
		t.Errorf("clusterd_tasks{state=TASK_FINISHED} = %v, want 1", v)
	}
	if v, _ := gaugeWith(f, "clusterd_nodes", "state", raftfsm.NodeReady); v != 1 {
		t.Errorf("clusterd_nodes{state=ready} = %v, want 1", v)
	}
	share, ok := gaugeWith(f, "clusterd_allocator_role_dominant_share", "role", jobs.DefaultRole)
	if !ok || share <= 0 || share > 1 {
		t.Errorf("dominant share of role jobs = %v (present %v), want in (0, 1]: its tasks hold resources", share, ok)
	}
	if v, ok := gaugeWith(f, "clusterd_allocator_framework_dominant_share", "framework", jobs.FrameworkID); !ok || v <= 0 || v > 1 {
		t.Errorf("dominant share of clusterd-jobs = %v (present %v)", v, ok)
	}
	if g := f["clusterd_allocator_offers_outstanding"]; g == nil || g.Metric[0].GetGauge().GetValue() < 0 {
		t.Errorf("offers outstanding: %v", g)
	}
	if g := f["clusterd_placement_pending_tasks"]; g == nil || g.Metric[0].GetGauge().GetValue() != 0 {
		t.Errorf("pending tasks with everything placed: %v", g)
	}
	if v, _ := gaugeWith(f, "clusterd_raft_state", "state", "Leader"); v != 1 {
		t.Errorf("clusterd_raft_state{state=Leader} = %v", v)
	}
	if histogramCount(f, "clusterd_raft_commitTime_seconds") == 0 || f["clusterd_raft_apply_total"] == nil {
		t.Errorf("bridged raft series missing: commitTime %d, apply %v", histogramCount(f, "clusterd_raft_commitTime_seconds"), f["clusterd_raft_apply_total"])
	}
	if histogramCount(f, "clusterd_memberlist_gossip_seconds") == 0 {
		t.Errorf("bridged memberlist series missing")
	}
	f = scrape(t, url) // the previous scrapes are counted now
	var routes []string
	for _, m := range f["clusterd_http_requests_total"].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "route" {
				routes = append(routes, l.GetValue())
			}
		}
	}
	if !strings.Contains(strings.Join(routes, ","), "GET /metrics") {
		t.Errorf("HTTP routes %v lack GET /metrics", routes)
	}
}

// The cost observeAllocator adds to every leader step, at 1,000 agents each
// holding an offer to one of 10 frameworks.
func BenchmarkObserveAllocator(b *testing.B) {
	a := allocator.New(allocator.DefaultConfig())
	for i := range 10 {
		_ = a.AddFramework(allocator.Framework{ID: allocator.FrameworkID(fmt.Sprintf("fw%d@r%d", i, i%3)), Role: fmt.Sprintf("r%d", i%3)})
	}
	for i := range 1000 {
		_ = a.AddAgent(allocator.Agent{ID: allocator.AgentID(fmt.Sprintf("a%d", i)), Total: allocator.Resources{CPUs: 8, Mem: 16384}})
	}
	offers := a.Allocate(time.Unix(0, 0))
	if len(offers) < 1000 {
		b.Fatalf("%d offers, want 1000", len(offers))
	}
	l := &leaderLoop{n: &Node{metrics: newMetrics(prometheus.NewRegistry())}, alloc: a}
	at := time.Now()
	for b.Loop() {
		at = at.Add(allocatorObserveEvery) // every call does the work
		l.observeAllocator(at)
	}
}
