package health_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/health"
	"github.com/clusterd/clusterd/node/health/healthtest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const s = time.Second

// fixture is a Monitor on a fake clock with a scripted prober.
type fixture struct {
	clk      *healthtest.Clock
	p        *healthtest.Prober
	m        *health.Monitor
	barriers int
}

func newFixture(t *testing.T, workers int) *fixture {
	t.Helper()
	clk := healthtest.NewClock(t0)
	p := healthtest.NewProber(clk)
	m := health.NewMonitor(health.Config{Clock: clk, Prober: p, Workers: workers})
	t.Cleanup(m.Close)
	return &fixture{clk: clk, p: p, m: m}
}

// check is an HTTP check of PORT0's /health every 10s, timeout 5s, no
// grace, unhealthy after 3 failures; edit changes it.
func check(edit ...func(*health.Check)) health.Check {
	c := health.DefaultCheck()
	c.Path = "/health"
	c.Interval, c.Timeout, c.GracePeriod = 10*s, 5*s, 0
	for _, e := range edit {
		e(&c)
	}
	return c
}

func grace(d time.Duration) func(*health.Check) { return func(c *health.Check) { c.GracePeriod = d } }
func maxFailures(n int) func(*health.Check) {
	return func(c *health.Check) { c.MaxConsecutiveFailures = n }
}

var target = health.Target{Host: "10.0.0.7", Ports: []int{31000, 31001}}

func (f *fixture) start(t *testing.T, id string, checks ...health.Check) {
	t.Helper()
	if err := f.m.Start(id, checks, target, f.clk.Now()); err != nil {
		t.Fatalf("Start(%s): %v", id, err)
	}
}

// probe moves the fake time to at (when not there yet) once the monitor
// waits for it, takes the probe that starts then and answers it.
func (f *fixture) probe(t *testing.T, at time.Time, answer error) *healthtest.Call {
	t.Helper()
	if !f.clk.Now().Equal(at) {
		f.clk.AdvanceTo(t, at)
	}
	c := f.p.Next(t)
	if !c.At.Equal(at) {
		t.Fatalf("probe of %s started at %v, want %v", c.Target.TaskID, offset(c.At), offset(at))
	}
	c.Reply(answer)
	return c
}

func (f *fixture) change(t *testing.T) health.Change {
	t.Helper()
	select {
	case c, ok := <-f.m.Changes():
		if !ok {
			t.Fatal("Changes closed")
		}
		return c
	case <-time.After(healthtest.WaitLimit):
		t.Fatalf("no change within %v (real time)", healthtest.WaitLimit)
	}
	return health.Change{}
}

// wantChange takes the next change and checks it.
func (f *fixture) wantChange(t *testing.T, task string, healthy, unhealthy bool, failures int, at time.Time) health.Change {
	t.Helper()
	c := f.change(t)
	if c.TaskID != task || c.Healthy != healthy || c.Unhealthy != unhealthy || c.ConsecutiveFailures != failures || !c.At.Equal(at) {
		t.Fatalf("change = {task %s healthy %v unhealthy %v failures %d at %v %q}, want {task %s healthy %v unhealthy %v failures %d at %v}",
			c.TaskID, c.Healthy, c.Unhealthy, c.ConsecutiveFailures, offset(c.At), c.Message, task, healthy, unhealthy, failures, offset(at))
	}
	return c
}

// noChangeWaiting proves that no change is waiting to be received: it
// starts a task whose first probe passes and expects that task's Healthy
// change to be the next one. Call it once the monitor waits (after a
// WaitForTimer or AdvanceTo), so every result so far was taken.
func (f *fixture) noChangeWaiting(t *testing.T) {
	t.Helper()
	f.barriers++
	id := fmt.Sprintf("barrier-%d", f.barriers)
	f.start(t, id, check())
	c := f.p.Next(t)
	if c.Target.TaskID != id {
		t.Fatalf("probe of %s came instead of the barrier's", c.Target.TaskID)
	}
	c.Reply(nil)
	if ch := f.change(t); ch.TaskID != id || !ch.Healthy {
		t.Fatalf("a change was waiting: %+v", ch)
	}
	f.m.Stop(id)
}

