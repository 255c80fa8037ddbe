package health_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/health"
	"github.com/clusterd/clusterd/node/health/healthtest"
)

// waitGoroutines waits (real time, bounded) until at most n goroutines run.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(healthtest.WaitLimit)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAThousandTasksRunOnOneTimerAndABoundedPoolOfGoroutines(t *testing.T) {
	const tasks, workers = 1000, 16
	base := runtime.NumGoroutine()
	clk := healthtest.NewClock(t0)
	p := healthtest.NewProber(clk)
	release := make(chan struct{})
	p.Answer = func(ctx context.Context, _ health.Check, _ health.Target) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m := health.NewMonitor(health.Config{Clock: clk, Prober: p, Workers: workers})
	defer m.Close()
	c := check(func(c *health.Check) { c.Protocol, c.Path = health.ProtocolTCP, "" }, grace(60*s))
	for i := range tasks {
		if err := m.Start(fmt.Sprintf("task-%04d", i), []health.Check{c}, health.Target{Ports: []int{20000 + i}}, t0); err != nil {
			t.Fatal(err)
		}
	}

	// Every task is due; only the workers probe, the others wait.
	p.WaitFor(t, "every worker probing", func(st healthtest.Stats) bool { return st.InFlight >= workers })
	if n := runtime.NumGoroutine() - base; n > workers+4 {
		t.Fatalf("%d goroutines for %d tasks, want at most %d (a loop and %d workers)", n, tasks, workers+4, workers)
	}
	if st := p.Stats(); st.InFlight != workers {
		t.Fatalf("%d probes at once, want %d (the workers)", st.InFlight, workers)
	}
	if got := clk.Timers(); len(got) != 1 {
		t.Fatalf("%d timers, want one for all tasks", len(got))
	}
	close(release)
	healthy := map[string]bool{}
	for len(healthy) < tasks {
		select {
		case ch := <-m.Changes():
			if !ch.Healthy || healthy[ch.TaskID] {
				t.Fatalf("change %+v, want each task healthy once", ch)
			}
			healthy[ch.TaskID] = true
		case <-time.After(healthtest.WaitLimit):
			t.Fatalf("%d tasks healthy, want %d", len(healthy), tasks)
		}
	}

	// Two more rounds: each probes every task once, when its time comes.
	for round := 1; round <= 2; round++ {
		clk.AdvanceTo(t, t0.Add(time.Duration(round)*10*s))
		clk.WaitForTimer(t, t0.Add(time.Duration(round+1)*10*s)) // all of this round's probes ended
		if st := p.Stats(); st.Probes != tasks*(round+1) {
			t.Fatalf("%d probes after round %d, want %d", st.Probes, round, tasks*(round+1))
		}
		if n := runtime.NumGoroutine() - base; n > workers+4 {
			t.Fatalf("%d goroutines in round %d, want at most %d", n, round, workers+4)
		}
	}
	if st := p.Stats(); st.MaxInFlight != workers || st.MaxInFlightPerTask != 1 {
		t.Fatalf("at most %d probes at once (%d of one task), want %d (1)", st.MaxInFlight, st.MaxInFlightPerTask, workers)
	}
	m.Close()
	waitGoroutines(t, base)
}

func TestCloseCancelsProbesEndsEveryGoroutineAndClosesChanges(t *testing.T) {
	got := make(chan struct{}, 1)
	tg := serve(t, false, func(w http.ResponseWriter, r *http.Request) {
		got <- struct{}{}
		<-r.Context().Done() // hangs until the probe gives up
	})
	base := runtime.NumGoroutine()
	m := health.NewMonitor(health.Config{Workers: 4}) // the real prober
	c := httpCheck(time.Hour)
	c.Interval = time.Hour
	if err := m.Start("web.1", []health.Check{c}, tg, time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(healthtest.WaitLimit):
		t.Fatal("the server got no probe")
	}
	done := make(chan struct{})
	go func() { m.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(healthtest.WaitLimit):
		t.Fatal("Close did not return while a probe hung")
	}
	if _, ok := <-m.Changes(); ok {
		t.Fatal("Changes delivered after Close, want it closed")
	}
	if err := m.Start("web.2", []health.Check{c}, tg, time.Now()); err != health.ErrClosed {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
	m.Stop("web.1") // does nothing
	m.Close()       // idempotent
	waitGoroutines(t, base)
}
