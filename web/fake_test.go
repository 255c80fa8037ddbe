package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/mesos"
)

// fakeBackend is an in-memory Backend. Setting err makes every call that
// can fail return it.
type fakeBackend struct {
	mu        sync.Mutex
	status    api.Status
	nodes     []api.Node
	jobs      map[string]api.Job
	tasks     map[string]api.Task
	logs      map[string]*bytes.Buffer // "taskid/stream"
	submitted []api.JobSpec
	killed    []string
	rotated   []string // join token roles rotated
	deleted   []string
	filters   []api.TaskFilter
	err       error
	subs      []chan api.Event
	subscribe chan struct{} // receives once per Subscribe call
	roles     []api.Role
	util      api.Utilization
	autoscale *api.AutoscaleStatus
	// leaderAddr, when set, is the leader this node is not (Leader).
	leaderAddr string
	// snapshot is what Snapshot writes; restored and forced what the last
	// RestoreSnapshot got.
	snapshot string
	restored string
	forced   bool
	// operatorCalls are the node calls fakeOperator got: "DRAIN_AGENT n-1".
	operatorCalls []string
	// tokens are the API tokens, by id.
	tokens map[string]api.Token
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{
		status:    api.Status{ClusterID: "c-test", NodeName: "n1", Leader: "n1", LeaderAddr: "127.0.0.1:5050", RaftState: "Leader"},
		jobs:      map[string]api.Job{},
		tasks:     map[string]api.Task{},
		logs:      map[string]*bytes.Buffer{},
		subscribe: make(chan struct{}, 16),
	}
}

func (f *fakeBackend) Roles(ctx context.Context) ([]api.Role, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.roles, f.err
}

func (f *fakeBackend) Autoscale(ctx context.Context) (api.AutoscaleStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.autoscale != nil {
		return *f.autoscale, f.err
	}
	return api.AutoscaleStatus{Groups: []api.AutoscaleGroup{}, Decisions: []api.AutoscaleDecision{}}, f.err
}

func (f *fakeBackend) Utilization(ctx context.Context) (api.Utilization, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.util, f.err
}

func (f *fakeBackend) Snapshot(ctx context.Context, w io.Writer) (api.SnapshotSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return api.SnapshotSummary{}, f.err
	}
	_, err := io.WriteString(w, f.snapshot)
	return api.SnapshotSummary{ClusterID: f.status.ClusterID, Jobs: len(f.jobs)}, err
}

func (f *fakeBackend) RestoreSnapshot(ctx context.Context, r io.Reader, force bool) (api.SnapshotSummary, error) {
	body, err := io.ReadAll(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		return api.SnapshotSummary{}, err
	}
	if f.err != nil {
		return api.SnapshotSummary{}, f.err
	}
	f.restored, f.forced = string(body), force
	return api.SnapshotSummary{ClusterID: f.status.ClusterID, Bytes: int64(len(body))}, nil
}

func (f *fakeBackend) Leader() (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.leaderAddr != "" {
		return f.leaderAddr, false
	}
	return "", true
}

func (f *fakeBackend) StateDigest(ctx context.Context) (api.StateDigest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return api.StateDigest{NodeID: f.status.NodeID, AppliedIndex: f.status.AppliedIndex, Digest: "fake"}, f.err
}

func (f *fakeBackend) Status(ctx context.Context) (api.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, f.err
}

func (f *fakeBackend) Nodes(ctx context.Context) ([]api.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.nodes), f.err
}

func (f *fakeBackend) Jobs(ctx context.Context) ([]api.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Job
	for _, j := range f.jobs {
		out = append(out, j)
	}
	slices.SortFunc(out, func(a, b api.Job) int { return cmpString(a.ID, b.ID) })
	return out, f.err
}

func (f *fakeBackend) Job(ctx context.Context, id string) (api.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return api.Job{}, f.err
	}
	j, ok := f.jobs[id]
	if !ok {
		return api.Job{}, fmt.Errorf("job %s: %w", id, api.ErrNotFound)
	}
	return j, nil
}

