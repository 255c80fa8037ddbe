package isolate_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/isolate"
	"github.com/clusterd/clusterd/isolate/isolatetest"
	"github.com/clusterd/clusterd/isolate/systemdtest"
)

// testSlice is a slice unique to dir (a child of clusterd.slice), so that
// Recover in one test never stops the units of another.
func testSlice(dir string) string {
	h := fnv.New32a()
	h.Write([]byte(dir))
	return fmt.Sprintf("clusterd-t%08x.slice", h.Sum32())
}

func newSystemd(t testing.TB, dir string, tasksMax uint64) *isolate.Systemd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := isolate.NewSystemd(ctx, isolate.SystemdConfig{Dir: dir, Slice: testSlice(dir), TasksMax: tasksMax})
	if err != nil {
		t.Fatalf("NewSystemd: %v", err)
	}
	return s
}

// relaxedByDefault runs the conformance suite's tasks with the relaxed
// profile: the suite has tasks write files outside their sandbox (in the
// test's temp dirs), which the hardened profile forbids by design
// (ProtectSystem=strict, PrivateTmp, a dynamic uid). The hardened profile
// is tested on its own below.
type relaxedByDefault struct{ *isolate.Systemd }

func (r relaxedByDefault) Launch(ctx context.Context, spec isolate.LaunchSpec) (isolate.Running, error) {
	if spec.Profile == "" {
		spec.Profile = isolate.ProfileRelaxed
	}
	return r.Systemd.Launch(ctx, spec)
}

func TestSystemdPassesConformanceSuite(t *testing.T) {
	if !systemdtest.Run(t) {
		return
	}
	isolatetest.Run(t, func(t *testing.T, dir string) isolate.Isolator {
		return relaxedByDefault{newSystemd(t, dir, 0)}
	})
}

func TestSystemdWithoutSystemdSaysWhatToUse(t *testing.T) {
	if os.Getenv(systemdtest.EnvMarker) == "1" {
		t.Skip("systemd runs here")
	}
	if _, err := os.Stat("/run/systemd/private"); err == nil {
		t.Skip("this machine runs systemd")
	}
	_, err := isolate.NewSystemd(context.Background(), isolate.SystemdConfig{Dir: t.TempDir()})
	if !errors.Is(err, isolate.ErrNoSystemd) || !strings.Contains(err.Error(), "--isolator cgroupfs or process") {
		t.Fatalf("NewSystemd without systemd = %v; want ErrNoSystemd naming the other isolators", err)
	}
}

// sdHarness is one systemd backend with the exits it received.
type sdHarness struct {
	t    *testing.T
	s    *isolate.Systemd
	seen map[string]isolate.Exit // exits received while waiting for another task
}

func startSystemd(t *testing.T, dir string, tasksMax uint64) *sdHarness {
	t.Helper()
	s := newSystemd(t, dir, tasksMax)
	t.Cleanup(func() {
		// Stop what still runs and wait for it, so no unit is cut down
		// with the sandbox (which would leave its PrivateTmp in /tmp).
		var waiting []string
		for _, r := range s.Running() {
			if s.Kill(context.Background(), r.TaskID, time.Millisecond) == nil {
				waiting = append(waiting, r.TaskID)
			}
		}
		deadline := time.After(15 * time.Second)
		for len(waiting) > 0 {
			select {
			case e, ok := <-s.Exits():
				if !ok {
					waiting = nil
				}
				waiting = slices.DeleteFunc(waiting, func(id string) bool { return id == e.TaskID })
			case <-deadline:
				t.Errorf("tasks %v still running at cleanup", waiting)
				waiting = nil
			}
		}
		s.Close()
	})
	if _, err := s.Recover(context.Background()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return &sdHarness{t: t, s: s, seen: map[string]isolate.Exit{}}
}

func (h *sdHarness) launch(spec isolate.LaunchSpec) isolate.Running {
	h.t.Helper()
	r, err := h.s.Launch(context.Background(), spec)
	if err != nil {
		h.t.Fatalf("Launch %s: %v", spec.TaskID, err)
	}
	h.t.Cleanup(func() { _ = h.s.Kill(context.Background(), spec.TaskID, time.Millisecond) })
	return r
}

func (h *sdHarness) waitExit(id string) isolate.Exit {
	h.t.Helper()
	if e, ok := h.seen[id]; ok {
		delete(h.seen, id)
		return e
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-h.s.Exits():
			if !ok {
				h.t.Fatalf("Exits closed while waiting for %s", id)
			}
			if e.TaskID == id {
				return e
			}
			h.seen[e.TaskID] = e
		case <-deadline:
			h.t.Fatalf("no exit for %s within 30s", id)
		}
	}
}

