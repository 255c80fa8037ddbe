package node

import (
	"context"
	"sync"
	"time"

	"github.com/clusterd/clusterd/isolate"
	"github.com/clusterd/clusterd/web/api"
)

const (
	// usageInterval is how often the agent samples its tasks' use.
	usageInterval = 5 * time.Second
	// usageReportEvery is how many samples go by between reports to the
	// leader: a modest rate, and soft state (never written to Raft).
	usageReportEvery = 2
)

// usageReport is what an agent tells the leader about actual use.
type usageReport struct {
	Node  string               `json:"node"`
	Total api.Usage            `json:"total"`
	Tasks map[string]api.Usage `json:"tasks"`
}

// usageSampler measures what this node's tasks actually use, for the
// capacity vs allocated vs used views of the API, CLI and dashboard.
type usageSampler struct {
	mu   sync.Mutex
	last *usageReport

	prevCPU  map[string]float64 // task -> cumulative CPU seconds at prevTime
	prevTime time.Time
}

func (u *usageSampler) get() *usageReport {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// run samples every usageInterval and reports to the leader every
// usageReportEvery samples.
func (u *usageSampler) run(ctx context.Context, n *Node) {
	t := time.NewTicker(usageInterval)
	defer t.Stop()
	for i := 0; ; i++ {
		u.sample(ctx, n.iso, n.id, time.Now())
		if i%usageReportEvery == 0 {
			n.reportUsage(ctx, u.get())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (u *usageSampler) sample(ctx context.Context, iso isolate.Isolator, node string, now time.Time) {
	rep := &usageReport{Node: node, Tasks: map[string]api.Usage{}, Total: api.Usage{At: now}}
	cpu := map[string]float64{}
	u.mu.Lock()
	prev, prevTime := u.prevCPU, u.prevTime
	u.mu.Unlock()
	for _, r := range iso.Running() {
		s, err := iso.Usage(ctx, r.TaskID)
		if err != nil {
			continue // it just exited
		}
		cpu[r.TaskID] = s.CPUSeconds
		tu := api.Usage{Mem: float64(s.MemBytes) / (1 << 20), MemPeak: float64(s.MemPeakBytes) / (1 << 20), At: now}
		if p, ok := prev[r.TaskID]; ok && s.CPUSeconds >= p && now.After(prevTime) {
			tu.CPUs = (s.CPUSeconds - p) / now.Sub(prevTime).Seconds()
		}
		rep.Tasks[r.TaskID] = tu
		rep.Total.CPUs += tu.CPUs
		rep.Total.Mem += tu.Mem
	}
	u.mu.Lock()
	u.prevCPU, u.prevTime, u.last = cpu, now, rep
	u.mu.Unlock()
}

// reportUsage hands a usage report to the leader: directly when this node
// leads, else over HTTP. A lost report is simply replaced by the next one.
func (n *Node) reportUsage(ctx context.Context, rep *usageReport) {
	if rep == nil {
		return
	}
	n.leaderMu.Lock()
	l := n.leader
	n.leaderMu.Unlock()
	if l != nil {
		l.recordUsage(rep)
		return
	}
	body, err := jsonBytes(rep)
	if err != nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := n.peer.do(rctx, "POST", "/v1/internal/usage", body, nil); err != nil {
		n.log.Debug("report usage to the leader", "err", err)
	}
}
