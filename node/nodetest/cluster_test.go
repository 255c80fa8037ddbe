package nodetest

// Process-level tests of a multi-node cluster: real clusterd processes on
// 127.0.0.x, as on separate hosts.

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

	"github.com/clusterd/clusterd/web/api"
)

// voters returns the voters node i reports.
func voters(c *Cluster, i int) []string {
	st, err := c.Status(i)
	if err != nil {
		return nil
	}
	v := slices.Clone(st.Voters)
	slices.Sort(v)
	return v
}

// readyNodes counts the nodes node i lists as ready.
func readyNodes(c *Cluster, i int) int {
	nodes, err := c.APINodes(i)
	if err != nil {
		return -1
	}
	n := 0
	for _, nd := range nodes {
		if nd.State == "ready" {
			n++
		}
	}
	return n
}

func activeTasks(c *Cluster, i int, job string) map[string]api.Task {
	tasks, err := c.Tasks(i)
	if err != nil {
		return nil
	}
	out := map[string]api.Task{}
	for _, t := range tasks {
		if t.Job == job && !api.TaskStateTerminal(t.State) {
			out[t.ID] = t
		}
	}
	return out
}

func runningOn(c *Cluster, i int, job string) map[string]string {
	out := map[string]string{}
	for id, t := range activeTasks(c, i, job) {
		if t.State == api.TaskRunning {
			out[id] = t.Node
		}
	}
	return out
}

func TestJoinThroughAFollowerFormsAClusterWithThreeVoters(t *testing.T) {
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) {
			c := Start(t, Options{N: n, JoinVia: 1})
			leader := c.Leader(t)
			c.Eventually(t, "3 voters and every node ready", 30*time.Second, func() bool {
				return len(voters(c, leader.Index)) == 3 && readyNodes(c, leader.Index) == n
			})
			// Every node agrees on the cluster and the voters.
			st0, _ := c.Status(0)
			for i := range c.Nodes() {
				c.Eventually(t, fmt.Sprintf("node %d sees the same voters", i), 15*time.Second, func() bool {
					st, err := c.Status(i)
					return err == nil && st.ClusterID == st0.ClusterID && slices.Equal(voters(c, i), voters(c, leader.Index))
				})
			}
			// A write through any node (followers redirect) lands.
			c.Submit(t, n-1, `{"id":"w","type":"service","cmd":"sleep 300","instances":3,"cpus":0.1,"mem":16}`)
			c.Eventually(t, "3 tasks running", 30*time.Second, func() bool { return len(runningOn(c, 0, "w")) == 3 })
			c.CheckConvergence(t)
		})
	}
}

