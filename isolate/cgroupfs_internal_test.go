package isolate

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeFiles writes files (name → content) into dir, creating it: what the
// kernel would offer in a cgroup directory.
func fakeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func fileContent(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

// fakeV2 is a cgroup2 root offering controllers, with the parent
// cgroup(s) the kernel would have created on mkdir.
func fakeV2(t *testing.T, controllers string, parent string) string {
	t.Helper()
	root := t.TempDir()
	fakeFiles(t, root, map[string]string{"cgroup.controllers": controllers + "\n", "cgroup.subtree_control": "", "cgroup.procs": ""})
	dir := root
	for _, part := range strings.Split(parent, "/") {
		dir = filepath.Join(dir, part)
		fakeFiles(t, dir, map[string]string{"cgroup.controllers": "cpu memory pids\n", "cgroup.subtree_control": "", "cgroup.procs": ""})
	}
	return root
}

// v2TaskFiles are the files a task's cgroup holds on v2, as the kernel
// creates them, before the backend writes its limits.
func v2TaskFiles() map[string]string {
	return map[string]string{
		"cgroup.procs": "", "cgroup.kill": "", "cpu.max": "max 100000\n", "memory.max": "max\n",
		"memory.swap.max": "max\n", "memory.oom.group": "0\n", "pids.max": "max\n",
	}
}

func TestCgroupV2EnablesControllersDownToParentAndWritesTaskLimits(t *testing.T) {
	root := fakeV2(t, "cpuset cpu io memory hugetlb pids rdma misc", "agents/clusterd")
	m, err := newCgroupManager(root, "agents/clusterd", 300)
	if err != nil {
		t.Fatalf("newCgroupManager: %v", err)
	}
	if m.version != 2 {
		t.Fatalf("version = %d; want 2", m.version)
	}
	for _, d := range []string{root, filepath.Join(root, "agents"), filepath.Join(root, "agents/clusterd")} {
		if got := fileContent(t, filepath.Join(d, "cgroup.subtree_control")); got != "+cpu +memory +pids" {
			t.Errorf("%s/cgroup.subtree_control = %q; want +cpu +memory +pids", d, got)
		}
	}

	taskDir := filepath.Join(root, "agents/clusterd/t1")
	fakeFiles(t, taskDir, v2TaskFiles())
	cg, err := m.create("t1", Limits{CPUs: 1.5, MemMiB: 64})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	want := map[string]string{
		"cpu.max":          "150000 100000",
		"memory.max":       strconv.Itoa(64 << 20),
		"memory.swap.max":  "0",
		"memory.oom.group": "1",
		"pids.max":         "300",
	}
	for f, v := range want {
		if got := fileContent(t, filepath.Join(taskDir, f)); got != v {
			t.Errorf("%s = %q; want %q", f, got, v)
		}
	}
	if d := cg.uniqueDirs(); len(d) != 1 || d[0] != taskDir {
		t.Errorf("dirs = %v; want [%s]", d, taskDir)
	}
}

func TestCgroupV2LeavesUnlimitedResourcesAloneAndSkipsMissingSwapFile(t *testing.T) {
	root := fakeV2(t, "cpu memory pids", "clusterd")
	m, err := newCgroupManager(root, "clusterd", DefaultPidsMax)
	if err != nil {
		t.Fatal(err)
	}
	taskDir := filepath.Join(root, "clusterd", "t")
	files := v2TaskFiles()
	delete(files, "memory.swap.max") // no swap accounting
	fakeFiles(t, taskDir, files)
	if _, err := m.create("t", Limits{MemMiB: 0.5}); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"cpu.max": "max 100000\n", "memory.max": strconv.Itoa(512 << 10), "pids.max": "4096"} {
		if got := fileContent(t, filepath.Join(taskDir, f)); got != v {
			t.Errorf("%s = %q; want %q", f, got, v)
		}
	}
	if fileExists(filepath.Join(taskDir, "memory.swap.max")) {
		t.Error("memory.swap.max was created; cgroup files must never be created")
	}
}

