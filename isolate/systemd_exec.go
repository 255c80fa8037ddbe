package isolate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

var _ Execer = (*Systemd)(nil)

// execSandbox is the part of a task's LaunchSpec its unit is made of,
// kept (in memory and in task.json) so that Exec can make a unit with the
// same settings, after an agent restart too.
type execSandbox struct {
	Profile string            `json:"profile,omitempty"`
	User    string            `json:"user,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	CPUs    float64           `json:"cpus,omitempty"`
	MemMiB  float64           `json:"mem_mib,omitempty"`
	GPUs    []string          `json:"gpus,omitempty"`
}

func newExecSandbox(spec LaunchSpec) *execSandbox {
	return &execSandbox{
		Profile: spec.Profile,
		User:    spec.User,
		Env:     maps.Clone(spec.Env),
		CPUs:    spec.Limits.CPUs,
		MemMiB:  spec.Limits.MemMiB,
		GPUs:    slices.Clone(spec.Limits.GPUs),
	}
}

// spec is the task's LaunchSpec with command as its command.
func (x *execSandbox) spec(taskID, command string) LaunchSpec {
	return LaunchSpec{
		TaskID:  taskID,
		Profile: x.Profile,
		User:    x.User,
		Cmd:     command,
		Env:     x.Env,
		Limits:  Limits{CPUs: x.CPUs, MemMiB: x.MemMiB, GPUs: x.GPUs},
	}
}

// dynamicUser says whether the task's unit runs as a DynamicUser (see
// unitSettings).
func (x *execSandbox) dynamicUser() bool {
	return x.User == "" && x.Profile != ProfileRelaxed
}

// execUnitPrefix starts the name of every Exec unit. No task unit starts
// so: unitName escapes a task id's leading '.' (and its hashed form starts
// "clusterd-h"). Being clusterd-*.service in the backend's slice, an Exec
// unit left running by an agent that died is stopped by the next Recover.
const execUnitPrefix = "clusterd-.exec-"

// execRecheck is how often Exec re-reads the state of its unit while it
// waits for the signal saying the unit ended: a missed signal costs at most
// this, never a hung check.
const execRecheck = 500 * time.Millisecond

// execUnitName is a fresh unit name for one Exec.
func execUnitName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return execUnitPrefix + hex.EncodeToString(b) + ".service"
}

// execUnitSettings is the unit one Exec runs in: the task's own unit
// settings (unitSettings, the one definition, so the two cannot drift
// apart) with its command, and only these changes:
//
//   - Description names the task;
//   - no ExecStopPost exit record (that is the task's; Exec reads the
//     unit's status instead);
//   - stdout and stderr are outFD, one pipe to the agent (what
//     `systemd-run --pipe` passes), instead of the task's log files;
//   - with a dynamic user, User= is the task unit's dynamic user name
//     (dynUser): systemd then gives both units the same uid, reference
//     counted, so the command runs as the task's uid and RemoveIPC= cleans
//     only when the last of them ends;
//   - JoinsNamespaceOf= the task's unit: with PrivateTmp= (hardened) the
//     command sees the task's /tmp and /var/tmp.
//
// Every protection and every limit (Slice, MemoryMax, MemorySwapMax,
// CPUQuota, TasksMax, DeviceAllow, ...) is the task's. The limits are the
// task's values for a unit of its own, not a share of the task's unit: a
// check may use as much again as the task may.
func execUnitSettings(spec LaunchSpec, p unitPaths, taskUnit, dynUser string, outFD int) ([]setting, error) {
	ss, err := unitSettings(spec, p)
	if err != nil {
		return nil, err
	}
	out := make([]setting, 0, len(ss)+2)
	dynamic := false
	for _, st := range ss {
		switch st.name {
		case "Description":
			st = setting{prop: dbus.MakeVariant("clusterd exec in task " + spec.TaskID), name: st.name}
		case "ExecStopPostEx":
			continue
		case "StandardOutputFileToAppend":
			st = setting{prop: dbus.MakeVariant(dbus.UnixFD(outFD)), name: "StandardOutputFileDescriptor"}
		case "StandardErrorFileToAppend":
			st = setting{prop: dbus.MakeVariant(dbus.UnixFD(outFD)), name: "StandardErrorFileDescriptor"}
		case "DynamicUser":
			dynamic = true
		}
		out = append(out, st)
	}
	if dynamic != (dynUser != "") {
		return nil, fmt.Errorf("the task's unit has DynamicUser=%v but its dynamic user is %q", dynamic, dynUser)
	}
	if dynUser != "" {
		out = append(out, setting{prop: dbus.MakeVariant(dynUser), name: "User"})
	}
	out = append(out, setting{prop: dbus.MakeVariant([]string{taskUnit}), name: "JoinsNamespaceOf"})
	return out, nil
}

// Exec runs command in a transient unit made like the task's unit (see
// execUnitSettings): the same user (its dynamic user's uid, or its named
// user), sandbox, environment, protections, slice and limits. It is
// started over D-Bus like Launch, with AddRef, so it stays loaded until its
// status is read; the agent waits for its end through the signal loop,
// reads how its main process ended, and releases it (collected at once,
// CollectMode=inactive-or-failed). Its output comes through a pipe passed
// to systemd as its stdout and stderr, read as it is written (the command
// never blocks on a full pipe; only the tail is kept).
//
// It fails closed: a setting the host's systemd rejects fails the call
// with systemd's error and nothing runs; a task whose checkpoint does not
// record its unit's settings (an older agent's) is refused. When ctx ends,
// the unit is SIGKILLed whole and stopped. KillMode=control-group also
// kills what the command left behind once its shell exits.
//
// A command that exits by itself with one of the codes systemd uses for a
// failed setup (200-245: EXIT_CHDIR ... EXIT_BPF) is reported as that
// failure (an error), not as an exit code.
func (s *Systemd) Exec(ctx context.Context, taskID, command string) (int, string, error) {
	s.mu.Lock()
	t := s.tasks[taskID]
	closed := s.closed
	running := t != nil && !t.done
	s.mu.Unlock()
	switch {
	case closed:
		return -1, "", fmt.Errorf("exec in task %s: isolator is closed", taskID)
	case !running:
		return -1, "", notRunning(taskID)
	case t.sandbox == nil:
		return -1, "", fmt.Errorf("exec in task %s: its checkpoint, written by an older agent, does not record its unit's sandbox; the command is not run with other settings than the task's: relaunch the task", taskID)
	}
	if err := ctx.Err(); err != nil {
		return -1, "", fmt.Errorf("exec in task %s: %w", taskID, err)
	}
	var dynUser string
	if t.sandbox.dynamicUser() {
		// systemd derives the name from the task's unit name; ask it.
		v, err := s.conn.GetServicePropertyContext(ctx, t.unit, "User")
		if err == nil {
			dynUser, _ = v.Value.Value().(string)
			if dynUser == "" {
				err = errors.New("it reports no user")
			}
		}
		if err != nil {
			if !s.taskRunning(t) {
				return -1, "", notRunning(taskID)
			}
			return -1, "", fmt.Errorf("exec in task %s: read the dynamic user of unit %s: %w", taskID, t.unit, err)
		}
	}

	r, w, err := os.Pipe()
	if err != nil {
		return -1, "", fmt.Errorf("exec in task %s: %w", taskID, err)
	}
	p := s.paths(taskID)
	p.Unit = execUnitName()
	ss, err := execUnitSettings(t.sandbox.spec(taskID, command), p, t.unit, dynUser, int(w.Fd()))
	if err != nil {
		r.Close()
		w.Close()
		return -1, "", fmt.Errorf("exec in task %s: %w", taskID, err)
	}
	props := make([]sdbus.Property, 0, len(ss)+1)
	for _, st := range ss {
		props = append(props, sdbus.Property{Name: st.name, Value: st.prop})
	}
	props = append(props, sdbus.Property{Name: "AddRef", Value: dbus.MakeVariant(true)})

	u := &execUnit{name: p.Unit, t: &unitTask{id: taskID, unit: p.Unit, launching: true, jobResult: make(chan string, 1), ended: make(chan struct{})}}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		r.Close()
		w.Close()
		return -1, "", fmt.Errorf("exec in task %s: isolator is closed", taskID)
	}
	// Registered as a unit that stays "launching": the signal loop hands
	// it its start job's result and then its end (jobRemoved, unitEnded).
	s.units[u.name] = u.t
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.units[u.name] == u.t {
			delete(s.units, u.name)
		}
		s.mu.Unlock()
	}()

	var job dbus.ObjectPath
	err = s.mgr.CallWithContext(ctx, "org.freedesktop.systemd1.Manager.StartTransientUnit", 0,
		u.name, "fail", props, []sdbus.PropertyCollection{}).Store(&job)
	w.Close() // systemd holds its own copy now
	if err != nil {
		r.Close()
		if ctx.Err() != nil {
			s.stopExecUnit(u) // the call may have reached systemd
			return -1, "", fmt.Errorf("exec in task %s: %w", taskID, ctx.Err())
		}
		if !s.taskRunning(t) {
			return -1, "", notRunning(taskID)
		}
		return -1, "", fmt.Errorf("exec in task %s: start unit %s: %w (the host's systemd rejected a setting of the task's sandbox; the command is not run with weaker isolation)", taskID, u.name, err)
	}
	out, readDone := readTail(r)
	if err := s.waitExecEnd(ctx, u, false); err != nil {
		s.stopExecUnit(u)
		drainTail(ctx, r, readDone)
		return -1, out.String(), fmt.Errorf("exec in task %s: unit %s: %w", taskID, u.name, err)
	}
	code, err := s.execStatus(ctx, u.name)
	s.release(u.name)
	drainTail(ctx, r, readDone)
	if err != nil {
		return -1, out.String(), fmt.Errorf("exec in task %s: unit %s: %w", taskID, u.name, err)
	}
	return code, out.String(), nil
}

// execUnit is the unit of one Exec.
type execUnit struct {
	name       string
	t          *unitTask // registered in Systemd.units, never in tasks
	resultSeen bool      // its start job's result was received
}

// taskRunning says whether t is still a running task of the backend.
func (s *Systemd) taskRunning(t *unitTask) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tasks[t.id] == t && !t.done
}

// waitExecEnd waits until u's start job finished and u is inactive or
// failed (or gone), ctx ends, or the isolator closes. A start job that did
// not succeed (the command exited before systemd saw it start, or could
// not be started) may have sent the unit's end before its own result, so
// the unit's state is then read at once; checkNow reads it first anyway.
func (s *Systemd) waitExecEnd(ctx context.Context, u *execUnit, checkNow bool) error {
	closed := errors.New("isolator closed")
	if checkNow {
		if ended, err := s.unitInactive(ctx, u.name); err != nil || ended {
			return nil // gone, or never created
		}
	}
	if !u.resultSeen {
		select {
		case result := <-u.t.jobResult:
			u.resultSeen = true
			checkNow = result != "done"
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return closed
		}
	}
	recheck := time.NewTicker(execRecheck)
	defer recheck.Stop()
	for {
		if checkNow {
			ended, err := s.unitInactive(ctx, u.name)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			if ended {
				return nil
			}
		}
		checkNow = true
		select {
		case <-u.t.ended:
			return nil
		case <-recheck.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return closed
		}
	}
}

// unitInactive reads whether unit is inactive or failed.
func (s *Systemd) unitInactive(ctx context.Context, unit string) (bool, error) {
	v, err := s.conn.GetUnitPropertyContext(ctx, unit, "ActiveState")
	if err != nil {
		return false, fmt.Errorf("read state: %w", err)
	}
	st, _ := v.Value.Value().(string)
	return st == "inactive" || st == "failed", nil
}

// stopExecUnit SIGKILLs everything in u, stops it, waits (at most
// execCleanupTimeout) until it is inactive, and releases it, so no unit is
// left behind once Exec returns.
func (s *Systemd) stopExecUnit(u *execUnit) {
	ctx, cancel := context.WithTimeout(context.Background(), execCleanupTimeout)
	defer cancel()
	_ = s.conn.KillUnitWithTarget(ctx, u.name, sdbus.All, 9)
	if _, err := s.conn.StopUnitContext(ctx, u.name, "replace", nil); err != nil {
		s.log.Debug("stop exec unit", "unit", u.name, "err", err)
	}
	if err := s.waitExecEnd(ctx, u, true); err != nil {
		s.log.Error("exec unit did not stop", "unit", u.name, "err", err)
	}
	s.release(u.name)
}

// execStatus reads how an ended Exec unit's main process ended: its exit
// code, or 128+N if signal N killed it.
func (s *Systemd) execStatus(ctx context.Context, unit string) (int, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), execCleanupTimeout)
	defer cancel()
	var code, status int32
	var result string
	for name, dst := range map[string]any{"ExecMainCode": &code, "ExecMainStatus": &status, "Result": &result} {
		v, err := s.conn.GetServicePropertyContext(ctx, unit, name)
		if err != nil {
			return -1, fmt.Errorf("read %s: %w", name, err)
		}
		if err := dbus.Store([]any{v.Value.Value()}, dst); err != nil {
			return -1, fmt.Errorf("read %s: %w", name, err)
		}
	}
	const cldExited, cldKilled, cldDumped = 1, 2, 3 // si_code of the main process's SIGCHLD
	switch code {
	case cldExited:
		if status >= 200 && status <= 245 {
			return -1, fmt.Errorf("systemd could not set the command up (exit status %d, see \"Process Exit Codes\" in systemd.exec(5)); the command did not run", status)
		}
		return int(status), nil
	case cldKilled, cldDumped:
		return 128 + int(status), nil
	}
	return -1, fmt.Errorf("the command never ran (service result %s)", result)
}