func TestBootstrapExpectFormsExactlyOneCluster(t *testing.T) {
	c := Start(t, Options{N: 3, Form: FormBootstrapExpect})
	leader := c.Leader(t)
	c.Eventually(t, "3 voters", 30*time.Second, func() bool { return len(voters(c, leader.Index)) == 3 })
	ids := map[string]bool{}
	for i := range c.Nodes() {
		st, err := c.Status(i)
		if err != nil {
			t.Fatal(err)
		}
		ids[st.ClusterID] = true
	}
	if len(ids) != 1 {
		t.Fatalf("bootstrap-expect formed %d clusters: %v", len(ids), ids)
	}
	// Secured from the first packet by the bootstrap token: Raft over
	// mutual TLS, gossip encrypted, and the admin token it derives works
	// (every request of this test sends it).
	for _, n := range c.Nodes() {
		if log := logOf(t, n); strings.Contains(log, "plain TCP") || !strings.Contains(log, "forming one from the bootstrap token") {
			t.Errorf("%s did not form the cluster from the bootstrap token on mutual TLS:\n%s", n.Name, log)
		}
		if _, err := os.Stat(filepath.Join(n.DataDir, "tls", "node.crt")); err != nil {
			t.Errorf("%s has no certificate: %v", n.Name, err)
		}
	}
	var gs struct {
		Encrypted bool `json:"encrypted"`
	}
	if out, err := c.CLI(t, 0, "gossip", "status", "-o", "json"); err != nil || json.Unmarshal([]byte(out), &gs) != nil || !gs.Encrypted {
		t.Fatalf("gossip status: %v, encrypted %v\n%s", err, gs.Encrypted, out)
	}
	// All stopped (crash) and started again: the same cluster, no second bootstrap.
	before, _ := c.Status(0)
	for i := range c.Nodes() {
		c.Kill(t, i)
	}
	for i := range c.Nodes() {
		c.Restart(t, i)
	}
	leader = c.Leader(t)
	after, _ := c.Status(leader.Index)
	if after.ClusterID != before.ClusterID {
		t.Fatalf("after a full restart the cluster id is %s, was %s", after.ClusterID, before.ClusterID)
	}
	if v := voters(c, leader.Index); len(v) != 3 {
		t.Fatalf("voters after a full restart: %v", v)
	}
	// After a gossip key rotation, machines with the same command line
	// still join, with today's key: an agent, and a server that runs with
	// --bootstrap-expect like the first three (a replacement in an Auto
	// Scaling group).
	if out, err := c.CLI(t, 0, "gossip", "rotate", "--wait", "--timeout", "60s"); err != nil {
		t.Fatalf("gossip rotate --wait: %v\n%s", err, out)
	}
	c.AddNodeWith(t, "--server=false")
	late := c.AddNodeWith(t, "--bootstrap-expect", "3")
	if log := logOf(t, late); !strings.Contains(log, "joined with a token") {
		t.Errorf("the late server did not join the existing cluster:\n%s", log)
	}
	c.Eventually(t, "5 nodes ready", 30*time.Second, func() bool { return readyNodes(c, c.Leader(t).Index) == 5 })
}

func logOf(t *testing.T, n *Node) string {
	t.Helper()
	b, err := os.ReadFile(n.LogPath)
	if err != nil {
		t.Fatalf("log of %s: %v", n.Name, err)
	}
	return string(b)
}

func TestLeaderKilledTenTimesLosesNoTaskAndRunsNoneTwice(t *testing.T) {
	c := Start(t, Options{N: 3, ExtraArgs: []string{"--voter-replace-after", "60s"}})
	c.Eventually(t, "3 voters", 30*time.Second, func() bool { return len(voters(c, c.Leader(t).Index)) == 3 })
	c.Submit(t, 0, `{"id":"svc","type":"service","cmd":"sleep 600","instances":4,"cpus":0.1,"mem":16}`)
	var tasks map[string]string
	c.Eventually(t, "4 tasks running", 30*time.Second, func() bool { tasks = runningOn(c, 0, "svc"); return len(tasks) == 4 })

	for round := 0; round < 10; round++ {
		leader := c.Leader(t)
		c.Kill(t, leader.Index)
		// A new leader accepts writes (Submit retries while there is none).
		other := (leader.Index + 1) % 3
		start := time.Now()
		c.Submit(t, other, fmt.Sprintf(`{"id":"probe%d","type":"batch","cmd":"true","instances":1,"cpus":0.01,"mem":1}`, round))
		t.Logf("round %d: leader SIGKILL -> write committed by a new leader: %v", round, time.Since(start).Round(10*time.Millisecond))
		c.Restart(t, leader.Index)
		// Every task is accounted for: the same four, still running.
		c.Eventually(t, fmt.Sprintf("round %d: the same 4 tasks running", round), 20*time.Second, func() bool {
			now := runningOn(c, other, "svc")
			if len(now) != 4 {
				return false
			}
			for id := range tasks {
				if _, ok := now[id]; !ok {
					return false
				}
			}
			return true
		})
	}
	c.AssertNoTaskRunsTwice(t)
	procs := c.TaskProcesses()
	for id := range tasks {
		if len(procs[id]) == 0 {
			t.Errorf("task %s is listed running but has no process", id)
		}
	}
	c.CheckConvergence(t)
}

