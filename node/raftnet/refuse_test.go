package raftnet

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/pki"
	"github.com/hashicorp/raft"
)

// TestRaftRefusesEveryoneButServersOfThisCluster connects to a running
// cluster's leader as each kind of outsider, and checks that each is cut
// off in the handshake, for the reason it should be, and that the cluster
// never notices.
func TestRaftRefusesEveryoneButServersOfThisCluster(t *testing.T) {
	w := newWorld(t)
	c := startCluster(t, w, clusterOpts{})
	leader := c.leader(t)
	term := leader.raft.CurrentTerm()
	addr := leader.layer.Addr()
	c.commit(t, 5, "before")

	t.Run("raw TCP with garbage", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Raft's own framing, without TLS: an rpcAppendEntries type byte
		// and msgpack, then HTTP for good measure.
		if _, err := conn.Write([]byte("\x00\x85\xa4Term\x01GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if ok, err := refused(conn); !ok {
			t.Fatalf("the server kept a plain-TCP connection open (read: %v)", err)
		}
		waitLogged(t, leader.log, "raft connection refused", "TLS handshake")
	})

	t.Run("TLS without a certificate", func(t *testing.T) {
		if ok, err := refused(rawTLS(t, addr, nil)); !ok {
			t.Fatalf("a client with no certificate was not refused (read: %v)", err)
		}
		waitLogged(t, leader.log, "raft connection refused", "didn't provide a certificate")
	})

	t.Run("a certificate from a foreign CA", func(t *testing.T) {
		other := newWorld(t)
		impostor := other.server(t, "server-1", time.Hour) // even a member's name
		if ok, err := refused(rawTLS(t, addr, impostor.cert.Load())); !ok {
			t.Fatalf("a foreign CA's certificate was not refused (read: %v)", err)
		}
		waitLogged(t, leader.log, "not valid for this cluster")
	})

	t.Run("an agent's certificate", func(t *testing.T) {
		agent := issue(t, w.ca, pki.Identity{NodeID: "agent-1", Role: pki.RoleAgent}, time.Hour, w.clock.Now())
		if ok, err := refused(rawTLS(t, addr, agent.cert.Load())); !ok {
			t.Fatalf("an agent's certificate was not refused (read: %v)", err)
		}
		waitLogged(t, leader.log, "node agent-1 holds a certificate for the agent role", ErrNotServer.Error())
	})

	t.Run("a removed server, new and existing connections", func(t *testing.T) {
		gone := w.server(t, "server-9", time.Hour)
		before := rawTLS(t, addr, gone.cert.Load())
		if before == nil || !alive(before) {
			t.Fatal("a valid server certificate was refused before the node was removed")
		}
		w.revoke("server-9")
		if ok, err := refused(rawTLS(t, addr, gone.cert.Load())); !ok {
			t.Fatalf("a removed node's new connection was not refused (read: %v)", err)
		}
		waitLogged(t, leader.log, "node server-9", pki.ErrRevoked.Error())
		// The handshake it did before is still open until it is cut.
		if !alive(before) {
			t.Fatal("the removed node's earlier connection closed by itself; the test cannot tell CloseConnsOf works")
		}
		if n := leader.layer.CloseConnsOf("server-9"); n != 1 {
			t.Errorf("CloseConnsOf(server-9) cut %d connections, want 1", n)
		}
		if ok, err := refused(before); !ok {
			t.Fatalf("the removed node's existing connection survived CloseConnsOf (read: %v)", err)
		}
		if n := leader.layer.CloseConnsOf("server-9"); n != 0 {
			t.Errorf("a second CloseConnsOf(server-9) found %d connections, want 0", n)
		}
	})

	c.commit(t, 20, "after")
	if now := c.leader(t); now != leader || now.raft.CurrentTerm() != term {
		t.Errorf("leadership changed while outsiders were refused: %s term %d, was %s term %d",
			now.ident.id.NodeID, now.raft.CurrentTerm(), leader.ident.id.NodeID, term)
	}
}

// TestDialRefusesAPeerThatIsNotAServer: the client side applies the same
// rules, so a server never sends Raft to an agent or an outsider listening
// at a member's address.
func TestDialRefusesAPeerThatIsNotAServer(t *testing.T) {
	w := newWorld(t)
	me := newLayer(t, w, w.server(t, "server-0", time.Hour), nil, Options{})
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		want string
	}{
		{"an agent", issue(t, w.ca, pki.Identity{NodeID: "agent-1", Role: pki.RoleAgent}, time.Hour, t0).cert.Load(), ErrNotServer.Error()},
		{"a foreign CA's server", newWorld(t).server(t, "server-1", time.Hour).cert.Load(), "not valid for this cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*tc.cert}, ClientAuth: tls.RequireAnyClientCert})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			served := make(chan struct{})
			go func() {
				defer close(served)
				if c, err := ln.Accept(); err == nil {
					_ = c.(*tls.Conn).Handshake()
					_ = c.Close()
				}
			}()
			conn, err := me.Dial(raft.ServerAddress(ln.Addr().String()), time.Second)
			if err == nil {
				conn.Close()
				t.Fatalf("Dial to %s succeeded", tc.name)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ln.Addr().String()) {
				t.Errorf("Dial error %q does not name the address and %q", err, tc.want)
			}
			<-served
		})
	}
}

func TestNewRefusesPeersItCannotVerifyWith(t *testing.T) {
	w := newWorld(t)
	n := w.server(t, "server-0", time.Hour)
	good := w.peers(n)
	for _, tc := range []struct {
		name  string
		edit  func(*pki.Peers)
		addr  net.Addr
		wants string
	}{
		{"no CA", func(p *pki.Peers) { p.CA = nil }, nil, "no cluster CA"},
		{"no certificate", func(p *pki.Peers) { p.Cert = nil }, nil, "no certificate source"},
		{"no clock", func(p *pki.Peers) { p.Now = nil }, nil, "no clock"},
		{"unspecified advertise address", func(*pki.Peers) {}, &net.TCPAddr{IP: net.IPv4zero, Port: 7000}, "unspecified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			defer ln.Close()
			p := good
			tc.edit(&p)
			l, err := New(ln, tc.addr, p, Options{})
			if err == nil {
				l.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.wants) {
				t.Errorf("New: %v, want it to say %q", err, tc.wants)
			}
		})
	}
}
