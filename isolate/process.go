package isolate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ProcessConfig configures the process backend.
type ProcessConfig struct {
	// Dir is the agent's checkpoint directory (DATA/agent). Each task lives
	// in Dir/tasks/<task id>/: task.json, exit.json, stdout, stderr, sandbox/.
	Dir string
	// Logger receives the backend's diagnostics; nil discards them.
	Logger *slog.Logger
	// Now is the clock stamped on launches and exits; nil means time.Now.
	Now func() time.Time
}

// basePath is the PATH a task starts with unless its spec sets one.
const basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lostMessage explains a Lost exit of the process backend.
const lostMessage = "exit status lost: the agent restarted while the task ran, " +
	"and the process backend cannot recover exit codes (the systemd backend keeps them)"

// Process runs each task as a plain process: /bin/sh -c CMD in its own
// session and process group, with no resource limits. Tasks survive the
// agent; their exit codes do not (see Capabilities).
//
// Exit delivery is at least once: every exit is checkpointed to exit.json
// before it is sent on Exits, and Recover sends again the exit of every task
// directory that still holds one. The agent acknowledges an exit by calling
// Remove once it no longer needs the task's sandbox and logs.
//
// Per task it costs one goroutine parked on a pidfd in the runtime poller
// (no OS thread, no helper process) and one file descriptor.
type Process struct {
	dir    string
	log    *slog.Logger
	now    func() time.Time
	bootID string
	exits  *exitQueue

	// cgroups, when set, confines every task to a cgroup of its own (the
	// cgroupfs backend is this backend with cgroups); nil for plain processes.
	cgroups *cgroupManager

	mu        sync.Mutex
	tasks     map[string]*procTask
	launching map[string]bool
	closed    bool
}

// procTask is one task the backend watches.
type procTask struct {
	id         string
	pid        int // also the process group and session id
	startTicks uint64
	grace      time.Duration
	startedAt  time.Time
	pidfd      *os.File    // polls readable when the process exits; nil if pidfd_open failed
	cg         *taskCgroup // the task's cgroup; nil for a plain process
	oomWatch   *os.File    // closing it stops the v1 OOM watch; nil if none
	// env and creds are the task's environment and identity, which Exec
	// gives a command; nil if the checkpoint of a recovered task lacks them.
	env   []string
	creds *taskCreds
	// execMu is held for reading while Exec starts a command in the task's
	// cgroup, and taken by finish before it releases the cgroup.
	execMu sync.RWMutex

	// guarded by Process.mu
	killed    bool
	killTimer *time.Timer
	done      bool
}

// NewProcess returns a process backend keeping its state under cfg.Dir.
func NewProcess(cfg ProcessConfig) (*Process, error) {
	return newProcess(cfg, "process")
}

