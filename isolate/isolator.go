// Package isolate owns running tasks on this machine: the Isolator interface
// and its backends (plain processes now; systemd transient units and cgroupfs
// later), detection of the machine's resources, usage sampling, task logs,
// and re-adoption of tasks that kept running while clusterd restarted.
//
// It speaks in operating-system terms (limits, signals, exit codes), never in
// scheduler terms, and it never decides what runs where.
package isolate

import (
	"context"
	"errors"
	"time"
)

// ErrUnknownTask is returned for a task id the isolator is not running.
var ErrUnknownTask = errors.New("unknown task")

// Limits are the resources a task is confined to. A backend that cannot
// enforce a limit (the process backend enforces none) says so in Capabilities.
type Limits struct {
	CPUs    float64 // cores; 0 means no limit
	MemMiB  float64 // 0 means no limit
	DiskMiB float64
	GPUs    []string // device ids assigned to the task
}

// Sandbox profiles. Hardened is the default: a task runs with the least
// privilege the backend can give it. A job may ask for Relaxed explicitly.
const (
	ProfileHardened = "hardened"
	ProfileRelaxed  = "relaxed"
)

// LaunchSpec describes one task to start.
type LaunchSpec struct {
	TaskID string
	// Profile is ProfileHardened ("" means hardened) or ProfileRelaxed. A
	// backend that cannot apply the protections a profile asks for fails
	// the launch: a task never runs less protected than asked.
	Profile string
	// User is the user to run as; "" means a dynamic, unprivileged user
	// where the backend supports one.
	User string
	// Cmd is run as /bin/sh -c Cmd.
	Cmd    string
	Env    map[string]string
	Limits Limits
	// KillGrace is the time between SIGTERM and SIGKILL when the task is
	// killed. It is recorded at launch so a kill after an agent restart still
	// honours it.
	KillGrace time.Duration
}

// ExitReason says how a task ended.
type ExitReason int

const (
	// Exited means the task's process exited by itself; ExitCode is valid.
	Exited ExitReason = iota
	// Killed means the task was stopped through Kill.
	Killed
	// Signaled means the task died of a signal clusterd did not send.
	Signaled
	// Lost means the task ended while clusterd was not watching (for
	// example across an agent restart with a backend that cannot record exit
	// codes), so its exit status is unknown.
	Lost
	// LaunchFailed means the task never started (bad working dir, exec error).
	LaunchFailed
)

func (r ExitReason) String() string {
	switch r {
	case Exited:
		return "exited"
	case Killed:
		return "killed"
	case Signaled:
		return "signaled"
	case Lost:
		return "lost"
	case LaunchFailed:
		return "launch failed"
	}
	return "unknown"
}

// Exit reports the end of a task.
type Exit struct {
	TaskID   string
	Reason   ExitReason
	ExitCode int    // valid when Reason is Exited; -1 otherwise
	Signal   string // for Signaled, e.g. "killed"
	// Limitation names the limit that ended the task, when one did:
	// LimitationMemory for an OOM kill.
	Limitation string
	Message    string // human-readable detail
	Time       time.Time
}

// LimitationMemory is Exit.Limitation for a task killed for exceeding its
// memory limit.
const LimitationMemory = "memory"

// Running describes a task the isolator is running now.
type Running struct {
	TaskID    string
	PID       int
	StartedAt time.Time
}

// Usage is what a task consumes now.
type Usage struct {
	CPUSeconds   float64 // cumulative CPU time (user+system)
	MemBytes     uint64  // resident memory now
	MemPeakBytes uint64  // highest memory use seen, where the backend knows it (0 otherwise)
}

// Capabilities says which limits a backend enforces.
type Capabilities struct {
	CPULimit             bool
	MemLimit             bool
	SurvivesAgentRestart bool // tasks keep running when clusterd exits
	ExitCodeAfterRestart bool // exit codes of tasks that ended while clusterd was down are known
}

// Isolator runs tasks on this machine.
//
// Implementations are safe for concurrent use. Exits are delivered on the
// channel returned by Exits exactly once per launched (or recovered) task;
// the channel must be drained by the caller, and an isolator must never block
// Launch or Kill on a slow reader (buffer internally).
type Isolator interface {
	// Name is the backend name: "process", "systemd", "cgroupfs".
	Name() string
	Capabilities() Capabilities
	// Launch starts a task and returns once it has started (or failed to).
	// Launching a task id that is already running is an error.
	Launch(ctx context.Context, spec LaunchSpec) (Running, error)
	// Kill sends SIGTERM to the whole task (its process group or cgroup),
	// then SIGKILL after grace. It returns without waiting for the exit,
	// which is reported on Exits with Reason Killed. Killing an unknown task
	// returns ErrUnknownTask.
	Kill(ctx context.Context, taskID string, grace time.Duration) error
	// Exits delivers task ends.
	Exits() <-chan Exit
	// Usage samples one running task.
	Usage(ctx context.Context, taskID string) (Usage, error)
	// Recover re-adopts the tasks recorded in the agent's checkpoint that
	// are still running, and reports as exits (Reason Lost or Exited) those
	// that ended while clusterd was down. Call it once, before any Launch.
	Recover(ctx context.Context) ([]Running, error)
	// Running lists the tasks running now.
	Running() []Running
	// LogPath is the file holding a task's stdout ("stdout") or stderr ("stderr").
	LogPath(taskID, stream string) string
	// Close stops watching tasks. Running tasks keep running (they are
	// re-adopted by the next Recover); Close does not kill them.
	Close() error
}

// Remover is implemented by backends that keep a finished task's checkpoint,
// sandbox and logs on disk (the process backend does). The agent calls
// Remove when it garbage-collects a task whose terminal status was
// acknowledged; until then, Recover may report the task's exit again (exit
// delivery is at least once). Discover it by type assertion.
type Remover interface {
	Remove(taskID string) error
}
