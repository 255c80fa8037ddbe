package raftnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// Accept returns the next inbound connection whose handshake succeeded: a
// server of this cluster, verified. Failed handshakes never reach it; they
// are logged and dropped. After Close it returns an error wrapping
// net.ErrClosed.
func (l *Layer) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.ctx.Done():
		return nil, fmt.Errorf("accept a raft connection on %s: %w", l.addr, net.ErrClosed)
	case <-l.loopDone:
		return nil, l.loopErr
	}
}

// acceptLoop takes TCP connections off the listener and starts a handshake
// for each; it never waits on a client, so a slow one holds up nobody.
func (l *Layer) acceptLoop() {
	defer close(l.loopDone)
	var delay time.Duration
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil {
				l.loopErr = fmt.Errorf("accept a raft connection on %s: %w", l.addr, net.ErrClosed)
				return
			}
			// Out of file descriptors and the like pass; retry as
			// net/http does, backing off so as not to spin.
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.log.Warn("raft listener: accept failed, retrying", "addr", l.addr, "error", err, "retry_in", delay)
				select {
				case <-time.After(delay):
					continue
				case <-l.ctx.Done():
					l.loopErr = fmt.Errorf("accept a raft connection on %s: %w", l.addr, net.ErrClosed)
					return
				}
			}
			l.loopErr = fmt.Errorf("accept a raft connection on %s: %w (the listener failed; restart the server)", l.addr, err)
			l.log.Error("raft listener stopped", "addr", l.addr, "error", err)
			return
		}
		delay = 0
		select {
		case l.slots <- struct{}{}:
		default:
			l.log.Warn("raft connection dropped: too many handshakes in progress",
				"remote", raw.RemoteAddr().String(), "max_handshakes", cap(l.slots))
			_ = raw.Close()
			continue
		}
		l.handshakes.Add(1)
		go l.handshake(raw)
	}
}

// handshake completes one accepted connection's TLS handshake within
// HandshakeTimeout and hands it to Accept, or logs why not and closes it.
func (l *Layer) handshake(raw net.Conn) {
	defer l.handshakes.Done()
	tc := tls.Server(raw, l.server)
	err := l.handshakeWithin(tc, l.opts.HandshakeTimeout)
	<-l.slots
	if err != nil {
		_ = raw.Close()
		if l.ctx.Err() == nil {
			l.log.Warn("raft connection refused", "remote", raw.RemoteAddr().String(), "error", err)
		}
		return
	}
	c, err := l.track(tc, l.server.VerifyConnection)
	if err != nil {
		_ = raw.Close()
		return
	}
	select {
	case l.ready <- c:
	case <-l.ctx.Done():
		c.cut()
	}
}

// handshakeWithin runs tc's handshake, interrupted by the timeout or by
// Close, and says which of the two stopped it.
func (l *Layer) handshakeWithin(tc *tls.Conn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(l.ctx, timeout)
	defer cancel()
	err := tc.HandshakeContext(ctx)
	switch {
	case err == nil:
		return nil
	case l.ctx.Err() != nil:
		return fmt.Errorf("TLS handshake with %s: %w", tc.RemoteAddr(), net.ErrClosed)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("TLS handshake with %s: not done within %s (not a clusterd server, or one far too slow): %w", tc.RemoteAddr(), timeout, err)
	default:
		return fmt.Errorf("TLS handshake with %s: %w", tc.RemoteAddr(), err)
	}
}