func (f *fakeBackend) SubmitJob(ctx context.Context, spec api.JobSpec) (api.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return api.Job{}, f.err
	}
	f.submitted = append(f.submitted, spec)
	j := f.jobs[spec.ID]
	j.JobSpec = spec
	j.Version++
	j.State = api.JobStateDeploying
	f.jobs[spec.ID] = j
	return j, nil
}

func (f *fakeBackend) ScaleJob(ctx context.Context, id string, instances int) (api.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	if !ok {
		return api.Job{}, fmt.Errorf("job %s: %w", id, api.ErrNotFound)
	}
	j.Instances = instances
	f.jobs[id] = j
	return j, nil
}

func (f *fakeBackend) StartRun(ctx context.Context, id string) (api.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	if !ok {
		return api.Job{}, fmt.Errorf("job %s: %w", id, api.ErrNotFound)
	}
	j.Runs = append(j.Runs, api.Run{Number: len(j.Runs) + 1, Trigger: "manual", State: "running"})
	f.jobs[id] = j
	return j, nil
}

func (f *fakeBackend) Linearize(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.leaderAddr != "" {
		return &api.NotLeaderError{LeaderAddr: f.leaderAddr}
	}
	return f.err
}

func (f *fakeBackend) DeleteJob(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if _, ok := f.jobs[id]; !ok {
		return api.ErrNotFound
	}
	delete(f.jobs, id)
	f.deleted = append(f.deleted, id)
	return nil
}

func (f *fakeBackend) Tasks(ctx context.Context, filter api.TaskFilter) ([]api.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, filter)
	var out []api.Task
	for _, t := range f.tasks {
		if (filter.Job == "" || t.Job == filter.Job) && (filter.State == "" || t.State == filter.State) &&
			(!filter.Active || !api.TaskStateTerminal(t.State)) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b api.Task) int { return cmpString(a.ID, b.ID) })
	return out, f.err
}

func (f *fakeBackend) Task(ctx context.Context, id string) (api.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return api.Task{}, f.err
	}
	t, ok := f.tasks[id]
	if !ok {
		return api.Task{}, api.ErrNotFound
	}
	return t, nil
}

func (f *fakeBackend) KillTask(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	t, ok := f.tasks[id]
	if !ok {
		return api.ErrNotFound
	}
	if api.TaskStateTerminal(t.State) {
		return fmt.Errorf("task %s already ended in %s: %w", id, t.State, api.ErrConflict)
	}
	f.killed = append(f.killed, id)
	return nil
}

func (f *fakeBackend) TaskLog(ctx context.Context, id, stream string, offset int64) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tasks[id]; !ok {
		return nil, api.ErrNotFound
	}
	b := f.logs[id+"/"+stream]
	if b == nil || offset >= int64(b.Len()) {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	return io.NopCloser(bytes.NewReader(bytes.Clone(b.Bytes()[offset:]))), nil
}

func (f *fakeBackend) Subscribe(ctx context.Context) <-chan api.Event {
	ch := make(chan api.Event, 1)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	select {
	case f.subscribe <- struct{}{}:
	default:
	}
	return ch
}

