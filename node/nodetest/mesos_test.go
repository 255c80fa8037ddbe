package nodetest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/nodetest/mesosfw"
)

// A Mesos framework against a three-node cluster: it subscribes through a
// follower (307 to the leader), launches a task on another node, leaves
// its TASK_RUNNING unacknowledged, and the leader is SIGKILLed. Updates are
// committed to Raft before they are sent, so the new leader sends it again
// once the framework re-subscribes; Mesos loses them with its master.
func TestMesosFrameworkFollowsTheLeaderAndGetsItsUpdatesAfterAFailover(t *testing.T) {
	c := Start(t, Options{N: 3, ExtraArgs: []string{"--allocation-interval", "100ms", "--scheduler-heartbeat", "500ms",
		"--status-retry-interval", "500ms", "--voter-replace-after", "60s"}})
	c.Eventually(t, "3 voters", 30*time.Second, func() bool { return len(voters(c, c.Leader(t).Index)) == 3 })
	leader := c.Leader(t)
	var follower *Node
	for _, n := range c.Nodes() {
		if n != leader {
			follower = n
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The framework gets a write token of its own, as an operator would
	// give it one; without a token the scheduler API refuses it.
	out, err := c.CLI(t, leader.Index, "token", "create", "--scope", "write", "--name", "survivor")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	fwToken := strings.TrimSpace(out)
	fi := mesosfw.FrameworkInfo("root", "survivor")
	fi["failover_timeout"] = 120.0
	if _, err := mesosfw.Subscribe(ctx, follower.Addr, mesosfw.SubscribeCall(fi)); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("subscribe without a token: %v, want a 401", err)
	}
	s, err := mesosfw.Subscribe(ctx, follower.Addr, mesosfw.SubscribeCall(fi), mesosfw.WithBearer(fwToken))
	if err != nil {
		t.Fatalf("subscribe through a follower: %v", err)
	}
	defer s.Close()
	if s.Leader() != leader.Addr || len(s.Redirects()) == 0 {
		t.Fatalf("subscribed at %s after redirects %v, want the leader %s after a 307", s.Leader(), s.Redirects(), leader.Addr)
	}

	// An offer of the follower's agent: its task outlives the leader.
	var offer map[string]any
	for offer == nil {
		ev, err := s.NextOfType("OFFERS", 20*time.Second)
		if err != nil {
			t.Fatalf("waiting for an offer of %s: %v", follower.Name, err)
		}
		offers, _ := mesosfw.Offers(ev)
		for _, o := range offers {
			if mesosfw.Str(o, "hostname") == follower.Name {
				offer = o
			}
		}
	}
	agent := mesosfw.Str(offer, "agent_id", "value")
	task := mesosfw.TaskInfo("survivor", "survivor-1", agent, "sleep 120", mesosfw.Scalar("cpus", 0.1), mesosfw.Scalar("mem", 32))
	resp, err := s.Call(ctx, mesosfw.Accept([]string{mesosfw.Str(offer, "id", "value")}, mesosfw.Launch(task)))
	if err != nil || resp.Expect(http.StatusAccepted) != nil {
		t.Fatalf("ACCEPT: %v %v", resp, err)
	}
	var running mesosfw.Status
	for running.State != "TASK_RUNNING" {
		ev, err := s.NextMatching(mesosfw.IsUpdate("survivor-1"), 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := mesosfw.UpdateStatus(ev)
		if st.State == "TASK_RUNNING" {
			running = st // left unacknowledged
			break
		}
		if resp, err := s.Call(ctx, mesosfw.AcknowledgeStatus(st)); err != nil || resp.Expect(http.StatusAccepted) != nil {
			t.Fatalf("ACKNOWLEDGE %s: %v %v", st.State, resp, err)
		}
	}
	if running.UUID == "" {
		t.Fatal("TASK_RUNNING carries no uuid")
	}

	c.Kill(t, leader.Index)
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the stream from the killed leader did not end")
	}
	newLeader := c.Leader(t)
	rest, _ := strings.CutPrefix(fwToken, "cdk1-")
	principal, secret, _ := strings.Cut(rest, "-")
	fi["id"] = mesosfw.ID(s.FrameworkID())
	call := mesosfw.SubscribeCall(fi)
	call["framework_id"] = mesosfw.ID(s.FrameworkID())
	var s2 *mesosfw.Scheduler
	c.Eventually(t, "the framework re-subscribes through the follower", 30*time.Second, func() bool {
		// Mesos frameworks authenticate with a principal and a secret: the
		// token's id and its secret part.
		s2, err = mesosfw.Subscribe(ctx, follower.Addr, call, mesosfw.WithBasicAuth(principal, secret))
		return err == nil
	})
	defer s2.Close()
	if s2.Leader() != newLeader.Addr || s2.FrameworkID() != s.FrameworkID() {
		t.Fatalf("re-subscribed as %s at %s, want %s at the new leader %s", s2.FrameworkID(), s2.Leader(), s.FrameworkID(), newLeader.Addr)
	}
	ev, err := s2.NextMatching(mesosfw.IsUpdate("survivor-1"), 20*time.Second)
	if err != nil {
		t.Fatalf("the unacknowledged TASK_RUNNING was not sent again by the new leader: %v", err)
	}
	again, _ := mesosfw.UpdateStatus(ev)
	if again.State != "TASK_RUNNING" || again.UUID != running.UUID {
		t.Fatalf("after the failover: %s %s, want TASK_RUNNING %s again", again.State, again.UUID, running.UUID)
	}
	if resp, err := s2.Call(ctx, mesosfw.AcknowledgeStatus(again)); err != nil || resp.Expect(http.StatusAccepted) != nil {
		t.Fatalf("ACKNOWLEDGE after the failover: %v %v", resp, err)
	}
	// The killed leader's agent is declared lost: frameworks hear FAILURE.
	ev, err = s2.NextOfType("FAILURE", 30*time.Second)
	if err != nil || mesosfw.Str(ev, "failure", "agent_id", "value") != leader.ID {
		t.Fatalf("FAILURE of the killed leader's agent %s: %v %v", leader.ID, ev, err)
	}
	resp, err = s2.Call(ctx, mesosfw.Reconcile([2]string{"survivor-1", agent}))
	if err != nil || resp.Expect(http.StatusAccepted) != nil {
		t.Fatal(err)
	}
	ev, err = s2.NextMatching(mesosfw.IsUpdate("survivor-1"), 10*time.Second)
	if st, _ := mesosfw.UpdateStatus(ev); err != nil || st.State != "TASK_RUNNING" || st.Reason != "REASON_RECONCILIATION" {
		t.Fatalf("reconciling the task after the failover: %+v %v", st, err)
	}
	c.AssertNoTaskRunsTwice(t)
}
