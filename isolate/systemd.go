package isolate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// SystemdConfig configures the systemd backend.
type SystemdConfig struct {
	// Dir is the agent's checkpoint directory (DATA/agent), laid out as for
	// the process backend: Dir/tasks/<task id>/{task.json, exit.json,
	// stdout, stderr, sandbox/}, plus unit-exit (see exitRecordScript).
	Dir string
	// Logger receives the backend's diagnostics; nil discards them.
	Logger *slog.Logger
	// Now is the clock stamped on launches and exits; nil means time.Now.
	Now func() time.Time
	// Slice holds every task unit; "" means DefaultSlice. Recover stops
	// units in this slice that no checkpoint under Dir claims, so two agents
	// (or tests) sharing one systemd need different slices.
	Slice string
	// TasksMax caps each task's processes and threads; 0 means
	// DefaultTasksMax.
	TasksMax uint64
}

// ErrNoSystemd is wrapped by NewSystemd's error when no systemd answers.
var ErrNoSystemd = errors.New("systemd is not running as PID 1 or its D-Bus socket is missing; use --isolator cgroupfs or process")

// Systemd runs each task as a transient unit clusterd-<task>.service in a
// slice, started over D-Bus: systemd enforces the limits, owns the processes
// and keeps them running while clusterd restarts.
//
// Exits come from D-Bus signals (PropertiesChanged of the unit, in order, on
// a connection of its own), never from polling. How a task ended is read
// from a record its unit's ExecStopPost writes into the task directory, so
// it is the same whether the agent watched the exit or was down at the time.
// Each unit is started with AddRef: it stays loaded after it ends until the
// agent has recorded the exit and released it, then systemd collects it
// (CollectMode=inactive-or-failed); no failed units are left behind.
//
// Exit delivery is at least once, as for the process backend: exit.json is
// written before the Exit is sent, and Recover sends it again until Remove.
type Systemd struct {
	dir      string
	slice    string
	tasksMax uint64
	log      *slog.Logger
	now      func() time.Time
	bootID   string
	exits    *exitQueue

	conn *sdbus.Conn // method calls
	bus  *dbus.Conn  // StartTransientUnit/Ref/Unref (the refs live here) and signals
	mgr  dbus.BusObject
	sigs chan *dbus.Signal
	done chan struct{} // closed when the signal loop returns

	mu        sync.Mutex
	tasks     map[string]*unitTask // by task id
	units     map[string]*unitTask // by unit name
	launching map[string]bool
	closed    bool
}

// unitTask is one task the backend watches.
type unitTask struct {
	id        string
	unit      string
	pid       int
	grace     time.Duration
	startedAt time.Time
	memMiB    float64
	sandbox   *execSandbox // what Exec needs; nil if the checkpoint lacks it

	// guarded by Systemd.mu
	launching bool
	jobResult chan string   // the start job's result, while launching
	jobDone   bool          // the start job finished (signal loop)
	endSeen   bool          // the unit went inactive while Launch was still bookkeeping
	ended     chan struct{} // closed when endSeen is set
	killed    bool
	killTimer *time.Timer
	done      bool
}

// systemdCheckpoint is task.json of the systemd backend: the process
// backend's fields plus the unit. Fields are only ever added.
type systemdCheckpoint struct {
	taskCheckpoint
	Isolator string  `json:"isolator"`
	Unit     string  `json:"unit"`
	MemMiB   float64 `json:"mem_mib,omitempty"`
	// KillRequested is set when Kill is called, so an exit seen by a later
	// agent is still reported as Killed.
	KillRequested bool `json:"kill_requested,omitempty"`
	// Sandbox is what the task's unit was made of, for Exec; absent in
	// checkpoints of older agents, whose tasks Exec refuses.
	Sandbox *execSandbox `json:"sandbox,omitempty"`
}

// exitRecordFile is written by the unit's ExecStopPost.
const exitRecordFile = "unit-exit"

