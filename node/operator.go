package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/node/jobs"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web"
	"github.com/clusterd/clusterd/web/mesos"
)

// The Mesos v1 operator API on the leader: reads from the replicated state
// and the allocator, changes written to Raft (weights, quotas,
// reservations, agent states), and the event stream from the state's
// change feed.

// operatorEventBuffer is how far an operator stream may fall behind before
// it is closed (the client subscribes again and gets the whole state).
const operatorEventBuffer = 4096

func (l *leaderLoop) operatorCall(ctx context.Context, call *mesos.OperatorCall) (*mesos.OperatorResponse, error) {
	resp := &mesos.OperatorResponse{Type: call.Type}
	switch call.Type {
	case mesos.OperatorGetHealth:
		resp.GetHealth = &mesos.GetHealthResponse{Healthy: true}
	case mesos.OperatorGetVersion:
		resp.GetVersion = &mesos.GetVersionResponse{VersionInfo: mesos.VersionInfo{Version: l.n.cfg.Version}}
	case mesos.OperatorGetMaster:
		start, elected := seconds(l.n.started), seconds(l.started)
		resp.GetMaster = &mesos.GetMasterResponse{MasterInfo: l.masterInfo(), StartTime: &start, ElectedTime: &elected}
	case mesos.OperatorGetState:
		resp.GetState = l.getState()
	case mesos.OperatorGetAgents:
		resp.GetAgents = l.getAgents(l.n.fsm.View())
	case mesos.OperatorGetFrameworks:
		resp.GetFrameworks = l.getFrameworks(l.n.fsm.View())
	case mesos.OperatorGetTasks:
		resp.GetTasks = l.getTasks(l.n.fsm.View())
	case mesos.OperatorGetRoles:
		resp.GetRoles = l.getRoles()
	case mesos.OperatorUpdateWeights:
		return nil, l.updateWeights(call.UpdateWeights)
	case mesos.OperatorUpdateQuota:
		return nil, l.updateQuota(call.UpdateQuota)
	case mesos.OperatorReserveResources:
		r := call.ReserveResources
		if len(r.Source) > 0 {
			return nil, callError(400, "Reservation updates ('source') are not supported; unreserve, then reserve anew")
		}
		return nil, l.reserve(r.AgentID.Value, r.Resources, false)
	case mesos.OperatorUnreserveResources:
		return nil, l.reserve(call.UnreserveResources.AgentID.Value, call.UnreserveResources.Resources, true)
	case mesos.OperatorDrainAgent:
		return nil, l.drainAgent(call.DrainAgent)
	case mesos.OperatorDeactivateAgent:
		return nil, l.setAgentState(call.DeactivateAgent.AgentID.Value, raftfsm.NodeInactive, "deactivated by an operator")
	case mesos.OperatorReactivateAgent:
		return nil, l.setAgentState(call.ReactivateAgent.AgentID.Value, raftfsm.NodeReady, "reactivated by an operator")
	case mesos.OperatorTeardown:
		return nil, l.operatorTeardown(call.Teardown.FrameworkID.Value)
	default:
		return nil, callError(501, "Call type '%s' is not supported by clusterd", call.Type)
	}
	return resp, nil
}

func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func timeInfo(t time.Time) *mesos.TimeInfo {
	if t.IsZero() {
		return nil
	}
	return &mesos.TimeInfo{Nanoseconds: mesos.Int64(t.UnixNano())}
}

func (l *leaderLoop) getState() *mesos.GetStateResponse {
	v := l.n.fsm.View()
	return &mesos.GetStateResponse{GetTasks: l.getTasks(v), GetExecutors: &mesos.GetExecutorsResponse{},
		GetFrameworks: l.getFrameworks(v), GetAgents: l.getAgents(v)}
}

// refined is the resource format of the operator API: the refinement form
// of reservations, as Mesos writes it there.
var refined = mesos.ResourceFormat{Refinement: true}

