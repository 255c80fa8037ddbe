package isolate

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// findMountsV1 finds the mount of each v1 controller under root.
func (m *cgroupManager) findMountsV1() error {
	var missing []string
	for _, c := range v1Controllers() {
		dir, err := filepath.EvalSymlinks(filepath.Join(m.root, c))
		if err != nil || !fileExists(filepath.Join(dir, "cgroup.procs")) {
			missing = append(missing, c)
			continue
		}
		m.mounts[c] = dir
	}
	if len(missing) > 0 {
		return fmt.Errorf("no cgroup v2 hierarchy at %s (no cgroup.controllers), and the cgroup v1 controller(s) %s are not mounted under it; use --isolator process",
			m.root, strings.Join(missing, ", "))
	}
	return nil
}

// setupV1 creates the parent cgroup in each controller's hierarchy.
func (m *cgroupManager) setupV1() error {
	for _, c := range v1Controllers() {
		dir := filepath.Join(m.mounts[c], m.parent)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			if isPermission(err) {
				return notWritable(m.root, err)
			}
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
	}
	return nil
}

// writeLimitsV1 writes cpu.cfs_period_us and cpu.cfs_quota_us,
// memory.limit_in_bytes and memory.memsw.limit_in_bytes (the same value:
// no swap, where the kernel accounts swap), and pids.max.
func (cg *taskCgroup) writeLimitsV1() error {
	if q := cpuQuotaUS(cg.limits.CPUs); q > 0 {
		d := cg.dirs["cpu"]
		if err := writeCgroupFile(filepath.Join(d, "cpu.cfs_period_us"), strconv.Itoa(cpuPeriodUS)); err != nil {
			return err
		}
		if err := writeCgroupFile(filepath.Join(d, "cpu.cfs_quota_us"), strconv.FormatInt(q, 10)); err != nil {
			return err
		}
	}
	if b := memLimitBytes(cg.limits.MemMiB); b > 0 {
		d := cg.dirs["memory"]
		// memsw must stay >= the memory limit, and a new cgroup's memsw is
		// unlimited: write the memory limit first.
		if err := writeCgroupFile(filepath.Join(d, "memory.limit_in_bytes"), strconv.FormatInt(b, 10)); err != nil {
			return err
		}
		if f := filepath.Join(d, "memory.memsw.limit_in_bytes"); fileExists(f) {
			if err := writeCgroupFile(f, strconv.FormatInt(b, 10)); err != nil {
				return err
			}
		}
	}
	return writeCgroupFile(filepath.Join(cg.dirs["pids"], "pids.max"), strconv.Itoa(cg.pidsMax))
}

