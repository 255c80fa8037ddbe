package node

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusterd/clusterd/raftfsm"
)

// watchTimeout bounds one blocking query for an agent's tasks; an idle
// agent re-asks this often.
const watchTimeout = 30 * time.Second

// taskWatch is the answer to a blocking query for an agent's tasks.
type taskWatch struct {
	Index uint64          `json:"index"`
	Node  *raftfsm.Node   `json:"node,omitempty"`
	Tasks []*raftfsm.Task `json:"tasks"`
}

// controlPlane is how the agent loop talks to the cluster: through the local
// replica and Raft when this node holds the state (reads) or leads (writes),
// over HTTP to a node that does otherwise. Agents that are not voters hold no
// replica: at 50,000 nodes, only the voters may.
type controlPlane struct {
	n    *Node
	peer *peerClient
}

// hasReplica reports whether this node's FSM is a replica of the cluster
// state: it is in the Raft configuration and has applied something.
func (n *Node) hasReplica() bool {
	return n.fsm.View().Index() > 0 && n.inRaftConfig()
}

// inRaftConfig reports whether this node is a server of the Raft
// configuration (a voter, holding the log), whether or not it has replayed
// the log yet.
func (n *Node) inRaftConfig() bool {
	f := n.raft.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(n.id) {
			return true
		}
	}
	return false
}

// apply writes a command through the leader and returns its Raft index.
func (c *controlPlane) apply(ctx context.Context, cmd raftfsm.Command) (uint64, error) {
	if c.n.raft.raft.State() == raft.Leader {
		_, index, err := c.n.applyAt(cmd)
		return index, err
	}
	data, err := raftfsm.Encode(cmd)
	if err != nil {
		return 0, err
	}
	var out struct {
		Index uint64 `json:"index"`
	}
	if err := c.peer.do(ctx, "POST", "/v1/internal/commands", data, &out); err != nil {
		return 0, fmt.Errorf("send %T to the leader: %w", cmd, err)
	}
	return out.Index, nil
}

// watchTasks blocks until the state is past afterIndex (or watchTimeout
// passes) and returns this node's active tasks.
func (c *controlPlane) watchTasks(ctx context.Context, afterIndex uint64) (taskWatch, error) {
	if c.n.hasReplica() {
		return c.n.localTaskWatch(ctx, c.n.id, afterIndex, watchTimeout), nil
	}
	q := url.Values{"node": {c.n.id}, "index": {strconv.FormatUint(afterIndex, 10)}}
	var w taskWatch
	err := c.peer.do(ctx, "GET", "/v1/internal/tasks?"+q.Encode(), nil, &w)
	return w, err
}

// taskKnown reports whether the cluster still lists a task.
func (c *controlPlane) taskKnown(ctx context.Context, id string) (bool, error) {
	if c.n.hasReplica() {
		return c.n.fsm.View().Task(id) != nil, nil
	}
	err := c.peer.do(ctx, "GET", "/v1/internal/tasks/"+url.PathEscape(id), nil, nil)
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, err
}

// localTaskWatch answers a blocking query from the local replica.
func (n *Node) localTaskWatch(ctx context.Context, node string, afterIndex uint64, timeout time.Duration) taskWatch {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		changed := n.fsm.Changed()
		v := n.fsm.View()
		if v.Index() > afterIndex {
			return taskWatch{Index: v.Index(), Node: v.Node(node), Tasks: v.ActiveTasksOnNode(node)}
		}
		select {
		case <-changed:
		case <-deadline.C:
			return taskWatch{Index: v.Index(), Node: v.Node(node), Tasks: v.ActiveTasksOnNode(node)}
		case <-ctx.Done():
			return taskWatch{Index: v.Index(), Node: v.Node(node), Tasks: v.ActiveTasksOnNode(node)}
		}
	}
}