func offset(at time.Time) string { return "t0+" + at.Sub(t0).String() }

var errDown = errors.New("GET /health: status 503")

func TestFirstProbeIsAtStartThenOneEveryIntervalFromTheStartOfTheLast(t *testing.T) {
	f := newFixture(t, 0)
	f.start(t, "web.1", check())

	c := f.probe(t, t0, nil)
	if c.Target.TaskID != "web.1" || c.Target.Host != "10.0.0.7" || c.Check.Path != "/health" {
		t.Fatalf("probe of %+v with %+v, want web.1's target and check", c.Target, c.Check)
	}
	f.wantChange(t, "web.1", true, false, 0, t0)
	// The next is due 10s after the first started, and nothing before.
	f.clk.WaitForTimer(t, t0.Add(10*s))
	if got := f.clk.Timers(); len(got) != 1 {
		t.Fatalf("timers %v, want one at t0+10s", got)
	}
	f.clk.AdvanceTo(t, t0.Add(10*s))
	slow := f.p.Next(t)
	// A probe that takes 3s (less than its timeout) does not move the
	// schedule: the next one is still due 10s after this one started.
	f.clk.Advance(3 * s)
	slow.Reply(nil)
	f.probe(t, t0.Add(20*s), nil)
	f.probe(t, t0.Add(30*s), nil)
	if st := f.p.Stats(); st.Probes != 4 {
		t.Fatalf("%d probes, want 4", st.Probes)
	}
}

func TestFailuresInTheGracePeriodAreIgnoredUntilTheCheckFirstPasses(t *testing.T) {
	f := newFixture(t, 0)
	f.start(t, "web.1", check(grace(30*s), maxFailures(2)))

	f.probe(t, t0, errDown)
	f.probe(t, t0.Add(10*s), errDown)
	f.probe(t, t0.Add(20*s), errDown)
	f.clk.WaitForTimer(t, t0.Add(30*s))
	f.noChangeWaiting(t) // three failures, none counted: not even "failing"
	// The grace period is over: failures count from the first.
	f.probe(t, t0.Add(30*s), errDown)
	c := f.wantChange(t, "web.1", false, false, 1, t0.Add(30*s))
	if !strings.Contains(c.Message, "failed 1 of 2 times in a row") || !strings.Contains(c.Message, errDown.Error()) {
		t.Fatalf("message %q should count the failure and quote the probe's error", c.Message)
	}
	f.probe(t, t0.Add(40*s), errDown)
	f.wantChange(t, "web.1", false, true, 2, t0.Add(40*s))
}

func TestFailuresCountAfterTheFirstPassEvenInTheGracePeriod(t *testing.T) {
	f := newFixture(t, 0)
	f.start(t, "web.1", check(grace(300*s), maxFailures(3)))

	f.probe(t, t0, nil)
	f.wantChange(t, "web.1", true, false, 0, t0)
	f.probe(t, t0.Add(10*s), errDown)
	f.wantChange(t, "web.1", false, false, 1, t0.Add(10*s))
	f.probe(t, t0.Add(20*s), errDown)
	f.wantChange(t, "web.1", false, false, 2, t0.Add(20*s))
	f.probe(t, t0.Add(30*s), errDown)
	f.wantChange(t, "web.1", false, true, 3, t0.Add(30*s))
}

