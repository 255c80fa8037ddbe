package node

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/gossip"
	"github.com/clusterd/clusterd/node/jobs"
	"github.com/clusterd/clusterd/node/jobs/schedule"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

const (
	// launchChunk bounds one LaunchTasks entry: log entries stay small (Nomad
	// writes 2.1 MB entries for 1,000-task plans; we do not).
	launchChunk = 128
	// taskRetention is how long terminal tasks are kept when their job
	// says nothing (jobs stored before retention_seconds, Mesos tasks),
	// unless the planner still needs them.
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
	// samples are the utilization history (see sampleUtilization).
	samples []api.UtilizationSample
	// loop is the leader loop, for the Mesos API handlers (set before the
	// state is published in Node.leader; never nil after).
	loop *leaderLoop
	// autoscaler is this leadership's, nil without --autoscale.
	autoscaler *autoscaler
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
	case *raftfsm.TaskStatusBatch, *raftfsm.RegisterNode, *raftfsm.SetNodeState, *raftfsm.UpsertJob, *raftfsm.DeleteJob, *raftfsm.ScaleJob, *raftfsm.StartRun, *raftfsm.KillTasks,
		*raftfsm.Acknowledge, *raftfsm.UpdateRoles, *raftfsm.RemoveFramework:
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

// leaderLoop is the leader's soft state and its goroutine: it owns the
// allocator and the connections of Mesos frameworks. mu guards them: the
// loop holds it for a step, the Mesos API handlers for a call.
type leaderLoop struct {
	n       *Node
	state   *leaderState
	mu      sync.Mutex
	alloc   *allocator.Allocator
	rebuilt uint64 // raft index the allocator was rebuilt at
	started time.Time
	wakeAt  time.Time
	lastGC  time.Time
	// lastSample is when sampleUtilization last recorded.
	lastSample time.Time
	members    membership
	// jobRoles are the roles the built-in framework is registered in.
	jobRoles map[string]bool
	sched    schedulers
	// recovering holds offers back after the leader change (see
	// checkRecovery).
	recovering bool
	// warnedVersion is set once the leader logged why it cannot raise
	// the log version.
	warnedVersion bool
	schedules     scheduleCache
	// stopped is closed when this node stops leading.
	stopped chan struct{}
}

func (n *Node) runLeader(ctx context.Context) {
	n.metrics.isLeader.Set(1)
	defer n.metrics.isLeader.Set(0)
	n.metrics.launches.reset()
	defer n.metrics.clearLeaderMetrics()
	st := &leaderState{kick: make(chan struct{}, 1), pending: map[string]jobs.Pending{}}

	// The barrier makes sure every entry committed by earlier leaders is
	// applied before soft state is rebuilt from the FSM.
	if err := n.raft.raft.Barrier(applyTimeout).Error(); err != nil {
		n.log.Warn("leader barrier failed; stepping back", "err", err)
		return
	}
	if n.fsm.View().ClusterID() == "" {
		id := randomID(8)
		if n.initial != nil {
			id = n.initial.clusterID
		}
		if _, err := n.apply(&raftfsm.SetClusterID{ClusterID: id}); err != nil {
			n.log.Warn("write cluster id", "err", err)
			return
		}
	}
	term := n.raft.raft.Stats()["term"]
	cfg := allocator.DefaultConfig()
	cfg.OfferIDPrefix = "O" + term
	cfg.OfferTimeout = n.cfg.OfferTimeout
	l := newLeaderLoop(n, st, allocator.New(cfg))
	l.raiseLogVersion()
	l.ensureClusterSecrets()
	l.ensureAdminToken()
	l.ensureJoinTokens()
	n.forgetPendingCluster()
	l.mu.Lock()
	l.rebuild()
	l.recovering = true
	l.alloc.Pause()
	l.mu.Unlock()
	if n.autoscale != nil {
		a, err := newAutoscaler(ctx, n, n.autoscale)
		if err != nil {
			n.log.Error("autoscale: not running in this leadership", "err", err)
		}
		st.autoscaler = a
	}
	n.leaderMu.Lock()
	n.leader = st
	n.leaderMu.Unlock()
	defer func() {
		n.leaderMu.Lock()
		n.leader = nil
		n.leaderMu.Unlock()
		close(l.stopped)
		l.mu.Lock()
		l.sched.closeAll("the leader stepped down; subscribe again (to the new leader)")
		l.mu.Unlock()
	}()
	n.log.Info("leading the cluster", "term", term, "agents", len(n.fsm.View().Nodes()))
	if a := st.autoscaler; a != nil {
		go l.every(ctx, a.cfg.interval, func() { a.evaluate(ctx, l) })
	}
	go l.every(ctx, time.Second, l.advanceGossipRotation)

	tick := time.NewTicker(n.cfg.AllocationInterval)
	defer tick.Stop()
	for {
		l.mu.Lock()
		now := n.now()
		l.step(now)
		at := l.nextWake()
		l.mu.Unlock()
		var wake <-chan time.Time
		var timer *time.Timer
		if !at.IsZero() {
			timer = time.NewTimer(at.Sub(now))
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

// every runs f every d until the leadership ends.
func (l *leaderLoop) every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.stopped:
			return
		case <-t.C:
			f()
		}
	}
}

// scheduleCache keeps cron jobs' parsed schedules (parsing loads a time
// zone), by spec and zone.
type scheduleCache map[[2]string]schedule.Schedule

func (c *scheduleCache) parse(spec, tz string) (schedule.Schedule, error) {
	if *c == nil {
		*c = scheduleCache{}
	}
	key := [2]string{spec, tz}
	if s, ok := (*c)[key]; ok {
		return s, nil
	}
	s, err := schedule.Parse(spec, tz)
	if err == nil {
		if len(*c) > 4096 {
			clear(*c)
		}
		(*c)[key] = s
	}
	return s, err
}

func newLeaderLoop(n *Node, st *leaderState, alloc *allocator.Allocator) *leaderLoop {
	l := &leaderLoop{n: n, state: st, alloc: alloc, started: n.now(), jobRoles: map[string]bool{}, stopped: make(chan struct{})}
	l.sched.init(n.metrics)
	st.loop = l
	return l
}

// nextWake is the earliest time something is due: a job's backoff, a
// membership grace period, a status update to resend, a failover timeout.
func (l *leaderLoop) nextWake() time.Time {
	at := time.Time{}
	for _, t := range []time.Time{l.wakeAt, l.members.wakeAt, l.sched.wakeAt} {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	return at
}

// clientID is the allocator's name for a framework in one of its roles: a
// Mesos MULTI_ROLE framework is one allocator framework per role, each
// sorted in its own role by what it holds there, as Mesos's hierarchical
// allocator sorts them. Framework ids never contain '@' (see
// validFrameworkID).
func clientID(fw, role string) allocator.FrameworkID {
	return allocator.FrameworkID(fw + "@" + role)
}

// splitClient is clientID's inverse.
func splitClient(id allocator.FrameworkID) (fw, role string) {
	fw, role, _ = strings.Cut(string(id), "@")
	return fw, role
}

// addClient registers a framework in a role with the allocator; it is a
// no-op when it already is.
func (l *leaderLoop) addClient(fw, name, role string) {
	_ = l.alloc.AddFramework(allocator.Framework{ID: clientID(fw, role), Name: name, Role: role})
}

// rebuild loads roles, agents, reservations, the built-in framework and
// every active task from the replicated state into a fresh allocator.
// Frameworks of the Mesos API are not connected to a new leader: their
// tasks are counted, but they get no offers until they subscribe.
func (l *leaderLoop) rebuild() {
	v := l.n.fsm.View()
	l.rebuilt = v.Index()
	for _, r := range v.Roles() {
		l.applyRole(r)
	}
	l.addJobsRole(jobs.DefaultRole)
	for _, nd := range v.Nodes() {
		l.syncAgent(nd)
	}
	idle := map[allocator.FrameworkID]bool{}
	for _, t := range v.ActiveTasks() {
		id := clientID(t.Framework, t.AllocationRole())
		if t.Framework == jobs.FrameworkID {
			l.addJobsRole(t.AllocationRole())
		} else if _, ok := l.alloc.FrameworkRole(id); !ok {
			// A task of a framework that is not connected right now still
			// holds its resources: account it to that framework, or it
			// would be offered twice.
			l.addClient(t.Framework, t.Framework, t.AllocationRole())
			idle[id] = true
		}
		if err := l.alloc.AddTask(t.ID, id, allocator.AgentID(t.Node), toAlloc(t.Resources)); err != nil {
			l.n.log.Warn("rebuild allocation: task does not fit its node", "task", t.ID, "err", err)
		}
	}
	for id := range idle {
		l.alloc.RemoveFramework(id) // its tasks stay allocated
	}
}

func (l *leaderLoop) addJobsRole(role string) {
	if !l.jobRoles[role] {
		l.jobRoles[role] = true
		l.addClient(jobs.FrameworkID, "clusterd jobs", role)
	}
}

// reviveJobs wants offers again for the built-in framework in every role.
func (l *leaderLoop) reviveJobs() {
	for role := range l.jobRoles {
		l.alloc.Revive(clientID(jobs.FrameworkID, role))
	}
}

func (l *leaderLoop) applyRole(r *raftfsm.Role) {
	if err := l.alloc.SetRoleWeight(r.Name, r.EffectiveWeight()); err != nil {
		l.n.log.Warn("role weight", "role", r.Name, "err", err)
	}
	if r.Name != allocator.DefaultRole {
		if err := l.alloc.SetQuota(r.Name, toAlloc(r.Quota)); err != nil {
			l.n.log.Warn("role quota", "role", r.Name, "err", err)
		}
	}
}

// syncAgent brings the allocator's view of an agent in line with the
// replicated node: gone when down or left, not offered unless ready.
func (l *leaderLoop) syncAgent(nd *raftfsm.Node) {
	id := allocator.AgentID(nd.ID)
	if nd.State == raftfsm.NodeLeft || nd.State == raftfsm.NodeDown {
		l.rescinded(l.alloc.RemoveAgent(id))
		return
	}
	ag := allocator.Agent{ID: id, Hostname: nd.Name, Total: toAlloc(nd.Total), Attributes: nd.Attributes}
	if len(nd.Reserved) > 0 {
		ag.Reserved = map[string]allocator.Resources{}
		for role, r := range nd.Reserved {
			ag.Reserved[role] = toAlloc(r)
		}
	}
	if err := l.alloc.AddAgent(ag); err != nil {
		l.rescinded(l.alloc.UpdateAgent(ag))
	}
	// Dynamic reservations: the allocator keeps those it has; add what the
	// state has beyond them (after a rebuild, all of them).
	have := l.alloc.AgentDynamicReserved(id)
	for role, r := range nd.Dynamic {
		want := toAlloc(r)
		if h, ok := have[role]; ok && h.Contains(want) {
			continue
		}
		if h, ok := have[role]; ok {
			want = want.Sub(h)
		}
		if err := l.alloc.Reserve(id, role, want); err != nil {
			l.n.log.Warn("dynamic reservation does not fit its agent", "agent", nd.Name, "role", role, "err", err)
		}
	}
	if nd.State == raftfsm.NodeReady {
		l.alloc.ActivateAgent(id)
	} else {
		l.rescinded(l.alloc.DeactivateAgent(id))
	}
}

func (l *leaderLoop) syncAgentByID(id string) {
	if nd := l.n.fsm.View().Node(id); nd != nil {
		l.syncAgent(nd)
	}
}

// step feeds new apply results to the allocator, allocates, and lets the
// frameworks act: the built-in one decides here, Mesos frameworks get
// their offers and status updates sent.
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
			for _, t := range ev.res.Ended {
				l.alloc.RemoveTask(t.ID)
				revive = true
			}
			if c.State == raftfsm.NodeDown || c.State == raftfsm.NodeLeft {
				l.sched.agentFailed(c.ID)
			}
		case *raftfsm.UpdateRoles:
			v := l.n.fsm.View()
			for _, u := range c.Updates {
				r := v.Role(u.Role)
				if r == nil {
					r = &raftfsm.Role{Name: u.Role}
				}
				l.applyRole(r)
			}
		case *raftfsm.UpsertJob, *raftfsm.DeleteJob, *raftfsm.ScaleJob, *raftfsm.StartRun, *raftfsm.KillTasks, *raftfsm.RemoveFramework:
			revive = true
		}
	}
	if revive {
		l.reviveJobs()
	}
	l.checkMembership(now)
	l.checkRecovery(now)
	cycle := time.Now()
	l.rescinded(l.alloc.Expire(now))
	l.n.metrics.allocationRuns.Inc()
	offers := l.alloc.Allocate(now)
	l.n.metrics.allocCycle.Observe(time.Since(cycle).Seconds())
	l.n.metrics.offersMade.Add(float64(len(offers)))
	l.sched.sendOffers(l, offers)
	l.runJobs(now)
	l.sched.checkFailovers(l, now)
	l.sched.sendUpdates(l, now)
	l.sampleUtilization(now)
	if now.Sub(l.lastGC) >= gcInterval {
		l.lastGC = now
		l.collectGarbage(now)
	}
	l.observeAllocator(time.Now())
}

