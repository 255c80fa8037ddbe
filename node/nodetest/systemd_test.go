package nodetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/isolate/systemdtest"
	"github.com/clusterd/clusterd/web/api"
)

// Real clusterd nodes with --isolator systemd, inside a private systemd
// (systemdtest.Run re-runs each test in the sandbox's namespaces; the
// nodes, children of the re-run test, live there too and talk to that
// systemd).

// systemctl runs systemctl with args, bounded to 10 s, and returns its
// trimmed stdout (and the error, with stderr, if it failed).
func systemctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "systemctl", args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("systemctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// escapeUnitID escapes a task id the way isolate's unitName does
// (systemd-escape: every byte outside [A-Za-z0-9:_.-], and a leading ".",
// becomes \xNN). Used only when a checkpoint does not name the unit.
func escapeUnitID(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		ch := id[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9',
			ch == ':', ch == '_', ch == '.' && i > 0, ch == '-':
			b.WriteByte(ch)
		default:
			fmt.Fprintf(&b, `\x%02x`, ch)
		}
	}
	return "clusterd-" + b.String() + ".service"
}

// sdCheckpoint is the part of the systemd backend's task.json read here.
type sdCheckpoint struct {
	TaskID   string `json:"task_id"`
	PID      int    `json:"pid"`
	Isolator string `json:"isolator"`
	Unit     string `json:"unit"`
}

// taskCheckpoint reads DATA/agent/tasks/<id>/task.json of node 0.
func taskCheckpoint(c *Cluster, id string) (sdCheckpoint, error) {
	var cp sdCheckpoint
	b, err := os.ReadFile(filepath.Join(c.Node(0).DataDir, "agent", "tasks", id, "task.json"))
	if err != nil {
		return cp, err
	}
	err = json.Unmarshal(b, &cp)
	return cp, err
}

// unitOf is the unit task id runs as: the checkpoint's, else the escaped id.
func unitOf(c *Cluster, id string) string {
	if cp, err := taskCheckpoint(c, id); err == nil && cp.Unit != "" {
		return cp.Unit
	}
	return escapeUnitID(id)
}

// mainPID is the MainPID systemd reports for unit (0: none).
func mainPID(unit string) (int, error) {
	out, err := systemctl("show", "-p", "MainPID", "--value", unit)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(out)
}

// activeState is `systemctl is-active unit` (which exits non-zero unless
// the unit is active: the answer is what counts).
func activeState(unit string) string {
	out, _ := systemctl("is-active", unit)
	return out
}

// taskUnits lists the loaded clusterd-* units, whatever their state.
func taskUnits() ([]string, error) {
	out, err := systemctl("list-units", "--all", "--plain", "--no-legend", "--no-pager", "clusterd-*")
	if err != nil {
		return nil, err
	}
	var units []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "clusterd-") && strings.HasSuffix(f[0], ".service") {
			units = append(units, f[0])
		}
	}
	return units, nil
}

// byJob returns job's tasks from tasks.
func byJob(tasks []api.Task, job string) []api.Task {
	var out []api.Task
	for _, task := range tasks {
		if task.Job == job {
			out = append(out, task)
		}
	}
	return out
}

// waitUnitsGone waits up to timeout until no clusterd-* unit is loaded.
func waitUnitsGone(t *testing.T, c *Cluster, timeout time.Duration) {
	t.Helper()
	c.eventually(t, "every clusterd-* unit gone", timeout, func() (bool, string) {
		units, err := taskUnits()
		if err != nil {
			return false, err.Error()
		}
		return len(units) == 0, fmt.Sprintf("%d units left: %v", len(units), units)
	})
}

