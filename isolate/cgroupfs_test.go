package isolate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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
	"github.com/clusterd/clusterd/isolate/isolatetest"
)

// cgroupRoot is the real hierarchy the cgroupfs tests run against.
const cgroupRoot = "/sys/fs/cgroup"

// testParent returns a fresh Parent cgroup name for one test, and removes
// it (killing anything left in it, rmdir only) when the test ends, also on
// failure. It skips the test where cgroups are not writable here.
func testParent(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("cgroupfs tests need root")
	}
	v, writable, why := isolate.DetectCgroups(cgroupRoot)
	if !writable {
		t.Skipf("cgroups not usable here: %s", why)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	parent := "clusterd-test-" + hex.EncodeToString(b)
	var dirs []string
	if v == 2 {
		dirs = []string{filepath.Join(cgroupRoot, parent)}
	} else {
		for _, c := range []string{"cpu", "cpuacct", "memory", "pids"} {
			dirs = append(dirs, filepath.Join(cgroupRoot, c, parent))
		}
	}
	t.Cleanup(func() {
		for _, d := range dirs {
			removeCgroupTree(t, d)
		}
	})
	return parent
}

// removeCgroupTree kills every process in the cgroups under dir and removes
// them, deepest first, with rmdir.
func removeCgroupTree(t testing.TB, dir string) {
	var subs []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			subs = append(subs, path)
		}
		return nil
	})
	for i := len(subs) - 1; i >= 0; i-- {
		d := subs[i]
		deadline := time.Now().Add(5 * time.Second)
		for {
			for _, pid := range cgroupPids(d) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			err := syscall.Rmdir(d)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("cannot remove test cgroup %s: %v", d, err)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func cgroupPids(dir string) []int {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

func newCgroupfs(t testing.TB, dir, parent string, pidsMax int) *isolate.Cgroupfs {
	t.Helper()
	c, err := isolate.NewCgroupfs(isolate.CgroupConfig{
		Process: isolate.ProcessConfig{Dir: dir},
		Root:    cgroupRoot,
		Parent:  parent,
		PidsMax: pidsMax,
	})
	if err != nil {
		t.Fatalf("NewCgroupfs: %v", err)
	}
	return c
}

func TestCgroupfsPassesConformanceSuite(t *testing.T) {
	parent := testParent(t)
	isolatetest.Run(t, func(t *testing.T, dir string) isolate.Isolator { return newCgroupfs(t, dir, parent, 0) })
}

// cgHarness is one started cgroupfs backend on a fresh parent cgroup.
type cgHarness struct {
	t   *testing.T
	c   *isolate.Cgroupfs
	dir string
}

func startCgroupfs(t *testing.T, pidsMax int) *cgHarness {
	t.Helper()
	parent := testParent(t)
	h := &cgHarness{t: t, dir: t.TempDir()}
	h.c = newCgroupfs(t, h.dir, parent, pidsMax)
	t.Cleanup(func() { h.c.Close() })
	if _, err := h.c.Recover(context.Background()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return h
}

func (h *cgHarness) launch(id, cmd string, lim isolate.Limits, env map[string]string) isolate.Running {
	h.t.Helper()
	r, err := h.c.Launch(context.Background(), isolate.LaunchSpec{TaskID: id, Cmd: cmd, Limits: lim, Env: env, KillGrace: time.Second})
	if err != nil {
		h.t.Fatalf("Launch %s: %v", id, err)
	}
	h.t.Cleanup(func() {
		h.c.Close()
		syscall.Kill(-r.PID, syscall.SIGKILL)
	})
	return r
}

func (h *cgHarness) recv() isolate.Exit {
	h.t.Helper()
	select {
	case e, ok := <-h.c.Exits():
		if !ok {
			h.t.Fatal("Exits closed")
		}
		return e
	case <-time.After(30 * time.Second):
		h.t.Fatal("no exit within 30s")
	}
	return isolate.Exit{}
}

// file returns a file of the task's cgroup for controller (v1) or of its
// only cgroup (v2).
func (h *cgHarness) file(id, controller, name string) string {
	dirs := h.c.CgroupDirs(id)
	if h.c.CgroupVersion() == 2 {
		return filepath.Join(dirs[0], name)
	}
	for _, d := range dirs {
		if strings.Contains(d, "/"+controller+"/") {
			return filepath.Join(d, name)
		}
	}
	h.t.Fatalf("task %s has no %s cgroup among %v", id, controller, dirs)
	return ""
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return strings.TrimSpace(string(b))
}

// expectCgroupGone waits for every cgroup directory of task id to be removed.
func (h *cgHarness) expectCgroupGone(id string) {
	h.t.Helper()
	isolatetest.Eventually(h.t, 10*time.Second, "cgroup of task "+id+" to be removed", func() bool {
		for _, d := range h.c.CgroupDirs(id) {
			if _, err := os.Stat(d); err == nil {
				return false
			}
		}
		return true
	})
}

func TestCgroupfsWritesLimitsBeforeTheTaskRunsAndRemovesCgroupAfterKill(t *testing.T) {
	h := startCgroupfs(t, 100)
	tmp := t.TempDir()
	child := filepath.Join(tmp, "child")
	// The task forks at once: the child must be born inside the cgroup.
	r := h.launch("limits", `sleep 60 & echo $! > "$CHILD"; wait`,
		isolate.Limits{CPUs: 0.5, MemMiB: 64}, map[string]string{"CHILD": child})
	if h.c.CgroupVersion() != 1 {
		t.Skip("this machine's limit files are checked on v1; v2 is covered by the fake-tree tests")
	}
	want := map[[2]string]string{
		{"cpu", "cpu.cfs_period_us"}:              "100000",
		{"cpu", "cpu.cfs_quota_us"}:               "50000",
		{"memory", "memory.limit_in_bytes"}:       strconv.Itoa(64 << 20),
		{"memory", "memory.memsw.limit_in_bytes"}: strconv.Itoa(64 << 20),
		{"pids", "pids.max"}:                      "100",
	}
	for k, v := range want {
		f := h.file("limits", k[0], k[1])
		if k[1] == "memory.memsw.limit_in_bytes" {
			if _, err := os.Stat(f); err != nil {
				continue // no swap accounting in this kernel
			}
		}
		if got := readTrim(t, f); got != v {
			t.Errorf("%s = %s; want %s", f, got, v)
		}
	}
	var childPID int
	isolatetest.Eventually(t, 10*time.Second, "child pid file", func() bool {
		b, err := os.ReadFile(child)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		childPID, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	for _, d := range h.c.CgroupDirs("limits") {
		pids := cgroupPids(d)
		for _, pid := range []int{r.PID, childPID} {
			found := false
			for _, p := range pids {
				found = found || p == pid
			}
			if !found {
				t.Errorf("pid %d not in %s/cgroup.procs (%v)", pid, d, pids)
			}
		}
		// The agent's thread that forked the task went back home.
		tasks, _ := os.ReadFile(filepath.Join(d, "tasks"))
		for _, f := range strings.Fields(string(tasks)) {
			status, _ := os.ReadFile("/proc/" + f + "/status")
			if strings.Contains(string(status), "\nTgid:\t"+strconv.Itoa(os.Getpid())+"\n") {
				t.Errorf("agent thread %s left in task cgroup %s", f, d)
			}
		}
	}
	// task.json records the cgroups, so that Recover finds them.
	var cp struct {
		CgroupVersion int               `json:"cgroup_version"`
		Cgroups       map[string]string `json:"cgroups"`
	}
	b, err := os.ReadFile(filepath.Join(h.dir, "tasks", "limits", "task.json"))
	if err != nil || json.Unmarshal(b, &cp) != nil {
		t.Fatalf("read task.json: %v", err)
	}
	if cp.CgroupVersion != 1 || cp.Cgroups["memory"] != filepath.Dir(h.file("limits", "memory", "x")) {
		t.Errorf("task.json cgroups = %d %v; want v1 with the memory cgroup", cp.CgroupVersion, cp.Cgroups)
	}

	if err := h.c.Kill(context.Background(), "limits", 500*time.Millisecond); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if e := h.recv(); e.Reason != isolate.Killed || e.Limitation != "" {
		t.Errorf("got %+v; want killed without a limitation", e)
	}
	h.expectCgroupGone("limits")
	if !isolatetest.ProcessGone(childPID) {
		t.Errorf("child %d outlived its task", childPID)
	}
}

func TestCgroupfsReportsTaskOverItsMemoryAsMemoryLimitation(t *testing.T) {
	h := startCgroupfs(t, 0)
	// tail buffers its whole input: /dev/zero has no newline.
	h.launch("hog", "head -c 300M /dev/zero | tail", isolate.Limits{MemMiB: 32}, nil)
	e := h.recv()
	if e.Limitation != isolate.LimitationMemory {
		t.Fatalf("got %+v; want limitation memory", e)
	}
	if !strings.Contains(e.Message, "out of memory") || !strings.Contains(e.Message, "limit 32 MiB") {
		t.Errorf("message %q; want it to say out of memory and the 32 MiB limit", e.Message)
	}
	h.expectCgroupGone("hog")
	// The limitation is checkpointed: a restarted agent reports it again.
	var ex struct {
		Limitation string `json:"limitation"`
	}
	b, _ := os.ReadFile(filepath.Join(h.dir, "tasks", "hog", "exit.json"))
	if json.Unmarshal(b, &ex) != nil || ex.Limitation != isolate.LimitationMemory {
		t.Errorf("exit.json = %s; want limitation memory", b)
	}
}

func TestCgroupfsOOMKillEndsTheWholeTask(t *testing.T) {
	h := startCgroupfs(t, 0)
	// Only tail is OOM-killed; the shell would sleep on without the
	// backend (v1: its OOM watch; v2: memory.oom.group) ending the task.
	start := time.Now()
	h.launch("hog-then-sleep", "head -c 300M /dev/zero | tail; sleep 60", isolate.Limits{MemMiB: 32}, nil)
	e := h.recv()
	if e.Limitation != isolate.LimitationMemory || e.Reason == isolate.Exited && e.ExitCode == 0 {
		t.Errorf("got %+v; want a failure with limitation memory", e)
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("task ended after %v; want soon after the OOM kill, not after its sleep", el)
	}
	h.expectCgroupGone("hog-then-sleep")
}

func TestCgroupfsHoldsBusyLoopToItsHalfCore(t *testing.T) {
	h := startCgroupfs(t, 0)
	h.launch("spin", "while :; do :; done", isolate.Limits{CPUs: 0.5}, nil)
	if h.c.CgroupVersion() != 1 {
		t.Skip("measured through cpuacct.usage on v1")
	}
	usage := h.file("spin", "cpuacct", "cpuacct.usage")
	read := func() float64 {
		v, err := strconv.ParseFloat(readTrim(t, usage), 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	time.Sleep(200 * time.Millisecond) // past the shell's start
	n0, t0 := read(), time.Now()
	time.Sleep(5 * time.Second)
	n1, el := read(), time.Since(t0)
	share := (n1 - n0) / float64(el.Nanoseconds())
	t.Logf("busy loop used %.3f of a core over %v", share, el)
	if share > 0.55 {
		t.Errorf("busy loop used %.3f of a core; want at most 0.55 under cpus=0.5", share)
	}
	if share < 0.3 {
		t.Errorf("busy loop used only %.3f of a core; want about 0.5 (is the machine overloaded?)", share)
	}
	u, err := h.c.Usage(context.Background(), "spin")
	if err != nil || u.CPUSeconds < (n1/1e9)*0.99 || u.MemBytes == 0 {
		t.Errorf("Usage = %+v, %v; want cpuacct's %.2fs and some memory", u, err, n1/1e9)
	}
	if err := h.c.Kill(context.Background(), "spin", 100*time.Millisecond); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if e := h.recv(); e.Reason != isolate.Killed {
		t.Errorf("got %+v; want killed", e)
	}
	h.expectCgroupGone("spin")
}

func TestCgroupfsPidsLimitStopsForkBomb(t *testing.T) {
	const limit = 64
	h := startCgroupfs(t, limit)
	done := filepath.Join(t.TempDir(), "done")
	// Bounded: at most 10000 sleeps of 30 s, were the limit not there. The
	// subshell dies when a fork fails (dash does); the task lives on, so
	// the cgroup can be inspected while full.
	r := h.launch("bomb", `(i=0; while [ $i -lt 10000 ]; do sleep 30 & i=$((i+1)); done); touch "$DONE"; sleep 30`,
		isolate.Limits{}, map[string]string{"DONE": done})
	if h.c.CgroupVersion() != 1 {
		t.Skip("counted through the v1 pids cgroup")
	}
	isolatetest.Eventually(t, 20*time.Second, "fork bomb to stop", func() bool { _, err := os.Stat(done); return err == nil })
	current, events := h.file("bomb", "pids", "pids.current"), h.file("bomb", "pids", "pids.events")
	if ev := readTrim(t, events); ev == "max 0" {
		t.Errorf("pids.events = %q; want forks refused at pids.max", ev)
	}
	if log, _ := os.ReadFile(h.c.LogPath("bomb", "stderr")); !strings.Contains(string(log), "fork") {
		t.Errorf("stderr = %q; want the shell's failed fork", log)
	}
	n, _ := strconv.Atoi(readTrim(t, current))
	pids := cgroupPids(filepath.Dir(current))
	t.Logf("fork bomb stopped with pids.current %d, %d processes", n, len(pids))
	if n > limit || len(pids) > limit || len(pids) < limit/2 {
		t.Errorf("pids.current %d, %d processes; want at most %d, and the bomb to have got near it", n, len(pids), limit)
	}
	if err := h.c.Kill(context.Background(), "bomb", 100*time.Millisecond); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if e := h.recv(); e.Reason != isolate.Killed {
		t.Errorf("got %+v; want killed", e)
	}
	h.expectCgroupGone("bomb")
	for _, pid := range append(pids, r.PID) {
		if !isolatetest.ProcessGone(pid) {
			t.Errorf("process %d of the fork bomb survived", pid)
		}
	}
}

func TestCgroupfsRecoverKillsLeftoversOfTaskWhoseMainProcessDied(t *testing.T) {
	parent := testParent(t)
	dir := t.TempDir()
	child := filepath.Join(t.TempDir(), "child")
	c1 := newCgroupfs(t, dir, parent, 0)
	if _, err := c1.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The child leaves the task's process group: only the cgroup holds it.
	r, err := c1.Launch(context.Background(), isolate.LaunchSpec{TaskID: "orphan",
		Cmd: `setsid sh -c 'echo $$ > "$CHILD"; exec sleep 1000' & wait`, Env: map[string]string{"CHILD": child}})
	if err != nil {
		t.Fatal(err)
	}
	var childPID int
	isolatetest.Eventually(t, 10*time.Second, "child pid", func() bool {
		b, err := os.ReadFile(child)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		childPID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return childPID > 0
	})
	t.Cleanup(func() { syscall.Kill(childPID, syscall.SIGKILL) })
	c1.Close()
	_ = syscall.Kill(r.PID, syscall.SIGKILL) // the main process only
	isolatetest.Eventually(t, 10*time.Second, "main process to die", func() bool { return isolatetest.ProcessGone(r.PID) })
	if isolatetest.ProcessGone(childPID) {
		t.Fatal("child died with the main process; the test needs it alive")
	}

	c2 := newCgroupfs(t, dir, parent, 0)
	t.Cleanup(func() { c2.Close() })
	rec, err := c2.Recover(context.Background())
	if err != nil || len(rec) != 0 {
		t.Fatalf("Recover = %+v, %v; want no running task", rec, err)
	}
	select {
	case e := <-c2.Exits():
		if e.TaskID != "orphan" || e.Reason != isolate.Lost {
			t.Errorf("got %+v; want task orphan lost", e)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit for the dead task")
	}
	isolatetest.Eventually(t, 10*time.Second, "leftover child to be killed", func() bool { return isolatetest.ProcessGone(childPID) })
	for _, d := range c2.CgroupDirs("orphan") {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s of the dead task is still there", d)
		}
	}
	if err := c2.Remove("orphan"); err != nil {
		t.Errorf("Remove: %v", err)
	}
}

func TestCgroupfsCapabilitiesIncludeLimits(t *testing.T) {
	h := startCgroupfs(t, 0)
	c := h.c.Capabilities()
	if !c.CPULimit || !c.MemLimit || !c.SurvivesAgentRestart || h.c.Name() != "cgroupfs" {
		t.Errorf("%s capabilities = %+v; want CPU and memory limits, surviving the agent", h.c.Name(), c)
	}
	var _ isolate.Remover = h.c
}

func TestCgroupfsRecoverReattachesToTaskCgroup(t *testing.T) {
	parent := testParent(t)
	dir := t.TempDir()
	c1 := newCgroupfs(t, dir, parent, 0)
	if _, err := c1.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := c1.Launch(context.Background(), isolate.LaunchSpec{TaskID: "kept", Cmd: "sleep 60", Limits: isolate.Limits{MemMiB: 48}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-r.PID, syscall.SIGKILL) })
	c1.Close()

	c2 := newCgroupfs(t, dir, parent, 0)
	t.Cleanup(func() { c2.Close() })
	rec, err := c2.Recover(context.Background())
	if err != nil || len(rec) != 1 || rec[0].PID != r.PID {
		t.Fatalf("Recover = %+v, %v; want task kept with pid %d", rec, err, r.PID)
	}
	// Peak memory comes only from the cgroup (the process backend has none).
	u, err := c2.Usage(context.Background(), "kept")
	if err != nil || u.MemBytes == 0 || u.MemPeakBytes == 0 {
		t.Errorf("Usage of re-adopted task = %+v, %v; want memory now and at peak from its cgroup", u, err)
	}
	if err := c2.Kill(context.Background(), "kept", 100*time.Millisecond); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	select {
	case e := <-c2.Exits():
		if e.Reason != isolate.Killed {
			t.Errorf("got %+v; want killed", e)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit")
	}
	for _, d := range c2.CgroupDirs("kept") {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s still there after the re-adopted task was killed", d)
		}
	}
}

func TestCgroupfsRecreatesParentCgroupRemovedUnderIt(t *testing.T) {
	h := startCgroupfs(t, 0)
	parents := map[string]bool{}
	for _, d := range h.c.CgroupDirs("x") {
		parents[filepath.Dir(d)] = true
	}
	for p := range parents {
		if err := syscall.Rmdir(p); err != nil {
			t.Fatalf("rmdir %s: %v", p, err)
		}
	}
	h.launch("after-rmdir", "exit 3", isolate.Limits{MemMiB: 16}, nil)
	if e := h.recv(); e.Reason != isolate.Exited || e.ExitCode != 3 {
		t.Errorf("got %+v; want exited 3", e)
	}
	h.expectCgroupGone("after-rmdir")
}

func TestCgroupfsLaunchesManyTasksAtOnceEachInItsOwnCgroup(t *testing.T) {
	h := startCgroupfs(t, 0)
	const n = 20
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			id := "many-" + strconv.Itoa(i)
			_, err := h.c.Launch(context.Background(), isolate.LaunchSpec{TaskID: id,
				Cmd: `grep -q "/many-$N\$" /proc/self/cgroup || exit 9; exit $N`, Env: map[string]string{"N": strconv.Itoa(i)},
				Limits: isolate.Limits{CPUs: 0.2, MemMiB: 16}})
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("Launch: %v", err)
		}
	}
	for i := 0; i < n; i++ {
		e := h.recv()
		if want := strings.TrimPrefix(e.TaskID, "many-"); e.Reason != isolate.Exited || strconv.Itoa(e.ExitCode) != want {
			t.Errorf("task %s: got %v code %d; want exited %s (9: it was not in its own cgroup)", e.TaskID, e.Reason, e.ExitCode, want)
		}
	}
	for i := 0; i < n; i++ {
		h.expectCgroupGone("many-" + strconv.Itoa(i))
	}
	// No agent thread was left behind in a task's cgroup.
	for _, d := range h.c.CgroupDirs("x") {
		if n := len(cgroupPids(filepath.Dir(d))); n != 0 {
			t.Errorf("parent cgroup %s holds %d processes", filepath.Dir(d), n)
		}
	}
}

// BenchmarkCgroupfsLaunchTrue launches /bin/true in its own cgroup (limits
// written first) and receives its exit; it reports the Launch call's p50 and
// p99 as well as the mean.
func BenchmarkCgroupfsLaunchTrue(b *testing.B) {
	c := newCgroupfs(b, b.TempDir(), testParent(b), 0)
	defer c.Close()
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("true-%d", i)
		start := time.Now()
		if _, err := c.Launch(ctx, isolate.LaunchSpec{TaskID: id, Cmd: "/bin/true", Limits: isolate.Limits{CPUs: 0.1, MemMiB: 32}}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		select {
		case e := <-c.Exits():
			if e.TaskID != id || e.ExitCode != 0 {
				b.Fatalf("exit = %+v", e)
			}
		case <-time.After(10 * time.Second):
			b.Fatal("no exit within 10 s")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-launch-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-launch-ms")
}
