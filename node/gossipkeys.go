package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/clusterd/clusterd/gossip"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// Gossip key rotation (package gossip has the procedure): the replicated
// keyring is the truth; every node makes its ring equal to it (servers
// from their replica, other nodes from a server over mutual TLS) and
// gossips the ring's digest; the leader moves the rotation to its next
// round (install the new key, use it, drop the old one) once every live
// node shows this round's digest.

const gossipKeySyncInterval = 2 * time.Second

// clusterGossipKeys is the keyring this node should use.
func (n *Node) clusterGossipKeys(ctx context.Context) ([]string, error) {
	if n.hasReplica() {
		s := n.fsm.View().ClusterSecrets()
		if s == nil {
			return nil, nil
		}
		return s.GossipKeys, nil
	}
	var out struct {
		Keys []string `json:"keys"`
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.peer.do(qctx, "GET", "/v1/internal/gossip-keys", nil, &out); err != nil {
		return nil, err
	}
	return out.Keys, nil
}

// syncGossipKeys follows the cluster's keyring, on an encrypted cluster.
func (n *Node) syncGossipKeys(ctx context.Context) {
	var failingSince time.Time
	for {
		// A node starting has no server to ask for a few seconds: only
		// a failure that lasts is worth a warning.
		if err := n.followGossipKeys(ctx); err == nil {
			failingSince = time.Time{}
		} else if failingSince.IsZero() {
			failingSince = time.Now()
		} else if time.Since(failingSince) > 30*time.Second {
			n.log.Warn("follow the cluster's gossip keys", "err", err, "since", failingSince)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(gossipKeySyncInterval):
		}
	}
}

func (n *Node) followGossipKeys(ctx context.Context) error {
	if n.gossip == nil || !n.secureCluster() {
		return nil
	}
	want, err := n.clusterGossipKeys(ctx)
	if err != nil || len(want) == 0 {
		return err
	}
	if slices.Equal(want, n.ident.keys()) {
		return nil
	}
	keys, err := gossipKeyBytes(want)
	if err != nil {
		return err
	}
	if err := n.gossip.SetKeys(keys); err != nil {
		return err
	}
	if err := writeFileAtomic(n.tlsPath("gossip.keys"), []byte(strings.Join(want, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("save the gossip keys: %w", err)
	}
	n.ident.mu.Lock()
	n.ident.gossipKeys = want
	n.ident.mu.Unlock()
	n.log.Info("gossip keyring changed", "keys", len(want), "digest", gossip.KeyringDigest(keys))
	return n.gossip.UpdateMeta(n.gossipMeta(), 5*time.Second)
}

// keysDigest is KeyringDigest of base64 keys ("" when they do not decode).
func keysDigest(keys []string) string {
	b, err := gossipKeyBytes(keys)
	if err != nil {
		return ""
	}
	return gossip.KeyringDigest(b)
}

// handleGossipKeys gives a node without a replica the cluster's keyring:
// only over mutual TLS, to a node of this cluster.
func (n *Node) handleGossipKeys(w http.ResponseWriter, r *http.Request) {
	if !n.secureCluster() {
		writeRPCStatus(w, http.StatusNotFound, api.ErrorBody{Error: "gossip is not encrypted in this cluster"})
		return
	}
	if !n.hasReplica() {
		writeRPCError(w, r, n.notLeader())
		return
	}
	var keys []string
	if s := n.fsm.View().ClusterSecrets(); s != nil {
		keys = s.GossipKeys
	}
	writeRPC(w, map[string][]string{"keys": keys})
}

// gossipPending are the live members whose keyring is not digest.
func (n *Node) gossipPending(digest string) []string {
	var pending []string
	v := n.fsm.View()
	for _, m := range n.gossip.Members() {
		if m.State == gossip.Alive && m.Meta.Keys != digest {
			name := m.ID
			if nd := v.Node(m.ID); nd != nil {
				name = nd.Name
			}
			pending = append(pending, name)
		}
	}
	slices.Sort(pending)
	return pending
}

// advanceGossipRotation is the leader's step: the next round once every
// live node is at this one.
func (l *leaderLoop) advanceGossipRotation() {
	n := l.n
	s := n.fsm.View().ClusterSecrets()
	if s == nil || s.GossipRotation == "" || n.gossip == nil {
		return
	}
	if len(n.gossipPending(keysDigest(s.GossipKeys))) > 0 {
		return
	}
	next := *s
	switch s.GossipRotation {
	case raftfsm.GossipRotationInstall:
		next.GossipKeys, next.GossipRotation = []string{s.GossipKeys[1], s.GossipKeys[0]}, raftfsm.GossipRotationUse
	case raftfsm.GossipRotationUse:
		next.GossipKeys, next.GossipRotation = []string{s.GossipKeys[0]}, ""
	}
	if _, err := n.apply(&raftfsm.SetClusterSecrets{Secrets: next}); err != nil {
		n.log.Warn("advance the gossip key rotation", "err", err)
		return
	}
	n.log.Info("gossip key rotation: every node is at the round; next", "round", orDone(next.GossipRotation))
}

func orDone(round string) string {
	if round == "" {
		return "done"
	}
	return round
}

// GossipStatus is what GET /v1/gossip shows.
func (b *backend) GossipStatus(ctx context.Context) (api.GossipStatus, error) {
	v, err := b.view()
	if err != nil {
		return api.GossipStatus{}, err
	}
	st := api.GossipStatus{Encrypted: b.n.secureCluster()}
	if s := v.ClusterSecrets(); s != nil && st.Encrypted {
		st.Keys, st.Digest, st.Rotation = len(s.GossipKeys), keysDigest(s.GossipKeys), s.GossipRotation
		st.Pending = b.n.gossipPending(st.Digest)
	}
	return st, nil
}

// RotateGossipKey starts a rotation: a new key, installed everywhere
// before anyone sends with it.
func (b *backend) RotateGossipKey(ctx context.Context) (api.GossipStatus, error) {
	if _, err := b.leading(); err != nil {
		return api.GossipStatus{}, err
	}
	if !b.n.secureCluster() {
		return api.GossipStatus{}, fmt.Errorf("gossip is not encrypted in this cluster (it was not made by 'clusterd init'): %w", api.ErrConflict)
	}
	s := b.n.fsm.View().ClusterSecrets()
	if s == nil || len(s.GossipKeys) == 0 {
		return api.GossipStatus{}, fmt.Errorf("the cluster has no gossip key yet: %w", api.ErrConflict)
	}
	if s.GossipRotation != "" {
		return api.GossipStatus{}, fmt.Errorf("a gossip key rotation is in progress (round %s): wait for it ('clusterd gossip status'): %w", s.GossipRotation, api.ErrConflict)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return api.GossipStatus{}, err
	}
	next := *s
	next.GossipKeys = []string{s.GossipKeys[0], base64.StdEncoding.EncodeToString(key)}
	next.GossipRotation = raftfsm.GossipRotationInstall
	if _, err := b.n.apply(&raftfsm.SetClusterSecrets{Secrets: next}); err != nil {
		return api.GossipStatus{}, err
	}
	b.n.log.Info("gossip key rotation started", "round", next.GossipRotation)
	return b.GossipStatus(ctx)
}