func TestCgroupV2ReadsUsageOOMAndKillsThroughCgroupKill(t *testing.T) {
	dir := t.TempDir()
	fakeFiles(t, dir, map[string]string{
		"cpu.stat":       "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
		"memory.current": "1048576\n",
		"memory.peak":    "4194304\n",
		"memory.events":  "low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\n",
		"cgroup.procs":   "",
		"cgroup.kill":    "",
	})
	cg := &taskCgroup{version: 2, dirs: map[string]string{unifiedKey: dir}, limits: Limits{MemMiB: 32}}
	u, err := cg.usage()
	if err != nil || u != (Usage{CPUSeconds: 2.5, MemBytes: 1 << 20, MemPeakBytes: 4 << 20}) {
		t.Errorf("usage = %+v, %v; want 2.5 s, 1 MiB, peak 4 MiB", u, err)
	}
	e := Exit{Reason: Exited, ExitCode: 137, Message: "exited with code 137"}
	if cg.oomKilled() {
		t.Error("oom_kill 0 read as an OOM kill")
	}
	if err := cg.killAll(); err != nil {
		t.Errorf("killAll of an empty cgroup: %v", err)
	}
	cg.sigkill()
	if got := fileContent(t, filepath.Join(dir, "cgroup.kill")); got != "1" {
		t.Errorf("cgroup.kill = %q; want 1", got)
	}
	fakeFiles(t, dir, map[string]string{"memory.events": "low 0\nhigh 0\nmax 40\noom 2\noom_kill 1\noom_group_kill 1\n"})
	// release kills, notes the OOM kill, and fails to rmdir the fake
	// (a real cgroup directory holds no removable files).
	_ = cg.release(&e, false)
	if e.Limitation != LimitationMemory || e.Message != "killed: out of memory (limit 32 MiB)" {
		t.Errorf("exit after OOM = %+v; want limitation memory with the limit in the message", e)
	}
	ok := Exit{Reason: Exited, ExitCode: 0, Message: "exited with code 0"}
	_ = cg.release(&ok, false)
	if ok.Limitation != "" || ok.Message != "exited with code 0" {
		t.Errorf("a task that exited 0 despite an OOM kill in it became %+v; want it left a success", ok)
	}
	killed := Exit{Reason: Killed, Message: "killed"}
	_ = cg.release(&killed, true)
	if killed.Limitation != "" || killed.Message != "killed" {
		t.Errorf("a task killed through Kill became %+v; want it left killed", killed)
	}
}

func TestCgroupV2RefusesRootWithoutNeededControllers(t *testing.T) {
	root := fakeV2(t, "cpu io", "clusterd")
	_, err := newCgroupManager(root, "clusterd", 1)
	if err == nil || !strings.Contains(err.Error(), "memory, pids") || !strings.Contains(err.Error(), "--isolator process") {
		t.Errorf("newCgroupManager = %v; want an error naming memory and pids and what to do", err)
	}
	if v, ok, why := DetectCgroups(root); v != 2 || ok || !strings.Contains(why, "memory, pids") {
		t.Errorf("DetectCgroups = %d %v %q; want v2, unusable, naming the missing controllers", v, ok, why)
	}
}

