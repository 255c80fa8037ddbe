package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusterd/clusterd/node/jobs"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web"
	"github.com/clusterd/clusterd/web/api"
)

// backend answers the HTTP API from the replicated state (reads, on any
// node) and by writing to Raft (changes, on the leader).
type backend struct{ n *Node }

var _ web.Backend = (*backend)(nil)

// view returns the local replica for reads, or sends the client to a node
// that has one (agent-only nodes hold no copy of the state).
func (b *backend) view() (*raftfsm.View, error) {
	if !b.n.hasReplica() {
		return nil, b.n.notLeader()
	}
	return b.n.fsm.View(), nil
}

func (b *backend) StateDigest(ctx context.Context) (api.StateDigest, error) {
	v, err := b.view()
	if err != nil {
		return api.StateDigest{}, err
	}
	return api.StateDigest{NodeID: b.n.id, AppliedIndex: v.Index(), Digest: v.Digest()}, nil
}

func (b *backend) Status(ctx context.Context) (api.Status, error) {
	n := b.n
	if !n.inRaftConfig() {
		return b.agentStatus(ctx)
	}
	v := n.fsm.View()
	st := api.Status{
		ClusterID: v.ClusterID(), Version: n.cfg.Version, NodeID: n.id, NodeName: n.cfg.NodeName,
		RaftState: n.raft.raft.State().String(), AppliedIndex: v.Index(), LogVersion: v.LogVersion(), CAFingerprint: caFingerprint(v),
		Nodes: map[string]int{}, Tasks: map[string]int{}, Uptime: time.Since(n.started).Seconds(),
	}
	if addr, id := n.raft.raft.LeaderWithID(); addr != "" {
		st.Leader = string(id)
		if err := n.notLeader(); err != nil {
			if nl, ok := err.(*api.NotLeaderError); ok {
				st.LeaderAddr = nl.LeaderAddr
			}
		}
	}
	if f := n.raft.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			st.Voters = append(st.Voters, string(s.ID))
		}
	}
	var capacity, allocated raftfsm.Resources
	for _, nd := range v.Nodes() {
		st.Nodes[nd.State]++
		if nd.State == raftfsm.NodeReady || nd.State == raftfsm.NodeDraining {
			capacity = addFSM(capacity, nd.Total)
		}
	}
	for _, t := range v.Tasks() {
		st.Tasks[t.State]++
		if t.Active() {
			allocated = addFSM(allocated, t.Resources)
		}
	}
	st.Jobs = len(v.Jobs())
	st.Capacity, st.Allocated = fsmToAPI(raftfsm.Resources{CPUs: capacity.CPUs, Mem: capacity.Mem, Disk: capacity.Disk, GPUs: capacity.GPUs}),
		fsmToAPI(raftfsm.Resources{CPUs: allocated.CPUs, Mem: allocated.Mem, Disk: allocated.Disk, GPUs: allocated.GPUs})
	return st, nil
}

// usageOf is a node's last usage report: from the leader's soft state, or
// this node's own sampler.
func (b *backend) usageOf(node string) *usageReport {
	b.n.leaderMu.Lock()
	l := b.n.leader
	b.n.leaderMu.Unlock()
	if l != nil {
		if rep := l.Usage(node); rep != nil {
			return rep
		}
	}
	if node == b.n.id {
		return b.n.usage.get()
	}
	return nil
}

// withUsage adds a running task's measured use.
func (b *backend) withUsage(t api.Task) api.Task {
	if api.TaskStateTerminal(t.State) {
		return t
	}
	if rep := b.usageOf(t.Node); rep != nil {
		if u, ok := rep.Tasks[t.ID]; ok {
			t.Used = &u
		}
	}
	return t
}

// agentStatus answers for a node that holds no replica: the cluster part
// comes from a node that does, the rest is this node's own.
func (b *backend) agentStatus(ctx context.Context) (api.Status, error) {
	n := b.n
	var st api.Status
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := n.peer.do(qctx, "GET", "/v1/status", nil, &st); err != nil {
		st = api.Status{Nodes: map[string]int{}, Tasks: map[string]int{}, ClusterID: n.clusterID()}
	}
	st.NodeID, st.NodeName, st.Version = n.id, n.cfg.NodeName, n.cfg.Version
	st.RaftState = "None (agent only)"
	st.AppliedIndex = 0
	st.Uptime = time.Since(n.started).Seconds()
	return st, nil
}

func addFSM(a, b raftfsm.Resources) raftfsm.Resources {
	return raftfsm.Resources{CPUs: a.CPUs + b.CPUs, Mem: a.Mem + b.Mem, Disk: a.Disk + b.Disk, GPUs: a.GPUs + b.GPUs}
}

