package check

import (
	"fmt"
	"testing"

	"github.com/clusterd/clusterd/web/api"
)

func deliver(stream int, task, uuid, state string, ms int) Delivery {
	return Delivery{Stream: stream, At: at(ms), Task: task, UUID: uuid, State: state}
}

func ack(task, uuid string, from, to int) Ack {
	return Ack{Task: task, UUID: uuid, Invoke: at(from), Complete: at(to), Outcome: OutcomeOK}
}

// streamRun is a framework that subscribed twice: stream 1 from 0 to
// 1000 ms, stream 2 from 1100 ms to the end at 60 s. Task t1 had three
// updates committed, t2 two.
func streamRun() StreamLog {
	return StreamLog{
		Framework:     "fw-1",
		Subscriptions: []Subscription{{ID: 1, Start: at(0), End: at(1000)}, {ID: 2, Start: at(1100)}},
		Committed: map[string][]Update{
			"t1": {{"u1", api.TaskStarting}, {"u2", api.TaskRunning}, {"u3", api.TaskFinished}},
			"t2": {{"v1", api.TaskRunning}, {"v2", api.TaskKilled}},
		},
		Deliveries: []Delivery{
			deliver(1, "t1", "u1", api.TaskStarting, 100),
			deliver(1, "t1", "u1", api.TaskStarting, 300), // a retry before the ack: at least once
			deliver(1, "t1", "u2", api.TaskRunning, 400),
			deliver(1, "t2", "v1", api.TaskRunning, 500),
			// The stream dropped with u2 and v1 unacknowledged; both come
			// again on the new stream.
			deliver(2, "t1", "u2", api.TaskRunning, 1150),
			deliver(2, "t2", "v1", api.TaskRunning, 1160),
			deliver(2, "t1", "u3", api.TaskFinished, 1300),
			deliver(2, "t2", "v2", api.TaskKilled, 1400),
		},
		Acks: []Ack{
			ack("t1", "u1", 350, 360),
			ack("t1", "u2", 1200, 1210),
			ack("t2", "v1", 1250, 1260),
			ack("t1", "u3", 1350, 1360),
			ack("t2", "v2", 1450, 1460),
		},
		End:      at(60000),
		Complete: true,
	}
}

func TestStreamInOrderAtLeastOncePasses(t *testing.T) {
	r := Stream(streamRun(), DefaultStreamConfig())
	wantOK(t, r)
	if r.Checked != 2 {
		t.Errorf("checked %d tasks, want 2", r.Checked)
	}

	// An acknowledgement lost in flight when the stream dropped: the
	// cluster may have applied it, and then owes no redelivery of u2.
	log := streamRun()
	log.Acks[1] = Ack{Task: "t1", UUID: "u2", Invoke: at(900), Outcome: OutcomeUnknown}
	log.Deliveries = append(log.Deliveries[:4], log.Deliveries[5:]...)
	wantOK(t, Stream(log, DefaultStreamConfig()))
}

func TestStreamCatchesGap(t *testing.T) {
	log := streamRun()
	// u2 (RUNNING) is lost: FINISHED arrives right after STARTING.
	log.Deliveries = []Delivery{
		deliver(1, "t1", "u1", api.TaskStarting, 100),
		deliver(1, "t1", "u3", api.TaskFinished, 400),
	}
	log.Acks = []Ack{ack("t1", "u1", 150, 160), ack("t1", "u3", 450, 460)}
	log.Committed = map[string][]Update{"t1": log.Committed["t1"]}
	r := Stream(log, DefaultStreamConfig())
	wantViolation(t, r, `task "t1": gap: #3 TASK_FINISHED (uuid u3) on stream #1 at 12:00:00.400`, "#2 TASK_RUNNING (uuid u2) never did")
	wantViolation(t, r, `task "t1": never delivered by the end`, "#2 TASK_RUNNING (uuid u2)")
}

