package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/clusterd/clusterd/node/failpoint"
	"github.com/clusterd/clusterd/web/api"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web"
	"github.com/clusterd/clusterd/web/mesos"
)

// The Mesos v1 scheduler API on the leader. Frameworks and their tasks are
// replicated (raftfsm); what lives here is soft state, rebuilt empty by
// every new leader: which framework holds which event stream, and which
// status update was last sent on it. Frameworks reconnect to a new leader
// (followers answer 307) and get their unacknowledged updates again.

const (
	// eventBuffer is how many events a framework may fall behind before its
	// stream is closed (it re-subscribes and reconciles).
	eventBuffer = 4096
	// maxStatusRetry caps the doubling wait between resends of an
	// unacknowledged status update (Mesos agents: 10s doubling to 10min).
	maxStatusRetry = 10 * time.Minute
	// reconnectHeartbeats is how many heartbeat intervals a framework that
	// was connected to the previous leader has to subscribe to this one
	// before its failover timeout counts.
	reconnectHeartbeats = 5
)

// schedulers is the leader's soft state of Mesos frameworks. Every method
// runs with leaderLoop.mu held.
type schedulers struct {
	conns map[string]*fwConn // by framework id
	// gone is when frameworks lost their stream on this leader; their
	// failover timeout runs from then.
	gone map[string]time.Time
	// wakeAt is when the next update resend or failover timeout is due.
	wakeAt time.Time
	closed bool // the leader stepped down: no more subscriptions
	m      *metrics
}

// fwConn is one framework's subscription: its event stream and what was
// sent on it.
type fwConn struct {
	m        *metrics
	id       string
	name     string
	streamID string
	info     mesos.FrameworkInfo
	roles    []string
	events   chan *mesos.Event
	done     bool
	sent     map[string]*sentUpdate // task id → the update last sent
}

type sentUpdate struct {
	uuid []byte
	next time.Time
	wait time.Duration
}

func (s *schedulers) init(m *metrics) {
	s.conns = map[string]*fwConn{}
	s.gone = map[string]time.Time{}
	s.m = m
}

func (s *schedulers) connected(id string) bool { return s.conns[id] != nil }

// closeAll ends every stream: the leader stepped down.
func (s *schedulers) closeAll(why string) {
	s.closed = true
	for _, c := range s.conns {
		c.end()
	}
	clear(s.conns)
	s.m.frameworks.Set(0)
}

// send queues an event on the stream; a framework too slow to take it loses
// its stream rather than an event (it subscribes again and reconciles).
func (c *fwConn) send(ev *mesos.Event) bool {
	if c.done {
		return false
	}
	select {
	case c.events <- ev:
		c.m.mesosEvents.WithLabelValues(ev.Type).Inc()
		return true
	default:
		c.m.mesosDropped.Inc()
		c.end()
		return false
	}
}

func (c *fwConn) end() {
	if !c.done {
		c.done = true
		close(c.events)
	}
}

// multiRole reports whether the framework sees allocation roles on offers
// and resources (Mesos strips them for frameworks without MULTI_ROLE).
func (c *fwConn) multiRole() bool { return c.info.HasCapability(mesos.CapabilityMultiRole) }

func (c *fwConn) partitionAware() bool {
	return c.info.HasCapability(mesos.CapabilityPartitionAware)
}

// callError is an error answer with a Mesos-documented status and message.
func callError(status int, format string, args ...any) error {
	return &web.MesosError{Status: status, Message: fmt.Sprintf(format, args...)}
}

// rolesOf is the roles a framework asks for: roles (MULTI_ROLE), else role,
// else the default role.
func rolesOf(fi *mesos.FrameworkInfo) []string {
	if len(fi.Roles) > 0 {
		return slices.Clone(fi.Roles)
	}
	if fi.Role != nil && *fi.Role != "" {
		return []string{*fi.Role}
	}
	return []string{allocator.DefaultRole}
}

// validFrameworkID: framework ids name allocator clients as "id@role", and
// appear in paths and unit names: letters, digits, '.', '_' and '-'.
func validFrameworkID(id string) error {
	if id == "" || len(id) > 200 {
		return fmt.Errorf("framework id %q must be 1 to 200 characters", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("framework id %q may contain only letters, digits, '.', '_' and '-'", id)
		}
	}
	return nil
}