func TestKilledAgentsTasksMoveAndItRunsNothingStaleWhenBack(t *testing.T) {
	c := Start(t, Options{N: 3})
	leader := c.Leader(t)
	c.Eventually(t, "3 voters", 30*time.Second, func() bool { return len(voters(c, leader.Index)) == 3 })
	c.Submit(t, 0, `{"id":"svc","type":"service","cmd":"sleep 600","instances":6,"cpus":0.5,"mem":16}`)
	var placed map[string]string
	c.Eventually(t, "6 tasks running", 30*time.Second, func() bool { placed = runningOn(c, leader.Index, "svc"); return len(placed) == 6 })

	// Kill a node that is not the leader and runs tasks.
	victim := -1
	for i, n := range c.Nodes() {
		if i == leader.Index {
			continue
		}
		for _, node := range placed {
			if node == n.ID {
				victim = i
			}
		}
	}
	if victim < 0 {
		t.Fatalf("no task on a follower: %v", placed)
	}
	victimID := c.Node(victim).ID
	c.Kill(t, victim)
	start := time.Now()
	c.Eventually(t, "the killed node is declared down", 40*time.Second, func() bool {
		nodes, _ := c.APINodes(leader.Index)
		for _, n := range nodes {
			if n.ID == victimID {
				return n.State == "down"
			}
		}
		return false
	})
	t.Logf("agent SIGKILL -> detected dead: %v", time.Since(start).Round(10*time.Millisecond))
	c.Eventually(t, "the killed node's tasks run elsewhere", 40*time.Second, func() bool {
		now := runningOn(c, leader.Index, "svc")
		if len(now) != 6 {
			return false
		}
		for _, node := range now {
			if node == victimID {
				return false
			}
		}
		return true
	})
	t.Logf("agent SIGKILL -> its tasks running elsewhere: %v", time.Since(start).Round(10*time.Millisecond))
	lost := 0
	tasks, _ := c.Tasks(leader.Index)
	for _, task := range tasks {
		if task.Node == victimID && task.State == api.TaskLost {
			lost++
			if !strings.Contains(task.Message, "failed") {
				t.Errorf("lost task %s gives no reason: %q", task.ID, task.Message)
			}
		}
	}
	if lost == 0 {
		t.Fatal("no task of the killed node is TASK_LOST")
	}
	// It comes back with its data dir: it re-adopts its old tasks, learns
	// they were replaced, and kills them.
	c.Restart(t, victim)
	c.Eventually(t, "the node is ready again", 30*time.Second, func() bool {
		nodes, _ := c.APINodes(leader.Index)
		for _, n := range nodes {
			if n.ID == victimID {
				return n.State == "ready"
			}
		}
		return false
	})
	c.AssertNoTaskRunsTwice(t)
	c.Eventually(t, "no process of a lost task survives", 20*time.Second, func() bool {
		procs := c.TaskProcesses()
		for _, task := range tasks {
			if task.State == api.TaskLost && len(procs[task.ID]) > 0 {
				return false
			}
		}
		return true
	})
}

func TestLeaderLeavingHandsOverWithoutAnElection(t *testing.T) {
	c := Start(t, Options{N: 3})
	leader := c.Leader(t)
	c.Eventually(t, "3 voters", 30*time.Second, func() bool { return len(voters(c, leader.Index)) == 3 })
	other := (leader.Index + 1) % 3
	before, _ := c.Status(other)
	start := time.Now()
	if out, err := c.CLI(t, leader.Index, "leave"); err != nil {
		t.Fatalf("clusterd leave: %v\n%s", err, out)
	}
	var took time.Duration
	c.Eventually(t, "another node leads", 10*time.Second, func() bool {
		st, err := c.Status(other)
		if err == nil && st.Leader != "" && st.Leader != leader.ID {
			took = time.Since(start)
			return true
		}
		return false
	})
	t.Logf("graceful leave of the leader -> new leader: %v", took.Round(time.Millisecond))
	c.Eventually(t, "the left node is no voter and listed as left", 20*time.Second, func() bool {
		st, err := c.Status(other)
		if err != nil || slices.Contains(st.Voters, leader.ID) {
			return false
		}
		nodes, _ := c.APINodes(other)
		for _, n := range nodes {
			if n.ID == leader.ID {
				return n.State == "left"
			}
		}
		return false
	})
	after, _ := c.Status(other)
	_ = before
	if after.ClusterID == "" {
		t.Fatal("no cluster after the leader left")
	}
}

