package isolate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Recover reads every task directory under Dir/tasks:
//
//   - with exit.json: the exit is sent again (delivery is at least once,
//     until the agent calls Remove);
//   - with task.json whose process still runs (same pid, same start time,
//     same boot): the task is re-adopted and returned; its end is watched
//     through a pidfd and reported as Lost (its exit code cannot be known),
//     or Killed if it was killed through Kill;
//   - with task.json whose process is gone: Lost is checkpointed and sent.
//
// Call it once, before any Launch.
func (p *Process) Recover(ctx context.Context) ([]Running, error) {
	entries, err := os.ReadDir(filepath.Join(p.dir, "tasks"))
	if err != nil {
		return nil, fmt.Errorf("recover tasks: %w", err)
	}
	var adopted []Running
	for _, ent := range entries {
		if err := ctx.Err(); err != nil {
			return adopted, fmt.Errorf("recover tasks: %w", err)
		}
		if !ent.IsDir() || ValidateTaskID(ent.Name()) != nil {
			continue
		}
		if r, ok := p.recoverTask(ent.Name()); ok {
			adopted = append(adopted, r)
		}
	}
	sort.Slice(adopted, func(i, j int) bool { return adopted[i].TaskID < adopted[j].TaskID })
	return adopted, nil
}

// recoverTask handles one task directory; ok is true if it re-adopted a
// running task.
func (p *Process) recoverTask(id string) (Running, bool) {
	dir := p.taskDir(id)
	p.mu.Lock()
	known := p.tasks[id] != nil || p.launching[id] || p.closed
	p.mu.Unlock()
	if known {
		return Running{}, false
	}

	var ex exitCheckpoint
	if err := readJSON(filepath.Join(dir, exitFile), &ex); err == nil {
		e := ex.exit()
		e.TaskID = id
		p.exits.push(e)
		return Running{}, false
	} else if !errors.Is(err, os.ErrNotExist) {
		p.log.Error("unreadable exit checkpoint; reporting the task lost", "task", id, "err", err)
		p.lose(id, "exit checkpoint unreadable: "+err.Error())
		return Running{}, false
	}

	var cp taskCheckpoint
	if err := readJSON(filepath.Join(dir, taskFile), &cp); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			p.log.Error("unreadable task checkpoint; reporting the task lost", "task", id, "err", err)
			p.lose(id, "task checkpoint unreadable: "+err.Error())
		}
		// No task.json: Launch failed before the task existed.
		return Running{}, false
	}
	cg, err := trustedCgroup(p.cgroups, id, &cp)
	if err != nil {
		p.log.Error("task checkpoint names a cgroup this agent does not own", "task", id, "err", err)
	}
	if cp.PID <= 0 {
		p.loseCgroup(id, "task checkpoint holds no pid", cg)
		return Running{}, false
	}
	if cp.BootID != "" && p.bootID != "" && cp.BootID != p.bootID {
		p.loseCgroup(id, "the machine rebooted while the task ran; "+lostMessage, cg)
		return Running{}, false
	}
	pidfd, err := openTaskPidfd(cp.PID, cp.StartTicks)
	if err != nil {
		p.log.Info("task ended while the agent was not running", "task", id, "pid", cp.PID, "why", err)
		p.loseCgroup(id, lostMessage, cg)
		return Running{}, false
	}
	t := &procTask{
		id:         id,
		pid:        cp.PID,
		startTicks: cp.StartTicks,
		grace:      time.Duration(cp.KillGraceMS) * time.Millisecond,
		startedAt:  cp.LaunchedAt,
		pidfd:      pidfd,
		cg:         cg,
		env:        cp.Env,
		creds:      cp.RunAs,
	}
	p.watchOOM(t)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		pidfd.Close()
		if t.oomWatch != nil {
			t.oomWatch.Close()
		}
		return Running{}, false
	}
	p.tasks[id] = t
	p.mu.Unlock()
	go p.watchPidfd(t)
	p.log.Info("re-adopted running task", "task", id, "pid", t.pid)
	return Running{TaskID: id, PID: t.pid, StartedAt: t.startedAt}, true
}

// lose checkpoints and sends a Lost exit for a task that is not running.
func (p *Process) lose(id, msg string) { p.loseCgroup(id, msg, nil) }

// loseCgroup is lose for a task that had the cgroup cg (nil: none): what
// is left in the cgroup is killed, and the cgroup removed, first.
func (p *Process) loseCgroup(id, msg string, cg *taskCgroup) {
	e := Exit{TaskID: id, Reason: Lost, ExitCode: -1, Message: msg}
	if cg != nil {
		if err := cg.release(&e, false); err != nil {
			p.log.Error("release task cgroup", "task", id, "err", err)
		}
	}
	e.Time = p.now()
	if err := writeJSONAtomic(filepath.Join(p.taskDir(id), exitFile), exitRecord(e)); err != nil {
		p.log.Error("checkpoint task exit", "task", id, "err", err)
	}
	p.exits.push(e)
}

// openTaskPidfd returns a pollable pidfd for pid if it is still the task's
// process: alive, not a zombie, started at startTicks. The start time is
// checked again after opening, so the pidfd cannot refer to a process that
// reused the pid in between.
func openTaskPidfd(pid int, startTicks uint64) (*os.File, error) {
	if err := checkTaskProcess(pid, startTicks); err != nil {
		return nil, err
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	if err := checkTaskProcess(pid, startTicks); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Non-blocking, so os.NewFile registers it with the runtime poller: the
	// watcher parks as a goroutine, not a blocked thread.
	return os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid)), nil
}

func checkTaskProcess(pid int, startTicks uint64) error {
	st, err := readProcStat(pid)
	switch {
	case err != nil:
		return fmt.Errorf("process %d is gone", pid)
	case st.startTicks != startTicks:
		return fmt.Errorf("pid %d was reused by another process", pid)
	case st.state == 'Z' || st.state == 'X':
		return fmt.Errorf("process %d has exited", pid)
	}
	return nil
}

// watchPidfd waits for a re-adopted task's process to exit. Close wakes it
// by closing the pidfd.
func (p *Process) watchPidfd(t *procTask) {
	err := waitPidfd(t.pidfd)
	t.pidfd.Close()
	if err != nil {
		return // closed by Close
	}
	_ = syscall.Kill(-t.pid, syscall.SIGKILL) // leftovers of its process group
	p.finish(t, Exit{TaskID: t.id, Reason: Lost, ExitCode: -1, Message: lostMessage})
}

// waitPidfd parks until the process behind a non-blocking pidfd exits (it
// polls readable then), or until f is closed (an error).
func waitPidfd(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, 0)
			if err == unix.EINTR {
				continue
			}
			return err != nil || n > 0
		}
	})
}
