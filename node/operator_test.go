package node

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/nodetest/mesosfw"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// operator calls the operator API and fails the test unless it answers 2xx.
func operator(t *testing.T, base string, c map[string]any) map[string]any {
	t.Helper()
	_, body, err := mesosfw.OperatorCall(testCtx(t), base, c)
	if err != nil {
		t.Fatalf("%s: %v", c["type"], err)
	}
	return body
}

// operatorRefused calls the operator API, expecting an error answer.
func operatorRefused(t *testing.T, base string, c map[string]any, status int, says string) {
	t.Helper()
	_, _, err := mesosfw.OperatorCall(testCtx(t), base, c)
	var se *mesosfw.StatusError
	if !errors.As(err, &se) || se.Status != status || !strings.Contains(string(se.Body), says) {
		t.Fatalf("%s: %v, want %d saying %q", c["type"], err, status, says)
	}
}

// runningTask subscribes nothing new: it launches one sleep task for s on
// its next offer and waits for it to run.
func runningTask(t *testing.T, s *mesosfw.Scheduler, id string, res ...map[string]any) string {
	t.Helper()
	offer := nextOffer(t, s)
	agent := mesosfw.Str(offer, "agent_id", "value")
	accepted(t, s, mesosfw.Accept([]string{mesosfw.Str(offer, "id", "value")}, mesosfw.Launch(sleepTask(id, id, agent, res...))))
	untilState(t, s, id, "TASK_RUNNING")
	return agent
}

func role(roles map[string]any, name string) map[string]any {
	for _, r := range mesosfw.Objs(roles, "get_roles", "roles") {
		if mesosfw.Str(r, "name") == name {
			return r
		}
	}
	return nil
}

func TestOperatorAPIShowsAgentsFrameworksTasksAndRoles(t *testing.T) {
	n, base := startMesosNode(t)
	s := subscribe(t, base, mesosfw.FrameworkInfo("root", "viewer", "analytics"))
	runningTask(t, s, "seen", mesosfw.AllocatedTo("analytics", mesosfw.Scalar("cpus", 0.25), mesosfw.Scalar("mem", 64))...)

	if h := operator(t, base, map[string]any{"type": "GET_HEALTH"}); !mesosfw.Bool(h, "get_health", "healthy") {
		t.Errorf("GET_HEALTH: %v", h)
	}
	st := operator(t, base, map[string]any{"type": "GET_STATE"})
	agents := mesosfw.Objs(st, "get_state", "get_agents", "agents")
	if len(agents) != 1 || mesosfw.Str(agents[0], "agent_info", "id", "value") != n.id || !mesosfw.Bool(agents[0], "active") ||
		len(mesosfw.Arr(agents[0], "total_resources")) == 0 {
		t.Fatalf("GET_STATE agents: %v", agents)
	}
	fws := map[string]map[string]any{}
	for _, f := range mesosfw.Objs(st, "get_state", "get_frameworks", "frameworks") {
		fws[mesosfw.Str(f, "framework_info", "id", "value")] = f
	}
	if f := fws[s.FrameworkID()]; f == nil || !mesosfw.Bool(f, "connected") || mesosfw.Str(f, "framework_info", "name") != "viewer" {
		t.Fatalf("GET_STATE frameworks: %v", fws)
	}
	if fws["clusterd-jobs"] == nil {
		t.Errorf("the built-in framework is not listed among the frameworks: %v", fws)
	}
	var task map[string]any
	for _, tk := range mesosfw.Objs(st, "get_state", "get_tasks", "tasks") {
		if mesosfw.Str(tk, "task_id", "value") == "seen" {
			task = tk
		}
	}
	if task == nil || mesosfw.Str(task, "state") != "TASK_RUNNING" || mesosfw.Str(task, "framework_id", "value") != s.FrameworkID() ||
		mesosfw.Str(task, "status_update_state") != "TASK_RUNNING" || len(mesosfw.Arr(task, "statuses")) < 2 {
		t.Fatalf("GET_STATE task: %v", task)
	}
	if r := role(operator(t, base, map[string]any{"type": "GET_ROLES"}), "analytics"); r == nil ||
		mesosfw.Num(r, "weight") != 1 || mesosfw.Str(r, "frameworks", 0, "value") != s.FrameworkID() || len(mesosfw.Arr(r, "allocated")) == 0 {
		t.Fatalf("GET_ROLES analytics: %v", r)
	}

	// The v0 state, as Mesos-DNS and marathon-lb read it.
	_, v0, err := mesosfw.GetJSON(testCtx(t), base+"/master/state")
	if err != nil {
		t.Fatal(err)
	}
	var v0fw map[string]any
	for _, f := range mesosfw.Objs(v0, "frameworks") {
		if mesosfw.Str(f, "id") == s.FrameworkID() {
			v0fw = f
		}
	}
	if mesosfw.Str(v0, "slaves", 0, "id") != n.id || v0fw == nil || mesosfw.Str(v0fw, "tasks", 0, "id") != "seen" ||
		mesosfw.Num(v0fw, "tasks", 0, "resources", "cpus") != 0.25 || mesosfw.Str(v0, "leader") == "" {
		t.Fatalf("/master/state: slaves %v, framework %v", mesosfw.Arr(v0, "slaves"), v0fw)
	}
	if _, resolved, err := mesosfw.MasterRedirect(testCtx(t), base); err != nil || !strings.HasPrefix(resolved, base) {
		t.Fatalf("/master/redirect on the leader: %q %v, want a redirect to itself", resolved, err)
	}
}