// nodeResources is a node's total split by its reservations.
func nodeResources(nd *raftfsm.Node) mesos.ParsedResources {
	p := mesos.ParsedResources{}
	rest := toAlloc(nd.Total)
	for role, r := range nd.Reserved {
		if p.Static == nil {
			p.Static = map[string]mesos.Amounts{}
		}
		p.Static[role] = fsmToAmounts(r)
		rest = rest.Sub(toAlloc(r))
	}
	for role, r := range nd.Dynamic {
		if p.Dynamic == nil {
			p.Dynamic = map[string]mesos.Amounts{}
		}
		p.Dynamic[role] = fsmToAmounts(r)
		rest = rest.Sub(toAlloc(r))
	}
	p.Unreserved = allocToAmounts(rest)
	return p
}

func plain(r allocator.Resources, role string) []mesos.Resource {
	return mesos.FormatResources(mesos.ParsedResources{Unreserved: allocToAmounts(r)}, mesos.ResourceFormat{AllocationRole: role, Refinement: true})
}

func (l *leaderLoop) operatorAgent(v *raftfsm.View, nd *raftfsm.Node) mesos.OperatorAgent {
	l.mu.Lock()
	allocated, offered := l.alloc.AgentAllocated(allocator.AgentID(nd.ID)), l.alloc.AgentOffered(allocator.AgentID(nd.ID))
	l.mu.Unlock()
	host, port := splitAddr(nd.HTTPAddr)
	total := mesos.FormatResources(nodeResources(nd), refined)
	id := mesos.AgentID{Value: nd.ID}
	pid := "slave(1)@" + nd.HTTPAddr
	a := mesos.OperatorAgent{
		AgentInfo: mesos.AgentInfo{Hostname: nd.Name, Port: &port, Resources: total, Attributes: attributesOf(nd.Attributes), ID: &id},
		Active:    nd.State == raftfsm.NodeReady, Version: nd.Version, PID: &pid,
		RegisteredTime: timeInfo(nd.RegisteredAt), TotalResources: total,
		AllocatedResources: plain(allocated, ""), OfferedResources: plain(offered, ""),
	}
	if host != "" && host != nd.Name {
		a.AgentInfo.Hostname = nd.Name
	}
	if nd.State == raftfsm.NodeInactive || nd.State == raftfsm.NodeDraining {
		t := true
		a.Deactivated = &t
	}
	if nd.State == raftfsm.NodeDraining {
		state := mesos.DrainStateDraining
		if len(v.ActiveTasksOnNode(nd.ID)) == 0 {
			state = mesos.DrainStateDrained
		}
		a.DrainInfo = &mesos.DrainInfo{State: state}
	}
	return a
}

func splitAddr(addr string) (string, int32) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, _ := strconv.Atoi(p)
	return host, int32(port)
}

// getAgents lists the agents that are part of the cluster: down and left
// nodes are not (Mesos lists only registered agents).
func (l *leaderLoop) getAgents(v *raftfsm.View) *mesos.GetAgentsResponse {
	out := &mesos.GetAgentsResponse{}
	for _, nd := range v.Nodes() {
		if nd.State == raftfsm.NodeDown || nd.State == raftfsm.NodeLeft {
			continue
		}
		out.Agents = append(out.Agents, l.operatorAgent(v, nd))
	}
	return out
}

// frameworkHoldings sums what each framework's clients hold, by framework.
func (l *leaderLoop) frameworkHoldings() (allocated, offered map[string]allocator.Resources) {
	allocated, offered = map[string]allocator.Resources{}, map[string]allocator.Resources{}
	for _, s := range l.alloc.Shares() {
		fw, _ := splitClient(s.Framework)
		allocated[fw] = allocated[fw].Add(s.Allocated)
		offered[fw] = offered[fw].Add(s.Offered)
	}
	return allocated, offered
}

