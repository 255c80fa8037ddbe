package raftnet

import (
	"crypto/x509"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/pki"
	"github.com/hashicorp/raft"
)

// TestRenewingTwoMinuteCertificatesThreeTimesNeverInterruptsTheCluster
// runs a cluster on 2-minute certificates, applying entries all along,
// while the fake clock moves past half-life three times and every node
// renews (swaps what Peers.Cert returns). Every connection is cut after
// each renewal, so Raft must handshake again with the new certificates;
// no apply may fail. A server that never renewed is refused once its
// certificate expires, and CloseInvalid cuts the connection it still had.
func TestRenewingTwoMinuteCertificatesThreeTimesNeverInterruptsTheCluster(t *testing.T) {
	const lifetime = 2 * time.Minute
	w := newWorld(t)
	c := startCluster(t, w, clusterOpts{lifetime: lifetime})
	leader := c.leader(t)
	addr := leader.layer.Addr()
	var first []*x509.Certificate
	for _, m := range c.members {
		first = append(first, m.ident.leaf())
	}

	stale := w.server(t, "server-stale", lifetime)
	staleConn := rawTLS(t, addr, stale.cert.Load())
	if staleConn == nil || !alive(staleConn) {
		t.Fatal("a server certificate that is still valid was refused")
	}

	var (
		applied  atomic.Int64
		mu       sync.Mutex
		failures []error
		stop     = make(chan struct{})
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		for i := range 100_000 {
			select {
			case <-stop:
				return
			default:
			}
			if err := leader.raft.Apply(fmt.Appendf(nil, "entry-%d", i), 5*time.Second).Error(); err != nil {
				mu.Lock()
				failures = append(failures, fmt.Errorf("apply entry-%d: %w", i, err))
				mu.Unlock()
				continue
			}
			applied.Add(1)
		}
	}()
	defer func() {
		select {
		case <-done:
		default:
			close(stop)
			<-done
		}
	}()

	for round := 1; round <= 3; round++ {
		w.clock.Advance(lifetime/2 + time.Second)
		now := w.clock.Now()
		for _, m := range c.members {
			if !pki.NeedsRenewal(m.ident.leaf(), now) {
				t.Fatalf("round %d: %s's certificate does not need renewal at %s", round, m.ident.id.NodeID, now)
			}
			m.ident.renew(t, w.ca, lifetime, now)
		}
		cut := 0
		for _, m := range c.members {
			for _, o := range c.members {
				if o != m {
					cut += m.layer.CloseConnsOf(o.ident.id.NodeID)
				}
			}
		}
		if cut == 0 {
			t.Fatalf("round %d: no Raft connections to cut; the cluster is not talking", round)
		}
		base := applied.Load()
		eventually(t, fmt.Sprintf("round %d: applies to go on over new connections", round), 10*time.Second, func() bool {
			return applied.Load() >= base+20
		})
		for _, m := range c.members {
			for _, o := range c.members {
				if o != m {
					assertPresents(t, m.layer, o)
				}
			}
		}
		t.Logf("round %d at +%s: cut %d connections, %d entries applied so far", round, now.Sub(t0), cut, applied.Load())
	}

	now := w.clock.Now()
	for i, m := range c.members {
		if !now.After(first[i].NotAfter) {
			t.Fatalf("the clock (%s) is not past %s's first certificate's expiry (%s): the test proves nothing", now, m.ident.id.NodeID, first[i].NotAfter)
		}
		// Holding on to the first certificate would have stopped the
		// cluster: it is refused now.
		old := pki.Chain(first[i], w.ca.Cert, m.ident.key)
		if ok, err := refused(rawTLS(t, addr, old)); !ok {
			t.Fatalf("%s's expired first certificate was accepted (read: %v)", m.ident.id.NodeID, err)
		}
	}

	if ok, err := refused(rawTLS(t, addr, stale.cert.Load())); !ok {
		t.Fatalf("an expired server certificate was accepted (read: %v)", err)
	}
	waitLogged(t, leader.log, "server-stale", "certificate has expired")
	if !alive(staleConn) {
		t.Fatal("the unrenewed server's old connection closed by itself; the test cannot tell CloseInvalid works")
	}
	if n := leader.layer.CloseInvalid(); n != 1 {
		t.Errorf("CloseInvalid cut %d connections, want 1 (the unrenewed server's)", n)
	}
	if ok, err := refused(staleConn); !ok {
		t.Fatalf("the unrenewed server's connection survived CloseInvalid (read: %v)", err)
	}

	base := applied.Load()
	eventually(t, "applies to go on after the expiries", 10*time.Second, func() bool { return applied.Load() >= base+20 })
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(failures) > 0 {
		t.Fatalf("%d of %d applies failed during renewal, first: %v", len(failures), int(applied.Load())+len(failures), failures[0])
	}
	t.Logf("%d entries applied across 3 renewals, none failed", applied.Load())
	c.commit(t, 5, "after")
}

// assertPresents dials o from l and checks that o presented the
// certificate it holds now.
func assertPresents(t *testing.T, l *Layer, o *member) {
	t.Helper()
	conn, err := l.Dial(raft.ServerAddress(o.layer.Addr().String()), 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s after renewal: %v", o.ident.id.NodeID, err)
	}
	defer conn.Close()
	got := conn.(*Conn).ConnectionState().PeerCertificates[0]
	if want := o.ident.leaf(); got.SerialNumber.Cmp(want.SerialNumber) != 0 {
		t.Errorf("%s presented certificate %x, want its renewed %x", o.ident.id.NodeID, got.SerialNumber, want.SerialNumber)
	}
}
