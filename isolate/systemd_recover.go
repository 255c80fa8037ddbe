package isolate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Recover reads every task directory under Dir/tasks:
//
//   - with exit.json: the exit is sent again (delivery is at least once,
//     until the agent calls Remove);
//   - with task.json whose unit is still active: the task is re-adopted
//     (same unit, same main PID) and returned, and the agent takes a
//     reference on the unit again so its end is read before it is collected;
//   - with task.json whose unit ended: its exit is read from the exit record
//     the unit's ExecStopPost wrote (the real exit code), checkpointed and
//     sent; without a record, or after a reboot, the task is reported Lost.
//
// Then every active clusterd-*.service in this backend's slice that no
// checkpoint claims is stopped: it is not ours anymore.
//
// Call it once, before any Launch.
func (s *Systemd) Recover(ctx context.Context) ([]Running, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "tasks"))
	if err != nil {
		return nil, fmt.Errorf("recover tasks: %w", err)
	}
	var adopted []Running
	claimed := map[string]bool{}
	for _, ent := range entries {
		if err := ctx.Err(); err != nil {
			return adopted, fmt.Errorf("recover tasks: %w", err)
		}
		if !ent.IsDir() || ValidateTaskID(ent.Name()) != nil {
			continue
		}
		r, unit, ok := s.recoverTask(ctx, ent.Name())
		if unit != "" {
			claimed[unit] = true
		}
		if ok {
			adopted = append(adopted, r)
		}
	}
	sort.Slice(adopted, func(i, j int) bool { return adopted[i].TaskID < adopted[j].TaskID })
	if err := s.stopUnclaimed(ctx, claimed); err != nil {
		return adopted, fmt.Errorf("recover tasks: %w", err)
	}
	return adopted, nil
}

// recoverTask handles one task directory. unit is the unit the task still
// owns (running); ok is true if it was re-adopted.
func (s *Systemd) recoverTask(ctx context.Context, id string) (r Running, unit string, ok bool) {
	dir := s.taskDir(id)
	s.mu.Lock()
	known := s.tasks[id] != nil || s.launching[id] || s.closed
	s.mu.Unlock()
	if known {
		return Running{}, unitName(id), false
	}

	var ex exitCheckpoint
	if err := readJSON(filepath.Join(dir, exitFile), &ex); err == nil {
		e := ex.exit()
		e.TaskID = id
		s.exits.push(e)
		return Running{}, "", false
	} else if !errors.Is(err, os.ErrNotExist) {
		s.log.Error("unreadable exit checkpoint; reporting the task lost", "task", id, "err", err)
		s.lose(id, "exit checkpoint unreadable: "+err.Error())
		return Running{}, "", false
	}

	var cp systemdCheckpoint
	if err := readJSON(filepath.Join(dir, taskFile), &cp); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.log.Error("unreadable task checkpoint; reporting the task lost", "task", id, "err", err)
			s.lose(id, "task checkpoint unreadable: "+err.Error())
		}
		return Running{}, "", false // no task.json: Launch failed before the task existed
	}
	if cp.Unit == "" {
		s.lose(id, "task checkpoint was not written by the systemd isolator (no unit recorded)")
		return Running{}, "", false
	}
	if cp.BootID != "" && s.bootID != "" && cp.BootID != s.bootID {
		s.lose(id, "the machine rebooted while the task ran; its unit and exit record are gone")
		return Running{}, "", false
	}
	t := &unitTask{
		id:        id,
		unit:      cp.Unit,
		pid:       cp.PID,
		grace:     time.Duration(cp.KillGraceMS) * time.Millisecond,
		startedAt: cp.LaunchedAt,
		memMiB:    cp.MemMiB,
		sandbox:   cp.Sandbox,
		killed:    cp.KillRequested,
		// Adopting: ends seen by the signal loop are noted, not acted on,
		// until the task is registered below.
		launching: true,
		jobDone:   true,
		ended:     make(chan struct{}),
	}
	s.mu.Lock()
	if s.units[cp.Unit] != nil {
		s.mu.Unlock()
		s.lose(id, "unit "+cp.Unit+" is claimed by another task")
		return Running{}, "", false
	}
	s.units[cp.Unit] = t
	s.mu.Unlock()

	active, pid := s.unitStatus(ctx, cp.Unit)
	if active {
		// The reference keeps the unit loaded after it ends, until finish
		// has read its record; then re-check, as it may have ended before.
		if err := s.bus.Object("org.freedesktop.systemd1", unitObjectPath(cp.Unit)).CallWithContext(ctx, "org.freedesktop.systemd1.Unit.Ref", 0).Err; err != nil {
			s.log.Error("reference unit", "unit", cp.Unit, "err", err)
		}
		active, pid = s.unitStatus(ctx, cp.Unit)
	}
	if active && pid == 0 {
		// Deactivating with its main process gone: the task ended and its
		// unit is writing the exit record. Wait for that (bounded) rather
		// than re-adopt a task that is over.
		wait := time.NewTimer(recoverEndingWait)
		select {
		case <-t.ended:
		case <-wait.C:
		case <-ctx.Done():
		}
		wait.Stop()
	}
	if pid > 0 {
		t.pid = pid
	}
	s.mu.Lock()
	t.launching = false
	ended := t.endSeen || !active
	s.tasks[id] = t
	s.mu.Unlock()
	if ended {
		s.finish(t)
		return Running{}, "", false
	}
	s.log.Info("re-adopted running task", "task", id, "unit", cp.Unit, "pid", t.pid)
	return Running{TaskID: id, PID: t.pid, StartedAt: t.startedAt}, cp.Unit, true
}

