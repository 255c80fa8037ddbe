package isolate

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// setupV2 checks that root offers the cpu, memory and pids controllers,
// creates the parent cgroup, and enables the controllers in the
// cgroup.subtree_control of root and of every cgroup down to the parent,
// so that each task's cgroup gets cpu.max, memory.max and pids.max.
func (m *cgroupManager) setupV2() error {
	have, err := readControllers(filepath.Join(m.root, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("cgroup v2 at %s: %w", m.root, err)
	}
	if missing := missingControllers(have); len(missing) > 0 {
		return fmt.Errorf("cgroup v2 at %s does not offer the %s controller(s) (it has %q); use --isolator process",
			m.root, strings.Join(missing, ", "), strings.Join(have, " "))
	}
	dir := m.root
	for _, part := range append([]string{""}, strings.Split(m.parent, "/")...) {
		if part != "" {
			dir = filepath.Join(dir, part)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				if isPermission(err) {
					return notWritable(m.root, err)
				}
				return fmt.Errorf("create cgroup %s: %w", dir, err)
			}
		}
		if err := enableControllers(dir); err != nil {
			if isPermission(err) {
				return notWritable(m.root, err)
			}
			return err
		}
	}
	return nil
}

// enableControllers writes "+cpu +memory +pids" (those not enabled yet)
// to dir's cgroup.subtree_control.
func enableControllers(dir string) error {
	path := filepath.Join(dir, "cgroup.subtree_control")
	on, err := readControllers(path)
	if err != nil {
		return fmt.Errorf("enable controllers in %s: %w", dir, err)
	}
	var add []string
	for _, c := range v2Controllers() {
		if !slices.Contains(on, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := writeCgroupFile(path, strings.Join(add, " ")); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("enable controllers in %s: it holds processes itself (cgroup v2 allows controllers only for cgroups without processes of their own); choose another --cgroup-parent: %w", dir, err)
		}
		return fmt.Errorf("enable controllers in %s: %w", dir, err)
	}
	return nil
}

// writeLimitsV2 writes cpu.max, memory.max, memory.swap.max (no swap, where
// the kernel offers swap accounting), memory.oom.group (an OOM kill takes
// the whole task, as systemd's OOMPolicy=stop does) and pids.max.
func (cg *taskCgroup) writeLimitsV2() error {
	d := cg.dirs[unifiedKey]
	if q := cpuQuotaUS(cg.limits.CPUs); q > 0 {
		if err := writeCgroupFile(filepath.Join(d, "cpu.max"), fmt.Sprintf("%d %d", q, cpuPeriodUS)); err != nil {
			return err
		}
	}
	if b := memLimitBytes(cg.limits.MemMiB); b > 0 {
		if err := writeCgroupFile(filepath.Join(d, "memory.max"), strconv.FormatInt(b, 10)); err != nil {
			return err
		}
		if f := filepath.Join(d, "memory.swap.max"); fileExists(f) {
			if err := writeCgroupFile(f, "0"); err != nil {
				return err
			}
		}
	}
	if f := filepath.Join(d, "memory.oom.group"); fileExists(f) {
		if err := writeCgroupFile(f, "1"); err != nil {
			return err
		}
	}
	return writeCgroupFile(filepath.Join(d, "pids.max"), strconv.Itoa(cg.pidsMax))
}

// startV2 starts cmd with clone3(CLONE_INTO_CGROUP): the child is created
// inside the task's cgroup.
func (cg *taskCgroup) startV2(cmd *exec.Cmd) error {
	fd, err := unix.Open(cg.dirs[unifiedKey], unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup: %w", err)
	}
	defer unix.Close(fd)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = fd
	return cmd.Start()
}

// oomKilledV2 reads memory.events: oom_kill counts processes the kernel
// killed for the cgroup's memory limit.
func (cg *taskCgroup) oomKilledV2() bool {
	ev, err := readKeyed(filepath.Join(cg.dirs[unifiedKey], "memory.events"))
	return err == nil && (ev["oom_kill"] > 0 || ev["oom_group_kill"] > 0)
}

// usageV2 reads cpu.stat usage_usec, memory.current and memory.peak (on
// kernels that have it).
func (cg *taskCgroup) usageV2() (Usage, error) {
	d := cg.dirs[unifiedKey]
	st, err := readKeyed(filepath.Join(d, "cpu.stat"))
	if err != nil {
		return Usage{}, err
	}
	cur, err := readUint(filepath.Join(d, "memory.current"))
	if err != nil {
		return Usage{}, err
	}
	peak, _ := readUint(filepath.Join(d, "memory.peak"))
	return Usage{CPUSeconds: float64(st["usage_usec"]) / 1e6, MemBytes: cur, MemPeakBytes: peak}, nil
}
