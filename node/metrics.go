package node

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

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
	// Autoscaling decisions that did something, by group, kind and
	// outcome (done, failed, dry_run).
	autoscaleDecisions *prometheus.CounterVec

	// The leader's allocator and built-in framework (metrics_leader.go);
	// zero, and the vectors empty, on a node that does not lead.
	allocCycle        prometheus.Histogram
	offersOutstanding prometheus.Gauge
	roleShare         *prometheus.GaugeVec
	frameworkShare    *prometheus.GaugeVec
	placementRun      prometheus.Histogram
	pendingTasks      prometheus.Gauge
	launchLatency     prometheus.Histogram
	// shareRoles and shareFrameworks are the label values the share gauges
	// were last set for (written by the leader loop only).
	shareRoles      map[string]bool
	shareFrameworks map[[2]string]bool
	// allocObservedAt is when the leader loop last set the allocator's
	// gauges (the real clock).
	allocObservedAt time.Time
	launches        launchTimer
	// gometrics receives raft's and memberlist's go-metrics while the node
	// runs (metrics_gometrics.go).
	gometrics *gometricsSink
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
		autoscaleDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clusterd_autoscale_decisions_total",
			Help: "Autoscaling decisions that did something, by group, kind (scale_up, drain, terminate) and outcome (done, failed, dry_run)."}, []string{"group", "kind", "outcome"}),
	}
	m.allocCycle = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clusterd_allocator_cycle_duration_seconds",
		Help:    "Time of one allocation cycle of the leader's allocator (expiring offers, then offering free resources by DRF).",
		Buckets: prometheus.ExponentialBuckets(0.00001, 4, 12)})
	m.offersOutstanding = prometheus.NewGauge(prometheus.GaugeOpts{Name: "clusterd_allocator_offers_outstanding",
		Help: "Offers made and not yet accepted, declined, rescinded or expired, after the leader's last step."})
	m.roleShare = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "clusterd_allocator_role_dominant_share",
		Help: "A role's dominant share (0 to 1, before its weight): the largest fraction of any resource of the cluster its frameworks' tasks and offers hold."}, []string{"role"})
	m.frameworkShare = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "clusterd_allocator_framework_dominant_share",
		Help: "A framework's dominant share (0 to 1) in one of its roles."}, []string{"framework", "role"})
	m.placementRun = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clusterd_placement_duration_seconds",
		Help:    "Time the built-in jobs framework takes to decide over its offers (plan every job, place the instances to launch).",
		Buckets: prometheus.ExponentialBuckets(0.00001, 4, 12)})
	m.pendingTasks = prometheus.NewGauge(prometheus.GaugeOpts{Name: "clusterd_placement_pending_tasks",
		Help: "Instances of built-in jobs wanted but not placed after the last decision (waiting for an offer, or fitting nowhere)."})
	m.launchLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clusterd_task_launch_latency_seconds",
		Help:    "Time from a task's launch being committed to its TASK_RUNNING being committed, measured by the leader that launched it.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}})
	m.launches.observe = m.launchLatency.Observe
	m.gometrics = newGometricsSink()
	reg.MustRegister(m.applyDuration, m.tasksLaunched, m.statusUpdates, m.offersMade, m.allocationRuns, m.isLeader,
		m.frameworks, m.mesosEvents, m.mesosDropped, m.updateResends, m.autoscaleDecisions,
		m.allocCycle, m.offersOutstanding, m.roleShare, m.frameworkShare, m.placementRun, m.pendingTasks, m.launchLatency,
		m.gometrics)
	return m
}
