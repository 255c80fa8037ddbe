package isolate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CgroupConfig configures the cgroupfs backend.
type CgroupConfig struct {
	// Process configures the process backend the cgroupfs backend is built
	// on: checkpoints, sandboxes and logs live where it says.
	Process ProcessConfig
	// Root is where the cgroup hierarchies are mounted; "" means
	// /sys/fs/cgroup. A cgroup2 mount at Root (it holds cgroup.controllers)
	// is used as v2; otherwise the v1 controllers cpu, cpuacct, memory and
	// pids must be mounted at Root/<controller>.
	Root string
	// Parent is the cgroup, relative to each hierarchy's root, under which
	// every task gets its own cgroup Parent/<task id>; "" means "clusterd".
	Parent string
	// PidsMax is the pids.max of every task: at most this many processes
	// and threads; 0 means DefaultPidsMax.
	PidsMax int
}

// Defaults of CgroupConfig.
const (
	DefaultCgroupRoot   = "/sys/fs/cgroup"
	DefaultCgroupParent = "clusterd"
	// DefaultPidsMax stops a fork bomb long before the machine's pid space
	// (32768 by default) runs out, and is plenty for any sane task.
	DefaultPidsMax = 4096
)

// cpuPeriodUS is the CFS period every task's CPU quota is expressed in
// (100 ms, the kernel's default); cpuMinQuotaUS is the kernel's minimum.
const (
	cpuPeriodUS   = 100000
	cpuMinQuotaUS = 1000
)

// Cgroupfs runs each task as the process backend does (a /bin/sh -c
// process in its own session, watched through a pidfd, checkpointed in
// Dir/tasks/<task>/) and confines it to its own cgroup, written directly
// under /sys/fs/cgroup without systemd: CPU quota, memory limit without
// swap, and a pids limit. Usage comes from the cgroup, and the cgroup is
// removed (rmdir only) when the task has ended. Kill signals the process
// group and every process in the cgroup, so a child that left the group
// does not escape.
//
// An OOM kill in the cgroup ends the whole task, as systemd's
// OOMPolicy=stop does (v2: memory.oom.group; v1: an eventfd on
// memory.oom_control, one parked goroutine per task), and a failed task
// whose cgroup saw one is reported with Exit.Limitation LimitationMemory.
//
// A task is in its cgroup before it runs its first instruction: on v2 the
// kernel clones it straight into the cgroup (CLONE_INTO_CGROUP); on v1 the
// agent thread that forks it joins the task's cgroups for the fork (see
// taskCgroup.startV1), so the child is born inside them. Where that thread
// cannot return to its own cgroups (its cgroup paths are not visible under
// Root), v1 falls back to writing the pid right after the fork, with a
// short window in which the task runs unconfined.
//
// Tasks survive the agent as with the process backend; their exit codes do
// not (Capabilities). Recover re-attaches to the cgroups recorded in each
// task.json, and kills whatever is left in the cgroup of a task whose main
// process died while the agent was down.
type Cgroupfs struct {
	proc *Process
	cg   *cgroupManager
}

// NewCgroupfs detects the cgroup hierarchy under cfg.Root, creates
// cfg.Parent in it (enabling the cpu, memory and pids controllers for its
// children on v2) and returns the backend. It fails, saying what to do,
// when the hierarchy is missing or not writable.
func NewCgroupfs(cfg CgroupConfig) (*Cgroupfs, error) {
	if cfg.Root == "" {
		cfg.Root = DefaultCgroupRoot
	}
	if cfg.Parent == "" {
		cfg.Parent = DefaultCgroupParent
	}
	if cfg.PidsMax <= 0 {
		cfg.PidsMax = DefaultPidsMax
	}
	parent := filepath.Clean("/" + cfg.Parent)
	if parent == "/" {
		return nil, fmt.Errorf("cgroupfs isolator: Parent %q names the root cgroup; name a cgroup of its own such as %q", cfg.Parent, DefaultCgroupParent)
	}
	m, err := newCgroupManager(cfg.Root, parent[1:], cfg.PidsMax)
	if err != nil {
		return nil, fmt.Errorf("cgroupfs isolator: %w", err)
	}
	p, err := newProcess(cfg.Process, "cgroupfs")
	if err != nil {
		return nil, fmt.Errorf("cgroupfs isolator: %w", err)
	}
	p.cgroups = m
	p.log.Info("cgroups ready", "version", m.version, "parent", parent[1:], "root", cfg.Root)
	return &Cgroupfs{proc: p, cg: m}, nil
}

// Name returns "cgroupfs".
func (c *Cgroupfs) Name() string { return BackendCgroupfs }

// Capabilities: CPU and memory limits; tasks survive the agent, their exit
// codes do not.
func (c *Cgroupfs) Capabilities() Capabilities {
	return Capabilities{CPULimit: true, MemLimit: true, SurvivesAgentRestart: true}
}

// CgroupVersion is 1 or 2: the hierarchy tasks are confined in.
func (c *Cgroupfs) CgroupVersion() int { return c.cg.version }

// CgroupDirs lists the cgroup directories of a task (one on v2, one per
// controller on v1), whether or not they exist now.
func (c *Cgroupfs) CgroupDirs(taskID string) []string {
	return c.cg.taskCgroup(taskID, Limits{}).uniqueDirs()
}

// Launch creates the task's cgroup, writes its limits, and starts the task
// inside it. See Process.Launch.
func (c *Cgroupfs) Launch(ctx context.Context, spec LaunchSpec) (Running, error) {
	return c.proc.Launch(ctx, spec)
}

