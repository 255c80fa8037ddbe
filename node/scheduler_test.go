package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/nodetest/mesosfw"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web"
	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/mesos"
	"github.com/hashicorp/raft"
)

// These tests drive a real one-node cluster (raft, bolt, HTTP, the process
// isolator running real commands) with mesosfw, a client written from the
// Mesos documentation, not from clusterd's wire types.

// startMesosNode is startNode with intervals short enough for a test:
// offers every 50ms, a heartbeat every 300ms, unacknowledged updates sent
// again after 300ms.
func startMesosNode(t *testing.T) (*Node, string) {
	t.Helper()
	return startMesosNodeWith(t, nil)
}

func startMesosNodeWith(t *testing.T, change func(*Config)) (*Node, string) {
	t.Helper()
	n := startNodeWith(t, func(c *Config) {
		c.AllocationInterval = 50 * time.Millisecond
		c.HeartbeatInterval = 300 * time.Millisecond
		c.StatusRetryInterval = 300 * time.Millisecond
		if change != nil {
			change(c)
		}
	})
	return n, "http://" + n.httpAddr
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// subscribe subscribes a framework; one whose info carries an id
// re-subscribes (the call names it twice, as Mesos requires).
func subscribe(t *testing.T, base string, fi map[string]any) *mesosfw.Scheduler {
	t.Helper()
	s, err := mesosfw.Subscribe(testCtx(t), base, subscribeCall(fi))
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func subscribeCall(fi map[string]any) map[string]any {
	c := mesosfw.SubscribeCall(fi)
	if id, ok := fi["id"]; ok {
		c["framework_id"] = id
	}
	return c
}

func call(t *testing.T, s *mesosfw.Scheduler, c map[string]any, opts ...mesosfw.CallOption) *mesosfw.Response {
	t.Helper()
	resp, err := s.Call(testCtx(t), c, opts...)
	if err != nil {
		t.Fatalf("%s: %v", c["type"], err)
	}
	return resp
}

func accepted(t *testing.T, s *mesosfw.Scheduler, c map[string]any) {
	t.Helper()
	if err := call(t, s, c).Expect(http.StatusAccepted); err != nil {
		t.Fatalf("%s: %v", c["type"], err)
	}
}

// nextOffer waits for an OFFERS event and returns its first offer.
func nextOffer(t *testing.T, s *mesosfw.Scheduler) map[string]any {
	t.Helper()
	ev, err := s.NextOfType("OFFERS", 20*time.Second)
	if err != nil {
		t.Fatalf("waiting for offers: %v (events so far: %v)", err, s.EventTypes())
	}
	offers, err := mesosfw.Offers(ev)
	if err != nil {
		t.Fatal(err)
	}
	return offers[0]
}

// untilState reads UPDATEs of task until it reaches state, acknowledging
// every update that carries a uuid, and returns that status.
func untilState(t *testing.T, s *mesosfw.Scheduler, task, state string) mesosfw.Status {
	t.Helper()
	for {
		ev, err := s.NextMatching(mesosfw.IsUpdate(task), 20*time.Second)
		if err != nil {
			t.Fatalf("waiting for %s to reach %s: %v", task, state, err)
		}
		st, err := mesosfw.UpdateStatus(ev)
		if err != nil {
			t.Fatal(err)
		}
		if st.UUID != "" {
			accepted(t, s, mesosfw.AcknowledgeStatus(st))
		}
		if st.State == state {
			return st
		}
		if mesosfw.IsTerminal(st.State) {
			t.Fatalf("task %s ended %s (%s: %s) before %s", task, st.State, st.Reason, st.Message, state)
		}
	}
}

func sleepTask(name, id, agent string, res ...map[string]any) map[string]any {
	if len(res) == 0 {
		res = []map[string]any{mesosfw.Scalar("cpus", 0.1), mesosfw.Scalar("mem", 32)}
	}
	return mesosfw.TaskInfo(name, id, agent, "sleep 60", res...)
}

// noEventOfType checks that no event of a type arrives for a while.
func noEventOfType(t *testing.T, s *mesosfw.Scheduler, typ string, d time.Duration) {
	t.Helper()
	if ev, err := s.NextOfType(typ, d); err == nil {
		t.Fatalf("unexpected %s event: %v", typ, ev)
	} else if !errors.Is(err, mesosfw.ErrTimeout) {
		t.Fatalf("waiting for no %s: %v", typ, err)
	}
}

func TestMesosFrameworkLifeFromSubscribeToTeardown(t *testing.T) {
	n, base := startMesosNode(t)
	s := subscribe(t, base, mesosfw.FrameworkInfo("root", "life"))
	if s.HeartbeatInterval() != 300*time.Millisecond {
		t.Errorf("heartbeat_interval_seconds %v, want 0.3s", s.HeartbeatInterval())
	}
	offer := nextOffer(t, s)
	agent := mesosfw.Str(offer, "agent_id", "value")
	if agent != n.id || mesosfw.OfferScalar(offer, "cpus") <= 0 || mesosfw.OfferScalar(offer, "mem") <= 0 {
		t.Fatalf("offer %v: want the node's cpus and mem", offer)
	}
	ports := mesosfw.OfferRanges(offer, "ports")
	if len(ports) == 0 {
		t.Fatalf("offer without ports: %v", offer)
	}
	port := ports[0][0]
	accepted(t, s, mesosfw.Accept([]string{mesosfw.Str(offer, "id", "value")}, mesosfw.Launch(
		sleepTask("one", "t1", agent),
		sleepTask("two", "t2", agent),
		sleepTask("three", "t3", agent, mesosfw.Scalar("cpus", 0.1), mesosfw.Scalar("mem", 32), mesosfw.Ports([2]uint64{port, port})),
	)))
	for _, id := range []string{"t1", "t2", "t3"} {
		st := untilState(t, s, id, "TASK_RUNNING")
		if st.AgentID != agent || st.Source == "" || st.Timestamp == 0 {
			t.Errorf("RUNNING update of %s: %+v", id, st)
		}
	}
	waitFor(t, "every update acknowledged in the replicated state", 5*time.Second, func() bool {
		return len(n.fsm.View().UnackedTasksOfFramework(s.FrameworkID())) == 0
	})
	if task := n.fsm.View().Task("t3"); len(task.Resources.Ports) != 1 || task.Resources.Ports[0].Begin != uint16(port) || task.Name != "three" {
		t.Fatalf("committed task t3: %+v", task)
	}

	// Implicit reconciliation: every active task, latest state, no uuid.
	accepted(t, s, mesosfw.Reconcile())
	seen := map[string]string{}
	for len(seen) < 3 {
		ev, err := s.NextOfType("UPDATE", 10*time.Second)
		if err != nil {
			t.Fatalf("implicit reconciliation: %v (got %v)", err, seen)
		}
		st, _ := mesosfw.UpdateStatus(ev)
		if st.Reason != "REASON_RECONCILIATION" || st.UUID != "" {
			t.Fatalf("reconciliation update %+v: want REASON_RECONCILIATION and no uuid", st)
		}
		seen[st.TaskID] = st.State
	}
	if seen["t1"] != "TASK_RUNNING" || seen["t2"] != "TASK_RUNNING" || seen["t3"] != "TASK_RUNNING" {
		t.Fatalf("implicit reconciliation answered %v", seen)
	}
	// Explicit: a known task and one nobody launched.
	accepted(t, s, mesosfw.Reconcile([2]string{"t2", agent}, [2]string{"ghost", ""}))
	for _, want := range [][2]string{{"t2", "TASK_RUNNING"}, {"ghost", "TASK_LOST"}} {
		ev, err := s.NextMatching(mesosfw.IsUpdate(want[0]), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := mesosfw.UpdateStatus(ev); st.State != want[1] || st.Reason != "REASON_RECONCILIATION" {
			t.Fatalf("explicit reconciliation of %s: %+v, want %s", want[0], st, want[1])
		}
	}

	// Kill: the task ends TASK_KILLED, which must be acknowledged too.
	accepted(t, s, mesosfw.Kill("t1", agent))
	if st := untilState(t, s, "t1", "TASK_KILLED"); st.UUID == "" {
		t.Fatal("TASK_KILLED came without a uuid to acknowledge")
	}

	// Decline everything held with a long filter: nothing more is offered...
	nextOffer(t, s)
	declineAll(t, n, s, 3600)
	noEventOfType(t, s, "OFFERS", 600*time.Millisecond)
	// ... until REVIVE clears the filters.
	accepted(t, s, mesosfw.Revive())
	nextOffer(t, s)

	// Suppress: no offers at all, even of free resources, until revived.
	accepted(t, s, mesosfw.Suppress())
	declineAll(t, n, s, 0)
	noEventOfType(t, s, "OFFERS", 600*time.Millisecond)
	accepted(t, s, mesosfw.Revive())
	nextOffer(t, s)

	// Heartbeats keep coming.
	if err := s.WaitHeartbeats(2, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	// Teardown kills what is left and ends the stream.
	accepted(t, s, mesosfw.Teardown())
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end after TEARDOWN")
	}
	waitFor(t, "the torn-down framework's tasks to end", 20*time.Second, func() bool {
		for _, task := range n.fsm.View().TasksOfFramework(s.FrameworkID()) {
			if task.Active() {
				return false
			}
		}
		return true
	})
	if fw := n.fsm.View().Framework(s.FrameworkID()); fw == nil || !fw.Removed() {
		t.Fatalf("framework after teardown: %+v", fw)
	}
	resp, err := mesosfw.SchedulerCall(testCtx(t), base, map[string]any{"type": "REVIVE", "framework_id": mesosfw.ID(s.FrameworkID())}, mesosfw.WithStreamID(s.StreamID()))
	if err != nil || resp.Status != http.StatusBadRequest || !strings.Contains(string(resp.Body), "Framework cannot be found") {
		t.Fatalf("a call of a torn-down framework: %v %v", resp, err)
	}
}

// declineAll reads the offers already sent until none come for a while,
// then declines every offer the framework holds, with a refuse filter of
// refuse seconds (0: none).
func declineAll(t *testing.T, n *Node, s *mesosfw.Scheduler, refuse float64) {
	t.Helper()
	for {
		if _, err := s.NextOfType("OFFERS", 300*time.Millisecond); err != nil {
			break
		}
	}
	ids := outstandingOffers(n, s.FrameworkID())
	if len(ids) == 0 {
		t.Fatal("the framework holds no offers to decline")
	}
	accepted(t, s, mesosfw.WithRefuseSeconds(mesosfw.Decline(ids), refuse))
}

// connected reports whether the leader holds a stream of the framework.
func connected(n *Node, fw string) bool {
	n.leaderMu.Lock()
	st := n.leader
	n.leaderMu.Unlock()
	if st == nil {
		return false
	}
	st.loop.mu.Lock()
	defer st.loop.mu.Unlock()
	return st.loop.sched.connected(fw)
}

// counterValue reads a counter of the node's /metrics registry.
func counterValue(t *testing.T, n *Node, name string) float64 {
	t.Helper()
	families, err := n.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) > 0 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// outstandingOffers lists the offers the leader holds for a framework.
func outstandingOffers(n *Node, fw string) []string {
	n.leaderMu.Lock()
	st := n.leader
	n.leaderMu.Unlock()
	if st == nil {
		return nil
	}
	l := st.loop
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for _, o := range l.alloc.Offers() {
		if f, _ := splitClient(o.Framework); f == fw {
			ids = append(ids, string(o.ID))
		}
	}
	return ids
}

func TestUnacknowledgedUpdatesAreSentAgainUntilAcknowledged(t *testing.T) {
	n, base := startMesosNode(t)
	fi := mesosfw.FrameworkInfo("root", "forgetful")
	fi["failover_timeout"] = 60.0
	s := subscribe(t, base, fi)
	offer := nextOffer(t, s)
	agent := mesosfw.Str(offer, "agent_id", "value")
	accepted(t, s, mesosfw.Accept([]string{mesosfw.Str(offer, "id", "value")}, mesosfw.Launch(sleepTask("a", "a", agent))))
	first, err := s.NextMatching(mesosfw.IsUpdate("a"), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := mesosfw.UpdateStatus(first)
	if st.UUID == "" {
		t.Fatalf("first update %+v has no uuid", st)
	}
	// Not acknowledged: the same update comes again, and nothing after it.
	again, err := s.NextMatching(mesosfw.IsUpdate("a"), 5*time.Second)
	if err != nil {
		t.Fatalf("the unacknowledged update was not sent again: %v", err)
	}
	if st2, _ := mesosfw.UpdateStatus(again); st2.UUID != st.UUID || st2.State != st.State {
		t.Fatalf("resent update %+v differs from the first %+v: updates must wait in order", st2, st)
	}
	if got := counterValue(t, n, "clusterd_mesos_status_update_resends_total"); got < 1 {
		t.Errorf("clusterd_mesos_status_update_resends_total = %v after a resend", got)
	}
	// A framework that fails over gets it on its new stream.
	fi["id"] = mesosfw.ID(s.FrameworkID())
	s.Close()
	s2 := subscribe(t, base, fi)
	ev, err := s2.NextMatching(mesosfw.IsUpdate("a"), 5*time.Second)
	if err != nil {
		t.Fatalf("after re-subscribing: %v", err)
	}
	if st3, _ := mesosfw.UpdateStatus(ev); st3.UUID != st.UUID {
		t.Fatalf("after re-subscribing got %+v, want the unacknowledged %s again", st3, st.State)
	}
	untilState(t, s2, "a", "TASK_RUNNING")
	// Acknowledged: no more resends.
	noEventOfType(t, s2, "UPDATE", time.Second)
}

func TestSchedulerRefusesBadCallsAndChangesNothing(t *testing.T) {
	n, base := startMesosNode(t)
	ctx := testCtx(t)
	raw := func(body, contentType, accept string, opts ...mesosfw.CallOption) *mesosfw.Response {
		t.Helper()
		opts = append(opts, mesosfw.WithRawBody([]byte(body)), mesosfw.WithContentType(contentType))
		if accept != "" {
			opts = append(opts, mesosfw.WithAccept(accept))
		}
		resp, err := mesosfw.SchedulerCall(ctx, base, map[string]any{}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, tc := range []struct {
		what, body, ct, accept string
		status                 int
		says                   string
	}{
		{"malformed JSON", `{"type": "SUBSCRIBE",`, "application/json", "", 400, "Failed to parse body into JSON"},
		{"no type", `{}`, "application/json", "", 400, "Expecting 'type' to be present"},
		{"SUBSCRIBE without subscribe", `{"type": "SUBSCRIBE"}`, "application/json", "", 400, "Expecting 'subscribe' to be present"},
		{"text body", `{"type": "TEARDOWN"}`, "text/plain", "", 415, "application/json"},
		{"protobuf body", `x`, "application/x-protobuf", "", 415, "JSON"},
		{"protobuf answer", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`, "application/json", "application/x-protobuf", 406, "Accept"},
		{"unknown framework", `{"type":"REVIVE","framework_id":{"value":"nobody"}}`, "application/json", "", 400, "Framework cannot be found"},
	} {
		resp := raw(tc.body, tc.ct, tc.accept)
		if resp.Status != tc.status || !strings.Contains(string(resp.Body), tc.says) {
			t.Errorf("%s: %d %q, want %d saying %q", tc.what, resp.Status, resp.Body, tc.status, tc.says)
		}
	}
	if _, err := mesosfw.Subscribe(ctx, base, mesosfw.SubscribeCall(mesosfw.FrameworkInfo("u", "n")), mesosfw.WithStreamID("x")); err == nil {
		t.Error("a SUBSCRIBE with a Mesos-Stream-Id was accepted")
	}

	fi := mesosfw.FrameworkInfo("root", "careless")
	fi["failover_timeout"] = 600.0 // stays registered once disconnected
	s := subscribe(t, base, fi)
	for _, tc := range []struct {
		what   string
		opts   []mesosfw.CallOption
		status int
		says   string
	}{
		{"no stream id", []mesosfw.CallOption{mesosfw.WithoutStreamID()}, 400, "Mesos-Stream-Id"},
		{"another stream id", []mesosfw.CallOption{mesosfw.WithStreamID("not-mine")}, 400, "didn't match"},
	} {
		if resp := call(t, s, mesosfw.Revive(), tc.opts...); resp.Status != tc.status || !strings.Contains(string(resp.Body), tc.says) {
			t.Errorf("%s: %d %q, want %d saying %q", tc.what, resp.Status, resp.Body, tc.status, tc.says)
		}
	}
	offer := nextOffer(t, s)
	offerID, agent := mesosfw.Str(offer, "id", "value"), mesosfw.Str(offer, "agent_id", "value")
	cpus := mesosfw.OfferScalar(offer, "cpus")

	// An offer nobody made: every task is lost with REASON_INVALID_OFFERS.
	accepted(t, s, mesosfw.Accept([]string{"O-no-such-offer"}, mesosfw.Launch(sleepTask("x", "bogus-offer", agent))))
	expectUpdate(t, s, "bogus-offer", "TASK_LOST", "REASON_INVALID_OFFERS")

	// More than the offer holds, or a custom executor: those tasks err,
	// the valid one launches.
	withExecutor := mesosfw.TaskInfo("exec", "custom-executor", agent, "true", mesosfw.Scalar("cpus", 0.1))
	withExecutor["executor"] = map[string]any{"executor_id": mesosfw.ID("mine"), "command": map[string]any{"value": "./my-executor"}}
	accepted(t, s, mesosfw.Accept([]string{offerID}, mesosfw.Launch(
		sleepTask("big", "too-big", agent, mesosfw.Scalar("cpus", cpus+1), mesosfw.Scalar("mem", 32)),
		sleepTask("ok", "fits", agent),
		withExecutor,
	)))
	expectUpdate(t, s, "too-big", "TASK_ERROR", "REASON_TASK_INVALID")
	expectUpdate(t, s, "custom-executor", "TASK_ERROR", "REASON_TASK_INVALID")
	untilState(t, s, "fits", "TASK_RUNNING")

	// The same offer again: it is gone.
	accepted(t, s, mesosfw.Accept([]string{offerID}, mesosfw.Launch(sleepTask("again", "reused-offer", agent))))
	expectUpdate(t, s, "reused-offer", "TASK_LOST", "REASON_INVALID_OFFERS")

	v := n.fsm.View()
	for _, id := range []string{"bogus-offer", "too-big", "custom-executor", "reused-offer"} {
		if v.Task(id) != nil {
			t.Errorf("refused task %s exists in the replicated state", id)
		}
	}
	if v.Task("fits") == nil {
		t.Error("the valid task of the mixed accept was not launched")
	}

	// A framework that is registered but not connected is not subscribed.
	s.Close()
	waitFor(t, "the framework's disconnection", 5*time.Second, func() bool { return !connected(n, s.FrameworkID()) })
	resp, err := mesosfw.SchedulerCall(ctx, base, map[string]any{"type": "REVIVE", "framework_id": mesosfw.ID(s.FrameworkID())}, mesosfw.WithStreamID(s.StreamID()))
	if err != nil || resp.Status != http.StatusForbidden || !strings.Contains(string(resp.Body), "not subscribed") {
		t.Fatalf("a call of a disconnected framework: %v %v", resp, err)
	}
}

func expectUpdate(t *testing.T, s *mesosfw.Scheduler, task, state, reason string) {
	t.Helper()
	ev, err := s.NextMatching(mesosfw.IsUpdate(task), 10*time.Second)
	if err != nil {
		t.Fatalf("waiting for %s of %s: %v", state, task, err)
	}
	st, _ := mesosfw.UpdateStatus(ev)
	if st.State != state || st.Reason != reason || st.UUID != "" || st.Source != "SOURCE_MASTER" || st.Message == "" {
		t.Fatalf("update of %s: %+v, want %s %s from the master with a message and no uuid", task, st, state, reason)
	}
}

func TestFailoverTimeoutKeepsTasksThenRemovesTheFramework(t *testing.T) {
	n, base := startMesosNode(t)
	fi := mesosfw.FrameworkInfo("root", "flaky")
	fi["failover_timeout"] = 1.5
	s := subscribe(t, base, fi)
	offer := nextOffer(t, s)
	agent := mesosfw.Str(offer, "agent_id", "value")
	accepted(t, s, mesosfw.Accept([]string{mesosfw.Str(offer, "id", "value")}, mesosfw.Launch(sleepTask("keep", "keep", agent))))
	untilState(t, s, "keep", "TASK_RUNNING")
	id := s.FrameworkID()

	// Back within the timeout: same framework, task untouched.
	s.Close()
	time.Sleep(500 * time.Millisecond)
	fi["id"] = mesosfw.ID(id)
	s2 := subscribe(t, base, fi)
	if s2.FrameworkID() != id {
		t.Fatalf("re-subscribed as %s, want %s", s2.FrameworkID(), id)
	}
	accepted(t, s2, mesosfw.Reconcile([2]string{"keep", agent}))
	if ev, err := s2.NextMatching(mesosfw.IsUpdate("keep"), 5*time.Second); err != nil {
		t.Fatal(err)
	} else if st, _ := mesosfw.UpdateStatus(ev); st.State != "TASK_RUNNING" {
		t.Fatalf("task after a failover within the timeout: %s", st.State)
	}

	// Gone longer than the timeout: removed, its task killed.
	s2.Close()
	waitFor(t, "the framework's removal after its failover timeout", 10*time.Second, func() bool {
		fw := n.fsm.View().Framework(id)
		return fw != nil && fw.Removed()
	})
	waitFor(t, "its task to be killed", 20*time.Second, func() bool { return n.fsm.View().Task("keep").State == raftfsm.TaskKilled })
	_, err := mesosfw.Subscribe(testCtx(t), base, subscribeCall(fi))
	var ee *mesosfw.EventError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("re-subscribing a removed framework: %v, want an ERROR event saying it was removed", err)
	}
}

func TestASecondSubscriptionReplacesTheFirst(t *testing.T) {
	_, base := startMesosNode(t)
	fi := mesosfw.FrameworkInfo("root", "twice")
	fi["failover_timeout"] = 60.0
	first := subscribe(t, base, fi)
	fi["id"] = mesosfw.ID(first.FrameworkID())
	second := subscribe(t, base, fi)
	ev, err := first.NextOfType("ERROR", 5*time.Second)
	if err != nil {
		t.Fatalf("the first stream got no ERROR: %v", err)
	}
	if msg, _ := mesosfw.ErrorMessage(ev); !strings.Contains(msg, "failed over") {
		t.Fatalf("ERROR %q, want 'Framework failed over'", msg)
	}
	select {
	case <-first.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the replaced stream did not end")
	}
	if resp := call(t, first, mesosfw.Revive()); resp.Status != http.StatusBadRequest {
		t.Fatalf("a call with the replaced stream id: %d, want 400", resp.Status)
	}
	accepted(t, second, mesosfw.Revive())
	nextOffer(t, second)
}

func TestBuiltInJobsAndAMesosFrameworkShareTheCluster(t *testing.T) {
	n, base := startMesosNode(t)
	s := subscribe(t, base, mesosfw.FrameworkInfo("root", "neighbour", "analytics"))
	offer := nextOffer(t, s)
	if role := mesosfw.Str(offer, "allocation_info", "role"); role != "analytics" {
		t.Fatalf("offer to a MULTI_ROLE framework has allocation role %q, want analytics", role)
	}
	agent := mesosfw.Str(offer, "agent_id", "value")
	res := mesosfw.AllocatedTo("analytics", mesosfw.Scalar("cpus", 0.1), mesosfw.Scalar("mem", 32))
	accepted(t, s, mesosfw.Accept([]string{mesosfw.Str(offer, "id", "value")}, mesosfw.Launch(sleepTask("m", "mesos-task", agent, res...))))
	untilState(t, s, "mesos-task", "TASK_RUNNING")

	spec := api.JobSpec{ID: "svc", Type: api.JobService, Cmd: "sleep 60", Instances: 1, CPUs: 0.1, Mem: 32}
	spec.ApplyDefaults()
	if _, err := (&backend{n: n}).SubmitJob(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the built-in service's task to run", 20*time.Second, func() bool {
		for _, task := range n.fsm.View().TasksOfJob("svc") {
			if task.State == raftfsm.TaskRunning {
				return task.Role == "jobs"
			}
		}
		return false
	})
	if task := n.fsm.View().Task("mesos-task"); task.Role != "analytics" || task.State != raftfsm.TaskRunning {
		t.Fatalf("mesos task %+v", task)
	}
	_, roles, err := mesosfw.OperatorCall(testCtx(t), base, map[string]any{"type": "GET_ROLES"})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]map[string]any{}
	for _, r := range mesosfw.Objs(roles, "get_roles", "roles") {
		byName[mesosfw.Str(r, "name")] = r
	}
	for role, fw := range map[string]string{"jobs": "clusterd-jobs", "analytics": s.FrameworkID()} {
		var ids []string
		for _, f := range mesosfw.Objs(byName[role], "frameworks") {
			ids = append(ids, mesosfw.Str(f, "value"))
		}
		if !slices.Contains(ids, fw) {
			t.Errorf("role %s lists frameworks %v, want %s among them", role, ids, fw)
		}
	}
}

func TestANewLeaderHoldsOffersBackUntilFrameworksReturnOrATimeout(t *testing.T) {
	n, base := startMesosNodeWith(t, func(c *Config) { c.RecoveryTimeout = time.Hour })
	fi := mesosfw.FrameworkInfo("root", "returning")
	fi["failover_timeout"] = 600.0
	s := subscribe(t, base, fi)
	nextOffer(t, s)

	// A leader taking over now: the framework was connected to the
	// previous one, and has not subscribed to this one yet.
	takeOver := func() *leaderLoop {
		l := newLeaderLoop(n, &leaderState{kick: make(chan struct{}, 1)}, newAllocatorForTest())
		l.mu.Lock()
		defer l.mu.Unlock()
		l.rebuild()
		l.recovering = true
		l.alloc.Pause()
		return l
	}
	// step runs one round of the leader loop and reports whether offers
	// are still held back.
	step := func(l *leaderLoop, at time.Time) bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.step(at)
		return l.alloc.Paused()
	}
	l := takeOver()
	if !step(l, time.Now()) {
		t.Fatal("a new leader offered resources before the connected framework came back")
	}
	// The framework subscribes to it: offers resume at once, and it gets one.
	l.mu.Lock()
	l.sched.conns[s.FrameworkID()] = &fwConn{m: n.metrics, id: s.FrameworkID(), events: make(chan *mesos.Event, eventBuffer), sent: map[string]*sentUpdate{}}
	l.addClient(s.FrameworkID(), "returning", "*")
	l.mu.Unlock()
	if step(l, time.Now()) {
		t.Fatal("offers did not resume once the framework was back")
	}
	if got := outstanding(l, s.FrameworkID()); got == 0 {
		t.Fatal("the returning framework got no offer after the recovery")
	}
	// It never comes back: offers resume after the recovery timeout.
	l = takeOver()
	if !step(l, time.Now().Add(time.Hour-time.Second)) {
		t.Fatal("offers resumed before the recovery timeout")
	}
	if step(l, time.Now().Add(time.Hour)) {
		t.Fatal("offers still held back after the recovery timeout")
	}
}

func outstanding(l *leaderLoop, fw string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.alloc.FrameworkOffers(clientID(fw, "*")))
}

func TestOffersHeldPastTheOfferTimeoutAreRescinded(t *testing.T) {
	_, base := startMesosNodeWith(t, func(c *Config) { c.OfferTimeout = 300 * time.Millisecond })
	s := subscribe(t, base, mesosfw.FrameworkInfo("root", "slow"))
	offer := nextOffer(t, s)
	ev, err := s.NextOfType("RESCIND", 5*time.Second)
	if err != nil {
		t.Fatalf("an offer held past the offer timeout was not rescinded: %v", err)
	}
	if id, _ := mesosfw.RescindedOfferID(ev); id != mesosfw.Str(offer, "id", "value") {
		t.Fatalf("rescinded %s, want %s", id, mesosfw.Str(offer, "id", "value"))
	}
	// Accepting it now is accepting an offer that no longer exists.
	agent := mesosfw.Str(offer, "agent_id", "value")
	accepted(t, s, mesosfw.Accept([]string{mesosfw.Str(offer, "id", "value")}, mesosfw.Launch(sleepTask("late", "late", agent))))
	expectUpdate(t, s, "late", "TASK_LOST", "REASON_INVALID_OFFERS")
}

func TestUpdateFrameworkChangesRolesAndRescindsTheOffersOfRolesLeft(t *testing.T) {
	n, base := startMesosNode(t)
	fi := mesosfw.FrameworkInfo("root", "mover", "first")
	s := subscribe(t, base, fi)
	offer := nextOffer(t, s)
	if mesosfw.Str(offer, "allocation_info", "role") != "first" {
		t.Fatalf("offer %v, want it allocated to role first", offer)
	}
	fi["id"] = mesosfw.ID(s.FrameworkID())
	fi["roles"] = []any{"second"}
	fi["failover_timeout"] = 30.0
	if resp := call(t, s, mesosfw.UpdateFramework(fi)); resp.Status != http.StatusOK {
		t.Fatalf("UPDATE_FRAMEWORK: %d %s", resp.Status, resp.Body)
	}
	if _, err := s.NextOfType("RESCIND", 5*time.Second); err != nil {
		t.Fatalf("the offer of the role left was not rescinded: %v", err)
	}
	offer = nextOffer(t, s)
	if mesosfw.Str(offer, "allocation_info", "role") != "second" {
		t.Fatalf("offer after UPDATE_FRAMEWORK %v, want role second", offer)
	}
	if fw := n.fsm.View().Framework(s.FrameworkID()); !slices.Equal(fw.Roles, []string{"second"}) || fw.FailoverTimeout != 30 {
		t.Fatalf("replicated framework after UPDATE_FRAMEWORK: %+v", fw)
	}
}

// BenchmarkMesosFrameworkRunsShortTasks measures a Mesos framework's
// throughput through the scheduler API: each op is one ACCEPT of up to 100
// `true` tasks (as many as the next offer holds) run to TASK_FINISHED with
// every update acknowledged (the framework's side of the work included).
func BenchmarkMesosFrameworkRunsShortTasks(b *testing.B) {
	n := startNodeWith(b, func(c *Config) {
		c.AllocationInterval = 50 * time.Millisecond
		c.StatusRetryInterval = time.Minute
	})
	ctx := context.Background()
	s, err := mesosfw.Subscribe(ctx, "http://"+n.httpAddr, mesosfw.SubscribeCall(mesosfw.FrameworkInfo("root", "bench")))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const perOp = 100
	ran := 0
	var offers []map[string]any // offers received and not used yet
	next := func() map[string]any {
		ev, err := s.Next(30 * time.Second)
		if err != nil {
			b.Fatal(err)
		}
		if mesosfw.Type(ev) == "OFFERS" {
			os, _ := mesosfw.Offers(ev)
			offers = append(offers, os...)
		}
		return ev
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for len(offers) == 0 {
			next()
		}
		offer := offers[0]
		offers = offers[1:]
		agent := mesosfw.Str(offer, "agent_id", "value")
		fit := min(perOp, int(mesosfw.OfferScalar(offer, "cpus")/0.01+1e-9), int(mesosfw.OfferScalar(offer, "mem")/8))
		var tasks []map[string]any
		for j := 0; j < fit; j++ {
			tasks = append(tasks, mesosfw.TaskInfo("t", fmt.Sprintf("b%d-%d", i, j), agent, "true", mesosfw.Scalar("cpus", 0.01), mesosfw.Scalar("mem", 8)))
		}
		if resp, err := s.Call(ctx, mesosfw.Accept([]string{mesosfw.Str(offer, "id", "value")}, mesosfw.Launch(tasks...))); err != nil || resp.Expect(http.StatusAccepted) != nil {
			b.Fatalf("ACCEPT: %v %v", resp, err)
		}
		ran += fit
		for done := 0; done < fit; {
			ev := next()
			if mesosfw.Type(ev) != "UPDATE" {
				continue
			}
			st, _ := mesosfw.UpdateStatus(ev)
			if st.UUID != "" {
				if resp, err := s.Call(ctx, mesosfw.AcknowledgeStatus(st)); err != nil || resp.Expect(http.StatusAccepted) != nil {
					b.Fatalf("ACKNOWLEDGE: %v %v", resp, err)
				}
			}
			if mesosfw.IsTerminal(st.State) {
				if st.State != "TASK_FINISHED" {
					b.Fatalf("task %s: %s %s", st.TaskID, st.State, st.Message)
				}
				done++
			}
		}
	}
	b.ReportMetric(float64(ran)/b.Elapsed().Seconds(), "tasks/s")
}

func TestAJobInItsOwnRoleIsPlacedWhileAnotherRoleWaits(t *testing.T) {
	n, _ := startMesosNode(t)
	b := &backend{n: n}
	submit := func(id, role string, cpus float64) {
		spec := api.JobSpec{ID: id, Type: api.JobService, Cmd: "sleep 60", Instances: 1, CPUs: cpus, Mem: 32, Role: role}
		spec.ApplyDefaults()
		if _, err := b.SubmitJob(context.Background(), spec); err != nil {
			t.Fatal(err)
		}
	}
	// A job of the default role that no node can take waits for ever; it
	// must not keep the offers to itself.
	submit("huge", "", 1000)
	submit("web", "web", 0.1)
	waitFor(t, "the web role's task to run", 10*time.Second, func() bool {
		for _, task := range n.fsm.View().TasksOfJob("web") {
			if task.State == raftfsm.TaskRunning && task.Role == "web" {
				return true
			}
		}
		return false
	})
}

func TestALeaderRaisesTheLogVersionAndOldLogsRefuseNewFeatures(t *testing.T) {
	n, _ := startMesosNode(t)
	waitFor(t, "the log version raised by the only server", 5*time.Second, func() bool {
		return n.fsm.View().LogVersion() == raftfsm.LogVersion
	})
	// A log still at version 1 (a server not upgraded yet): the features
	// that need version 2 are refused with what to do, not half-applied.
	cfg := DefaultConfig()
	cfg.Bind = "127.0.0.1"
	old, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = old.requireLogVersion(2, "Mesos frameworks")
	var me *web.MesosError
	if !errors.As(err, &me) || me.Status != http.StatusServiceUnavailable || !strings.Contains(me.Message, "upgrade") {
		t.Fatalf("a version 1 log: %v, want a 503 saying to upgrade", err)
	}
}

// A launch that could not be committed is not answered 202: the framework
// would wait for updates of tasks that do not exist. The fault suite found
// this with a leader paused past its term: it accepted, failed to commit,
// and said nothing. Unknown outcomes answer 500 (reconcile); a refusal
// before anything was appended answers as a follower does. The offer's
// resources are offered again either way.
func TestALaunchThatWasNotCommittedIsNotAccepted(t *testing.T) {
	n, base := startMesosNode(t)
	s := subscribe(t, base, mesosfw.FrameworkInfo("root", "uncommitted"))
	for _, tc := range []struct {
		err    error
		status int
	}{
		{fmt.Errorf("this server stopped leading while the change was being committed: it may or may not have been applied: %w", raft.ErrLeadershipLost), http.StatusInternalServerError},
		{&api.NotLeaderError{}, http.StatusServiceUnavailable},
	} {
		fail := func(cmd raftfsm.Command) error {
			if _, ok := cmd.(*raftfsm.LaunchTasks); ok {
				return tc.err
			}
			return nil
		}
		offer := nextOffer(t, s)
		agent := mesosfw.Str(offer, "agent_id", "value")
		n.failCommit.Store(&fail)
		resp := call(t, s, mesosfw.Accept([]string{mesosfw.Str(offer, "id", "value")},
			mesosfw.Launch(sleepTask("lost", "lost-1", agent, mesosfw.Scalar("cpus", 0.1), mesosfw.Scalar("mem", 16)))))
		n.failCommit.Store(nil)
		if resp.Status != tc.status {
			t.Fatalf("ACCEPT whose launch failed to commit (%v): %d %s, want %d", tc.err, resp.Status, resp.Body, tc.status)
		}
		if n.fsm.View().Task("lost-1") != nil {
			t.Fatal("the task of the failed launch is in the state")
		}
	}
	// The resources came back: a task fits in the next offer.
	offer := nextOffer(t, s)
	accepted(t, s, mesosfw.Accept([]string{mesosfw.Str(offer, "id", "value")},
		mesosfw.Launch(sleepTask("ok", "ok-1", mesosfw.Str(offer, "agent_id", "value"), mesosfw.Scalar("cpus", 0.1), mesosfw.Scalar("mem", 16)))))
	untilState(t, s, "ok-1", "TASK_RUNNING")
}

// An ACCEPT on offers that are no longer valid is answered 202 with
// TASK_LOST on the stream, as Mesos does; but when the stream can no longer
// take that update (it ended as the call came), a 202 would leave the
// framework waiting for a task that does not exist: it is told it is not
// subscribed instead (the fault suite found this around a deposed leader).
func TestAnInvalidAcceptIsNot202WhenItsStreamCannotSayWhy(t *testing.T) {
	n, base := startMesosNode(t)
	s := subscribe(t, base, mesosfw.FrameworkInfo("root", "stale"))
	agent := mesosfw.Str(nextOffer(t, s), "agent_id", "value")
	accepted(t, s, mesosfw.Accept([]string{"no-such-offer"},
		mesosfw.Launch(sleepTask("stale", "stale-1", agent, mesosfw.Scalar("cpus", 0.1), mesosfw.Scalar("mem", 16)))))
	if st := untilState(t, s, "stale-1", "TASK_LOST"); st.Reason != "REASON_INVALID_OFFERS" {
		t.Fatalf("invalid offers answered %s (%s), want REASON_INVALID_OFFERS", st.State, st.Reason)
	}

	// The window is a few microseconds wide in a running node (the stream's
	// end removes the framework): the call is made on the ended stream.
	var c mesos.Call
	raw, _ := json.Marshal(mesosfw.Accept([]string{"no-such-offer"},
		mesosfw.Launch(sleepTask("stale", "stale-2", agent, mesosfw.Scalar("cpus", 0.1), mesosfw.Scalar("mem", 16)))))
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	n.leaderMu.Lock()
	l := n.leader.loop
	n.leaderMu.Unlock()
	l.mu.Lock()
	ended := *l.sched.conns[s.FrameworkID()]
	ended.done = true
	err := l.accept(&ended, c.Accept, time.Now()) // unlocks
	var me *web.MesosError
	if !errors.As(err, &me) || me.Status != http.StatusForbidden || !strings.Contains(err.Error(), "not subscribed") {
		t.Fatalf("ACCEPT on a stream that ended: %v, want 403 not subscribed", err)
	}
}
