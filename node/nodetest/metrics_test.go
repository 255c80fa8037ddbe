package nodetest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/clusterd/clusterd/web/api"
)

// scrapeMetrics GETs /metrics of node i and parses it with Prometheus's
// own text parser.
func scrapeMetrics(c *Cluster, i int) (map[string]*dto.MetricFamily, error) {
	resp, err := c.HTTPClient(httpTimeout).Get(c.Node(i).Addr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("GET /metrics from node %d: %w", i, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics from node %d: %s %v: %.300s", i, resp.Status, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("parse /metrics of node %d: %w", i, err)
	}
	return fams, nil
}

// metricWith is the value (gauge or counter) of family name's series with
// label=value; label "" takes the first series.
func metricWith(f map[string]*dto.MetricFamily, name, label, value string) (float64, bool) {
	for _, m := range f[name].GetMetric() {
		match := label == ""
		for _, l := range m.Label {
			match = match || (l.GetName() == label && l.GetValue() == value)
		}
		if match {
			if m.Counter != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// observations is a histogram family's sample count over all its series.
func observations(f map[string]*dto.MetricFamily, name string) uint64 {
	var n uint64
	for _, m := range f[name].GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// /metrics of a 3-node cluster after a service of 2 and a batch job: each
// family the operator relies on is there, with values that make sense; the
// leader has the allocator's and Raft's leader-side series, every node its
// replica's counts and memberlist's.
func TestMetricsAfterAWorkload(t *testing.T) {
	c := Start(t, Options{N: 3})
	leader := c.Leader(t)
	c.Submit(t, leader.Index, `{"id":"web","type":"service","cmd":"sleep 300","instances":2,"cpus":0.1,"mem":16}`)
	c.Submit(t, leader.Index, `{"id":"once","type":"batch","cmd":"true","instances":1,"cpus":0.1,"mem":16}`)
	c.Eventually(t, "2 web tasks running and the batch finished", 30*time.Second, func() bool {
		tasks, err := c.Tasks(leader.Index)
		if err != nil {
			return false
		}
		running, finished := 0, 0
		for _, task := range tasks {
			running += btoi(task.Job == "web" && task.State == api.TaskRunning)
			finished += btoi(task.Job == "once" && task.State == api.TaskFinished)
		}
		return running == 2 && finished == 1
	})

	var f map[string]*dto.MetricFamily
	var why string
	c.eventually(t, "the leader's /metrics shows the workload", 20*time.Second, func() (bool, string) {
		var err error
		if f, err = scrapeMetrics(c, leader.Index); err != nil {
			return false, err.Error()
		}
		running, _ := metricWith(f, "clusterd_tasks", "state", api.TaskRunning)
		launched := observations(f, "clusterd_task_launch_latency_seconds")
		probes := observations(f, "clusterd_memberlist_probeNode_seconds")
		share, _ := metricWith(f, "clusterd_allocator_role_dominant_share", "role", "jobs")
		// Replication to the followers is timed once they are voters,
		// which on a loaded machine can come after the workload ran.
		rpcs := observations(f, "clusterd_raft_replication_appendEntries_rpc_seconds")
		why = fmt.Sprintf("running %v, launch latencies %d, memberlist probes %d, share of role jobs %v, appendEntries RPCs %d", running, launched, probes, share, rpcs)
		return running == 2 && launched >= 2 && probes > 0 && share > 0 && rpcs > 0, why
	})

	for _, name := range []string{"clusterd_allocator_cycle_duration_seconds", "clusterd_placement_duration_seconds",
		"clusterd_task_launch_latency_seconds", "clusterd_raft_apply_duration_seconds", "clusterd_http_request_duration_seconds",
		// Bridged from go-metrics: Raft's leader-side timings, memberlist's.
		"clusterd_raft_commitTime_seconds", "clusterd_raft_fsm_applyBatch_seconds", "clusterd_raft_leader_dispatchLog_seconds",
		"clusterd_raft_replication_appendEntries_rpc_seconds", "clusterd_memberlist_gossip_seconds", "clusterd_memberlist_probeNode_seconds"} {
		if observations(f, name) == 0 {
			t.Errorf("leader: %s has no observation", name)
		}
	}
	if v, _ := metricWith(f, "clusterd_nodes", "state", "ready"); v != 3 {
		t.Errorf("clusterd_nodes{state=ready} = %v, want 3", v)
	}
	if v, ok := metricWith(f, "clusterd_allocator_offers_outstanding", "", ""); !ok || v < 0 {
		t.Errorf("offers outstanding %v (present %v)", v, ok)
	}
	if v, ok := metricWith(f, "clusterd_allocator_role_dominant_share", "role", "jobs"); !ok || v <= 0 || v > 1 {
		t.Errorf("dominant share of role jobs = %v (present %v), want in (0, 1]", v, ok)
	}
	for _, m := range f["clusterd_allocator_framework_dominant_share"].GetMetric() {
		if v := m.GetGauge().GetValue(); v < 0 || v > 1 {
			t.Errorf("framework dominant share %v outside [0, 1]: %v", v, m.Label)
		}
	}
	if v, ok := metricWith(f, "clusterd_placement_pending_tasks", "", ""); !ok || v != 0 {
		t.Errorf("pending tasks %v (present %v), want 0 with everything placed", v, ok)
	}
	if v, _ := metricWith(f, "clusterd_raft_state", "state", "Leader"); v != 1 {
		t.Errorf("leader: clusterd_raft_state{state=Leader} = %v", v)
	}
	if v, _ := metricWith(f, "clusterd_raft_apply_total", "", ""); v <= 0 {
		t.Errorf("leader: clusterd_raft_apply_total = %v", v)
	}
	if v, _ := metricWith(f, "clusterd_memberlist_udp_sent_total", "", ""); v <= 0 {
		t.Errorf("leader: clusterd_memberlist_udp_sent_total = %v", v)
	}
	if v, _ := metricWith(f, "clusterd_gometrics_series_dropped_total", "", ""); v != 0 {
		t.Errorf("%v go-metrics series dropped", v)
	}

	// A follower: its replica's counts, its own Raft and memberlist series,
	// none of the leader's soft state.
	follower := (leader.Index + 1) % 3
	var ff map[string]*dto.MetricFamily
	c.eventually(t, "a follower's /metrics", 10*time.Second, func() (bool, string) {
		var err error
		if ff, err = scrapeMetrics(c, follower); err != nil {
			return false, err.Error()
		}
		running, _ := metricWith(ff, "clusterd_tasks", "state", api.TaskRunning)
		return running == 2, fmt.Sprintf("tasks running %v", running)
	})
	if v, _ := metricWith(ff, "clusterd_raft_state", "state", "Follower"); v != 1 {
		t.Errorf("follower: clusterd_raft_state{state=Follower} = %v", v)
	}
	if v, ok := metricWith(ff, "clusterd_raft_last_contact_seconds", "", ""); !ok || v < 0 || v > 5 {
		t.Errorf("follower: last contact %v s (present %v)", v, ok)
	}
	if observations(ff, "clusterd_raft_rpc_appendEntries_seconds") == 0 || observations(ff, "clusterd_memberlist_probeNode_seconds") == 0 {
		t.Errorf("follower: bridged raft or memberlist series missing")
	}
	if len(ff["clusterd_allocator_role_dominant_share"].GetMetric()) != 0 {
		t.Errorf("follower exports the leader's dominant shares")
	}
	if v, _ := metricWith(ff, "clusterd_is_leader", "", ""); v != 0 {
		t.Errorf("follower: clusterd_is_leader = %v", v)
	}
	c.AssertNoTaskRunsTwice(t)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
