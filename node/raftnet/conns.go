package raftnet

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/clusterd/clusterd/node/pki"
)

// Conn is a verified Raft connection to another server, accepted or
// dialled. The layer tracks it until it is closed, so that it can be cut
// when its peer is removed or its certificate stops being valid.
type Conn struct {
	*tls.Conn
	layer *Layer
	peer  pki.Identity
	// verify is the check its handshake passed (the server's or the
	// client's side), run again by CloseInvalid.
	verify func(tls.ConnectionState) error
}

// Peer is the node the connection's verified certificate names.
func (c *Conn) Peer() pki.Identity { return c.peer }

// Close closes the connection (with a TLS close_notify) and stops tracking
// it.
func (c *Conn) Close() error {
	c.layer.untrack(c)
	return c.Conn.Close()
}

// cut closes the connection at once, without the TLS close_notify, which
// could wait on a peer that is not reading, and stops tracking it. Raft's
// reader and writer on it fail on their next call.
func (c *Conn) cut() {
	c.layer.untrack(c)
	_ = c.NetConn().Close()
}

// track registers a connection that passed its handshake, unless the layer
// is closing.
func (l *Layer) track(tc *tls.Conn, verify func(tls.ConnectionState) error) (*Conn, error) {
	cs := tc.ConnectionState()
	id, _ := pki.PeerIdentity(&cs) // verified in the handshake
	c := &Conn{Conn: tc, layer: l, peer: id, verify: verify}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("connection with node %s: %w", id.NodeID, net.ErrClosed)
	}
	l.conns[c] = struct{}{}
	return c, nil
}

func (l *Layer) untrack(c *Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// CloseConnsOf cuts every open connection, in either direction, with the
// node nodeID, and says how many there were. Call it when a node is removed
// from the cluster: Peers.Revoked refuses its next handshakes, and this
// stops the ones it already has.
func (l *Layer) CloseConnsOf(nodeID string) int {
	return l.cut(func(c *Conn) bool { return c.peer.NodeID == nodeID }, "node "+nodeID+" was cut off")
}

// CloseInvalid checks every open connection's peer certificate again, as
// its handshake did (cluster CA, valid at Peers.Now, not revoked, a server)
// and cuts those that fail, saying how many. An established connection
// outlives its certificate otherwise: run it when membership changes and
// periodically, so that a node that stopped renewing is cut off once its
// certificate expires.
func (l *Layer) CloseInvalid() int {
	l.mu.Lock()
	conns := make([]*Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	n := 0
	for _, c := range conns {
		// Verified outside the lock: it runs Peers.Revoked, the caller's.
		if err := c.verify(c.ConnectionState()); err != nil {
			l.log.Warn("raft connection cut: the peer's certificate is no longer valid",
				"node", c.peer.NodeID, "remote", c.RemoteAddr().String(), "error", err)
			c.cut()
			n++
		}
	}
	return n
}

// cut closes the tracked connections that match and says how many.
func (l *Layer) cut(match func(*Conn) bool, why string) int {
	l.mu.Lock()
	var conns []*Conn
	for c := range l.conns {
		if match(c) {
			conns = append(conns, c)
		}
	}
	l.mu.Unlock()
	for _, c := range conns {
		l.log.Info("raft connection cut", "node", c.peer.NodeID, "remote", c.RemoteAddr().String(), "why", why)
		c.cut()
	}
	return len(conns)
}