func (l *leaderLoop) getFrameworks(v *raftfsm.View) *mesos.GetFrameworksResponse {
	l.mu.Lock()
	defer l.mu.Unlock()
	allocated, offered := l.frameworkHoldings()
	out := &mesos.GetFrameworksResponse{}
	out.Frameworks = append(out.Frameworks, l.jobsFramework(allocated, offered))
	for _, fw := range v.Frameworks() {
		of := l.operatorFramework(fw)
		if fw.Removed() {
			out.CompletedFrameworks = append(out.CompletedFrameworks, of)
			continue
		}
		of.AllocatedResources = plain(allocated[fw.ID], "")
		of.OfferedResources = plain(offered[fw.ID], "")
		if c := l.sched.conns[fw.ID]; c != nil {
			for _, r := range c.roles {
				for _, o := range l.alloc.FrameworkOffers(clientID(fw.ID, r)) {
					of.Offers = append(of.Offers, l.mesosOffer(c, o))
				}
			}
		}
		out.Frameworks = append(out.Frameworks, of)
	}
	return out
}

// frameworkInfo is the FrameworkInfo a framework last sent.
func frameworkInfo(fw *raftfsm.Framework) mesos.FrameworkInfo {
	var fi mesos.FrameworkInfo
	if len(fw.Info) == 0 || json.Unmarshal(fw.Info, &fi) != nil {
		fi = mesos.FrameworkInfo{Name: fw.Name, User: fw.User, Roles: fw.Roles}
	}
	fi.ID = &mesos.FrameworkID{Value: fw.ID}
	return fi
}

// operatorFramework describes a framework; l.mu is held.
func (l *leaderLoop) operatorFramework(fw *raftfsm.Framework) mesos.OperatorFramework {
	connected := l.sched.conns[fw.ID] != nil
	of := mesos.OperatorFramework{FrameworkInfo: frameworkInfo(fw), Active: connected, Connected: connected,
		RegisteredTime: timeInfo(fw.RegisteredAt), ReregisteredTime: timeInfo(fw.ReregisteredAt)}
	if fw.Removed() {
		of.UnregisteredTime = timeInfo(fw.RemovedAt)
	} else if !connected {
		of.UnregisteredTime = timeInfo(fw.DisconnectedAt)
	}
	return of
}

// jobsFramework is the built-in framework as the operator API shows it:
// one framework among the others, always connected to the leader.
func (l *leaderLoop) jobsFramework(allocated, offered map[string]allocator.Resources) mesos.OperatorFramework {
	roles := sortedKeys(l.jobRoles)
	host := l.n.cfg.NodeName
	fi := mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: jobs.FrameworkID}, Name: "clusterd jobs", User: "root",
		Roles: roles, Hostname: &host, Capabilities: []mesos.FrameworkInfoCapability{{Type: mesos.CapabilityMultiRole}}}
	of := mesos.OperatorFramework{FrameworkInfo: fi, Active: true, Connected: true, RegisteredTime: timeInfo(l.started),
		AllocatedResources: plain(allocated[jobs.FrameworkID], ""), OfferedResources: plain(offered[jobs.FrameworkID], "")}
	self := &fwConn{id: jobs.FrameworkID, info: fi}
	for _, role := range roles {
		for _, o := range l.alloc.FrameworkOffers(clientID(jobs.FrameworkID, role)) {
			of.Offers = append(of.Offers, l.mesosOffer(self, o))
		}
	}
	return of
}

// operatorTask is a task as mesos.proto's Task.
func operatorTask(t *raftfsm.Task) mesos.Task {
	out := mesos.Task{Name: t.Name, TaskID: mesos.TaskID{Value: t.ID}, FrameworkID: mesos.FrameworkID{Value: t.Framework},
		AgentID: mesos.AgentID{Value: t.Node}, State: t.State, Resources: plain(toAlloc(t.Resources), t.AllocationRole())}
	if out.Name == "" {
		out.Name = t.ID
	}
	for _, s := range t.History {
		out.Statuses = append(out.Statuses, statusEvent(t, s).Update.Status)
	}
	latest := t.History[len(t.History)-1:]
	if len(t.Unacked) > 0 {
		latest = t.Unacked[:1]
	}
	if len(latest) == 1 {
		st := latest[0].State
		out.StatusUpdateState = &st
		out.StatusUpdateUUID = latest[0].UUID
	}
	if t.User != "" {
		u := t.User
		out.User = &u
	}
	return out
}