// frameworkRecord turns a SUBSCRIBE's or UPDATE_FRAMEWORK's framework info
// into the replicated record, checking what the wire types cannot.
func frameworkRecord(fi mesos.FrameworkInfo, id string) (raftfsm.Framework, error) {
	roles := rolesOf(&fi)
	seen := map[string]bool{}
	for _, r := range roles {
		if err := mesos.ValidateRole(r); err != nil {
			return raftfsm.Framework{}, callError(400, "Invalid role '%s': %v", r, err)
		}
		if seen[r] {
			return raftfsm.Framework{}, callError(400, "Role '%s' is listed twice in 'framework_info.roles'", r)
		}
		seen[r] = true
	}
	fo := 0.0
	if fi.FailoverTimeout != nil {
		fo = *fi.FailoverTimeout
		if !(fo >= 0) || fo > 1e12 {
			return raftfsm.Framework{}, callError(400, "'framework_info.failover_timeout' %v is not a non-negative number of seconds", fo)
		}
	}
	fi.ID = &mesos.FrameworkID{Value: id}
	raw, err := json.Marshal(fi)
	if err != nil {
		return raftfsm.Framework{}, fmt.Errorf("encode framework info: %w", err)
	}
	rec := raftfsm.Framework{ID: id, Name: fi.Name, User: fi.User, Roles: roles, FailoverTimeout: fo, Info: raw}
	if fi.Principal != nil {
		rec.Principal = *fi.Principal
	}
	for _, c := range fi.Capabilities {
		rec.Capabilities = append(rec.Capabilities, c.Type)
	}
	return rec, nil
}

// subscribe carries out a validated SUBSCRIBE: it registers (or
// re-registers) the framework in the replicated state, then gives it a
// fresh event stream whose first event is SUBSCRIBED. A framework that
// subscribes again takes over: its previous stream gets an ERROR and ends.
func (l *leaderLoop) subscribe(call *mesos.Call) (*web.MesosSubscription, error) {
	fi := call.Subscribe.FrameworkInfo
	id := ""
	if fi.ID != nil {
		id = fi.ID.Value
		if err := validFrameworkID(id); err != nil {
			return nil, callError(400, "%v", err)
		}
	} else {
		id = l.n.fsm.View().ClusterID() + "-" + randomID(4)
	}
	rec, err := frameworkRecord(fi, id)
	if err != nil {
		return nil, err
	}
	res, err := l.n.apply(&raftfsm.SubscribeFramework{Framework: rec, At: time.Now()})
	if res != nil && res.Err != nil {
		// Mesos answers a removed framework on the stream, not with an
		// HTTP error.
		return errorSubscription(l.n.cfg.HeartbeatInterval, res.Err.Error()), nil
	}
	if err != nil {
		return nil, err
	}
	info := fi
	info.ID = &mesos.FrameworkID{Value: id}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sched.closed {
		return nil, l.n.notLeader()
	}
	c := &fwConn{m: l.n.metrics, id: id, name: fi.Name, streamID: randomUUID(), info: info, roles: rec.Roles,
		events: make(chan *mesos.Event, eventBuffer), sent: map[string]*sentUpdate{}}
	if old := l.sched.conns[id]; old != nil {
		old.send(&mesos.Event{Type: mesos.EventError, Error: &mesos.EventErrorInfo{Message: "Framework failed over"}})
		old.end()
		// Its offers were made to the old stream: take them back (its tasks
		// stay allocated); the new one gets offers of its own.
		for _, r := range old.roles {
			l.alloc.RemoveFramework(clientID(id, r))
		}
	}
	l.sched.conns[id] = c
	l.n.metrics.frameworks.Set(float64(len(l.sched.conns)))
	delete(l.sched.gone, id)
	for _, r := range c.roles {
		l.addClient(id, c.name, r)
		if slices.Contains(call.Subscribe.SuppressedRoles, r) {
			l.alloc.Suppress(clientID(id, r))
		} else {
			l.alloc.Revive(clientID(id, r))
		}
	}
	hb := l.n.cfg.HeartbeatInterval.Seconds()
	c.send(&mesos.Event{Type: mesos.EventSubscribed, Subscribed: &mesos.EventSubscribedInfo{
		FrameworkID: mesos.FrameworkID{Value: id}, HeartbeatIntervalSeconds: &hb, MasterInfo: l.masterInfo()}})
	l.n.log.Info("framework subscribed", "framework", id, "name", fi.Name, "roles", c.roles)
	l.state.poke()
	return &web.MesosSubscription{StreamID: c.streamID, FrameworkID: id, Heartbeat: l.n.cfg.HeartbeatInterval,
		Events: c.events, Close: func() { l.disconnect(c) }}, nil
}

