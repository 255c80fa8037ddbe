package raftnet

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Dial connects to the server at address and completes a mutual TLS
// handshake within timeout (or HandshakeTimeout, if timeout is not
// positive or is longer): the peer must present a valid, unrevoked server
// certificate of this cluster.
//
// With TLS 1.3 the client's side of the handshake ends before the server
// has checked the client's certificate, so a peer that refuses this server
// (it was removed, its certificate expired) shows as an error on the first
// read or write, not here; Raft treats both alike and retries.
func (l *Layer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.ctx.Err() != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", address, net.ErrClosed)
	}
	if timeout <= 0 || timeout > l.opts.HandshakeTimeout {
		timeout = l.opts.HandshakeTimeout
	}
	raw, err := dialer(l.source, timeout).DialContext(l.ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
	}
	tc := tls.Client(raw, l.client)
	if err := l.handshakeWithin(tc, timeout); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
	}
	c, err := l.track(tc, l.client.VerifyConnection)
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
	}
	return c, nil
}