func (l *leaderLoop) getTasks(v *raftfsm.View) *mesos.GetTasksResponse {
	out := &mesos.GetTasksResponse{}
	for _, t := range v.Tasks() {
		if t.Active() {
			out.Tasks = append(out.Tasks, operatorTask(t))
		} else {
			out.CompletedTasks = append(out.CompletedTasks, operatorTask(t))
		}
	}
	return out
}

// getRoles lists every role something refers to: a weight or quota, a
// framework or task, a reservation.
func (l *leaderLoop) getRoles() *mesos.GetRolesResponse {
	v := l.n.fsm.View()
	names := map[string]bool{allocator.DefaultRole: true}
	for _, r := range v.Roles() {
		names[r.Name] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.alloc.Roles() {
		names[r] = true
	}
	frameworks := map[string]map[string]bool{}
	for _, s := range l.alloc.Shares() {
		fw, role := splitClient(s.Framework)
		if frameworks[role] == nil {
			frameworks[role] = map[string]bool{}
		}
		frameworks[role][fw] = true
	}
	out := &mesos.GetRolesResponse{}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		allocated := l.alloc.RoleAllocated(name)
		// Weight and quota from the replicated state, which a change reaches
		// first (the allocator gets it on the leader loop's next step).
		conf := v.Role(name)
		r := mesos.Role{Name: name, Weight: conf.EffectiveWeight(), Resources: plain(allocated, name), Allocated: plain(allocated, name),
			Offered: plain(l.alloc.RoleOffered(name), name)}
		if name != allocator.DefaultRole {
			r.Reserved = mesos.FormatResources(mesos.ParsedResources{Static: map[string]mesos.Amounts{name: allocToAmounts(l.alloc.RoleReserved(name))}}, refined)
		}
		for _, fw := range slices.Sorted(maps.Keys(frameworks[name])) {
			r.Frameworks = append(r.Frameworks, mesos.FrameworkID{Value: fw})
		}
		if conf != nil && !toAlloc(conf.Quota).IsZero() {
			r.Quota = &mesos.RoleQuota{Role: name, Limits: scalarMap(toAlloc(conf.Quota)), Consumed: scalarMap(l.alloc.RoleConsumed(name))}
		}
		out.Roles = append(out.Roles, r)
	}
	return out
}

// scalarMap is the scalar part of r by resource name, as quota configs
// write it; zero kinds are left out.
func scalarMap(r allocator.Resources) map[string]mesos.Scalar {
	m := map[string]mesos.Scalar{}
	for name, v := range map[string]float64{mesos.ResourceCPUs: r.CPUs, mesos.ResourceMem: r.Mem, mesos.ResourceDisk: r.Disk, mesos.ResourceGPUs: float64(r.GPUs)} {
		if v != 0 {
			m[name] = mesos.Scalar{Value: v}
		}
	}
	return m
}

func (l *leaderLoop) updateWeights(u *mesos.OperatorUpdateWeightsInfo) error {
	var updates []raftfsm.RoleUpdate
	for _, w := range u.WeightInfos {
		weight := w.Weight
		updates = append(updates, raftfsm.RoleUpdate{Role: strings.TrimSpace(w.Role), Weight: &weight})
	}
	return l.updateRoles(updates)
}

