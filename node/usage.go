package node

import (
	"context"
	"sync"
	"time"

	"github.com/clusterd/clusterd/api"
	"github.com/clusterd/clusterd/isolate"
)

const usageInterval = 5 * time.Second

// usageSampler measures what this node's tasks actually use, for the
// dashboard's capacity vs allocated vs used view.
type usageSampler struct {
	mu   sync.Mutex
	last *api.Usage

	prevCPU  float64
	prevTime time.Time
}

func (u *usageSampler) get() *api.Usage {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.last == nil {
		return nil
	}
	c := *u.last
	return &c
}

func (u *usageSampler) run(ctx context.Context, iso isolate.Isolator) {
	t := time.NewTicker(usageInterval)
	defer t.Stop()
	for {
		u.sample(ctx, iso, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (u *usageSampler) sample(ctx context.Context, iso isolate.Isolator, now time.Time) {
	var cpu float64
	var mem uint64
	for _, r := range iso.Running() {
		s, err := iso.Usage(ctx, r.TaskID)
		if err != nil {
			continue // it just exited
		}
		cpu += s.CPUSeconds
		mem += s.MemBytes
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	rate := 0.0
	if !u.prevTime.IsZero() && cpu >= u.prevCPU {
		rate = (cpu - u.prevCPU) / now.Sub(u.prevTime).Seconds()
	}
	u.prevCPU, u.prevTime = cpu, now
	u.last = &api.Usage{CPUs: rate, Mem: float64(mem) / (1 << 20)}
}