func TestMaxConsecutiveFailuresReportUnhealthyOnceAndEndTheTasksProbes(t *testing.T) {
	f := newFixture(t, 0)
	f.start(t, "web.1", check(maxFailures(3)))

	f.probe(t, t0, errDown)
	f.wantChange(t, "web.1", false, false, 1, t0)
	f.probe(t, t0.Add(10*s), errDown)
	f.wantChange(t, "web.1", false, false, 2, t0.Add(10*s))
	f.probe(t, t0.Add(20*s), errDown)
	c := f.wantChange(t, "web.1", false, true, 3, t0.Add(20*s))
	if !strings.Contains(c.Message, "unhealthy") || !strings.Contains(c.Message, "3 times in a row (max 3)") || !strings.Contains(c.Message, "HTTP GET :31000/health") {
		t.Fatalf("message %q should say unhealthy, the count and which check", c.Message)
	}
	// Nothing more for web.1 until Stop: no probe is scheduled, and no change follows.
	f.clk.WaitForNoTimers(t)
	f.noChangeWaiting(t)
	f.clk.Advance(time.Hour)
	f.noChangeWaiting(t)
	if st := f.p.Stats(); st.Probes != 5 { // web.1's 3 and the 2 barriers'
		t.Fatalf("%d probes, want 5: web.1 was probed after it was unhealthy", st.Probes)
	}
}

func TestRecoveryBeforeMaxReportsHealthyAgainAndResetsTheCount(t *testing.T) {
	f := newFixture(t, 0)
	f.start(t, "web.1", check(maxFailures(3)))

	f.probe(t, t0, nil)
	f.wantChange(t, "web.1", true, false, 0, t0)
	f.probe(t, t0.Add(10*s), errDown)
	f.wantChange(t, "web.1", false, false, 1, t0.Add(10*s))
	f.probe(t, t0.Add(20*s), errDown)
	f.wantChange(t, "web.1", false, false, 2, t0.Add(20*s))
	f.probe(t, t0.Add(30*s), nil)
	f.wantChange(t, "web.1", true, false, 0, t0.Add(30*s))
	f.probe(t, t0.Add(40*s), nil) // healthy and still healthy: no change
	f.probe(t, t0.Add(50*s), errDown)
	f.wantChange(t, "web.1", false, false, 1, t0.Add(50*s))
	f.probe(t, t0.Add(60*s), errDown)
	f.wantChange(t, "web.1", false, false, 2, t0.Add(60*s))
	f.probe(t, t0.Add(70*s), nil)
	f.wantChange(t, "web.1", true, false, 0, t0.Add(70*s))
}

func TestZeroMaxConsecutiveFailuresReportsTheFirstFailureAndNeverUnhealthy(t *testing.T) {
	f := newFixture(t, 0)
	f.start(t, "web.1", check(maxFailures(0)))

	f.probe(t, t0, errDown)
	c := f.wantChange(t, "web.1", false, false, 1, t0)
	if !strings.Contains(c.Message, "no maximum") {
		t.Fatalf("message %q should say there is no maximum", c.Message)
	}
	for i := 1; i <= 5; i++ {
		f.probe(t, t0.Add(time.Duration(i)*10*s), errDown)
	}
	f.clk.WaitForTimer(t, t0.Add(60*s))
	f.noChangeWaiting(t)
	f.probe(t, t0.Add(60*s), nil)
	f.wantChange(t, "web.1", true, false, 0, t0.Add(60*s))
}

