package isolate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MachineResources is what this machine offers to tasks.
type MachineResources struct {
	CPUs    float64 // cores, fractional under a CPU quota
	MemMiB  float64 // after the reservation for the OS and clusterd
	DiskMiB float64 // space available on the data dir's filesystem
	GPUs    []string
	Ports   []PortRange
}

// PortRange is an inclusive range of TCP/UDP ports.
type PortRange struct {
	Begin, End uint16
}

// The port range offered when none is configured: Mesos' default,
// 31000-32000.
const (
	DefaultPortsBegin = 31000
	DefaultPortsEnd   = 32000
)

// Memory reserved for the OS and clusterd itself: 10% of the memory plus
// 256 MiB, at most 1 GiB, and never more than half of it.
const (
	memReserveFixedMiB = 256
	memReserveMaxMiB   = 1024
)

// Detect measures this machine:
//
//   - CPUs: the CPUs this process may run on, or the CPU quota of its
//     cgroup (v2 cpu.max, v1 cpu.cfs_quota_us, the smallest along the path
//     to the root) if that is smaller;
//   - MemMiB: MemTotal (or the cgroup memory limit if smaller) minus the
//     reservation above;
//   - DiskMiB: the space available to clusterd on dataDir's filesystem
//     (dataDir is created if missing; if it cannot be, its nearest existing
//     parent is measured);
//   - GPUs: the UUIDs `nvidia-smi -L` lists, none if it is missing or fails;
//   - Ports: DefaultPortsBegin-DefaultPortsEnd.
//
// Operators override any of these on the command line.
func Detect(dataDir string) (MachineResources, error) {
	var r MachineResources
	cgroups := readSelfCgroups("/proc/self/cgroup")

	r.CPUs = float64(runtime.NumCPU())
	if q, ok := cgroupCPUQuota("/sys/fs/cgroup", cgroups); ok && q < r.CPUs {
		r.CPUs = q
	}

	total, err := memTotalMiB("/proc/meminfo")
	if err != nil {
		return r, fmt.Errorf("detect memory: %w", err)
	}
	if lim, ok := cgroupMemLimitMiB("/sys/fs/cgroup", cgroups); ok && lim < total {
		total = lim
	}
	r.MemMiB = total - memReserveMiB(total)

	disk, err := diskAvailableMiB(dataDir)
	if err != nil {
		return r, fmt.Errorf("detect disk: %w", err)
	}
	r.DiskMiB = disk

	r.GPUs = nvidiaGPUs()
	r.Ports = []PortRange{{Begin: DefaultPortsBegin, End: DefaultPortsEnd}}
	return r, nil
}

// memReserveMiB is the memory kept back from tasks on a machine with total
// MiB.
func memReserveMiB(total float64) float64 {
	res := total/10 + memReserveFixedMiB
	res = min(res, memReserveMaxMiB, total/2)
	return res
}

func memTotalMiB(meminfo string) (float64, error) {
	b, err := os.ReadFile(meminfo)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s: %w", meminfo, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no MemTotal in %s", meminfo)
}

// selfCgroups maps a cgroup v1 controller ("cpu", "memory") to this
// process's cgroup path; the key "" holds the cgroup v2 path.
type selfCgroups map[string]string

