package node

import (
	"context"
	"fmt"
	"github.com/clusterd/clusterd/node/failpoint"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/isolate"
	"github.com/clusterd/clusterd/node/health"
	"github.com/clusterd/clusterd/raftfsm"
)

// maxStatusBatch bounds one TaskStatusBatch entry.
const maxStatusBatch = 1024

// agent turns the tasks the replicated state assigns to this node into
// processes, and their ends into status updates. One goroutine (run) owns
// its maps; status updates go out through the statusQueue's sender.
type agent struct {
	n   *Node
	iso isolate.Isolator
	cp  *controlPlane
	gpu *gpuAssigner
	// state is the latest answer about this node's tasks.
	state *taskWatch
	// local are tasks started (or re-adopted) here and not yet exited.
	local map[string]*localTask
	// reported are tasks whose terminal update was sent but is not applied
	// yet: the state still lists them as active, and they must not start again.
	reported map[string]bool
	// finished are tasks that ended here; their sandboxes and logs are
	// removed once the cluster forgot them (see leader.collectGarbage).
	finished     map[string]bool
	lastSweep    time.Time
	lastLogCheck time.Time
	launched     chan launchResult
	slots        chan struct{}
	inflight     sync.WaitGroup
	// syncedAt is the Raft index of this agent's registration. Until the
	// state it reads has applied it, that state may be a stale replay (right
	// after a restart) and must not decide what to kill or start.
	syncedAt   uint64
	registered bool
	queue      *statusQueue
	health     *health.Monitor
}

type localTask struct {
	killing bool
	// launching is true until the launch goroutine reported back; an exit
	// that arrives before that is kept in early and reported after
	// TASK_RUNNING, so updates reach the log in order.
	launching bool
	early     *isolate.Exit
	// runningSent is set once TASK_RUNNING was queued for it.
	runningSent bool
	// runningAt is when it started running here. checked is set once its
	// health checks were started (they are never started twice: after an
	// unhealthy verdict it waits to be replaced); monitored while they run.
	runningAt time.Time
	checked   bool
	monitored bool
	// killedFor says why the cluster killed it, for its last message: the
	// kill reason, and the failed check of an unhealthy task.
	killedFor string
	unhealthy string
}

// launchResult is what a launch goroutine hands back to the agent loop.
type launchResult struct {
	taskID string
	at     time.Time
	err    error
}

// logCheckInterval is how often running tasks' logs are checked against
// the size cap.
const logCheckInterval = 10 * time.Second

// maxParallelLaunches bounds concurrent Launch calls: each is mostly waiting
// on the filesystem (sandbox, log files, checkpoint) and on fork/exec.
const maxParallelLaunches = 16

func (n *Node) runAgent(ctx context.Context) {
	a := &agent{n: n, iso: n.iso, cp: &controlPlane{n: n, peer: n.peer}, local: map[string]*localTask{}, reported: map[string]bool{}, finished: map[string]bool{},
		queue: newStatusQueue(), launched: make(chan launchResult, maxParallelLaunches), slots: make(chan struct{}, maxParallelLaunches)}
	running, err := a.iso.Recover(ctx)
	if err != nil {
		n.log.Error("re-adopt running tasks", "err", err)
	}
	alive := map[string]bool{}
	for _, r := range running {
		a.local[r.TaskID] = &localTask{}
		alive[r.TaskID] = true
	}
	if a.gpu, err = newGPUAssigner(filepath.Join(n.cfg.DataDir, "agent"), n.totalResources().GPUs); err != nil {
		n.log.Error("GPU assignments", "err", err)
		a.gpu, _ = newGPUAssigner(n.cfg.DataDir, 0)
	}
	a.gpu.keepOnly(alive)
	if len(running) > 0 {
		n.log.Info("re-adopted running tasks", "count", len(running))
	}
	a.health = a.newHealthMonitor()
	defer a.health.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.queue.sendLoop(ctx, n, a.cp) }()
	watches := make(chan taskWatch, 1)
	go func() { defer wg.Done(); a.watchLoop(ctx, watches) }()
	defer wg.Wait()
	defer a.inflight.Wait()

	retry := time.NewTicker(500 * time.Millisecond)
	defer retry.Stop()
	for {
		if !a.registered {
			a.register(ctx)
		}
		select {
		case <-ctx.Done():
			if n.cfg.Dev || n.stopTasksOnExit.Load() {
				a.stopAll()
			}
			return
		case w := <-watches:
			a.state = &w
			if w.Node == nil || w.Node.State == raftfsm.NodeLeft {
				if a.registered && w.Index >= a.syncedAt && !n.stopTasksOnExit.Load() {
					a.registered = false // the cluster forgot this node: register again
				}
			}
		case r := <-a.launched:
			a.launchDone(r)
		case c := <-a.health.Changes():
			a.healthChanged(c)
		case e := <-a.iso.Exits():
			a.exited(e)
			// Drain what else has ended, so one reconcile covers a burst.
			for more := true; more; {
				select {
				case e := <-a.iso.Exits():
					a.exited(e)
				default:
					more = false
				}
			}
		case <-retry.C:
		}
		if a.registered && a.state != nil && a.state.Index >= a.syncedAt {
			a.reconcile(ctx, a.state.Tasks)
			a.sweep(ctx, time.Now())
		}
	}
}

