package isolate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// subscribe asks for the signals the backend lives on: JobRemoved (a start
// job finished) and PropertiesChanged of units. On the system bus the
// match rules filter them and Manager.Subscribe makes systemd send them; on
// systemd's private socket every signal comes anyway (AddMatch is not
// served there, so its error is ignored).
func (s *Systemd) subscribe(ctx context.Context) error {
	s.bus.Signal(s.sigs)
	_ = s.bus.AddMatchSignalContext(ctx, dbus.WithMatchInterface("org.freedesktop.systemd1.Manager"), dbus.WithMatchMember("JobRemoved"))
	_ = s.bus.AddMatchSignalContext(ctx, dbus.WithMatchInterface("org.freedesktop.DBus.Properties"), dbus.WithMatchMember("PropertiesChanged"),
		dbus.WithMatchPathNamespace("/org/freedesktop/systemd1/unit"))
	if err := s.mgr.CallWithContext(ctx, "org.freedesktop.systemd1.Manager.Subscribe", 0).Err; err != nil {
		if de, ok := err.(dbus.Error); !ok || !strings.HasSuffix(de.Name, "AlreadySubscribed") {
			return err
		}
	}
	return nil
}

// watch handles signals in the order systemd sent them until the raw
// connection closes.
func (s *Systemd) watch() {
	defer close(s.done)
	for sig := range s.sigs {
		switch sig.Name {
		case "org.freedesktop.systemd1.Manager.JobRemoved":
			// (id u, job o, unit s, result s)
			if len(sig.Body) < 4 {
				continue
			}
			unit, _ := sig.Body[2].(string)
			result, _ := sig.Body[3].(string)
			s.jobRemoved(unit, result)
		case "org.freedesktop.DBus.Properties.PropertiesChanged":
			if !strings.HasPrefix(string(sig.Path), taskUnitPathPrefix) || len(sig.Body) < 2 {
				continue
			}
			if iface, _ := sig.Body[0].(string); iface != "org.freedesktop.systemd1.Unit" {
				continue
			}
			changed, _ := sig.Body[1].(map[string]dbus.Variant)
			v, ok := changed["ActiveState"]
			if !ok {
				continue
			}
			if st, _ := v.Value().(string); st == "inactive" || st == "failed" {
				s.unitEnded(unitNameFromPath(sig.Path))
			}
		}
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if !closed {
		s.log.Error("lost the D-Bus connection to systemd; exits are no longer watched until the agent restarts")
	}
}

func (s *Systemd) jobRemoved(unit, result string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.units[unit]
	if t == nil || !t.launching || t.jobDone {
		return
	}
	t.jobDone = true
	select {
	case t.jobResult <- result:
	default:
	}
}

// unitEnded handles a task unit reaching inactive or failed. While Launch
// is still bookkeeping, the end is noted for it; before the start job
// finished, the unit's initial "inactive" is not an end.
func (s *Systemd) unitEnded(unit string) {
	s.mu.Lock()
	t := s.units[unit]
	if t == nil || t.done || s.closed {
		s.mu.Unlock()
		return
	}
	if t.launching {
		if t.jobDone && !t.endSeen {
			t.endSeen = true
			if t.ended != nil {
				close(t.ended)
			}
		}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.finish(t)
}

// finish reads how a task ended from its exit record, checkpoints and
// delivers the exit once, and releases the unit. After Close it does
// nothing: the next Recover owns the task.
func (s *Systemd) finish(t *unitTask) {
	s.mu.Lock()
	if t.done || s.closed {
		s.mu.Unlock()
		return
	}
	t.done = true
	if t.killTimer != nil {
		t.killTimer.Stop()
	}
	killed := t.killed
	s.mu.Unlock()

	e := s.exitFromRecord(t.id, killed, t.memMiB)
	if err := writeJSONAtomic(filepath.Join(s.taskDir(t.id), exitFile), exitRecord(e)); err != nil {
		s.log.Error("checkpoint task exit", "task", t.id, "err", err)
	}
	s.release(t.unit)
	s.mu.Lock()
	if s.tasks[t.id] == t {
		delete(s.tasks, t.id)
	}
	if s.units[t.unit] == t {
		delete(s.units, t.unit)
	}
	s.mu.Unlock()
	s.log.Debug("task ended", "task", t.id, "reason", e.Reason.String(), "code", e.ExitCode)
	s.exits.push(e)
}

// exitFromRecord turns the task's exit record into an Exit stamped now.
func (s *Systemd) exitFromRecord(id string, killed bool, memMiB float64) Exit {
	rec, err := readExitRecord(filepath.Join(s.taskDir(id), exitRecordFile))
	var e Exit
	if err != nil {
		e = Exit{TaskID: id, Reason: Lost, ExitCode: -1, Message: "exit status lost: the unit ended without writing its exit record: " + err.Error()}
		if killed {
			e.Reason, e.Message = Killed, "killed"
		}
	} else {
		e = rec.exit(id, killed, memMiB)
	}
	e.Time = s.now()
	return e
}

// exitRecord is what the unit's ExecStopPost wrote: see exitRecordScript.
type unitExitRecord struct {
	result   string // $SERVICE_RESULT: success, exit-code, signal, oom-kill, timeout, ...
	code     string // $EXIT_CODE: exited, killed, dumped
	status   string // $EXIT_STATUS: a number, or a signal name without SIG
	oomKills int
}

func readExitRecord(path string) (unitExitRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return unitExitRecord{}, err
	}
	return parseExitRecord(string(b))
}

func parseExitRecord(s string) (unitExitRecord, error) {
	f := strings.Fields(s)
	if len(f) < 3 {
		return unitExitRecord{}, fmt.Errorf("malformed exit record %q", s)
	}
	r := unitExitRecord{result: f[0], code: f[1], status: f[2]}
	if len(f) > 3 {
		r.oomKills, _ = strconv.Atoi(f[3])
	}
	return r, nil
}

// ran says whether the task's /bin/sh was exec'd: it exited or was
// signaled, and not with one of the exit codes systemd uses for failures
// to set the process up (200 EXIT_CHDIR ... 245 EXIT_BPF). A task that
// exits with such a code by itself before systemd saw its exec is
// misreported as a launch failure; that window is a few milliseconds.
func (r unitExitRecord) ran() bool {
	switch r.code {
	case "killed", "dumped":
		return true
	case "exited":
		n, err := strconv.Atoi(r.status)
		return err == nil && (n < 200 || n > 245)
	}
	return false
}

// exit maps the record to an Exit (Time unset).
func (r unitExitRecord) exit(id string, killed bool, memMiB float64) Exit {
	e := Exit{TaskID: id, Reason: Lost, ExitCode: -1}
	switch r.code {
	case "exited":
		code, err := strconv.Atoi(r.status)
		if err != nil {
			e.Message = "unparsable exit status " + r.status
			break
		}
		e.Reason, e.ExitCode = Exited, code
		e.Message = fmt.Sprintf("exited with code %d", code)
	case "killed", "dumped":
		e.Reason = Signaled
		sig := unix.SignalNum("SIG" + r.status)
		if sig == 0 {
			if n, err := strconv.Atoi(r.status); err == nil {
				sig = syscall.Signal(n)
			}
		}
		if sig != 0 {
			e.Signal = sig.String()
			e.Message = "terminated by signal " + unix.SignalName(sig)
		} else {
			e.Signal = strings.ToLower(r.status)
			e.Message = "terminated by signal " + r.status
		}
		if r.code == "dumped" {
			e.Message += " (core dumped)"
		}
	default:
		e.Message = "the task's main process never ran (service result " + r.result + ")"
	}
	if r.result == "oom-kill" || r.oomKills > 0 {
		e.Limitation = LimitationMemory
		if memMiB > 0 {
			e.Message = fmt.Sprintf("killed: out of memory (MemoryMax %s MiB)", strconv.FormatFloat(memMiB, 'f', -1, 64))
		} else {
			e.Message = "killed: out of memory"
		}
	}
	if killed {
		switch e.Reason {
		case Exited:
			e.Message = fmt.Sprintf("killed; exited with code %d", e.ExitCode)
		case Signaled:
			e.Message = "killed by signal " + e.Signal
		default:
			e.Message = "killed"
		}
		e.Reason, e.ExitCode, e.Signal = Killed, -1, ""
	}
	return e
}

// unitNameFromPath inverts unitObjectPath: "_xx" is the byte 0xxx.
func unitNameFromPath(p dbus.ObjectPath) string {
	s := strings.TrimPrefix(string(p), "/org/freedesktop/systemd1/unit/")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '_' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
