package isolate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/isolate"
	"github.com/clusterd/clusterd/isolate/isolatetest"
)

func newProcess(t testing.TB, dir string) *isolate.Process {
	t.Helper()
	p, err := isolate.NewProcess(isolate.ProcessConfig{Dir: dir})
	if err != nil {
		t.Fatalf("NewProcess: %v", err)
	}
	return p
}

func TestProcessPassesConformanceSuite(t *testing.T) {
	isolatetest.Run(t, func(t *testing.T, dir string) isolate.Isolator { return newProcess(t, dir) })
}

// recv waits for the next exit.
func recv(t testing.TB, p *isolate.Process) isolate.Exit {
	t.Helper()
	select {
	case e, ok := <-p.Exits():
		if !ok {
			t.Fatal("Exits closed")
		}
		return e
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15s")
	}
	return isolate.Exit{}
}

func started(t *testing.T, p *isolate.Process) {
	t.Helper()
	t.Cleanup(func() { p.Close() })
	if _, err := p.Recover(context.Background()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
}

func launch(t *testing.T, p *isolate.Process, id, cmd string) isolate.Running {
	t.Helper()
	r, err := p.Launch(context.Background(), isolate.LaunchSpec{TaskID: id, Cmd: cmd, KillGrace: 2 * time.Second})
	if err != nil {
		t.Fatalf("Launch %s: %v", id, err)
	}
	t.Cleanup(func() {
		// Close first: a watching isolator would record the exit this kill
		// causes while t.TempDir is being removed.
		p.Close()
		syscall.Kill(-r.PID, syscall.SIGKILL)
	})
	return r
}

func TestProcessCheckpointsTaskBeforeLaunchReturnsAndExitWhenItEnds(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p, err := isolate.NewProcess(isolate.ProcessConfig{Dir: dir, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	started(t, p)
	r := launch(t, p, "cp", "exit 3")
	var cp struct {
		PID         int       `json:"pid"`
		StartTicks  uint64    `json:"start_ticks"`
		KillGraceMS int64     `json:"kill_grace_ms"`
		LaunchedAt  time.Time `json:"launched_at"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "tasks", "cp", "task.json"))
	if err != nil {
		t.Fatalf("task.json missing right after Launch: %v", err)
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	if cp.PID != r.PID || cp.StartTicks == 0 || cp.KillGraceMS != 2000 || !cp.LaunchedAt.Equal(now) {
		t.Errorf("task.json = %s; want pid %d, start ticks, 2000ms grace, launch time %v", b, r.PID, now)
	}
	e := recv(t, p)
	if e.Reason != isolate.Exited || e.ExitCode != 3 || !e.Time.Equal(now) {
		t.Errorf("exit = %+v; want exited 3 stamped %v", e, now)
	}
	var ex struct {
		Reason   string `json:"reason"`
		ExitCode int    `json:"exit_code"`
	}
	b, err = os.ReadFile(filepath.Join(dir, "tasks", "cp", "exit.json"))
	if err != nil {
		t.Fatalf("exit.json missing after the exit was delivered: %v", err)
	}
	if err := json.Unmarshal(b, &ex); err != nil || ex.Reason != "exited" || ex.ExitCode != e.ExitCode {
		t.Errorf("exit.json = %s (%v); want reason exited code %d", b, err, e.ExitCode)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "tasks", "cp", ".*tmp*")); len(tmp) != 0 {
		t.Errorf("temporary checkpoint files left: %v", tmp)
	}
}

func TestProcessReportsKilledEvenWhenTaskExits143OnSIGTERM(t *testing.T) {
	p := newProcess(t, t.TempDir())
	started(t, p)
	ready := filepath.Join(t.TempDir(), "ready")
	_, err := p.Launch(context.Background(), isolate.LaunchSpec{
		TaskID: "t143", Cmd: `trap 'exit 143' TERM; touch "$READY"; while :; do sleep 0.05; done`,
		Env: map[string]string{"READY": ready}, KillGrace: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFile(t, ready)
	if err := p.Kill(context.Background(), "t143", 0); err != nil {
		t.Fatal(err)
	}
	if e := recv(t, p); e.Reason != isolate.Killed || e.ExitCode != -1 || !strings.Contains(e.Message, "143") {
		t.Errorf("exit = %+v; want killed, code -1, a message naming 143", e)
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	isolatetest.Eventually(t, 10*time.Second, path+" to appear", func() bool { _, err := os.Stat(path); return err == nil })
}

func TestProcessRecoverRedeliversExitUntilRemoved(t *testing.T) {
	dir := t.TempDir()
	p := newProcess(t, dir)
	started(t, p)
	launch(t, p, "done", "exit 5")
	if e := recv(t, p); e.ExitCode != 5 {
		t.Fatalf("exit = %+v; want code 5", e)
	}
	p.Close()

	p2 := newProcess(t, dir)
	started(t, p2)
	if e := recv(t, p2); e.TaskID != "done" || e.Reason != isolate.Exited || e.ExitCode != 5 {
		t.Errorf("re-delivered exit = %+v; want done exited 5", e)
	}
	if err := p2.Remove("done"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tasks", "done")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("task dir still there after Remove: %v", err)
	}
	p2.Close()

	p3 := newProcess(t, dir)
	started(t, p3)
	// A sentinel task proves the queue holds nothing older.
	launch(t, p3, "sentinel", "true")
	if e := recv(t, p3); e.TaskID != "sentinel" {
		t.Errorf("got exit %+v after Remove; want only the sentinel", e)
	}
}

func TestProcessRemoveRefusesRunningTask(t *testing.T) {
	p := newProcess(t, t.TempDir())
	started(t, p)
	launch(t, p, "busy", "sleep 30")
	if err := p.Remove("busy"); err == nil {
		t.Error("Remove of a running task succeeded; want an error")
	}
	if err := p.Remove("../x"); !errors.Is(err, isolate.ErrInvalidTaskID) {
		t.Errorf("Remove(../x) = %v; want ErrInvalidTaskID", err)
	}
}

func TestProcessRecoverReportsReusedPidLost(t *testing.T) {
	dir := t.TempDir()
	p := newProcess(t, dir)
	started(t, p)
	r := launch(t, p, "reused", "sleep 30")
	p.Close()
	// Pretend the pid now belongs to another process: change the recorded
	// start time.
	path := filepath.Join(dir, "tasks", "reused", "task.json")
	var cp map[string]any
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	cp["start_ticks"] = 1
	b, _ = json.Marshal(cp)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}

	p2 := newProcess(t, dir)
	t.Cleanup(func() { p2.Close() })
	rec, err := p2.Recover(context.Background())
	if err != nil || len(rec) != 0 {
		t.Fatalf("Recover = %+v, %v; want nothing re-adopted", rec, err)
	}
	e := recv(t, p2)
	if e.TaskID != "reused" || e.Reason != isolate.Lost || !strings.Contains(e.Message, "agent restarted") {
		t.Errorf("exit = %+v; want reused lost, saying the agent restarted", e)
	}
	if err := syscall.Kill(r.PID, 0); err != nil {
		t.Errorf("the process that now holds the pid was signalled: %v", err)
	}
}

func TestProcessLaunchAndKillDoNotWaitForExitsReader(t *testing.T) {
	p := newProcess(t, t.TempDir())
	started(t, p)
	const n = 150 // more than the channel's buffer
	for i := range n {
		launch(t, p, fmt.Sprintf("t%d", i), "true")
	}
	seen := map[string]bool{}
	for range n {
		seen[recv(t, p).TaskID] = true
	}
	if len(seen) != n {
		t.Errorf("got %d distinct exits; want %d", len(seen), n)
	}
}

func TestProcessCloseClosesExitsAndKeepsTasksRunning(t *testing.T) {
	p := newProcess(t, t.TempDir())
	started(t, p)
	r := launch(t, p, "keep", "sleep 30")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case e, ok := <-p.Exits():
		if ok {
			t.Errorf("Exits delivered %+v after Close; want it closed", e)
		}
	case <-time.After(5 * time.Second):
		t.Error("Exits not closed by Close")
	}
	if err := syscall.Kill(r.PID, 0); err != nil {
		t.Errorf("task died on Close: %v", err)
	}
	if _, err := p.Launch(context.Background(), isolate.LaunchSpec{TaskID: "late", Cmd: "true"}); err == nil {
		t.Error("Launch after Close succeeded")
	}
}

func TestProcessLaunchRefusesUnrecoveredCheckpoint(t *testing.T) {
	dir := t.TempDir()
	p := newProcess(t, dir)
	started(t, p)
	launch(t, p, "orphan", "sleep 30")
	p.Close()
	p2 := newProcess(t, dir) // no Recover
	t.Cleanup(func() { p2.Close() })
	if _, err := p2.Launch(context.Background(), isolate.LaunchSpec{TaskID: "orphan", Cmd: "true"}); err == nil {
		t.Error("Launch over an unrecovered running task's checkpoint succeeded")
	}
}

func TestProcessRelaunchOfFinishedTaskIDStartsFresh(t *testing.T) {
	p := newProcess(t, t.TempDir())
	started(t, p)
	launch(t, p, "again", "echo one; exit 1")
	if e := recv(t, p); e.ExitCode != 1 {
		t.Fatalf("exit = %+v", e)
	}
	launch(t, p, "again", "echo two")
	if e := recv(t, p); e.ExitCode != 0 {
		t.Fatalf("exit = %+v", e)
	}
	if b, _ := os.ReadFile(p.LogPath("again", "stdout")); string(b) != "one\ntwo\n" {
		t.Errorf("stdout = %q; want both runs appended", b)
	}
}

func TestProcessKillsChildrenLeftBehindWhenTaskExits(t *testing.T) {
	p := newProcess(t, t.TempDir())
	started(t, p)
	childFile := filepath.Join(t.TempDir(), "child")
	if _, err := p.Launch(context.Background(), isolate.LaunchSpec{
		TaskID: "leaky", Cmd: `sleep 1000 & echo $! > "$CHILD"; exit 0`, Env: map[string]string{"CHILD": childFile},
	}); err != nil {
		t.Fatal(err)
	}
	if e := recv(t, p); e.Reason != isolate.Exited || e.ExitCode != 0 {
		t.Fatalf("exit = %+v", e)
	}
	b, err := os.ReadFile(childFile)
	if err != nil {
		t.Fatal(err)
	}
	var child int
	fmt.Sscan(string(b), &child)
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	isolatetest.Eventually(t, 5*time.Second, "background child to die", func() bool { return isolatetest.ProcessGone(child) })
}

func TestOpenSelectsBackend(t *testing.T) {
	ctx := context.Background()
	iso, why, err := isolate.Open(ctx, "process", isolate.ProcessConfig{Dir: t.TempDir()})
	if err != nil || iso.Name() != "process" || !strings.Contains(why, "process") {
		t.Fatalf("Open(process) = %v, %q, %v", iso, why, err)
	}
	iso.Close()
	// auto never fails where the process backend works, and says why it
	// chose what it chose.
	iso, why, err = isolate.Open(ctx, "auto", isolate.ProcessConfig{Dir: t.TempDir()})
	if err != nil || why == "" || !strings.Contains(why, "auto") {
		t.Fatalf("Open(auto) = %v, %q, %v", iso, why, err)
	}
	t.Logf("auto chose %s: %s", iso.Name(), why)
	iso.Close() // a cgroupfs backend removes its (empty) parent cgroup
	if _, _, err := isolate.Open(ctx, "docker", isolate.ProcessConfig{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("Open(docker) = %v", err)
	}
	if _, _, err := isolate.Open(ctx, "process", isolate.ProcessConfig{}); err == nil {
		t.Error("Open without a Dir succeeded")
	}
}

func TestProcessRemovesThroughRemover(t *testing.T) {
	var iso isolate.Isolator = newProcess(t, t.TempDir())
	defer iso.Close()
	if _, ok := iso.(isolate.Remover); !ok {
		t.Error("process backend does not implement isolate.Remover")
	}
}

func TestProcessCapabilities(t *testing.T) {
	c := newProcess(t, t.TempDir()).Capabilities()
	if c != (isolate.Capabilities{SurvivesAgentRestart: true}) {
		t.Errorf("Capabilities = %+v", c)
	}
}

func TestDetectFindsThisMachinesResources(t *testing.T) {
	data := filepath.Join(t.TempDir(), "not", "yet", "there")
	r, err := isolate.Detect(data)
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	if r.CPUs <= 0 {
		t.Errorf("CPUs = %v; want > 0", r.CPUs)
	}
	if r.MemMiB <= 0 || r.DiskMiB <= 0 {
		t.Errorf("MemMiB = %v, DiskMiB = %v; want both > 0", r.MemMiB, r.DiskMiB)
	}
	if len(r.Ports) != 1 || r.Ports[0] != (isolate.PortRange{Begin: 31000, End: 32000}) {
		t.Errorf("Ports = %v; want [31000-32000]", r.Ports)
	}
	if _, err := os.Stat(data); err != nil {
		t.Errorf("data dir not created: %v", err)
	}
	t.Logf("detected %+v", r)
}

func TestDetectMeasuresNearestParentOfUncreatableDataDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := isolate.Detect(filepath.Join(f, "sub")) // under a regular file: cannot be created
	if err != nil || r.DiskMiB <= 0 {
		t.Errorf("Detect = %+v, %v; want the parent's disk space", r, err)
	}
}

// BenchmarkProcessLaunchTrue launches /bin/true and receives its exit;
// launch-ns/op is the time spent in Launch alone.
func BenchmarkProcessLaunchTrue(b *testing.B) {
	p := newProcess(b, b.TempDir())
	defer p.Close()
	ctx := context.Background()
	var launching time.Duration
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("true-%d", i)
		start := time.Now()
		if _, err := p.Launch(ctx, isolate.LaunchSpec{TaskID: id, Cmd: "/bin/true"}); err != nil {
			b.Fatal(err)
		}
		launching += time.Since(start)
		if e := recv(b, p); e.TaskID != id || e.ExitCode != 0 {
			b.Fatalf("exit = %+v", e)
		}
	}
	b.ReportMetric(float64(launching.Nanoseconds())/float64(b.N), "launch-ns/op")
}

// An agent killed between starting a task and checkpointing it must not
// leave the task running unrecorded: the next Launch of the task (the
// cluster still wants it) would make it run twice. The fault suite found
// this with a crash point; here the agent is a child process of the test
// that SIGKILLs itself as the checkpoint is about to be written.
func TestProcessTaskOfAnAgentKilledBeforeItsCheckpointNeverRuns(t *testing.T) {
	if dir := os.Getenv("ISOLATE_TEST_DIE_AT_CHECKPOINT"); dir != "" {
		p := newProcess(t, dir)
		isolate.CheckpointHook = func(after bool) {
			if !after {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
		_, err := p.Launch(context.Background(), isolate.LaunchSpec{TaskID: "t1", Cmd: `touch "$MARKER"; exec sleep 60`,
			Env: map[string]string{"MARKER": os.Getenv("ISOLATE_TEST_MARKER")}})
		t.Fatalf("the agent outlived its checkpoint write: %v", err)
	}
	dir := t.TempDir()
	marker := filepath.Join(t.TempDir(), "ran")
	sandbox := filepath.Join(dir, "tasks", "t1", "sandbox")
	t.Cleanup(func() {
		for _, pid := range procsInSandbox(sandbox) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	})
	agent := exec.Command(os.Args[0], "-test.run=^TestProcessTaskOfAnAgentKilledBeforeItsCheckpointNeverRuns$")
	agent.Env = append(os.Environ(), "ISOLATE_TEST_DIE_AT_CHECKPOINT="+dir, "ISOLATE_TEST_MARKER="+marker)
	out, err := agent.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the agent was to die of SIGKILL at its checkpoint: %v\n%s", err, out)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && len(procsInSandbox(sandbox)) > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	if pids := procsInSandbox(sandbox); len(pids) > 0 {
		t.Fatalf("the unrecorded task is still running (pids %v) after its agent died", pids)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the unrecorded task's command ran")
	}

	// The restarted agent knows nothing of it and launches it: one copy.
	p := newProcess(t, dir)
	if running, err := p.Recover(context.Background()); err != nil || len(running) != 0 {
		t.Fatalf("Recover: %v %v, want nothing to re-adopt", running, err)
	}
	if _, err := p.Launch(context.Background(), isolate.LaunchSpec{TaskID: "t1", Cmd: `touch "$MARKER"; exec sleep 60`,
		Env: map[string]string{"MARKER": marker}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(marker); err == nil {
			break
		}
	}
	if pids := procsInSandbox(sandbox); len(pids) != 1 {
		t.Fatalf("after the relaunch the task runs as %v, want one process", pids)
	}
	if err := p.Kill(context.Background(), "t1", time.Second); err != nil {
		t.Fatal(err)
	}
}

// procsInSandbox lists the processes whose CLUSTERD_SANDBOX is sandbox.
func procsInSandbox(sandbox string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == "CLUSTERD_SANDBOX="+sandbox {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