// recoverEndingWait bounds how long Recover waits for a unit whose main
// process is gone to finish stopping.
const recoverEndingWait = 5 * time.Second

// unitStatus says whether a unit is loaded and not inactive or failed, and
// its main process (0 if none runs).
//
// "bad-setting" counts as loaded: systemd 252 writes a transient unit's
// ExecStartEx= and ExecStopPostEx= into its unit file and cannot parse them
// again, so after any daemon-reload a running task's unit has that load
// state while its processes run on. Treating it as gone would report a
// running task lost and start a second copy beside it.
func (s *Systemd) unitStatus(ctx context.Context, unit string) (active bool, mainPID int) {
	st, err := s.conn.ListUnitsByNamesContext(ctx, []string{unit})
	if err != nil || len(st) != 1 {
		return false, 0
	}
	loaded := st[0].LoadState == "loaded" || st[0].LoadState == "bad-setting"
	active = loaded && st[0].ActiveState != "inactive" && st[0].ActiveState != "failed"
	if !active {
		return false, 0
	}
	if p, err := s.conn.GetServicePropertyContext(ctx, unit, "MainPID"); err == nil {
		if v, ok := p.Value.Value().(uint32); ok {
			mainPID = int(v)
		}
	}
	return true, mainPID
}

// stopUnclaimed stops the active task units of this slice that no
// checkpoint claims.
func (s *Systemd) stopUnclaimed(ctx context.Context, claimed map[string]bool) error {
	units, err := s.conn.ListUnitsByPatternsContext(ctx, nil, []string{"clusterd-*.service"})
	if err != nil {
		return fmt.Errorf("list units: %w", err)
	}
	for _, u := range units {
		if claimed[u.Name] || u.ActiveState == "inactive" || u.ActiveState == "failed" {
			continue
		}
		p, err := s.conn.GetServicePropertyContext(ctx, u.Name, "Slice")
		if err != nil {
			s.log.Debug("read unit slice", "unit", u.Name, "err", err)
			continue
		}
		if slice, _ := p.Value.Value().(string); slice != s.slice {
			continue
		}
		s.mu.Lock()
		mine := s.units[u.Name] != nil
		s.mu.Unlock()
		if mine {
			continue
		}
		s.log.Warn("stopping a unit in the slice that no checkpoint claims", "unit", u.Name, "slice", s.slice)
		if _, err := s.conn.StopUnitContext(ctx, u.Name, "replace", nil); err != nil {
			s.log.Error("stop unit", "unit", u.Name, "err", err)
		}
	}
	return nil
}

// lose checkpoints and sends a Lost exit for a task that is not running.
func (s *Systemd) lose(id, msg string) {
	e := Exit{TaskID: id, Reason: Lost, ExitCode: -1, Message: msg, Time: s.now()}
	if err := writeJSONAtomic(filepath.Join(s.taskDir(id), exitFile), exitRecord(e)); err != nil {
		s.log.Error("checkpoint task exit", "task", id, "err", err)
	}
	s.exits.push(e)
}
