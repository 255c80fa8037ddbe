package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

func mustCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA("c1", t0, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// node is a node's key and certificate issued by ca.
func nodeCert(t *testing.T, ca *CA, id string, role Role, lifetime time.Duration, now time.Time) *tls.Certificate {
	t.Helper()
	key, err := NewKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.Issue(&key.PublicKey, Identity{NodeID: id, Role: role}, []net.IP{net.IPv4(127, 0, 0, 1)}, lifetime, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Chain(c, ca.Cert, key)
}

func TestCARoundTripsThroughPEMAndRefusesAForeignKey(t *testing.T) {
	ca := mustCA(t)
	certPEM, keyPEM, err := ca.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := LoadCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if FingerprintHex(back.Cert) != FingerprintHex(ca.Cert) || !back.Key.Equal(ca.Key) {
		t.Fatal("the CA read back differs")
	}
	_, otherKey, _ := mustCA(t).MarshalPEM()
	if _, err := LoadCA(certPEM, otherKey); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("LoadCA with another CA's key: %v", err)
	}
}

func TestTokenRoundTripsAndNamesTheBadPart(t *testing.T) {
	ca := mustCA(t)
	for _, role := range []Role{RoleServer, RoleAgent} {
		tok, err := NewToken(role, Fingerprint(ca.Cert), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseToken(" " + tok.String() + "\n")
		if err != nil || back != tok {
			t.Fatalf("ParseToken(%s) = %+v, %v", tok, back, err)
		}
		if !strings.Contains(tok.String(), FingerprintHex(ca.Cert)) {
			t.Errorf("token %s does not show the CA fingerprint %s people compare", tok, FingerprintHex(ca.Cert))
		}
		if !SecretMatches(tok.SecretHash(), tok.Secret) {
			t.Error("a token's secret does not match its own hash")
		}
		other, _ := NewToken(role, Fingerprint(ca.Cert), rand.Reader)
		if SecretMatches(tok.SecretHash(), other.Secret) {
			t.Error("another token's secret matches")
		}
	}
	good, _ := NewToken(RoleServer, Fingerprint(ca.Cert), rand.Reader)
	parts := strings.Split(good.String(), "-")
	cases := map[string]string{
		"":                                    "want cdt1-ROLE-FINGERPRINT-SECRET",
		"SWMTKN-1-abc-def":                    "want cdt1-ROLE-FINGERPRINT-SECRET",
		strings.Join(parts[:3], "-"):          "want cdt1-ROLE-FINGERPRINT-SECRET",
		"cdt1-x-" + parts[2] + "-" + parts[3]: `role "x"`,
		"cdt1-s-" + parts[2][:10] + "-" + parts[3]:           "fingerprint must be 64 hex digits",
		"cdt1-s-" + strings.Repeat("z", 64) + "-" + parts[3]: "fingerprint must be 64 hex digits",
		"cdt1-s-" + parts[2] + "-" + parts[3][:20]:           "secret must be 52 base32 characters",
		"cdt1-s-" + parts[2] + "-" + parts[3] + "1":          "secret must be 52 base32 characters",
	}
	for in, want := range cases {
		_, err := ParseToken(in)
		if !errors.Is(err, ErrMalformedToken) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseToken(%q) = %v, want a malformed-token error saying %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), parts[3]) {
			t.Errorf("ParseToken's error shows the secret: %v", err)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	tok, _ := NewToken(RoleAgent, [32]byte{1, 2, 3}, rand.Reader)
	f.Add(tok.String())
	f.Add("cdt1-s--")
	f.Add("cdt1-s-" + strings.Repeat("0", 64) + "-" + strings.Repeat("a", 52))
	f.Add("cdb1-" + strings.Repeat("a", 52))
	f.Fuzz(func(t *testing.T, s string) {
		// A bootstrap token comes through the same flag.
		if bt, err := ParseBootstrapToken(s); err != nil && !errors.Is(err, ErrMalformedToken) {
			t.Fatalf("ParseBootstrapToken(%q): an error that is not ErrMalformedToken: %v", s, err)
		} else if back, err2 := ParseBootstrapToken(bt.String()); err == nil && (err2 != nil || back != bt) {
			t.Fatalf("a parsed bootstrap token %q does not round-trip: %v", s, err2)
		}
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("ParseToken(%q): an error that is not ErrMalformedToken: %v", s, err)
			}
			return
		}
		back, err := ParseToken(tok.String())
		if err != nil || back != tok {
			t.Fatalf("a parsed token %q does not round-trip: %+v, %v", s, back, err)
		}
	})
}

