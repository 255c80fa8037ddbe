package node

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusterd/clusterd/gossip"
)

// leave takes this node out of the cluster gracefully: a leader first hands
// leadership to another voter (no election timeout), then the leader marks
// the node left (its tasks are replaced elsewhere) and removes it from the
// Raft configuration, and the node leaves gossip so others see "left", not
// "failed". The node's own tasks are killed as it exits.
//
// The cluster's only node never leaves: that would destroy the cluster. It
// just stops, and its tasks keep running to be re-adopted.
func (n *Node) leave(ctx context.Context) error {
	others := 0
	for _, m := range n.gossip.Members() {
		if m.ID != n.id && m.State == gossip.Alive {
			others++
		}
	}
	if others == 0 {
		n.log.Info("this is the cluster's only node: stopping without leaving")
		return nil
	}
	if n.onlyVoter() {
		// Removing the last voter would destroy the cluster's state.
		n.log.Warn("this node is the cluster's only Raft voter: stopping without leaving; its tasks keep running. Let the leader add voters (start more server nodes) before removing this one")
		return nil
	}
	n.log.Info("leaving the cluster")
	if n.raft.raft.State() == raft.Leader {
		start := time.Now()
		if err := n.raft.raft.LeadershipTransfer().Error(); err != nil {
			n.log.Warn("hand over leadership", "err", err)
		} else {
			n.log.Info("handed over leadership", "took", time.Since(start))
		}
	}
	n.stopTasksOnExit.Store(true)
	var err error
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if n.raft.raft.State() == raft.Leader {
			err = n.removeNode(n.id)
		} else {
			err = n.peer.do(ctx, "POST", "/v1/internal/leave?node="+n.id, nil, nil)
		}
		if err == nil {
			break
		}
		n.log.Debug("ask the leader to remove this node", "err", err, "attempt", attempt)
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err != nil {
		err = fmt.Errorf("leave: the leader did not remove this node: %w", err)
	}
	if lerr := n.gossip.Leave(3 * time.Second); lerr != nil && err == nil {
		err = fmt.Errorf("leave gossip: %w", lerr)
	}
	return err
}

// onlyVoter reports whether this node is the single voter of the Raft
// configuration.
func (n *Node) onlyVoter() bool {
	f := n.raft.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	voters, self := 0, false
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
			self = self || s.ID == raft.ServerID(n.id)
		}
	}
	return self && voters == 1
}
