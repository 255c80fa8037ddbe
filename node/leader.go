package node

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/node/jobs"
	"github.com/clusterd/clusterd/raftfsm"
)

const (
	// launchChunk bounds one LaunchTasks entry: log entries stay small (Nomad
	// writes 2.1 MB entries for 1,000-task plans; we do not).
	launchChunk = 128
	// terminal tasks are forgotten after this long unless they are the
	// latest attempt of a live job's instance (the planner needs those).
	taskRetention = 10 * time.Minute
	gcInterval    = 30 * time.Second
)

// leaderState is the soft state only the leader keeps, rebuilt from the
// replicated state at every leadership change (as in Mesos): the allocator,
// outstanding offers, and why jobs are pending.
type leaderState struct {
	mu sync.Mutex
	// events are apply results not yet fed to the allocator.
	events  []appliedEvent
	kick    chan struct{}
	pending map[string]jobs.Pending
	// usage is each agent's last usage report.
	usage map[string]*usageReport
}

func (l *leaderState) recordUsage(rep *usageReport) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.usage == nil {
		l.usage = map[string]*usageReport{}
	}
	l.usage[rep.Node] = rep
}

// Usage returns an agent's last usage report, or nil.
func (l *leaderState) Usage(node string) *usageReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.usage[node]
}

type appliedEvent struct {
	index uint64
	cmd   raftfsm.Command
	res   *raftfsm.Result
}

// observe queues an apply result for the leader loop. It runs on the caller
// of apply and must not block.
func (l *leaderState) observe(index uint64, cmd raftfsm.Command, res *raftfsm.Result) {
	switch cmd.(type) {
	case *raftfsm.TaskStatusBatch, *raftfsm.RegisterNode, *raftfsm.SetNodeState, *raftfsm.UpsertJob, *raftfsm.DeleteJob, *raftfsm.KillTasks:
	default:
		return // the leader loop wrote it itself, or it does not affect allocation
	}
	l.mu.Lock()
	l.events = append(l.events, appliedEvent{index: index, cmd: cmd, res: res})
	l.mu.Unlock()
	l.poke()
}

func (l *leaderState) poke() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *leaderState) takeEvents() []appliedEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.events
	l.events = nil
	return ev
}

// Pending returns why a job's instances are not placed, if they are not.
func (l *leaderState) Pending(job string) (jobs.Pending, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.pending[job]
	return p, ok
}

// leaderLoop is the leader's single goroutine that owns the allocator.
type leaderLoop struct {
	n       *Node
	state   *leaderState
	alloc   *allocator.Allocator
	rebuilt uint64 // raft index the allocator was rebuilt at
	wakeAt  time.Time
	lastGC  time.Time
	members membership
}