func TestATaskIsHealthyOnlyWhenAllItsChecksPass(t *testing.T) {
	f := newFixture(t, 0)
	tcp := check(grace(60*s), func(c *health.Check) { c.Protocol, c.Path, c.PortIndex = health.ProtocolTCP, "", 1 })
	f.start(t, "web.1", check(grace(60*s)), tcp)

	// answer takes the task's two probes of one round (one at a time:
	// probes of a task never overlap) and answers each by its protocol.
	answer := func(at time.Time, httpErr, tcpErr error) {
		t.Helper()
		if !f.clk.Now().Equal(at) {
			f.clk.AdvanceTo(t, at)
		}
		for range 2 {
			c := f.p.Next(t)
			switch c.Check.Protocol {
			case health.ProtocolHTTP:
				c.Reply(httpErr)
			case health.ProtocolTCP:
				if c.Check.PortIndex != 1 {
					t.Fatalf("TCP check probes port index %d, want 1", c.Check.PortIndex)
				}
				c.Reply(tcpErr)
			}
		}
	}
	answer(t0, nil, errors.New("TCP connect to 10.0.0.7:31001: connection refused"))
	f.clk.WaitForTimer(t, t0.Add(10*s))
	f.noChangeWaiting(t) // HTTP passes, TCP does not yet: not healthy
	answer(t0.Add(10*s), nil, nil)
	f.wantChange(t, "web.1", true, false, 0, t0.Add(10*s))
	answer(t0.Add(20*s), errDown, nil)
	if c := f.wantChange(t, "web.1", false, false, 1, t0.Add(20*s)); c.Check != 0 {
		t.Fatalf("failing change names check %d, want 0 (HTTP)", c.Check)
	}
	answer(t0.Add(30*s), nil, nil)
	f.wantChange(t, "web.1", true, false, 0, t0.Add(30*s))
	if st := f.p.Stats(); st.MaxInFlightPerTask != 1 {
		t.Fatalf("%d probes of one task ran at once, want 1", st.MaxInFlightPerTask)
	}
}

func TestStopCancelsTheRunningProbeAndEndsTheTasksChecksAndChanges(t *testing.T) {
	f := newFixture(t, 1) // one worker: probes run in the order they fall due
	f.start(t, "web.1", check())
	f.start(t, "web.2", check())
	f.probe(t, t0, nil)
	f.probe(t, t0, nil)
	f.wantChange(t, "web.1", true, false, 0, t0)
	f.wantChange(t, "web.2", true, false, 0, t0)

	f.clk.AdvanceTo(t, t0.Add(10*s))
	running := f.p.Next(t)
	if running.Target.TaskID != "web.1" {
		t.Fatalf("first probe at t0+10s is of %s, want web.1", running.Target.TaskID)
	}
	f.m.Stop("web.1")
	select {
	case <-running.Ctx.Done():
	case <-time.After(healthtest.WaitLimit):
		t.Fatal("Stop did not cancel the task's running probe")
	}
	// Only web.2 is probed from now on, and only its changes come.
	c := f.p.Next(t)
	if c.Target.TaskID != "web.2" {
		t.Fatalf("probe of %s after Stop(web.1), want web.2", c.Target.TaskID)
	}
	c.Reply(errDown)
	f.wantChange(t, "web.2", false, false, 1, t0.Add(10*s))
	for _, at := range []time.Time{t0.Add(20 * s), t0.Add(30 * s)} {
		f.clk.AdvanceTo(t, at)
		if c := f.p.Next(t); c.Target.TaskID != "web.2" {
			t.Fatalf("probe of %s at %v after Stop(web.1), want web.2", c.Target.TaskID, offset(at))
		} else {
			c.Reply(nil)
		}
	}
	f.wantChange(t, "web.2", true, false, 0, t0.Add(20*s))
	f.m.Stop("web.2")
	f.clk.WaitForNoTimers(t)
	f.m.Stop("never-started") // does nothing
}

func TestStopWithdrawsTheTasksChangesNotYetReceived(t *testing.T) {
	f := newFixture(t, 0)
	f.start(t, "web.1", check())
	f.probe(t, t0, nil) // web.1 healthy: its change waits, unread
	f.clk.WaitForTimer(t, t0.Add(10*s))
	f.m.Stop("web.1")
	f.noChangeWaiting(t)
}