// errorSubscription is a stream that says why the framework cannot
// subscribe and ends.
func errorSubscription(hb time.Duration, msg string) *web.MesosSubscription {
	ch := make(chan *mesos.Event, 1)
	ch <- &mesos.Event{Type: mesos.EventError, Error: &mesos.EventErrorInfo{Message: msg}}
	close(ch)
	return &web.MesosSubscription{StreamID: randomUUID(), Heartbeat: hb, Events: ch, Close: func() {}}
}

// disconnect ends a framework's subscription when its stream closes: its
// offers are taken back and its failover timeout starts.
func (l *leaderLoop) disconnect(c *fwConn) {
	l.mu.Lock()
	current := l.sched.conns[c.id] == c
	c.end()
	if current {
		delete(l.sched.conns, c.id)
		l.n.metrics.frameworks.Set(float64(len(l.sched.conns)))
		for _, r := range c.roles {
			l.alloc.RemoveFramework(clientID(c.id, r))
		}
		l.sched.gone[c.id] = time.Now()
	}
	l.mu.Unlock()
	if !current {
		return
	}
	l.n.log.Info("framework disconnected", "framework", c.id)
	go func() {
		// Recorded so a later leader times it out from now, not from when
		// it took over.
		if _, err := l.n.apply(&raftfsm.DisconnectFramework{ID: c.id, At: time.Now()}); err != nil {
			l.n.log.Debug("record framework disconnection", "framework", c.id, "err", err)
		}
		l.state.poke()
	}()
}

// masterInfo describes this leader for SUBSCRIBED.
func (l *leaderLoop) masterInfo() *mesos.MasterInfo {
	host, portStr, _ := net.SplitHostPort(l.n.httpAddr)
	port, _ := strconv.Atoi(portStr)
	version := l.n.cfg.Version
	mi := &mesos.MasterInfo{ID: l.n.id, Port: uint32(port), Hostname: &host, Version: &version,
		Address: &mesos.Address{Hostname: &host, IP: &host, Port: int32(port)}}
	if ip := net.ParseIP(host).To4(); ip != nil {
		// MasterInfo.ip is the IPv4 address in network byte order, read as
		// a little-endian integer (as Mesos writes it).
		mi.IP = uint32(ip[0]) | uint32(ip[1])<<8 | uint32(ip[2])<<16 | uint32(ip[3])<<24
	}
	return mi
}