// Kill sends SIGTERM to the task's process group and to every process in
// its cgroup, and SIGKILL to both after the grace. See Process.Kill.
func (c *Cgroupfs) Kill(ctx context.Context, taskID string, grace time.Duration) error {
	return c.proc.Kill(ctx, taskID, grace)
}

// Exits delivers task ends.
func (c *Cgroupfs) Exits() <-chan Exit { return c.proc.Exits() }

// Usage reads the task's cgroup: CPU time, memory now and at its peak.
func (c *Cgroupfs) Usage(ctx context.Context, taskID string) (Usage, error) {
	return c.proc.Usage(ctx, taskID)
}

// Recover re-adopts running tasks with their cgroups; see Process.Recover.
func (c *Cgroupfs) Recover(ctx context.Context) ([]Running, error) { return c.proc.Recover(ctx) }

// Running lists the tasks running now, sorted by id.
func (c *Cgroupfs) Running() []Running { return c.proc.Running() }

// LogPath is Dir/tasks/<task>/stdout or stderr.
func (c *Cgroupfs) LogPath(taskID, stream string) string { return c.proc.LogPath(taskID, stream) }

// SandboxPath is the task's working directory.
func (c *Cgroupfs) SandboxPath(taskID string) string { return c.proc.SandboxPath(taskID) }

// Remove deletes a finished task's directory, and its cgroup if one is
// still there (it normally went when the task ended).
func (c *Cgroupfs) Remove(taskID string) error {
	if err := ValidateTaskID(taskID); err != nil {
		return fmt.Errorf("remove task: %w", err)
	}
	var cp taskCheckpoint
	if err := readJSON(filepath.Join(c.proc.taskDir(taskID), taskFile), &cp); err == nil {
		cg, err := trustedCgroup(c.cg, taskID, &cp)
		if err != nil {
			return fmt.Errorf("remove task: %w", err)
		}
		if cg != nil && !c.proc.isRunning(taskID) {
			if err := cg.remove(); err != nil {
				return fmt.Errorf("remove task %s: %w", taskID, err)
			}
		}
	}
	return c.proc.Remove(taskID)
}

// Close stops watching tasks; they keep running in their cgroups. The
// parent cgroup is removed when no task is left in it (rmdir only fails
// while it holds task cgroups), so a stopped agent leaves nothing behind.
func (c *Cgroupfs) Close() error {
	err := c.proc.Close()
	for _, dir := range c.CgroupDirs("") {
		_ = os.Remove(dir)
	}
	return err
}

// DetectCgroups says which cgroup hierarchy root holds (1 or 2; 0 if none
// usable), whether this process may create cgroups in it, and why not
// when it may not. `--isolator auto` picks cgroupfs only when writable.
//
// A cgroup2 mount at root counts as v2 only if it offers the cpu, memory
// and pids controllers; the hybrid layout (v1 controllers, an empty
// cgroup2 at root/unified) counts as v1.
func DetectCgroups(root string) (version int, writable bool, why string) {
	if root == "" {
		root = DefaultCgroupRoot
	}
	if fileExists(filepath.Join(root, "cgroup.controllers")) {
		have, err := readControllers(filepath.Join(root, "cgroup.controllers"))
		if err != nil {
			return 2, false, fmt.Sprintf("cgroup v2 at %s: %v", root, err)
		}
		if missing := missingControllers(have); len(missing) > 0 {
			return 2, false, fmt.Sprintf("cgroup v2 at %s lacks the %s controller(s)", root, strings.Join(missing, ", "))
		}
		if err := unix.Access(root, unix.W_OK); err != nil {
			return 2, false, fmt.Sprintf("cgroup v2 at %s is not writable: %v", root, err)
		}
		return 2, true, fmt.Sprintf("cgroup v2 at %s is writable", root)
	}
	var missing []string
	for _, c := range v1Controllers() {
		if !fileExists(filepath.Join(root, c, "cgroup.procs")) {
			missing = append(missing, c)
		}
	}
	if len(missing) == len(v1Controllers()) {
		return 0, false, fmt.Sprintf("no cgroup hierarchy at %s", root)
	}
	if len(missing) > 0 {
		return 1, false, fmt.Sprintf("cgroup v1 at %s lacks the %s controller(s)", root, strings.Join(missing, ", "))
	}
	for _, c := range v1Controllers() {
		if err := unix.Access(filepath.Join(root, c), unix.W_OK); err != nil {
			return 1, false, fmt.Sprintf("cgroup v1 controller %s at %s is not writable: %v", c, filepath.Join(root, c), err)
		}
	}
	return 1, true, fmt.Sprintf("cgroup v1 controllers %s at %s are writable", strings.Join(v1Controllers(), ", "), root)
}

// v1Controllers are the cgroup v1 controllers a task is confined by, each
// mounted at Root/<name> (possibly co-mounted, through a symlink).
func v1Controllers() []string { return []string{"cpu", "cpuacct", "memory", "pids"} }

// v2Controllers must be enabled for every task's cgroup on v2.
func v2Controllers() []string { return []string{"cpu", "memory", "pids"} }

func readControllers(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

func missingControllers(have []string) []string {
	var missing []string
	for _, want := range v2Controllers() {
		found := false
		for _, h := range have {
			found = found || h == want
		}
		if !found {
			missing = append(missing, want)
		}
	}
	return missing
}

// notWritable is the error for a hierarchy this process may not change.
func notWritable(root string, err error) error {
	return fmt.Errorf("cgroups under %s are not writable: run as root, or use --isolator process (%w)", root, err)
}

func isPermission(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EROFS) || errors.Is(err, unix.EPERM)
}
