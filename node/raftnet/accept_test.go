package raftnet

import (
	"bytes"
	"errors"
	"net"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// silentConns opens n TCP connections to l that never send a byte.
func silentConns(t *testing.T, l *Layer, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for range n {
		c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		conns = append(conns, c)
	}
	return conns
}

// acceptOne runs Accept in the background; the channel gets its result.
func acceptOne(l *Layer) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			ch <- c
		}
		close(ch)
	}()
	return ch
}

func dialAddr(l *Layer) raft.ServerAddress { return raft.ServerAddress(l.Addr().String()) }

func TestASilentClientDoesNotHoldUpOtherConnections(t *testing.T) {
	const handshakeTimeout = 1500 * time.Millisecond
	w := newWorld(t)
	logs := &logBuffer{}
	srv := newLayer(t, w, w.server(t, "server-0", time.Hour), nil, Options{HandshakeTimeout: handshakeTimeout, Logger: logs.logger()})
	cli := newLayer(t, w, w.server(t, "server-1", time.Hour), nil, Options{})

	silent := silentConns(t, srv, 3)
	eventually(t, "the server to be in 3 handshakes", 2*time.Second, func() bool { return len(srv.slots) == 3 })

	accepted := acceptOne(srv)
	start := time.Now()
	out, err := cli.Dial(dialAddr(srv), time.Second)
	if err != nil {
		t.Fatalf("dial while 3 silent clients are connected: %v", err)
	}
	defer out.Close()
	select {
	case in := <-accepted:
		if in == nil {
			t.Fatal("Accept failed")
		}
		defer in.Close()
		if got := in.(*Conn).Peer().NodeID; got != "server-1" {
			t.Errorf("accepted a connection from %q, want server-1", got)
		}
		t.Logf("accepted a server in %s with 3 silent clients waiting", time.Since(start))
	case <-time.After(handshakeTimeout):
		t.Fatal("Accept waited for the silent clients' handshakes to time out")
	}

	for i, c := range silent {
		if ok, err := refused(c); !ok {
			t.Fatalf("silent client %d still connected past the handshake timeout (read: %v)", i, err)
		}
	}
	waitLogged(t, logs, "raft connection refused", "not done within 1.5s")
	eventually(t, "no handshakes in progress", 2*time.Second, func() bool { return len(srv.slots) == 0 })
}

func TestConnectionsBeyondMaxHandshakesAreDroppedAtOnce(t *testing.T) {
	w := newWorld(t)
	logs := &logBuffer{}
	srv := newLayer(t, w, w.server(t, "server-0", time.Hour), nil, Options{HandshakeTimeout: time.Second, MaxHandshakes: 2, Logger: logs.logger()})
	cli := newLayer(t, w, w.server(t, "server-1", time.Hour), nil, Options{})

	silentConns(t, srv, 2)
	eventually(t, "the server to be in 2 handshakes", 2*time.Second, func() bool { return len(srv.slots) == 2 })
	extra := silentConns(t, srv, 1)[0]
	start := time.Now()
	if ok, err := refused(extra); !ok {
		t.Fatalf("a third connection was kept with MaxHandshakes 2 (read: %v)", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the third connection was dropped after %s, not at once", d)
	}
	waitLogged(t, logs, "too many handshakes in progress", "max_handshakes=2")

	// Once the silent ones time out, servers get in again.
	eventually(t, "the silent handshakes to time out", 3*time.Second, func() bool { return len(srv.slots) == 0 })
	accepted := acceptOne(srv)
	out, err := cli.Dial(dialAddr(srv), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if in := <-accepted; in == nil {
		t.Fatal("Accept failed after the silent clients timed out")
	} else {
		in.Close()
	}
}

func TestCloseEndsAcceptDialAndEveryOpenConnection(t *testing.T) {
	w := newWorld(t)
	srv := newLayer(t, w, w.server(t, "server-0", time.Hour), nil, Options{})
	cli := newLayer(t, w, w.server(t, "server-1", time.Hour), nil, Options{})

	accepted := acceptOne(srv)
	out, err := cli.Dial(dialAddr(srv), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	in := <-accepted
	if in == nil {
		t.Fatal("Accept failed")
	}
	// A connection closed normally is no longer tracked.
	closed, err := cli.Dial(dialAddr(srv), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	if n := cli.CloseConnsOf("nobody"); n != 0 {
		t.Errorf("CloseConnsOf(nobody) cut %d connections", n)
	}

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	if _, err := srv.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if _, err := srv.Dial(dialAddr(cli), time.Second); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial after Close: %v, want net.ErrClosed", err)
	}
	if ok, err := refused(out); !ok {
		t.Errorf("the peer's end of an accepted connection stayed open after Close (read: %v)", err)
	}
	if c, err := net.DialTimeout("tcp", srv.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts TCP after Close")
	}
	// The client side still tracks out (server-0), and only that one.
	if n := cli.CloseConnsOf("server-0"); n != 1 {
		t.Errorf("the client tracked %d connections to server-0, want 1 (the other was closed)", n)
	}

	// No goroutine of a layer outlives its Close, not even one in a
	// handshake; this runs after every earlier test's layers were closed.
	silentConns(t, cli, 2)
	eventually(t, "the client layer to be in 2 handshakes", 2*time.Second, func() bool { return len(cli.slots) == 2 })
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}
	// Polled: under load the goroutines of an earlier test's layers may
	// take a moment to finish after their Close returned; a leak stays.
	running := func() string {
		var stacks bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		for _, f := range []string{"raftnet.(*Layer).acceptLoop", "raftnet.(*Layer).handshake"} {
			if strings.Contains(stacks.String(), f) {
				return f
			}
		}
		return ""
	}
	deadline := time.Now().Add(3 * time.Second)
	for running() != "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if f := running(); f != "" {
		t.Errorf("%s still runs 3 s after Close", f)
	}
}