// cgroupFile is a file of pid's cgroup in a v1 controller hierarchy.
func cgroupFile(t *testing.T, pid int, controller, file string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatalf("cgroup of pid %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), controller) {
			return filepath.Join("/sys/fs/cgroup", controller, parts[2], file)
		}
	}
	t.Fatalf("pid %d has no %s cgroup:\n%s", pid, controller, b)
	return ""
}

func readInt(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return v
}

func unitLoadState(t *testing.T, unit string) string {
	out, err := exec.Command("systemctl", "show", "-P", "LoadState", unit).Output()
	if err != nil {
		t.Fatalf("systemctl show %s: %v", unit, err)
	}
	return strings.TrimSpace(string(out))
}

// TestSystemdEnforcesTheHardenedUnit runs hardened tasks (the default
// profile) in a private systemd and checks what the kernel enforces.
func TestSystemdEnforcesTheHardenedUnit(t *testing.T) {
	if !systemdtest.Run(t) {
		return
	}
	t.Run("MemoryMaxAndCPUQuotaAppearInTheCgroup", func(t *testing.T) {
		h := startSystemd(t, t.TempDir(), 0)
		r := h.launch(isolate.LaunchSpec{TaskID: "limits", Cmd: "sleep 30", Limits: isolate.Limits{CPUs: 0.5, MemMiB: 64}})
		if got := readInt(t, cgroupFile(t, r.PID, "memory", "memory.limit_in_bytes")); got != 64<<20 {
			t.Errorf("memory.limit_in_bytes = %d; want %d", got, 64<<20)
		}
		quota := readInt(t, cgroupFile(t, r.PID, "cpu", "cpu.cfs_quota_us"))
		period := readInt(t, cgroupFile(t, r.PID, "cpu", "cpu.cfs_period_us"))
		if float64(quota)/float64(period) != 0.5 {
			t.Errorf("cpu.cfs_quota_us/cfs_period_us = %d/%d; want 0.5", quota, period)
		}
		if !strings.HasSuffix(filepath.Dir(cgroupFile(t, r.PID, "memory", "x")), "/clusterd.slice/"+testSlice(filepath.Dir(filepath.Dir(h.s.SandboxPath("limits"))))+"/"+h.s.UnitName("limits")) {
			t.Logf("cgroup: %s", cgroupFile(t, r.PID, "memory", ""))
		}
	})
	t.Run("RunsAsDynamicNonRootUser", func(t *testing.T) {
		h := startSystemd(t, t.TempDir(), 0)
		h.launch(isolate.LaunchSpec{TaskID: "whoami", Cmd: `id -u; touch "$CLUSTERD_SANDBOX/mine" && echo sandbox-writable; touch /etc/x 2>/dev/null || echo etc-readonly; ls /dev/sda /dev/vda 2>/dev/null || echo no-devices`})
		if e := h.waitExit("whoami"); e.Reason != isolate.Exited || e.ExitCode != 0 {
			t.Fatalf("got %+v; want exited 0 (stderr: %s)", e, readLog(h.s, "whoami", "stderr"))
		}
		lines := strings.Fields(readLog(h.s, "whoami", "stdout"))
		if len(lines) != 4 || lines[0] == "0" || lines[1] != "sandbox-writable" || lines[2] != "etc-readonly" || lines[3] != "no-devices" {
			t.Errorf("stdout = %q; want a non-zero uid, a writable sandbox, a read-only /etc and no block devices", lines)
		}
		t.Logf("task uid: %s", lines[0])
	})
	t.Run("OutOfMemoryIsReportedAsMemoryLimitation", func(t *testing.T) {
		h := startSystemd(t, t.TempDir(), 0)
		h.launch(isolate.LaunchSpec{TaskID: "hog", Cmd: "head -c 200M /dev/zero | tail", Limits: isolate.Limits{MemMiB: 32}})
		e := h.waitExit("hog")
		if e.Limitation != isolate.LimitationMemory || !strings.Contains(e.Message, "out of memory (MemoryMax 32 MiB)") {
			t.Errorf("got %+v; want the memory limitation", e)
		}
		t.Logf("exit: %v code %d signal %q: %s", e.Reason, e.ExitCode, e.Signal, e.Message)
	})
	t.Run("CPUQuotaCapsABusyLoop", func(t *testing.T) {
		h := startSystemd(t, t.TempDir(), 0)
		h.launch(isolate.LaunchSpec{TaskID: "busy", Cmd: "while :; do :; done", Limits: isolate.Limits{CPUs: 0.5}})
		u0, err := h.s.Usage(context.Background(), "busy")
		if err != nil {
			t.Fatalf("Usage: %v", err)
		}
		start := time.Now()
		time.Sleep(5 * time.Second)
		u1, err := h.s.Usage(context.Background(), "busy")
		if err != nil {
			t.Fatalf("Usage: %v", err)
		}
		share := (u1.CPUSeconds - u0.CPUSeconds) / time.Since(start).Seconds()
		t.Logf("busy loop with cpus=0.5 used %.3f of a core over 5 s (usage %+v)", share, u1)
		if share > 0.55 || share < 0.3 {
			t.Errorf("busy loop used %.3f of a core; want ≤ 0.55 (and > 0.3, or the measure is broken)", share)
		}
		if u1.MemBytes == 0 || u1.MemPeakBytes == 0 {
			t.Errorf("usage %+v lacks current or peak memory", u1)
		}
	})
	t.Run("ForkBombStopsAtTasksMax", func(t *testing.T) {
		const tasksMax = 64
		h := startSystemd(t, t.TempDir(), tasksMax)
		r := h.launch(isolate.LaunchSpec{TaskID: "bomb",
			Cmd: `( i=0; while [ $i -lt 10000 ]; do sleep 30 & i=$((i+1)); done ) 2>/dev/null; exec sleep 30`})
		if got := readInt(t, cgroupFile(t, r.PID, "pids", "pids.max")); got != tasksMax {
			t.Errorf("pids.max = %d; want %d", got, tasksMax)
		}
		events := cgroupFile(t, r.PID, "pids", "pids.events")
		isolatetest.Eventually(t, 15*time.Second, "a fork refused at pids.max", func() bool {
			b, _ := os.ReadFile(events)
			f := strings.Fields(string(b))
			return len(f) == 2 && f[0] == "max" && f[1] != "0"
		})
		cur := readInt(t, cgroupFile(t, r.PID, "pids", "pids.current"))
		t.Logf("fork bomb holds %d tasks at TasksMax=%d", cur, tasksMax)
		if cur > tasksMax {
			t.Errorf("pids.current = %d above TasksMax %d", cur, tasksMax)
		}
		if err := h.s.Kill(context.Background(), "bomb", time.Second); err != nil {
			t.Fatal(err)
		}
		if e := h.waitExit("bomb"); e.Reason != isolate.Killed {
			t.Errorf("got %+v; want killed", e)
		}
	})
	t.Run("KillRemovesUnitWithinGrace", func(t *testing.T) {
		h := startSystemd(t, t.TempDir(), 0)
		const grace = 2 * time.Second
		r := h.launch(isolate.LaunchSpec{TaskID: "stubborn", Cmd: `trap '' TERM; sleep 60 & sleep 60`, KillGrace: grace})
		cg := filepath.Dir(cgroupFile(t, r.PID, "memory", "x"))
		unit := h.s.UnitName("stubborn")
		start := time.Now()
		if err := h.s.Kill(context.Background(), "stubborn", 0); err != nil {
			t.Fatal(err)
		}
		e := h.waitExit("stubborn")
		if e.Reason != isolate.Killed {
			t.Errorf("got %+v; want killed", e)
		}
		isolatetest.Eventually(t, grace+2*time.Second-time.Since(start), "unit and cgroup to be gone", func() bool {
			_, err := os.Stat(cg)
			return os.IsNotExist(err) && unitLoadState(t, unit) == "not-found"
		})
		if el := time.Since(start); el < grace || el > grace+2*time.Second {
			t.Errorf("a task ignoring SIGTERM was gone after %v; want the %v grace", el, grace)
		}
	})
	t.Run("ExitCodeKnownAfterRestart", func(t *testing.T) {
		dir := t.TempDir()
		h := startSystemd(t, dir, 0)
		r := h.launch(isolate.LaunchSpec{TaskID: "ends", Cmd: `sleep 0.5; exit 0`})
		h2r := h.launch(isolate.LaunchSpec{TaskID: "fails", Cmd: `sleep 0.5; exit 9`})
		h.s.Close()
		isolatetest.Eventually(t, 10*time.Second, "tasks to end", func() bool {
			return isolatetest.ProcessGone(r.PID) && isolatetest.ProcessGone(h2r.PID)
		})
		isolatetest.Eventually(t, 5*time.Second, "units to be collected", func() bool {
			return unitLoadState(t, h.s.UnitName("ends")) == "not-found" && unitLoadState(t, h.s.UnitName("fails")) == "not-found"
		})
		h2 := startSystemd(t, dir, 0)
		for id, code := range map[string]int{"ends": 0, "fails": 9} {
			if e := h2.waitExit(id); e.Reason != isolate.Exited || e.ExitCode != code {
				t.Errorf("%s: got %+v; want exited %d", id, e, code)
			}
		}
	})
	t.Run("ReadoptsRunningUnitAfterRestart", func(t *testing.T) {
		dir := t.TempDir()
		h := startSystemd(t, dir, 0)
		r := h.launch(isolate.LaunchSpec{TaskID: "long", Cmd: "sleep 60", Limits: isolate.Limits{MemMiB: 64}, KillGrace: 10 * time.Second})
		h.s.Close()
		s2 := newSystemd(t, dir, 0)
		t.Cleanup(func() { s2.Close() })
		rec, err := s2.Recover(context.Background())
		if err != nil || len(rec) != 1 || rec[0].TaskID != "long" || rec[0].PID != r.PID {
			t.Fatalf("Recover = %+v, %v; want task long with pid %d", rec, err, r.PID)
		}
		if u, err := s2.Usage(context.Background(), "long"); err != nil || u.MemBytes == 0 {
			t.Errorf("Usage of the re-adopted task = %+v, %v", u, err)
		}
		if err := s2.Kill(context.Background(), "long", 0); err != nil {
			t.Fatal(err)
		}
		h2 := &sdHarness{t: t, s: s2, seen: map[string]isolate.Exit{}}
		if e := h2.waitExit("long"); e.Reason != isolate.Killed {
			t.Errorf("got %+v; want killed", e)
		}
	})
	t.Run("RecoverStopsUnitsNoCheckpointClaims", func(t *testing.T) {
		dir := t.TempDir()
		out, err := exec.Command("systemd-run", "--unit=clusterd-stray.service", "--slice="+testSlice(dir), "sleep", "60").CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-run: %v\n%s", err, out)
		}
		startSystemd(t, dir, 0)
		isolatetest.Eventually(t, 5*time.Second, "stray unit to be stopped", func() bool {
			return unitLoadState(t, "clusterd-stray.service") == "not-found"
		})
	})
	t.Run("FailedStartIsALaunchErrorNamingTheUnit", func(t *testing.T) {
		h := startSystemd(t, t.TempDir(), 0)
		_, err := h.s.Launch(context.Background(), isolate.LaunchSpec{TaskID: "nouser", Cmd: "true", User: "no-such-user-clusterd"})
		if err == nil || !strings.Contains(err.Error(), "clusterd-nouser.service") || !strings.Contains(err.Error(), "217") {
			t.Fatalf("Launch as a missing user = %v; want an error naming the unit and systemd's 217/USER", err)
		}
		t.Logf("error: %v", err)
		isolatetest.Eventually(t, 5*time.Second, "failed unit to be collected", func() bool {
			return unitLoadState(t, "clusterd-nouser.service") == "not-found"
		})
		if r := h.s.Running(); len(r) != 0 {
			t.Errorf("Running = %+v after a failed launch", r)
		}
	})
	t.Run("LaunchLatency", func(t *testing.T) {
		for _, profile := range []string{isolate.ProfileHardened, isolate.ProfileRelaxed} {
			h := startSystemd(t, t.TempDir(), 0)
			const n = 100
			var lat []time.Duration
			for i := range n {
				id := fmt.Sprintf("lat-%03d", i)
				start := time.Now()
				h.launch(isolate.LaunchSpec{TaskID: id, Cmd: "sleep 60", Profile: profile, Limits: isolate.Limits{CPUs: 1, MemMiB: 256}})
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			t.Logf("%s launch call → unit active, %d sequential tasks: p50 %v, p99 %v, max %v", profile,
				n, lat[n/2].Round(time.Microsecond), lat[n*99/100-1].Round(time.Microsecond), lat[n-1].Round(time.Microsecond))
			for i := range n {
				if err := h.s.Kill(context.Background(), fmt.Sprintf("lat-%03d", i), time.Millisecond); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				h.waitExit(fmt.Sprintf("lat-%03d", i))
			}
		}
	})
}

