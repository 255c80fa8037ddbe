package raftnet

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/health/healthtest"
	"github.com/clusterd/clusterd/node/pki"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

// pkiWorld is a test cluster's CA, clock and removed nodes.
type pkiWorld struct {
	ca      *pki.CA
	clock   *healthtest.Clock // read by every certificate check
	mu      sync.Mutex
	revoked map[string]bool
}

func newWorld(t *testing.T) *pkiWorld {
	t.Helper()
	ca, err := pki.NewCA("test", t0, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &pkiWorld{ca: ca, clock: healthtest.NewClock(t0), revoked: map[string]bool{}}
}

func (w *pkiWorld) revoke(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.revoked[id] = true
}

func (w *pkiWorld) isRevoked(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.revoked[id]
}

// identity is one node's key and its current certificate, swapped on
// renewal as the node will do it.
type identity struct {
	id   pki.Identity
	key  *ecdsa.PrivateKey
	cert atomic.Pointer[tls.Certificate]
}

// issue signs a certificate for id from ca at now, with a fresh key.
func issue(t *testing.T, ca *pki.CA, id pki.Identity, lifetime time.Duration, now time.Time) *identity {
	t.Helper()
	key, err := pki.NewKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n := &identity{id: id, key: key}
	n.renew(t, ca, lifetime, now)
	return n
}

// renew swaps in a new certificate for the same key, issued at now.
func (n *identity) renew(t *testing.T, ca *pki.CA, lifetime time.Duration, now time.Time) *x509.Certificate {
	t.Helper()
	c, err := ca.Issue(&n.key.PublicKey, n.id, []net.IP{net.IPv4(127, 0, 0, 1)}, lifetime, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n.cert.Store(pki.Chain(c, ca.Cert, n.key))
	return c
}

func (n *identity) leaf() *x509.Certificate { return n.cert.Load().Leaf }

func (w *pkiWorld) server(t *testing.T, nodeID string, lifetime time.Duration) *identity {
	return issue(t, w.ca, pki.Identity{NodeID: nodeID, Role: pki.RoleServer}, lifetime, w.clock.Now())
}

// peers is what a node with identity n passes to New.
func (w *pkiWorld) peers(n *identity) pki.Peers {
	return pki.Peers{CA: w.ca.Cert, Cert: n.cert.Load, Now: w.clock.Now, Revoked: w.isRevoked}
}

// logBuffer collects a layer's log lines for tests to assert on the reason
// a connection was refused (the refused side only sees a TLS alert).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitLogged waits for a log line containing every one of parts.
func waitLogged(t *testing.T, b *logBuffer, parts ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("a log line with %q", parts), 5*time.Second, func() bool {
		for _, line := range strings.Split(b.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return true
			}
		}
		return false
	})
}

// eventually polls cond every 10 ms until it holds, failing after timeout:
// the only way these tests wait.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// listen is a listener on a free loopback port.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// newLayer starts a layer for n on a loopback port, closed at the end of
// the test.
func newLayer(t *testing.T, w *pkiWorld, n *identity, ln net.Listener, opts Options) *Layer {
	t.Helper()
	if ln == nil {
		ln = listen(t)
	}
	l, err := New(ln, nil, w.peers(n), opts)
	if err != nil {
		_ = ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// counter is the trivial FSM: it counts entries and keeps the last.
type counter struct {
	mu   sync.Mutex
	n    int
	last string
}

func (f *counter) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	f.last = string(l.Data)
	return f.n
}

func (f *counter) applied() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (f *counter) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return countSnapshot(f.n), nil
}

func (f *counter) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var n int
	if _, err := fmt.Fscan(rc, &n); err != nil {
		return err
	}
	f.mu.Lock()
	f.n = n
	f.mu.Unlock()
	return nil
}

type countSnapshot int

