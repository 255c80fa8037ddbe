package isolate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var _ Execer = (*Process)(nil)

// taskCreds is the identity a task runs as, recorded in its checkpoint at
// launch so that Exec runs a check as the same user after an agent
// restart, whoever the agent runs as then.
type taskCreds struct {
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
}

// agentCreds is the identity of this process: the process backend starts
// its tasks with it (LaunchSpec.User is not applied by this backend).
func agentCreds() (*taskCreds, error) {
	groups, err := os.Getgroups()
	if err != nil {
		return nil, fmt.Errorf("read the agent's groups: %w", err)
	}
	c := &taskCreds{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}
	for _, g := range groups {
		c.Groups = append(c.Groups, uint32(g))
	}
	return c, nil
}

// credential is what a command must be started with to run as c: nil when
// the agent is c's user already. Only root can switch users; an agent
// running as another user than the task's refuses rather than run the
// command as itself.
func (c *taskCreds) credential() (*syscall.Credential, error) {
	if os.Geteuid() == 0 {
		// Exactly the task's ids and groups, even when they are root's.
		return &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: c.Groups}, nil
	}
	if uint32(os.Geteuid()) != c.UID || uint32(os.Getegid()) != c.GID {
		return nil, fmt.Errorf("the task runs as uid %d gid %d, and the agent (uid %d) cannot switch to them; restart the agent as root or as that user",
			c.UID, c.GID, os.Geteuid())
	}
	return nil, nil
}

// Exec runs command in a running task's isolation; see Execer.
//
// The command is /bin/sh -c command in the task's sandbox, with the
// environment and credentials recorded at launch, in a session and process
// group of its own. With cgroups (the cgroupfs backend) it is started
// inside the task's cgroup exactly as the task was (taskCgroup.start), so
// it counts against, and is killed with, the task's CPU, memory and pids
// limits; an OOM kill it causes ends the whole task, as the task's own
// would.
//
// Per call it costs a fork and exec, a pipe, and two goroutines (output,
// and a pidfd parked in the runtime poller).
func (p *Process) Exec(ctx context.Context, taskID, command string) (int, string, error) {
	p.mu.Lock()
	t := p.tasks[taskID]
	closed := p.closed
	p.mu.Unlock()
	switch {
	case closed:
		return -1, "", fmt.Errorf("exec in task %s: isolator is closed", taskID)
	case t == nil:
		return -1, "", notRunning(taskID)
	case t.env == nil || t.creds == nil:
		return -1, "", fmt.Errorf("exec in task %s: its checkpoint, written by an older agent, does not record its user and environment; the command is not run outside the task's isolation: relaunch the task", taskID)
	case p.cgroups != nil && t.cg == nil:
		return -1, "", fmt.Errorf("exec in task %s: the task has no recorded cgroup; the command is not run outside the task's limits: relaunch the task", taskID)
	}
	if err := ctx.Err(); err != nil {
		return -1, "", fmt.Errorf("exec in task %s: %w", taskID, err)
	}
	cred, err := t.creds.credential()
	if err != nil {
		return -1, "", fmt.Errorf("exec in task %s: %w", taskID, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return -1, "", fmt.Errorf("exec in task %s: %w", taskID, err)
	}
	cmd := &exec.Cmd{
		Path:   "/bin/sh",
		Args:   []string{"sh", "-c", command},
		Dir:    p.SandboxPath(taskID),
		Env:    t.env,
		Stdout: w, // one pipe for both: the tail keeps their order
		Stderr: w,
		// Setsid: a session and process group of its own, which ctx's end
		// kills whole, with no controlling terminal.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Credential: cred},
	}
	err = p.startExec(t, cmd)
	w.Close()
	if err != nil {
		r.Close()
		if !p.isRunning(taskID) {
			return -1, "", notRunning(taskID)
		}
		return -1, "", fmt.Errorf("exec in task %s: %w", taskID, err)
	}
	out, readDone := readTail(r)
	code, err := waitExec(ctx, cmd)
	drainTail(ctx, r, readDone)
	if err != nil {
		return -1, out.String(), fmt.Errorf("exec in task %s: %w", taskID, err)
	}
	return code, out.String(), nil
}

// startExec starts cmd for task t, in its cgroup if it has one. It holds
// t.execMu for reading, so finish cannot release (kill and remove) the
// task's cgroup while a command is being started in it, and refuses a task
// that has ended.
func (p *Process) startExec(t *procTask, cmd *exec.Cmd) error {
	t.execMu.RLock()
	defer t.execMu.RUnlock()
	p.mu.Lock()
	done := t.done
	p.mu.Unlock()
	if done {
		return ErrNotRunning
	}
	if t.cg != nil {
		if err := t.cg.start(cmd, p.cgroups.mounts); err != nil {
			return fmt.Errorf("start /bin/sh in cgroup %s: %w", t.cg.uniqueDirs()[0], err)
		}
		return nil
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start /bin/sh: %w", err)
	}
	return nil
}

// waitExec waits for a started command (the leader of its own process
// group) to exit or for ctx to end, SIGKILLs what is left in its group,
// reaps it and returns its exit code. The group is killed before the
// leader is reaped, while its pid, and so the group id, cannot be reused.
func waitExec(ctx context.Context, cmd *exec.Cmd) (int, error) {
	pgid := cmd.Process.Pid
	exited := processExited(pgid)
	var ctxErr error
	select {
	case <-exited:
	case <-ctx.Done():
		ctxErr = ctx.Err()
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		timer := time.NewTimer(execCleanupTimeout)
		defer timer.Stop()
		select {
		case <-exited:
		case <-timer.C:
			// Stuck in the kernel (uninterruptible sleep): reap it later.
			go func() {
				<-exited
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				_ = cmd.Wait()
			}()
			return -1, ctxErr
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // children the command left behind
	_ = cmd.Wait()                           // a non-zero exit is an *ExitError; the status is read below
	if ctxErr != nil {
		return -1, ctxErr
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return -1, errors.New("wait status unknown: " + cmd.ProcessState.String())
	}
	return waitStatusCode(ws), nil
}

// processExited is closed once child pid has exited, without reaping it:
// through a pidfd in the runtime poller, or, where pidfd_open is missing,
// waitid(WNOWAIT) on a thread of its own.
func processExited(pid int) <-chan struct{} {
	ch := make(chan struct{})
	if fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
		f := os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))
		go func() {
			defer close(ch)
			_ = waitPidfd(f)
			f.Close()
		}()
		return ch
	}
	go func() {
		defer close(ch)
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err != unix.EINTR {
				return
			}
		}
	}()
	return ch
}
