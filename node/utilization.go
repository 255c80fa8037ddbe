package node

import (
	"time"

	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// The leader samples the cluster's capacity, allocation and measured use
// for the dashboard's utilization plot: every 10 s (Config.
// UtilizationInterval), the last 360 samples (an hour), in memory (soft
// state, like Mesos's metrics snapshots: a new leader starts a new history).
const (
	defaultUtilizationInterval = 10 * time.Second
	utilizationSamples         = 360
)

func (n *Node) utilizationInterval() time.Duration {
	if n.cfg.UtilizationInterval > 0 {
		return n.cfg.UtilizationInterval
	}
	return defaultUtilizationInterval
}

// sampleUtilization records one sample when the interval has passed.
func (l *leaderLoop) sampleUtilization(now time.Time) {
	if !l.lastSample.IsZero() && now.Sub(l.lastSample) < l.n.utilizationInterval() {
		return
	}
	l.lastSample = now
	v := l.n.fsm.View()
	var capacity, allocated raftfsm.Resources
	for _, nd := range v.Nodes() {
		if nd.State == raftfsm.NodeReady || nd.State == raftfsm.NodeDraining {
			capacity = addFSM(capacity, nd.Total)
		}
	}
	active := v.ActiveTasks()
	for _, t := range active {
		allocated = addFSM(allocated, t.Resources)
	}
	s := api.UtilizationSample{Time: now, Capacity: fsmToAPI(capacity), Allocated: fsmToAPI(allocated), Tasks: len(active)}
	st := l.state
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, rep := range st.usage {
		s.Used.CPUs += rep.Total.CPUs
		s.Used.Mem += rep.Total.Mem
	}
	s.Used.At = now
	for _, p := range st.pending {
		s.Pending += p.Instances
	}
	if len(st.samples) == utilizationSamples {
		copy(st.samples, st.samples[1:])
		st.samples = st.samples[:utilizationSamples-1]
	}
	st.samples = append(st.samples, s)
}

// Utilization is the history the leader sampled, oldest first.
func (l *leaderState) Utilization() api.Utilization {
	l.mu.Lock()
	defer l.mu.Unlock()
	return api.Utilization{IntervalSeconds: l.loop.n.utilizationInterval().Seconds(), Samples: append([]api.UtilizationSample{}, l.samples...)}
}