// NewSystemd connects to systemd: the system bus first, then systemd's
// private socket (root only). It fails with ErrNoSystemd when neither
// answers.
func NewSystemd(ctx context.Context, cfg SystemdConfig) (*Systemd, error) {
	if cfg.Dir == "" {
		return nil, errors.New("systemd isolator: SystemdConfig.Dir is empty; set it to DATA/agent")
	}
	if cfg.Slice == "" {
		cfg.Slice = DefaultSlice
	}
	if !strings.HasSuffix(cfg.Slice, ".slice") {
		return nil, fmt.Errorf("systemd isolator: slice %q must end in .slice", cfg.Slice)
	}
	if cfg.TasksMax == 0 {
		cfg.TasksMax = DefaultTasksMax
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "tasks"), 0o755); err != nil {
		return nil, fmt.Errorf("systemd isolator: %w", err)
	}
	// The connections live until Close: godbus closes a connection when the
	// context it was dialed with ends, so ctx bounds only the calls below.
	conn, bus, err := dialSystemd(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	s := &Systemd{
		dir:       cfg.Dir,
		slice:     cfg.Slice,
		tasksMax:  cfg.TasksMax,
		log:       cfg.Logger.With("isolator", "systemd"),
		now:       cfg.Now,
		bootID:    readBootID(),
		exits:     newExitQueue(),
		conn:      conn,
		bus:       bus,
		mgr:       bus.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1"),
		sigs:      make(chan *dbus.Signal, 256),
		done:      make(chan struct{}),
		tasks:     map[string]*unitTask{},
		units:     map[string]*unitTask{},
		launching: map[string]bool{},
	}
	if err := s.subscribe(ctx); err != nil {
		conn.Close()
		bus.Close()
		s.exits.close()
		return nil, fmt.Errorf("systemd isolator: subscribe to unit signals: %w", err)
	}
	go s.watch()
	return s, nil
}

// dialSystemd opens the go-systemd connection for method calls and a raw
// connection, on the same transport, for signals and unit references.
func dialSystemd(ctx context.Context) (*sdbus.Conn, *dbus.Conn, error) {
	conn, err := sdbus.NewSystemConnectionContext(ctx)
	if err == nil {
		bus, berr := dbus.SystemBusPrivate(dbus.WithContext(ctx), dbus.WithSignalHandler(dbus.NewSequentialSignalHandler()))
		if berr == nil {
			if berr = bus.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); berr == nil {
				berr = bus.Hello()
			}
			if berr == nil {
				return conn, bus, nil
			}
			bus.Close()
		}
		conn.Close()
		err = berr
	}
	sysErr := err
	conn, err = sdbus.NewSystemdConnectionContext(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("systemd isolator: %w (system bus: %v; /run/systemd/private: %v)", ErrNoSystemd, sysErr, err)
	}
	bus, err := dbus.Dial("unix:path=/run/systemd/private", dbus.WithContext(ctx), dbus.WithSignalHandler(dbus.NewSequentialSignalHandler()))
	if err == nil {
		if err = bus.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
			bus.Close()
		}
	}
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("systemd isolator: %w (/run/systemd/private: %v)", ErrNoSystemd, err)
	}
	return conn, bus, nil
}

// Name returns "systemd".
func (s *Systemd) Name() string { return "systemd" }

// Capabilities: systemd enforces CPU and memory limits, owns the tasks
// across agent restarts, and the ExecStopPost record keeps their exit codes.
func (s *Systemd) Capabilities() Capabilities {
	return Capabilities{CPULimit: true, MemLimit: true, SurvivesAgentRestart: true, ExitCodeAfterRestart: true}
}

// Exits delivers task ends. Close closes the channel; exits not received by
// then are sent again by the next Recover.
func (s *Systemd) Exits() <-chan Exit { return s.exits.out }

// LogPath is Dir/tasks/<task>/stdout or stderr, as for the process backend.
func (s *Systemd) LogPath(taskID, stream string) string {
	if (stream != "stdout" && stream != "stderr") || ValidateTaskID(taskID) != nil {
		return ""
	}
	return filepath.Join(s.taskDir(taskID), stream)
}

// SandboxPath is the task's working directory, Dir/tasks/<task>/sandbox.
func (s *Systemd) SandboxPath(taskID string) string {
	return filepath.Join(s.taskDir(taskID), "sandbox")
}

// UnitName is the systemd unit a task runs as.
func (s *Systemd) UnitName(taskID string) string { return unitName(taskID) }

func (s *Systemd) taskDir(taskID string) string {
	return filepath.Join(s.dir, "tasks", taskID)
}