// rescinded tells Mesos frameworks their offers are gone.
func (l *leaderLoop) rescinded(offers []allocator.Offer) {
	l.sched.rescind(offers)
}

// checkRecovery resumes offers after a leader change once most agents are
// alive in gossip and most frameworks that were connected to the previous
// leader have subscribed again, or RecoveryTimeout passed: offering
// everything to whoever comes back first would hand the built-in framework
// what the others held (Mesos pauses its allocator for the same reason).
func (l *leaderLoop) checkRecovery(now time.Time) {
	if !l.recovering {
		return
	}
	done := now.Sub(l.started) >= l.n.cfg.RecoveryTimeout
	if !done {
		alive := map[string]bool{l.n.id: true}
		if l.n.gossip != nil {
			for _, m := range l.n.gossip.Members() {
				if m.State == gossip.Alive || m.State == gossip.Suspect {
					alive[m.ID] = true
				}
			}
		}
		v := l.n.fsm.View()
		agents, back := 0, 0
		for _, nd := range v.Nodes() {
			if nd.State == raftfsm.NodeReady {
				agents++
				if alive[nd.ID] {
					back++
				}
			}
		}
		fws, subscribed := 0, 0
		for _, fw := range v.Frameworks() {
			if !fw.Removed() && fw.DisconnectedAt.IsZero() {
				fws++
				if l.sched.connected(fw.ID) {
					subscribed++
				}
			}
		}
		done = mostly(back, agents) && mostly(subscribed, fws)
	}
	if done {
		l.recovering = false
		l.alloc.Resume()
		l.n.log.Info("offers resumed after the leader change", "after", now.Sub(l.started).Round(time.Millisecond))
	} else if due := l.started.Add(l.n.cfg.RecoveryTimeout); l.wakeAt.IsZero() || due.Before(l.wakeAt) {
		l.wakeAt = due
	}
}

