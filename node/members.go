package node

import (
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusterd/clusterd/gossip"
	"github.com/clusterd/clusterd/raftfsm"
)

// The leader compares gossip's view of the members with the replicated node
// list and the Raft configuration: failed agents lose their tasks after a
// grace period, returning agents are ready again, and the set of voters is
// kept at its target.

const membershipInterval = 500 * time.Millisecond

// membership is the leader's memory of when members were first seen failed.
type membership struct {
	failedSince map[string]time.Time
	last        time.Time
	// wakeAt is when the next grace period runs out, so the leader loop
	// acts on it on time rather than at its next tick.
	wakeAt time.Time
}

func (l *leaderLoop) checkMembership(now time.Time) {
	if now.Sub(l.members.last) < membershipInterval || l.n.gossip == nil {
		return
	}
	l.members.last = now
	l.members.wakeAt = time.Time{}
	if l.members.failedSince == nil {
		l.members.failedSince = map[string]time.Time{}
	}
	members := map[string]gossip.Member{}
	for _, m := range l.n.gossip.Members() {
		members[m.ID] = m
	}
	l.checkAgents(now, members)
	l.manageVoters(now, members)
	l.raiseLogVersion()
	l.ensureClusterSecrets()
	l.ensureAdminToken()
	l.ensureJoinTokens()
}

// checkAgents marks agents down whose gossip membership failed for longer
// than the grace period, left when they left, and ready when they return.
func (l *leaderLoop) checkAgents(now time.Time, members map[string]gossip.Member) {
	for _, nd := range l.n.fsm.View().Nodes() {
		if nd.ID == l.n.id {
			continue
		}
		m, seen := members[nd.ID]
		alive := seen && (m.State == gossip.Alive || m.State == gossip.Suspect)
		switch {
		case alive:
			delete(l.members.failedSince, nd.ID)
			if nd.State == raftfsm.NodeDown {
				l.setNodeState(nd, raftfsm.NodeReady, "node is reachable again")
			}
		case nd.State == raftfsm.NodeDown || nd.State == raftfsm.NodeLeft:
		case seen && m.State == gossip.Left:
			l.setNodeState(nd, raftfsm.NodeLeft, fmt.Sprintf("node %s left the cluster", nd.Name))
		default:
			since, ok := l.members.failedSince[nd.ID]
			if !ok {
				since = now
				l.members.failedSince[nd.ID] = now
			}
			grace := l.n.cfg.NodeLostGrace
			if !seen {
				// Not in gossip at all, e.g. right after this leader started:
				// give gossip time to converge before declaring anything.
				grace = max(grace, 15*time.Second)
			}
			if now.Sub(since) >= grace {
				l.setNodeState(nd, raftfsm.NodeDown, fmt.Sprintf("node %s failed: gossip declared it dead %s ago", nd.Name, now.Sub(since).Round(100*time.Millisecond)))
			} else if due := since.Add(grace); l.members.wakeAt.IsZero() || due.Before(l.members.wakeAt) {
				l.members.wakeAt = due
			}
		}
	}
}

func (l *leaderLoop) setNodeState(nd *raftfsm.Node, state, reason string) {
	l.n.log.Info("node state change", "node", nd.Name, "id", nd.ID, "from", nd.State, "to", state, "reason", reason)
	res, err := l.n.apply(&raftfsm.SetNodeState{ID: nd.ID, State: state, Reason: reason, At: time.Now()})
	if err != nil {
		l.n.log.Warn("set node state", "node", nd.ID, "err", err)
		return
	}
	// The leader loop wrote it, so it applies the result itself.
	for _, t := range res.Ended {
		l.alloc.RemoveTask(t.ID)
	}
	l.syncAgentByID(nd.ID)
	l.reviveJobs()
}

// manageVoters keeps the number of Raft voters at its target: it removes
// servers that left, replaces voters that failed for longer than
// VoterReplaceAfter with healthy server-eligible nodes (adding the new one
// before removing the old, so quorum is never at risk), and adds voters as
// eligible nodes join, spreading them across zones. The target is odd: an
// even number of voters tolerates no more failures than one fewer.
func (l *leaderLoop) manageVoters(now time.Time, members map[string]gossip.Member) {
	r := l.n.raft.raft
	f := r.GetConfiguration()
	if f.Error() != nil {
		return
	}
	servers := f.Configuration().Servers
	inConfig := map[string]bool{}
	voters := 0
	zones := map[string]int{}
	var failed []raft.Server
	for _, s := range servers {
		id := string(s.ID)
		inConfig[id] = true
		m, seen := members[id]
		if id != l.n.id && seen && m.State == gossip.Left {
			l.n.log.Info("removing a server that left from the raft configuration", "server", id)
			_ = r.RemoveServer(s.ID, 0, applyTimeout).Error()
			continue
		}
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		zones[m.Meta.Zone]++
		if id != l.n.id && (!seen || m.State == gossip.Dead) {
			if _, ok := l.members.failedSince[id]; !ok {
				l.members.failedSince[id] = now
			}
			if now.Sub(l.members.failedSince[id]) >= l.n.cfg.VoterReplaceAfter {
				failed = append(failed, s)
			}
		}
	}
	var candidates []gossip.Member
	for id, m := range members {
		if !inConfig[id] && m.State == gossip.Alive && m.Meta.Server && (m.Meta.ClusterID == "" || m.Meta.ClusterID == l.n.fsm.View().ClusterID()) {
			candidates = append(candidates, m)
		}
	}
	// Fewest voters in its zone first, then by id: deterministic and spread.
	sort.Slice(candidates, func(i, j int) bool {
		zi, zj := zones[candidates[i].Meta.Zone], zones[candidates[j].Meta.Zone]
		if zi != zj {
			return zi < zj
		}
		return candidates[i].ID < candidates[j].ID
	})
	healthy := voters - len(failed)
	target := min(l.n.cfg.Voters, healthy+len(candidates))
	if target%2 == 0 && target > 1 {
		target--
	}
	for _, c := range candidates {
		if healthy >= target {
			break
		}
		l.n.log.Info("adding a raft voter", "server", c.ID, "addr", memberRaftAddr(c), "zone", c.Meta.Zone)
		if err := r.AddVoter(raft.ServerID(c.ID), memberRaftAddr(c), 0, applyTimeout).Error(); err != nil {
			l.n.log.Warn("add raft voter", "server", c.ID, "err", err)
			return
		}
		healthy++
		zones[c.Meta.Zone]++
	}
	// Replace failed voters only once the voters that remain reach the
	// target on their own.
	for _, s := range failed {
		if healthy < target {
			break
		}
		l.n.log.Info("removing a failed raft voter", "server", s.ID)
		if err := r.RemoveServer(s.ID, 0, applyTimeout).Error(); err != nil {
			l.n.log.Warn("remove failed voter", "server", s.ID, "err", err)
			return
		}
	}
}
