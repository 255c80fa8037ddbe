package isolate

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// unifiedKey is the key of the single cgroup directory of a v2 task in
// taskCgroup.dirs (and in task.json's "cgroups").
const unifiedKey = "unified"

// cgroupManager knows where tasks' cgroups go: one hierarchy (v2) or one
// per controller (v1), each with the Parent cgroup created.
type cgroupManager struct {
	version int
	root    string
	parent  string // relative to each hierarchy's root, no leading '/'
	pidsMax int
	// mounts maps a v1 controller to its hierarchy's mount directory, with
	// symlinks resolved (co-mounted controllers share one); on v2 it maps
	// unifiedKey to root. Read-only once newCgroupManager returns.
	mounts map[string]string
}

// newCgroupManager detects the hierarchy at root and creates parent in it.
func newCgroupManager(root, parent string, pidsMax int) (*cgroupManager, error) {
	m := &cgroupManager{root: root, parent: parent, pidsMax: pidsMax, mounts: map[string]string{}}
	if fileExists(filepath.Join(root, "cgroup.controllers")) {
		m.version = 2
		m.mounts[unifiedKey] = root
	} else {
		m.version = 1
		if err := m.findMountsV1(); err != nil {
			return nil, err
		}
	}
	if err := m.setupParent(); err != nil {
		return nil, err
	}
	return m, nil
}

// setupParent creates the parent cgroup (again: an empty cgroup may be
// removed by an operator, or by a release agent, while clusterd runs).
func (m *cgroupManager) setupParent() error {
	if m.version == 2 {
		return m.setupV2()
	}
	return m.setupV1()
}

// taskCgroup is where task id goes, with the limits it is created with.
func (m *cgroupManager) taskCgroup(id string, lim Limits) *taskCgroup {
	cg := &taskCgroup{version: m.version, dirs: map[string]string{}, limits: lim, pidsMax: m.pidsMax}
	for c, mount := range m.mounts {
		cg.dirs[c] = filepath.Join(mount, m.parent, id)
	}
	return cg
}

// start creates the task's cgroup and starts the command newCmd builds in
// it. An empty cgroup can vanish under clusterd (an operator, or a systemd
// trimming the empty cgroups of a hierarchy it shares), so a cgroup
// directory found missing between creating it and starting the task makes
// start try again, a few times, with a new cgroup and command.
func (m *cgroupManager) start(id string, lim Limits, newCmd func() *exec.Cmd) (*exec.Cmd, *taskCgroup, error) {
	for attempt := 1; ; attempt++ {
		cg, err := m.create(id, lim)
		if err == nil {
			cmd := newCmd()
			if err = cg.start(cmd, m.mounts); err == nil {
				return cmd, cg, nil
			}
			_ = cg.remove()
			err = fmt.Errorf("start /bin/sh: %w", err)
		}
		if !errors.Is(err, os.ErrNotExist) || attempt == 3 {
			return nil, nil, err
		}
	}
}

// create makes the task's cgroup with its limits written, ready for the
// task to start in it. A leftover empty cgroup of the same name (an agent
// crash between creating it and checkpointing the task) is reused.
func (m *cgroupManager) create(id string, lim Limits) (*taskCgroup, error) {
	cg := m.taskCgroup(id, lim)
	for _, d := range cg.uniqueDirs() {
		err := os.Mkdir(d, 0o755)
		if errors.Is(err, os.ErrNotExist) {
			if err = m.setupParent(); err == nil {
				err = os.Mkdir(d, 0o755)
			}
		}
		if err != nil && !errors.Is(err, os.ErrExist) {
			_ = cg.remove()
			if isPermission(err) {
				return nil, notWritable(m.root, err)
			}
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
	}
	if pids, err := cg.procs(); err != nil || len(pids) > 0 {
		if err == nil {
			err = fmt.Errorf("cgroup %s already holds processes %v (of a task not in the checkpoints?); kill them first", cg.uniqueDirs()[0], pids)
		}
		return nil, err
	}
	var err error
	if cg.version == 2 {
		err = cg.writeLimitsV2()
	} else {
		err = cg.writeLimitsV1()
	}
	if err != nil {
		_ = cg.remove()
		return nil, fmt.Errorf("cgroup limits: %w", err)
	}
	return cg, nil
}

// taskCgroup is one task's cgroup: a directory on v2, one per controller
// on v1.
type taskCgroup struct {
	version int
	dirs    map[string]string // controller (v1) or unifiedKey (v2) → directory
	limits  Limits
	pidsMax int
	oomSeen atomic.Bool // the v1 OOM watch saw an OOM in the cgroup
}

// dir is the directory holding controller's files.
func (cg *taskCgroup) dir(controller string) string {
	if cg.version == 2 {
		return cg.dirs[unifiedKey]
	}
	return cg.dirs[controller]
}

// uniqueDirs lists the task's cgroup directories, sorted, each once.
func (cg *taskCgroup) uniqueDirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range cg.dirs {
		if d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// start starts cmd inside the cgroup, so that no instruction of the task
// runs outside it.
func (cg *taskCgroup) start(cmd *exec.Cmd, mounts map[string]string) error {
	if cg.version == 2 {
		return cg.startV2(cmd)
	}
	return cg.startV1(cmd, mounts)
}

// procs lists the processes in the cgroup (every directory's cgroup.procs;
// on v1 a process may sit in some controllers' cgroups only).
//
// The agent's own pid is never listed. On v1 a process is in a cgroup's
// cgroup.procs while any of its threads is, and startV1 moves one of the
// agent's threads into the task's cgroups for the moment of a fork: a Kill
// or a sweep reading the list then (an Exec into the task racing its kill)
// would otherwise signal the agent itself.
func (cg *taskCgroup) procs() ([]int, error) {
	self := os.Getpid()
	seen := map[int]bool{self: true}
	var out []int
	for _, d := range cg.uniqueDirs() {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err == nil && pid > 0 && !seen[pid] {
				seen[pid] = true
				out = append(out, pid)
			}
		}
	}
	sort.Ints(out)
	return out, nil
}

// signal sends sig once to every process in the cgroup outside process
// group pgid (0: to all). Kill signals the task's process group itself;
// skipping it here means no process gets the same SIGTERM twice (many
// programs take a second one as "stop now").
func (cg *taskCgroup) signal(sig syscall.Signal, pgid int) {
	pids, _ := cg.procs()
	for _, pid := range pids {
		if pgid > 0 {
			if g, err := unix.Getpgid(pid); err == nil && g == pgid {
				continue
			}
		}
		_ = syscall.Kill(pid, sig)
	}
}

// sigkill SIGKILLs every process in the cgroup once: through cgroup.kill
// on v2 kernels that have it (which also catches processes forking
// meanwhile), else one by one.
func (cg *taskCgroup) sigkill() {
	if cg.version == 2 {
		f := filepath.Join(cg.dirs[unifiedKey], "cgroup.kill")
		if fileExists(f) && writeCgroupFile(f, "1") == nil {
			return
		}
	}
	cg.signal(syscall.SIGKILL, 0)
}

// emptyTimeout bounds how long the cgroup is SIGKILLed and waited for to
// empty, and how long an rmdir of a cgroup the kernel is still freeing
// is retried.
const emptyTimeout = 5 * time.Second

// killAll SIGKILLs everything in the cgroup until it is empty (processes
// forking meanwhile are caught by the next round), for at most
// emptyTimeout. On v2 the kernel does it at once through cgroup.kill.
func (cg *taskCgroup) killAll() error {
	deadline := time.Now().Add(emptyTimeout)
	for {
		pids, err := cg.procs()
		if err != nil || len(pids) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still holds processes %v after SIGKILL", cg.uniqueDirs()[0], pids)
		}
		cg.sigkill()
		time.Sleep(5 * time.Millisecond)
	}
}

