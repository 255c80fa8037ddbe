package healthtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/health"
)

// Prober is a scripted health.Prober. Without Answer, every probe becomes a
// Call the test takes with Next and answers with Reply; with Answer, Answer
// decides at once. Either way it counts the probes and those in flight.
type Prober struct {
	// Answer, when set, answers every probe (it may block: it is a probe).
	Answer func(ctx context.Context, c health.Check, t health.Target) error

	clock   health.Clock
	calls   chan *Call
	mu      sync.Mutex
	total   int
	now     int
	max     int
	perTask map[string]int
	maxTask int
	changed chan struct{} // closed and replaced at every count change
}

// Call is one probe the test is to answer.
type Call struct {
	Check  health.Check
	Target health.Target
	// At is the clock's time when the probe started.
	At time.Time
	// Ctx is the probe's context: done when the monitor gave up on it.
	Ctx   context.Context
	reply chan error
}

// Reply answers the call: nil passes, an error fails. It never blocks, and
// does nothing once the probe gave up (its Ctx is done).
func (c *Call) Reply(err error) {
	select {
	case c.reply <- err:
	default:
	}
}

// NewProber returns a Prober stamping calls with clock's time.
func NewProber(clock health.Clock) *Prober {
	return &Prober{clock: clock, calls: make(chan *Call), perTask: map[string]int{}, changed: make(chan struct{})}
}

// Probe implements health.Prober. A probe waiting for its answer returns
// ctx's error when ctx is done.
func (p *Prober) Probe(ctx context.Context, c health.Check, t health.Target) error {
	p.enter(t.TaskID)
	defer p.leave(t.TaskID)
	if p.Answer != nil {
		return p.Answer(ctx, c, t)
	}
	call := &Call{Check: c, Target: t, At: p.clock.Now(), Ctx: ctx, reply: make(chan error, 1)}
	select {
	case p.calls <- call:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-call.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Prober) enter(task string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total++
	p.now++
	p.max = max(p.max, p.now)
	p.perTask[task]++
	p.maxTask = max(p.maxTask, p.perTask[task])
	p.notifyLocked()
}

func (p *Prober) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Prober) leave(task string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now--
	if p.perTask[task]--; p.perTask[task] == 0 {
		delete(p.perTask, task)
	}
	p.notifyLocked()
}

// Next waits for the next probe (without Answer) and returns it; it fails
// tb after WaitLimit.
func (p *Prober) Next(tb testing.TB) *Call {
	tb.Helper()
	select {
	case c := <-p.calls:
		return c
	case <-time.After(WaitLimit):
		tb.Fatalf("waited %v (real time) for a probe; none came", WaitLimit)
		return nil
	}
}

// Stats are a Prober's counts.
type Stats struct {
	// Probes is how many probes started; InFlight how many run now.
	Probes, InFlight int
	// MaxInFlight is the most that ran at once; MaxInFlightPerTask the most
	// of one task that ran at once.
	MaxInFlight, MaxInFlightPerTask int
}

// Stats returns the counts so far.
func (p *Prober) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Probes: p.total, InFlight: p.now, MaxInFlight: p.max, MaxInFlightPerTask: p.maxTask}
}

// WaitFor waits until cond holds for the counts; it fails tb after
// WaitLimit, naming what it waited for.
func (p *Prober) WaitFor(tb testing.TB, what string, cond func(Stats) bool) {
	tb.Helper()
	limit := time.NewTimer(WaitLimit)
	defer limit.Stop()
	for {
		p.mu.Lock()
		changed := p.changed
		p.mu.Unlock()
		s := p.Stats()
		if cond(s) {
			return
		}
		select {
		case <-changed:
		case <-limit.C:
			tb.Fatalf("waited %v (real time) for %s; the prober's counts: %+v", WaitLimit, what, p.Stats())
		}
	}
}
