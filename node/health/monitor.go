package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultWorkers is how many probes a Monitor runs at once by default.
const DefaultWorkers = 16

// ErrClosed is returned by Start on a closed Monitor.
var ErrClosed = errors.New("health monitor is closed")

// Config configures a Monitor. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// Clock is where time comes from: SystemClock by default.
	Clock Clock
	// Prober runs the probes: by default a NetProber whose Execer is Execer.
	Prober Prober
	// Execer runs COMMAND checks for the default Prober (ignored when Prober
	// is set). Without one, Start refuses COMMAND checks.
	Execer Execer
	// Workers bounds the probes running at once, across all tasks
	// (DefaultWorkers). A due probe waits for a free worker; its Timeout
	// counts from when it starts.
	Workers int
	// Logger gets the failures, ignored ones included, at debug level and
	// unhealthy verdicts at warn level; nothing by default.
	Logger *slog.Logger
}

// DefaultConfig is the system clock, the real prober (without an Execer),
// DefaultWorkers workers and no logging.
func DefaultConfig() Config {
	return Config{Clock: SystemClock(), Workers: DefaultWorkers, Logger: slog.New(slog.DiscardHandler)}
}

// Change reports a change of one task's health.
//
// A Change is sent when the task becomes healthy (all its checks passed
// since their last counted failure), when a check's failure is counted (with
// the check's consecutive count; for a check whose MaxConsecutiveFailures is
// 0 only the first failure of a run, as there is no limit to count
// towards), and when a check reaches its MaxConsecutiveFailures (Unhealthy,
// exactly once; the task's checks stop then, and no Change follows for it).
// Probes that pass on a healthy task and failures ignored in the grace
// period send nothing.
type Change struct {
	TaskID string
	// Healthy: every check of the task passes.
	Healthy bool
	// Unhealthy: Check failed MaxConsecutiveFailures times in a row; the
	// framework is to kill and replace the task.
	Unhealthy bool
	// Check is the index of the check whose result made the change.
	Check int
	// ConsecutiveFailures is that check's count of failures in a row (0
	// when Healthy).
	ConsecutiveFailures int
	// Message says what happened, quoting the probe's error.
	Message string
	At      time.Time
}

// Monitor runs the health checks of many tasks and reports their changes.
// One goroutine owns the schedule (a heap of due checks, one timer) and a
// fixed pool of Workers goroutines runs the probes, however many tasks
// there are. Its methods are safe for concurrent use.
type Monitor struct {
	clock      Clock
	prober     Prober
	log        *slog.Logger
	workers    int
	needExecer bool // the default prober has no Execer

	ctx     context.Context // parent of every probe's context; canceled by Close
	cancel  context.CancelFunc
	cmds    chan command
	jobs    chan job
	results chan result
	changes chan Change
	done    chan struct{}
	close   sync.Once
	wg      sync.WaitGroup
}

// NewMonitor starts a Monitor; Close stops it.
func NewMonitor(cfg Config) *Monitor {
	def := DefaultConfig()
	if cfg.Clock == nil {
		cfg.Clock = def.Clock
	}
	if cfg.Workers <= 0 {
		cfg.Workers = def.Workers
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	needExecer := false
	if cfg.Prober == nil {
		cfg.Prober = &NetProber{Execer: cfg.Execer}
		needExecer = cfg.Execer == nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Monitor{
		clock: cfg.Clock, prober: cfg.Prober, log: cfg.Logger, workers: cfg.Workers, needExecer: needExecer,
		ctx: ctx, cancel: cancel,
		cmds: make(chan command),
		// The loop sends a job only while fewer than workers are out, so a
		// send on jobs never blocks.
		jobs:    make(chan job, cfg.Workers),
		results: make(chan result, cfg.Workers),
		// Unbuffered: changes wait in the loop's outbox, where Stop can
		// still withdraw them and a slow reader's are merged.
		changes: make(chan Change),
		done:    make(chan struct{}),
	}
	m.wg.Add(1 + cfg.Workers)
	go m.loop()
	for range cfg.Workers {
		go m.worker()
	}
	return m
}

// Start monitors a task's checks from startedAt, the time it started
// running: the first probe of each check is due at startedAt (at once when
// that has passed), and the grace period counts from it. A task already
// monitored under taskID starts over. A task without checks is not
// monitored (the framework takes a running task without checks as healthy,
// as Marathon does).
//
// Start fails, starting nothing, when a check is invalid or names a port
// index the target does not have; the error names the check. It returns once
// the monitor took the task, never waiting for a probe.
func (m *Monitor) Start(taskID string, checks []Check, target Target, startedAt time.Time) error {
	if taskID == "" {
		return errors.New("start health checks: the task id is empty")
	}
	target.TaskID = taskID
	t := &task{id: taskID, target: target, startedAt: startedAt}
	var errs []error
	for i, c := range checks {
		err := c.Validate()
		port := 0
		if err == nil {
			port, err = c.PortFor(target)
		}
		if err == nil && c.Protocol == ProtocolCommand && m.needExecer {
			err = errors.New("COMMAND checks need an Execer in the monitor's Config to run them in the task's sandbox")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("health check %d (%s): %w", i, c.Protocol, err))
			continue
		}
		t.checks = append(t.checks, &check{task: t, index: i, spec: c, name: fmt.Sprintf("health check %d (%s)", i, c.describe(port)), heapIndex: -1})
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("start health checks of task %s: %w", taskID, err)
	}
	if len(t.checks) == 0 {
		return m.send(command{stop: taskID})
	}
	return m.send(command{start: t})
}

// Stop ends the checks of a task: no probe of it starts after Stop returns,
// one running is canceled, and no Change for it is received after Stop
// returns. Stopping a task not monitored does nothing.
func (m *Monitor) Stop(taskID string) {
	_ = m.send(command{stop: taskID})
}

func (m *Monitor) send(c command) error {
	c.done = make(chan struct{})
	select {
	case m.cmds <- c:
		<-c.done
		return nil
	case <-m.done:
		return ErrClosed
	}
}

// Changes delivers the tasks' health changes, in the order they happened.
// Read it continuously: while a reader falls behind, the changes of one task
// not yet taken are merged into the latest (an Unhealthy one is never
// replaced: none follows it). Close closes the channel.
func (m *Monitor) Changes() <-chan Change { return m.changes }

// Close stops every check and waits for the monitor's goroutines to end
// (probes are canceled; see Prober for the trap). Changes not yet taken are
// dropped and Changes is closed. Close is idempotent.
func (m *Monitor) Close() {
	m.close.Do(func() {
		close(m.done)
		m.cancel()
	})
	m.wg.Wait()
}

func (m *Monitor) worker() {
	defer m.wg.Done()
	for {
		select {
		case <-m.done:
			return
		case j := <-m.jobs:
			err := m.prober.Probe(j.ctx, j.spec, j.target)
			select {
			case m.results <- result{c: j.c, run: j.run, err: err}:
			case <-m.done:
				return
			}
		}
	}
}
