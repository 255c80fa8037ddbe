package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clusterd/clusterd/node/chaos/check"
	"github.com/clusterd/clusterd/node/nodetest"
	"github.com/clusterd/clusterd/node/nodetest/mesosfw"
)

// framework is the workload's Mesos scheduler: it subscribes through a
// random node, launches short tasks (ids it chooses) on the offers it
// gets, acknowledges updates after random delays, drops some
// acknowledgements, and drops its stream and re-subscribes at random. In
// the quiet period (steady) it stops misbehaving and launching, so every
// committed update must reach it. As a Mesos framework must, it reconciles
// the tasks it has not seen end every time it subscribes, and it takes the
// leader's own answers (no uuid: invalid offers, invalid tasks,
// reconciliation) as what it was told of a task.
type framework struct {
	c      *nodetest.Cluster
	rng    *rand.Rand
	client int
	rec    *recorder
	steady atomic.Bool

	mu       sync.Mutex
	id       string // framework id, once subscribed
	subs     []check.Subscription
	delivers []check.Delivery
	acks     []check.Ack
	told     []check.Observation // the leader's updates without a uuid
	launched int
	active   map[string]string // launched and not seen terminal → agent
}

const frameworkName = "chaos-fw"

func newFramework(c *nodetest.Cluster, client int, seed int64, rec *recorder) *framework {
	return &framework{c: c, rng: rand.New(rand.NewSource(seed)), client: client, rec: rec, active: map[string]string{}}
}

// run subscribes again and again until ctx ends.
func (f *framework) run(ctx context.Context) {
	for stream := 1; ctx.Err() == nil; stream++ {
		f.session(ctx, stream)
		sleepCtx(ctx, time.Duration(200+f.rng.Intn(800))*time.Millisecond)
	}
}

// pendingAck is an acknowledgement due at a time.
type pendingAck struct {
	due time.Time
	st  mesosfw.Status
}

// session is one subscription: it ends when the stream does, when the
// framework decides to drop it, or with ctx.
func (f *framework) session(ctx context.Context, stream int) {
	fi := mesosfw.FrameworkInfo("root", frameworkName)
	fi["failover_timeout"] = 600.0
	call := mesosfw.SubscribeCall(fi)
	f.mu.Lock()
	if f.id != "" {
		fi["id"] = mesosfw.ID(f.id)
		call["framework_id"] = mesosfw.ID(f.id)
	}
	f.mu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	s, err := mesosfw.Subscribe(sctx, f.c.Node(f.rng.Intn(len(f.c.Nodes()))).Addr, call, mesosfw.WithBearer(f.c.Token()))
	cancel()
	if err != nil {
		return
	}
	start := time.Now()
	f.mu.Lock()
	f.id = s.FrameworkID()
	f.mu.Unlock()
	defer func() {
		s.Close()
		f.mu.Lock()
		f.subs = append(f.subs, check.Subscription{ID: stream, Start: start, End: time.Now()})
		f.mu.Unlock()
	}()
	f.reconcile(ctx, s)
	dropAt := time.Now().Add(time.Duration(8+f.rng.Intn(20)) * time.Second)
	var acks []pendingAck
	for ctx.Err() == nil {
		if !f.steady.Load() && time.Now().After(dropAt) {
			// Drop the stream: unacknowledged updates must come again. What
			// the leader already wrote is read first (a framework that hangs
			// up on an update it was sent learns of it by reconciling,
			// which this one does too, but the window is the test's, not
			// the cluster's).
			f.drain(s, start, stream)
			return
		}
		sort.Slice(acks, func(i, j int) bool { return acks[i].due.Before(acks[j].due) })
		for len(acks) > 0 && !acks[0].due.After(time.Now()) {
			f.acknowledge(ctx, s, acks[0].st)
			acks = acks[1:]
		}
		ev, err := s.Next(200 * time.Millisecond)
		if errors.Is(err, mesosfw.ErrTimeout) {
			continue
		}
		if err != nil {
			return // the stream ended (leader gone, partition)
		}
		switch mesosfw.Type(ev) {
		case "OFFERS":
			f.offers(ctx, s, ev)
		case "UPDATE":
			st, err := mesosfw.UpdateStatus(ev)
			if err != nil {
				continue
			}
			if st.UUID == "" {
				f.toldOf(st, start, stream)
				continue
			}
			f.mu.Lock()
			f.delivers = append(f.delivers, check.Delivery{Stream: stream, At: time.Now(), Task: st.TaskID, UUID: st.UUID, State: st.State})
			if mesosfw.IsTerminal(st.State) {
				delete(f.active, st.TaskID)
			}
			f.mu.Unlock()
			if !f.steady.Load() && f.rng.Intn(10) == 0 {
				continue // dropped: redelivered after the next re-subscribe
			}
			delay := time.Duration(f.rng.Intn(1500)) * time.Millisecond
			if f.steady.Load() {
				delay = 0
			}
			acks = append(acks, pendingAck{due: time.Now().Add(delay), st: st})
		case "ERROR":
			return
		}
	}
}

func (f *framework) acknowledge(ctx context.Context, s *mesosfw.Scheduler, st mesosfw.Status) {
	a := check.Ack{Task: st.TaskID, UUID: st.UUID, Invoke: time.Now()}
	cctx, cancel := context.WithTimeout(ctx, clientTimeout)
	resp, err := s.Call(cctx, mesosfw.AcknowledgeStatus(st))
	cancel()
	a.Complete = time.Now()
	switch {
	case err != nil:
		a.Outcome = check.OutcomeUnknown
	case resp.Expect(http.StatusAccepted) == nil:
		a.Outcome = check.OutcomeOK
	case resp.Status >= 500 && resp.Status != http.StatusServiceUnavailable:
		a.Outcome = check.OutcomeUnknown
	default:
		a.Outcome = check.OutcomeFailed
	}
	f.mu.Lock()
	f.acks = append(f.acks, a)
	f.mu.Unlock()
}

