package isolate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Execer is implemented by backends that can run a command inside a
// running task's isolation (for COMMAND health checks). Discover it by type
// assertion. The process, cgroupfs and systemd backends implement it.
//
// A check must never run on the host as the agent's user: that would let
// anyone who can submit a job run commands as the agent (root). So Exec
// fails, rather than run the command with less isolation than the task
// has, whenever it cannot reproduce the task's isolation (a setting the
// host's systemd rejects, a task recorded by an older agent that did not
// record its user and environment).
type Execer interface {
	// Exec runs `/bin/sh -c command` as the task's user, in its sandbox
	// (the working directory), with its environment (the task's env plus
	// what Launch sets: CLUSTERD_TASK_ID, CLUSTERD_SANDBOX, ...), inside its
	// cgroup or unit limits (a check cannot escape the task's memory or pids
	// limits), in a process group (and session) of its own, with stdin
	// /dev/null. It returns the exit code (128+N for a command killed by
	// signal N) and the tail of the combined stdout and stderr: at most
	// MaxExecOutput bytes, the last ones.
	//
	// Nothing the command started outlives Exec: once the command's shell
	// exits, whatever is left in its process group (or unit) is SIGKILLed.
	// When ctx ends first, the whole process group (or unit) is SIGKILLed
	// and Exec returns exit code -1, the output read so far, and an error
	// wrapping ctx.Err(). Every wait is bounded by ctx, except a short,
	// fixed cleanup after it (execCleanupTimeout).
	//
	// A task that is not running here (unknown, ended) gives an error
	// wrapping ErrNotRunning.
	Exec(ctx context.Context, taskID, command string) (exitCode int, output string, err error)
}

// ErrNotRunning is wrapped by Exec's error for a task that is not running
// on this isolator (never launched or recovered here, or already ended).
var ErrNotRunning = errors.New("task is not running")

// MaxExecOutput is the most output Exec returns: the tail of it.
const MaxExecOutput = 4 << 10

// Bounds of the waits Exec does once the command is over (or ctx ended).
const (
	// execDrainTimeout bounds reading the rest of the output pipe after
	// the command and its group are gone: a process that left the group
	// (setsid) may hold the pipe open forever.
	execDrainTimeout = time.Second
	// execCleanupTimeout bounds waiting for a SIGKILLed command (or unit)
	// to be gone after ctx ended.
	execCleanupTimeout = 5 * time.Second
)

// notRunning is Exec's error for a task that is not running here.
func notRunning(taskID string) error {
	return fmt.Errorf("exec in task %s: %w", taskID, ErrNotRunning)
}

// tailBuffer is an io.Writer that keeps the last max bytes written to it.
// It is not safe for concurrent use.
type tailBuffer struct {
	max int
	buf []byte // holds at most 2*max bytes; the tail is its last max
}

func newTailBuffer(max int) *tailBuffer {
	return &tailBuffer{max: max, buf: make([]byte, 0, 2*max)}
}

// Write keeps the last max bytes of what was written so far. It never
// fails, so a command is never stopped for writing too much.
func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= b.max {
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return n, nil
	}
	if len(b.buf)+len(p) > 2*b.max {
		// Compact: keep the last max-len(p) bytes, then append.
		keep := b.max - len(p)
		copy(b.buf, b.buf[len(b.buf)-keep:])
		b.buf = b.buf[:keep]
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

// String is the tail: the last max bytes written (fewer if fewer were).
func (b *tailBuffer) String() string {
	if len(b.buf) > b.max {
		return string(b.buf[len(b.buf)-b.max:])
	}
	return string(b.buf)
}

// readTail copies r into a tailBuffer until EOF or an error (a read
// deadline), then closes done. The buffer is the caller's once done is
// closed.
func readTail(r *os.File) (*tailBuffer, <-chan struct{}) {
	out := newTailBuffer(MaxExecOutput)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	return out, done
}

// drainTail waits for the reader of r to reach EOF, for at most
// execDrainTimeout (none if ctx has ended: the output so far is enough),
// then stops it and closes r. The command's processes must be gone by
// now, so what they wrote is in the pipe already.
func drainTail(ctx context.Context, r *os.File, done <-chan struct{}) {
	wait := execDrainTimeout
	if ctx.Err() != nil {
		wait = 0
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		_ = r.SetReadDeadline(time.Now())
		<-done
	}
	r.Close()
}

// waitStatusCode is the exit code of a shell's wait status: the status of
// a process that exited, 128+N for one killed by signal N (as a shell's $?
// reports it), -1 otherwise.
func waitStatusCode(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return -1
}