func TestOperatorWeightsAndQuotaShapeTheOffers(t *testing.T) {
	_, base := startMesosNode(t)
	operator(t, base, map[string]any{"type": "UPDATE_WEIGHTS", "update_weights": map[string]any{
		"weight_infos": []any{map[string]any{"role": "heavy", "weight": 2.5}}}})
	if r := role(operator(t, base, map[string]any{"type": "GET_ROLES"}), "heavy"); mesosfw.Num(r, "weight") != 2.5 {
		t.Fatalf("GET_ROLES after UPDATE_WEIGHTS: %v", r)
	}
	quota := func(role string, limits map[string]any) map[string]any {
		return map[string]any{"type": "UPDATE_QUOTA", "update_quota": map[string]any{"quota_configs": []any{map[string]any{"role": role, "limits": limits}}}}
	}
	operator(t, base, quota("capped", map[string]any{"cpus": map[string]any{"value": 0.5}, "mem": map[string]any{"value": 256}}))
	s := subscribe(t, base, mesosfw.FrameworkInfo("root", "capped", "capped"))
	offer := nextOffer(t, s)
	if cpus, mem := mesosfw.OfferScalar(offer, "cpus"), mesosfw.OfferScalar(offer, "mem"); cpus > 0.5+1e-9 || mem > 256+1e-9 {
		t.Fatalf("offer to a role with quota cpus 0.5, mem 256: cpus %v mem %v", cpus, mem)
	}
	r := role(operator(t, base, map[string]any{"type": "GET_ROLES"}), "capped")
	if mesosfw.Num(r, "quota", "limits", "cpus", "value") != 0.5 || mesosfw.Num(r, "quota", "consumed", "cpus", "value") > 0.5+1e-9 {
		t.Fatalf("GET_ROLES quota: %v", r)
	}
	operatorRefused(t, base, map[string]any{"type": "UPDATE_QUOTA", "update_quota": map[string]any{"quota_configs": []any{
		map[string]any{"role": "capped", "guarantees": map[string]any{"cpus": map[string]any{"value": 0.1}}, "limits": map[string]any{"cpus": map[string]any{"value": 1}}}}}},
		http.StatusBadRequest, "guarantees are not supported")
	operatorRefused(t, base, quota("*", map[string]any{"cpus": map[string]any{"value": 1}}), http.StatusBadRequest, "default role")
	operatorRefused(t, base, map[string]any{"type": "UPDATE_WEIGHTS", "update_weights": map[string]any{
		"weight_infos": []any{map[string]any{"role": "heavy", "weight": -1}}}}, http.StatusBadRequest, "Weights must be positive")
	// Removing the quota lifts the cap.
	operator(t, base, map[string]any{"type": "UPDATE_QUOTA", "update_quota": map[string]any{"quota_configs": []any{map[string]any{"role": "capped"}}}})
	if r := role(operator(t, base, map[string]any{"type": "GET_ROLES"}), "capped"); mesosfw.Has(r, "quota") {
		t.Fatalf("quota still shown after its removal: %v", r)
	}
}

