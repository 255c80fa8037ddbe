// Package isolatetest is the conformance suite every isolate.Isolator
// backend must pass: a backend is correct when Run passes against it.
package isolatetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/isolate"
)

// NewFunc builds a backend keeping its state under dir. Building it twice
// on one dir models an agent restart. The suite calls Recover and Close
// itself.
type NewFunc func(t *testing.T, dir string) isolate.Isolator

// Timeouts of the suite. Every wait has a deadline; none sleeps blindly.
const (
	exitTimeout = 15 * time.Second
	// quiet is how long the suite listens for a duplicate exit.
	quiet = 200 * time.Millisecond
)

// Run runs the conformance suite against the backend newIsolator builds.
func Run(t *testing.T, newIsolator NewFunc) {
	s := suite{newIsolator: newIsolator}
	t.Run("ReportsExitCodeExactlyOnce", s.testExitCodes)
	t.Run("WritesStdoutAndStderrToLogPaths", s.testLogs)
	t.Run("RunsInSandboxWithSpecEnv", s.testEnvAndDir)
	t.Run("RejectsDuplicateTaskID", s.testDuplicate)
	t.Run("RejectsInvalidTaskID", s.testInvalidID)
	t.Run("KillReportsKilledWhenTaskExitsOnSIGTERM", s.testKillGraceful)
	t.Run("KillSendsSIGKILLAfterGraceToWholeGroup", s.testKillEscalates)
	t.Run("KillOfUnknownTaskIsErrUnknownTask", s.testKillUnknown)
	t.Run("ReportsSignalItDidNotSend", s.testSignaled)
	t.Run("RunningListsLiveTasks", s.testRunning)
	t.Run("UsageShowsCPUTimeGrowing", s.testUsage)
	t.Run("RecoverReadoptsRunningTask", s.testReadopt)
	t.Run("RecoverReportsTaskThatEndedWhileClosed", s.testEndedWhileClosed)
	t.Run("Exec", s.testExec)
}

type suite struct {
	newIsolator NewFunc
}

// harness is one isolator instance with the exits it received so far.
type harness struct {
	t    *testing.T
	iso  isolate.Isolator
	seen map[string][]isolate.Exit
}

// start builds an isolator on dir, recovers it and closes it at cleanup.
func (s suite) start(t *testing.T, dir string) (*harness, []isolate.Running) {
	t.Helper()
	iso := s.newIsolator(t, dir)
	t.Cleanup(func() { _ = iso.Close() })
	rec, err := iso.Recover(ctx(t))
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return &harness{t: t, iso: iso, seen: map[string][]isolate.Exit{}}, rec
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), exitTimeout)
	t.Cleanup(cancel)
	return c
}

// launch starts a task and makes sure its process group dies at cleanup.
func (h *harness) launch(id, cmd string, env map[string]string, grace time.Duration) isolate.Running {
	h.t.Helper()
	return h.launchSpec(isolate.LaunchSpec{TaskID: id, Cmd: cmd, Env: env, KillGrace: grace})
}

// launchSpec is launch for a whole spec.
func (h *harness) launchSpec(spec isolate.LaunchSpec) isolate.Running {
	h.t.Helper()
	id := spec.TaskID
	r, err := h.iso.Launch(ctx(h.t), spec)
	if err != nil {
		h.t.Fatalf("Launch %s: %v", id, err)
	}
	if r.TaskID != id || r.PID <= 0 {
		h.t.Fatalf("Launch %s returned %+v; want its task id and a pid", id, r)
	}
	taskDir := filepath.Dir(h.iso.LogPath(id, "stdout"))
	h.t.Cleanup(func() {
		// Close first: an isolator still watching would record the exit
		// this kill causes while t.TempDir is being removed.
		_ = h.iso.Close()
		_ = syscall.Kill(-r.PID, syscall.SIGKILL)
		// Something outside the isolator may still write into the task's
		// directory: a systemd unit's ExecStopPost records the exit this
		// kill causes. Remove the directory until it stays removed, so
		// that t.TempDir's own removal does not race that write (a write
		// into a directory that is gone fails, and leaves nothing).
		deadline := time.Now().Add(5 * time.Second)
		for os.RemoveAll(taskDir) != nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	})
	return r
}

