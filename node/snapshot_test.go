package node

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

func TestARestoredSnapshotReplacesTheStateAndTheLeaderRebuildsFromIt(t *testing.T) {
	n, b := startJobsNode(t, nil)
	ctx := context.Background()
	if err := submitJob(t, b, api.JobSpec{ID: "kept", Type: api.JobService, Cmd: "sleep 600", Instances: 1, CPUs: 0.1, Mem: 16}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "kept running", 10*time.Second, func() bool { return tasksIn(n, "kept", raftfsm.TaskRunning) == 1 })
	var backup bytes.Buffer
	sum, err := b.Snapshot(ctx, &backup)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Jobs != 1 || sum.Tasks != 1 || sum.ClusterID != n.fsm.View().ClusterID() {
		t.Fatalf("snapshot summary %+v, want 1 job and 1 task of this cluster", sum)
	}
	if got, err := ReadSnapshot(bytes.NewReader(backup.Bytes())); err != nil || got.Index != sum.Index || got.Jobs != 1 {
		t.Fatalf("the backup reads back as %+v (%v), want the summary %+v", got, err, sum)
	}

	// After the backup: a job that the restore takes away.
	if err := submitJob(t, b, api.JobSpec{ID: "later", Type: api.JobService, Cmd: "sleep 600", Instances: 1, CPUs: 0.1, Mem: 16}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "later running", 10*time.Second, func() bool { return tasksIn(n, "later", raftfsm.TaskRunning) == 1 })
	laterTask := n.fsm.View().TasksOfJob("later")[0].ID
	before := n.fsm.View().Index()

	res, err := b.RestoreSnapshot(ctx, bytes.NewReader(backup.Bytes()), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Jobs != 1 || res.SHA256 == "" || res.Bytes != int64(backup.Len()) {
		t.Errorf("restore result %+v, want the backup's summary with its size and checksum", res)
	}
	v := n.fsm.View()
	if v.Job("later") != nil || v.Job("kept") == nil || v.Index() <= before {
		t.Fatalf("after the restore: later %v, kept %v, index %d (was %d); want only kept, at a newer index", v.Job("later") != nil, v.Job("kept") != nil, v.Index(), before)
	}
	// The agent kills what the restored state does not list; the leader,
	// rebuilt from it, places new work.
	waitFor(t, "the task of the job the restore removed killed", 10*time.Second, func() bool {
		return !processAlive(n, laterTask)
	})
	if err := submitJob(t, b, api.JobSpec{ID: "after", Type: api.JobBatch, Cmd: "true", Instances: 1, CPUs: 0.1, Mem: 16}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a job submitted after the restore to complete", 10*time.Second, func() bool {
		j, _ := b.Job(ctx, "after")
		return j.State == "complete"
	})
	if tasksIn(n, "kept", raftfsm.TaskRunning) != 1 {
		t.Errorf("kept has %d running tasks after the restore, want its 1", tasksIn(n, "kept", raftfsm.TaskRunning))
	}

	// A snapshot of another cluster is refused unless forced.
	other, ob := startJobsNode(t, nil)
	var foreign bytes.Buffer
	if _, err := ob.Snapshot(ctx, &foreign); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RestoreSnapshot(ctx, bytes.NewReader(foreign.Bytes()), false); !errors.Is(err, api.ErrConflict) {
		t.Errorf("restoring cluster %s's snapshot: %v, want a conflict", other.fsm.View().ClusterID(), err)
	}
	var ve *api.ValidationError
	if _, err := b.RestoreSnapshot(ctx, bytes.NewReader([]byte(`{"version":1}`+"\n"+`{"job":{"spec":`)), true); !errors.As(err, &ve) {
		t.Errorf("restoring a truncated snapshot: %v, want a validation error", err)
	}
	if n.fsm.View().Job("kept") == nil {
		t.Error("a refused restore changed the state")
	}
}

// processAlive reports whether the node's isolator still runs the task.
func processAlive(n *Node, id string) bool {
	for _, r := range n.iso.Running() {
		if r.TaskID == id {
			return true
		}
	}
	return false
}

func TestRecoverAloneBringsBackAServerThatLostItsQuorum(t *testing.T) {
	dir := t.TempDir()
	n, stop := startNodeCtl(t, func(c *Config) { c.DataDir = dir; c.AllocationInterval = 50 * time.Millisecond })
	b := &backend{n: n}
	if err := submitJob(t, b, api.JobSpec{ID: "precious", Type: api.JobBatch, Cmd: "true", Instances: 1, CPUs: 0.1, Mem: 16}); err != nil {
		t.Fatal(err)
	}
	// Two servers that will never answer join the configuration: the one
	// left has no quorum (the change itself cannot commit, but a server
	// uses its latest configuration, committed or not).
	_ = n.raft.raft.AddVoter("ghost-1", "127.0.0.1:1", 0, 500*time.Millisecond).Error()
	stop()

	if _, err := RecoverAlone(t.TempDir()); err == nil {
		t.Error("recover of an empty dir succeeded")
	}
	res, err := RecoverAlone(dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.NodeID != n.id || len(res.Removed) != 1 {
		t.Errorf("recovery %+v, want node %s alone, ghost-1 removed", res, n.id)
	}
	n2, _ := startNodeCtl(t, func(c *Config) { c.DataDir = dir })
	f := n2.raft.raft.GetConfiguration()
	if err := f.Error(); err != nil || len(f.Configuration().Servers) != 1 || n2.raft.raft.State() != raft.Leader {
		t.Fatalf("after recovery: configuration %+v (%v), state %v; want this node the only server, leading", f.Configuration(), err, n2.raft.raft.State())
	}
	if n2.fsm.View().Job("precious") == nil {
		t.Error("the job submitted before the quorum was lost is gone")
	}
}

func TestAForcedRestoreMovesABackupIntoANewCluster(t *testing.T) {
	ctx := context.Background()
	old, ob := startJobsNode(t, nil)
	if err := submitJob(t, ob, api.JobSpec{ID: "svc", Type: api.JobService, Cmd: "sleep 600", Instances: 1, CPUs: 0.1, Mem: 16}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "svc running on the old cluster", 10*time.Second, func() bool { return tasksIn(old, "svc", raftfsm.TaskRunning) == 1 })
	var backup bytes.Buffer
	if _, err := ob.Snapshot(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	oldCluster := old.fsm.View().ClusterID()

	// The new cluster takes the old one's identity and jobs; its own node
	// registers again and runs the service.
	n, b := startJobsNode(t, nil)
	if _, err := b.RestoreSnapshot(ctx, bytes.NewReader(backup.Bytes()), true); err != nil {
		t.Fatal(err)
	}
	if got := n.fsm.View().ClusterID(); got != oldCluster {
		t.Errorf("cluster id after a forced restore %s, want the backup's %s", got, oldCluster)
	}
	waitFor(t, "this node registered in the restored state", 10*time.Second, func() bool {
		node := n.fsm.View().Node(n.id)
		return node != nil
	})
	waitFor(t, "svc running on the new cluster's node", 20*time.Second, func() bool {
		for _, task := range n.fsm.View().TasksOfJob("svc") {
			if task.Node == n.id && task.State == raftfsm.TaskRunning {
				return true
			}
		}
		return false
	})
}
