package check

import (
	"fmt"
	"sort"
	"time"

	"github.com/clusterd/clusterd/web/api"
)

// Observation is one sighting of a task's committed state: an answer to a
// task listing or a reconciliation, or a status update a framework
// received. Feed the cluster's view only, not an agent's local one: an
// agent may know of a transition before it is committed.
type Observation struct {
	Task  string
	State string
	// Invoke is when the observer asked; zero for a pushed update (the
	// same as At). The state held at some moment in [Invoke, At].
	Invoke time.Time
	At     time.Time
	Source string // who saw it, for explanations: "framework", "GET /v1/tasks on node 2"
}

func (o Observation) start() time.Time {
	if o.Invoke.IsZero() {
		return o.At
	}
	return o.Invoke
}

func (o Observation) String() string {
	when := ts(o.At)
	if !o.Invoke.IsZero() && !o.Invoke.Equal(o.At) {
		when = fmt.Sprintf("[%s, %s]", ts(o.Invoke), ts(o.At))
	}
	src := ""
	if o.Source != "" {
		src = " by " + o.Source
	}
	return fmt.Sprintf("%s seen %s%s", o.State, when, src)
}

// Mesos terminal states that clusterd's Mesos API may report but its own
// state never holds (invalid launches, reconciliation of a task the
// cluster does not know).
const (
	taskDropped     = "TASK_DROPPED"
	taskGone        = "TASK_GONE"
	taskGoneByOp    = "TASK_GONE_BY_OPERATOR"
	taskUnreachable = "TASK_UNREACHABLE"
	taskUnknown     = "TASK_UNKNOWN"
)

func terminal(state string) bool {
	return api.TaskStateTerminal(state) || state == taskDropped || state == taskGone || state == taskGoneByOp
}

// rank orders states as raftfsm applies them: it refuses any update that
// would lower a task's rank, so committed states only move forward, and
// may skip ranks (STAGING → RUNNING when STARTING was not reported,
// STAGING → LOST when the agent died first). Unknown states rank -1.
func rank(state string) int {
	switch state {
	case api.TaskStaging:
		return 0
	case api.TaskStarting:
		return 1
	case api.TaskRunning:
		return 2
	case api.TaskKilling:
		return 3
	}
	if terminal(state) {
		return 4
	}
	return -1
}