func TestSystemdNodeKeepsItsTasksAcrossASIGKILL(t *testing.T) {
	if !systemdtest.Run(t) {
		return
	}
	c := Start(t, Options{N: 1, Form: FormInitOnly, ExtraArgs: []string{"--isolator", "systemd"}})
	nodes, err := c.APINodes(0)
	if err != nil || len(nodes) != 1 || nodes[0].Isolator != "systemd" {
		t.Fatalf("nodes = %+v, %v; want one node with isolator systemd", nodes, err)
	}

	c.Submit(t, 0, `{"id":"svc","type":"service","cmd":"sleep 600","instances":5,"cpus":0.1,"mem":32}`)
	c.Submit(t, 0, `{"id":"slow","type":"batch","cmd":"sleep 4; exit 9","instances":1,"cpus":0.1,"mem":32,"retries":0}`)

	var svcIDs []string
	var slowID string
	var slowSeen time.Time
	c.Eventually(t, "5 tasks of svc running and slow running", 60*time.Second, func() bool {
		tasks, err := c.Tasks(0)
		if err != nil {
			return false
		}
		svcIDs = svcIDs[:0]
		for _, task := range byJob(tasks, "svc") {
			if task.State == api.TaskRunning {
				svcIDs = append(svcIDs, task.ID)
			}
		}
		if slowID == "" {
			for _, task := range byJob(tasks, "slow") {
				if task.State == api.TaskRunning {
					slowID, slowSeen = task.ID, time.Now()
				}
				if api.TaskStateTerminal(task.State) {
					t.Fatalf("slow ended (%s) before the node was killed: it should run 4 s", task.State)
				}
			}
		}
		return len(svcIDs) == 5 && slowID != ""
	})
	slices.Sort(svcIDs)

	// The main PIDs, from systemd, and the units' names from the checkpoints.
	units := map[string]string{}
	pids := map[string]int{}
	for _, id := range svcIDs {
		units[id] = unitOf(c, id)
		c.Eventually(t, "unit of "+id+" active with a main pid", 10*time.Second, func() bool {
			pid, err := mainPID(units[id])
			if err != nil || pid <= 0 || activeState(units[id]) != "active" {
				return false
			}
			pids[id] = pid
			return true
		})
		if cp, err := taskCheckpoint(c, id); err == nil && cp.PID != 0 && cp.PID != pids[id] {
			t.Errorf("task %s: checkpoint pid %d, unit %s MainPID %d", id, cp.PID, units[id], pids[id])
		}
	}
	slowUnit := unitOf(c, slowID)
	t.Logf("svc tasks %v, main pids %v; slow is %s (%s)", svcIDs, pids, slowID, slowUnit)

	// A crash of the node while slow runs: slow ends while no agent runs.
	c.Kill(t, 0)
	killedAt := time.Now()
	exitRecord := filepath.Join(c.Node(0).DataDir, "agent", "tasks", slowID, "unit-exit")
	c.Eventually(t, "slow exited while the node is down (and ≥ 5 s passed)", 20*time.Second, func() bool {
		if activeState(slowUnit) == "active" {
			return false
		}
		if _, err := os.Stat(exitRecord); err != nil {
			return false
		}
		return time.Since(killedAt) >= 5*time.Second && time.Since(slowSeen) >= 5*time.Second
	})
	if b, err := os.ReadFile(exitRecord); err == nil {
		t.Logf("slow's exit record: %s", strings.TrimSpace(string(b)))
	}
	for _, id := range svcIDs {
		if s := activeState(units[id]); s != "active" {
			t.Fatalf("task %s: unit %s is %q while the node is down; tasks must outlive the agent", id, units[id], s)
		}
		if pid, err := mainPID(units[id]); err != nil || pid != pids[id] {
			t.Fatalf("task %s: MainPID %d (%v) while the node is down, was %d", id, pid, err, pids[id])
		}
	}

	// Restart: within 5 s the same tasks run (same pids), slow failed with
	// its real exit code, nothing lost.
	restartAt := time.Now()
	c.Restart(t, 0)
	answered := time.Since(restartAt)
	var allRunning, settled time.Duration
	var last string
	for {
		tasks, err := c.Tasks(0)
		ok, why := true, ""
		if err != nil {
			ok, why = false, err.Error()
		} else {
			var running []string
			for _, task := range byJob(tasks, "svc") {
				if task.State == api.TaskRunning {
					running = append(running, task.ID)
				}
			}
			slices.Sort(running)
			if slices.Equal(running, svcIDs) {
				if allRunning == 0 {
					allRunning = time.Since(restartAt)
				}
			} else {
				ok, why = false, fmt.Sprintf("running svc tasks %v, want %v", running, svcIDs)
			}
			slowState := "absent"
			for _, task := range byJob(tasks, "slow") {
				code := "none"
				if task.ExitCode != nil {
					code = strconv.Itoa(*task.ExitCode)
				}
				slowState = fmt.Sprintf("%s %s (exit code %s, %s)", task.ID, task.State, code, task.Message)
				if task.ID != slowID || task.State != api.TaskFailed || task.ExitCode == nil || *task.ExitCode != 9 {
					ok = false
				}
			}
			if !ok && why == "" {
				why = "slow is " + slowState
			}
			for _, task := range tasks {
				if task.State == api.TaskLost {
					t.Fatalf("task %s is TASK_LOST after the restart (%s)", task.ID, task.Message)
				}
			}
		}
		if ok {
			settled = time.Since(restartAt)
			break
		}
		last = why
		if time.Since(restartAt) > 5*time.Second {
			c.dumpLogs(t, 80)
			t.Fatalf("5 s after the restart: %s", last)
		}
		time.Sleep(pollEvery)
	}
	t.Logf("restart: node answered in %v, all 5 svc tasks TASK_RUNNING after %v, slow TASK_FAILED (exit 9) after %v",
		answered.Round(time.Millisecond), allRunning.Round(time.Millisecond), settled.Round(time.Millisecond))

	// The same processes, the same tasks, no replacement, nothing lost.
	for _, id := range svcIDs {
		pid, err := mainPID(units[id])
		if err != nil || pid != pids[id] {
			t.Errorf("task %s: MainPID %d (%v) after the restart, was %d: the task was not re-adopted", id, pid, err, pids[id])
		}
		if p, ok := readTaskProc(pids[id]); !ok || p.taskID != id {
			t.Errorf("task %s: pid %d is no longer its process", id, pids[id])
		}
	}
	tasks, err := c.Tasks(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		for _, h := range task.History {
			if h.State == api.TaskLost {
				t.Errorf("task %s was TASK_LOST at %v (%s)", task.ID, h.Time, h.Message)
			}
		}
		if task.Job == "svc" && !slices.Contains(svcIDs, task.ID) {
			t.Errorf("svc has a new task %s (%s): the old ones should have been re-adopted", task.ID, task.State)
		}
	}
	c.AssertNoTaskRunsTwice(t)
	if t.Failed() {
		t.FailNow()
	}

	// Deleting the job stops its units.
	if out, err := c.CLI(t, 0, "kill", "svc"); err != nil {
		t.Fatalf("clusterd kill svc: %v\n%s", err, out)
	}
	deleted := time.Now()
	c.Eventually(t, "the 5 units of svc stopped", 15*time.Second, func() bool {
		for _, id := range svcIDs {
			if activeState(units[id]) == "active" {
				return false
			}
		}
		units, err := taskUnits()
		return err == nil && len(units) == 0
	})
	t.Logf("delete svc: units gone after %v", time.Since(deleted).Round(time.Millisecond))
	c.Eventually(t, "svc's tasks terminal", 15*time.Second, func() bool {
		tasks, err := c.Tasks(0)
		if err != nil {
			return false
		}
		for _, task := range byJob(tasks, "svc") {
			if !api.TaskStateTerminal(task.State) {
				return false
			}
		}
		return true
	})
}