func TestNodePausedForTwoSecondsIsNotDeclaredDead(t *testing.T) {
	c := Start(t, Options{N: 3})
	leader := c.Leader(t)
	c.Submit(t, 0, `{"id":"svc","type":"service","cmd":"sleep 600","instances":3,"cpus":0.1,"mem":16}`)
	c.Eventually(t, "3 tasks running", 30*time.Second, func() bool { return len(runningOn(c, leader.Index, "svc")) == 3 })
	before := runningOn(c, leader.Index, "svc")
	paused := (leader.Index + 1) % 3
	c.Pause(t, paused)
	time.Sleep(2 * time.Second) // the fault itself: a 2 s pause
	c.Resume(t, paused)
	// Give a wrongly declared death time to show, then check none happened.
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		nodes, err := c.APINodes(leader.Index)
		if err == nil {
			for _, n := range nodes {
				if n.State != "ready" {
					t.Fatalf("node %s is %s after a 2 s pause", n.Name, n.State)
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if now := runningOn(c, leader.Index, "svc"); len(now) != 3 || !sameKeys(now, before) {
		t.Fatalf("tasks changed after a 2 s pause: %v, were %v", now, before)
	}
}

func sameKeys(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

func TestLogCompactsAndANewVoterCatchesUpFromASnapshot(t *testing.T) {
	c := Start(t, Options{N: 1, Form: FormInitOnly, ExtraArgs: []string{"--raft-snapshot-threshold", "16", "--raft-snapshot-interval", "200ms", "--raft-trailing-logs", "4"}})
	c.Submit(t, 0, `{"id":"many","type":"batch","cmd":"true","instances":200,"cpus":0.01,"mem":1}`)
	c.Eventually(t, "200 tasks finished", 60*time.Second, func() bool {
		jobs, _ := c.Jobs(0)
		return len(jobs) == 1 && jobs[0].State == "complete"
	})
	// Twenty more entries, one each whatever the load: the status updates
	// above may be batched into fewer than the threshold.
	for i := range 20 {
		c.Submit(t, 0, fmt.Sprintf(`{"id":"probe%d","type":"service","cmd":"sleep 600","instances":0,"cpus":0.01,"mem":1}`, i))
	}
	st, _ := c.Status(0)
	c.Eventually(t, "the leader took a snapshot", 20*time.Second, func() bool { return snapshots(c.Node(0)) > 0 })
	// Two more servers join: the leader makes them voters and they get
	// the state from a snapshot (the log before it was compacted away).
	a, b := c.AddNode(t), c.AddNode(t)
	c.Eventually(t, "3 voters", 30*time.Second, func() bool { return len(voters(c, 0)) == 3 })
	for _, n := range []*Node{a, b} {
		c.Eventually(t, "new voter caught up", 30*time.Second, func() bool {
			s, err := c.Status(n.Index)
			return err == nil && s.AppliedIndex >= st.AppliedIndex
		})
		// The log they needed was compacted away: they installed the
		// leader's snapshot, which raft keeps in their snapshot store.
		if snapshots(n) == 0 {
			t.Errorf("node %d caught up without a snapshot: the log was not compacted", n.Index)
		}
	}
	c.CheckConvergence(t)
}

// A machine joins only with a right token, and only a cluster whose CA the
// token pins: each refusal says what is wrong, and nothing is joined.
func TestJoinFailsClearlyWithoutARightTokenOrOnBadPeers(t *testing.T) {
	c := Start(t, Options{N: 1, Form: FormInitOnly})
	bin := c.Binary()
	dir := t.TempDir()
	run := func(args ...string) (string, error) {
		// Bounded: a join that wrongly succeeds would otherwise run forever.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = nodeEnv()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	n0 := c.Node(0)
	// The joiner's API port is node 0's, as in a cluster of identical
	// units: the join exchange reaches the peer on it.
	common := []string{"--bind", "127.0.0.99", "--http-port", strconv.Itoa(n0.HTTPPort), "--raft-port", "0", "--gossip-port", "0", "--isolator", "process", "--join-timeout", "3s"}
	join := func(data string, extra ...string) (string, error) {
		return run(append(append(append([]string{"join", "--data-dir", filepath.Join(dir, data)}, common...), extra...), n0.GossipAddr())...)
	}
	server := c.JoinToken(t, "server")
	agent := c.JoinToken(t, "agent")

	if out, err := join("none"); err == nil || !strings.Contains(out, "needs one of its join tokens") || !strings.Contains(out, "--token") {
		t.Errorf("join without a token: err=%v\n%s", err, out)
	}
	if out, err := join("garbled", "--token", "cdt1-s-nonsense"); err == nil || !strings.Contains(out, "malformed join token") {
		t.Errorf("join with a garbled token: err=%v\n%s", err, out)
	}
	// The right CA fingerprint, another secret.
	wrong := server[:strings.LastIndexByte(server, '-')+1] + strings.Repeat("a", 52)
	if out, err := join("wrong", "--token", wrong); err == nil || !strings.Contains(out, "401") || !strings.Contains(out, "token") {
		t.Errorf("join with a wrong secret: err=%v\n%s", err, out)
	}
	// An agent token cannot make a server.
	if out, err := join("agent-as-server", "--token", agent); err == nil || !strings.Contains(out, "--server=false") {
		t.Errorf("join as a server with an agent token: err=%v\n%s", err, out)
	}
	// The right secret, but the token pins another cluster's CA: refused
	// before anything is sent.
	other := Start(t, Options{N: 1, Form: FormInitOnly})
	foreign := other.JoinToken(t, "server")
	fp := foreign[len("cdt1-s-") : len("cdt1-s-")+64]
	pinnedElsewhere := strings.Replace(server, server[len("cdt1-s-"):len("cdt1-s-")+64], fp, 1)
	if out, err := join("mitm", "--token", pinnedElsewhere); err == nil || !strings.Contains(out, "man in the middle") || !strings.Contains(out, "nothing was sent") {
		t.Errorf("join with a token pinning another CA: err=%v\n%s", err, out)
	}
	// --bootstrap-expect without a bootstrap token forms no insecure
	// cluster, and another cluster's bootstrap token is refused for the
	// CA it pins.
	if out, err := join("no-bootstrap-token", "--bootstrap-expect", "3"); err == nil || !strings.Contains(out, "needs a bootstrap token") || !strings.Contains(out, "clusterd token bootstrap") {
		t.Errorf("bootstrap-expect without a token: err=%v\n%s", err, out)
	}
	otherBootstrap, _ := c.newBootstrapToken(t)
	if out, err := join("foreign-bootstrap", "--token", otherBootstrap); err == nil || !strings.Contains(out, "man in the middle") {
		t.Errorf("join with another cluster's bootstrap token: err=%v\n%s", err, out)
	}
	// Nothing listens there.
	if out, err := run(append(append([]string{"join", "--data-dir", filepath.Join(dir, "unreachable")}, common...), "--token", server, "127.0.0.98:1")...); err == nil || !strings.Contains(out, "127.0.0.98") {
		t.Errorf("join of an unreachable peer: err=%v\n%s", err, out)
	}
	// A data dir of another cluster refuses to join this one.
	otherData := other.Node(0).DataDir
	other.Close()
	if out, err := run(append(append([]string{"join", "--data-dir", otherData}, common...), "--token", server, n0.GossipAddr())...); err == nil || !strings.Contains(out, "cluster") {
		t.Errorf("a data dir of another cluster joined: err=%v\n%s", err, out)
	}
	if nodes, err := c.APINodes(0); err != nil || len(nodes) != 1 {
		t.Fatalf("after the refused joins the cluster lists %d nodes (%v), want 1", len(nodes), err)
	}
}

func TestTheOnlyVoterNeverLeavesTheCluster(t *testing.T) {
	// Two nodes: one voter (an even count tolerates no more failures), one agent.
	c := Start(t, Options{N: 2})
	leader := c.Leader(t)
	if v := voters(c, leader.Index); len(v) != 1 {
		t.Fatalf("two nodes should give one voter, got %v", v)
	}
	before, _ := c.Status(leader.Index)
	if out, err := c.CLI(t, leader.Index, "leave"); err != nil {
		t.Fatalf("clusterd leave: %v\n%s", err, out)
	}
	c.Eventually(t, "the voter stopped", 20*time.Second, func() bool {
		_, err := c.Status(leader.Index)
		return err != nil
	})
	// It exits on its own once it has left; a SIGKILL could find it gone.
	c.WaitExited(t, leader.Index, 20*time.Second)
	c.Restart(t, leader.Index)
	c.Eventually(t, "the same cluster is back with both nodes ready", 30*time.Second, func() bool {
		st, err := c.Status(leader.Index)
		return err == nil && st.ClusterID == before.ClusterID && st.RaftState == "Leader" && readyNodes(c, leader.Index) == 2
	})
}

// snapshots counts the Raft snapshots in a node's data dir.
func snapshots(n *Node) int {
	entries, _ := os.ReadDir(filepath.Join(n.DataDir, "raft", "snapshots"))
	return len(entries)
}

func TestVotersGrowToTheTargetAmongServerNodesOnly(t *testing.T) {
	c := Start(t, Options{N: 3, ExtraArgs: []string{"--voters", "5"}})
	leader := c.Leader(t)
	c.Eventually(t, "3 voters", 30*time.Second, func() bool { return len(voters(c, leader.Index)) == 3 })
	agentOnly := c.AddNodeWith(t, "--server=false")
	// Four nodes, of which three may vote: still three voters (odd).
	time.Sleep(2 * time.Second) // give the leader time to (wrongly) add it
	if v := voters(c, leader.Index); len(v) != 3 || slices.Contains(v, agentOnly.ID) {
		t.Fatalf("voters after an agent-only node joined: %v", v)
	}
	a, b := c.AddNode(t), c.AddNode(t)
	c.Eventually(t, "5 voters, the agent-only node not among them", 30*time.Second, func() bool {
		v := voters(c, leader.Index)
		return len(v) == 5 && slices.Contains(v, a.ID) && slices.Contains(v, b.ID) && !slices.Contains(v, agentOnly.ID)
	})
	// The agent-only node holds no replica but serves the API (redirecting
	// reads) and runs tasks.
	st, err := c.Status(agentOnly.Index)
	if err != nil || st.Leader == "" || st.AppliedIndex != 0 {
		t.Fatalf("agent-only node status: %+v, %v", st, err)
	}
	c.Submit(t, agentOnly.Index, `{"id":"w","type":"service","cmd":"sleep 300","instances":24,"cpus":0.5,"mem":16}`) // fills every node
	c.Eventually(t, "a task runs on the agent-only node", 30*time.Second, func() bool {
		for _, node := range runningOn(c, leader.Index, "w") {
			if node == agentOnly.ID {
				return true
			}
		}
		return false
	})
}
