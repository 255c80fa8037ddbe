package isolate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/isolate"
	"github.com/clusterd/clusterd/isolate/isolatetest"
	"github.com/clusterd/clusterd/isolate/systemdtest"
)

// execIn runs command in task id and fails the test on an error.
func execIn(t *testing.T, ex isolate.Execer, id, command string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, out, err := ex.Exec(ctx, id, command)
	if err != nil {
		t.Fatalf("Exec %q in task %s: %v (output %q)", command, id, err, out)
	}
	return code, out
}

// readWhenWritten waits for a file a task writes, and returns its content.
func readWhenWritten(t *testing.T, path string) string {
	t.Helper()
	var b []byte
	isolatetest.Eventually(t, 15*time.Second, path, func() bool {
		var err error
		b, err = os.ReadFile(path)
		return err == nil && strings.HasSuffix(string(b), "\n")
	})
	return strings.TrimSpace(string(b))
}

// execUnits lists the Exec units systemd has loaded, with their state.
func execUnits(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("systemctl", "list-units", "--all", "--plain", "--no-legend", "clusterd-.exec-*").Output()
	if err != nil {
		t.Fatalf("systemctl list-units: %v", err)
	}
	var units []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) >= 4 {
			units = append(units, f[0]+" "+f[2]+"/"+f[3])
		}
	}
	return units
}