// emit sends ev to every subscriber.
func (f *fakeBackend) emit(ev api.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (f *fakeBackend) appendLog(id, stream, s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.logs[id+"/"+stream]
	if b == nil {
		b = &bytes.Buffer{}
		f.logs[id+"/"+stream] = b
	}
	b.WriteString(s)
}

func (f *fakeBackend) setTaskState(id, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tasks[id]
	t.State = state
	t.UpdatedAt = time.Now()
	f.tasks[id] = t
}

func (f *fakeBackend) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeBackend) submittedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.submitted)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sampleCluster fills f with 2 nodes, 2 jobs (one pending and unplaceable)
// and 3 tasks.
func sampleCluster(f *fakeBackend) {
	now := time.Now().Add(-90 * time.Second).Truncate(time.Second)
	exit0 := 0
	f.status = api.Status{
		ClusterID: "c-7f3a", Version: "0.1.0", NodeID: "n-1", NodeName: "ip-10-0-1-5",
		Leader: "n-1", LeaderAddr: "10.0.1.5:5050", RaftState: "Leader", AppliedIndex: 1234,
		Voters: []string{"n-1", "n-2"}, Nodes: map[string]int{"ready": 2}, Jobs: 2,
		Tasks:     map[string]int{api.TaskRunning: 2, api.TaskFinished: 1},
		Capacity:  api.Resources{CPUs: 16, Mem: 32768, Disk: 200000},
		Allocated: api.Resources{CPUs: 1.5, Mem: 768},
		Uptime:    3600,
	}
	f.nodes = []api.Node{
		{ID: "n-1", Name: "ip-10-0-1-5", Address: "10.0.1.5:5050", State: "ready", Leader: true, Isolator: "systemd",
			Total: api.Resources{CPUs: 8, Mem: 16384, Disk: 100000}, Allocated: api.Resources{CPUs: 1, Mem: 512},
			Used: &api.Usage{CPUs: 0.4, Mem: 300}, Attributes: map[string]string{"zone": "us-east-1a", "type": "m5.2xlarge"},
			Tasks: 2, RegisteredAt: now},
		{ID: "n-2", Name: "ip-10-0-2-9", Address: "10.0.2.9:5050", State: "draining", Isolator: "cgroupfs",
			Total: api.Resources{CPUs: 8, Mem: 16384, Disk: 100000}, Allocated: api.Resources{CPUs: 0.5, Mem: 256},
			Attributes: map[string]string{"zone": "us-east-1b"}, Tasks: 1, RegisteredAt: now},
	}
	f.jobs = map[string]api.Job{
		"web": {JobSpec: api.JobSpec{ID: "web", Type: api.JobService, Cmd: "python3 -m http.server $PORT0", Instances: 2, CPUs: 0.5, Mem: 256, Ports: 1},
			Version: 3, State: api.JobStateRunning, CreatedAt: now, UpdatedAt: now, Tasks: map[string]int{api.TaskRunning: 2}},
		"bigbatch": {JobSpec: api.JobSpec{ID: "bigbatch", Type: api.JobBatch, Cmd: "train", Instances: 4, CPUs: 64, Mem: 1024},
			Version: 1, State: api.JobStateDeploying, CreatedAt: now, UpdatedAt: now, Tasks: map[string]int{},
			Pending: &api.PendingReason{Instances: 4, Unplaceable: true,
				Message: "no node has 64 cpus: the largest has 8",
				Hosts:   map[string]int{"insufficient cpus": 2}}},
	}
	f.tasks = map[string]api.Task{
		"web.0.a1": {ID: "web.0.a1", Job: "web", JobVersion: 3, Node: "n-1", NodeName: "ip-10-0-1-5", State: api.TaskRunning,
			Cmd: "python3 -m http.server $PORT0", CreatedAt: now, UpdatedAt: now,
			Resources: api.Resources{CPUs: 0.5, Mem: 256, Ports: []api.PortRange{{Begin: 31000, End: 31000}}},
			History:   []api.TaskStatus{{State: api.TaskStaging, Time: now.Add(-2 * time.Second)}, {State: api.TaskRunning, Time: now, Message: "unit clusterd-web.0.a1.service active"}}},
		"web.1.b2": {ID: "web.1.b2", Job: "web", JobVersion: 3, Instance: 1, Node: "n-2", NodeName: "ip-10-0-2-9", State: api.TaskRunning,
			Cmd: "python3 -m http.server $PORT0", CreatedAt: now, UpdatedAt: now},
		"hello.0.c3": {ID: "hello.0.c3", Job: "hello", Node: "n-1", NodeName: "ip-10-0-1-5", State: api.TaskFinished, ExitCode: &exit0,
			Cmd: "echo hello", CreatedAt: now, UpdatedAt: now},
	}
	f.appendLog("web.0.a1", "stdout", "Serving HTTP on 0.0.0.0 port 31000 ...\n")
	f.appendLog("web.0.a1", "stderr", "127.0.0.1 - - \"GET / HTTP/1.1\" 200 -\n")
}