func (n *Node) runLeader(ctx context.Context) {
	n.metrics.isLeader.Set(1)
	defer n.metrics.isLeader.Set(0)
	st := &leaderState{kick: make(chan struct{}, 1), pending: map[string]jobs.Pending{}}
	n.leaderMu.Lock()
	n.leader = st
	n.leaderMu.Unlock()
	defer func() {
		n.leaderMu.Lock()
		n.leader = nil
		n.leaderMu.Unlock()
	}()

	// The barrier makes sure every entry committed by earlier leaders is
	// applied before soft state is rebuilt from the FSM.
	if err := n.raft.raft.Barrier(applyTimeout).Error(); err != nil {
		n.log.Warn("leader barrier failed; stepping back", "err", err)
		return
	}
	if n.fsm.View().ClusterID() == "" {
		if _, err := n.apply(&raftfsm.SetClusterID{ClusterID: randomID(8)}); err != nil {
			n.log.Warn("write cluster id", "err", err)
			return
		}
	}
	term := n.raft.raft.Stats()["term"]
	cfg := allocator.DefaultConfig()
	cfg.OfferIDPrefix = "O" + term
	l := &leaderLoop{n: n, state: st, alloc: allocator.New(cfg)}
	l.rebuild()
	n.log.Info("leading the cluster", "term", term, "agents", len(n.fsm.View().Nodes()))

	tick := time.NewTicker(n.cfg.AllocationInterval)
	defer tick.Stop()
	for {
		l.step(time.Now())
		var wake <-chan time.Time
		at := l.wakeAt
		if m := l.members.wakeAt; !m.IsZero() && (at.IsZero() || m.Before(at)) {
			at = m
		}
		var timer *time.Timer
		if !at.IsZero() {
			timer = time.NewTimer(time.Until(at))
			wake = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-st.kick:
		case <-tick.C:
		case <-wake:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// rebuild loads agents, the built-in framework and every active task from the
// replicated state into a fresh allocator.
func (l *leaderLoop) rebuild() {
	v := l.n.fsm.View()
	l.rebuilt = v.Index()
	_ = l.alloc.AddFramework(allocator.Framework{ID: jobs.FrameworkID, Name: "clusterd jobs", Role: "*"})
	for _, nd := range v.Nodes() {
		l.syncAgent(nd)
	}
	for _, t := range v.ActiveTasks() {
		// A task of a framework that is not connected right now still holds
		// its resources: account it to that framework, or it would be
		// offered twice.
		_ = l.alloc.AddFramework(allocator.Framework{ID: allocator.FrameworkID(t.Framework), Name: t.Framework, Role: "*"})
		if err := l.alloc.AddTask(t.ID, allocator.FrameworkID(t.Framework), allocator.AgentID(t.Node), toAlloc(t.Resources)); err != nil {
			l.n.log.Warn("rebuild allocation: task does not fit its node", "task", t.ID, "err", err)
		}
	}
}

func (l *leaderLoop) syncAgent(nd *raftfsm.Node) {
	if nd.State == raftfsm.NodeLeft || nd.State == raftfsm.NodeDown {
		l.alloc.RemoveAgent(allocator.AgentID(nd.ID))
		return
	}
	ag := allocator.Agent{ID: allocator.AgentID(nd.ID), Hostname: nd.Name, Total: toAlloc(nd.Total), Attributes: nd.Attributes}
	if err := l.alloc.AddAgent(ag); err != nil {
		l.alloc.UpdateAgent(ag)
	}
}

func (l *leaderLoop) syncAgentByID(id string) {
	if nd := l.n.fsm.View().Node(id); nd != nil {
		l.syncAgent(nd)
	}
}

// step feeds new apply results to the allocator, allocates, and lets the
// built-in jobs framework act on its offers.
func (l *leaderLoop) step(now time.Time) {
	revive := false
	for _, ev := range l.state.takeEvents() {
		if ev.index <= l.rebuilt {
			continue // already part of the rebuilt state
		}
		switch c := ev.cmd.(type) {
		case *raftfsm.TaskStatusBatch:
			for _, t := range ev.res.Ended {
				l.alloc.RemoveTask(t.ID)
				revive = true
			}
		case *raftfsm.RegisterNode:
			l.syncAgentByID(c.Node.ID)
		case *raftfsm.SetNodeState:
			l.syncAgentByID(c.ID)
		case *raftfsm.UpsertJob, *raftfsm.DeleteJob, *raftfsm.KillTasks:
			revive = true
		}
	}
	if revive {
		l.alloc.Revive(jobs.FrameworkID)
	}
	l.checkMembership(now)
	l.alloc.Expire(now)
	l.n.metrics.allocationRuns.Inc()
	l.n.metrics.offersMade.Add(float64(len(l.alloc.Allocate(now))))
	l.runJobs(now)
	if now.Sub(l.lastGC) >= gcInterval {
		l.lastGC = now
		l.collectGarbage(now)
	}
}

// runJobs runs the built-in framework over the offers it holds.
func (l *leaderLoop) runJobs(now time.Time) {
	v := l.n.fsm.View()
	in := jobs.Input{Now: now, Jobs: v.Jobs(), Tasks: map[string][]*raftfsm.Task{}, NewTaskID: newTaskID}
	for _, j := range in.Jobs {
		in.Tasks[j.Spec.ID] = v.TasksOfJob(j.Spec.ID)
	}
	for _, o := range l.alloc.Offers() {
		if o.Framework == jobs.FrameworkID {
			in.Offers = append(in.Offers, o)
		}
	}
	for _, nd := range v.Nodes() {
		if nd.State != raftfsm.NodeReady {
			continue
		}
		id := allocator.AgentID(nd.ID)
		in.Hosts = append(in.Hosts, jobs.Host{ID: nd.ID, Name: nd.Name, Total: toAlloc(nd.Total), Free: l.alloc.AgentFree(id).Add(l.alloc.AgentOffered(id))})
	}
	plan := jobs.Decide(in)
	l.wakeAt = plan.WakeAt

	for _, acc := range plan.Accepts {
		launches := make([]allocator.Launch, len(acc.Tasks))
		for i, t := range acc.Tasks {
			launches[i] = allocator.Launch{TaskID: t.ID, Resources: toAlloc(t.Resources)}
		}
		// Leftover resources go straight back to the pool, unfiltered: the
		// framework may still have work that fits once something frees up.
		if err := l.alloc.Accept(now, jobs.FrameworkID, acc.Offers, launches, -1); err != nil {
			l.n.log.Error("built-in framework's accept was rejected", "agent", acc.Agent, "err", err)
			continue
		}
		for start := 0; start < len(acc.Tasks); start += launchChunk {
			chunk := acc.Tasks[start:min(start+launchChunk, len(acc.Tasks))]
			res, err := l.n.apply(&raftfsm.LaunchTasks{Tasks: chunk, At: now})
			if err != nil {
				l.n.log.Warn("commit task launch", "err", err, "tasks", len(chunk))
				for _, t := range chunk {
					l.alloc.RemoveTask(t.ID)
				}
				continue
			}
			l.n.metrics.tasksLaunched.Add(float64(len(res.Launched)))
		}
	}
	if len(plan.Unused) > 0 {
		refuse := time.Duration(0) // default filter: nothing to run
		if plan.Waiting {
			refuse = -1
		}
		_ = l.alloc.Decline(now, jobs.FrameworkID, plan.Unused, refuse)
	}
	if len(plan.Kill) > 0 {
		if _, err := l.n.apply(&raftfsm.KillTasks{IDs: plan.Kill, At: now}); err != nil {
			l.n.log.Warn("request kills", "err", err)
		}
	}
	l.state.mu.Lock()
	l.state.pending = plan.Pending
	l.state.mu.Unlock()
}

// collectGarbage forgets terminal tasks that nobody needs: those of deleted
// jobs and earlier attempts, once older than taskRetention.
func (l *leaderLoop) collectGarbage(now time.Time) {
	v := l.n.fsm.View()
	latest := map[string]map[int]int{} // job -> instance -> latest attempt
	all := v.Tasks()
	for _, t := range all {
		if latest[t.Job] == nil {
			latest[t.Job] = map[int]int{}
		}
		if a, ok := latest[t.Job][t.Instance]; !ok || t.Attempt > a {
			latest[t.Job][t.Instance] = t.Attempt
		}
	}
	var forget []string
	for _, t := range all {
		if t.Active() || now.Sub(t.UpdatedAt) < taskRetention {
			continue
		}
		j := v.Job(t.Job)
		if j == nil || latest[t.Job][t.Instance] != t.Attempt || t.Instance >= j.Spec.Instances {
			forget = append(forget, t.ID)
		}
	}
	sort.Strings(forget)
	for start := 0; start < len(forget); start += 1024 {
		if _, err := l.n.apply(&raftfsm.ForgetTasks{IDs: forget[start:min(start+1024, len(forget))]}); err != nil {
			l.n.log.Warn("forget old tasks", "err", err)
			return
		}
	}
}

func newTaskID(job string, instance int) string {
	return fmt.Sprintf("%s.%d.%s", job, instance, randomID(4))
}