// Lifecycle checks that each task's observed states follow STAGING →
// STARTING → RUNNING (→ KILLING) → one terminal state, possibly skipping
// some, never moving back; that a terminal state is final (nothing else is
// seen after it, and no second, different terminal state is ever seen);
// that every launch acknowledged in history (KindLaunch, OutcomeOK, Key the
// task id) ends RUNNING or terminal; and that every acknowledged kill ends
// terminal. Run it on observations that include a final listing taken
// after the quiet period: "ends" means the latest observation.
//
// Order is real-time order: an observation counts as after another only
// when it was invoked after the other was answered, so two overlapping
// polls that disagree are not a violation.
//
// TASK_UNREACHABLE and TASK_UNKNOWN are what reconciliation answers for a
// task the cluster does not know: a violation for an acknowledged launch,
// ignored for any other task (a launch whose outcome was unknown may
// never have been committed).
func Lifecycle(obs []Observation, history []Operation) Result {
	const name = "task lifecycle"
	var violations []string
	byTask := map[string][]Observation{}
	for i, o := range obs {
		switch {
		case o.Task == "":
			violations = append(violations, fmt.Sprintf("observation %d has no task id: %s", i, o))
			continue
		case o.At.IsZero() || o.At.Before(o.start()):
			violations = append(violations, fmt.Sprintf("observation %d of task %q has bad times: %s", i, o.Task, o))
			continue
		case o.State == taskUnreachable || o.State == taskUnknown:
		case rank(o.State) < 0:
			violations = append(violations, fmt.Sprintf("task %q: %s is not a state clusterd uses", o.Task, o))
			continue
		}
		byTask[o.Task] = append(byTask[o.Task], o)
	}
	launched := map[string]Operation{}
	killed := map[string]Operation{}
	for _, op := range history {
		if op.Outcome != OutcomeOK {
			continue
		}
		switch op.Kind {
		case KindLaunch:
			if _, ok := launched[op.Key]; !ok {
				launched[op.Key] = op
			}
		case KindKill:
			if _, ok := killed[op.Key]; !ok {
				killed[op.Key] = op
			}
		}
	}
	tasks := map[string]bool{}
	for id := range byTask {
		tasks[id] = true
	}
	for id := range launched {
		tasks[id] = true
	}
	ids := make([]string, 0, len(tasks))
	for id := range tasks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		launch, acked := launched[id]
		seen := byTask[id]
		var known []Observation
		for _, o := range seen {
			if o.State == taskUnreachable || o.State == taskUnknown {
				if acked {
					violations = append(violations, fmt.Sprintf("task %q: the cluster did not know it (%s), though its launch was acknowledged: %s", id, o, launch))
				}
				continue
			}
			known = append(known, o)
		}
		violations = append(violations, taskOrder(id, known)...)
		if len(known) == 0 {
			if acked {
				violations = append(violations, fmt.Sprintf("task %q: launch acknowledged but the task was never seen: %s", id, launch))
			}
			continue
		}
		last := known[0]
		for _, o := range known[1:] {
			if !o.At.Before(last.At) {
				last = o
			}
		}
		if acked && last.State != api.TaskRunning && !terminal(last.State) {
			violations = append(violations, fmt.Sprintf("task %q: launch acknowledged but it ended %s, neither RUNNING nor terminal: %s", id, last, launch))
		}
		if kill, ok := killed[id]; ok && !terminal(last.State) {
			violations = append(violations, fmt.Sprintf("task %q: kill acknowledged but it ended %s, not terminal: %s", id, last, kill))
		}
	}
	return result(name, len(ids), violations)
}

// taskOrder checks one task's observations for a second terminal state, a
// state after its terminal one, and a move backwards. It reports at most
// one of each per task: the first is the one to debug, and a flapping
// poller would otherwise bury the others.
func taskOrder(id string, obs []Observation) []string {
	var out []string
	var firstTerminal *Observation
	for i := range obs {
		if terminal(obs[i].State) && (firstTerminal == nil || obs[i].At.Before(firstTerminal.At)) {
			firstTerminal = &obs[i]
		}
	}
	if firstTerminal != nil {
		for _, o := range obs {
			if terminal(o.State) && o.State != firstTerminal.State {
				out = append(out, fmt.Sprintf("task %q: two terminal states: %s, and %s", id, *firstTerminal, o))
				break
			}
		}
	}
	// Sweep in invocation order; before holds the observations answered
	// before the current one was invoked.
	byStart := append([]Observation(nil), obs...)
	sort.SliceStable(byStart, func(i, j int) bool { return byStart[i].start().Before(byStart[j].start()) })
	byEnd := append([]Observation(nil), obs...)
	sort.SliceStable(byEnd, func(i, j int) bool { return byEnd[i].At.Before(byEnd[j].At) })
	var highest, ended *Observation
	next := 0
	resurrected, backwards := false, false
	for _, o := range byStart {
		for next < len(byEnd) && byEnd[next].At.Before(o.start()) {
			b := &byEnd[next]
			if highest == nil || rank(b.State) > rank(highest.State) {
				highest = b
			}
			if ended == nil && terminal(b.State) {
				ended = b
			}
			next++
		}
		switch {
		case ended != nil && !terminal(o.State) && !resurrected:
			resurrected = true
			out = append(out, fmt.Sprintf("task %q: resurrected: %s, after it ended %s", id, o, *ended))
		case ended == nil && highest != nil && rank(o.State) < rank(highest.State) && !backwards:
			backwards = true
			out = append(out, fmt.Sprintf("task %q: moved backwards: %s, after %s", id, o, *highest))
		}
	}
	return out
}
