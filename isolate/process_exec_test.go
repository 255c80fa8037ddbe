package isolate_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/isolate"
)

// editCheckpoint rewrites a closed process backend's task.json through edit.
func editCheckpoint(t *testing.T, dir, id string, edit func(cp map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "tasks", id, "task.json")
	var cp map[string]any
	if err := json.Unmarshal([]byte(readFileT(t, path)), &cp); err != nil {
		t.Fatal(err)
	}
	edit(cp)
	writeJSONT(t, path, cp)
}

// TestProcessExecRunsAsTheTasksRecordedUserNotTheAgents re-adopts a task
// recorded as running as nobody (as if launched by an agent running as
// nobody): its checks run as nobody, not as the root agent adopting it.
func TestProcessExecRunsAsTheTasksRecordedUserNotTheAgents(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching users needs root")
	}
	dir := t.TempDir()
	// nobody must reach the sandbox, as under DATA/agent (t.TempDir's
	// parent is 0700).
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	p := newProcess(t, dir)
	started(t, p)
	launch(t, p, "nobody", "exec sleep 60")
	if code, out := execIn(t, p, "nobody", "id -u"); code != 0 || out != "0\n" {
		t.Fatalf("Exec id -u = %d, %q; want the root agent's 0", code, out)
	}
	p.Close()
	editCheckpoint(t, dir, "nobody", func(cp map[string]any) {
		if _, ok := cp["run_as"]; !ok {
			t.Fatalf("task.json records no run_as: %v", cp)
		}
		cp["run_as"] = map[string]any{"uid": 65534, "gid": 65534, "groups": []int{65534}}
	})
	p2 := newProcess(t, dir)
	started(t, p2)
	if code, out := execIn(t, p2, "nobody", "id -u; id -g; id -G"); code != 0 || out != "65534\n65534\n65534\n" {
		t.Errorf("Exec in a task recorded as nobody = code %d, %q; want uid, gid and groups 65534", code, out)
	}
}

func TestProcessExecRefusesATaskCheckpointedWithoutItsUserAndEnv(t *testing.T) {
	dir := t.TempDir()
	p := newProcess(t, dir)
	started(t, p)
	launch(t, p, "old", "exec sleep 60")
	p.Close()
	// An older agent's checkpoint.
	editCheckpoint(t, dir, "old", func(cp map[string]any) {
		delete(cp, "run_as")
		delete(cp, "env")
	})
	p2 := newProcess(t, dir)
	started(t, p2)
	marker := filepath.Join(t.TempDir(), "ran")
	_, _, err := p2.Exec(context.Background(), "old", "touch "+marker)
	if err == nil || errors.Is(err, isolate.ErrNotRunning) || !strings.Contains(err.Error(), "relaunch") {
		t.Errorf("Exec in a task checkpointed without user and env = %v; want a refusal saying to relaunch it", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran")
	}
}

func TestProcessExecAfterCloseFails(t *testing.T) {
	p := newProcess(t, t.TempDir())
	started(t, p)
	launch(t, p, "closed", "exec sleep 60")
	p.Close()
	if _, _, err := p.Exec(context.Background(), "closed", "true"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Exec after Close = %v; want an error saying the isolator is closed", err)
	}
}

func BenchmarkProcessExecTrue(b *testing.B) {
	p := newProcess(b, b.TempDir())
	b.Cleanup(func() { p.Close() })
	if _, err := p.Launch(context.Background(), isolate.LaunchSpec{TaskID: "bench", Cmd: "exec sleep 600"}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Kill(context.Background(), "bench", 0) })
	b.ResetTimer()
	for b.Loop() {
		if code, _, err := p.Exec(context.Background(), "bench", "true"); err != nil || code != 0 {
			b.Fatalf("Exec = %d, %v", code, err)
		}
	}
}