func (s *Systemd) paths(taskID string) unitPaths {
	dir := s.taskDir(taskID)
	return unitPaths{
		Unit:       unitName(taskID),
		Slice:      s.slice,
		TaskDir:    dir,
		Sandbox:    filepath.Join(dir, "sandbox"),
		Stdout:     filepath.Join(dir, "stdout"),
		Stderr:     filepath.Join(dir, "stderr"),
		ExitRecord: filepath.Join(dir, exitRecordFile),
		TasksMax:   s.tasksMax,
	}
}

// Launch starts the task's unit and returns once systemd has exec'd its
// /bin/sh (Type=exec) and the task is checkpointed. An error means the task
// did not start; no Exit is delivered for it. A setting the host's systemd
// rejects fails the launch with systemd's error naming it.
func (s *Systemd) Launch(ctx context.Context, spec LaunchSpec) (Running, error) {
	id := spec.TaskID
	if err := ValidateTaskID(id); err != nil {
		return Running{}, fmt.Errorf("launch task: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Running{}, fmt.Errorf("launch task %s: %w", id, err)
	}
	p := s.paths(id)
	props, err := unitProperties(spec, p)
	if err != nil {
		return Running{}, fmt.Errorf("launch task %s: %w", id, err)
	}
	t := &unitTask{
		id:        id,
		unit:      p.Unit,
		grace:     spec.KillGrace,
		memMiB:    spec.Limits.MemMiB,
		sandbox:   newExecSandbox(spec),
		launching: true,
		jobResult: make(chan string, 1),
		ended:     make(chan struct{}),
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return Running{}, fmt.Errorf("launch task %s: isolator is closed", id)
	case s.tasks[id] != nil || s.launching[id]:
		s.mu.Unlock()
		return Running{}, fmt.Errorf("launch task %s: already running", id)
	case s.units[p.Unit] != nil:
		s.mu.Unlock()
		return Running{}, fmt.Errorf("launch task %s: unit %s is in use by task %s", id, p.Unit, s.units[p.Unit].id)
	}
	s.launching[id] = true
	s.units[p.Unit] = t
	s.mu.Unlock()
	ok := false
	defer func() {
		s.mu.Lock()
		delete(s.launching, id)
		if !ok && s.units[p.Unit] == t {
			delete(s.units, p.Unit)
		}
		s.mu.Unlock()
	}()

	if err := s.prepare(p); err != nil {
		return Running{}, fmt.Errorf("launch task %s: %w", id, err)
	}
	t.startedAt = s.now()
	if err := s.startUnit(ctx, p.Unit, props, t); err != nil {
		return Running{}, fmt.Errorf("launch task %s: %w", id, err)
	}
	pid, err := s.mainPID(ctx, p.Unit)
	if err == nil {
		t.pid = pid
		err = writeJSONAtomic(filepath.Join(p.TaskDir, taskFile), systemdCheckpoint{
			taskCheckpoint: taskCheckpoint{
				Version:     checkpointVersion,
				TaskID:      id,
				PID:         pid,
				BootID:      s.bootID,
				KillGraceMS: spec.KillGrace.Milliseconds(),
				LaunchedAt:  t.startedAt,
				Cmd:         spec.Cmd,
			},
			Isolator: "systemd",
			Unit:     p.Unit,
			MemMiB:   spec.Limits.MemMiB,
			Sandbox:  t.sandbox,
		})
	}
	if err != nil {
		// An unrecorded unit would be killed by the next Recover anyway.
		s.stopAndRelease(p.Unit)
		return Running{}, fmt.Errorf("launch task %s: %w", id, err)
	}
	s.mu.Lock()
	t.launching = false
	ended := t.endSeen
	s.tasks[id] = t
	ok = true
	s.mu.Unlock()
	if ended {
		go s.finish(t)
	}
	s.log.Debug("task launched", "task", id, "unit", p.Unit, "pid", pid)
	return Running{TaskID: id, PID: pid, StartedAt: t.startedAt}, nil
}

// prepare creates the task directory. The task dir is root-owned 0711 (not
// listable); the sandbox is 01777 so a DynamicUser uid, which exists only
// once the unit starts, can write it (see unitSettings for the trade-off).
func (s *Systemd) prepare(p unitPaths) error {
	if fileExists(filepath.Join(p.TaskDir, taskFile)) && !fileExists(filepath.Join(p.TaskDir, exitFile)) {
		return fmt.Errorf("%s holds the checkpoint of a task that was not recovered; call Recover first, or Remove the task", p.TaskDir)
	}
	for _, f := range []string{exitFile, exitRecordFile} {
		if err := os.Remove(filepath.Join(p.TaskDir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.MkdirAll(p.Sandbox, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(p.TaskDir, 0o711); err != nil {
		return err
	}
	if err := os.Chmod(p.Sandbox, 0o1777); err != nil {
		return err
	}
	for _, f := range []string{p.Stdout, p.Stderr} {
		lf, err := openLog(f)
		if err != nil {
			return err
		}
		lf.Close()
	}
	return nil
}

// startUnit calls StartTransientUnit on the raw connection (so AddRef binds
// the unit to it) and waits for the start job's JobRemoved signal.
//
// With Type=exec the job fails both when the task could not be started
// (systemd's own exit codes: 200/CHDIR, 203/EXEC, 217/USER, 226/NAMESPACE,
// ...) and when /bin/sh started but exited before systemd saw the exec
// succeed. The exit record tells them apart once the unit has stopped: the
// first is a launch error, the second a task that ran (err is nil) and
// whose exit is then reported like any other.
func (s *Systemd) startUnit(ctx context.Context, unit string, props []sdbus.Property, t *unitTask) error {
	var job dbus.ObjectPath
	err := s.mgr.CallWithContext(ctx, "org.freedesktop.systemd1.Manager.StartTransientUnit", 0,
		unit, "fail", props, []sdbus.PropertyCollection{}).Store(&job)
	if err != nil {
		return fmt.Errorf("start unit %s: %w (the host's systemd rejected the unit; the task is not run with weaker settings than asked)", unit, err)
	}
	var result string
	select {
	case result = <-t.jobResult:
	case <-ctx.Done():
		s.stopAndRelease(unit)
		return fmt.Errorf("start unit %s: %w", unit, ctx.Err())
	case <-s.done:
		return fmt.Errorf("start unit %s: isolator closed", unit)
	}
	if result == "done" {
		return nil
	}
	wait := time.NewTimer(max(t.grace, minStopTimeout) + 5*time.Second)
	defer wait.Stop()
	select {
	case <-t.ended:
	case <-wait.C:
	case <-s.done:
	}
	rec, rerr := readExitRecord(filepath.Join(s.taskDir(t.id), exitRecordFile))
	if rerr == nil && rec.ran() {
		return nil
	}
	why := "job " + result
	if rerr == nil {
		why += fmt.Sprintf(" (service result %s, %s %s)", rec.result, rec.code, rec.status)
	} else if props, err := s.conn.GetUnitTypePropertiesContext(ctx, unit, "Service"); err == nil {
		// No record: ExecStopPost could not run either (an unknown User=,
		// say). The unit, still referenced, says what failed.
		why += fmt.Sprintf(" (service result %v, main process status %v)", props["Result"], props["ExecMainStatus"])
	}
	s.release(unit)
	return fmt.Errorf("start unit %s: %s; see journalctl -u %s", unit, why, unit)
}

// mainPID is the unit's main process, or the last one if it already ended.
func (s *Systemd) mainPID(ctx context.Context, unit string) (int, error) {
	props, err := s.conn.GetUnitTypePropertiesContext(ctx, unit, "Service")
	if err != nil {
		return 0, fmt.Errorf("read unit %s: %w", unit, err)
	}
	for _, k := range []string{"MainPID", "ExecMainPID"} {
		if v, ok := props[k].(uint32); ok && v > 0 {
			return int(v), nil
		}
	}
	return 0, fmt.Errorf("unit %s has no main process", unit)
}

// release drops the agent's reference on a unit and resets it if it failed,
// so systemd collects it.
func (s *Systemd) release(unit string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.bus.Object("org.freedesktop.systemd1", unitObjectPath(unit)).CallWithContext(ctx, "org.freedesktop.systemd1.Unit.Unref", 0).Err; err != nil {
		s.log.Debug("unref unit", "unit", unit, "err", err)
	}
	_ = s.conn.ResetFailedUnitContext(ctx, unit)
}

// stopAndRelease stops a unit that must not run and releases it.
func (s *Systemd) stopAndRelease(unit string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.conn.KillUnitWithTarget(ctx, unit, sdbus.All, 9)
	if _, err := s.conn.StopUnitContext(ctx, unit, "replace", nil); err != nil {
		s.log.Error("stop unit", "unit", unit, "err", err)
	}
	s.release(unit)
}

// Kill stops the task's unit: systemd sends SIGTERM to its whole cgroup and
// SIGKILL after the stop timeout set at launch (the KillGrace, at least
// minStopTimeout). A grace <= 0 means the launch's KillGrace. A grace
// shorter than the unit's timeout is honoured by SIGKILLing the cgroup when
// it runs out; a longer one cannot be (systemd fixes the timeout when the
// unit starts), so it is capped at the unit's timeout.
func (s *Systemd) Kill(ctx context.Context, taskID string, grace time.Duration) error {
	s.mu.Lock()
	t := s.tasks[taskID]
	if t == nil || t.done {
		s.mu.Unlock()
		return fmt.Errorf("kill task %s: %w", taskID, ErrUnknownTask)
	}
	if grace <= 0 {
		grace = t.grace
	}
	first := !t.killed
	t.killed = true
	timer := first && grace > 0 && grace < max(t.grace, minStopTimeout)
	if timer {
		t.killTimer = time.AfterFunc(grace, func() { s.escalate(t) })
	}
	s.mu.Unlock()
	if first {
		s.markKilled(t)
	}
	if _, err := s.conn.StopUnitContext(ctx, t.unit, "replace", nil); err != nil {
		return fmt.Errorf("kill task %s: stop unit %s: %w", taskID, t.unit, err)
	}
	if first && grace <= 0 {
		s.escalate(t)
	}
	return nil
}

// markKilled records in task.json that Kill was called.
func (s *Systemd) markKilled(t *unitTask) {
	path := filepath.Join(s.taskDir(t.id), taskFile)
	var cp systemdCheckpoint
	if err := readJSON(path, &cp); err != nil {
		s.log.Error("read task checkpoint", "task", t.id, "err", err)
		return
	}
	cp.KillRequested = true
	if err := writeJSONAtomic(path, cp); err != nil {
		s.log.Error("checkpoint kill", "task", t.id, "err", err)
	}
}

// escalate SIGKILLs the unit's cgroup unless the task already ended.
func (s *Systemd) escalate(t *unitTask) {
	s.mu.Lock()
	done := t.done || s.closed
	s.mu.Unlock()
	if done {
		return
	}
	s.log.Info("task outlived its kill grace; sending SIGKILL", "task", t.id, "unit", t.unit)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.conn.KillUnitWithTarget(ctx, t.unit, sdbus.All, 9); err != nil {
		s.log.Error("SIGKILL unit", "unit", t.unit, "err", err)
	}
}

// Usage reads the unit's CPU time and memory from systemd (its cgroup's
// accounting), and the peak from the memory cgroup where the kernel keeps it.
func (s *Systemd) Usage(ctx context.Context, taskID string) (Usage, error) {
	s.mu.Lock()
	t := s.tasks[taskID]
	s.mu.Unlock()
	if t == nil {
		return Usage{}, fmt.Errorf("usage of task %s: %w", taskID, ErrUnknownTask)
	}
	props, err := s.conn.GetUnitTypePropertiesContext(ctx, t.unit, "Service")
	if err != nil {
		return Usage{}, fmt.Errorf("usage of task %s: read unit %s: %w", taskID, t.unit, err)
	}
	var u Usage
	if v, ok := props["CPUUsageNSec"].(uint64); ok && v != ^uint64(0) {
		u.CPUSeconds = float64(v) / 1e9
	}
	if v, ok := props["MemoryCurrent"].(uint64); ok && v != ^uint64(0) {
		u.MemBytes = v
	}
	// systemd leaves CPUUsageNSec unset where it does not realize cpuacct
	// for the unit (v1 with cpu and cpuacct mounted apart): read the task's
	// cgroups, which systemd created, directly.
	cg := cgroupUsage(t.pid)
	if u.CPUSeconds == 0 {
		u.CPUSeconds = cg.CPUSeconds
	}
	if u.MemBytes == 0 {
		u.MemBytes = cg.MemBytes
	}
	u.MemPeakBytes = cg.MemPeakBytes
	return u, nil
}

// cgroupUsage reads pid's cgroups: CPU time (v1 cpuacct.usage, v2 cpu.stat
// usage_usec) and memory now and at its peak (v1 memory.usage_in_bytes and
// memory.max_usage_in_bytes, v2 memory.current and memory.peak). What it
// cannot read stays 0.
func cgroupUsage(pid int) Usage {
	var u Usage
	cg := readSelfCgroups("/proc/" + strconv.Itoa(pid) + "/cgroup")
	first := func(files ...string) float64 {
		for _, f := range files {
			if v, err := readNumber(f); err == nil && v > 0 {
				return v
			}
		}
		return 0
	}
	// The unit's own cgroup, as the pids (TasksMax) or systemd hierarchy
	// names it. cpuacct counts only if systemd put the unit there too;
	// otherwise the CPU time of the cgroup's live processes is summed.
	unitCg := cg["pids"]
	if unitCg == "" {
		unitCg = cg["name=systemd"]
	}
	if p, ok := cg["cpuacct"]; ok && p == unitCg && unitCg != "" {
		for _, m := range []string{"cpuacct", "cpu,cpuacct", "cpuacct,cpu"} {
			if v := first(filepath.Join("/sys/fs/cgroup", m, p, "cpuacct.usage")); v > 0 {
				u.CPUSeconds = v / 1e9
				break
			}
		}
	}
	if u.CPUSeconds == 0 && unitCg != "" {
		for _, h := range []string{"pids", "systemd"} {
			if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", h, unitCg, "cgroup.procs")); err == nil {
				var ticks uint64
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						if st, err := readProcStat(pid); err == nil {
							ticks += st.utime + st.stime
						}
					}
				}
				u.CPUSeconds = float64(ticks) / clockTicks
				break
			}
		}
	}
	if p, ok := cg["memory"]; ok {
		u.MemBytes = uint64(first(filepath.Join("/sys/fs/cgroup/memory", p, "memory.usage_in_bytes")))
		u.MemPeakBytes = uint64(first(filepath.Join("/sys/fs/cgroup/memory", p, "memory.max_usage_in_bytes")))
	}
	if p, ok := cg[""]; ok {
		for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
			if u.CPUSeconds == 0 {
				if b, err := os.ReadFile(filepath.Join(root, p, "cpu.stat")); err == nil {
					for _, line := range strings.Split(string(b), "\n") {
						if f := strings.Fields(line); len(f) == 2 && f[0] == "usage_usec" {
							v, _ := strconv.ParseFloat(f[1], 64)
							u.CPUSeconds = v / 1e6
						}
					}
				}
			}
			if u.MemBytes == 0 {
				u.MemBytes = uint64(first(filepath.Join(root, p, "memory.current")))
			}
			if u.MemPeakBytes == 0 {
				u.MemPeakBytes = uint64(first(filepath.Join(root, p, "memory.peak")))
			}
		}
	}
	return u
}

// Running lists the tasks running now, sorted by id.
func (s *Systemd) Running() []Running {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Running, 0, len(s.tasks))
	for _, t := range s.tasks {
		if !t.done {
			out = append(out, Running{TaskID: t.id, PID: t.pid, StartedAt: t.startedAt})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TaskID < out[j].TaskID })
	return out
}

// Remove deletes a finished task's directory: checkpoint, sandbox and logs.
// Removing a running task is an error; removing an unknown one is not.
func (s *Systemd) Remove(taskID string) error {
	if err := ValidateTaskID(taskID); err != nil {
		return fmt.Errorf("remove task: %w", err)
	}
	s.mu.Lock()
	running := s.tasks[taskID] != nil || s.launching[taskID]
	s.mu.Unlock()
	if running {
		return fmt.Errorf("remove task %s: still running; Kill it and wait for its exit", taskID)
	}
	if err := os.RemoveAll(s.taskDir(taskID)); err != nil {
		return fmt.Errorf("remove task %s: %w", taskID, err)
	}
	return nil
}

// Close stops watching tasks and closes the Exits channel. Units keep
// running; closing the connection drops the agent's references, so units
// that end from now on are collected by systemd and their exits are read
// back from the exit record by the next Recover. Close is idempotent.
func (s *Systemd) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, t := range s.tasks {
		if t.killTimer != nil {
			t.killTimer.Stop()
		}
	}
	s.mu.Unlock()
	s.bus.Close()
	<-s.done
	s.conn.Close()
	s.exits.close()
	return nil
}