func TestSystemdNodeLaunchesAHundredTasksAtOnce(t *testing.T) {
	if !systemdtest.Run(t) {
		return
	}
	// The relaxed profile runs tasks as root, which the agent must allow.
	c := Start(t, Options{N: 1, Form: FormInitOnly, ExtraArgs: []string{"--isolator", "systemd", "--resources", "cpus=64,mem=65536", "--allow-user", "root"}})
	const n = 100
	for _, profile := range []string{"relaxed", "hardened"} {
		job := "burst-" + profile
		spec := fmt.Sprintf(`{"id":%q,"type":"service","cmd":"sleep 600","instances":%d,"cpus":0.1,"mem":16`, job, n)
		if profile == "relaxed" {
			spec += `,"profile":"relaxed"`
		}
		spec += "}"
		start := time.Now()
		c.Submit(t, 0, spec)
		var running int
		c.Eventually(t, fmt.Sprintf("%d tasks of %s running", n, job), 180*time.Second, func() bool {
			tasks, err := c.Tasks(0)
			if err != nil {
				return false
			}
			running = 0
			for _, task := range byJob(tasks, job) {
				switch {
				case task.State == api.TaskRunning:
					running++
				case api.TaskStateTerminal(task.State):
					t.Fatalf("task %s of %s ended: %s (%s)", task.ID, job, task.State, task.Message)
				}
			}
			return running == n
		})
		took := time.Since(start)
		t.Logf("%d tasks at once (%s): %.2fs", n, profile, took.Seconds())

		units, err := systemctl("list-units", "--state=active", "--plain", "--no-legend", "--no-pager", "clusterd-*")
		if err != nil {
			t.Fatal(err)
		}
		if got := len(strings.Split(strings.TrimSpace(units), "\n")); got != n {
			t.Errorf("%d active clusterd-* units, want %d", got, n)
		}
		// The profile reached the units: hardened runs with a dynamic user.
		tasks, err := c.Tasks(0)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"relaxed": "no", "hardened": "yes"}[profile]
		for _, task := range byJob(tasks, job)[:3] {
			if got, err := systemctl("show", "-p", "DynamicUser", "--value", unitOf(c, task.ID)); err != nil || got != want {
				t.Errorf("%s unit of %s: DynamicUser=%q (%v), want %q", profile, task.ID, got, err, want)
			}
		}

		if out, err := c.CLI(t, 0, "kill", job); err != nil {
			t.Fatalf("clusterd kill %s: %v\n%s", job, err, out)
		}
		deleted := time.Now()
		waitUnitsGone(t, c, 60*time.Second)
		t.Logf("delete %s: %d units gone after %.2fs", job, n, time.Since(deleted).Seconds())
	}
}