// mostly is Mesos's recovery threshold: 80%.
func mostly(part, whole int) bool { return whole == 0 || part*5 >= whole*4 }

// runJobs runs the built-in framework over the offers it holds.
//
// Not while a new leader recovers: until the agents have re-registered,
// the state may still list as running tasks that ended meanwhile, and a
// cron run due then would be skipped for a previous run that is over (or
// an instance replaced twice). Schedules wait for the end of recovery,
// within their epsilon.
func (l *leaderLoop) runJobs(now time.Time) {
	if l.recovering {
		return
	}
	v := l.n.fsm.View()
	in := jobs.Input{Now: now, Jobs: v.Jobs(), Tasks: map[string][]*raftfsm.Task{}, NewTaskID: newTaskID,
		Schedule: l.schedules.parse, Records: v.LogVersion() >= 2}
	for _, j := range in.Jobs {
		in.Tasks[j.Spec.ID] = v.TasksOfJob(j.Spec.ID)
		l.addJobsRole(jobs.RoleOf(j.Spec))
	}
	for role := range l.jobRoles {
		in.Offers = append(in.Offers, l.alloc.FrameworkOffers(clientID(jobs.FrameworkID, role))...)
	}
	for _, nd := range v.Nodes() {
		if nd.State == raftfsm.NodeDraining {
			if in.Moving == nil {
				in.Moving = map[string]bool{}
			}
			in.Moving[nd.ID] = true
		}
		if nd.State != raftfsm.NodeReady {
			continue
		}
		id := allocator.AgentID(nd.ID)
		in.Hosts = append(in.Hosts, jobs.Host{ID: nd.ID, Name: nd.Name, Attributes: nd.Attributes, Total: toAlloc(nd.Total), Free: l.alloc.AgentFree(id).Add(l.alloc.AgentOffered(id))})
	}
	decide := time.Now()
	plan := jobs.Decide(in)
	l.observePlacement(time.Since(decide), plan.Pending)
	l.wakeAt = plan.WakeAt

	for _, acc := range plan.Accepts {
		launches := make([]allocator.Launch, len(acc.Tasks))
		for i, t := range acc.Tasks {
			launches[i] = allocator.Launch{TaskID: t.ID, Resources: toAlloc(t.Resources)}
		}
		// Leftover resources go straight back to the pool, unfiltered: the
		// framework may still have work that fits once something frees up.
		if err := l.alloc.Accept(now, clientID(jobs.FrameworkID, acc.Role), acc.Offers, launches, -1); err != nil {
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
	// Unused offers are declined with the default filter, whether or not
	// something waits: a filter covers only what was declined, so
	// resources that free up on the agent are offered again at once, and
	// meanwhile the offer goes to others (this framework in its other
	// roles among them) instead of coming straight back to the first role
	// in name order. Job changes revive the framework (clearing filters).
	// The filter ends no later than the plan's next due time (a backoff, a
	// schedule), so the offer is back when something can use it.
	var refuse time.Duration // the default filter
	if !plan.WakeAt.IsZero() {
		if until := plan.WakeAt.Sub(now); until < l.alloc.DefaultRefuse() {
			refuse = max(until, time.Millisecond)
		}
	}
	for _, o := range plan.Unused {
		_ = l.alloc.Decline(now, o.Framework, []allocator.OfferID{o.ID}, refuse)
	}
	byReason := map[string][]string{}
	var reasons []string
	for _, k := range plan.Kill {
		if byReason[k.Reason] == nil {
			reasons = append(reasons, k.Reason)
		}
		byReason[k.Reason] = append(byReason[k.Reason], k.ID)
	}
	for _, r := range reasons {
		if _, err := l.n.apply(&raftfsm.KillTasks{IDs: byReason[r], Reason: r, At: now}); err != nil {
			l.n.log.Warn("request kills", "reason", r, "err", err)
		}
	}
	records := make([]raftfsm.Command, 0, len(plan.StartRuns)+len(plan.EndRuns)+len(plan.EndDeployments))
	for i := range plan.StartRuns {
		records = append(records, &plan.StartRuns[i])
	}
	for i := range plan.EndRuns {
		records = append(records, &plan.EndRuns[i])
	}
	for i := range plan.EndDeployments {
		records = append(records, &plan.EndDeployments[i])
	}
	for _, c := range records {
		if _, err := l.n.apply(c); err != nil {
			l.n.log.Warn("record a job's progress", "command", fmt.Sprintf("%T", c), "err", err)
		}
	}
	if len(plan.StartRuns) > 0 {
		l.state.poke() // launch the new runs' tasks at once
	}
	l.state.mu.Lock()
	l.state.pending = plan.Pending
	l.state.mu.Unlock()
}

// collectGarbage forgets terminal tasks that nobody needs: those of deleted
// jobs and earlier attempts, once older than taskRetention.
func (l *leaderLoop) collectGarbage(now time.Time) {
	v := l.n.fsm.View()
	type slot struct {
		job           string
		run, instance int
	}
	latest := map[slot]int{} // latest attempt per job, run and instance
	all := v.Tasks()
	for _, t := range all {
		k := slot{t.Job, t.Run, t.Instance}
		if a, ok := latest[k]; !ok || t.Attempt > a {
			latest[k] = t.Attempt
		}
	}
	var forget []string
	for _, t := range all {
		if t.Active() || len(t.Unacked) > 0 {
			continue // running, or its framework has not heard of its end yet
		}
		j := v.Job(t.Job)
		retention := taskRetention
		if j != nil && j.Spec.RetentionSeconds > 0 {
			retention = time.Duration(j.Spec.RetentionSeconds * float64(time.Second))
		}
		if now.Sub(t.UpdatedAt) < retention {
			continue
		}
		// The planner needs the latest attempt of each instance of a live
		// service, and of the runs still running.
		needed := j != nil && t.Instance < j.Spec.Instances && latest[slot{t.Job, t.Run, t.Instance}] == t.Attempt
		if needed && j.Spec.Type != raftfsm.JobService {
			needed = false
			for _, r := range activeRunsOf(j) {
				needed = needed || r == t.Run
			}
		}
		if !needed {
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

// activeRunsOf are the numbers of a job's running runs (0 for a batch job
// stored before runs existed, whose tasks all belong to run 0).
func activeRunsOf(j *raftfsm.Job) []int {
	if len(j.Runs) == 0 {
		return []int{0}
	}
	var out []int
	for _, r := range j.Runs {
		if r.State == raftfsm.RunRunning {
			out = append(out, r.Number)
		}
	}
	return out
}

func newTaskID(job string, instance int) string {
	return fmt.Sprintf("%s.%d.%s", job, instance, randomID(4))
}