// updateQuota sets quota limits. Guarantees are refused: clusterd enforces
// limits only, and a guarantee it would not honour must not look set.
func (l *leaderLoop) updateQuota(u *mesos.OperatorUpdateQuotaInfo) error {
	var updates []raftfsm.RoleUpdate
	for i, qc := range u.QuotaConfigs {
		if len(qc.Guarantees) > 0 {
			return callError(400, "quota_configs[%d]: quota guarantees are not supported (clusterd enforces limits); set 'limits' only", i)
		}
		if qc.Role == allocator.DefaultRole {
			return callError(400, "quota_configs[%d]: the default role '*' cannot have a quota", i)
		}
		var q raftfsm.Resources
		for name, v := range qc.Limits {
			if v.Value == 0 {
				// Mesos reads 0 as "none of it"; clusterd's limits cannot
				// say that yet, and must not silently mean "no limit".
				return callError(400, "quota_configs[%d].limits.%s: a limit of 0 is not supported; leave %s out for no limit", i, name, name)
			}
			switch name {
			case mesos.ResourceCPUs:
				q.CPUs = v.Value
			case mesos.ResourceMem:
				q.Mem = v.Value
			case mesos.ResourceDisk:
				q.Disk = v.Value
			case mesos.ResourceGPUs:
				if v.Value != math.Trunc(v.Value) {
					return callError(400, "quota_configs[%d].limits.gpus: %v is not a whole number of GPUs", i, v.Value)
				}
				q.GPUs = int(v.Value)
			default:
				return callError(400, "quota_configs[%d].limits: %q cannot be limited (cpus, mem, disk, gpus can)", i, name)
			}
		}
		updates = append(updates, raftfsm.RoleUpdate{Role: qc.Role, Quota: &q})
	}
	return l.updateRoles(updates)
}

func (l *leaderLoop) updateRoles(updates []raftfsm.RoleUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	res, err := l.n.apply(&raftfsm.UpdateRoles{Updates: updates, At: time.Now()})
	if res != nil && res.Err != nil {
		return callError(400, "%v", res.Err)
	}
	return err
}

// reserve makes (or, with unreserve, returns) dynamic reservations of an
// agent's free resources. Offers on the agent are rescinded when they hold
// what is asked for, as Mesos does; what tasks use cannot be reserved.
func (l *leaderLoop) reserve(agentID string, rs []mesos.Resource, unreserve bool) error {
	verb, field := "reserve", "reserve_resources.resources"
	if unreserve {
		verb, field = "unreserve", "unreserve_resources.resources"
	}
	nd := l.n.fsm.View().Node(agentID)
	if nd == nil || nd.State == raftfsm.NodeDown || nd.State == raftfsm.NodeLeft {
		return callError(400, "No agent found with specified ID '%s'", agentID)
	}
	p, err := mesos.ParseResources(field, rs)
	if err != nil {
		return callError(400, "%v", err)
	}
	if len(p.Static) > 0 || !p.Unreserved.IsZero() {
		return callError(400, "%s: only dynamic reservations can be %sd", field, verb)
	}
	id := allocator.AgentID(agentID)
	var ops []raftfsm.ReservationOp
	l.mu.Lock()
	for _, role := range slices.Sorted(maps.Keys(p.Dynamic)) {
		res := amountsToAlloc(p.Dynamic[role])
		do := func() error {
			if unreserve {
				return l.alloc.Unreserve(id, role, res)
			}
			return l.alloc.Reserve(id, role, res)
		}
		err := do()
		if errors.Is(err, allocator.ErrUnknownAgent) {
			// Registered, but the loop has not taken the registration in
			// yet (it does at its next step): take it in now.
			l.syncAgent(nd)
			err = do()
		}
		if errors.Is(err, allocator.ErrOverCommit) && l.alloc.AgentActive(id) {
			l.rescinded(l.alloc.DeactivateAgent(id))
			l.alloc.ActivateAgent(id)
			err = do()
		}
		if err != nil {
			for _, op := range ops { // undo the roles done so far
				if unreserve {
					_ = l.alloc.Reserve(id, op.Role, toAlloc(op.Resources))
				} else {
					_ = l.alloc.Unreserve(id, op.Role, toAlloc(op.Resources))
				}
			}
			l.mu.Unlock()
			if errors.Is(err, allocator.ErrOverCommit) {
				return callError(409, "Cannot %s: %v", verb, err)
			}
			return callError(400, "Cannot %s: %v", verb, err)
		}
		ops = append(ops, raftfsm.ReservationOp{Node: agentID, Role: role, Resources: allocToFSM(res), Unreserve: unreserve})
	}
	l.mu.Unlock()
	l.state.poke()
	if _, err := l.n.apply(&raftfsm.ReserveResources{Ops: ops, At: time.Now()}); err != nil {
		return fmt.Errorf("commit %s: %w", verb, err)
	}
	return nil
}

