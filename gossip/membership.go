package gossip

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Member is one node as gossip knows it.
type Member struct {
	ID    string
	Addr  string // IP
	Port  int    // gossip port
	Meta  Meta
	State State
}

// Membership is this node's view of the cluster, kept by memberlist.
type Membership struct {
	cfg    Config
	logger *slog.Logger
	list   *memberlist.Memberlist
	events *eventQueue

	mu        sync.Mutex
	meta      Meta               // ours, as gossiped
	members   map[string]*member // everyone we know, including us
	refusals  []refusal          // peers refused for another cluster id
	deadAfter time.Duration      // how long departed members stay listed

	ring  *memberlist.Keyring // nil when unencrypted; set once by New
	keyMu sync.Mutex          // serializes key changes, so SetKeys is one step

	shutdown sync.Once
}

type member struct {
	Member
	departed time.Time // when it failed or left
}

// refusal records a peer refused because it belongs to another cluster.
type refusal struct{ peerID, peerCluster, ourCluster string }

// ClusterMismatchError is Join's error when every peer it reached belongs to
// another cluster than this node: its data dir is from another cluster.
type ClusterMismatchError struct {
	Peer         string // address given to Join
	PeerID       string
	PeerCluster  string
	LocalCluster string
}

func (e *ClusterMismatchError) Error() string {
	return fmt.Sprintf("peer %s (node %s) belongs to cluster %s, this node's data dir belongs to cluster %s; use a fresh --data-dir to join %s",
		e.Peer, e.PeerID, e.PeerCluster, e.LocalCluster, e.PeerCluster)
}

// refusalMarker is in the text of every refusal the delegates return, which
// memberlist flattens into Join's error.
const refusalMarker = "this node's data dir belongs to cluster"

// New starts gossip on cfg's address; the node is alone until Join.
func New(cfg Config) (*Membership, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mc, err := cfg.memberlistConfig(logger)
	if err != nil {
		return nil, err
	}
	m := &Membership{
		cfg:       cfg,
		logger:    logger,
		events:    newEventQueue(),
		meta:      cfg.Meta,
		members:   make(map[string]*member),
		deadAfter: mc.GossipToTheDeadTime,
		ring:      mc.Keyring,
	}
	d := &delegate{m: m}
	mc.Delegate = d
	mc.Events = d
	mc.Merge = d
	mc.Alive = d
	if cfg.wrapTransport != nil || boundToOneAddress(cfg.BindAddr) {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{cfg.BindAddr}, BindPort: cfg.BindPort, Logger: mc.Logger,
		})
		if err != nil {
			m.events.close()
			return nil, fmt.Errorf("start gossip on %s: %w (is another clusterd using port %d?)",
				net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.BindPort)), err, cfg.BindPort)
		}
		mc.BindPort, mc.AdvertisePort = nt.GetAutoBindPort(), nt.GetAutoBindPort()
		var t memberlist.Transport = nt
		if boundToOneAddress(cfg.BindAddr) {
			t = &sourceBound{NetTransport: nt, source: &net.TCPAddr{IP: net.ParseIP(cfg.BindAddr)}}
		}
		if cfg.wrapTransport != nil {
			t = cfg.wrapTransport(t)
		}
		mc.Transport = t
	}
	list, err := memberlist.Create(mc)
	if err != nil {
		m.events.close()
		return nil, fmt.Errorf("start gossip on %s: %w (is another clusterd using port %d?)",
			net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.BindPort)), err, cfg.BindPort)
	}
	m.list = list
	return m, nil
}

// LocalID is this node's id.
func (m *Membership) LocalID() string { return m.cfg.NodeID }

// Port is the gossip port this node listens on (the chosen one when the
// config asked for 0).
func (m *Membership) Port() int { return int(m.list.LocalNode().Port) }

// Events delivers membership changes in order, including this node's own
// join. It never drops one: an unbounded queue sits between memberlist and
// the channel, so a slow consumer only costs memory. The channel is closed
// by Shutdown.
func (m *Membership) Events() <-chan Event { return m.events.out }