func TestProbesOfOneTaskNeverOverlap(t *testing.T) {
	f := newFixture(t, 0)
	long := func(c *health.Check) { c.Timeout = 30 * s } // longer than the 10s interval
	tcp := check(long, func(c *health.Check) { c.Protocol, c.Path = health.ProtocolTCP, "" })
	f.start(t, "web.1", check(long), tcp)

	hung := f.p.Next(t) // the HTTP check's probe, which never answers
	if hung.Check.Protocol != health.ProtocolHTTP {
		t.Fatalf("first probe is %s, want the first check's (HTTP)", hung.Check.Protocol)
	}
	// Neither the HTTP check's next probe (due at t0+10s) nor the TCP
	// check's (due at t0) starts while it runs: the monitor waits only
	// for its deadline.
	f.clk.WaitForTimer(t, t0.Add(30*s))
	if got := f.clk.Timers(); len(got) != 1 {
		t.Fatalf("timers %v, want only the running probe's deadline at t0+30s", got)
	}
	f.clk.AdvanceTo(t, t0.Add(30*s))
	c := f.wantChange(t, "web.1", false, false, 1, t0.Add(30*s))
	if !strings.Contains(c.Message, "timed out") {
		t.Fatalf("message %q should say the probe timed out", c.Message)
	}
	next := f.p.Next(t)
	if hung.Ctx.Err() == nil {
		t.Fatal("the next probe started while the timed-out one was still running")
	}
	if next.Check.Protocol != health.ProtocolTCP || !next.At.Equal(t0.Add(30*s)) {
		t.Fatalf("next probe is %s at %v, want TCP at t0+30s", next.Check.Protocol, offset(next.At))
	}
	next.Reply(nil)
	f.probe(t, t0.Add(30*s), nil) // HTTP again, late: its next was due at t0+10s
	f.wantChange(t, "web.1", true, false, 0, t0.Add(30*s))
	if st := f.p.Stats(); st.MaxInFlightPerTask != 1 {
		t.Fatalf("%d probes of one task ran at once, want 1", st.MaxInFlightPerTask)
	}
}

func TestAProbeWithoutAnswerWithinTheTimeoutFailsAsTimedOut(t *testing.T) {
	f := newFixture(t, 0)
	f.start(t, "web.1", check())

	slow := f.p.Next(t)
	f.clk.AdvanceTo(t, t0.Add(5*s))
	c := f.wantChange(t, "web.1", false, false, 1, t0.Add(5*s))
	if !strings.Contains(c.Message, "timed out") || !strings.Contains(c.Message, "5s") {
		t.Fatalf("message %q should say the probe timed out after 5s", c.Message)
	}
	select {
	case <-slow.Ctx.Done():
	case <-time.After(healthtest.WaitLimit):
		t.Fatal("the timed-out probe's context was not canceled")
	}
	slow.Reply(nil) // too late: ignored
	f.probe(t, t0.Add(10*s), nil)
	f.wantChange(t, "web.1", true, false, 0, t0.Add(10*s))
}

func TestChangesOfAReaderThatFallsBehindAreMergedIntoTheLatest(t *testing.T) {
	f := newFixture(t, 0)
	f.start(t, "web.1", check())
	f.probe(t, t0, nil)               // healthy, not read
	f.probe(t, t0.Add(10*s), errDown) // failing, replaces it
	f.clk.WaitForTimer(t, t0.Add(20*s))
	f.wantChange(t, "web.1", false, false, 1, t0.Add(10*s))
	f.noChangeWaiting(t)
}

func TestStartingATaskAgainStartsItsChecksOver(t *testing.T) {
	f := newFixture(t, 0)
	f.start(t, "web.1", check(maxFailures(2)))
	f.probe(t, t0, errDown)
	f.wantChange(t, "web.1", false, false, 1, t0)
	f.clk.WaitForTimer(t, t0.Add(10*s))
	f.clk.Advance(3 * s)
	f.start(t, "web.1", check(maxFailures(2)))
	f.probe(t, t0.Add(3*s), errDown) // at once, and counted from 1 again
	f.wantChange(t, "web.1", false, false, 1, t0.Add(3*s))
	f.probe(t, t0.Add(13*s), errDown)
	f.wantChange(t, "web.1", false, true, 2, t0.Add(13*s))
}