func (s countSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := fmt.Fprint(sink, int(s)); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (countSnapshot) Release() {}

// member is one server of a test cluster.
type member struct {
	ident *identity
	layer *Layer
	log   *logBuffer
	trans *raft.NetworkTransport
	raft  *raft.Raft
	fsm   *counter
}

// cluster is three real Raft voters over this stream layer on loopback,
// with in-memory stores.
type cluster struct {
	world   *pkiWorld
	members []*member
}

// clusterOpts vary a test cluster; its Raft timeouts are fixed in
// startCluster, short but with room for -race on two cores.
type clusterOpts struct {
	// lifetime of the members' certificates; 0 is pki's default.
	lifetime time.Duration
	// wrap, if set, wraps each member's listener (to record the wire).
	wrap func(net.Listener) net.Listener
}

func startCluster(t *testing.T, w *pkiWorld, o clusterOpts) *cluster {
	t.Helper()
	c := &cluster{world: w}
	var servers []raft.Server
	for i := range 3 {
		m := &member{ident: w.server(t, fmt.Sprintf("server-%d", i), o.lifetime), log: &logBuffer{}, fsm: &counter{}}
		ln := listen(t)
		if o.wrap != nil {
			ln = o.wrap(ln)
		}
		m.layer = newLayer(t, w, m.ident, ln, Options{HandshakeTimeout: 2 * time.Second, Logger: m.log.logger()})
		m.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream:  m.layer,
			MaxPool: 3,
			Timeout: 2 * time.Second,
			Logger:  hclog.NewNullLogger(),
		})
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ident.id.NodeID), Address: m.trans.LocalAddr()})
		c.members = append(c.members, m)
	}
	for _, m := range c.members {
		cfg := raft.DefaultConfig()
		cfg.LocalID = raft.ServerID(m.ident.id.NodeID)
		cfg.HeartbeatTimeout = 400 * time.Millisecond
		cfg.ElectionTimeout = 400 * time.Millisecond
		cfg.LeaderLeaseTimeout = 200 * time.Millisecond
		cfg.CommitTimeout = 10 * time.Millisecond
		cfg.Logger = hclog.NewNullLogger()
		store := raft.NewInmemStore()
		snaps := raft.NewInmemSnapshotStore()
		if err := raft.BootstrapCluster(cfg, store, store, snaps, m.trans, raft.Configuration{Servers: servers}); err != nil {
			t.Fatal(err)
		}
		r, err := raft.NewRaft(cfg, m.fsm, store, store, snaps, m.trans)
		if err != nil {
			t.Fatal(err)
		}
		m.raft = r
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			if err := m.raft.Shutdown().Error(); err != nil {
				t.Error(err)
			}
			_ = m.trans.Close()
		}
	})
	c.leader(t)
	return c
}

// leader waits for a leader and returns it.
func (c *cluster) leader(t *testing.T) *member {
	t.Helper()
	var l *member
	eventually(t, "a leader", 10*time.Second, func() bool {
		for _, m := range c.members {
			if m.raft.State() == raft.Leader {
				l = m
				return true
			}
		}
		return false
	})
	return l
}

// commit applies n entries through the leader and waits until every member
// has applied them.
func (c *cluster) commit(t *testing.T, n int, prefix string) {
	t.Helper()
	l := c.leader(t)
	want := l.fsm.applied() + n
	for i := range n {
		if err := l.raft.Apply([]byte(fmt.Sprintf("%s-%d", prefix, i)), 5*time.Second).Error(); err != nil {
			t.Fatalf("apply %s-%d on %s: %v", prefix, i, l.ident.id.NodeID, err)
		}
	}
	eventually(t, fmt.Sprintf("every member to apply %d entries", want), 10*time.Second, func() bool {
		for _, m := range c.members {
			if m.fsm.applied() < want {
				return false
			}
		}
		return true
	})
}

// rawTLS is a TLS client outside the cluster's code: it presents cert (nil:
// none) and trusts any server, as an attacker's would.
func rawTLS(t *testing.T, addr net.Addr, cert *tls.Certificate) *tls.Conn {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: cfg}
	nc, err := d.Dial("tcp", addr.String())
	if err != nil {
		// With TLS 1.3 a refused client certificate usually shows on the
		// first read instead; either way the caller's read must fail.
		t.Logf("handshake with %s failed at once: %v", addr, err)
		return nil
	}
	c := nc.(*tls.Conn)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// refused says whether the server ended the connection: a read (after
// the handshake) fails with something other than our own read timeout.
func refused(c net.Conn) (bool, error) {
	if c == nil {
		return true, nil
	}
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if err == nil {
		return false, nil
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false, err
	}
	return true, err
}

// alive says whether a connection is still open: a short read times out
// rather than failing.
func alive(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