// schedulerCall carries out a validated non-SUBSCRIBE call of the framework
// subscribed with streamID.
func (l *leaderLoop) schedulerCall(ctx context.Context, streamID string, call *mesos.Call) error {
	fwID := call.FrameworkID.Value
	l.mu.Lock()
	c := l.sched.conns[fwID]
	switch {
	case l.sched.closed:
		l.mu.Unlock()
		return l.n.notLeader()
	case c == nil:
		l.mu.Unlock()
		if fw := l.n.fsm.View().Framework(fwID); fw == nil || fw.Removed() {
			return callError(400, "Framework cannot be found")
		}
		return callError(403, "Framework is not subscribed")
	case streamID == "":
		l.mu.Unlock()
		return callError(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
	case c.streamID != streamID:
		l.mu.Unlock()
		return callError(400, "The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s", streamID, fwID)
	}
	now := time.Now()
	switch call.Type {
	case mesos.CallAccept:
		return l.accept(c, call.Accept, now) // unlocks
	case mesos.CallDecline:
		refuse := refuseOf(call.Decline.Filters)
		for _, id := range call.Decline.OfferIDs {
			if o, ok := l.alloc.Offer(allocator.OfferID(id.Value)); ok {
				if fw, _ := splitClient(o.Framework); fw == c.id {
					_ = l.alloc.Decline(now, o.Framework, []allocator.OfferID{o.ID}, refuse)
				}
			}
		}
		l.state.poke()
	case mesos.CallRevive:
		var roles []string
		if call.Revive != nil {
			roles = call.Revive.Roles
		}
		for _, r := range l.callRoles(c, roles) {
			l.alloc.Revive(clientID(c.id, r))
		}
		l.state.poke()
	case mesos.CallSuppress:
		roles := []string(nil)
		if call.Suppress != nil {
			roles = call.Suppress.Roles
		}
		for _, r := range l.callRoles(c, roles) {
			l.alloc.Suppress(clientID(c.id, r))
		}
	case mesos.CallKill:
		l.mu.Unlock()
		return l.kill(c, call.Kill)
	case mesos.CallAcknowledge:
		l.mu.Unlock()
		return l.acknowledge(c, call.Acknowledge)
	case mesos.CallReconcile:
		l.reconcile(c, call.Reconcile)
	case mesos.CallTeardown:
		l.mu.Unlock()
		return l.teardown(c)
	case mesos.CallUpdateFramework:
		l.mu.Unlock()
		return l.updateFramework(c, call.UpdateFramework)
	case mesos.CallMessage, mesos.CallShutdown, mesos.CallRequest:
		// clusterd runs command tasks without custom executors: there is no
		// executor to message or shut down. REQUEST is ignored, as in Mesos.
	}
	l.mu.Unlock()
	_ = ctx
	return nil
}

// callRoles is the roles a REVIVE or SUPPRESS names, or all the
// framework's roles when it names none; roles it is not subscribed to are
// skipped, as Mesos does.
func (l *leaderLoop) callRoles(c *fwConn, roles []string) []string {
	if len(roles) == 0 {
		return c.roles
	}
	var out []string
	for _, r := range roles {
		if slices.Contains(c.roles, r) {
			out = append(out, r)
		}
	}
	return out
}

// minGrace stands for a zero grace period (kill at once): a task's zero
// means the default of 5 s.
const minGrace = 0.001

func refuseOf(f *mesos.Filters) time.Duration {
	s := f.Refuse()
	if !(s > 0) {
		return -1 // no filter
	}
	return time.Duration(min(s, 365*24*3600) * float64(time.Second))
}

// accept carries out an ACCEPT as Mesos does: offers that are not valid as
// a whole drop every task in the call (TASK_DROPPED, or TASK_LOST for
// frameworks that are not partition-aware, with REASON_INVALID_OFFERS);
// otherwise operations apply in order and each task is checked on its own:
// an invalid one gets TASK_ERROR while the others launch. Called with l.mu
// held; it unlocks.
func (l *leaderLoop) accept(c *fwConn, call *mesos.CallAcceptInfo, now time.Time) error {
	var ids []allocator.OfferID
	role, agent := "", allocator.AgentID("")
	mixedRoles := false
	for _, id := range call.OfferIDs {
		ids = append(ids, allocator.OfferID(id.Value))
		if o, ok := l.alloc.Offer(allocator.OfferID(id.Value)); ok {
			if fw, r := splitClient(o.Framework); fw == c.id {
				if role != "" && r != role {
					mixedRoles = true
				}
				role, agent = r, o.Agent
			}
		}
	}
	if role == "" {
		role = c.roles[0]
	}
	var ops []allocator.Operation
	var drafts map[string]raftfsm.Task
	var launchIDs []string         // every task of the call, in order
	refused := map[string]string{} // task id → why it gets TASK_ERROR
	opIndex := map[int]int{}       // allocator op → index in call.Operations
	for i, op := range call.Operations {
		field := fmt.Sprintf("accept.operations[%d]", i)
		switch op.Type {
		case mesos.OperationLaunch:
			var launches []allocator.Launch
			for j, ti := range op.Launch.TaskInfos {
				launchIDs = append(launchIDs, ti.TaskID.Value)
				task, res, err := taskFromInfo(c, role, agent, &ti, fmt.Sprintf("%s.launch.task_infos[%d]", field, j))
				if err != nil {
					refused[ti.TaskID.Value] = err.Error()
					continue
				}
				if drafts == nil {
					drafts = map[string]raftfsm.Task{}
				}
				drafts[task.ID] = task
				launches = append(launches, allocator.Launch{TaskID: task.ID, Resources: res})
			}
			opIndex[len(ops)] = i
			ops = append(ops, allocator.Operation{Launch: launches})
		case mesos.OperationReserve, mesos.OperationUnreserve:
			var rs []mesos.Resource
			if op.Reserve != nil {
				rs = op.Reserve.Resources
			} else if op.Unreserve != nil {
				rs = op.Unreserve.Resources
			}
			res, err := reservationOf(field, rs, role)
			if err != nil {
				l.n.log.Info("dropped an invalid reservation operation", "framework", c.id, "err", err)
				continue
			}
			opIndex[len(ops)] = i
			if op.Type == mesos.OperationReserve {
				ops = append(ops, allocator.Operation{Reserve: &res})
			} else {
				ops = append(ops, allocator.Operation{Unreserve: &res})
			}
		default:
			l.n.log.Info("dropped an unsupported offer operation", "framework", c.id, "type", op.Type)
		}
	}
	var results []allocator.OperationResult
	var err error
	if mixedRoles {
		// The allocator would consume them the same way; the message is ours.
		for _, id := range ids {
			if o, ok := l.alloc.Offer(id); ok {
				_ = l.alloc.Decline(now, o.Framework, []allocator.OfferID{id}, -1)
			}
		}
		err = fmt.Errorf("the offers were made to the framework in different roles; accept the offers of one role at a time")
	} else {
		results, err = l.alloc.AcceptOperations(now, clientID(c.id, role), ids, ops, refuseOf(call.Filters))
	}
	if err != nil {
		state := mesos.TaskLost
		if c.partitionAware() {
			state = mesos.TaskDropped
		}
		// Mesos checks the offers first: every task of the call is dropped.
		msg := "Task launched with invalid offers: " + offerProblem(err)
		told := true
		for _, id := range launchIDs {
			told = c.send(c.taskEvent(id, string(agent), state, mesos.ReasonInvalidOffers, msg, now)) && told
		}
		l.mu.Unlock()
		return untold(told)
	}
	var launch []raftfsm.Task
	var reservations []raftfsm.ReservationOp
	for _, r := range results {
		op := ops[r.Index]
		switch {
		case op.Launch != nil && r.Err != nil:
			refused[r.Task] = taskProblem(r.Err)
		case op.Launch != nil:
			launch = append(launch, drafts[r.Task])
		case r.Err != nil:
			l.n.log.Info("dropped a reservation operation", "framework", c.id, "operation", opIndex[r.Index], "err", r.Err)
		case op.Reserve != nil:
			reservations = append(reservations, raftfsm.ReservationOp{Node: string(agent), Role: role, Resources: allocToFSM(*op.Reserve)})
		case op.Unreserve != nil:
			reservations = append(reservations, raftfsm.ReservationOp{Node: string(agent), Role: role, Resources: allocToFSM(*op.Unreserve), Unreserve: true})
		}
	}
	told := true
	for _, id := range launchIDs { // in the order of the call
		if why, ok := refused[id]; ok {
			told = c.send(c.taskEvent(id, string(agent), mesos.TaskError, mesos.ReasonTaskInvalid, why, now)) && told
		}
	}
	l.mu.Unlock()
	if len(launch) == 0 && len(reservations) == 0 && !told {
		return untold(told)
	}
	l.state.poke() // what was left of the offers is free again
	if len(reservations) > 0 {
		if _, err := l.n.apply(&raftfsm.ReserveResources{Ops: reservations, At: now}); err != nil {
			l.n.log.Warn("commit reservations", "framework", c.id, "err", err)
		}
	}
	for start := 0; start < len(launch); start += launchChunk {
		chunk := launch[start:min(start+launchChunk, len(launch))]
		res, err := l.n.apply(&raftfsm.LaunchTasks{Tasks: chunk, At: now})
		if err != nil {
			l.n.log.Warn("commit task launch", "framework", c.id, "err", err, "tasks", len(chunk))
			l.mu.Lock()
			for _, t := range launch[start:] {
				l.alloc.RemoveTask(t.ID)
			}
			l.mu.Unlock()
			// The call must not be answered 202: the framework would wait
			// for updates of tasks that do not exist (the fault suite found
			// this with a leader paused past its term). Not the leader:
			// nothing was committed, and the 307 sends the framework to the
			// new leader, whose answer to these offers is TASK_DROPPED/LOST.
			// Otherwise the outcome is unknown: the framework reconciles.
			var nl *api.NotLeaderError
			if errors.As(err, &nl) {
				return err
			}
			return fmt.Errorf("launch of %d tasks from %s on: %w (reconcile them: they may or may not have been launched)", len(launch)-start, chunk[0].ID, err)
		}
		l.n.metrics.tasksLaunched.Add(float64(len(res.Launched)))
	}
	return nil
}

// untold is the answer to an ACCEPT whose tasks were all dropped: 202 when
// the framework's stream took the updates that say so, and otherwise the
// 403 of a framework that is not subscribed (its stream ended as the call
// came): a 202 would leave it waiting for tasks that do not exist.
func untold(told bool) error {
	if told {
		return nil
	}
	return callError(403, "Framework is not subscribed")
}

// taskProblem words why a task of an accept was refused.
func taskProblem(err error) string {
	var oe *allocator.OfferError
	if errors.As(err, &oe) {
		return oe.Detail
	}
	return err.Error()
}

// offerProblem words why an accept's offers are invalid.
func offerProblem(err error) string {
	var oe *allocator.OfferError
	if errors.As(err, &oe) {
		return oe.Detail
	}
	return err.Error()
}

// kill asks for a framework's task to be killed. A task the cluster does
// not know (or no longer runs) is answered with its state at once, as Mesos
// does.
func (l *leaderLoop) kill(c *fwConn, k *mesos.CallKillInfo) error {
	t := l.n.fsm.View().Task(k.TaskID.Value)
	if t != nil && t.Framework != c.id {
		t = nil
	}
	if t == nil || !t.Active() {
		// Mesos answers a kill it cannot carry out by reconciling the task.
		agent := ""
		if k.AgentID != nil {
			agent = k.AgentID.Value
		}
		l.mu.Lock()
		c.send(l.reconcileEvent(c, k.TaskID.Value, agent, t))
		l.mu.Unlock()
		return nil
	}
	var grace *float64
	if k.KillPolicy != nil && k.KillPolicy.GracePeriod != nil {
		g := max(float64(k.KillPolicy.GracePeriod.Nanoseconds)/1e9, minGrace)
		grace = &g
	}
	_, err := l.n.apply(&raftfsm.KillTasks{IDs: []string{t.ID}, GraceSeconds: grace, At: time.Now()})
	return err
}

// acknowledge commits a framework's acknowledgement of a task's oldest
// unacknowledged update. One that does not match it (late, duplicate, of
// an unknown task) is ignored, as Mesos ignores it; the call is still 202.
func (l *leaderLoop) acknowledge(c *fwConn, a *mesos.CallAcknowledgeInfo) error {
	t := l.n.fsm.View().Task(a.TaskID.Value)
	if t == nil || t.Framework != c.id || len(t.Unacked) == 0 || !bytes.Equal(t.Unacked[0].UUID, a.UUID) {
		l.n.log.Debug("ignored an acknowledgement that matches no pending update", "framework", c.id, "task", a.TaskID.Value)
		return nil
	}
	failpoint.Inject(failpoint.AckBefore)
	_, err := l.n.apply(&raftfsm.Acknowledge{Acks: []raftfsm.Ack{{Framework: c.id, TaskID: t.ID, UUID: a.UUID}}})
	failpoint.Inject(failpoint.AckAfter)
	return err
}

// reconcile answers from the committed state: explicit reconciliation
// with the state of each task named, implicit with every task the
// framework has that is active or has updates not yet acknowledged.
func (l *leaderLoop) reconcile(c *fwConn, r *mesos.CallReconcileInfo) {
	v := l.n.fsm.View()
	if len(r.Tasks) == 0 {
		for _, t := range v.TasksOfFramework(c.id) {
			if t.Active() || len(t.Unacked) > 0 {
				c.send(l.reconcileEvent(c, t.ID, t.Node, t))
			}
		}
		return
	}
	for _, rt := range r.Tasks {
		t := v.Task(rt.TaskID.Value)
		if t != nil && t.Framework != c.id {
			t = nil
		}
		agent := ""
		if rt.AgentID != nil {
			agent = rt.AgentID.Value
		}
		c.send(l.reconcileEvent(c, rt.TaskID.Value, agent, t))
	}
}

// reconcileEvent is an UPDATE with a task's latest state. For a task the
// cluster does not know, the state says what is known of its agent, as
// Mesos answers: TASK_GONE when the agent is registered (it does not run
// the task), TASK_UNREACHABLE when it is down, TASK_GONE_BY_OPERATOR when
// it left, TASK_UNKNOWN when the agent is unknown or not given, and
// TASK_LOST for all of them to frameworks that are not partition-aware.
// It carries no uuid: nothing to acknowledge.
func (l *leaderLoop) reconcileEvent(c *fwConn, taskID, agent string, t *raftfsm.Task) *mesos.Event {
	if t == nil {
		state, msg := mesos.TaskUnknown, "Reconciliation: Task is unknown"
		if nd := l.n.fsm.View().Node(agent); agent != "" && nd != nil {
			switch nd.State {
			case raftfsm.NodeDown:
				state, msg = mesos.TaskUnreachable, "Reconciliation: Task is unreachable"
			case raftfsm.NodeLeft:
				state, msg = mesos.TaskGoneByOp, "Reconciliation: Task is gone"
			default:
				state, msg = mesos.TaskGone, "Reconciliation: Task is unknown to the agent"
			}
		}
		if !c.partitionAware() {
			state = mesos.TaskLost
		}
		return c.taskEvent(taskID, agent, state, mesos.ReasonReconciliation, msg, time.Now())
	}
	msg := t.Message
	if msg == "" {
		msg = "Reconciliation: Latest task state"
	}
	return c.taskEvent(t.ID, t.Node, t.State, mesos.ReasonReconciliation, msg, t.UpdatedAt)
}

// taskEvent is an UPDATE the leader generates (no uuid).
func (c *fwConn) taskEvent(taskID, agent, state, reason, msg string, at time.Time) *mesos.Event {
	src := mesos.SourceMaster
	st := mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}, State: state, Source: &src, Timestamp: timestamp(at)}
	if reason != "" {
		st.Reason = &reason
	}
	if msg != "" {
		st.Message = &msg
	}
	if agent != "" {
		st.AgentID = &mesos.AgentID{Value: agent}
	}
	return &mesos.Event{Type: mesos.EventUpdate, Update: &mesos.EventUpdateInfo{Status: st}}
}

