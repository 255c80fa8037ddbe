package node

import (
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/clusterd/clusterd/gossip"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web"
)

// The replicated log's version (raftfsm.LogVersion): the leader raises it
// once every server of the Raft configuration runs a binary that knows the
// new version (they gossip it), so that a cluster upgraded server by server
// never has an old server apply commands it does not understand. Until
// then, features that need the new version are refused.

// raiseLogVersion writes SetLogVersion when the log is behind this binary
// and every server can follow. It is cheap to call often.
func (l *leaderLoop) raiseLogVersion() {
	have := l.n.fsm.View().LogVersion()
	if have >= raftfsm.LogVersion {
		return
	}
	if missing := l.serversBehind(raftfsm.LogVersion); missing != "" {
		if !l.warnedVersion {
			l.warnedVersion = true
			l.n.log.Warn("the replicated log stays at its old version until every server is upgraded", "log_version", have, "this_binary", raftfsm.LogVersion, "behind", missing)
		}
		return
	}
	if _, err := l.n.apply(&raftfsm.SetLogVersion{Version: raftfsm.LogVersion}); err != nil {
		l.n.log.Warn("raise the log version", "err", err)
		return
	}
	l.n.log.Info("raised the replicated log's version", "from", have, "to", raftfsm.LogVersion)
}

// serversBehind names a server of the Raft configuration whose binary does
// not know log version v (or is not known to gossip), or "" when none.
func (l *leaderLoop) serversBehind(v int) string {
	f := l.n.raft.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return "the raft configuration (" + err.Error() + ")"
	}
	members := map[string]gossip.Member{}
	if l.n.gossip != nil {
		for _, m := range l.n.gossip.Members() {
			members[m.ID] = m
		}
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(l.n.id) {
			continue
		}
		m, ok := members[string(s.ID)]
		if !ok || max(m.Meta.LogVersion, 1) < v {
			return string(s.ID)
		}
	}
	return ""
}

// requireLogVersion refuses, with a 503 saying what to do, a request for a
// feature the log does not have yet.
func (n *Node) requireLogVersion(v int, feature string) error {
	if have := n.fsm.View().LogVersion(); have < v {
		return &web.MesosError{Status: 503, Message: fmt.Sprintf("%s needs every server of the cluster upgraded to a clusterd that knows log version %d (the log is at %d); upgrade the remaining servers", feature, v, have)}
	}
	return nil
}