// killAtCleanup SIGKILLs pid when the test ends.
func killAtCleanup(t *testing.T, pid int) {
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
}

// waitExit returns the exit of task id, failing after exitTimeout. Exits of
// other tasks are kept for later calls.
func (h *harness) waitExit(id string) isolate.Exit {
	h.t.Helper()
	deadline := time.NewTimer(exitTimeout)
	defer deadline.Stop()
	for len(h.seen[id]) == 0 {
		select {
		case e, ok := <-h.iso.Exits():
			if !ok {
				h.t.Fatalf("Exits closed while waiting for task %s", id)
			}
			h.seen[e.TaskID] = append(h.seen[e.TaskID], e)
		case <-deadline.C:
			h.t.Fatalf("no exit for task %s within %v", id, exitTimeout)
		}
	}
	if len(h.seen[id]) > 1 {
		h.t.Fatalf("task %s reported %d times: %+v", id, len(h.seen[id]), h.seen[id])
	}
	return h.seen[id][0]
}

// expectNoMoreExits fails if another exit of task id arrives within quiet.
func (h *harness) expectNoMoreExits(id string) {
	h.t.Helper()
	deadline := time.NewTimer(quiet)
	defer deadline.Stop()
	for {
		select {
		case e, ok := <-h.iso.Exits():
			if !ok {
				return
			}
			h.seen[e.TaskID] = append(h.seen[e.TaskID], e)
			if e.TaskID == id {
				h.t.Fatalf("task %s reported again: %+v", id, h.seen[id])
			}
		case <-deadline.C:
			return
		}
	}
}

// Eventually polls cond every 10ms until it holds, failing after timeout.
func Eventually(t *testing.T, timeout time.Duration, desc string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, desc)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ProcessGone says whether pid no longer runs (absent or a zombie).
func ProcessGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// readPID reads a pid a task wrote to path, waiting for it to appear.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	Eventually(t, exitTimeout, "pid file "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

func (s suite) testExitCodes(t *testing.T) {
	h, _ := s.start(t, t.TempDir())
	for _, code := range []int{0, 1, 42, 255} {
		id := fmt.Sprintf("exit-%d", code)
		h.launch(id, fmt.Sprintf("exit %d", code), nil, 0)
		e := h.waitExit(id)
		if e.Reason != isolate.Exited || e.ExitCode != code {
			t.Errorf("task %s: got %v code %d (%s); want exited code %d", id, e.Reason, e.ExitCode, e.Message, code)
		}
		if e.Time.IsZero() {
			t.Errorf("task %s: exit has no time", id)
		}
	}
	h.expectNoMoreExits("exit-0")
	for _, code := range []int{0, 1, 42, 255} {
		if n := len(h.seen[fmt.Sprintf("exit-%d", code)]); n != 1 {
			t.Errorf("task exit-%d reported %d times; want once", code, n)
		}
	}
}

func (s suite) testLogs(t *testing.T) {
	h, _ := s.start(t, t.TempDir())
	h.launch("logs", `echo to-stdout; echo to-stderr >&2; printf 'line2\n'`, nil, 0)
	if e := h.waitExit("logs"); e.Reason != isolate.Exited || e.ExitCode != 0 {
		t.Fatalf("got %+v; want exited 0", e)
	}
	for stream, want := range map[string]string{"stdout": "to-stdout\nline2\n", "stderr": "to-stderr\n"} {
		b, err := os.ReadFile(h.iso.LogPath("logs", stream))
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		if string(b) != want {
			t.Errorf("%s = %q; want %q", stream, b, want)
		}
	}
}