func TestNodeCertificatesCarryIdentityExpireAndRenewAtHalfLife(t *testing.T) {
	ca := mustCA(t)
	c := nodeCert(t, ca, "n1", RoleServer, 2*time.Minute, t0).Leaf
	id, err := Verify(ca.Cert, c, nil, t0.Add(time.Minute))
	if err != nil || id != (Identity{NodeID: "n1", Role: RoleServer}) {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
	if _, err := Verify(ca.Cert, c, nil, t0.Add(3*time.Minute)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired certificate: %v", err)
	}
	if _, err := Verify(mustCA(t).Cert, c, nil, t0); err == nil {
		t.Error("another CA accepted the certificate")
	}
	if NeedsRenewal(c, t0.Add(59*time.Second)) || !NeedsRenewal(c, t0.Add(time.Minute)) {
		t.Error("a 2-minute certificate should need renewal from 1 minute on, not before")
	}
	if _, err := ca.Issue(&ca.Key.PublicKey, Identity{NodeID: "n2", Role: "root"}, nil, 0, t0, rand.Reader); err == nil {
		t.Error("a certificate with an unknown role was issued")
	}
	if _, err := IdentityOf(ca.Cert); err == nil {
		t.Error("the CA certificate has a node identity")
	}
}

// handshake runs one TLS handshake over loopback TCP and returns both ends'
// errors (a TLS 1.3 client learns of a refused certificate on its first read).
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Server(c, server)
		if err := tc.Handshake(); err != nil {
			done <- err
			return
		}
		_, err = tc.Write([]byte("ok"))
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(c, client)
	clientErr = tc.Handshake()
	if clientErr == nil {
		buf := make([]byte, 2)
		_, clientErr = io.ReadFull(tc, buf)
	}
	return <-done, clientErr
}

func peers(ca *CA, cert *tls.Certificate, now *atomic.Int64, revoked ...string) Peers {
	return Peers{
		CA:   ca.Cert,
		Cert: func() *tls.Certificate { return cert },
		Now:  func() time.Time { return time.Unix(0, now.Load()) },
		Revoked: func(id string) bool {
			for _, r := range revoked {
				if r == id {
					return true
				}
			}
			return false
		},
	}
}

func TestMutualTLSAdmitsOnlyCurrentMembersOfTheCluster(t *testing.T) {
	ca, other := mustCA(t), mustCA(t)
	var now atomic.Int64
	now.Store(t0.Add(time.Second).UnixNano())
	server := peers(ca, nodeCert(t, ca, "s1", RoleServer, 3*time.Hour, t0), &now, "gone")
	member := peers(ca, nodeCert(t, ca, "a1", RoleAgent, time.Hour, t0), &now)

	if se, ce := handshake(t, server.MutualServer(), member.MutualClient()); se != nil || ce != nil {
		t.Fatalf("a member's connection: server %v, client %v", se, ce)
	}
	noCert := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	if se, _ := handshake(t, server.MutualServer(), noCert); se == nil || !strings.Contains(se.Error(), "certificate") {
		t.Errorf("a client without a certificate: %v", se)
	}
	// A stranger that trusts this cluster's CA but holds another's certificate.
	stranger := peers(ca, nodeCert(t, other, "x1", RoleServer, time.Hour, t0), &now)
	if se, _ := handshake(t, server.MutualServer(), stranger.MutualClient()); se == nil || !strings.Contains(se.Error(), "not valid for this cluster") {
		t.Errorf("a node of another cluster: %v", se)
	}
	otherServer := peers(other, nodeCert(t, other, "x2", RoleServer, time.Hour, t0), &now)
	if _, ce := handshake(t, otherServer.MutualServer(), member.MutualClient()); ce == nil || !strings.Contains(ce.Error(), "not valid for this cluster") {
		t.Error("a member connected to a server of another cluster")
	}
	removed := peers(ca, nodeCert(t, ca, "gone", RoleAgent, time.Hour, t0), &now)
	if se, _ := handshake(t, server.MutualServer(), removed.MutualClient()); !errors.Is(se, ErrRevoked) {
		t.Errorf("a removed node: %v, want it refused as removed", se)
	}
	now.Store(t0.Add(2 * time.Hour).UnixNano())
	if se, _ := handshake(t, server.MutualServer(), member.MutualClient()); se == nil || !strings.Contains(se.Error(), "expired") {
		t.Errorf("an expired member certificate: %v", se)
	}
}

