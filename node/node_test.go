package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/clusterd/clusterd/raftfsm"
)

// startNode runs a real one-node cluster (raft, bolt on disk, HTTP on
// loopback, the process isolator) inside the test process.
func startNode(t testing.TB) *Node {
	t.Helper()
	return startNodeWith(t, nil)
}

// startNodeWith is startNode with configuration changes.
func startNodeWith(t testing.TB, change func(*Config)) *Node {
	t.Helper()
	n, _ := startNodeCtl(t, change)
	return n
}

// startNodeCtl is startNodeWith that also returns a stop function, which
// shuts the node down and waits (the test's cleanup calls it too).
func startNodeCtl(t testing.TB, change func(*Config)) (*Node, func()) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Bind = "127.0.0.1"
	cfg.HTTPPort, cfg.RaftPort, cfg.GossipPort = 0, 0, 0
	cfg.NodeName = "test"
	cfg.Bootstrap = true
	cfg.Isolator = "process"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	// Tests of the API's tokens turn this off (auth_test.go); the rest
	// talk to the node as --dev does.
	cfg.NoAuth = true
	if change != nil {
		change(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	finished := make(chan struct{})
	var runErr error
	go func() {
		defer close(finished)
		runErr = n.Run(ctx, func(ReadyInfo) { close(ready) })
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-finished
			if runErr != nil {
				t.Errorf("node shutdown: %v", runErr)
			}
		})
	}
	// At the end of the test the node stops its tasks too: left running
	// (as a real node leaves them, for the next start to adopt) they would
	// outlive the test. A test that restarts a node calls stop itself, and
	// the tasks live on into the next node on the same data dir.
	t.Cleanup(func() {
		n.stopTasksOnExit.Store(true)
		stop()
	})
	select {
	case <-ready:
	case <-finished:
		t.Fatalf("node failed to start: %v", runErr)
	}
	waitFor(t, "leadership and registration", 10*time.Second, func() bool {
		n.leaderMu.Lock()
		leading := n.leader != nil
		n.leaderMu.Unlock()
		return leading && n.fsm.View().Node(n.id) != nil
	})
	return n, stop
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStatusQueueDeliversEveryUpdateInOrder(t *testing.T) {
	n := startNode(t)
	const tasks = 300
	launch := make([]raftfsm.Task, tasks)
	for i := range launch {
		// Assigned to a node that does not exist, so no agent runs them.
		launch[i] = raftfsm.Task{ID: fmt.Sprintf("t%03d", i), Framework: "test", Node: "elsewhere", Cmd: "true"}
	}
	if _, err := n.apply(&raftfsm.LaunchTasks{Tasks: launch, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	q := newStatusQueue()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.sendLoop(ctx, n, &controlPlane{n: n, peer: n.peer})
	for i := range launch {
		q.push(raftfsm.StatusUpdate{TaskID: launch[i].ID, State: raftfsm.TaskRunning, At: time.Now()})
		q.push(raftfsm.StatusUpdate{TaskID: launch[i].ID, State: raftfsm.TaskFinished, At: time.Now()})
	}
	waitFor(t, "all updates applied", 20*time.Second, func() bool {
		return len(n.fsm.View().ActiveTasks()) == 0
	})
	for _, task := range n.fsm.View().Tasks() {
		h := task.History
		if len(h) != 3 || h[1].State != raftfsm.TaskRunning || h[2].State != raftfsm.TaskFinished {
			t.Fatalf("task %s history %+v: updates lost or reordered", task.ID, h)
		}
	}
}

func TestLeaderRebuildsAllocationFromReplicatedState(t *testing.T) {
	n := startNode(t)
	v := n.fsm.View()
	total := v.Node(n.id).Total
	// Commit a task that takes half the node, as if placed by an earlier
	// leader, then force a rebuild: the allocator must count it.
	task := raftfsm.Task{ID: "big", Framework: "test", Node: n.id, Cmd: "sleep 30", Resources: raftfsm.Resources{CPUs: total.CPUs / 2, Mem: 32}}
	if _, err := n.apply(&raftfsm.LaunchTasks{Tasks: []raftfsm.Task{task}, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = n.apply(&raftfsm.KillTasks{IDs: []string{"big"}, At: time.Now()}) }()
	l := newLeaderLoop(n, &leaderState{kick: make(chan struct{}, 1)}, newAllocatorForTest())
	l.rebuild()
	free := l.alloc.AgentFree(allocatorAgent(n.id))
	if free.CPUs > total.CPUs/2+1e-9 {
		t.Fatalf("rebuilt allocator shows %.2f cpus free of %.2f with a task holding half", free.CPUs, total.CPUs)
	}
}

// BenchmarkStatusUpdatesThroughRaft measures task status updates committed
// through Raft (bolt on disk, fsync) and applied, the way agents send them:
// through the batching status queue.
func BenchmarkStatusUpdatesThroughRaft(b *testing.B) {
	n := startNode(b)
	launch := make([]raftfsm.Task, b.N)
	for i := range launch {
		launch[i] = raftfsm.Task{ID: fmt.Sprintf("t%d", i), Framework: "bench", Node: "elsewhere", Cmd: "true"}
	}
	for i := 0; i < len(launch); i += launchChunk {
		if _, err := n.apply(&raftfsm.LaunchTasks{Tasks: launch[i:min(i+launchChunk, len(launch))], At: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	q := newStatusQueue()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	go q.sendLoop(ctx, n, &controlPlane{n: n, peer: n.peer})
	for i := range launch {
		q.push(raftfsm.StatusUpdate{TaskID: launch[i].ID, State: raftfsm.TaskFinished, At: time.Now()})
	}
	for len(n.fsm.View().ActiveTasks()) > 0 {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

// A task re-adopted after a restart whose TASK_RUNNING was still queued when
// clusterd died is reported running again, once.
func TestReadoptedTaskStuckInStartingIsReportedRunning(t *testing.T) {
	a := &agent{n: &Node{}, local: map[string]*localTask{"t1": {}}, reported: map[string]bool{}, queue: newStatusQueue()}
	tasks := []*raftfsm.Task{{ID: "t1", Node: "n1", State: raftfsm.TaskStarting}}
	a.reconcile(context.Background(), tasks)
	a.reconcile(context.Background(), tasks)
	got := a.queue.take()
	if len(got) != 1 || got[0].TaskID != "t1" || got[0].State != raftfsm.TaskRunning {
		t.Fatalf("queued %+v, want one TASK_RUNNING for t1", got)
	}
}