func (b *backend) Nodes(ctx context.Context) ([]api.Node, error) {
	n := b.n
	v, err := b.view()
	if err != nil {
		return nil, err
	}
	leaderAddr, _ := n.raft.raft.LeaderWithID()
	alloc := map[string]raftfsm.Resources{}
	count := map[string]int{}
	for _, t := range v.ActiveTasks() {
		alloc[t.Node] = addFSM(alloc[t.Node], t.Resources)
		count[t.Node]++
	}
	var out []api.Node
	for _, nd := range v.Nodes() {
		an := api.Node{
			ID: nd.ID, Name: nd.Name, Address: nd.HTTPAddr, State: nd.State, Leader: nd.RaftAddr != "" && nd.RaftAddr == string(leaderAddr),
			Isolator: nd.Isolator, Total: fsmToAPI(nd.Total), Allocated: fsmToAPI(alloc[nd.ID]), Attributes: nd.Attributes,
			Tasks: count[nd.ID], RegisteredAt: nd.RegisteredAt,
		}
		if rep := b.usageOf(nd.ID); rep != nil {
			used := rep.Total
			an.Used = &used
		}
		out = append(out, an)
	}
	return out, nil
}

func (b *backend) Jobs(ctx context.Context) ([]api.Job, error) {
	v, err := b.view()
	if err != nil {
		return nil, err
	}
	out := []api.Job{}
	for _, j := range v.Jobs() {
		out = append(out, b.jobToAPI(j, v.TasksOfJob(j.Spec.ID)))
	}
	return out, nil
}

func (b *backend) Job(ctx context.Context, id string) (api.Job, error) {
	v, err := b.view()
	if err != nil {
		return api.Job{}, err
	}
	j := v.Job(id)
	if j == nil {
		return api.Job{}, fmt.Errorf("job %q: %w", id, api.ErrNotFound)
	}
	return b.jobToAPI(j, v.TasksOfJob(id)), nil
}

func (b *backend) Linearize(ctx context.Context) error {
	if _, err := b.leading(); err != nil {
		return err
	}
	// leading() is set only after the leader's barrier applied every entry
	// earlier leaders committed; VerifyLeader proves no newer leader has
	// been elected since (a deposed leader in a minority fails here).
	if err := b.n.raft.raft.VerifyLeader().Error(); err != nil {
		return fmt.Errorf("a consistent read needs the leader confirmed by a quorum: %w", &api.NotLeaderError{})
	}
	return nil
}

func (b *backend) jobToAPI(j *raftfsm.Job, tasks []*raftfsm.Task) api.Job {
	out := api.Job{JobSpec: specToAPI(j.Spec), Version: j.Version, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt,
		Tasks: map[string]int{}, State: jobs.State(j, tasks)}
	for _, t := range tasks {
		if t.Active() || t.JobVersion == j.Version {
			out.Tasks[t.State]++
		}
	}
	fillRecords(&out, j, tasks, b.n.now())
	b.n.leaderMu.Lock()
	l := b.n.leader
	b.n.leaderMu.Unlock()
	if l != nil {
		if p, ok := l.Pending(j.Spec.ID); ok {
			out.Pending = &api.PendingReason{Instances: p.Instances, Unplaceable: p.Unplaceable, Message: p.Message, Hosts: p.Hosts}
		}
	}
	return out
}

func (b *backend) SubmitJob(ctx context.Context, spec api.JobSpec) (api.Job, error) {
	v, err := b.view()
	if err != nil {
		return api.Job{}, err
	}
	fs := specToFSM(spec)
	if err := b.checkJob(v, fs); err != nil {
		return api.Job{}, err
	}
	if err := checkSpecDetails(fs); err != nil {
		return api.Job{}, err
	}
	if _, err := b.n.apply(&raftfsm.UpsertJob{Spec: fs, At: b.n.now()}); err != nil {
		return api.Job{}, err
	}
	return b.Job(ctx, spec.ID)
}

func (b *backend) ScaleJob(ctx context.Context, id string, instances int) (api.Job, error) {
	j, logVersion, err := b.existingJob(id)
	switch {
	case err != nil:
		return api.Job{}, err
	case j.Spec.Type != raftfsm.JobService:
		return api.Job{}, &api.ValidationError{Field: "instances", Message: fmt.Sprintf("job %s is a %s job: scale services; a %s job's instances per run change by submitting it again", id, j.Spec.Type, j.Spec.Type)}
	case logVersion < 2:
		return api.Job{}, fmt.Errorf("scaling without a new version needs every server upgraded (the log is at version %d); submit the job with the new instance count instead: %w", logVersion, api.ErrConflict)
	}
	if _, err := b.n.apply(&raftfsm.ScaleJob{ID: id, Instances: instances, At: b.n.now()}); err != nil {
		return api.Job{}, err
	}
	return b.Job(ctx, id)
}

