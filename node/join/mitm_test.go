package join

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/clusterd/clusterd/node/pki"
)

// tlsProxy is a man in the middle: it accepts TCP on 127.0.0.1, opens a
// TLS connection to the real server at once, terminates the client's TLS
// with its own certificate, and forwards whatever the client sends.
type tlsProxy struct {
	ln    net.Listener
	addr  string
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, upstream string, cert *tls.Certificate) *tlsProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tlsProxy{ln: ln, addr: ln.Addr().String()}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.forward(c, upstream, cert) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *tlsProxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

func (p *tlsProxy) forward(client net.Conn, upstream string, cert *tls.Certificate) {
	p.track(client)
	defer client.Close()
	raw, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	p.track(raw)
	up := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	defer up.Close()
	if err := up.Handshake(); err != nil {
		return
	}
	down := tls.Server(client, &tls.Config{Certificates: []tls.Certificate{*cert}})
	if err := down.Handshake(); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, down); done <- struct{}{} }()
	go func() { _, _ = io.Copy(down, up); done <- struct{}{} }()
	<-done
	up.Close()
	down.Close()
	<-done
}

func TestAManInTheMiddleIsRefusedBeforeAnythingReachesTheServer(t *testing.T) {
	c := startCluster(t, Options{})
	realCA := c.auth.CA()
	otherCA := newCA(t)
	otherLeaf := nodeCert(t, otherCA, pki.Identity{NodeID: "5e7e", Role: pki.RoleServer}, nodeLifetime)

	for _, tc := range []struct {
		name     string
		cert     *tls.Certificate
		mismatch bool
		want     string
	}{
		{"another CA's chain", otherLeaf, true, "is not the cluster CA " + pki.FingerprintHex(realCA.Cert)[:16]},
		{"a certificate without a CA", &tls.Certificate{Certificate: otherLeaf.Certificate[:1], PrivateKey: otherLeaf.PrivateKey}, true, "did not present the cluster CA"},
		// The cluster CA's certificate is public: presenting it beside a
		// leaf of another CA must not pass the pin.
		{"the real CA copied beside a foreign leaf", &tls.Certificate{Certificate: [][]byte{otherLeaf.Certificate[0], realCA.Cert.Raw}, PrivateKey: otherLeaf.PrivateKey}, false, "is not valid for this cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startProxy(t, c.addr, tc.cert)
			req, _ := joinRequest(t, "0a", pki.RoleServer)
			_, err := Join(ctx(t), p.addr, c.server, req, c.now)
			if err == nil {
				t.Fatal("joined through a man in the middle")
			}
			var fp *pki.FingerprintMismatchError
			if errors.As(err, &fp) != tc.mismatch {
				t.Errorf("FingerprintMismatchError %v, want %v: %v", !tc.mismatch, tc.mismatch, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p.addr) {
				t.Errorf("%q does not say %q and name %s", err, tc.want, p.addr)
			}
			if n := c.requests.Load(); n != 0 {
				t.Fatalf("the real server received %d requests through the man in the middle", n)
			}
		})
	}

	// The same proxy with a certificate of the real cluster (a TLS
	// terminator the cluster trusts) forwards the join: the refusals above
	// are the pin's doing, not a broken proxy.
	key := newKey(t)
	cert, err := realCA.Issue(&key.PublicKey, pki.Identity{NodeID: "1b", Role: pki.RoleServer}, nil, nodeLifetime, t0, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, c.addr, pki.Chain(cert, realCA.Cert, key))
	req, _ := joinRequest(t, "0a", pki.RoleServer)
	if _, err := Join(ctx(t), p.addr, c.server, req, c.now); err != nil {
		t.Fatalf("join through a trusted proxy: %v", err)
	}
	if n := c.requests.Load(); n != 1 {
		t.Errorf("the server received %d requests, want the one forwarded", n)
	}
}

func TestAServerOfAnotherClusterIsRefusedEvenIfItKnowsTheSecret(t *testing.T) {
	mine := startCluster(t, Options{})
	theirs := startCluster(t, Options{})
	// The other cluster would accept this token's secret: only the pin
	// stands between it and a node of ours.
	theirs.auth.mu.Lock()
	theirs.auth.hashes[pki.RoleServer] = mine.server.SecretHash()
	theirs.auth.mu.Unlock()

	req, _ := joinRequest(t, "0a", pki.RoleServer)
	_, err := Join(ctx(t), theirs.addr, mine.server, req, mine.now)
	var fp *pki.FingerprintMismatchError
	if !errors.As(err, &fp) || fp.Got != pki.FingerprintHex(theirs.auth.CA().Cert) {
		t.Fatalf("got %v, want a FingerprintMismatchError naming their CA", err)
	}
	for _, w := range []string{"join through " + theirs.addr, "another cluster", "nothing was sent"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not say %q", err, w)
		}
	}
	if n := theirs.requests.Load(); n != 0 || theirs.auth.issuedCount() != 0 {
		t.Errorf("the other cluster received %d requests", n)
	}
}