// statusEvent is the UPDATE for a committed transition of a task.
func statusEvent(t *raftfsm.Task, s raftfsm.TaskStatus) *mesos.Event {
	src := mesos.SourceAgent
	if s.Source == raftfsm.SourceMaster {
		src = mesos.SourceMaster
	}
	st := mesos.TaskStatus{TaskID: mesos.TaskID{Value: t.ID}, State: s.State, Source: &src,
		AgentID: &mesos.AgentID{Value: t.Node}, Timestamp: timestamp(s.Time), UUID: s.UUID}
	if s.Message != "" {
		m := s.Message
		st.Message = &m
	}
	if s.Reason != "" {
		r := s.Reason
		st.Reason = &r
	}
	return &mesos.Event{Type: mesos.EventUpdate, Update: &mesos.EventUpdateInfo{Status: st}}
}

func timestamp(t time.Time) *float64 {
	f := float64(t.UnixNano()) / 1e9
	return &f
}

// teardown removes the framework: its tasks are killed, its stream ends.
func (l *leaderLoop) teardown(c *fwConn) error {
	if _, err := l.n.apply(&raftfsm.RemoveFramework{ID: c.id, Reason: "torn down by the framework", At: time.Now()}); err != nil {
		return err
	}
	l.mu.Lock()
	l.dropConn(c)
	l.mu.Unlock()
	l.n.log.Info("framework torn down", "framework", c.id)
	return nil
}