// watchLoop keeps a blocking query open for this node's tasks and hands
// every answer to the agent loop (the newest replaces one not yet taken).
func (a *agent) watchLoop(ctx context.Context, out chan taskWatch) {
	var index uint64
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		w, err := a.cp.watchTasks(ctx, index)
		if err != nil {
			a.n.log.Debug("watch this node's tasks", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff + rand.N(backoff/2)):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if w.Index < index {
			// An answer from a replica that is behind: wait for a newer one.
			continue
		}
		index = w.Index
		select {
		case <-out:
		default:
		}
		out <- w
	}
}

// stopAll kills every local task and waits (bounded) for them to exit. Only
// a --dev node does this: its data dir is deleted on exit, so nothing could
// re-adopt the tasks it leaves behind.
func (a *agent) stopAll() {
	a.inflight.Wait() // launches finish (or give up) first
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	left := map[string]bool{}
	for _, r := range a.iso.Running() {
		if err := a.iso.Kill(ctx, r.TaskID, 2*time.Second); err == nil {
			left[r.TaskID] = true
		}
	}
	for len(left) > 0 {
		select {
		case e := <-a.iso.Exits():
			delete(left, e.TaskID)
		case <-ctx.Done():
			a.n.log.Warn("dev node: tasks still running at exit", "count", len(left))
			return
		}
	}
}

// totalResources is what this node offers: the detected resources, with
// those given by --resources instead.
func (n *Node) totalResources() raftfsm.Resources {
	total := machineToFSM(n.machine)
	o, set := n.cfg.Resources, n.cfg.ResourcesSet
	if set.CPUs {
		total.CPUs = o.CPUs
	}
	if set.Mem {
		total.Mem = o.Mem
	}
	if set.Disk {
		total.Disk = o.Disk
	}
	if set.GPUs {
		total.GPUs = o.GPUs
	}
	if set.Ports {
		total.Ports = apiToFSM(o).Ports
	}
	return total
}

// reservedResources is the node's static reservations, as registered.
func (n *Node) reservedResources() map[string]raftfsm.Resources {
	if len(n.cfg.Reserved) == 0 {
		return nil
	}
	out := make(map[string]raftfsm.Resources, len(n.cfg.Reserved))
	for role, r := range n.cfg.Reserved {
		out[role] = apiToFSM(r)
	}
	return out
}

// checkReservations fails when the static reservations do not fit in what
// the node has: the operator asked for something the machine cannot give.
func (n *Node) checkReservations() error {
	var sum allocator.Resources
	for _, r := range n.reservedResources() {
		sum = sum.Add(toAlloc(r))
	}
	if total := toAlloc(n.totalResources()); !total.Contains(sum) {
		return fmt.Errorf("the reservations in --resources (%v together) do not fit in the node's resources (%v); reserve less", sum, total)
	}
	return nil
}