// fakeV1 is a v1 layout: a directory per controller, cpu and cpuacct
// co-mounted through symlinks as many distributions do.
func fakeV1(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	for _, c := range []string{"cpu,cpuacct", "memory", "pids"} {
		fakeFiles(t, filepath.Join(root, c), map[string]string{"cgroup.procs": "", "tasks": ""})
	}
	for _, c := range []string{"cpu", "cpuacct"} {
		if err := os.Symlink("cpu,cpuacct", filepath.Join(root, c)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCgroupV1WritesLimitsPerControllerOnCoMountedHierarchies(t *testing.T) {
	root := fakeV1(t)
	m, err := newCgroupManager(root, "clusterd", 128)
	if err != nil {
		t.Fatalf("newCgroupManager: %v", err)
	}
	if m.version != 1 || m.mounts["cpu"] != m.mounts["cpuacct"] || m.mounts["cpu"] != filepath.Join(root, "cpu,cpuacct") {
		t.Fatalf("version %d mounts %v; want v1 with cpu and cpuacct sharing cpu,cpuacct", m.version, m.mounts)
	}
	cpuDir := filepath.Join(root, "cpu,cpuacct", "clusterd", "t")
	memDir := filepath.Join(root, "memory", "clusterd", "t")
	pidsDir := filepath.Join(root, "pids", "clusterd", "t")
	fakeFiles(t, cpuDir, map[string]string{"cgroup.procs": "", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1"})
	fakeFiles(t, memDir, map[string]string{"cgroup.procs": "", "memory.limit_in_bytes": "", "memory.memsw.limit_in_bytes": ""})
	fakeFiles(t, pidsDir, map[string]string{"cgroup.procs": "", "pids.max": "max"})
	cg, err := m.create("t", Limits{CPUs: 2, MemMiB: 100})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	for f, v := range map[string]string{
		filepath.Join(cpuDir, "cpu.cfs_period_us"):           "100000",
		filepath.Join(cpuDir, "cpu.cfs_quota_us"):            "200000",
		filepath.Join(memDir, "memory.limit_in_bytes"):       strconv.Itoa(100 << 20),
		filepath.Join(memDir, "memory.memsw.limit_in_bytes"): strconv.Itoa(100 << 20),
		filepath.Join(pidsDir, "pids.max"):                   "128",
	} {
		if got := fileContent(t, f); got != v {
			t.Errorf("%s = %q; want %q", f, got, v)
		}
	}
	if d := cg.uniqueDirs(); len(d) != 3 {
		t.Errorf("dirs = %v; want 3 (cpu and cpuacct share one)", d)
	}
}

func TestCgroupV1ReadsUsageAndOOMKillCounter(t *testing.T) {
	root := t.TempDir()
	cpuacct, mem := filepath.Join(root, "cpuacct"), filepath.Join(root, "memory")
	fakeFiles(t, cpuacct, map[string]string{"cpuacct.usage": "1500000000\n"})
	fakeFiles(t, mem, map[string]string{
		"memory.usage_in_bytes": "2097152\n", "memory.max_usage_in_bytes": "8388608\n",
		"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", "memory.failcnt": "7\n",
	})
	cg := &taskCgroup{version: 1, dirs: map[string]string{"cpuacct": cpuacct, "memory": mem}}
	u, err := cg.usage()
	if err != nil || u != (Usage{CPUSeconds: 1.5, MemBytes: 2 << 20, MemPeakBytes: 8 << 20}) {
		t.Errorf("usage = %+v, %v; want 1.5 s, 2 MiB, peak 8 MiB", u, err)
	}
	if cg.oomKilled() {
		t.Error("oom_kill 0 (with failcnt 7: the limit was hit and reclaimed) read as an OOM kill")
	}
	fakeFiles(t, mem, map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"})
	if !cg.oomKilled() {
		t.Error("oom_kill 2 not read as an OOM kill")
	}
	// Kernels before 4.13 have no oom_kill counter: failcnt stands in.
	fakeFiles(t, mem, map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n"})
	if !cg.oomKilled() {
		t.Error("failcnt 7 without an oom_kill counter not read as an OOM kill")
	}
}

func TestDetectCgroupsTellsV1FromV2AndNone(t *testing.T) {
	if v, ok, why := DetectCgroups(fakeV2(t, "cpu memory pids io", "x")); v != 2 || !ok {
		t.Errorf("fake v2: %d %v %q; want 2, writable", v, ok, why)
	}
	if v, ok, why := DetectCgroups(fakeV1(t)); v != 1 || !ok {
		t.Errorf("fake v1: %d %v %q; want 1, writable", v, ok, why)
	}
	partial := fakeV1(t)
	if err := os.RemoveAll(filepath.Join(partial, "pids")); err != nil {
		t.Fatal(err)
	}
	if v, ok, why := DetectCgroups(partial); v != 1 || ok || !strings.Contains(why, "pids") {
		t.Errorf("v1 without pids: %d %v %q; want 1, unusable, naming pids", v, ok, why)
	}
	if v, ok, why := DetectCgroups(t.TempDir()); v != 0 || ok || why == "" {
		t.Errorf("empty dir: %d %v %q; want 0, unusable, with a reason", v, ok, why)
	}
	if _, err := newCgroupManager(t.TempDir(), "clusterd", 1); err == nil || !strings.Contains(err.Error(), "--isolator process") {
		t.Errorf("newCgroupManager on no hierarchy = %v; want an error saying what to do", err)
	}
}

func TestCgroupfsRefusesNotWritableHierarchyWithAHint(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a read-only tmpfs")
	}
	root := t.TempDir()
	if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(root, syscall.MNT_DETACH) })
	for _, c := range []string{"cpu", "cpuacct", "memory", "pids"} {
		fakeFiles(t, filepath.Join(root, c), map[string]string{"cgroup.procs": ""})
	}
	if err := syscall.Mount("", root, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("remount read-only: %v", err)
	}
	_, err := NewCgroupfs(CgroupConfig{Process: ProcessConfig{Dir: t.TempDir()}, Root: root, Parent: "clusterd"})
	if err == nil || !strings.Contains(err.Error(), "are not writable: run as root, or use --isolator process") {
		t.Errorf("NewCgroupfs on a read-only hierarchy = %v; want the not-writable hint", err)
	}
	if _, ok, why := DetectCgroups(root); ok {
		t.Errorf("DetectCgroups says writable (%s) on a read-only hierarchy", why)
	}
}

func TestCgroupfsRefusesRootAsParent(t *testing.T) {
	_, err := NewCgroupfs(CgroupConfig{Process: ProcessConfig{Dir: t.TempDir()}, Root: fakeV1(t), Parent: "/"})
	if err == nil || !strings.Contains(err.Error(), "root cgroup") {
		t.Errorf("NewCgroupfs with Parent / = %v; want an error", err)
	}
}

func TestCheckpointRecordsTaskCgroupForRecover(t *testing.T) {
	cg := &taskCgroup{version: 1, dirs: map[string]string{"memory": "/m/p/t", "cpu": "/c/p/t"}, limits: Limits{MemMiB: 48, CPUs: 1}}
	var cp taskCheckpoint
	cp.setCgroup(cg)
	path := filepath.Join(t.TempDir(), taskFile)
	if err := writeJSONAtomic(path, cp); err != nil {
		t.Fatal(err)
	}
	var back taskCheckpoint
	if err := readJSON(path, &back); err != nil {
		t.Fatal(err)
	}
	got := back.cgroup()
	if got == nil || got.version != 1 || got.dirs["memory"] != "/m/p/t" || got.dirs["cpu"] != "/c/p/t" || got.limits.MemMiB != 48 {
		t.Errorf("cgroup from checkpoint = %+v; want v1 with its dirs and 48 MiB", got)
	}
	if (&taskCheckpoint{}).cgroup() != nil {
		t.Error("a process backend checkpoint yields a cgroup")
	}
}

// TestCgroupV2StartClonesTaskIntoCgroup starts a process with
// CLONE_INTO_CGROUP in this machine's cgroup2 mount: it has no controllers
// here, but it places processes for real.
func TestCgroupV2StartClonesTaskIntoCgroup(t *testing.T) {
	const unified = "/sys/fs/cgroup/unified"
	if os.Geteuid() != 0 || !fileExists(filepath.Join(unified, "cgroup.procs")) {
		t.Skip("needs root and a cgroup2 mount at " + unified)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	parent := filepath.Join(unified, "clusterd-test-"+hex.EncodeToString(b))
	dir := filepath.Join(parent, "t")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Skipf("cgroup2 not writable: %v", err)
	}
	t.Cleanup(func() { _ = rmdirIfExists(dir); _ = rmdirIfExists(parent) })
	cg := &taskCgroup{version: 2, dirs: map[string]string{unifiedKey: dir}}
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & cat /proc/self/cgroup; wait")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cg.start(cmd, nil); err != nil {
		t.Fatalf("start: %v", err)
	}
	defer cmd.Wait()
	var pids []int
	deadline := time.Now().Add(5 * time.Second)
	for len(pids) < 2 && time.Now().Before(deadline) {
		pids, _ = cg.procs()
		time.Sleep(10 * time.Millisecond)
	}
	if len(pids) < 2 || pids[0] != cmd.Process.Pid && pids[1] != cmd.Process.Pid {
		t.Errorf("cgroup.procs = %v; want the task %d and its child", pids, cmd.Process.Pid)
	}
	if err := cg.killAll(); err != nil {
		t.Errorf("killAll: %v", err)
	}
	_ = cmd.Wait()
	if !strings.Contains(out.String(), "0::/"+filepath.Base(parent)+"/t\n") {
		t.Errorf("task saw /proc/self/cgroup %q; want it in %s", out.String(), dir)
	}
	if err := cg.remove(); err != nil {
		t.Errorf("remove: %v", err)
	}
	if fileExists(dir) {
		t.Errorf("%s still there after remove", dir)
	}
}

func rmdirIfExists(dir string) error {
	err := syscall.Rmdir(dir)
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	return err
}

// A checkpoint is a file on disk: the cgroups it names are trusted only
// where they are the agent's own for that task.
func TestCheckpointCgroupsAreTrustedOnlyWhereTheAgentPutsThatTask(t *testing.T) {
	root := fakeV1(t)
	m, err := newCgroupManager(root, "clusterd", 128)
	if err != nil {
		t.Fatalf("newCgroupManager: %v", err)
	}
	record := func(dirs map[string]string, version int) *taskCheckpoint {
		return &taskCheckpoint{CgroupVersion: version, Cgroups: dirs, MemLimitMiB: 64}
	}
	own := m.taskCgroup("t1", Limits{}).dirs
	got, err := trustedCgroup(m, "t1", record(own, 1))
	if err != nil || got == nil || got.dirs["memory"] != own["memory"] || got.limits.MemMiB != 64 {
		t.Fatalf("the task's own cgroup: %+v, %v; want it trusted with its limit", got, err)
	}
	if got, err := trustedCgroup(m, "t1", &taskCheckpoint{}); got != nil || err != nil {
		t.Errorf("a checkpoint without cgroups: %+v, %v; want none and no error", got, err)
	}

	with := func(controller, dir string) map[string]string {
		d := maps.Clone(own)
		d[controller] = dir
		return d
	}
	bad := map[string]*taskCheckpoint{
		"another cgroup of the machine": record(with("memory", "/sys/fs/cgroup/memory/system.slice"), 1),
		"a path climbing out":           record(with("memory", own["memory"]+"/../../../system.slice"), 1),
		"another task's cgroup":         record(m.taskCgroup("t2", Limits{}).dirs, 1),
		"the other cgroup version":      record(own, 2),
		"an unknown version":            record(own, 7),
		"an extra controller":           record(with("devices", filepath.Join(root, "devices", "clusterd", "t1")), 1),
	}
	for name, cp := range bad {
		if got, err := trustedCgroup(m, "t1", cp); got != nil || err == nil || !strings.Contains(err.Error(), "left alone") {
			t.Errorf("%s: %+v, %v; want it refused and left alone", name, got, err)
		}
	}
	if got, err := trustedCgroup(nil, "t1", record(own, 1)); got != nil || err == nil {
		t.Errorf("cgroups named to an agent without cgroups: %+v, %v; want them refused", got, err)
	}
}

func TestCgroupfsRemoveLeavesAForeignCgroupNamedInACheckpointAlone(t *testing.T) {
	c, err := NewCgroupfs(CgroupConfig{Process: ProcessConfig{Dir: t.TempDir()}, Root: fakeV1(t), Parent: "clusterd"})
	if err != nil {
		t.Fatalf("NewCgroupfs: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	victim := filepath.Join(t.TempDir(), "system.slice")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := c.proc.taskDir("t1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cp := taskCheckpoint{Version: checkpointVersion, TaskID: "t1", CgroupVersion: 1, Cgroups: map[string]string{"memory": victim}}
	if err := writeJSONAtomic(filepath.Join(dir, taskFile), cp); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove("t1"); err == nil || !strings.Contains(err.Error(), victim) {
		t.Errorf("Remove with a checkpoint naming %s: %v; want an error naming it", victim, err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("the foreign directory the checkpoint named: %v; want it left in place", err)
	}
}

// While one of the agent's threads sits in a task's v1 cgroup to fork into
// it, cgroup.procs lists the agent: signalling the cgroup must not signal
// the agent too.
func TestSignallingACgroupNeverSignalsTheAgent(t *testing.T) {
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	dir := filepath.Join(t.TempDir(), "memory", "clusterd", "t1")
	procs := fmt.Sprintf("%d\n%d\n", os.Getpid(), sleeper.Process.Pid)
	fakeFiles(t, dir, map[string]string{"cgroup.procs": procs})
	cg := &taskCgroup{version: 1, dirs: map[string]string{"memory": dir}}

	got, err := cg.procs()
	if err != nil || len(got) != 1 || got[0] != sleeper.Process.Pid {
		t.Fatalf("procs of a cgroup listing the agent and a task = %v, %v; want the task only", got, err)
	}
	// SIGTERM's default action would end this test binary.
	cg.signal(syscall.SIGTERM, 0)
	err = sleeper.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("the task's process ended with %v; want SIGTERM", err)
	}
}
