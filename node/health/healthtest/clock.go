// Package healthtest has the test twins of health's interfaces: a Clock
// that tests advance by hand, and a Prober that hands every probe to the
// test to answer.
package healthtest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/health"
)

// WaitLimit bounds, in real time, every wait of this package's helpers: a
// monitor that does not do what a test waits for fails the test then,
// instead of hanging it.
const WaitLimit = 5 * time.Second

// Clock is a fake health.Clock: time moves only through Advance and
// AdvanceTo, and timers fire then. Safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*timer // pending, in creation order
	changed chan struct{}
}

// NewClock returns a Clock reading start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, changed: make(chan struct{})}
}

type timer struct {
	c  *Clock
	at time.Time
	ch chan time.Time
}

// Now is the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer firing when the fake time reaches now+d (at once
// when d is not positive).
func (c *Clock) NewTimer(d time.Duration) health.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	c.notifyLocked()
	return t
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.timers, t)
	if i < 0 {
		return false
	}
	c.timers = slices.Delete(c.timers, i, i+1)
	c.notifyLocked()
	return true
}

func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Advance moves the time d forward and fires the timers due by then.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

func (c *Clock) setLocked(to time.Time) {
	if to.Before(c.now) {
		panic(fmt.Sprintf("healthtest.Clock: time cannot go back from %v to %v", c.now, to))
	}
	c.now = to
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(to) {
			kept = append(kept, t)
			continue
		}
		t.ch <- t.at
	}
	clear(c.timers[len(kept):])
	c.timers = kept
	c.notifyLocked()
}

// Timers lists the times the pending timers are due at, earliest first.
func (c *Clock) Timers() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timesLocked()
}

func (c *Clock) timesLocked() []time.Time {
	out := make([]time.Time, 0, len(c.timers))
	for _, t := range c.timers {
		out = append(out, t.at)
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// WaitForTimer waits until a timer due at exactly at is pending: the code
// under test has done what it does until then and waits for that time. It
// fails tb after WaitLimit.
func (c *Clock) WaitForTimer(tb testing.TB, at time.Time) {
	tb.Helper()
	c.waitFor(tb, fmt.Sprintf("a timer at %v", at), func() bool {
		return slices.ContainsFunc(c.timers, func(t *timer) bool { return t.at.Equal(at) })
	})
}

// WaitForNoTimers waits until no timer is pending: the code under test
// waits for nothing in time any more. It fails tb after WaitLimit.
func (c *Clock) WaitForNoTimers(tb testing.TB) {
	tb.Helper()
	c.waitFor(tb, "no timer pending", func() bool { return len(c.timers) == 0 })
}

// AdvanceTo waits for a timer due at exactly at (WaitForTimer), then moves
// the time there, firing it.
func (c *Clock) AdvanceTo(tb testing.TB, at time.Time) {
	tb.Helper()
	c.WaitForTimer(tb, at)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(at)
}

func (c *Clock) waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	limit := time.NewTimer(WaitLimit)
	defer limit.Stop()
	for {
		c.mu.Lock()
		ok, changed := cond(), c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-limit.C:
			c.mu.Lock()
			defer c.mu.Unlock()
			tb.Fatalf("waited %v (real time) for %s; the fake time is %v, pending timers: %v", WaitLimit, what, c.now, c.timesLocked())
		}
	}
}
