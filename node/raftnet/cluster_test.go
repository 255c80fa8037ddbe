package raftnet

import (
	"bytes"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/pki"
	"github.com/hashicorp/raft"
)

// wire records every byte accepted connections receive.
type wire struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *wire) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

type recordingListener struct {
	net.Listener
	w *wire
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return recordingConn{c, l.w}, nil
}

type recordingConn struct {
	net.Conn
	w *wire
}

func (c recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.mu.Lock()
	c.w.buf.Write(p[:n])
	c.w.mu.Unlock()
	return n, err
}

func TestClusterElectsALeaderAndReplicatesOverMutualTLS(t *testing.T) {
	w := newWorld(t)
	rec := &wire{}
	c := startCluster(t, w, clusterOpts{wrap: func(ln net.Listener) net.Listener { return recordingListener{ln, rec} }})

	c.commit(t, 50, "secret-payload")
	for _, m := range c.members {
		if got := m.fsm.applied(); got != 50 {
			t.Errorf("%s applied %d entries, want 50", m.ident.id.NodeID, got)
		}
	}

	// Raft did talk over these sockets, and what crossed them was TLS:
	// the entries' payload never appears in the clear.
	seen := rec.bytes()
	if len(seen) < 1000 {
		t.Fatalf("only %d bytes crossed the Raft sockets; the recording is broken", len(seen))
	}
	if bytes.Contains(seen, []byte("secret-payload")) {
		t.Fatal("an applied entry's payload crossed the wire in the clear")
	}

	// A connection between two members is TLS 1.3, and each end knows the
	// other as the server its certificate names.
	a, b := c.members[0], c.members[1]
	conn, err := a.layer.Dial(raft.ServerAddress(b.layer.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rc := conn.(*Conn)
	if v := rc.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("TLS version %x, want TLS 1.3", v)
	}
	if want := (pki.Identity{NodeID: b.ident.id.NodeID, Role: pki.RoleServer}); rc.Peer() != want {
		t.Errorf("dialled peer is %+v, want %+v", rc.Peer(), want)
	}
}