// dropConn ends the subscription of a framework that was removed: no
// failover timeout runs for it. l.mu is held.
func (l *leaderLoop) dropConn(c *fwConn) {
	if l.sched.conns[c.id] == c {
		delete(l.sched.conns, c.id)
		l.n.metrics.frameworks.Set(float64(len(l.sched.conns)))
		for _, r := range c.roles {
			l.alloc.RemoveFramework(clientID(c.id, r))
		}
	}
	c.end()
}

// updateFramework changes a subscribed framework's info: its roles (offers
// of roles it leaves are rescinded; its tasks there keep running), its
// failover timeout, its suppressed roles.
func (l *leaderLoop) updateFramework(c *fwConn, u *mesos.CallUpdateFrameworkInfo) error {
	rec, err := frameworkRecord(u.FrameworkInfo, c.id)
	if err != nil {
		return err
	}
	if res, err := l.n.apply(&raftfsm.SubscribeFramework{Framework: rec, Update: true, At: time.Now()}); err != nil {
		if res != nil && res.Err != nil {
			return callError(400, "%v", res.Err)
		}
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sched.conns[c.id] != c {
		return nil // it subscribed again meanwhile: that subscription's info stands
	}
	for _, r := range c.roles {
		if !slices.Contains(rec.Roles, r) {
			l.rescinded(l.alloc.RemoveFramework(clientID(c.id, r)))
		}
	}
	c.roles, c.name, c.info = rec.Roles, rec.Name, u.FrameworkInfo
	c.info.ID = &mesos.FrameworkID{Value: c.id}
	for _, r := range c.roles {
		l.addClient(c.id, c.name, r)
		if slices.Contains(u.SuppressedRoles, r) {
			l.alloc.Suppress(clientID(c.id, r))
		} else {
			l.alloc.Revive(clientID(c.id, r))
		}
	}
	l.state.poke()
	return nil
}

// rescind tells frameworks that offers are gone.
func (s *schedulers) rescind(offers []allocator.Offer) {
	for _, o := range offers {
		fw, _ := splitClient(o.Framework)
		if c := s.conns[fw]; c != nil {
			c.send(&mesos.Event{Type: mesos.EventRescind, Rescind: &mesos.EventRescindInfo{OfferID: mesos.OfferID{Value: string(o.ID)}}})
		}
	}
}

// sendOffers sends new offers to the Mesos frameworks they were made to,
// one OFFERS event per framework.
func (s *schedulers) sendOffers(l *leaderLoop, offers []allocator.Offer) {
	var byFW map[string][]mesos.Offer
	for _, o := range offers {
		fw, _ := splitClient(o.Framework)
		c := s.conns[fw]
		if c == nil {
			continue
		}
		if byFW == nil {
			byFW = map[string][]mesos.Offer{}
		}
		byFW[fw] = append(byFW[fw], l.mesosOffer(c, o))
	}
	for fw, os := range byFW {
		s.conns[fw].send(&mesos.Event{Type: mesos.EventOffers, Offers: &mesos.EventOffersInfo{Offers: os}})
	}
}

// agentFailed tells every framework an agent is gone (FAILURE).
func (s *schedulers) agentFailed(agent string) {
	for _, c := range s.conns {
		c.send(&mesos.Event{Type: mesos.EventFailure, Failure: &mesos.EventFailureInfo{AgentID: &mesos.AgentID{Value: agent}}})
	}
}

// sendUpdates sends each connected framework the oldest unacknowledged
// update of each of its tasks: at once when it is new, then again after a
// wait that doubles up to maxStatusRetry, until acknowledged. Updates come
// from the committed state, so they survive a leader change.
func (s *schedulers) sendUpdates(l *leaderLoop, now time.Time) {
	v := l.n.fsm.View()
	retry := l.n.cfg.StatusRetryInterval
	for _, c := range s.conns {
		pending := map[string]bool{}
		for _, t := range v.UnackedTasksOfFramework(c.id) {
			pending[t.ID] = true
			head := t.Unacked[0]
			su := c.sent[t.ID]
			switch {
			case su == nil || !bytes.Equal(su.uuid, head.UUID):
				su = &sentUpdate{uuid: head.UUID, wait: retry}
				c.sent[t.ID] = su
			case now.Before(su.next):
				s.wakeUpAt(su.next)
				continue
			default:
				su.wait = min(su.wait*2, maxStatusRetry)
				l.n.metrics.updateResends.Inc()
			}
			su.next = now.Add(su.wait)
			s.wakeUpAt(su.next)
			c.send(statusEvent(t, head))
		}
		for id := range c.sent {
			if !pending[id] {
				delete(c.sent, id)
			}
		}
	}
}

func (s *schedulers) wakeUpAt(t time.Time) {
	if s.wakeAt.IsZero() || t.Before(s.wakeAt) {
		s.wakeAt = t
	}
}

// checkFailovers removes frameworks that stayed disconnected longer than
// their failover timeout: their tasks are killed. A framework that was
// connected to the previous leader gets reconnectHeartbeats heartbeats to
// find this one first.
func (s *schedulers) checkFailovers(l *leaderLoop, now time.Time) {
	s.wakeAt = time.Time{}
	for _, fw := range l.n.fsm.View().Frameworks() {
		if fw.Removed() || s.conns[fw.ID] != nil {
			continue
		}
		timeout := time.Duration(fw.FailoverTimeout * float64(time.Second))
		since, ok := s.gone[fw.ID]
		switch {
		case ok:
		case !fw.DisconnectedAt.IsZero():
			since = fw.DisconnectedAt
		default:
			since = l.started
			timeout = max(timeout, reconnectHeartbeats*l.n.cfg.HeartbeatInterval)
		}
		due := since.Add(timeout)
		if now.Before(due) {
			s.wakeUpAt(due)
			continue
		}
		reason := fmt.Sprintf("framework did not subscribe again within its failover timeout (%gs)", fw.FailoverTimeout)
		l.n.log.Info("removing a framework", "framework", fw.ID, "name", fw.Name, "reason", reason)
		if _, err := l.n.apply(&raftfsm.RemoveFramework{ID: fw.ID, Reason: reason, At: now}); err != nil {
			l.n.log.Warn("remove framework", "framework", fw.ID, "err", err)
			continue
		}
		delete(s.gone, fw.ID)
	}
}