func readLog(s *isolate.Systemd, id, stream string) string {
	b, _ := os.ReadFile(s.LogPath(id, stream))
	return string(b)
}

// systemd 252 (Debian 12) writes the ExecStartEx= and ExecStopPostEx= of
// transient units into their unit files and cannot read them back: after
// any daemon-reload (a package upgrade runs one) a running task's unit is
// "bad-setting". Its processes run on; a restarted agent must adopt the
// task, not report it lost and start a second copy.
func TestSystemdRecoverAdoptsATaskThroughADaemonReload(t *testing.T) {
	if !systemdtest.Run(t) {
		return
	}
	dir := t.TempDir()
	first := newSystemd(t, dir, 0)
	if _, err := first.Recover(context.Background()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	r, err := first.Launch(context.Background(), isolate.LaunchSpec{TaskID: "reloaded", Cmd: "sleep 300"})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if _, err := first.Launch(context.Background(), isolate.LaunchSpec{TaskID: "exits", Cmd: "sleep 2; exit 3"}); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	unit := first.UnitName("reloaded")
	if out, err := exec.Command("systemctl", "daemon-reload").CombinedOutput(); err != nil {
		t.Fatalf("daemon-reload: %v: %s", err, out)
	}
	t.Logf("the task's unit after daemon-reload: LoadState=%s", unitLoadState(t, unit))
	first.Close() // the agent stops; its task runs on

	h := startSystemd(t, dir, 0) // a restarted agent: its Recover adopts
	running := h.s.Running()
	if len(running) != 2 || running[0].TaskID != "exits" || running[1].TaskID != "reloaded" || running[1].PID != r.PID {
		t.Fatalf("after a daemon-reload and a restart the agent runs %+v; want tasks exits and reloaded (pid %d) adopted", running, r.PID)
	}
	// A task that ends after the reload is reported ended, once. Its exit
	// code is lost on systemd 252: the reload dropped the ExecStopPost that
	// records it (a systemd that reads its own unit files back keeps it).
	e := h.waitExit("exits")
	if !(e.Reason == isolate.Exited && e.ExitCode == 3) && !(e.Reason == isolate.Lost && strings.Contains(e.Message, "exit record")) {
		t.Errorf("an adopted task exiting 3 after the reload ended %+v; want exited 3, or lost for want of its exit record", e)
	}
	t.Logf("a task ending after the reload: %s %d %q", e.Reason, e.ExitCode, e.Message)
	if err := h.s.Kill(context.Background(), "reloaded", time.Second); err != nil {
		t.Fatalf("Kill the adopted task: %v", err)
	}
	if e := h.waitExit("reloaded"); e.Reason != isolate.Killed {
		t.Errorf("the adopted task ended %+v; want killed", e)
	}
}
