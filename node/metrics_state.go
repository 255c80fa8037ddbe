package node

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterd/clusterd/raftfsm"
)

var (
	taskStates = []string{raftfsm.TaskStaging, raftfsm.TaskStarting, raftfsm.TaskRunning, raftfsm.TaskKilling,
		raftfsm.TaskFinished, raftfsm.TaskFailed, raftfsm.TaskKilled, raftfsm.TaskLost, raftfsm.TaskError}
	nodeStates = []string{raftfsm.NodeReady, raftfsm.NodeInactive, raftfsm.NodeDraining, raftfsm.NodeDown, raftfsm.NodeLeft}
)

// stateCollector exports, at scrape time, what this node's replica of the
// state says (tasks and nodes by state) and its own Raft server's view
// (term, indexes, last contact). Every node holding a replica exports the
// state series (a follower's may lag the leader by a few entries); an agent
// without one exports none, rather than zeros that would read as "no
// tasks". The Raft series are per node even when several nodes share a
// process, unlike the bridged go-metrics ones.
type stateCollector struct {
	n                         *Node
	tasks, nodes              *prometheus.Desc
	raftState, term, commit   *prometheus.Desc
	applied, lastLog, contact *prometheus.Desc
}

func newStateCollector(n *Node) *stateCollector {
	return &stateCollector{n: n,
		tasks: prometheus.NewDesc("clusterd_tasks", "Tasks in the replicated state, by state (terminal ones until forgotten), as this node's replica has them.", []string{"state"}, nil),
		nodes: prometheus.NewDesc("clusterd_nodes", "Nodes in the replicated state, by state, as this node's replica has them.", []string{"state"}, nil),
		raftState: prometheus.NewDesc("clusterd_raft_state", "1 for this Raft server's current state (Leader, Follower, Candidate, Shutdown).",
			[]string{"state"}, nil),
		term:    prometheus.NewDesc("clusterd_raft_term", "This Raft server's current term.", nil, nil),
		commit:  prometheus.NewDesc("clusterd_raft_commit_index", "The highest log index this Raft server knows committed.", nil, nil),
		applied: prometheus.NewDesc("clusterd_raft_applied_index", "The highest log index applied to this node's state.", nil, nil),
		lastLog: prometheus.NewDesc("clusterd_raft_last_log_index", "The last index in this Raft server's log.", nil, nil),
		contact: prometheus.NewDesc("clusterd_raft_last_contact_seconds", "Time since this follower last heard from the leader (0 on the leader).", nil, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.tasks, c.nodes, c.raftState, c.term, c.commit, c.applied, c.lastLog, c.contact} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	// n.raft is set by Run before /metrics is served.
	if c.n.raft == nil {
		return
	}
	c.collectRaft(ch)
	if !c.n.hasReplica() {
		return
	}
	v := c.n.fsm.View()
	count := map[string]int{}
	for _, t := range v.Tasks() {
		count[t.State]++
	}
	emit(ch, c.tasks, taskStates, count)
	count = map[string]int{}
	for _, nd := range v.Nodes() {
		count[nd.State]++
	}
	emit(ch, c.nodes, nodeStates, count)
}

// emit sends one gauge per known state (zeros included, so an alert on a
// state does not depend on the series existing) and per unknown one seen.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, known []string, count map[string]int) {
	for _, s := range known {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(count[s]), s)
		delete(count, s)
	}
	for s, n := range count {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(n), s)
	}
}

func (c *stateCollector) collectRaft(ch chan<- prometheus.Metric) {
	r := c.n.raft.raft
	st := r.Stats()
	ch <- prometheus.MustNewConstMetric(c.raftState, prometheus.GaugeValue, 1, r.State().String())
	for desc, key := range map[*prometheus.Desc]string{c.term: "term", c.commit: "commit_index", c.applied: "applied_index", c.lastLog: "last_log_index"} {
		if v, err := strconv.ParseUint(st[key], 10, 64); err == nil {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(v))
		}
	}
	// "never" before the first contact: no sample rather than a made-up one.
	if lc := st["last_contact"]; lc == "0" {
		ch <- prometheus.MustNewConstMetric(c.contact, prometheus.GaugeValue, 0)
	} else if d, err := time.ParseDuration(lc); err == nil {
		ch <- prometheus.MustNewConstMetric(c.contact, prometheus.GaugeValue, d.Seconds())
	}
}