func (b *backend) StartRun(ctx context.Context, id string) (api.Job, error) {
	j, logVersion, err := b.existingJob(id)
	switch {
	case err != nil:
		return api.Job{}, err
	case j.Spec.Type == raftfsm.JobService:
		return api.Job{}, fmt.Errorf("job %s is a service: it has no runs; batch and cron jobs do: %w", id, api.ErrConflict)
	case logVersion < 2:
		return api.Job{}, fmt.Errorf("runs need every server upgraded (the log is at version %d): %w", logVersion, api.ErrConflict)
	}
	if r := j.CurrentRun(); r != nil && r.State == raftfsm.RunRunning {
		switch j.Spec.ConcurrencyPolicy {
		case "allow", "replace":
		case "":
			return api.Job{}, fmt.Errorf("run %d of job %s is still running: wait for it, or kill its tasks: %w", r.Number, id, api.ErrConflict)
		default:
			return api.Job{}, fmt.Errorf("run %d of job %s is still running and its concurrency_policy is %q: wait for it, or kill its tasks: %w", r.Number, id, j.Spec.ConcurrencyPolicy, api.ErrConflict)
		}
	}
	if _, err := b.n.apply(&raftfsm.StartRun{Job: id, Trigger: raftfsm.TriggerManual, At: b.n.now()}); err != nil {
		return api.Job{}, err
	}
	return b.Job(ctx, id)
}

// existingJob is job id in the current state, and the log's version.
func (b *backend) existingJob(id string) (*raftfsm.Job, int, error) {
	v, err := b.view()
	if err != nil {
		return nil, 0, err
	}
	j := v.Job(id)
	if j == nil {
		return nil, 0, fmt.Errorf("job %q: %w", id, api.ErrNotFound)
	}
	return j, v.LogVersion(), nil
}

func (b *backend) DeleteJob(ctx context.Context, id string) error {
	v, err := b.view()
	if err != nil {
		return err
	}
	if v.Job(id) == nil {
		// A leader's "absent" can be stale once a newer leader was
		// elected: confirm leadership before answering 404.
		if err := b.Linearize(ctx); err != nil {
			return err
		}
		if b.n.fsm.View().Job(id) == nil {
			return fmt.Errorf("job %q: %w", id, api.ErrNotFound)
		}
	}
	if children := childrenOf(v, id); len(children) > 0 {
		return fmt.Errorf("jobs %s run after %s: delete them, or change their parents, first: %w", strings.Join(children, ", "), id, api.ErrConflict)
	}
	res, err := b.n.apply(&raftfsm.DeleteJob{ID: id, At: b.n.now()})
	if err != nil && res != nil && res.Err != nil {
		// Committed and refused: the job was gone when the delete applied
		// (a concurrent delete won).
		return fmt.Errorf("job %q: %w", id, api.ErrNotFound)
	}
	return err
}