func TestReservationsAreOfferedOnlyToTheirRole(t *testing.T) {
	n, base := startMesosNodeWith(t, func(c *Config) {
		c.Reserved = map[string]api.Resources{"static": {CPUs: 0.5}}
	})
	dynamic := func(typ string) map[string]any {
		res := mesosfw.Scalar("cpus", 0.25)
		res["reservations"] = []any{map[string]any{"type": "DYNAMIC", "role": "db"}}
		key := strings.ToLower(typ)
		return map[string]any{"type": typ, key: map[string]any{"agent_id": mesosfw.ID(n.id), "resources": []any{res}}}
	}
	operator(t, base, dynamic("RESERVE_RESOURCES"))
	if got := n.fsm.View().Node(n.id).Dynamic["db"]; got.CPUs != 0.25 {
		t.Fatalf("replicated dynamic reservation %+v, want db: cpus 0.25", got)
	}
	db := subscribe(t, base, mesosfw.FrameworkInfo("root", "db", "db"))
	offer := nextOffer(t, db)
	if got := reservedCPUs(offer, "db"); got != 0.25 {
		t.Fatalf("offer to role db carries %v reserved cpus, want 0.25: %v", got, offer)
	}
	st := subscribe(t, base, mesosfw.FrameworkInfo("root", "static", "static"))
	if got := reservedCPUs(nextOffer(t, st), "static"); got != 0.5 {
		t.Fatalf("offer to role static carries %v reserved cpus, want the agent's static 0.5", got)
	}
	// db holds every unreserved resource: db and static want no more
	// offers and give theirs back, so the unreserved resources go to a
	// framework of another role, without the reservations.
	for _, s := range []*mesosfw.Scheduler{db, st} {
		accepted(t, s, mesosfw.Suppress())
		declineAll(t, n, s, 0)
	}
	other := subscribe(t, base, mesosfw.FrameworkInfo("root", "other", "other"))
	for _, r := range mesosfw.Objs(nextOffer(t, other), "resources") {
		if mesosfw.Has(r, "reservations") {
			t.Fatalf("an offer to role other carries reserved resources: %v", r)
		}
	}
	// Unreserving needs the resources free: when db's offer holds them
	// again, the leader rescinds it first.
	accepted(t, db, mesosfw.Revive())
	if got := reservedCPUs(nextOffer(t, db), "db"); got != 0.25 {
		t.Fatalf("revived db's offer carries %v reserved cpus, want 0.25", got)
	}
	operator(t, base, dynamic("UNRESERVE_RESOURCES"))
	if got := n.fsm.View().Node(n.id).Dynamic; len(got) != 0 {
		t.Fatalf("dynamic reservations after UNRESERVE: %+v", got)
	}
	if _, err := db.NextOfType("RESCIND", 5*time.Second); err != nil {
		t.Fatalf("the offer holding the reservation was not rescinded to unreserve it: %v", err)
	}
	operatorRefused(t, base, dynamic("UNRESERVE_RESOURCES"), http.StatusConflict, "unreserve")
}

// reservedCPUs is the cpus of an offer reserved for role, in either
// reservation format.
func reservedCPUs(offer map[string]any, role string) float64 {
	sum := 0.0
	for _, r := range mesosfw.Objs(offer, "resources") {
		if mesosfw.Str(r, "name") != "cpus" {
			continue
		}
		reserved := mesosfw.Str(r, "role") == role
		for _, rv := range mesosfw.Objs(r, "reservations") {
			reserved = reserved || mesosfw.Str(rv, "role") == role
		}
		if reserved {
			sum += mesosfw.Num(r, "scalar", "value")
		}
	}
	return sum
}

