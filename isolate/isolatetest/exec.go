package isolatetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/isolate"
)

// testExec is the group for isolate.Execer: a command (a COMMAND health
// check) runs inside a running task's isolation, never on the host as the
// agent. Every backend implements Execer.
func (s suite) testExec(t *testing.T) {
	probe, _ := s.start(t, t.TempDir())
	enforcesMem := probe.iso.Capabilities().MemLimit
	t.Run("ReportsExitCodeAndOutput", s.testExecExitCodes)
	t.Run("OutputIsTheTailOfALongOutput", s.testExecOutputTail)
	t.Run("RunsInTheTasksSandboxWithItsEnv", s.testExecEnv)
	t.Run("RunsAsTheTasksUser", s.testExecUser)
	t.Run("KillsItsWholeGroupWhenCtxEnds", s.testExecCancel)
	t.Run("LeavesNoProcessBehind", s.testExecLeftovers)
	t.Run("OfATaskNotRunningIsErrNotRunning", s.testExecNotRunning)
	if enforcesMem { // the process backend enforces no limits
		t.Run("StaysInsideTheTasksMemoryLimit", s.testExecMemLimit)
	}
	t.Run("WorksOnARecoveredTask", s.testExecRecovered)
	t.Run("LogsItsLatency", s.testExecLatency)
}

// execHarness is a started backend that implements Execer.
type execHarness struct {
	*harness
	ex isolate.Execer
}

func (s suite) startExec(t *testing.T, dir string) execHarness {
	t.Helper()
	h, _ := s.start(t, dir)
	ex, ok := h.iso.(isolate.Execer)
	if !ok {
		t.Fatalf("the %s backend does not implement isolate.Execer: COMMAND health checks cannot run on it", h.iso.Name())
	}
	return execHarness{harness: h, ex: ex}
}

// target is a running task to Exec in, with what it saw of itself.
type target struct {
	id      string
	pid     int
	pwd     string // its working directory, symlinks resolved
	sandbox string // its $CLUSTERD_SANDBOX
	uid     string
	gid     string
}

// launchTarget starts a task that records its own working directory,
// sandbox, uid and gid in a file outside its sandbox, then sleeps.
func (h execHarness) launchTarget(spec isolate.LaunchSpec) target {
	h.t.Helper()
	self := filepath.Join(h.t.TempDir(), "self")
	spec.Env = withEnv(spec.Env, "SELF", self)
	spec.Cmd = `{ pwd -P; echo "$CLUSTERD_SANDBOX"; id -u; id -g; } > "$SELF.tmp" && mv "$SELF.tmp" "$SELF"; exec sleep 60`
	spec.KillGrace = time.Second
	r := h.launchSpec(spec)
	var lines []string
	Eventually(h.t, exitTimeout, "task "+spec.TaskID+" to record itself", func() bool {
		b, err := os.ReadFile(self)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return err == nil && len(lines) == 4
	})
	return target{id: spec.TaskID, pid: r.PID, pwd: lines[0], sandbox: lines[1], uid: lines[2], gid: lines[3]}
}

// withEnv is m with k=v added, m unchanged.
func withEnv(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for mk, mv := range m {
		out[mk] = mv
	}
	return out
}

// exec runs command in task id and fails the test on an error.
func (h execHarness) exec(id, command string) (int, string) {
	h.t.Helper()
	code, out, err := h.ex.Exec(ctx(h.t), id, command)
	if err != nil {
		h.t.Fatalf("Exec %q in task %s: %v (output %q)", command, id, err, out)
	}
	return code, out
}

func (s suite) testExecExitCodes(t *testing.T) {
	h := s.startExec(t, t.TempDir())
	tg := h.launchTarget(isolate.LaunchSpec{TaskID: "exec-codes"})
	for _, c := range []struct {
		cmd  string
		code int
		out  string
	}{
		{`echo to-stdout; echo to-stderr >&2; exit 0`, 0, "to-stdout\nto-stderr\n"},
		{`exit 3`, 3, ""},
		{`echo dying; kill -KILL $$`, 128 + 9, "dying\n"},
	} {
		code, out := h.exec(tg.id, c.cmd)
		if code != c.code || out != c.out {
			t.Errorf("Exec %q = code %d, output %q; want code %d, output %q", c.cmd, code, out, c.code, c.out)
		}
	}
}