func (b *backend) Tasks(ctx context.Context, f api.TaskFilter) ([]api.Task, error) {
	v, err := b.view()
	if err != nil {
		return nil, err
	}
	var tasks []*raftfsm.Task
	switch {
	case f.Job != "":
		tasks = v.TasksOfJob(f.Job)
	case f.Node != "" && f.Active:
		tasks = v.ActiveTasksOnNode(f.Node)
	case f.Active:
		tasks = v.ActiveTasks()
	default:
		tasks = v.Tasks()
	}
	names := map[string]string{}
	for _, nd := range v.Nodes() {
		names[nd.ID] = nd.Name
	}
	out := []api.Task{}
	for _, t := range tasks {
		if (f.Node != "" && t.Node != f.Node && names[t.Node] != f.Node) || (f.State != "" && t.State != f.State) || (f.Active && !t.Active()) {
			continue
		}
		out = append(out, b.withUsage(taskToAPI(t, names[t.Node])))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (b *backend) Task(ctx context.Context, id string) (api.Task, error) {
	v, err := b.view()
	if err != nil {
		return api.Task{}, err
	}
	t := v.Task(id)
	if t == nil {
		return api.Task{}, fmt.Errorf("task %q: %w", id, api.ErrNotFound)
	}
	name := ""
	if nd := v.Node(t.Node); nd != nil {
		name = nd.Name
	}
	return b.withUsage(taskToAPI(t, name)), nil
}

func (b *backend) KillTask(ctx context.Context, id string) error {
	v, err := b.view()
	if err != nil {
		return err
	}
	t := v.Task(id)
	if t == nil {
		return fmt.Errorf("task %q: %w", id, api.ErrNotFound)
	}
	if !t.Active() {
		return fmt.Errorf("task %q already ended (%s): %w", id, t.State, api.ErrConflict)
	}
	_, err = b.n.apply(&raftfsm.KillTasks{IDs: []string{id}, At: time.Now()})
	return err
}

func (b *backend) TaskLog(ctx context.Context, id, stream string, offset int64) (io.ReadCloser, error) {
	if stream != "stdout" && stream != "stderr" {
		return nil, &api.ValidationError{Field: "stream", Message: fmt.Sprintf("%q must be stdout or stderr", stream)}
	}
	// The node that ran the task serves its log from disk, replica or not:
	// that is where other nodes proxy log reads to.
	path := b.n.iso.LogPath(id, stream)
	if path == "" {
		return nil, fmt.Errorf("task %q: %w", id, api.ErrNotFound)
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		v, verr := b.view()
		if verr != nil {
			return nil, verr
		}
		t := v.Task(id)
		if t == nil {
			return nil, fmt.Errorf("task %q: %w", id, api.ErrNotFound)
		}
		if t.Node != b.n.id {
			return b.remoteLog(ctx, v, t, stream, offset)
		}
		return io.NopCloser(&emptyReader{}), nil // not started yet: no output so far
	}
	if err != nil {
		return nil, fmt.Errorf("open %s of task %q: %w", stream, id, err)
	}
	if fi, err := f.Stat(); err == nil && offset > fi.Size() {
		offset = 0 // the log was rotated (capped) since the reader's last read
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("seek %s of task %q: %w", stream, id, err)
		}
	}
	return f, nil
}

// remoteLog reads a task's log from the node that runs it.
func (b *backend) remoteLog(ctx context.Context, v *raftfsm.View, t *raftfsm.Task, stream string, offset int64) (io.ReadCloser, error) {
	nd := v.Node(t.Node)
	if nd == nil || nd.HTTPAddr == "" {
		return nil, fmt.Errorf("task %q ran on node %s, which the cluster no longer knows: %w", t.ID, t.Node, api.ErrConflict)
	}
	u := fmt.Sprintf("http://%s/v1/tasks/%s/logs?stream=%s&offset=%d", nd.HTTPAddr, url.PathEscape(t.ID), stream, offset)
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	if tok := web.TokenFrom(ctx); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok) // the agent checks the user's token too
	}
	resp, err := b.n.peer.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read %s of task %q from node %s (%s): %w", stream, t.ID, nd.Name, nd.HTTPAddr, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("read %s of task %q from node %s: HTTP %d", stream, t.ID, nd.Name, resp.StatusCode)
	}
	return resp.Body, nil
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, io.EOF }

// eventInterval bounds how often one subscriber is told about changes: a
// burst of applies becomes one event, at most this late.
const eventInterval = 25 * time.Millisecond

func (b *backend) Subscribe(ctx context.Context) <-chan api.Event {
	out := make(chan api.Event, 1)
	go func() {
		defer close(out)
		var sent uint64
		for {
			// Take the change channel before reading the index: a change
			// after the read closes it, so none is missed.
			changed := b.n.fsm.Changed()
			if index := b.n.fsm.View().Index(); index != sent {
				sent = index
				select {
				case <-out: // coalesce: replace an event not yet read
				default:
				}
				out <- api.Event{Kind: "state", Index: index}
				select {
				case <-ctx.Done():
					return
				case <-time.After(eventInterval):
				}
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
	}()
	return out
}

// leading returns the leader loop's state on the leader, or the error that
// sends the request there.
func (b *backend) leading() (*leaderState, error) {
	b.n.leaderMu.Lock()
	l := b.n.leader
	b.n.leaderMu.Unlock()
	if l == nil {
		if b.n.raft.raft.State() == raft.Leader {
			return nil, &api.NotLeaderError{} // still taking over: 503, retry
		}
		return nil, b.n.notLeader()
	}
	return l, nil
}

func (b *backend) Autoscale(ctx context.Context) (api.AutoscaleStatus, error) {
	l, err := b.leading()
	if err != nil {
		return api.AutoscaleStatus{}, err
	}
	if l.autoscaler == nil {
		return api.AutoscaleStatus{Groups: []api.AutoscaleGroup{}, Decisions: []api.AutoscaleDecision{}}, nil
	}
	return l.autoscaler.status(), nil
}

func (b *backend) Utilization(ctx context.Context) (api.Utilization, error) {
	l, err := b.leading()
	if err != nil {
		return api.Utilization{}, err
	}
	return l.Utilization(), nil
}

func (b *backend) Roles(ctx context.Context) ([]api.Role, error) {
	l, err := b.leading()
	if err != nil {
		return nil, err
	}
	return l.loop.roles(), nil
}

// Leader says where the leader's HTTP API is, and whether it is this node.
func (b *backend) Leader() (addr string, self bool) {
	if _, err := b.leading(); err == nil {
		return b.n.httpAddr, true
	}
	var nl *api.NotLeaderError
	if errors.As(b.n.notLeader(), &nl) {
		return nl.LeaderAddr, false
	}
	return "", false
}
