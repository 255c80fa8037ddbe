// Package raftnet is the stream layer under Raft's network transport: every
// connection between clusterd servers' Raft instances is TLS 1.3 with both
// ends proving, by a certificate from the cluster CA, that they are servers
// of this cluster that were not removed.
//
// It owns the handshake (bounded in time, one goroutine per connection, so
// one silent client cannot hold up the others), the rule that only servers
// speak Raft, and the list of open connections, so that a removed node's
// live connections can be cut at once rather than only its next handshake.
// It does not own certificates: pki verifies them, and renewal is the caller
// swapping what Peers.Cert returns (new handshakes present the new one;
// established connections, already authenticated, carry on). Raft's framing
// is raft.NetworkTransport's, over the connections handed out here.
package raftnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/clusterd/clusterd/node/pki"
	"github.com/hashicorp/raft"
)

// Options tune a Layer; a zero field takes its DefaultOptions value.
type Options struct {
	// HandshakeTimeout bounds every TLS handshake, accepted or dialled (a
	// Dial with a shorter timeout of its own uses that). An accepted
	// connection that has not finished its handshake by then is dropped.
	HandshakeTimeout time.Duration
	// MaxHandshakes bounds the accepted connections still in their
	// handshake at once. One beyond it is closed at once and logged, so a
	// flood of silent clients costs bounded memory, and once they time out,
	// nothing: it delays servers' reconnections by at most HandshakeTimeout.
	MaxHandshakes int
	// Logger gets one line per connection refused or dropped (a failed
	// handshake, a refused peer, a connection cut). nil discards.
	Logger *slog.Logger
}

// DefaultOptions are the production settings: 10 s is ample for a handshake
// between servers of one cluster, even over a slow WAN link.
func DefaultOptions() Options {
	return Options{HandshakeTimeout: 10 * time.Second, MaxHandshakes: 128}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = d.HandshakeTimeout
	}
	if o.MaxHandshakes <= 0 {
		o.MaxHandshakes = d.MaxHandshakes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Layer is a raft.StreamLayer over mutual TLS. It is safe for concurrent
// use; Accept, Dial, CloseConnsOf, CloseInvalid and Close may all run at
// once.
type Layer struct {
	ln     net.Listener
	addr   net.Addr
	source *net.TCPAddr // dials leave from the listener's IP; nil when it is 0.0.0.0
	server *tls.Config
	client *tls.Config
	opts   Options
	log    *slog.Logger

	// ctx is cancelled by Close; it interrupts handshakes and dials.
	ctx    context.Context
	cancel context.CancelFunc
	// ready hands verified connections from their handshake goroutine to
	// Accept; unbuffered, so a connection is either taken or closed.
	ready chan *Conn
	// slots holds one token per handshake in progress (MaxHandshakes).
	slots      chan struct{}
	loopDone   chan struct{}
	loopErr    error // written before loopDone is closed
	handshakes sync.WaitGroup
	closeOnce  sync.Once

	mu     sync.Mutex
	closed bool
	conns  map[*Conn]struct{}
}

var _ raft.StreamLayer = (*Layer)(nil)

// New makes the stream layer of a server that listens on ln and is reached
// by its peers at advertise (nil: ln's address, which must then not be an
// unspecified one such as 0.0.0.0, since peers dial what Addr returns).
// peers needs CA, Cert and Now; Revoked may be nil (no node removed).
//
// The layer owns ln from here on and closes it in Close; when New fails, ln
// is left open for the caller.
func New(ln net.Listener, advertise net.Addr, peers pki.Peers, opts Options) (*Layer, error) {
	if ln == nil {
		return nil, errors.New("raft stream layer: no listener")
	}
	switch {
	case peers.CA == nil:
		return nil, errors.New("raft stream layer: Peers has no cluster CA: the node must hold the CA before it starts Raft")
	case peers.Cert == nil:
		return nil, errors.New("raft stream layer: Peers has no certificate source (Cert): the node must hold its certificate before it starts Raft")
	case peers.Now == nil:
		return nil, errors.New("raft stream layer: Peers has no clock (Now): pass time.Now, or a test's clock")
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if tcp, ok := advertise.(*net.TCPAddr); ok && (tcp.IP == nil || tcp.IP.IsUnspecified()) {
		return nil, fmt.Errorf("raft stream layer: advertise address %s is unspecified: pass the address other servers reach this one at", advertise)
	}
	opts = opts.withDefaults()
	server, client := peers.MutualServer(), peers.MutualClient()
	server.VerifyConnection = serversOnly(server.VerifyConnection)
	client.VerifyConnection = serversOnly(client.VerifyConnection)
	ctx, cancel := context.WithCancel(context.Background())
	l := &Layer{
		ln:       ln,
		addr:     advertise,
		source:   SourceAddr(ln.Addr()),
		server:   server,
		client:   client,
		opts:     opts,
		log:      opts.Logger,
		ctx:      ctx,
		cancel:   cancel,
		ready:    make(chan *Conn),
		slots:    make(chan struct{}, opts.MaxHandshakes),
		loopDone: make(chan struct{}),
		conns:    make(map[*Conn]struct{}),
	}
	go l.acceptLoop()
	return l, nil
}

// Addr is the address other servers dial to reach this one, the address
// Raft advertises in its configuration.
func (l *Layer) Addr() net.Addr { return l.addr }

// Close stops accepting, interrupts handshakes and dials in progress, and
// closes every connection the layer accepted or dialled that is still open,
// so that a stopped server's peers see it gone at once. Later calls do
// nothing.
func (l *Layer) Close() error {
	var err error
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.cancel()
		if cerr := l.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("close the raft listener %s: %w", l.ln.Addr(), cerr)
		}
		<-l.loopDone
		l.handshakes.Wait()
		l.cut(func(*Conn) bool { return true }, "the raft stream layer closed")
	})
	return err
}

// SourceAddr is the local address to dial peers from, so that a server
// bound to one address of a multi-homed host (--bind) talks from the
// address its peers know it by (what their firewall rules and security
// groups name), not from whichever address the route picks. nil when the
// listener is on every address: the kernel chooses.
func SourceAddr(listen net.Addr) *net.TCPAddr {
	tcp, ok := listen.(*net.TCPAddr)
	if !ok || tcp.IP == nil || tcp.IP.IsUnspecified() {
		return nil
	}
	return &net.TCPAddr{IP: tcp.IP}
}

// dialer is a net.Dialer with Timeout that dials from source (when set).
func dialer(source *net.TCPAddr, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if source != nil {
		d.LocalAddr = source
	}
	return d
}