func (s suite) testEnvAndDir(t *testing.T) {
	h, _ := s.start(t, t.TempDir())
	out := filepath.Join(t.TempDir(), "env")
	cmd := `{ echo "FOO=$FOO"; echo "SPACED=$SPACED"; echo "ID=$CLUSTERD_TASK_ID"; ` +
		`echo "SANDBOX=$CLUSTERD_SANDBOX"; echo "MESOS=$MESOS_SANDBOX"; echo "PWD=$(pwd -P)"; ` +
		`touch written-in-sandbox && echo "WRITABLE=yes"; } > "$OUT"`
	h.launch("env-task", cmd, map[string]string{"FOO": "bar", "SPACED": "a b  c", "OUT": out}, 0)
	if e := h.waitExit("env-task"); e.Reason != isolate.Exited || e.ExitCode != 0 {
		t.Fatalf("got %+v; want exited 0 (stderr: %s)", e, readFile(h.iso.LogPath("env-task", "stderr")))
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(readFile(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	for k, want := range map[string]string{"FOO": "bar", "SPACED": "a b  c", "ID": "env-task", "WRITABLE": "yes"} {
		if got[k] != want {
			t.Errorf("%s = %q; want %q (all: %v)", k, got[k], want, got)
		}
	}
	sandbox, err := filepath.EvalSymlinks(got["SANDBOX"])
	if err != nil || got["SANDBOX"] == "" {
		t.Fatalf("CLUSTERD_SANDBOX = %q is not a directory: %v", got["SANDBOX"], err)
	}
	if got["PWD"] != sandbox {
		t.Errorf("working dir = %q; want the sandbox %q", got["PWD"], sandbox)
	}
	if got["MESOS"] != got["SANDBOX"] {
		t.Errorf("MESOS_SANDBOX = %q; want CLUSTERD_SANDBOX %q", got["MESOS"], got["SANDBOX"])
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func (s suite) testDuplicate(t *testing.T) {
	h, _ := s.start(t, t.TempDir())
	h.launch("dup", "sleep 30", nil, 0)
	if _, err := h.iso.Launch(ctx(t), isolate.LaunchSpec{TaskID: "dup", Cmd: "true"}); err == nil {
		t.Fatal("second Launch of a running task id succeeded; want an error")
	}
	if err := h.iso.Kill(ctx(t), "dup", time.Second); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if e := h.waitExit("dup"); e.Reason != isolate.Killed {
		t.Errorf("got %+v; want killed", e)
	}
}

func (s suite) testInvalidID(t *testing.T) {
	h, _ := s.start(t, t.TempDir())
	for _, id := range []string{"", ".", "..", "a/b", "../escape", "/abs", "nl\nid", strings.Repeat("x", 201)} {
		if _, err := h.iso.Launch(ctx(t), isolate.LaunchSpec{TaskID: id, Cmd: "true"}); err == nil {
			t.Errorf("Launch with task id %q succeeded; want an error", id)
		}
	}
	if r := h.iso.Running(); len(r) != 0 {
		t.Errorf("Running = %+v after rejected launches; want none", r)
	}
	// The longest allowed id works.
	long := strings.Repeat("y", 200)
	h.launch(long, "true", nil, 0)
	if e := h.waitExit(long); e.Reason != isolate.Exited {
		t.Errorf("got %+v; want exited", e)
	}
}

func (s suite) testKillGraceful(t *testing.T) {
	h, _ := s.start(t, t.TempDir())
	ready := filepath.Join(t.TempDir(), "ready")
	const grace = 30 * time.Second
	h.launch("graceful", `trap 'exit 0' TERM; touch "$READY"; while :; do sleep 0.05; done`,
		map[string]string{"READY": ready}, grace)
	Eventually(t, exitTimeout, "task to trap SIGTERM", func() bool { _, err := os.Stat(ready); return err == nil })
	start := time.Now()
	if err := h.iso.Kill(ctx(t), "graceful", 0); err != nil { // 0: the grace from the spec
		t.Fatalf("Kill: %v", err)
	}
	if killDur := time.Since(start); killDur > time.Second {
		t.Errorf("Kill took %v; it must not wait for the task", killDur)
	}
	e := h.waitExit("graceful")
	if e.Reason != isolate.Killed {
		t.Errorf("got %v (%s); want killed", e.Reason, e.Message)
	}
	if el := time.Since(start); el > grace/2 {
		t.Errorf("task that exits on SIGTERM ended after %v; want well before the %v grace", el, grace)
	}
}

func (s suite) testKillEscalates(t *testing.T) {
	h, _ := s.start(t, t.TempDir())
	tmp := t.TempDir()
	childFile := filepath.Join(tmp, "child")
	const grace = 500 * time.Millisecond
	r := h.launch("stubborn", `trap '' TERM; sleep 1000 & echo $! > "$CHILD"; sleep 60`,
		map[string]string{"CHILD": childFile}, 30*time.Second)
	child := readPID(t, childFile)
	killAtCleanup(t, child)
	start := time.Now()
	if err := h.iso.Kill(ctx(t), "stubborn", grace); err != nil { // overrides the spec's grace
		t.Fatalf("Kill: %v", err)
	}
	e := h.waitExit("stubborn")
	el := time.Since(start)
	if e.Reason != isolate.Killed {
		t.Errorf("got %v (%s); want killed", e.Reason, e.Message)
	}
	if el < grace || el > 20*time.Second {
		t.Errorf("task ignoring SIGTERM ended after %v; want at least the %v grace and well under its 60s sleep", el, grace)
	}
	Eventually(t, 5*time.Second, "background child to die with the group", func() bool { return ProcessGone(child) })
	Eventually(t, 5*time.Second, "task process to be gone", func() bool { return ProcessGone(r.PID) })
	if err := h.iso.Kill(ctx(t), "stubborn", grace); !errors.Is(err, isolate.ErrUnknownTask) {
		t.Errorf("Kill after exit = %v; want ErrUnknownTask", err)
	}
}

func (s suite) testKillUnknown(t *testing.T) {
	h, _ := s.start(t, t.TempDir())
	if err := h.iso.Kill(ctx(t), "no-such-task", time.Second); !errors.Is(err, isolate.ErrUnknownTask) {
		t.Errorf("Kill of unknown task = %v; want ErrUnknownTask", err)
	}
	if _, err := h.iso.Usage(ctx(t), "no-such-task"); !errors.Is(err, isolate.ErrUnknownTask) {
		t.Errorf("Usage of unknown task = %v; want ErrUnknownTask", err)
	}
}

func (s suite) testSignaled(t *testing.T) {
	h, _ := s.start(t, t.TempDir())
	h.launch("suicide", `kill -KILL $$`, nil, 0)
	e := h.waitExit("suicide")
	if e.Reason != isolate.Signaled || e.Signal == "" || e.ExitCode != -1 {
		t.Errorf("got %+v; want signaled with a signal name and code -1", e)
	}
}

func (s suite) testRunning(t *testing.T) {
	h, _ := s.start(t, t.TempDir())
	a := h.launch("run-a", "sleep 30", nil, 0)
	b := h.launch("run-b", "sleep 30", nil, 0)
	ids := func() []string {
		var out []string
		for _, r := range h.iso.Running() {
			out = append(out, r.TaskID)
			if r.PID <= 0 {
				t.Errorf("Running entry %+v has no pid", r)
			}
		}
		slices.Sort(out)
		return out
	}
	if got := ids(); !slices.Equal(got, []string{"run-a", "run-b"}) {
		t.Fatalf("Running = %v; want [run-a run-b]", got)
	}
	for _, r := range h.iso.Running() {
		want := map[string]int{"run-a": a.PID, "run-b": b.PID}[r.TaskID]
		if r.PID != want {
			t.Errorf("Running %s pid = %d; want %d", r.TaskID, r.PID, want)
		}
	}
	if err := h.iso.Kill(ctx(t), "run-a", time.Second); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	h.waitExit("run-a")
	if got := ids(); !slices.Equal(got, []string{"run-b"}) {
		t.Errorf("Running = %v after run-a ended; want [run-b]", got)
	}
}

func (s suite) testUsage(t *testing.T) {
	h, _ := s.start(t, t.TempDir())
	h.launch("busy", "while :; do :; done", nil, 0)
	first, err := h.iso.Usage(ctx(t), "busy")
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	var last isolate.Usage
	Eventually(t, exitTimeout, "CPU time to grow by 0.1s", func() bool {
		last, err = h.iso.Usage(ctx(t), "busy")
		if err != nil {
			t.Fatalf("Usage: %v", err)
		}
		return last.CPUSeconds >= first.CPUSeconds+0.1
	})
	if last.MemBytes == 0 {
		t.Errorf("Usage %+v reports no resident memory", last)
	}
	if err := h.iso.Kill(ctx(t), "busy", time.Second); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	h.waitExit("busy")
}

func (s suite) testReadopt(t *testing.T) {
	dir := t.TempDir()
	h1, _ := s.start(t, dir)
	r := h1.launch("long", "sleep 30", nil, 30*time.Second)
	if err := h1.iso.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ProcessGone(r.PID) {
		t.Fatal("Close killed the task; it must keep running")
	}

	h2, rec := s.start(t, dir)
	if len(rec) != 1 || rec[0].TaskID != "long" || rec[0].PID != r.PID {
		t.Fatalf("Recover = %+v; want task long with pid %d", rec, r.PID)
	}
	if run := h2.iso.Running(); len(run) != 1 || run[0].TaskID != "long" {
		t.Fatalf("Running after Recover = %+v; want task long", run)
	}
	if _, err := h2.iso.Usage(ctx(t), "long"); err != nil {
		t.Errorf("Usage of re-adopted task: %v", err)
	}
	if err := h2.iso.Kill(ctx(t), "long", 200*time.Millisecond); err != nil {
		t.Fatalf("Kill of re-adopted task: %v", err)
	}
	if e := h2.waitExit("long"); e.Reason != isolate.Killed {
		t.Errorf("got %v (%s); want killed", e.Reason, e.Message)
	}
	Eventually(t, 5*time.Second, "re-adopted task to be gone", func() bool { return ProcessGone(r.PID) })
	if run := h2.iso.Running(); len(run) != 0 {
		t.Errorf("Running = %+v after the exit; want none", run)
	}
}

func (s suite) testEndedWhileClosed(t *testing.T) {
	dir := t.TempDir()
	goFile := filepath.Join(t.TempDir(), "go")
	h1, _ := s.start(t, dir)
	r := h1.launch("ends", `while [ ! -e "$GO" ]; do sleep 0.02; done; exit 7`, map[string]string{"GO": goFile}, 0)
	if err := h1.iso.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	Eventually(t, exitTimeout, "task to end", func() bool { return ProcessGone(r.PID) })

	h2, rec := s.start(t, dir)
	if len(rec) != 0 {
		t.Errorf("Recover = %+v; want no running task", rec)
	}
	e := h2.waitExit("ends")
	// A backend that keeps exit codes across restarts reports the code; one
	// that cannot reports the task lost.
	wantReason := isolate.Lost
	if h2.iso.Capabilities().ExitCodeAfterRestart {
		wantReason = isolate.Exited
	}
	if e.Reason != wantReason || (wantReason == isolate.Exited && e.ExitCode != 7) {
		t.Errorf("got %v code %d (%s); want %v", e.Reason, e.ExitCode, e.Message, wantReason)
	}
	if e.Reason == isolate.Lost && e.Message == "" {
		t.Error("lost exit carries no message saying why")
	}
}
