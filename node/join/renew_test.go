package join

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/pki"
)

// joined is a node that joined c: its certificate as TLS presents it.
func joined(t *testing.T, c *cluster, id string, role pki.Role) *tls.Certificate {
	t.Helper()
	req, key := joinRequest(t, id, role)
	tok := c.server
	if role == pki.RoleAgent {
		tok = c.agent
	}
	res, err := Join(ctx(t), c.addr, tok, req, c.now)
	if err != nil {
		t.Fatalf("join %s: %v", id, err)
	}
	return pki.Chain(res.Cert, res.CA, key)
}

func TestAValidCertificateRenewsForTheSameIdentity(t *testing.T) {
	c := startCluster(t, Options{})
	for _, role := range []pki.Role{pki.RoleAgent, pki.RoleServer} {
		cur := joined(t, c, "a9", role)
		c.auth.advance(nodeLifetime / 2)
		if !pki.NeedsRenewal(cur.Leaf, c.now()) {
			t.Fatal("half-way through its life the certificate does not need renewing")
		}
		key := newKey(t)
		res, err := Renew(ctx(t), c.addr, cur, c.auth.CA().Cert, RenewRequest{PublicKey: pkix(t, key)}, c.now)
		if err != nil {
			t.Fatalf("renew a %s: %v", role, err)
		}
		id, err := pki.Verify(c.auth.CA().Cert, res.Cert, nil, c.now())
		if err != nil || id != (pki.Identity{NodeID: "a9", Role: role}) {
			t.Fatalf("renewed certificate: %+v %v", id, err)
		}
		if !key.PublicKey.Equal(res.Cert.PublicKey) || res.Cert.NotAfter.Sub(c.now()) != nodeLifetime {
			t.Errorf("renewed certificate key or lifetime wrong (until %s)", res.Cert.NotAfter)
		}
		if len(res.Cert.IPAddresses) != 2 {
			t.Errorf("the renewal did not keep the IP SANs: %v", res.Cert.IPAddresses)
		}
		// The new certificate renews in turn, and may move the node's IPs.
		next, err := Renew(ctx(t), c.addr, pki.Chain(res.Cert, res.CA, key), c.auth.CA().Cert,
			RenewRequest{PublicKey: pkix(t, key), IPs: []string{"127.0.0.7"}}, c.now)
		if err != nil {
			t.Fatalf("renew the renewed certificate: %v", err)
		}
		if len(next.Cert.IPAddresses) != 1 || !next.Cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 7)) {
			t.Errorf("IPs after moving: %v", next.Cert.IPAddresses)
		}
	}
	last := c.auth.issued[len(c.auth.issued)-1]
	if !last.Renewal || last.Identity.NodeID != "a9" {
		t.Errorf("the recorder saw %+v", last)
	}
}

func TestARenewalCannotNameAnotherIdentity(t *testing.T) {
	c := startCluster(t, Options{})
	cur := joined(t, c, "a9", pki.RoleAgent)
	cfg := pki.Peers{CA: c.auth.CA().Cert, Cert: func() *tls.Certificate { return cur }, Now: c.now}.MutualClient()
	for _, body := range []string{
		`{"public_key":"` + b64(pkix(t, newKey(t))) + `","node_id":"ff"}`,
		`{"public_key":"` + b64(pkix(t, newKey(t))) + `","role":"server"}`,
	} {
		status, msg := rawPost(t, c, PathRenew, cfg, []byte(body))
		if status != http.StatusBadRequest || !strings.Contains(msg, "unknown field") {
			t.Errorf("renew with %s: %d %q", body, status, msg)
		}
	}
}

func TestAnExpiredRevokedOrMissingCertificateDoesNotRenew(t *testing.T) {
	c := startCluster(t, Options{RateLimit: RateLimit{Burst: 100}})
	ca := c.auth.CA().Cert
	renew := func(cur *tls.Certificate) error {
		_, err := Renew(ctx(t), c.addr, cur, ca, RenewRequest{PublicKey: pkix(t, newKey(t))}, c.now)
		return err
	}
	expiring := joined(t, c, "e1", pki.RoleAgent)
	removed := joined(t, c, "e2", pki.RoleAgent)
	foreign := nodeCert(t, newCA(t), pki.Identity{NodeID: "e3", Role: pki.RoleServer}, nodeLifetime)
	issued := c.auth.issuedCount()

	c.auth.revoke("e2")
	if err := renew(removed); !errors.Is(err, ErrCertificateRefused) || !strings.Contains(err.Error(), "renew node e2's certificate through "+c.addr) {
		t.Errorf("a removed node: %v", err)
	}
	if err := renew(foreign); !errors.Is(err, ErrCertificateRefused) {
		t.Errorf("another cluster's certificate: %v", err)
	}
	c.auth.advance(nodeLifetime + time.Minute)
	if err := renew(expiring); !errors.Is(err, ErrCertificateRefused) || !strings.Contains(err.Error(), "join again with a token") {
		t.Errorf("an expired certificate: %v", err)
	}
	status, msg := rawPost(t, c, PathRenew, pki.Pinned(c.server.CAFingerprint, c.now), []byte(`{"public_key":"`+b64(pkix(t, newKey(t)))+`"}`))
	if status != http.StatusUnauthorized || !strings.Contains(msg, "needs the node's current certificate") {
		t.Errorf("no client certificate: %d %q", status, msg)
	}
	if err := renew(nil); err == nil || !strings.Contains(err.Error(), "joins with a token") {
		t.Errorf("Renew(nil): %v", err)
	}
	if n := c.auth.issuedCount(); n != issued {
		t.Errorf("%d certificates issued to refused renewals", n-issued)
	}
}

// The API's TLS configuration refuses those certificates in the handshake;
// the handler does not rely on it (a kept-alive connection outlives its
// certificate, and a mount might verify less).
func TestTheHandlerChecksTheClientCertificateItself(t *testing.T) {
	c := startCluster(t, Options{})
	expiring := joined(t, c, "e1", pki.RoleAgent)
	removed := joined(t, c, "e2", pki.RoleAgent)
	c.auth.revoke("e2")
	c.auth.advance(nodeLifetime / 2)

	lax := &cluster{auth: c.auth, logs: c.logs, server: c.server}
	serverCert := nodeCert(t, c.auth.CA(), pki.Identity{NodeID: "5e7f", Role: pki.RoleServer}, 30*24*time.Hour)
	lax.start(t, &tls.Config{ClientAuth: tls.RequireAnyClientCert}, serverCert, NewHandler(c.auth, Options{}))
	renew := func(cur *tls.Certificate) error {
		_, err := Renew(ctx(t), lax.addr, cur, c.auth.CA().Cert, RenewRequest{PublicKey: pkix(t, newKey(t))}, c.now)
		return err
	}
	if err := renew(expiring); err != nil {
		t.Fatalf("a valid certificate through the lax server: %v", err)
	}
	var re *RefusedError
	if err := renew(removed); !errors.As(err, &re) || re.Status != http.StatusForbidden || !errors.Is(err, ErrCertificateRefused) || !strings.Contains(err.Error(), "removed from the cluster") {
		t.Errorf("a removed node: %v", err)
	}
	c.auth.advance(nodeLifetime)
	if err := renew(expiring); !errors.As(err, &re) || re.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired certificate: %v", err)
	}
}