// newProcess is NewProcess for a backend named name that builds on it.
func newProcess(cfg ProcessConfig, name string) (*Process, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%s isolator: ProcessConfig.Dir is empty; set it to DATA/agent", name)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "tasks"), 0o755); err != nil {
		return nil, fmt.Errorf("%s isolator: %w", name, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Process{
		dir:       cfg.Dir,
		log:       cfg.Logger.With("isolator", name),
		now:       cfg.Now,
		bootID:    readBootID(),
		exits:     newExitQueue(),
		tasks:     map[string]*procTask{},
		launching: map[string]bool{},
	}, nil
}

// Name returns "process".
func (p *Process) Name() string { return "process" }

// Capabilities: no limits; tasks survive the agent but their exit codes
// do not.
func (p *Process) Capabilities() Capabilities {
	return Capabilities{SurvivesAgentRestart: true}
}

// Exits delivers task ends. Close closes the channel; exits not received by
// then are sent again by the next Recover.
func (p *Process) Exits() <-chan Exit { return p.exits.out }

// LogPath is Dir/tasks/<task>/stdout or stderr; "" for another stream or
// an id that is not a valid task id (which could otherwise name any file).
func (p *Process) LogPath(taskID, stream string) string {
	if (stream != "stdout" && stream != "stderr") || ValidateTaskID(taskID) != nil {
		return ""
	}
	return filepath.Join(p.taskDir(taskID), stream)
}

// SandboxPath is the task's working directory, Dir/tasks/<task>/sandbox.
func (p *Process) SandboxPath(taskID string) string {
	return filepath.Join(p.taskDir(taskID), "sandbox")
}

func (p *Process) taskDir(taskID string) string {
	return filepath.Join(p.dir, "tasks", taskID)
}

// Launch starts spec.Cmd and checkpoints it before returning. An error means
// the task did not start (or was killed again because it could not be
// checkpointed); no Exit is delivered for it.
func (p *Process) Launch(ctx context.Context, spec LaunchSpec) (Running, error) {
	id := spec.TaskID
	if err := ValidateTaskID(id); err != nil {
		return Running{}, fmt.Errorf("launch task: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Running{}, fmt.Errorf("launch task %s: %w", id, err)
	}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return Running{}, fmt.Errorf("launch task %s: isolator is closed", id)
	case p.tasks[id] != nil || p.launching[id]:
		p.mu.Unlock()
		return Running{}, fmt.Errorf("launch task %s: already running", id)
	}
	p.launching[id] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.launching, id)
		p.mu.Unlock()
	}()

	t, cmd, err := p.start(spec)
	if err != nil {
		return Running{}, fmt.Errorf("launch task %s: %w", id, err)
	}
	// Watch the child through a pidfd in the runtime poller, so a waiting
	// task parks a goroutine rather than an OS thread in wait(2). The child
	// cannot be reaped before cmd.Wait, so its pid is stable here.
	if fd, err := unix.PidfdOpen(t.pid, unix.PIDFD_NONBLOCK); err == nil {
		t.pidfd = os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", t.pid))
	}
	p.watchOOM(t)
	p.mu.Lock()
	p.tasks[id] = t
	p.mu.Unlock()
	go p.wait(t, cmd)
	p.log.Debug("task launched", "task", id, "pid", t.pid)
	return Running{TaskID: id, PID: t.pid, StartedAt: t.startedAt}, nil
}

