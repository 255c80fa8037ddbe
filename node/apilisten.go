package node

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"
)

// The API port speaks both HTTPS (with the node's certificate; the join
// exchange and certificate renewal need it, and clients that trust the
// cluster CA should use it) and, for now, plain HTTP. protoMux tells them
// apart by the first byte a client sends: a TLS handshake starts with
// 0x16, an HTTP request with a letter.

// sniffTimeout bounds how long a connection may stay silent before it says
// which it speaks (no slowloris before the HTTP server's own timeouts).
const sniffTimeout = 10 * time.Second

type protoMux struct {
	ln         net.Listener
	plain, tls *chanListener
}

func newProtoMux(ln net.Listener) *protoMux {
	m := &protoMux{ln: ln, plain: newChanListener(ln.Addr()), tls: newChanListener(ln.Addr())}
	go m.run()
	return m
}

func (m *protoMux) run() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			m.plain.close()
			m.tls.close()
			return
		}
		go m.route(c)
	}
}

func (m *protoMux) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: c, r: br}
	if first[0] == 0x16 {
		m.tls.push(pc)
	} else {
		m.plain.push(pc)
	}
}

// Close stops accepting; connections already handed out are the servers'.
func (m *protoMux) Close() error { return m.ln.Close() }

// peekedConn replays what was read to tell the protocol.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// chanListener is a net.Listener fed by protoMux.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) close() { l.once.Do(func() { close(l.done) }) }

func (l *chanListener) Close() error   { l.close(); return nil }
func (l *chanListener) Addr() net.Addr { return l.addr }