// startV1 starts cmd so that the child is born inside the task's v1
// cgroups, with no moment spent outside them.
//
// cgroup v1 places threads, not only processes, and a child starts in the
// cgroups of the thread that forked it. So a goroutine locked to its OS
// thread moves that thread (its tid in each cgroup's tasks file) into the
// task's cgroups, forks and execs the task (os/exec forks on the calling
// thread), and moves the thread back to where it was. No other thread of
// the agent moves, and the Go runtime never clones a new thread from a
// locked one (it asks its template thread), so no agent thread is left in
// the task's cgroup. If the thread cannot be moved back, the goroutine
// exits still locked, and the runtime discards the thread with it.
//
// The simpler alternative, writing the child's pid to cgroup.procs after
// Start, leaves a window in which the task runs (and may fork) unconfined.
func (cg *taskCgroup) startV1(cmd *exec.Cmd, mounts map[string]string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := cg.forkInCgroupV1(cmd, mounts)
		if restored {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// forkInCgroupV1 runs on a locked thread; restored is false if the thread
// could not be put back into its own cgroups.
func (cg *taskCgroup) forkInCgroupV1(cmd *exec.Cmd, mounts map[string]string) (restored bool, err error) {
	tid := unix.Gettid()
	self := "/proc/self/task/" + strconv.Itoa(tid) + "/cgroup"
	own := readSelfCgroups(self)
	// One write per hierarchy: co-mounted controllers share a directory.
	type hop struct{ to, back string }
	var hops []hop
	seen := map[string]bool{}
	for _, c := range v1Controllers() {
		to := cg.dirs[c]
		path, ok := own[c]
		if seen[to] {
			continue
		}
		if !ok {
			return true, fmt.Errorf("start in cgroup: %s has no %s cgroup", self, c)
		}
		seen[to] = true
		hops = append(hops, hop{to: filepath.Join(to, "tasks"), back: filepath.Join(mounts[c], path, "tasks")})
	}
	for _, h := range hops {
		if !fileExists(h.back) {
			// This thread's own cgroup is not visible under the mount (a
			// container without a cgroup namespace): it could not go back.
			return true, cg.startThenEnterV1(cmd)
		}
	}
	moved := 0
	restore := func() bool {
		ok := true
		for _, h := range hops[:moved] {
			if err := writeCgroupFile(h.back, strconv.Itoa(tid)); err != nil {
				ok = false
			}
		}
		return ok
	}
	for _, h := range hops {
		if err := writeCgroupFile(h.to, strconv.Itoa(tid)); err != nil {
			return restore(), fmt.Errorf("start in cgroup: %w", err)
		}
		moved++
	}
	err = cmd.Start()
	return restore(), err
}

// startThenEnterV1 starts cmd, then writes its pid to each cgroup.procs.
// Until the write the task runs outside its cgroups; the window is short
// (the child has exec'd /bin/sh, which has not yet read its command line)
// but real, so it is only the fallback of startV1.
func (cg *taskCgroup) startThenEnterV1(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	for _, d := range cg.uniqueDirs() {
		if err := writeCgroupFile(filepath.Join(d, "cgroup.procs"), strconv.Itoa(cmd.Process.Pid)); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return fmt.Errorf("enter cgroup: %w", err)
		}
	}
	return nil
}

// watchOOMV1 makes an OOM kill in the task's memory cgroup end the whole
// task, as memory.oom.group does on v2 and systemd's OOMPolicy=stop does
// for units: otherwise a shell whose child was OOM-killed would run on.
//
// It registers an eventfd for memory.oom_control through
// cgroup.event_control, and parks one goroutine reading it in the runtime
// poller. The kernel signals the eventfd on an OOM in the cgroup (and when
// the cgroup is removed). Closing the returned file stops the watch.
func (cg *taskCgroup) watchOOMV1() (*os.File, error) {
	mem := cg.dirs["memory"]
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watch OOM: eventfd: %w", err)
	}
	ofd, err := unix.Open(filepath.Join(mem, "memory.oom_control"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(efd)
		return nil, fmt.Errorf("watch OOM: %w", err)
	}
	// The kernel keeps the eventfd, not the control file, once registered.
	err = writeCgroupFile(filepath.Join(mem, "cgroup.event_control"), fmt.Sprintf("%d %d", efd, ofd))
	unix.Close(ofd)
	if err != nil {
		unix.Close(efd)
		return nil, fmt.Errorf("watch OOM: %w", err)
	}
	f := os.NewFile(uintptr(efd), "oom-eventfd:"+mem)
	go func() {
		var buf [8]byte
		if _, err := f.Read(buf[:]); err != nil || !fileExists(mem) {
			return // closed (the task ended, or the agent closed), or the cgroup went
		}
		// Killing the task may pre-empt the kernel's own OOM kill (a
		// dying victim is not counted in oom_kill): remember the OOM.
		cg.oomSeen.Store(true)
		_ = cg.killAll()
	}()
	return f, nil
}

// oomKilledV1 reads the oom_kill counter of memory.oom_control (kernels
// since 4.13); on older kernels, any hit of the limit (memory.failcnt)
// counts.
func (cg *taskCgroup) oomKilledV1() bool {
	if cg.oomSeen.Load() {
		return true
	}
	d := cg.dirs["memory"]
	if ev, err := readKeyed(filepath.Join(d, "memory.oom_control")); err == nil {
		if n, ok := ev["oom_kill"]; ok {
			return n > 0
		}
	}
	n, err := readUint(filepath.Join(d, "memory.failcnt"))
	return err == nil && n > 0
}

// usageV1 reads cpuacct.usage (ns), memory.usage_in_bytes and
// memory.max_usage_in_bytes.
func (cg *taskCgroup) usageV1() (Usage, error) {
	ns, err := readUint(filepath.Join(cg.dirs["cpuacct"], "cpuacct.usage"))
	if err != nil {
		return Usage{}, err
	}
	cur, err := readUint(filepath.Join(cg.dirs["memory"], "memory.usage_in_bytes"))
	if err != nil {
		return Usage{}, err
	}
	peak, _ := readUint(filepath.Join(cg.dirs["memory"], "memory.max_usage_in_bytes"))
	return Usage{CPUSeconds: float64(ns) / 1e9, MemBytes: cur, MemPeakBytes: peak}, nil
}