func readSelfCgroups(path string) selfCgroups {
	out := selfCgroups{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

// cgroupDirs lists the directories of a cgroup and its ancestors, deepest
// first, under each candidate mount point.
func cgroupDirs(mounts []string, cgPath string) []string {
	var dirs []string
	for _, m := range mounts {
		if _, err := os.Stat(m); err != nil {
			continue
		}
		p := filepath.Clean("/" + cgPath)
		for {
			dirs = append(dirs, filepath.Join(m, p))
			if p == "/" {
				break
			}
			p = filepath.Dir(p)
		}
		break
	}
	return dirs
}

// cgroupCPUQuota is the smallest CPU quota, in cores, set on this process's
// cgroup or an ancestor; ok is false if none is set.
func cgroupCPUQuota(root string, cg selfCgroups) (float64, bool) {
	best, ok := 0.0, false
	take := func(q float64) {
		if q > 0 && (!ok || q < best) {
			best, ok = q, true
		}
	}
	if p, has := cg[""]; has {
		for _, d := range cgroupDirs([]string{root, filepath.Join(root, "unified")}, p) {
			b, err := os.ReadFile(filepath.Join(d, "cpu.max"))
			if err != nil {
				continue
			}
			f := strings.Fields(string(b))
			if len(f) == 2 && f[0] != "max" {
				quota, e1 := strconv.ParseFloat(f[0], 64)
				period, e2 := strconv.ParseFloat(f[1], 64)
				if e1 == nil && e2 == nil && period > 0 {
					take(quota / period)
				}
			}
		}
	}
	if p, has := cg["cpu"]; has {
		mounts := []string{filepath.Join(root, "cpu"), filepath.Join(root, "cpu,cpuacct"), filepath.Join(root, "cpuacct,cpu")}
		for _, d := range cgroupDirs(mounts, p) {
			quota, e1 := readNumber(filepath.Join(d, "cpu.cfs_quota_us"))
			period, e2 := readNumber(filepath.Join(d, "cpu.cfs_period_us"))
			if e1 == nil && e2 == nil && quota > 0 && period > 0 {
				take(quota / period)
			}
		}
	}
	return best, ok
}

// cgroupMemLimitMiB is the smallest memory limit set on this process's
// cgroup or an ancestor; ok is false if none is set.
func cgroupMemLimitMiB(root string, cg selfCgroups) (float64, bool) {
	best, ok := 0.0, false
	take := func(bytes float64) {
		// v1 reports "no limit" as a huge page-aligned number.
		if bytes > 0 && bytes < 1<<60 && (!ok || bytes/(1<<20) < best) {
			best, ok = bytes/(1<<20), true
		}
	}
	if p, has := cg[""]; has {
		for _, d := range cgroupDirs([]string{root, filepath.Join(root, "unified")}, p) {
			if v, err := readNumber(filepath.Join(d, "memory.max")); err == nil {
				take(v)
			}
		}
	}
	if p, has := cg["memory"]; has {
		for _, d := range cgroupDirs([]string{filepath.Join(root, "memory")}, p) {
			if v, err := readNumber(filepath.Join(d, "memory.limit_in_bytes")); err == nil {
				take(v)
			}
		}
	}
	return best, ok
}

func readNumber(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
}

// diskAvailableMiB is the space an unprivileged writer may use on dir's
// filesystem.
func diskAvailableMiB(dir string) (float64, error) {
	if dir == "" {
		return 0, errors.New("data dir is empty")
	}
	p, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		for !fileExists(p) && p != filepath.Dir(p) {
			p = filepath.Dir(p)
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", p, err)
	}
	return float64(st.Bavail) * float64(st.Bsize) / (1 << 20), nil
}

// nvidiaGPUs lists the GPUs nvidia-smi knows, by UUID (by index where a
// line carries none). It never fails: no nvidia-smi means no GPUs.
func nvidiaGPUs() []string {
	path, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-L").Output()
	if err != nil {
		return nil
	}
	return parseNvidiaSMIList(string(out))
}

var (
	gpuLine = regexp.MustCompile(`^GPU (\d+):`)
	gpuUUID = regexp.MustCompile(`\(UUID: ([^)]+)\)`)
)

// parseNvidiaSMIList parses `nvidia-smi -L`, one line per GPU:
//
//	GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5e6a...)
//
// MIG devices (indented "MIG ..." lines) are not listed separately.
func parseNvidiaSMIList(out string) []string {
	var ids []string
	for _, line := range strings.Split(out, "\n") {
		m := gpuLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if u := gpuUUID.FindStringSubmatch(line); u != nil {
			ids = append(ids, u[1])
		} else {
			ids = append(ids, m[1])
		}
	}
	return ids
}