// operatorTeardown removes a framework for an operator: its tasks are
// killed and its stream, if it has one, ends with an ERROR.
func (l *leaderLoop) operatorTeardown(id string) error {
	if id == jobs.FrameworkID {
		return callError(400, "The built-in framework %s cannot be torn down; delete its jobs instead", id)
	}
	if fw := l.n.fsm.View().Framework(id); fw == nil || fw.Removed() {
		return callError(400, "No framework found with specified ID '%s'", id)
	}
	if _, err := l.n.apply(&raftfsm.RemoveFramework{ID: id, Reason: "torn down by an operator", At: time.Now()}); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.sched.conns[id]; c != nil {
		c.send(&mesos.Event{Type: mesos.EventError, Error: &mesos.EventErrorInfo{Message: "Framework removed by an operator"}})
		l.dropConn(c)
	}
	l.n.log.Info("framework torn down by an operator", "framework", id)
	return nil
}

// drainAgent stops offers from an agent and kills its tasks, within the
// grace period given (their frameworks replace them elsewhere).
func (l *leaderLoop) drainAgent(d *mesos.OperatorDrainAgentInfo) error {
	if d.MarkGone != nil && *d.MarkGone {
		return callError(400, "'mark_gone' is not supported: drain the agent, then remove it with `clusterd leave` on it")
	}
	if err := l.setAgentState(d.AgentID.Value, raftfsm.NodeDraining, "drained by an operator"); err != nil {
		return err
	}
	// max_grace_period caps each task's own grace period: tasks are
	// killed in groups of the same effective grace.
	byGrace := map[float64][]string{}
	for _, t := range l.n.fsm.View().ActiveTasksOnNode(d.AgentID.Value) {
		g := grace(t.KillGraceSeconds).Seconds()
		if d.MaxGracePeriod != nil {
			g = max(min(g, float64(d.MaxGracePeriod.Nanoseconds)/1e9), minGrace)
		}
		byGrace[g] = append(byGrace[g], t.ID)
	}
	for g, ids := range byGrace {
		if _, err := l.n.apply(&raftfsm.KillTasks{IDs: ids, GraceSeconds: &g, At: time.Now()}); err != nil {
			return err
		}
	}
	return nil
}

func (l *leaderLoop) setAgentState(id, state, reason string) error {
	nd := l.n.fsm.View().Node(id)
	if nd == nil || nd.State == raftfsm.NodeDown || nd.State == raftfsm.NodeLeft {
		return callError(400, "No agent found with specified ID '%s'", id)
	}
	if nd.State == state {
		return nil
	}
	l.n.log.Info("node state change", "node", nd.Name, "id", nd.ID, "from", nd.State, "to", state, "reason", reason)
	_, err := l.n.apply(&raftfsm.SetNodeState{ID: id, State: state, Reason: reason, At: time.Now()})
	return err
}