// TestSystemdExec runs Exec in hardened tasks (the default profile) in a
// private systemd; the conformance suite covers the relaxed profile.
func TestSystemdExec(t *testing.T) {
	if !systemdtest.Run(t) {
		return
	}
	t.Run("RunsAsTheTasksDynamicUserInItsHardenedSandbox", func(t *testing.T) {
		dir := t.TempDir()
		h := startSystemd(t, dir, 0)
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		shm := "/dev/shm/clusterd-exec-test-" + hex.EncodeToString(b)
		t.Cleanup(func() { os.Remove(shm); os.Remove("/etc/clusterd-exec") })
		h.launch(isolate.LaunchSpec{TaskID: "hard", Env: map[string]string{"FOO": "bar", "SHM": shm},
			Limits: isolate.Limits{CPUs: 0.5, MemMiB: 64},
			Cmd:    `echo from-task > /tmp/marker; echo ipc > "$SHM"; id -u > uid.tmp && mv uid.tmp uid; exec sleep 60`})
		sandbox := h.s.SandboxPath("hard")
		uid := readWhenWritten(t, filepath.Join(sandbox, "uid"))
		if uid == "0" {
			t.Fatal("the hardened task runs as root")
		}
		code, out := execIn(t, h.s, "hard", `id -u; echo "FOO=$FOO"; pwd -P; cat /tmp/marker; `+
			`touch /etc/clusterd-exec 2>/dev/null || echo etc-readonly; `+
			`cg=$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup); echo "$cg"; cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes"`)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 7 {
			t.Fatalf("Exec = code %d, %q; want 0 and 7 lines", code, out)
		}
		want := []string{uid, "FOO=bar", sandbox, "from-task", "etc-readonly"}
		if !slices.Equal(lines[:5], want) {
			t.Errorf("Exec saw uid, env, working dir, /tmp, /etc: %q; want the task's %q", lines[:5], want)
		}
		if cg := lines[5]; !strings.Contains(cg, "/"+testSlice(dir)+"/clusterd-.exec-") {
			t.Errorf("Exec ran in cgroup %s; want an Exec unit in the task's slice", cg)
		}
		if lines[6] != "67108864" {
			t.Errorf("Exec's memory.limit_in_bytes = %s; want the task's 64 MiB", lines[6])
		}
		// The Exec unit ended with RemoveIPC=yes: the task's IPC is kept
		// while the task, sharing the uid, runs.
		if _, err := os.Stat(shm); err != nil {
			t.Errorf("the task's %s is gone after an Exec ended: %v", shm, err)
		}
		t.Logf("task and Exec run as dynamic uid %s", uid)
	})
	t.Run("RunsAsTheTasksNamedUser", func(t *testing.T) {
		h := startSystemd(t, t.TempDir(), 0)
		h.launch(isolate.LaunchSpec{TaskID: "named", User: "nobody", Cmd: "exec sleep 60"})
		if code, out := execIn(t, h.s, "named", `id -un; id -u`); code != 0 || out != "nobody\n65534\n" {
			t.Errorf("Exec in a task of user nobody = code %d, %q; want nobody, 65534", code, out)
		}
	})
	t.Run("LeavesNoUnitBehind", func(t *testing.T) {
		h := startSystemd(t, t.TempDir(), 0)
		h.launch(isolate.LaunchSpec{TaskID: "units", Cmd: "exec sleep 60"})
		noneActive := func(after string) {
			t.Helper()
			for _, u := range execUnits(t) {
				if !strings.HasSuffix(u, " inactive/dead") && !strings.HasSuffix(u, " failed/failed") {
					t.Errorf("after %s, Exec unit %s is still there", after, u)
				}
			}
		}
		if code, _ := execIn(t, h.s, "units", "true"); code != 0 {
			t.Errorf("Exec true = %d", code)
		}
		noneActive("an Exec that succeeded")
		if code, _ := execIn(t, h.s, "units", "exit 3"); code != 3 {
			t.Errorf("Exec exit 3 = %d", code)
		}
		noneActive("an Exec that failed")
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if _, _, err := h.s.Exec(ctx, "units", "sleep 300 & wait"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Exec past its deadline = %v; want DeadlineExceeded", err)
		}
		noneActive("an Exec whose ctx ended")
		isolatetest.Eventually(t, 5*time.Second, "Exec units to be collected", func() bool { return len(execUnits(t)) == 0 })
	})
	t.Run("RefusesATaskCheckpointedWithoutItsSandbox", func(t *testing.T) {
		dir := t.TempDir()
		h := startSystemd(t, dir, 0)
		h.launch(isolate.LaunchSpec{TaskID: "old", Cmd: "exec sleep 60"})
		h.s.Close()
		// An older agent's checkpoint: no record of the unit's sandbox.
		path := filepath.Join(dir, "tasks", "old", "task.json")
		var cp map[string]any
		if err := json.Unmarshal([]byte(readFileT(t, path)), &cp); err != nil {
			t.Fatal(err)
		}
		if _, ok := cp["sandbox"]; !ok {
			t.Fatalf("task.json records no sandbox: %v", cp)
		}
		delete(cp, "sandbox")
		writeJSONT(t, path, cp)
		h2 := startSystemd(t, dir, 0)
		_, _, err := h2.s.Exec(context.Background(), "old", "true")
		if err == nil || errors.Is(err, isolate.ErrNotRunning) || !strings.Contains(err.Error(), "relaunch") {
			t.Errorf("Exec in a task checkpointed without its sandbox = %v; want a refusal saying to relaunch it", err)
		}
	})
	t.Run("LogsTheLatencyOfAHardenedExec", func(t *testing.T) {
		h := startSystemd(t, t.TempDir(), 0)
		h.launch(isolate.LaunchSpec{TaskID: "lat", Cmd: "exec sleep 60", Limits: isolate.Limits{CPUs: 1, MemMiB: 256}})
		const n = 20
		var lat []time.Duration
		for range n {
			start := time.Now()
			if code, out := execIn(t, h.s, "lat", "true"); code != 0 {
				t.Fatalf("Exec true = %d, %q", code, out)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		t.Logf("systemd, hardened: Exec of `true`, %d in a row: p50 %v, p90 %v, max %v", n,
			lat[n/2].Round(time.Microsecond), lat[n*9/10].Round(time.Microsecond), lat[n-1].Round(time.Microsecond))
	})
}

func readFileT(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeJSONT(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