// fakeOperator is the Mesos operator API of a fakeBackend, where the
// dashboard drains and reactivates nodes: DRAIN_AGENT and REACTIVATE_AGENT
// change the node's state as the leader does (draining, ready) and are
// recorded; an unknown node is refused as the leader refuses it. The other
// Mesos endpoints answer 501.
type fakeOperator struct{ f *fakeBackend }

func (o fakeOperator) OperatorCall(ctx context.Context, call *mesos.OperatorCall) (*mesos.OperatorResponse, error) {
	var id, state string
	switch call.Type {
	case mesos.OperatorDrainAgent:
		id, state = call.DrainAgent.AgentID.Value, "draining"
	case mesos.OperatorReactivateAgent:
		id, state = call.ReactivateAgent.AgentID.Value, "ready"
	default:
		return nil, &MesosError{Status: 501, Message: call.Type + " is not in this fake"}
	}
	f := o.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.nodes {
		if f.nodes[i].ID == id {
			f.nodes[i].State = state
			f.operatorCalls = append(f.operatorCalls, call.Type+" "+id)
			return nil, nil
		}
	}
	return nil, &MesosError{Status: 400, Message: "No agent found with specified ID '" + id + "'"}
}

func (o fakeOperator) Subscribe(ctx context.Context, call *mesos.Call) (*MesosSubscription, error) {
	return nil, &MesosError{Status: 501, Message: "not in this fake"}
}

func (o fakeOperator) SchedulerCall(ctx context.Context, streamID string, call *mesos.Call) error {
	return &MesosError{Status: 501, Message: "not in this fake"}
}

func (o fakeOperator) OperatorSubscribe(ctx context.Context) (*OperatorSubscription, error) {
	return nil, &MesosError{Status: 501, Message: "not in this fake"}
}

func (o fakeOperator) MasterState(ctx context.Context) (*mesos.MasterState, error) {
	return nil, &MesosError{Status: 501, Message: "not in this fake"}
}

func (o fakeOperator) LeaderURL(ctx context.Context) (string, error) {
	return "", &MesosError{Status: 501, Message: "not in this fake"}
}

func (f *fakeBackend) operatorCallsSeen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.operatorCalls)
}

func (f *fakeBackend) nodeState(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nodes {
		if n.ID == id {
			return n.State
		}
	}
	return ""
}

func (f *fakeBackend) Tokens(ctx context.Context) ([]api.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []api.Token{}
	for _, t := range f.tokens {
		out = append(out, t)
	}
	return out, f.err
}

func (f *fakeBackend) CreateToken(ctx context.Context, req api.TokenRequest) (api.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokens == nil {
		f.tokens = map[string]api.Token{}
	}
	t := api.Token{ID: fmt.Sprintf("t%d", len(f.tokens)+1), Scope: req.Scope, Name: req.Name}
	f.tokens[t.ID] = t
	t.Secret = "cdk1-" + t.ID + "-secret"
	return t, f.err
}

func (f *fakeBackend) RevokeToken(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tokens[id]; !ok {
		return api.ErrNotFound
	}
	delete(f.tokens, id)
	return f.err
}

func (f *fakeBackend) RotateJoinToken(ctx context.Context, role string) (api.JoinToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rotated = append(f.rotated, role)
	return api.JoinToken{Role: role, Token: "cdt1-" + role[:1] + "-fake", CAFingerprint: "ff"}, f.err
}

func (f *fakeBackend) GossipStatus(ctx context.Context) (api.GossipStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return api.GossipStatus{Encrypted: true, Keys: 1, Digest: "d1"}, f.err
}

func (f *fakeBackend) RotateGossipKey(ctx context.Context) (api.GossipStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rotated = append(f.rotated, "gossip")
	return api.GossipStatus{Encrypted: true, Keys: 2, Digest: "d2", Rotation: "install"}, f.err
}