// operatorSubscribe streams the state's changes as operator events, from
// the state the SUBSCRIBED event holds on. It ends with the leadership or
// when the client falls too far behind.
func (l *leaderLoop) operatorSubscribe(ctx context.Context) (*web.OperatorSubscription, error) {
	from := l.n.fsm.View().Index()
	hb := l.n.cfg.HeartbeatInterval.Seconds()
	events := make(chan *mesos.OperatorEvent, operatorEventBuffer)
	events <- &mesos.OperatorEvent{Type: mesos.OperatorEventSubscribed, Subscribed: &mesos.OperatorSubscribedEvent{GetState: l.getState(), HeartbeatIntervalSeconds: &hb}}
	sctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(events)
		pos := from
		for {
			changed := l.n.fsm.Changed()
			changes, through, ok := l.n.fsm.ChangesSince(pos)
			if !ok {
				return // fell behind the feed: the client must read the state again
			}
			pos = through
			for _, c := range changes {
				if ev := l.operatorEvent(c); ev != nil {
					select {
					case events <- ev:
					default:
						return // too slow
					}
				}
			}
			select {
			case <-sctx.Done():
				return
			case <-l.stopped:
				return
			case <-changed:
			}
		}
	}()
	return &web.OperatorSubscription{Heartbeat: l.n.cfg.HeartbeatInterval, Events: events, Close: cancel}, nil
}

// operatorEvent is the operator event a state change makes, if any.
func (l *leaderLoop) operatorEvent(c raftfsm.Change) *mesos.OperatorEvent {
	switch c.Table {
	case raftfsm.ChangedTask:
		after, _ := c.After.(*raftfsm.Task)
		if after == nil {
			return nil
		}
		before, _ := c.Before.(*raftfsm.Task)
		if before == nil {
			return &mesos.OperatorEvent{Type: mesos.OperatorEventTaskAdded, TaskAdded: &mesos.TaskAddedEvent{Task: operatorTask(after)}}
		}
		if before.State == after.State {
			return nil
		}
		st := statusEvent(after, after.History[len(after.History)-1]).Update.Status
		return &mesos.OperatorEvent{Type: mesos.OperatorEventTaskUpdated, TaskUpdated: &mesos.TaskUpdatedEvent{
			FrameworkID: mesos.FrameworkID{Value: after.Framework}, Status: st, State: after.State}}
	case raftfsm.ChangedNode:
		after, _ := c.After.(*raftfsm.Node)
		before, _ := c.Before.(*raftfsm.Node)
		gone := func(n *raftfsm.Node) bool {
			return n == nil || n.State == raftfsm.NodeDown || n.State == raftfsm.NodeLeft
		}
		switch {
		case gone(before) && !gone(after):
			return &mesos.OperatorEvent{Type: mesos.OperatorEventAgentAdded, AgentAdded: &mesos.AgentAddedEvent{Agent: l.operatorAgent(l.n.fsm.View(), after)}}
		case !gone(before) && gone(after):
			return &mesos.OperatorEvent{Type: mesos.OperatorEventAgentRemoved, AgentRemoved: &mesos.AgentRemovedEvent{AgentID: mesos.AgentID{Value: before.ID}}}
		}
	case raftfsm.ChangedFramework:
		after, _ := c.After.(*raftfsm.Framework)
		before, _ := c.Before.(*raftfsm.Framework)
		if after == nil {
			return nil // a removed framework's record was pruned
		}
		l.mu.Lock()
		of := l.operatorFramework(after)
		l.mu.Unlock()
		switch {
		case after.Removed() && (before == nil || !before.Removed()):
			return &mesos.OperatorEvent{Type: mesos.OperatorEventFrameworkRemoved, FrameworkRemoved: &mesos.FrameworkRemovedEvent{FrameworkInfo: of.FrameworkInfo}}
		case before == nil:
			return &mesos.OperatorEvent{Type: mesos.OperatorEventFrameworkAdded, FrameworkAdded: &mesos.FrameworkEvent{Framework: of}}
		case !after.Removed():
			return &mesos.OperatorEvent{Type: mesos.OperatorEventFrameworkUpdated, FrameworkUpdated: &mesos.FrameworkEvent{Framework: of}}
		}
	}
	return nil
}
