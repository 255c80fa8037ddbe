package check

import (
	"testing"

	"github.com/clusterd/clusterd/web/api"
)

// seen is a pushed observation of task at ms; polled one asked at from and
// answered at to.
func seen(task, state string, ms int) Observation {
	return Observation{Task: task, State: state, At: at(ms), Source: "framework"}
}

func polled(task, state string, from, to int) Observation {
	return Observation{Task: task, State: state, Invoke: at(from), At: at(to), Source: "GET /v1/tasks"}
}

func launch(task string, from, to int) Operation { return op(0, KindLaunch, task, from, to) }
func kill(task string, from, to int) Operation   { return op(1, KindKill, task, from, to) }

func TestLifecycleLegalHistoriesPass(t *testing.T) {
	obs := []Observation{
		seen("a", api.TaskStaging, 10),
		seen("a", api.TaskStarting, 20),
		seen("a", api.TaskRunning, 30),
		// A poll that overlaps the kill may still answer RUNNING.
		polled("a", api.TaskRunning, 35, 60),
		seen("a", api.TaskKilling, 40),
		seen("a", api.TaskKilled, 50),
		polled("a", api.TaskKilled, 70, 80),
		polled("a", api.TaskKilled, 90, 95), // the same terminal state, again
		// Skipping: STARTING was never reported.
		seen("b", api.TaskStaging, 10),
		seen("b", api.TaskRunning, 20),
		seen("b", api.TaskFinished, 30),
		// The agent died before the task started.
		seen("c", api.TaskStaging, 10),
		seen("c", api.TaskLost, 500),
		// Still running at the end, seen by the final listing only.
		polled("d", api.TaskRunning, 900, 910),
		// Reconciliation of a launch whose outcome was unknown: the
		// cluster never committed it, and says so.
		seen("e", "TASK_UNKNOWN", 100),
		// A Mesos framework's invalid launch.
		seen("f", "TASK_DROPPED", 100),
	}
	history := []Operation{
		launch("a", 0, 5), launch("b", 0, 5), launch("c", 0, 5), launch("d", 0, 5),
		op(0, KindLaunch, "e", 0, -1), launch("f", 0, 5),
		kill("a", 35, 38), kill("b", 40, 45), // b had finished already
	}
	r := Lifecycle(obs, history)
	wantOK(t, r)
	if r.Checked != 6 {
		t.Errorf("checked %d tasks, want 6", r.Checked)
	}
}

func TestLifecycleCatchesResurrection(t *testing.T) {
	obs := []Observation{
		seen("a", api.TaskRunning, 10),
		seen("a", api.TaskFinished, 20),
		polled("a", api.TaskRunning, 30, 40), // a restore of an old snapshot
	}
	wantViolation(t, Lifecycle(obs, nil), `task "a": resurrected`, "TASK_RUNNING seen [12:00:00.030, 12:00:00.040]", "ended TASK_FINISHED seen 12:00:00.020")
}

func TestLifecycleCatchesTwoTerminalStates(t *testing.T) {
	obs := []Observation{
		seen("a", api.TaskRunning, 10),
		seen("a", api.TaskFailed, 20),
		seen("a", api.TaskLost, 30), // the agent's loss re-marked an ended task
	}
	wantViolation(t, Lifecycle(obs, nil), `task "a": two terminal states`, "TASK_FAILED seen 12:00:00.020", "TASK_LOST seen 12:00:00.030")

	// Even when the two answers overlap in time, a task has one end.
	obs = []Observation{
		polled("b", api.TaskFinished, 10, 30),
		polled("b", api.TaskKilled, 20, 40),
	}
	wantViolation(t, Lifecycle(obs, nil), `task "b": two terminal states`)
}

func TestLifecycleCatchesAMoveBackwards(t *testing.T) {
	obs := []Observation{
		seen("a", api.TaskStaging, 5),
		seen("a", api.TaskKilling, 10),
		polled("a", api.TaskRunning, 20, 25),
		seen("a", api.TaskKilled, 30),
	}
	wantViolation(t, Lifecycle(obs, nil), `task "a": moved backwards`, "TASK_RUNNING seen [12:00:00.020, 12:00:00.025]", "after TASK_KILLING")
}

func TestLifecycleCatchesLostAcknowledgedLaunch(t *testing.T) {
	obs := []Observation{
		seen("stuck", api.TaskStaging, 10),
		polled("stuck", api.TaskStaging, 900, 910),
		seen("unkilled", api.TaskRunning, 10),
		seen("forgotten", "TASK_UNKNOWN", 900),
	}
	history := []Operation{
		launch("never", 0, 5),
		launch("stuck", 0, 5),
		launch("unkilled", 0, 5),
		kill("unkilled", 20, 30),
		launch("forgotten", 0, 5),
	}
	r := Lifecycle(obs, history)
	wantViolation(t, r, `task "never": launch acknowledged but the task was never seen`, `client 0 launch "never" → ok [12:00:00.000, 12:00:00.005]`)
	wantViolation(t, r, `task "stuck": launch acknowledged but it ended TASK_STAGING`)
	wantViolation(t, r, `task "unkilled": kill acknowledged but it ended TASK_RUNNING`)
	wantViolation(t, r, `task "forgotten": the cluster did not know it (TASK_UNKNOWN`)
	wantViolation(t, r, `task "forgotten": launch acknowledged but the task was never seen`)
	if len(r.Violations) != 5 {
		t.Errorf("want 5 violations, got:\n%s", r)
	}
}

func TestLifecycleRejectsUnknownStates(t *testing.T) {
	r := Lifecycle([]Observation{seen("a", "TASK_ZOMBIE", 10), {Task: "b", State: api.TaskRunning}}, nil)
	wantViolation(t, r, `task "a": TASK_ZOMBIE seen 12:00:00.010 by framework is not a state clusterd uses`)
	wantViolation(t, r, `task "b" has bad times`)
}
