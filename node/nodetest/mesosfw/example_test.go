package mesosfw

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// frameworkLife is the whole life of a framework as an end-to-end test
// would script it against a real master at base.
func frameworkLife(t testing.TB, base string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	s, err := Subscribe(ctx, base, SubscribeCall(FrameworkInfo("root", "e2e-framework")))
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer s.Close()

	ev, err := s.NextOfType("OFFERS", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	offers, err := Offers(ev)
	if err != nil {
		t.Fatal(err)
	}
	offer := offers[0]
	if OfferScalar(offer, "cpus") < 0.1 || OfferScalar(offer, "mem") < 32 {
		t.Fatalf("offer too small: %v", offer["resources"])
	}
	agentID := Str(offer, "agent_id", "value")

	task := TaskInfo("sleeper", "task-1", agentID, "sleep 30",
		Scalar("cpus", 0.1), Scalar("mem", 32))
	resp, err := s.Call(ctx, Accept([]string{Str(offer, "id", "value")}, Launch(task)))
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Expect(http.StatusAccepted); err != nil {
		t.Fatal(err)
	}

	// Acknowledge every update on the way (TASK_STARTING, ...), as a real
	// framework must, until TASK_RUNNING.
	for {
		ev, err := s.NextOfType("UPDATE", 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		st, err := UpdateStatus(ev)
		if err != nil {
			t.Fatal(err)
		}
		if st.TaskID != "task-1" {
			t.Fatalf("update for unexpected task %q", st.TaskID)
		}
		if st.UUID != "" {
			resp, err := s.Call(ctx, Acknowledge(st.AgentID, st.TaskID, st.UUID))
			if err != nil {
				t.Fatal(err)
			}
			if err := resp.Expect(http.StatusAccepted); err != nil {
				t.Fatal(err)
			}
		}
		if st.State == "TASK_RUNNING" {
			break
		}
		if IsTerminal(st.State) {
			t.Fatalf("task ended: %s %s %s", st.State, st.Reason, st.Message)
		}
	}
}

// TestExampleFrameworkLife runs frameworkLife against a fake that plays the
// master's part: an offer after SUBSCRIBED, and two updates after ACCEPT.
func TestExampleFrameworkLife(t *testing.T) {
	fm := newFake(t)
	fm.initial = append(fm.initial, record(t, map[string]any{
		"type": "OFFERS", "offers": map[string]any{"offers": []any{map[string]any{
			"id": ID("o-1"), "framework_id": ID("fw-1"), "agent_id": ID("a-1"), "hostname": "h",
			"resources": []any{Scalar("cpus", 1), Scalar("mem", 128)},
		}}},
	}))
	update := func(state, uuid string) map[string]any {
		return map[string]any{"type": "UPDATE", "update": map[string]any{"status": map[string]any{
			"task_id": ID("task-1"), "agent_id": ID("a-1"), "state": state, "source": "SOURCE_EXECUTOR", "uuid": uuid,
		}}}
	}
	fm.onCall = func(r recorded) {
		if Type(r.Body) == "ACCEPT" && Str(r.Body, "accept", "operations", 0, "launch", "task_infos", 0, "task_id", "value") == "task-1" {
			fm.send(map[string]any{"type": "HEARTBEAT"})
			fm.send(update("TASK_STARTING", "AAEC"))
			fm.send(update("TASK_RUNNING", "AwQF"))
		}
	}
	frameworkLife(t, fm.srv.URL)

	var acks []string
	for _, r := range fm.requests() {
		if Type(r.Body) == "ACKNOWLEDGE" {
			acks = append(acks, Str(r.Body, "acknowledge", "uuid"))
		}
	}
	if len(acks) != 2 || acks[0] != "AAEC" || acks[1] != "AwQF" {
		t.Fatalf("acknowledged %v, want [AAEC AwQF]", acks)
	}
}
