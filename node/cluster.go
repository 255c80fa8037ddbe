package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusterd/clusterd/gossip"
	"github.com/clusterd/clusterd/raftfsm"
)

// Cluster membership: gossip on the gossip port says who is alive; joining,
// symmetric bootstrap and the cluster id that keeps two clusters apart.

const clusterIDFile = "cluster-id"

// startGossip starts memberlist with this node's metadata.
func (n *Node) startGossip() error {
	cfg := gossip.DefaultConfig()
	cfg.NodeID = n.id
	cfg.BindAddr = n.cfg.Bind
	cfg.BindPort = n.cfg.GossipPort
	cfg.AdvertiseAddr = n.advertise
	cfg.Meta = n.gossipMeta()
	cfg.Logger = n.log.With("component", "gossip")
	keys, err := gossipKeyBytes(n.ident.keys())
	if err != nil {
		return fmt.Errorf("the gossip keyring in %s: %w", n.tlsPath("gossip.keys"), err)
	}
	cfg.Keys = keys
	m, err := gossip.New(cfg)
	if err != nil {
		return fmt.Errorf("start gossip on %s: %w (--gossip-port)", net.JoinHostPort(n.cfg.Bind, strconv.Itoa(n.cfg.GossipPort)), err)
	}
	n.gossip = m
	return nil
}

func (n *Node) gossipMeta() gossip.Meta {
	_, raftPort, _ := net.SplitHostPort(string(n.raft.transport.LocalAddr()))
	rp, _ := strconv.Atoi(raftPort)
	_, httpPort, _ := net.SplitHostPort(n.httpAddr)
	hp, _ := strconv.Atoi(httpPort)
	return gossip.Meta{
		NodeID: n.id, HTTPPort: hp, RaftPort: rp, Build: n.cfg.Version, Server: n.cfg.Server, LogVersion: raftfsm.LogVersion,
		Zone: n.cfg.Attributes["zone"], ClusterID: n.clusterID(), HasState: n.raft.hadState || n.fsm.View().Index() > 0,
		Keys: keysDigest(n.ident.keys()),
	}
}

// clusterID is the cluster this data dir belongs to: from the replicated
// state, or from the file written when it was first learnt (the state is
// replayed asynchronously after a restart).
func (n *Node) clusterID() string {
	if id := n.fsm.View().ClusterID(); id != "" {
		return id
	}
	b, _ := os.ReadFile(filepath.Join(n.cfg.DataDir, clusterIDFile))
	return strings.TrimSpace(string(b))
}

// watchClusterID records the cluster id in the data dir and in gossip once
// the replicated state names it, so this data dir can never join another
// cluster.
func (n *Node) watchClusterID(ctx context.Context) {
	known := ""
	for {
		changed := n.fsm.Changed()
		if id := n.fsm.View().ClusterID(); id != "" && id != known {
			known = id
			path := filepath.Join(n.cfg.DataDir, clusterIDFile)
			if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
				n.log.Warn("record cluster id", "err", err)
			}
			n.gossip.SetClusterID(id)
			if err := n.gossip.UpdateMeta(n.gossipMeta(), 5*time.Second); err != nil {
				n.log.Warn("gossip the cluster id", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// joinPeers joins the cluster through any of the configured peers, retrying
// with jittered backoff until one answers or JoinTimeout passes.
func (n *Node) joinPeers(ctx context.Context) error {
	if len(n.cfg.Join) == 0 {
		return nil
	}
	deadline := time.Now().Add(n.cfg.JoinTimeout)
	backoff := 250 * time.Millisecond
	for {
		count, err := n.gossip.Join(n.cfg.Join)
		if err == nil && count > 0 {
			n.log.Info("joined the cluster's gossip", "through", count, "peers", strings.Join(n.cfg.Join, ","))
			return nil
		}
		if err == nil {
			err = errors.New("no peer answered")
		}
		var refused *gossip.ClusterMismatchError
		if errors.As(err, &refused) {
			return err // retrying cannot fix a data dir of another cluster
		}
		if time.Now().After(deadline) && !n.raft.hadState {
			return fmt.Errorf("join %s: no peer answered within %v: %w", strings.Join(n.cfg.Join, ", "), n.cfg.JoinTimeout, err)
		}
		n.log.Info("waiting for a peer to answer", "peers", strings.Join(n.cfg.Join, ","), "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff + rand.N(backoff/2)):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// bootstrapExpect forms a new cluster once BootstrapExpect server-eligible
// nodes without state see each other: each of them computes the same
// configuration (the lowest node ids) and bootstraps it, which raft accepts
// exactly once. If any member already belongs to a cluster, nobody
// bootstraps: the leader adds the newcomers.
func (n *Node) bootstrapExpect(ctx context.Context) {
	want := n.cfg.BootstrapExpect
	if want == 0 || n.raft.hadState {
		return
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		var servers []gossip.Member
		existing := false
		for _, m := range n.gossip.Members() {
			if m.State != gossip.Alive {
				continue
			}
			if m.Meta.HasState || m.Meta.ClusterID != "" {
				existing = true
			}
			if m.Meta.Server {
				servers = append(servers, m)
			}
		}
		if existing || n.fsm.View().Index() > 0 {
			n.log.Info("a cluster already exists; waiting to be added by its leader")
			return
		}
		if len(servers) >= want {
			sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
			servers = servers[:want]
			var conf raft.Configuration
			mine := false
			for _, m := range servers {
				conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(m.ID), Address: raft.ServerAddress(net.JoinHostPort(m.Addr, strconv.Itoa(m.Meta.RaftPort)))})
				mine = mine || m.ID == n.id
			}
			if !mine {
				n.log.Info("enough servers to bootstrap, this node is not among the first; it will be added by the leader")
				return
			}
			err := n.raft.raft.BootstrapCluster(conf).Error()
			if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				n.log.Error("bootstrap the cluster", "err", err)
				return
			}
			n.log.Info("bootstrapped the cluster with the expected servers", "servers", want)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// memberByID finds a member by node id.
func (n *Node) memberByID(id string) (gossip.Member, bool) {
	if n.gossip == nil {
		return gossip.Member{}, false
	}
	for _, m := range n.gossip.Members() {
		if m.ID == id {
			return m, true
		}
	}
	return gossip.Member{}, false
}

func memberHTTPAddr(m gossip.Member) string {
	return net.JoinHostPort(m.Addr, strconv.Itoa(m.Meta.HTTPPort))
}

func memberRaftAddr(m gossip.Member) raft.ServerAddress {
	return raft.ServerAddress(net.JoinHostPort(m.Addr, strconv.Itoa(m.Meta.RaftPort)))
}

// drainGossipEvents consumes membership events; each one wakes the leader
// loop, which compares gossip with the replicated node list.
func (n *Node) drainGossipEvents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-n.gossip.Events():
			if !ok {
				return
			}
			n.log.Debug("membership event", "event", ev.Type.String(), "member", ev.Member.ID)
			n.leaderMu.Lock()
			if l := n.leader; l != nil {
				l.poke()
			}
			n.leaderMu.Unlock()
		}
	}
}
