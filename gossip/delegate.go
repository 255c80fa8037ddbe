package gossip

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate is how memberlist calls back into Membership. memberlist calls
// the event, merge and alive hooks while it holds its node lock, so none of
// them may block or call back into memberlist: they update the member table
// under Membership.mu and queue events.
type delegate struct{ m *Membership }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.MergeDelegate = (*delegate)(nil)
	_ memberlist.AliveDelegate = (*delegate)(nil)
)

// NodeMeta is our metadata; UpdateMeta already refused anything too large.
func (d *delegate) NodeMeta(limit int) []byte {
	d.m.mu.Lock()
	meta := d.m.meta
	d.m.mu.Unlock()
	b, err := meta.Encode()
	if err != nil || len(b) > limit {
		d.m.logger.Error("gossip metadata does not fit; gossiping none", "err", err, "limit", limit)
		return nil
	}
	return b
}

// Gossip carries no user messages or state: everything else goes through Raft.
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

func (d *delegate) NotifyJoin(n *memberlist.Node) { d.record(MemberJoin, n, Alive) }

func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.record(MemberUpdate, n, Alive) }

// NotifyLeave reports MemberLeft when the node announced it leaves (the
// Leaving flag of its last metadata, or memberlist's StateLeft should a
// later memberlist fill Node.State in: v0.6.0 leaves it zero here), and
// MemberFailed otherwise.
func (d *delegate) NotifyLeave(n *memberlist.Node) {
	meta, _ := DecodeMeta(n.Meta)
	if n.State == memberlist.StateLeft || meta.Leaving {
		d.record(MemberLeft, n, Left)
		return
	}
	d.record(MemberFailed, n, Dead)
}

func (d *delegate) record(t EventType, n *memberlist.Node, s State) {
	mb := Member{ID: n.Name, Addr: n.Addr.String(), Port: int(n.Port), State: s}
	meta, err := DecodeMeta(n.Meta)
	if err != nil {
		d.m.logger.Warn("gossip member has unreadable metadata; reporting it without", "member", n.Name, "addr", n.Address(), "err", err)
	} else {
		mb.Meta = meta
	}
	m := d.m
	m.mu.Lock()
	entry := &member{Member: mb}
	if s == Dead || s == Left {
		entry.departed = time.Now()
	}
	m.members[mb.ID] = entry
	// Queue under mu so events leave in the order the table changed.
	m.events.push(Event{Type: t, Member: mb})
	m.mu.Unlock()
}

// NotifyMerge refuses a push/pull exchange (a join, or the periodic sync)
// with a node that knows members of another cluster.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if err := d.check(p); err != nil {
			return err
		}
	}
	return nil
}

// NotifyAlive refuses gossip about a live node of another cluster, which a
// merge check alone would let through.
func (d *delegate) NotifyAlive(p *memberlist.Node) error { return d.check(p) }

// check refuses p when both it and this node belong to a cluster and the
// clusters differ. A node without a cluster id (new) is always accepted, and
// so is one whose metadata cannot be read.
func (d *delegate) check(p *memberlist.Node) error {
	meta, err := DecodeMeta(p.Meta)
	if err != nil || meta.ClusterID == "" {
		return nil
	}
	m := d.m
	m.mu.Lock()
	defer m.mu.Unlock()
	ours := m.meta.ClusterID
	if ours == "" || ours == meta.ClusterID {
		return nil
	}
	if len(m.refusals) >= 64 {
		m.refusals = m.refusals[1:]
	}
	m.refusals = append(m.refusals, refusal{peerID: p.Name, peerCluster: meta.ClusterID, ourCluster: ours})
	return fmt.Errorf("peer %s belongs to cluster %s, %s %s; use a fresh --data-dir to join %s",
		p.Name, meta.ClusterID, refusalMarker, ours, meta.ClusterID)
}