// register tells the leader what this node offers. Until a leader exists it
// fails and is retried.
func (a *agent) register(ctx context.Context) {
	n := a.n
	total := n.totalResources()
	nd := raftfsm.Node{
		ID: n.id, Name: n.cfg.NodeName, HTTPAddr: n.httpAddr, RaftAddr: string(n.raft.transport.LocalAddr()),
		Isolator: a.iso.Name(), Version: n.cfg.Version, Total: total, Reserved: n.reservedResources(), Attributes: n.cfg.Attributes, State: raftfsm.NodeReady,
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	index, err := a.cp.apply(rctx, &raftfsm.RegisterNode{Node: nd, At: time.Now()})
	if err != nil {
		n.log.Debug("register with the leader", "err", err)
		return
	}
	a.registered, a.syncedAt = true, index
	n.log.Info("registered as an agent", "cpus", total.CPUs, "mem_mib", total.Mem, "disk_mib", total.Disk)
}

// reconcile compares what the state says this node should run with what it
// runs: it starts new tasks, kills those marked for killing and those the
// state no longer lists as active.
func (a *agent) reconcile(ctx context.Context, tasks []*raftfsm.Task) {
	want := make(map[string]bool, len(tasks))
	now := time.Now()
	for _, t := range tasks {
		want[t.ID] = true
		lt := a.local[t.ID]
		switch {
		case lt == nil && a.reported[t.ID]:
			// Its end is on its way to the log.
		case lt == nil && t.KillRequested:
			a.report(t.ID, raftfsm.TaskKilled, "killed before it started", nil, now)
		case lt == nil:
			a.launch(ctx, t, now)
		case t.KillRequested && !lt.killing:
			lt.killedFor = t.KillReason
			a.kill(ctx, t.ID, lt, grace(t.KillGraceSeconds))
			a.queue.push(raftfsm.StatusUpdate{TaskID: t.ID, State: raftfsm.TaskKilling, At: now})
		case !lt.launching && !lt.runningSent && (t.State == raftfsm.TaskStaging || t.State == raftfsm.TaskStarting):
			// Re-adopted after a restart whose TASK_RUNNING never reached
			// the log (it was queued when clusterd died): send it again.
			lt.runningSent = true
			a.queue.push(raftfsm.StatusUpdate{TaskID: t.ID, State: raftfsm.TaskRunning, Message: "re-adopted after an agent restart", At: now})
		}
		if lt := a.local[t.ID]; lt != nil && !lt.launching && !lt.killing && !lt.checked && len(t.HealthChecks) > 0 &&
			(t.Healthy == nil || *t.Healthy) {
			a.startHealth(t, lt, now)
		}
	}
	for id, lt := range a.local {
		if !want[id] && !lt.killing {
			a.n.log.Info("killing a task the cluster no longer lists as active", "task", id)
			a.kill(ctx, id, lt, grace(0))
		}
	}
	for id := range a.reported {
		if !want[id] {
			delete(a.reported, id)
		}
	}
}

func grace(seconds float64) time.Duration {
	if seconds <= 0 {
		return 5 * time.Second
	}
	return time.Duration(seconds * float64(time.Second))
}

// runsAs is the user a task asks to run as, which the agent must allow:
// its user, or root for the relaxed profile without one (it keeps the
// limits but not the sandbox, and runs as root); "" for the hardened
// profile's dynamic user.
func runsAs(t *raftfsm.Task) string {
	if t.User == "" && t.Profile == isolate.ProfileRelaxed {
		return "root"
	}
	return t.User
}

// launch starts a task in the background; launchDone gets the result.
func (a *agent) launch(ctx context.Context, t *raftfsm.Task, now time.Time) {
	if user := runsAs(t); user != "" && !slices.Contains(a.n.cfg.AllowUsers, user) {
		why := fmt.Sprintf("user %q is not allowed on node %s: start its agent with --allow-user %s to permit it", user, a.n.cfg.NodeName, user)
		if t.User == "" {
			why = fmt.Sprintf("the relaxed profile runs a task as root, which node %s does not allow: start its agent with --allow-user root to permit it, or drop \"profile\": \"relaxed\"", a.n.cfg.NodeName)
		}
		a.report(t.ID, raftfsm.TaskFailed, why, nil, now)
		return
	}
	gpus, err := a.gpu.assign(t.ID, t.Resources.GPUs)
	if err != nil {
		a.report(t.ID, raftfsm.TaskFailed, fmt.Sprintf("launch failed: %v", err), nil, now)
		return
	}
	spec := isolate.LaunchSpec{
		TaskID: t.ID, Cmd: t.Cmd, Env: t.Env, KillGrace: grace(t.KillGraceSeconds), Profile: t.Profile, User: t.User,
		Limits: isolate.Limits{CPUs: t.Resources.CPUs, MemMiB: t.Resources.Mem, DiskMiB: t.Resources.Disk, GPUs: gpus},
	}
	a.local[t.ID] = &localTask{launching: true}
	a.queue.push(raftfsm.StatusUpdate{TaskID: t.ID, State: raftfsm.TaskStarting, At: now})
	a.inflight.Add(1)
	go func() {
		defer a.inflight.Done()
		a.slots <- struct{}{}
		_, err := a.iso.Launch(ctx, spec)
		<-a.slots
		select {
		case a.launched <- launchResult{taskID: spec.TaskID, at: time.Now(), err: err}:
		case <-ctx.Done():
		}
	}()
}

func (a *agent) launchDone(r launchResult) {
	lt := a.local[r.taskID]
	if lt == nil {
		return
	}
	lt.launching = false
	if r.err != nil {
		delete(a.local, r.taskID)
		a.gpu.release(r.taskID)
		a.report(r.taskID, raftfsm.TaskFailed, fmt.Sprintf("launch failed: %v", r.err), nil, r.at)
		return
	}
	a.queue.push(raftfsm.StatusUpdate{TaskID: r.taskID, State: raftfsm.TaskRunning, At: r.at})
	lt.runningSent = true
	lt.runningAt = r.at
	if lt.early != nil {
		a.exited(*lt.early)
	} else if lt.killing {
		// A kill was requested while it was starting.
		a.kill(context.Background(), r.taskID, lt, 0)
	}
}

func (a *agent) kill(ctx context.Context, id string, lt *localTask, g time.Duration) {
	lt.killing = true
	a.stopHealth(id, lt)
	if lt.launching {
		return // launchDone kills it once it has started
	}
	if err := a.iso.Kill(ctx, id, g); err != nil {
		a.n.log.Warn("kill task", "task", id, "err", err)
	}
}

// report sends a terminal update and remembers it was sent.
func (a *agent) report(id, state, msg string, code *int, at time.Time) {
	a.reportReason(id, state, msg, "", code, at)
}

func (a *agent) reportReason(id, state, msg, reason string, code *int, at time.Time) {
	a.reported[id] = true
	a.queue.push(raftfsm.StatusUpdate{TaskID: id, State: state, Message: msg, Reason: reason, ExitCode: code, At: at})
}

// killMessage is a killed task's last message: why it was killed, when
// the cluster said.
func killMessage(lt *localTask) string {
	switch {
	case lt == nil || lt.killedFor == "":
		return "killed"
	case lt.unhealthy != "":
		return "killed (" + lt.killedFor + "): " + lt.unhealthy
	}
	return "killed (" + lt.killedFor + ")"
}

// exited maps an isolator exit to the Mesos terminal state.
func (a *agent) exited(e isolate.Exit) {
	if lt := a.local[e.TaskID]; lt != nil && lt.launching {
		lt.early = &e
		return
	}
	lt := a.local[e.TaskID]
	a.stopHealth(e.TaskID, lt)
	delete(a.local, e.TaskID)
	a.gpu.release(e.TaskID)
	a.finished[e.TaskID] = true
	at := e.Time
	if at.IsZero() {
		at = time.Now()
	}
	if e.Limitation == isolate.LimitationMemory {
		msg := e.Message
		if msg == "" {
			msg = "killed: out of memory (exceeded its mem limit)"
		}
		var code *int
		if e.Reason == isolate.Exited {
			code = &e.ExitCode
		}
		a.reportReason(e.TaskID, raftfsm.TaskFailed, msg, raftfsm.ReasonMemoryLimit, code, at)
		return
	}
	switch e.Reason {
	case isolate.Exited:
		code := e.ExitCode
		if code == 0 {
			a.report(e.TaskID, raftfsm.TaskFinished, "exited with code 0", &code, at)
		} else {
			a.report(e.TaskID, raftfsm.TaskFailed, fmt.Sprintf("exited with code %d", code), &code, at)
		}
	case isolate.Killed:
		a.report(e.TaskID, raftfsm.TaskKilled, killMessage(lt), nil, at)
	case isolate.Signaled:
		a.report(e.TaskID, raftfsm.TaskFailed, fmt.Sprintf("terminated by signal %s", e.Signal), nil, at)
	case isolate.Lost:
		a.report(e.TaskID, raftfsm.TaskLost, e.Message, nil, at)
	default:
		a.report(e.TaskID, raftfsm.TaskFailed, e.Message, nil, at)
	}
}

// sweep caps the logs of running tasks, and removes the files of finished
// tasks the cluster no longer lists.
func (a *agent) sweep(ctx context.Context, now time.Time) {
	if now.Sub(a.lastLogCheck) >= logCheckInterval {
		a.lastLogCheck = now
		for id := range a.local {
			for _, stream := range []string{"stdout", "stderr"} {
				if _, err := isolate.RotateLog(a.iso.LogPath(id, stream), a.n.cfg.TaskLogMaxBytes); err != nil {
					a.n.log.Warn("cap task log", "task", id, "err", err)
				}
			}
		}
	}
	if now.Sub(a.lastSweep) < gcInterval {
		return
	}
	a.lastSweep = now
	rm, ok := a.iso.(isolate.Remover)
	if !ok {
		return
	}
	for id := range a.finished {
		if known, err := a.cp.taskKnown(ctx, id); err != nil || known {
			continue
		}
		if err := rm.Remove(id); err != nil {
			a.n.log.Warn("remove files of a forgotten task", "task", id, "err", err)
		}
		delete(a.finished, id)
	}
}

// statusQueue collects status updates and sends them to the leader in
// batches: while one batch is being committed the next accumulates, so a
// burst of exits costs a few Raft entries, not one each.
type statusQueue struct {
	mu      sync.Mutex
	pending []raftfsm.StatusUpdate
	wake    chan struct{}
}

func newStatusQueue() *statusQueue { return &statusQueue{wake: make(chan struct{}, 1)} }

func (q *statusQueue) push(u raftfsm.StatusUpdate) {
	q.mu.Lock()
	q.pending = append(q.pending, u)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *statusQueue) take() []raftfsm.StatusUpdate {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.pending), maxStatusBatch)
	batch := q.pending[:n:n]
	q.pending = q.pending[n:]
	return batch
}

// requeue puts a batch that failed to send back in front, keeping order.
func (q *statusQueue) requeue(batch []raftfsm.StatusUpdate) {
	q.mu.Lock()
	q.pending = append(batch, q.pending...)
	q.mu.Unlock()
}

// sendLoop delivers updates at least once, retrying with backoff while there
// is no leader. Order per task is kept: a batch is sent whole and retried
// before anything queued after it.
func (q *statusQueue) sendLoop(ctx context.Context, n *Node, cp *controlPlane) {
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		for {
			batch := q.take()
			if len(batch) == 0 {
				break
			}
			failpoint.Inject(failpoint.StatusSendBefore)
			_, err := cp.apply(ctx, &raftfsm.TaskStatusBatch{Updates: batch})
			failpoint.Inject(failpoint.StatusSendAfter)
			if err != nil {
				q.requeue(batch)
				n.log.Debug("send status updates", "err", err, "updates", len(batch))
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 2*time.Second)
				continue
			}
			backoff = 50 * time.Millisecond
			n.metrics.statusUpdates.Add(float64(len(batch)))
		}
	}
}
