package node

import (
	"context"

	"github.com/hashicorp/raft"

	"github.com/clusterd/clusterd/web"
	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/mesos"
)

// mesosBackend answers the Mesos-compatible endpoints. Only the leader
// serves them (frameworks and operators talk to the master, as in Mesos);
// every other node answers 307 to it.
type mesosBackend struct{ n *Node }

var _ web.MesosMaster = (*mesosBackend)(nil)

// leading returns the leader loop, or the error that sends the client to
// the leader.
func (b *mesosBackend) leading() (*leaderLoop, error) {
	b.n.leaderMu.Lock()
	st := b.n.leader
	b.n.leaderMu.Unlock()
	if st == nil {
		if b.n.raft.raft.State() == raft.Leader {
			// Elected, still rebuilding its soft state: not a redirect to
			// itself, a 503 to retry.
			return nil, &api.NotLeaderError{}
		}
		return nil, b.n.notLeader()
	}
	if b.n.raft.raft.State() != raft.Leader {
		// Deposed, its leader loop not torn down yet: a call carried out
		// now would answer on a stream that is about to close, and the
		// framework would never hear of it (the fault suite found this).
		return nil, b.n.notLeader()
	}
	return st.loop, nil
}

func (b *mesosBackend) Subscribe(ctx context.Context, call *mesos.Call) (*web.MesosSubscription, error) {
	l, err := b.leading()
	if err != nil {
		return nil, err
	}
	if err := b.n.requireLogVersion(2, "Mesos frameworks"); err != nil {
		return nil, err
	}
	return l.subscribe(call)
}

func (b *mesosBackend) SchedulerCall(ctx context.Context, streamID string, call *mesos.Call) error {
	l, err := b.leading()
	if err != nil {
		return err
	}
	return l.schedulerCall(ctx, streamID, call)
}

func (b *mesosBackend) OperatorCall(ctx context.Context, call *mesos.OperatorCall) (*mesos.OperatorResponse, error) {
	l, err := b.leading()
	if err != nil {
		return nil, err
	}
	switch call.Type {
	case mesos.OperatorUpdateWeights, mesos.OperatorUpdateQuota, mesos.OperatorReserveResources,
		mesos.OperatorUnreserveResources, mesos.OperatorDeactivateAgent, mesos.OperatorTeardown:
		if err := b.n.requireLogVersion(2, call.Type); err != nil {
			return nil, err
		}
	}
	return l.operatorCall(ctx, call)
}

func (b *mesosBackend) OperatorSubscribe(ctx context.Context) (*web.OperatorSubscription, error) {
	l, err := b.leading()
	if err != nil {
		return nil, err
	}
	return l.operatorSubscribe(ctx)
}

func (b *mesosBackend) MasterState(ctx context.Context) (*mesos.MasterState, error) {
	l, err := b.leading()
	if err != nil {
		return nil, err
	}
	return l.masterState(), nil
}

func (b *mesosBackend) LeaderURL(ctx context.Context) (string, error) {
	if _, err := b.leading(); err == nil {
		return "http://" + b.n.httpAddr, nil
	}
	err := b.n.notLeader()
	if nl, ok := err.(*api.NotLeaderError); ok && nl.LeaderAddr != "" {
		return "http://" + nl.LeaderAddr, nil
	}
	return "", err
}