func TestStreamCatchesOutOfOrder(t *testing.T) {
	log := streamRun()
	// After the re-subscribe the new leader sends the old STARTING again,
	// after RUNNING was delivered and STARTING acknowledged.
	log.Deliveries = append(log.Deliveries, deliver(2, "t1", "u1", api.TaskStarting, 1500))
	wantViolation(t, Stream(log, DefaultStreamConfig()), `task "t1": out of order: #1 TASK_STARTING (uuid u1) on stream #2 at 12:00:01.500 after #3`)

	// The next update before the previous one was acknowledged: the
	// cluster dropped u1 from its queue unacknowledged.
	log = streamRun()
	log.Acks[0] = ack("t1", "u1", 450, 460)
	wantViolation(t, Stream(log, DefaultStreamConfig()), `task "t1": #2 TASK_RUNNING (uuid u2) on stream #1 at 12:00:00.400 arrived before #1 (TASK_STARTING u1) was acknowledged`)

	// An update that was never committed, or delivered with another state.
	log = streamRun()
	log.Deliveries = append(log.Deliveries, deliver(2, "t2", "zz", api.TaskRunning, 1500), deliver(2, "t2", "v2", api.TaskFailed, 1600))
	r := Stream(log, DefaultStreamConfig())
	wantViolation(t, r, `task "t2": delivered an update that was never committed: TASK_RUNNING (uuid zz)`)
	wantViolation(t, r, `task "t2": update v2 was committed as TASK_KILLED but delivered as TASK_FAILED`)
}

func TestStreamCatchesMissingRedelivery(t *testing.T) {
	log := streamRun()
	// v1 was not acknowledged before the re-subscribe and is never sent
	// again (nor anything after it) though stream 2 stays open 59 s.
	log.Deliveries = []Delivery{
		deliver(1, "t1", "u1", api.TaskStarting, 100),
		deliver(1, "t1", "u2", api.TaskRunning, 400),
		deliver(1, "t2", "v1", api.TaskRunning, 500),
		deliver(2, "t1", "u2", api.TaskRunning, 1150),
		deliver(2, "t1", "u3", api.TaskFinished, 1300),
	}
	log.Acks = []Ack{ack("t1", "u1", 350, 360), ack("t1", "u2", 1200, 1210), ack("t1", "u3", 1350, 1360)}
	log.Complete = false
	r := Stream(log, DefaultStreamConfig())
	wantViolation(t, r, `task "t2": TASK_RUNNING (uuid v1) on stream #1 at 12:00:00.500 was not acknowledged before re-subscribe #2 at 12:00:01.100, and never arrived again`)
	if len(r.Violations) != 1 {
		t.Errorf("want only the missing redelivery, got:\n%s", r)
	}

	// A failed acknowledgement does not count either.
	log.Acks = append(log.Acks, Ack{Task: "t2", UUID: "v1", Invoke: at(600), Complete: at(610), Outcome: OutcomeFailed})
	wantViolation(t, Stream(log, DefaultStreamConfig()), `task "t2": TASK_RUNNING (uuid v1)`, "never arrived again")

	// Nor one sent long after the re-subscribe: the cluster owed the
	// redelivery within the retry interval.
	log.Acks[len(log.Acks)-1] = ack("t2", "v1", 30000, 30010)
	wantViolation(t, Stream(log, DefaultStreamConfig()), `task "t2": TASK_RUNNING (uuid v1)`, "never arrived again")
	// One sent soon after it, from the framework's memory, may have
	// taken effect before the redelivery was due.
	log.Acks[len(log.Acks)-1] = ack("t2", "v1", 1200, 1210)
	wantOK(t, Stream(log, DefaultStreamConfig()))
	log.Acks = log.Acks[:len(log.Acks)-1]

	// But a re-subscribe whose streams all dropped within the retry
	// interval owes nothing yet.
	log.Subscriptions = []Subscription{{ID: 1, Start: at(0), End: at(1000)}, {ID: 2, Start: at(1100), End: at(2000)}}
	wantOK(t, Stream(log, DefaultStreamConfig()))
}

func TestObservationsFromStreamFeedLifecycle(t *testing.T) {
	log := streamRun()
	obs := ObservationsFromStream(log)
	// An update arrives after its ack-gated predecessor, so it may arrive
	// long after a listing showed a later state: not a move backwards.
	early := Observation{Task: "t1", State: api.TaskFinished, Invoke: at(0), At: at(1)}
	wantOK(t, Lifecycle(append(append([]Observation(nil), obs...), early), nil))
	// A listing invoked after a terminal update arrived is ordered after it.
	var finished Delivery
	for _, d := range log.Deliveries {
		if api.TaskStateTerminal(d.State) {
			finished = d
		}
	}
	if finished.Task == "" {
		t.Fatal("streamRun delivers no terminal update")
	}
	late := polled(finished.Task, api.TaskRunning, 5000, 5010)
	wantViolation(t, Lifecycle(append(obs, late), nil), fmt.Sprintf(`task %q: resurrected: TASK_RUNNING seen`, finished.Task))
}