// Members is everyone known, this node included, sorted by id. Members that
// failed or left stay listed (Dead, Left) as long as memberlist remembers
// them (GossipToTheDeadTime, 30 s), or until they come back.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.members))
	for id, mb := range m.members {
		if !mb.departed.IsZero() && time.Since(mb.departed) > m.deadAfter {
			delete(m.members, id)
			continue
		}
		out = append(out, mb.Member)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Meta is the metadata this node gossips now.
func (m *Membership) Meta() Meta {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.meta
}

// UpdateMeta replaces this node's metadata and gossips it, waiting up to
// timeout for the broadcast to go out (the others then see MemberUpdate).
// Metadata over MetaMaxBytes is refused and the old one kept.
func (m *Membership) UpdateMeta(meta Meta, timeout time.Duration) error {
	if meta.NodeID == "" {
		meta.NodeID = m.cfg.NodeID
	}
	if meta.NodeID != m.cfg.NodeID {
		return fmt.Errorf("update gossip metadata: node id %q is not this node's (%q)", meta.NodeID, m.cfg.NodeID)
	}
	if _, err := meta.Encode(); err != nil {
		return fmt.Errorf("update gossip metadata: %w", err)
	}
	m.mu.Lock()
	m.meta = meta
	m.mu.Unlock()
	if err := m.list.UpdateNode(timeout); err != nil {
		return fmt.Errorf("update gossip metadata: %w", err)
	}
	return nil
}

// SetClusterID records the cluster this node now belongs to (it learns it
// when it joins or bootstraps) and gossips it. From then on peers of any
// other cluster are refused.
func (m *Membership) SetClusterID(id string) {
	m.mu.Lock()
	m.meta.ClusterID = id
	m.mu.Unlock()
	// UpdateNode queues the broadcast before it waits; the wait is only a
	// confirmation, which a setter does not need.
	_ = m.list.UpdateNode(time.Millisecond)
}

// Join contacts peers ("host" or "host:port", port 5052 by default), all at
// once, and merges their view of the cluster. It returns how many it
// reached; it fails only when none could be joined, naming each peer and why.
// When every reachable peer belongs to another cluster the error is a
// *ClusterMismatchError; when every one refused for want of a shared gossip
// key (some perhaps of another cluster too), it is or wraps a
// *KeyMismatchError.
func (m *Membership) Join(peers []string) (int, error) {
	if len(peers) == 0 {
		return 0, fmt.Errorf("join gossip: no peer address given")
	}
	addrs := make([]string, len(peers))
	for i, p := range peers {
		addrs[i] = withDefaultPort(p)
	}
	type result struct {
		n   int
		err error
	}
	results := make([]result, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() {
			n, err := m.list.Join([]string{a})
			results[i] = result{n, err}
		})
	}
	wg.Wait()

	contacted := 0
	var reasons []string
	var mismatches []*ClusterMismatchError
	var keyMismatches []*KeyMismatchError
	for i, r := range results {
		contacted += r.n
		if r.err == nil {
			continue
		}
		if mm := m.mismatch(addrs[i], r.err); mm != nil {
			mismatches = append(mismatches, mm)
			reasons = append(reasons, mm.Error())
			continue
		}
		if km := m.keyMismatch(addrs[i], r.err); km != nil {
			keyMismatches = append(keyMismatches, km)
			reasons = append(reasons, km.Error())
			continue
		}
		reasons = append(reasons, fmt.Sprintf("%s: %s", addrs[i], flatten(r.err)))
	}
	if contacted > 0 {
		if len(reasons) > 0 {
			m.logger.Warn("some gossip peers could not be joined", "joined", contacted, "failed", strings.Join(reasons, "; "))
		}
		return contacted, nil
	}
	if len(mismatches) == len(addrs) {
		return 0, mismatches[0]
	}
	// A key refusal is the one to act on, even beside another cluster's.
	if len(keyMismatches) > 0 && len(keyMismatches)+len(mismatches) == len(addrs) {
		if len(reasons) == 1 {
			return 0, keyMismatches[0]
		}
		first := keyMismatches[0].Error()
		others := slices.DeleteFunc(slices.Clone(reasons), func(r string) bool { return r == first })
		return 0, fmt.Errorf("%w; and %s", keyMismatches[0], strings.Join(others, "; "))
	}
	return 0, fmt.Errorf("join gossip through %s: %s: is clusterd running there, and is its gossip port (%d/tcp+udp) open? (give the gossip port, not the HTTP or Raft port)",
		strings.Join(addrs, ", "), strings.Join(reasons, "; "), DefaultPort)
}

// mismatch turns a Join error caused by our cluster id check into its typed
// form, or returns nil.
func (m *Membership) mismatch(addr string, err error) *ClusterMismatchError {
	text := err.Error()
	if !strings.Contains(text, refusalMarker) {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.refusals) - 1; i >= 0; i-- {
		r := m.refusals[i]
		if strings.Contains(text, "peer "+r.peerID+" belongs") {
			return &ClusterMismatchError{Peer: addr, PeerID: r.peerID, PeerCluster: r.peerCluster, LocalCluster: r.ourCluster}
		}
	}
	return nil
}

// Leave announces that this node leaves, so the others report MemberLeft
// rather than MemberFailed, and waits up to timeout for the announcement to
// go out. Call Shutdown afterwards.
func (m *Membership) Leave(timeout time.Duration) error {
	start := time.Now()
	m.mu.Lock()
	m.meta.Leaving = true
	m.mu.Unlock()
	// The others must hold the Leaving flag before the leave message
	// arrives: memberlist's leave would cancel a pending metadata broadcast.
	if err := m.list.UpdateNode(timeout / 2); err != nil {
		m.logger.Warn("leaving gossip: the leave flag did not finish gossiping; some nodes may report this one failed", "err", err)
	}
	if err := m.list.Leave(max(timeout-time.Since(start), timeout/2)); err != nil {
		return fmt.Errorf("leave gossip: %w", err)
	}
	return nil
}

// Shutdown stops gossip without telling anyone (to the others it looks like
// a crash unless Leave came first) and closes the Events channel. It is safe
// to call more than once.
func (m *Membership) Shutdown() error {
	var err error
	m.shutdown.Do(func() {
		err = m.list.Shutdown()
		m.events.close()
	})
	if err != nil {
		return fmt.Errorf("shut down gossip: %w", err)
	}
	return nil
}

// withDefaultPort adds the gossip port to a bare host or IP.
func withDefaultPort(peer string) string {
	peer = strings.TrimSpace(peer)
	if _, _, err := net.SplitHostPort(peer); err == nil {
		return peer
	}
	return net.JoinHostPort(strings.Trim(peer, "[]"), strconv.Itoa(DefaultPort))
}

// flatten makes memberlist's multierror one line.
func flatten(err error) string {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		if line == "" || strings.HasSuffix(line, "error occurred:") || strings.HasSuffix(line, "errors occurred:") {
			continue
		}
		parts = append(parts, line)
	}
	if len(parts) == 0 {
		return err.Error()
	}
	return strings.Join(parts, "; ")
}