func TestStartRejectsAnInvalidCheckAndSaysWhatIsWrong(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*health.Check)
		want string
	}{
		{"unknown protocol", func(c *health.Check) { c.Protocol = "GRPC" }, `protocol "GRPC" is unknown: give HTTP, HTTPS, TCP or COMMAND`},
		{"no protocol", func(c *health.Check) { c.Protocol = "" }, "protocol is missing"},
		{"no interval", func(c *health.Check) { c.Interval = 0 }, "interval must be positive"},
		{"no timeout", func(c *health.Check) { c.Timeout = 0 }, "timeout must be positive"},
		{"negative grace", func(c *health.Check) { c.GracePeriod = -s }, "grace period must not be negative"},
		{"negative max", func(c *health.Check) { c.MaxConsecutiveFailures = -1 }, "max consecutive failures must not be negative"},
		{"command without command", func(c *health.Check) { c.Protocol = health.ProtocolCommand }, "a COMMAND check needs a command"},
		{"relative path", func(c *health.Check) { c.Path = "health" }, `path "health" must start with /`},
		{"port out of range", func(c *health.Check) { c.Port = 70000 }, "port 70000 is not a TCP port"},
		{"port index beyond the task's ports", func(c *health.Check) { c.PortIndex = 2 }, "port index 2, but task web.1 has 2 ports"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			err := f.m.Start("web.1", []health.Check{check(), check(tc.edit)}, target, t0)
			if err == nil {
				t.Fatal("Start accepted the check")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "health check 1") || !strings.Contains(err.Error(), "web.1") {
				t.Fatalf("error %q should contain %q and name check 1 of task web.1", err, tc.want)
			}
			if st := f.p.Stats(); st.Probes != 0 {
				t.Fatalf("%d probes after a rejected Start", st.Probes)
			}
		})
	}
}

func TestCommandChecksRunThroughTheConfiguredExecer(t *testing.T) {
	clk := healthtest.NewClock(t0)
	m := health.NewMonitor(health.Config{Clock: clk})
	defer m.Close()
	cmd := check(func(c *health.Check) {
		c.Protocol, c.Command = health.ProtocolCommand, "curl -f http://$HOST:$PORT0/health"
	})
	if err := m.Start("web.1", []health.Check{cmd}, target, t0); err == nil || !strings.Contains(err.Error(), "Execer") {
		t.Fatalf("Start of a COMMAND check without an Execer = %v, want an error naming the Execer", err)
	}

	got := make(chan string, 1)
	exec := health.ExecerFunc(func(_ context.Context, taskID, command string) (int, string, error) {
		got <- taskID + ": " + command
		return 0, "", nil
	})
	m2 := health.NewMonitor(health.Config{Clock: clk, Execer: exec})
	defer m2.Close()
	if err := m2.Start("web.1", []health.Check{cmd}, target, t0); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-m2.Changes():
		if !c.Healthy {
			t.Fatalf("change %+v, want healthy", c)
		}
	case <-time.After(healthtest.WaitLimit):
		t.Fatal("no change")
	}
	if g := <-got; g != "web.1: curl -f http://$HOST:$PORT0/health" {
		t.Fatalf("Execer got %q", g)
	}
}

func TestDefaultCheckHasMarathonsDefaults(t *testing.T) {
	c := health.DefaultCheck()
	want := health.Check{Protocol: "HTTP", Path: "/", PortIndex: 0, GracePeriod: 300 * s, Interval: 60 * s, Timeout: 20 * s, MaxConsecutiveFailures: 3}
	if c != want {
		t.Fatalf("DefaultCheck() = %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultCheck() is invalid: %v", err)
	}
	if _, err := c.PortFor(health.Target{TaskID: "web.1"}); err == nil {
		t.Fatal("PortFor accepted port index 0 of a task without ports")
	}
	explicit := c
	explicit.Port = 8080
	if p, err := explicit.PortFor(target); err != nil || p != 8080 {
		t.Fatalf("PortFor with Port 8080 = %d, %v; an explicit port wins over the index", p, err)
	}
}