// offers launches one task on the first offer while fewer than 4 run, and
// declines the rest.
func (f *framework) offers(ctx context.Context, s *mesosfw.Scheduler, ev map[string]any) {
	offers, err := mesosfw.Offers(ev)
	if err != nil || len(offers) == 0 {
		return
	}
	var decline []string
	f.mu.Lock()
	launch := !f.steady.Load() && len(f.active) < 4
	f.mu.Unlock()
	for i, o := range offers {
		id := mesosfw.Str(o, "id", "value")
		if i > 0 || !launch || mesosfw.OfferScalar(o, "cpus") < 0.1 || mesosfw.OfferScalar(o, "mem") < 16 {
			decline = append(decline, id)
			continue
		}
		f.mu.Lock()
		f.launched++
		task := fmt.Sprintf("chaos-fw-%d", f.launched)
		f.active[task] = mesosfw.Str(o, "agent_id", "value")
		f.mu.Unlock()
		info := mesosfw.TaskInfo(task, task, mesosfw.Str(o, "agent_id", "value"), fmt.Sprintf("sleep %d", 2+f.rng.Intn(6)),
			mesosfw.Scalar("cpus", 0.1), mesosfw.Scalar("mem", 16))
		op := check.Operation{Client: f.client, Kind: check.KindLaunch, Key: task, Invoke: time.Now()}
		cctx, cancel := context.WithTimeout(ctx, clientTimeout)
		resp, err := s.Call(cctx, mesosfw.Accept([]string{id}, mesosfw.Launch(info)))
		cancel()
		op.Complete = time.Now()
		switch {
		case err != nil:
			op.Outcome, op.Error = check.OutcomeUnknown, err.Error()
		case resp.Expect(http.StatusAccepted) == nil:
			op.Outcome = check.OutcomeOK
		case resp.Status >= 500 && resp.Status != http.StatusServiceUnavailable:
			op.Outcome, op.Error = check.OutcomeUnknown, fmt.Sprint(resp.Status)
		default:
			op.Outcome, op.Error = check.OutcomeFailed, fmt.Sprint(resp.Status)
		}
		if op.Outcome == check.OutcomeFailed {
			f.mu.Lock()
			delete(f.active, task)
			f.mu.Unlock()
		}
		f.rec.add(op)
	}
	if len(decline) > 0 {
		cctx, cancel := context.WithTimeout(ctx, clientTimeout)
		_, _ = s.Call(cctx, mesosfw.WithRefuseSeconds(mesosfw.Decline(decline), 1))
		cancel()
	}
}

// reconcile asks for the state of every task launched and not seen end;
// the answers come as updates without a uuid.
func (f *framework) reconcile(ctx context.Context, s *mesosfw.Scheduler) {
	f.mu.Lock()
	tasks := make([][2]string, 0, len(f.active))
	for id, agent := range f.active {
		tasks = append(tasks, [2]string{id, agent})
	}
	f.mu.Unlock()
	if len(tasks) == 0 {
		return
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i][0] < tasks[j][0] })
	cctx, cancel := context.WithTimeout(ctx, clientTimeout)
	_, _ = s.Call(cctx, mesosfw.Reconcile(tasks...))
	cancel()
}

// drain reads, for a moment, the leader's updates already on the stream.
func (f *framework) drain(s *mesosfw.Scheduler, start time.Time, stream int) {
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		ev, err := s.Next(100 * time.Millisecond)
		if err != nil {
			return
		}
		if mesosfw.Type(ev) != "UPDATE" {
			continue
		}
		if st, err := mesosfw.UpdateStatus(ev); err == nil && st.UUID == "" {
			f.toldOf(st, start, stream)
		}
	}
}

// toldOf records an update the leader answered with (no uuid). A
// reconciliation answer for a task the cluster does not have is recorded
// as TASK_UNKNOWN, whatever state it names for this framework (TASK_LOST,
// as it is not partition-aware): for a launch the cluster acknowledged,
// that is a lost task.
func (f *framework) toldOf(st mesosfw.Status, start time.Time, stream int) {
	state := st.State
	if st.Reason == "REASON_RECONCILIATION" && strings.HasPrefix(st.Message, "Reconciliation: Task is") {
		state = "TASK_UNKNOWN"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ours := f.active[st.TaskID]; !ours && state == "TASK_UNKNOWN" {
		return
	}
	f.told = append(f.told, check.Observation{Task: st.TaskID, State: state, Invoke: start, At: time.Now(),
		Source: fmt.Sprintf("framework stream #%d, from the leader (%s: %s)", stream, st.Reason, st.Message)})
	if mesosfw.IsTerminal(st.State) || state == "TASK_UNKNOWN" {
		delete(f.active, st.TaskID)
	}
}

// toldObservations is what the leader told the framework of its tasks
// outside the acknowledged updates.
func (f *framework) toldObservations() []check.Observation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]check.Observation(nil), f.told...)
}

// log is what the framework recorded, with the committed updates the
// harness read.
func (f *framework) log(committed map[string][]check.Update, end time.Time, complete bool) check.StreamLog {
	f.mu.Lock()
	defer f.mu.Unlock()
	return check.StreamLog{Framework: f.id, Subscriptions: append([]check.Subscription(nil), f.subs...),
		Deliveries: append([]check.Delivery(nil), f.delivers...), Acks: append([]check.Ack(nil), f.acks...),
		Committed: committed, End: end, Complete: complete}
}

// frameworkID is the id the cluster gave the framework ("" before it
// subscribed once).
func (f *framework) frameworkID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.id
}