func TestAPIServerTakesClientsWithoutCertificatesButChecksThoseWithOne(t *testing.T) {
	ca, other := mustCA(t), mustCA(t)
	var now atomic.Int64
	now.Store(t0.Add(time.Second).UnixNano())
	server := peers(ca, nodeCert(t, ca, "s1", RoleServer, time.Hour, t0), &now)
	// The CLI verifies with crypto/tls's own check; it reads the test's clock
	// too, or the certificate issued at t0 expires under the real one.
	cli := &tls.Config{RootCAs: poolOf(ca), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12,
		Time: func() time.Time { return time.Unix(0, now.Load()) }}
	if se, ce := handshake(t, server.APIServer(), cli); se != nil || ce != nil {
		t.Fatalf("the CLI trusting the cluster CA: server %v, client %v", se, ce)
	}
	stranger := peers(ca, nodeCert(t, other, "x1", RoleServer, time.Hour, t0), &now)
	if se, _ := handshake(t, server.APIServer(), stranger.MutualClient()); se == nil || !strings.Contains(se.Error(), "not valid for this cluster") {
		t.Error("a client certificate of another cluster was accepted by the API")
	}
}

func TestPinnedJoinTrustsOnlyTheTokensCAAndRefusesAManInTheMiddle(t *testing.T) {
	ca := mustCA(t)
	var now atomic.Int64
	now.Store(t0.Add(time.Second).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	server := peers(ca, nodeCert(t, ca, "s1", RoleServer, time.Hour, t0), &now)
	if se, ce := handshake(t, server.APIServer(), Pinned(Fingerprint(ca.Cert), clock)); se != nil || ce != nil {
		t.Fatalf("join against the right cluster: server %v, client %v", se, ce)
	}
	mitmCA := mustCA(t)
	mitm := peers(mitmCA, nodeCert(t, mitmCA, "s1", RoleServer, time.Hour, t0), &now)
	_, ce := handshake(t, mitm.APIServer(), Pinned(Fingerprint(ca.Cert), clock))
	var mismatch *FingerprintMismatchError
	if !errors.As(ce, &mismatch) || mismatch.Got != FingerprintHex(mitmCA.Cert) || !strings.Contains(ce.Error(), "man in the middle") {
		t.Fatalf("join through a proxy with another CA: %v", ce)
	}
	// A leaf that names the right CA in its chain but is not signed by it.
	forged := nodeCert(t, mitmCA, "s1", RoleServer, time.Hour, t0)
	forged.Certificate = [][]byte{forged.Certificate[0], ca.Cert.Raw}
	fake := peers(ca, forged, &now)
	if _, ce := handshake(t, fake.APIServer(), Pinned(Fingerprint(ca.Cert), clock)); ce == nil || errors.As(ce, &mismatch) {
		t.Fatalf("a forged chain with the real CA appended: %v, want a signature failure", ce)
	}
}

func TestRenewedCertificateIsUsedForTheNextConnection(t *testing.T) {
	ca := mustCA(t)
	var now atomic.Int64
	now.Store(t0.Add(time.Second).UnixNano())
	var current atomic.Pointer[tls.Certificate]
	current.Store(nodeCert(t, ca, "s1", RoleServer, 2*time.Minute, t0))
	server := Peers{CA: ca.Cert, Cert: current.Load, Now: func() time.Time { return time.Unix(0, now.Load()) }}
	client := peers(ca, nodeCert(t, ca, "a1", RoleAgent, time.Hour, t0), &now)
	for i := 1; i <= 3; i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		now.Store(at.UnixNano())
		if !NeedsRenewal(current.Load().Leaf, at) {
			t.Fatalf("renewal %d: not due at %v", i, at)
		}
		current.Store(nodeCert(t, ca, "s1", RoleServer, 2*time.Minute, at))
		var seen []byte
		cfg := client.MutualClient()
		verify := cfg.VerifyConnection
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			seen = cs.PeerCertificates[0].Raw
			return verify(cs)
		}
		if se, ce := handshake(t, server.MutualServer(), cfg); se != nil || ce != nil {
			t.Fatalf("after renewal %d: server %v, client %v", i, se, ce)
		}
		if !bytes.Equal(seen, current.Load().Leaf.Raw) {
			t.Fatalf("after renewal %d the server still presented the old certificate", i)
		}
	}
}

func poolOf(ca *CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}