func TestOperatorDeactivatesDrainsAndReactivatesAnAgent(t *testing.T) {
	n, base := startMesosNode(t)
	fi := mesosfw.FrameworkInfo("root", "tenant")
	s := subscribe(t, base, fi)
	runningTask(t, s, "resident")
	nextOffer(t, s)
	agent := map[string]any{"agent_id": mesosfw.ID(n.id)}

	operator(t, base, map[string]any{"type": "DEACTIVATE_AGENT", "deactivate_agent": agent})
	if _, err := s.NextOfType("RESCIND", 5*time.Second); err != nil {
		t.Fatalf("deactivating the agent did not rescind its offers: %v", err)
	}
	for {
		if _, err := s.NextOfType("OFFERS", 300*time.Millisecond); err != nil {
			break // offers sent before the deactivation are read
		}
	}
	noEventOfType(t, s, "OFFERS", 500*time.Millisecond)
	if task := n.fsm.View().Task("resident"); task.State != raftfsm.TaskRunning {
		t.Fatalf("a deactivated agent's task is %s, want still running", task.State)
	}
	operator(t, base, map[string]any{"type": "REACTIVATE_AGENT", "reactivate_agent": agent})
	nextOffer(t, s)

	operator(t, base, map[string]any{"type": "DRAIN_AGENT", "drain_agent": map[string]any{"agent_id": mesosfw.ID(n.id),
		"max_grace_period": map[string]any{"nanoseconds": 100_000_000}}})
	untilState(t, s, "resident", "TASK_KILLED")
	waitFor(t, "the agent to be drained", 5*time.Second, func() bool {
		a := mesosfw.Objs(operator(t, base, map[string]any{"type": "GET_AGENTS"}), "get_agents", "agents")
		return len(a) == 1 && mesosfw.Str(a[0], "drain_info", "state") == "DRAINED" && !mesosfw.Bool(a[0], "active")
	})
	operatorRefused(t, base, map[string]any{"type": "DRAIN_AGENT", "drain_agent": map[string]any{"agent_id": mesosfw.ID("nowhere")}}, http.StatusBadRequest, "No agent")
	operator(t, base, map[string]any{"type": "REACTIVATE_AGENT", "reactivate_agent": agent})
	if nd := n.fsm.View().Node(n.id); nd.State != raftfsm.NodeReady {
		t.Fatalf("node state after REACTIVATE_AGENT: %s", nd.State)
	}
}

func TestOperatorEventStreamFollowsTheCluster(t *testing.T) {
	_, base := startMesosNode(t)
	ops, err := mesosfw.OperatorSubscribe(testCtx(t), base)
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	if len(mesosfw.Objs(ops.Subscribed(), "subscribed", "get_state", "get_agents", "agents")) != 1 {
		t.Fatalf("SUBSCRIBED state: %v", ops.Subscribed())
	}
	s := subscribe(t, base, mesosfw.FrameworkInfo("root", "watched"))
	ev, err := ops.NextOfType("FRAMEWORK_ADDED", 5*time.Second)
	if err != nil || mesosfw.Str(ev, "framework_added", "framework", "framework_info", "id", "value") != s.FrameworkID() {
		t.Fatalf("FRAMEWORK_ADDED: %v %v", ev, err)
	}
	runningTask(t, s, "watched-task")
	if ev, err := ops.NextOfType("TASK_ADDED", 5*time.Second); err != nil || mesosfw.Str(ev, "task_added", "task", "task_id", "value") != "watched-task" {
		t.Fatalf("TASK_ADDED: %v %v", ev, err)
	}
	ev, err = ops.NextMatching(func(ev map[string]any) bool {
		return mesosfw.Type(ev) == "TASK_UPDATED" && mesosfw.Str(ev, "task_updated", "state") == "TASK_RUNNING"
	}, 5*time.Second)
	if err != nil || mesosfw.Str(ev, "task_updated", "framework_id", "value") != s.FrameworkID() {
		t.Fatalf("TASK_UPDATED to RUNNING: %v %v", ev, err)
	}
	accepted(t, s, mesosfw.Teardown())
	if ev, err := ops.NextOfType("FRAMEWORK_REMOVED", 5*time.Second); err != nil || mesosfw.Str(ev, "framework_removed", "framework_info", "id", "value") != s.FrameworkID() {
		t.Fatalf("FRAMEWORK_REMOVED: %v %v", ev, err)
	}
	if err := ops.WaitHeartbeats(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