func (s suite) testExecOutputTail(t *testing.T) {
	h := s.startExec(t, t.TempDir())
	tg := h.launchTarget(isolate.LaunchSpec{TaskID: "exec-tail"})
	// About 108 KiB: more than a pipe holds, so the output must be read
	// while the command runs.
	var want strings.Builder
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	want.WriteString("the-end\n")
	full := want.String()
	code, out := h.exec(tg.id, `seq 1 20000; echo the-end >&2`)
	if code != 0 {
		t.Fatalf("Exec exited %d; want 0 (output %q)", code, out)
	}
	if len(out) != isolate.MaxExecOutput || out != full[len(full)-isolate.MaxExecOutput:] {
		t.Errorf("Exec output is %d bytes ending %q; want the last %d bytes of the %d written, ending %q",
			len(out), out[max(0, len(out)-40):], isolate.MaxExecOutput, len(full), full[len(full)-40:])
	}
}

func (s suite) testExecEnv(t *testing.T) {
	h := s.startExec(t, t.TempDir())
	tg := h.launchTarget(isolate.LaunchSpec{TaskID: "exec-env", Env: map[string]string{"FOO": "bar", "SPACED": "a b  c"}})
	code, out := h.exec(tg.id, `echo "FOO=$FOO"; echo "SPACED=$SPACED"; echo "ID=$CLUSTERD_TASK_ID"; `+
		`echo "SANDBOX=$CLUSTERD_SANDBOX"; echo "PWD=$(pwd -P)"`)
	if code != 0 {
		t.Fatalf("Exec exited %d; want 0 (output %q)", code, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	for k, want := range map[string]string{"FOO": "bar", "SPACED": "a b  c", "ID": tg.id, "SANDBOX": tg.sandbox, "PWD": tg.pwd} {
		if got[k] != want {
			t.Errorf("in Exec, %s = %q; want the task's %q (output %q)", k, got[k], want, out)
		}
	}
}

func (s suite) testExecUser(t *testing.T) {
	h := s.startExec(t, t.TempDir())
	tg := h.launchTarget(isolate.LaunchSpec{TaskID: "exec-user"})
	code, out := h.exec(tg.id, `id -u; id -g`)
	if code != 0 || out != tg.uid+"\n"+tg.gid+"\n" {
		t.Errorf("Exec `id -u; id -g` = code %d, %q; want the task's uid %s and gid %s", code, out, tg.uid, tg.gid)
	}
	t.Logf("task and Exec run as uid %s gid %s", tg.uid, tg.gid)
}

func (s suite) testExecCancel(t *testing.T) {
	h := s.startExec(t, t.TempDir())
	tg := h.launchTarget(isolate.LaunchSpec{TaskID: "exec-cancel"})
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	type result struct {
		code int
		out  string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		code, out, err := h.ex.Exec(c, tg.id, `sleep 300 & echo $! > exec-bg.pid; echo started; wait`)
		res <- result{code, out, err}
	}()
	bg := readPID(t, filepath.Join(tg.pwd, "exec-bg.pid"))
	killAtCleanup(t, bg)
	start := time.Now()
	cancel()
	var r result
	select {
	case r = <-res:
	case <-time.After(exitTimeout):
		t.Fatalf("Exec did not return within %v of its ctx ending", exitTimeout)
	}
	el := time.Since(start)
	if !errors.Is(r.err, context.Canceled) || r.code != -1 {
		t.Errorf("Exec after ctx ended = code %d, %v; want -1 and an error wrapping context.Canceled", r.code, r.err)
	}
	if el > 3*time.Second {
		t.Errorf("Exec returned %v after its ctx ended; want soon after", el)
	}
	Eventually(t, 2*time.Second, "the command's background sleep to be killed", func() bool { return ProcessGone(bg) })
	t.Logf("Exec returned %v after ctx ended, output %q", el.Round(time.Millisecond), r.out)
}

func (s suite) testExecLeftovers(t *testing.T) {
	h := s.startExec(t, t.TempDir())
	tg := h.launchTarget(isolate.LaunchSpec{TaskID: "exec-left"})
	start := time.Now()
	// The sleep keeps the output pipe open: Exec must not wait for it.
	code, out := h.exec(tg.id, `sleep 300 & echo $! > exec-left.pid; echo done`)
	el := time.Since(start)
	if code != 0 || out != "done\n" {
		t.Errorf("Exec = code %d, %q; want 0, %q", code, out, "done\n")
	}
	if el > 5*time.Second {
		t.Errorf("Exec took %v: it waited for a background child", el)
	}
	bg := readPID(t, filepath.Join(tg.pwd, "exec-left.pid"))
	killAtCleanup(t, bg)
	Eventually(t, 2*time.Second, "the command's background sleep to be killed", func() bool { return ProcessGone(bg) })
}

func (s suite) testExecNotRunning(t *testing.T) {
	h := s.startExec(t, t.TempDir())
	marker := filepath.Join(t.TempDir(), "ran")
	if _, _, err := h.ex.Exec(ctx(t), "no-such-task", "touch "+marker); !errors.Is(err, isolate.ErrNotRunning) {
		t.Errorf("Exec in an unknown task = %v; want ErrNotRunning", err)
	}
	h.launch("exec-ended", "exit 0", nil, 0)
	h.waitExit("exec-ended")
	if _, _, err := h.ex.Exec(ctx(t), "exec-ended", "touch "+marker); !errors.Is(err, isolate.ErrNotRunning) {
		t.Errorf("Exec in a task that ended = %v; want ErrNotRunning", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran although the task is not running")
	}
}

func (s suite) testExecMemLimit(t *testing.T) {
	h := s.startExec(t, t.TempDir())
	tg := h.launchTarget(isolate.LaunchSpec{TaskID: "exec-mem", Limits: isolate.Limits{MemMiB: 32}})
	// tail holds its whole input when it has no newline.
	if code, out := h.exec(tg.id, `head -c 1M /dev/zero | tail | wc -c`); code != 0 || strings.TrimSpace(out) != "1048576" {
		t.Fatalf("Exec holding 1 MiB = code %d, %q; want 0, 1048576", code, out)
	}
	code, out := h.exec(tg.id, `head -c 200M /dev/zero | tail >/dev/null`)
	if code == 0 {
		t.Errorf("Exec holding 200 MiB in a task limited to 32 MiB = code 0, %q; want it killed", out)
	}
	t.Logf("Exec holding 200 MiB under a 32 MiB limit: code %d, output %q", code, out)
	// Where the check shares the task's cgroup, its OOM kill may have ended
	// the task (as the task's own would): wait for the end either way.
	if err := h.iso.Kill(ctx(t), tg.id, 200*time.Millisecond); err != nil && !errors.Is(err, isolate.ErrUnknownTask) {
		t.Fatalf("Kill: %v", err)
	}
	e := h.waitExit(tg.id)
	t.Logf("the task then ended: %v (%s)", e.Reason, e.Message)
}

func (s suite) testExecRecovered(t *testing.T) {
	dir := t.TempDir()
	h1 := s.startExec(t, dir)
	tg := h1.launchTarget(isolate.LaunchSpec{TaskID: "exec-recovered", Env: map[string]string{"FOO": "bar"}})
	if err := h1.iso.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	h2 := s.startExec(t, dir)
	if run := h2.iso.Running(); len(run) != 1 || run[0].TaskID != tg.id {
		t.Fatalf("Running after Recover = %+v; want task %s", run, tg.id)
	}
	code, out := h2.exec(tg.id, `echo "$FOO"; pwd -P; id -u`)
	if want := "bar\n" + tg.pwd + "\n" + tg.uid + "\n"; code != 0 || out != want {
		t.Errorf("Exec in the re-adopted task = code %d, %q; want 0, %q", code, out, want)
	}
	if err := h2.iso.Kill(ctx(t), tg.id, 200*time.Millisecond); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	h2.waitExit(tg.id)
}

func (s suite) testExecLatency(t *testing.T) {
	h := s.startExec(t, t.TempDir())
	tg := h.launchTarget(isolate.LaunchSpec{TaskID: "exec-latency", Limits: isolate.Limits{CPUs: 1, MemMiB: 256}})
	const n = 20
	var lat []time.Duration
	for range n {
		start := time.Now()
		if code, out := h.exec(tg.id, "true"); code != 0 {
			t.Fatalf("Exec true = code %d, %q", code, out)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("%s: Exec of `true`, %d in a row: p50 %v, p90 %v, max %v", h.iso.Name(), n,
		lat[n/2].Round(time.Microsecond), lat[n*9/10].Round(time.Microsecond), lat[n-1].Round(time.Microsecond))
}
