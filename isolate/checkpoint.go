package isolate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Checkpoint files in each task directory, Dir/tasks/<task id>/.
const (
	// taskFile is written before Launch returns: the task exists.
	taskFile = "task.json"
	// exitFile is written when the task ends, before its Exit is sent.
	exitFile = "exit.json"

	checkpointVersion = 1
)

// taskCheckpoint is task.json. Fields are only ever added.
type taskCheckpoint struct {
	Version int    `json:"version"`
	TaskID  string `json:"task_id"`
	PID     int    `json:"pid"` // also the task's process group and session id
	// StartTicks is field 22 of /proc/PID/stat (clock ticks after boot):
	// with BootID it tells the task's process apart from a later process
	// that reuses the pid.
	StartTicks  uint64    `json:"start_ticks"`
	BootID      string    `json:"boot_id,omitempty"`
	KillGraceMS int64     `json:"kill_grace_ms"`
	LaunchedAt  time.Time `json:"launched_at"`
	Cmd         string    `json:"cmd"`

	// Set by the cgroupfs backend: the hierarchy version (1 or 2), the
	// task's cgroup directories by controller ("unified" on v2), and its
	// memory limit (for the OOM message of an exit found by Recover).
	CgroupVersion int               `json:"cgroup_version,omitempty"`
	Cgroups       map[string]string `json:"cgroups,omitempty"`
	MemLimitMiB   float64           `json:"mem_limit_mib,omitempty"`

	// Set by the process and cgroupfs backends for Exec: the task's whole
	// environment and the identity it runs as. Absent in checkpoints of
	// older agents, whose tasks Exec refuses (it never guesses a user).
	Env   []string   `json:"env,omitempty"`
	RunAs *taskCreds `json:"run_as,omitempty"`
}

// setCgroup records cg (nil: none) in the checkpoint.
func (c *taskCheckpoint) setCgroup(cg *taskCgroup) {
	if cg == nil {
		return
	}
	c.CgroupVersion = cg.version
	c.Cgroups = cg.dirs
	c.MemLimitMiB = cg.limits.MemMiB
}

// cgroup is the task's recorded cgroup; nil if it has none. What it names
// is only what the file says: before anything is killed in it or removed,
// trustedCgroup checks it against where this agent puts its tasks.
func (c *taskCheckpoint) cgroup() *taskCgroup {
	if len(c.Cgroups) == 0 || (c.CgroupVersion != 1 && c.CgroupVersion != 2) {
		return nil
	}
	return &taskCgroup{version: c.CgroupVersion, dirs: c.Cgroups, limits: Limits{MemMiB: c.MemLimitMiB}}
}

// trustedCgroup is the cgroup of the checkpointed task id that m (nil: an
// agent without cgroups) may kill processes in and remove. It is always
// the one m would have made for id, never a directory read from the file:
// a checkpoint is a file on disk, and one edited, corrupted or left by
// another configuration must not make the agent kill every process of
// another cgroup, or rmdir it. A checkpoint that names other directories
// fails closed: nil (nothing is touched) and an error saying what it named.
func trustedCgroup(m *cgroupManager, id string, c *taskCheckpoint) (*taskCgroup, error) {
	rec := c.cgroup()
	if rec == nil {
		if len(c.Cgroups) > 0 {
			return nil, fmt.Errorf("task %s: checkpoint names cgroups %v of unknown cgroup version %d; left alone", id, c.Cgroups, c.CgroupVersion)
		}
		return nil, nil
	}
	if m == nil {
		return nil, fmt.Errorf("task %s: checkpoint names cgroups %v but this agent does not place tasks in cgroups; left alone", id, rec.dirs)
	}
	want := m.taskCgroup(id, rec.limits)
	if rec.version != want.version || len(rec.dirs) != len(want.dirs) {
		return nil, fmt.Errorf("task %s: checkpoint names cgroup v%d %v, not this agent's v%d %v; left alone", id, rec.version, rec.dirs, want.version, want.dirs)
	}
	for controller, dir := range rec.dirs {
		if filepath.Clean(dir) != want.dirs[controller] {
			return nil, fmt.Errorf("task %s: checkpoint names cgroup %s for %s, not this agent's %s; left alone", id, dir, controller, want.dirs[controller])
		}
	}
	return want, nil
}

// exitCheckpoint is exit.json. Fields are only ever added.
type exitCheckpoint struct {
	Version  int       `json:"version"`
	TaskID   string    `json:"task_id"`
	Reason   string    `json:"reason"` // ExitReason.String()
	ExitCode int       `json:"exit_code"`
	Signal   string    `json:"signal,omitempty"`
	Message  string    `json:"message,omitempty"`
	Time     time.Time `json:"time"`
	// Limitation is Exit.Limitation ("memory" after an OOM kill).
	Limitation string `json:"limitation,omitempty"`
}

func exitRecord(e Exit) exitCheckpoint {
	return exitCheckpoint{
		Version:    checkpointVersion,
		TaskID:     e.TaskID,
		Reason:     e.Reason.String(),
		ExitCode:   e.ExitCode,
		Signal:     e.Signal,
		Message:    e.Message,
		Time:       e.Time,
		Limitation: e.Limitation,
	}
}

func (c exitCheckpoint) exit() Exit {
	reason := Lost
	for r := Exited; r <= LaunchFailed; r++ {
		if r.String() == c.Reason {
			reason = r
		}
	}
	return Exit{TaskID: c.TaskID, Reason: reason, ExitCode: c.ExitCode, Signal: c.Signal,
		Limitation: c.Limitation, Message: c.Message, Time: c.Time}
}

// writeJSONAtomic replaces path with v: it writes a temporary file in the
// same directory and renames it over path, so a reader (or a restarted
// agent) sees the old content or the new one, never a part.
//
// It does not fsync, on purpose: checkpoints only matter across a restart of
// clusterd, which the page cache survives. A machine crash that could lose
// unsynced data also kills every task the checkpoints describe, so syncing
// would buy nothing and cost a disk flush per launch and per exit.
// CheckpointHook, when set, is called before (after=false) and after
// (after=true) every checkpoint write: node points it at its failpoints.
var CheckpointHook func(after bool)

func writeJSONAtomic(path string, v any) error {
	if CheckpointHook != nil {
		CheckpointHook(false)
		defer CheckpointHook(true)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// MaxTaskIDLen is the longest task id an isolator accepts.
const MaxTaskIDLen = 200

// ErrInvalidTaskID is wrapped by the error of an operation given a task id
// that is unsafe as a file name.
var ErrInvalidTaskID = errors.New("invalid task id")

// ValidateTaskID checks that id is safe as one path component (and as part
// of a systemd unit name's escaped form): non-empty, at most MaxTaskIDLen
// bytes, not "." or "..", without '/', NUL or control characters.
func ValidateTaskID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidTaskID)
	case len(id) > MaxTaskIDLen:
		return fmt.Errorf("%w: %d bytes long, at most %d allowed", ErrInvalidTaskID, len(id), MaxTaskIDLen)
	case id == "." || id == "..":
		return fmt.Errorf("%w: %q is not a file name", ErrInvalidTaskID, id)
	case strings.ContainsRune(id, '/'):
		return fmt.Errorf("%w: %q contains '/'", ErrInvalidTaskID, id)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %q contains a control character", ErrInvalidTaskID, id)
		}
	}
	return nil
}
