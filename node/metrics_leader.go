package node

import (
	"time"

	"github.com/clusterd/clusterd/node/jobs"
)

// The leader loop's metrics: what the allocator and the built-in framework
// hold after each step. Set from the loop (under leaderLoop.mu), never read
// from the allocator at scrape time: a step may hold the loop's lock across
// Raft commits, and a scrape must not wait for one.

// allocatorObserveEvery spaces observeAllocator's updates: listing the
// offers sorts them (about 1 ms at 1,000 offers: BenchmarkObserveAllocator), and a
// busy leader steps many times a second while Prometheus scrapes every few
// seconds. The leader steps at least every AllocationInterval, so the
// gauges are at most that much plus this old.
const allocatorObserveEvery = time.Second

// observeAllocator records the allocator's outstanding offers and dominant
// shares after a step, at most every allocatorObserveEvery.
func (l *leaderLoop) observeAllocator(now time.Time) {
	m := l.n.metrics
	if !m.allocObservedAt.IsZero() && now.Sub(m.allocObservedAt) < allocatorObserveEvery {
		return
	}
	m.allocObservedAt = now
	m.offersOutstanding.Set(float64(len(l.alloc.Offers())))
	roles, fws := map[string]bool{}, map[[2]string]bool{}
	for _, s := range l.alloc.Shares() {
		// RoleDominant is divided by the role's weight (the DRF order);
		// the gauge is the share itself, in [0, 1].
		m.roleShare.WithLabelValues(s.Role).Set(s.RoleDominant * l.alloc.Weight(s.Role))
		fw, _ := splitClient(s.Framework)
		m.frameworkShare.WithLabelValues(fw, s.Role).Set(s.Dominant)
		roles[s.Role] = true
		fws[[2]string{fw, s.Role}] = true
	}
	// Series of roles and frameworks gone since the last step are deleted
	// (not Reset first: a scrape in between would see none at all).
	for r := range m.shareRoles {
		if !roles[r] {
			m.roleShare.DeleteLabelValues(r)
		}
	}
	for k := range m.shareFrameworks {
		if !fws[k] {
			m.frameworkShare.DeleteLabelValues(k[0], k[1])
		}
	}
	m.shareRoles, m.shareFrameworks = roles, fws
}

// observePlacement records one decision of the built-in framework.
func (l *leaderLoop) observePlacement(took time.Duration, pending map[string]jobs.Pending) {
	l.n.metrics.placementRun.Observe(took.Seconds())
	n := 0
	for _, p := range pending {
		n += p.Instances
	}
	l.n.metrics.pendingTasks.Set(float64(n))
}

// clearLeaderMetrics empties the soft-state gauges when this node stops
// leading: only the leader has an allocator.
func (m *metrics) clearLeaderMetrics() {
	m.offersOutstanding.Set(0)
	m.roleShare.Reset()
	m.frameworkShare.Reset()
	m.shareRoles, m.shareFrameworks = nil, nil
	m.allocObservedAt = time.Time{}
	m.pendingTasks.Set(0)
}