// remove deletes the task's cgroup directories with rmdir: only empty
// cgroups go, never anything else under the hierarchy. A cgroup whose last
// process just died can stay busy for a moment while the kernel frees it;
// rmdir is retried for up to emptyTimeout. Missing directories are fine.
func (cg *taskCgroup) remove() error {
	var errs []error
	deadline := time.Now().Add(emptyTimeout)
	for _, d := range cg.uniqueDirs() {
		for {
			err := unix.Rmdir(d)
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// oomKilled says whether the kernel OOM-killed a process in the cgroup.
func (cg *taskCgroup) oomKilled() bool {
	if cg.version == 2 {
		return cg.oomKilledV2()
	}
	return cg.oomKilledV1()
}

// usage reads CPU time and memory from the cgroup's files.
func (cg *taskCgroup) usage() (Usage, error) {
	if cg.version == 2 {
		return cg.usageV2()
	}
	return cg.usageV1()
}

// oomMessage is Exit.Message for a task whose cgroup saw an OOM kill.
func (cg *taskCgroup) oomMessage() string {
	if cg.limits.MemMiB > 0 {
		return fmt.Sprintf("killed: out of memory (limit %s MiB)", strconv.FormatFloat(cg.limits.MemMiB, 'f', -1, 64))
	}
	return "killed: out of memory"
}

// release ends what is left of a task whose main process is gone: it
// kills every process left in the cgroup, notes an OOM kill in e, and
// removes the cgroup.
//
// An OOM kill is the task's Limitation only if the task failed: a task
// that exited 0 although the kernel killed one of its processes did not
// end because of its limit, and a task killed through Kill keeps its
// Killed reason and message.
func (cg *taskCgroup) release(e *Exit, killed bool) error {
	kerr := cg.killAll()
	failed := e.Reason != Exited || e.ExitCode != 0
	if !killed && failed && cg.oomKilled() {
		e.Limitation = LimitationMemory
		if e.Reason == Lost {
			e.Message = cg.oomMessage() + "; " + e.Message
		} else {
			e.Message = cg.oomMessage()
		}
	}
	return errors.Join(kerr, cg.remove())
}

// writeCgroupFile writes one value to an existing cgroup interface file.
// It never creates a file: a file the kernel does not offer is an error.
func writeCgroupFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// readUint reads a file holding one unsigned number.
func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}

// readKeyed reads a flat-keyed cgroup file ("key value" lines: cpu.stat,
// memory.events, memory.oom_control) into a map.
func readKeyed(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			out[f[0]] = v
		}
	}
	return out, nil
}

// cpuQuotaUS is the CFS quota, per cpuPeriodUS, for cpus cores; 0 for no
// limit.
func cpuQuotaUS(cpus float64) int64 {
	if cpus <= 0 {
		return 0
	}
	q := int64(cpus*cpuPeriodUS + 0.5)
	if q < cpuMinQuotaUS {
		q = cpuMinQuotaUS
	}
	return q
}

// memLimitBytes is the memory limit in bytes for mib MiB; 0 for no limit.
func memLimitBytes(mib float64) int64 {
	if mib <= 0 {
		return 0
	}
	return int64(mib * (1 << 20))
}
