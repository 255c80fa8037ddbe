package node

import "github.com/prometheus/client_golang/prometheus"

// metrics are the node's own Prometheus series (HTTP ones live in web).
type metrics struct {
	applyDuration  prometheus.Histogram
	tasksLaunched  prometheus.Counter
	statusUpdates  prometheus.Counter
	offersMade     prometheus.Counter
	allocationRuns prometheus.Counter
	isLeader       prometheus.Gauge
	// Mesos frameworks.
	frameworks    prometheus.Gauge
	mesosEvents   *prometheus.CounterVec
	mesosDropped  prometheus.Counter
	updateResends prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		applyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "clusterd_raft_apply_duration_seconds", Help: "Time to commit and apply one Raft command.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		tasksLaunched:  prometheus.NewCounter(prometheus.CounterOpts{Name: "clusterd_tasks_launched_total", Help: "Tasks committed for launch by the leader."}),
		statusUpdates:  prometheus.NewCounter(prometheus.CounterOpts{Name: "clusterd_task_status_updates_total", Help: "Task status updates this agent sent."}),
		offersMade:     prometheus.NewCounter(prometheus.CounterOpts{Name: "clusterd_offers_total", Help: "Resource offers made by the allocator."}),
		allocationRuns: prometheus.NewCounter(prometheus.CounterOpts{Name: "clusterd_allocation_runs_total", Help: "Allocation rounds run by the leader."}),
		isLeader:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "clusterd_is_leader", Help: "1 while this node is the Raft leader."}),
		frameworks:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "clusterd_mesos_frameworks_subscribed", Help: "Mesos frameworks with an open event stream on this leader."}),
		mesosEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clusterd_mesos_events_total",
			Help: "Events queued on Mesos frameworks' streams, by type."}, []string{"type"}),
		mesosDropped:  prometheus.NewCounter(prometheus.CounterOpts{Name: "clusterd_mesos_streams_dropped_total", Help: "Mesos framework streams closed because the framework did not keep up."}),
		updateResends: prometheus.NewCounter(prometheus.CounterOpts{Name: "clusterd_mesos_status_update_resends_total", Help: "Unacknowledged status updates sent again."}),
	}
	reg.MustRegister(m.applyDuration, m.tasksLaunched, m.statusUpdates, m.offersMade, m.allocationRuns, m.isLeader,
		m.frameworks, m.mesosEvents, m.mesosDropped, m.updateResends)
	return m
}