// start prepares the task directory, starts the process and checkpoints it.
func (p *Process) start(spec LaunchSpec) (*procTask, *exec.Cmd, error) {
	dir := p.taskDir(spec.TaskID)
	sandbox := filepath.Join(dir, "sandbox")
	if fileExists(filepath.Join(dir, taskFile)) && !fileExists(filepath.Join(dir, exitFile)) {
		return nil, nil, fmt.Errorf("%s holds the checkpoint of a task that was not recovered; call Recover first, or Remove the task", dir)
	}
	// A relaunch of a finished task id starts from a clean record; its
	// sandbox and logs are kept (logs are appended to).
	if err := os.Remove(filepath.Join(dir, exitFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	// Directory and file creations dominate a launch's cost on disk; keep
	// them few (two directories, two logs, one checkpoint).
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		return nil, nil, err
	}
	stdout, err := openLog(filepath.Join(dir, "stdout"))
	if err != nil {
		return nil, nil, err
	}
	defer stdout.Close()
	stderr, err := openLog(filepath.Join(dir, "stderr"))
	if err != nil {
		return nil, nil, err
	}
	defer stderr.Close()
	creds, err := agentCreds()
	if err != nil {
		return nil, nil, err
	}
	env := taskEnv(spec, sandbox)
	// The task waits at a gate until it is checkpointed: an agent that
	// dies between the fork and the checkpoint would otherwise leave a
	// task no Recover knows of, and the next launch of the same task a
	// second copy (the fault suite found this with a crash point).
	gate, opened, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("task gate: %w", err)
	}
	defer gate.Close()
	defer opened.Close()

	newCmd := func() *exec.Cmd {
		return &exec.Cmd{
			Path:       "/bin/sh",
			Args:       []string{"sh", "-c", gateScript, "sh", spec.Cmd},
			Dir:        sandbox,
			Env:        env,
			Stdout:     stdout, // *os.File: the child writes the file itself, no copying goroutine
			Stderr:     stderr,
			ExtraFiles: []*os.File{gate}, // fd 3
			// Setsid: the task is its own session and process group, so it
			// survives the agent and its terminal, and Kill reaches its children.
			SysProcAttr: &syscall.SysProcAttr{Setsid: true},
		}
	}
	var cmd *exec.Cmd
	var cg *taskCgroup
	if p.cgroups != nil {
		if cmd, cg, err = p.cgroups.start(spec.TaskID, spec.Limits, newCmd); err != nil {
			return nil, nil, err
		}
	} else {
		cmd = newCmd()
		if err := cmd.Start(); err != nil {
			return nil, nil, fmt.Errorf("start /bin/sh: %w", err)
		}
	}
	t := &procTask{
		id:        spec.TaskID,
		pid:       cmd.Process.Pid,
		grace:     spec.KillGrace,
		startedAt: p.now(),
		cg:        cg,
		env:       env,
		creds:     creds,
	}
	st, err := readProcStat(t.pid)
	if err == nil {
		t.startTicks = st.startTicks
		cp := taskCheckpoint{
			Version:     checkpointVersion,
			TaskID:      t.id,
			PID:         t.pid,
			StartTicks:  t.startTicks,
			BootID:      p.bootID,
			KillGraceMS: t.grace.Milliseconds(),
			LaunchedAt:  t.startedAt,
			Cmd:         spec.Cmd,
			Env:         env,
			RunAs:       creds,
		}
		cp.setCgroup(cg)
		err = writeJSONAtomic(filepath.Join(dir, taskFile), cp)
	}
	if err != nil {
		// An unrecorded task would be invisible to the next Recover: stop it.
		_ = syscall.Kill(-t.pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if cg != nil {
			_ = cg.killAll()
			_ = cg.remove()
		}
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	gate.Close()
	if _, err := opened.Write([]byte("go\n")); err != nil {
		// The shell is gone already: its exit is reported as any other.
		p.log.Info("task gone before its gate opened", "task", spec.TaskID, "err", err)
	}
	return t, cmd, nil
}

// gateScript runs the task's command ($1) once a line arrives on fd 3,
// in the same process (exec), so the checkpointed pid is the task's. At
// EOF, the agent died before recording the task: it does not start.
const gateScript = `read -r gate <&3 || { echo "clusterd: the agent stopped before this task was recorded; not started" >&2; exit 125; }; exec 3<&-; exec /bin/sh -c "$1" sh`

// taskEnv is a minimal base environment, then spec.Env, then the variables
// clusterd always sets.
func taskEnv(spec LaunchSpec, sandbox string) []string {
	env := map[string]string{
		"PATH":   basePath,
		"HOME":   sandbox,
		"TMPDIR": sandbox,
		"LANG":   "C.UTF-8",
	}
	for k, v := range spec.Env {
		env[k] = v
	}
	env["CLUSTERD_TASK_ID"] = spec.TaskID
	env["CLUSTERD_SANDBOX"] = sandbox
	env["MESOS_SANDBOX"] = sandbox
	if len(spec.Limits.GPUs) > 0 {
		// CUDA sees only the task's devices (the systemd backend also
		// confines it to them with the device cgroup).
		env["CUDA_VISIBLE_DEVICES"] = strings.Join(spec.Limits.GPUs, ",")
	} else {
		delete(env, "CUDA_VISIBLE_DEVICES") // a job must not pick GPUs it was not given
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

// wait reaps a launched task and reports how it ended.
func (p *Process) wait(t *procTask, cmd *exec.Cmd) {
	if t.pidfd != nil {
		// Close interrupts this by closing the pidfd; reaping then blocks
		// below, and finish records nothing.
		_ = waitPidfd(t.pidfd)
		t.pidfd.Close()
	}
	_ = cmd.Wait() // a non-zero exit is an *ExitError; the status is read below
	// Children the task left behind in its process group must not leak.
	_ = syscall.Kill(-t.pid, syscall.SIGKILL)
	e := Exit{TaskID: t.id, Reason: Exited, ExitCode: -1}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Exited():
		e.ExitCode = ws.ExitStatus()
		e.Message = fmt.Sprintf("exited with code %d", e.ExitCode)
	case ws.Signaled():
		e.Reason = Signaled
		e.Signal = ws.Signal().String()
		e.Message = "terminated by signal " + unix.SignalName(ws.Signal())
	default:
		e.Reason = Lost
		e.Message = "wait status unknown: " + cmd.ProcessState.String()
	}
	p.finish(t, e)
}

// finish checkpoints and delivers a task's exit, once. After Close it does
// nothing: the next Recover owns the task.
func (p *Process) finish(t *procTask, e Exit) {
	p.mu.Lock()
	if t.done || p.closed {
		p.mu.Unlock()
		return
	}
	t.done = true
	if t.killTimer != nil {
		t.killTimer.Stop()
	}
	killed := t.killed
	if t.oomWatch != nil {
		t.oomWatch.Close()
	}
	if t.killed {
		if e.Reason == Exited {
			e.Message = fmt.Sprintf("killed; exited with code %d", e.ExitCode)
		} else if e.Reason == Signaled {
			e.Message = "killed by signal " + e.Signal
		} else {
			e.Message = "killed"
		}
		e.Reason, e.ExitCode, e.Signal = Killed, -1, ""
	}
	p.mu.Unlock()
	// No Exec is starting a command in the task's cgroup from here on.
	t.execMu.Lock()
	t.execMu.Unlock()

	if t.cg != nil {
		// Leftovers in the cgroup die with the task; an OOM kill is noted.
		if err := t.cg.release(&e, killed); err != nil {
			p.log.Error("release task cgroup", "task", t.id, "err", err)
		}
	}
	e.Time = p.now()
	if err := writeJSONAtomic(filepath.Join(p.taskDir(t.id), exitFile), exitRecord(e)); err != nil {
		p.log.Error("checkpoint task exit", "task", t.id, "err", err)
	}
	p.mu.Lock()
	if p.tasks[t.id] == t {
		delete(p.tasks, t.id)
	}
	p.mu.Unlock()
	p.log.Debug("task ended", "task", t.id, "reason", e.Reason.String(), "code", e.ExitCode)
	p.exits.push(e)
}

// Kill sends SIGTERM to the task's process group and SIGKILL after the
// grace. A grace <= 0 means the KillGrace recorded at launch; if that is 0
// too, SIGKILL follows SIGTERM at once. Killing a task again resends
// SIGTERM and keeps the first deadline.
//
// A pending SIGKILL still fires after Close (the task was asked to stop),
// but it is not recorded: an agent restart during a grace forgets the kill.
func (p *Process) Kill(ctx context.Context, taskID string, grace time.Duration) error {
	p.mu.Lock()
	t := p.tasks[taskID]
	if t == nil || t.done {
		p.mu.Unlock()
		return fmt.Errorf("kill task %s: %w", taskID, ErrUnknownTask)
	}
	if grace <= 0 {
		grace = t.grace
	}
	first := !t.killed
	t.killed = true
	if first && grace > 0 {
		t.killTimer = time.AfterFunc(grace, func() { p.escalate(t) })
	}
	p.mu.Unlock()

	if t.cg != nil {
		t.cg.signal(syscall.SIGTERM, t.pid) // processes that left the group
	}
	if err := syscall.Kill(-t.pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill task %s: SIGTERM process group %d: %w", taskID, t.pid, err)
	}
	if grace <= 0 {
		p.escalate(t)
	}
	return nil
}

// escalate SIGKILLs the task's process group unless the task already ended.
func (p *Process) escalate(t *procTask) {
	p.mu.Lock()
	done := t.done
	p.mu.Unlock()
	if done {
		return
	}
	p.log.Info("task outlived its kill grace; sending SIGKILL", "task", t.id, "pid", t.pid)
	if err := syscall.Kill(-t.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		p.log.Error("SIGKILL task", "task", t.id, "pid", t.pid, "err", err)
	}
	if t.cg != nil {
		t.cg.sigkill() // processes that left the group too
	}
}

// Usage sums CPU time and resident memory over every process in the task's
// session (scanning /proc once), or reads them from the task's cgroup.
func (p *Process) Usage(ctx context.Context, taskID string) (Usage, error) {
	p.mu.Lock()
	t := p.tasks[taskID]
	p.mu.Unlock()
	if t == nil {
		return Usage{}, fmt.Errorf("usage of task %s: %w", taskID, ErrUnknownTask)
	}
	var u Usage
	var err error
	if t.cg != nil {
		u, err = t.cg.usage()
	} else {
		u, err = sessionUsage(t.pid)
	}
	if err != nil {
		return Usage{}, fmt.Errorf("usage of task %s: %w", taskID, err)
	}
	return u, nil
}

// Running lists the tasks running now, sorted by id.
func (p *Process) Running() []Running {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Running, 0, len(p.tasks))
	for _, t := range p.tasks {
		if !t.done {
			out = append(out, Running{TaskID: t.id, PID: t.pid, StartedAt: t.startedAt})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TaskID < out[j].TaskID })
	return out
}

// Remove deletes a finished task's directory: checkpoint, sandbox and logs.
// The agent calls it when it garbage-collects a task whose terminal status
// was acknowledged; until then Recover re-delivers the task's exit. Removing
// a running task is an error; removing an unknown one is not.
func (p *Process) Remove(taskID string) error {
	if err := ValidateTaskID(taskID); err != nil {
		return fmt.Errorf("remove task: %w", err)
	}
	if p.isRunning(taskID) {
		return fmt.Errorf("remove task %s: still running; Kill it and wait for its exit", taskID)
	}
	if err := os.RemoveAll(p.taskDir(taskID)); err != nil {
		return fmt.Errorf("remove task %s: %w", taskID, err)
	}
	return nil
}

// watchOOM starts the OOM watch of a task in a v1 cgroup (on v2 the
// kernel kills the whole cgroup itself: memory.oom.group). Without it the
// limit still holds; only the rest of the task outlives an OOM kill.
func (p *Process) watchOOM(t *procTask) {
	if t.cg == nil || t.cg.version != 1 {
		return
	}
	f, err := t.cg.watchOOMV1()
	if err != nil {
		p.log.Warn("task's OOM kills will not end the whole task", "task", t.id, "err", err)
		return
	}
	t.oomWatch = f
}

// isRunning says whether task id is running or being launched.
func (p *Process) isRunning(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tasks[id] != nil || p.launching[id]
}

// Close stops watching tasks and closes the Exits channel. Tasks keep
// running, and exits that happen from now on are left for the next Recover.
// Close is idempotent.
func (p *Process) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var fds []*os.File
	for _, t := range p.tasks {
		if t.pidfd != nil {
			fds = append(fds, t.pidfd)
		}
		if t.oomWatch != nil {
			fds = append(fds, t.oomWatch)
		}
	}
	p.mu.Unlock()
	for _, f := range fds {
		_ = f.Close() // wakes its watcher, which then records nothing
	}
	p.exits.close()
	return nil
}

// exitQueue hands exits to the Exits channel from an unbounded queue, so
// that producers never wait for the reader.
type exitQueue struct {
	out    chan Exit
	notify chan struct{}
	done   chan struct{}
	exited chan struct{}

	mu      sync.Mutex
	pending []Exit
	closed  bool
}

func newExitQueue() *exitQueue {
	q := &exitQueue{
		out:    make(chan Exit, 64),
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go q.forward()
	return q
}

func (q *exitQueue) push(e Exit) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.pending = append(q.pending, e)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *exitQueue) forward() {
	defer close(q.exited)
	for {
		q.mu.Lock()
		batch := q.pending
		q.pending = nil
		q.mu.Unlock()
		for _, e := range batch {
			select {
			case q.out <- e:
			case <-q.done:
				return
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-q.notify:
		case <-q.done:
			return
		}
	}
}

// close stops delivery and closes out; undelivered exits are dropped (they
// are checkpointed, and Recover sends them again).
func (q *exitQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.pending = nil
	q.mu.Unlock()
	close(q.done)
	<-q.exited
	close(q.out)
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
