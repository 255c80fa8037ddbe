package join

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/pki"
)

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

// fakeAuthority is the cluster as a test sets it up: a CA, join secrets,
// removed nodes and a clock the test moves.
type fakeAuthority struct {
	mu      sync.Mutex
	ca      *pki.CA
	hashes  map[pki.Role][32]byte
	revoked map[string]bool
	now     time.Time
	issued  []Issued
	failRec error
}

func (a *fakeAuthority) JoinSecretHash(role pki.Role) ([32]byte, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.hashes[role]
	return h, ok
}

func (a *fakeAuthority) CA() *pki.CA {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ca
}

func (a *fakeAuthority) GossipKeys() []string { return []string{"a2V5MQ==", "a2V5Mg=="} }
func (a *fakeAuthority) ClusterID() string    { return "c1" }

func (a *fakeAuthority) Revoked(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.revoked[id]
}

func (a *fakeAuthority) Now() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now
}

func (a *fakeAuthority) Issued(i Issued) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failRec != nil {
		return a.failRec
	}
	a.issued = append(a.issued, i)
	return nil
}

func (a *fakeAuthority) advance(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = a.now.Add(d)
}

func (a *fakeAuthority) revoke(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.revoked[id] = true
}

func (a *fakeAuthority) issuedCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.issued)
}

// cluster is one cluster's join server on 127.0.0.1 over real TLS, the
// tokens it accepts, and what it saw.
type cluster struct {
	auth     *fakeAuthority
	srv      *httptest.Server
	addr     string
	server   pki.Token // a server token
	agent    pki.Token // an agent token
	requests atomic.Int64
	logs     *syncBuffer
}

// syncBuffer is a log sink the handler writes from its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const nodeLifetime = time.Hour

func newCA(t testing.TB) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA("c1", t0, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// nodeCert is a certificate issued by ca, as the node holds it.
func nodeCert(t testing.TB, ca *pki.CA, id pki.Identity, lifetime time.Duration) *tls.Certificate {
	t.Helper()
	key := newKey(t)
	c, err := ca.Issue(&key.PublicKey, id, []net.IP{net.IPv4(127, 0, 0, 1)}, lifetime, t0, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pki.Chain(c, ca.Cert, key)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := pki.NewKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pkix(t testing.TB, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func newToken(t testing.TB, role pki.Role, ca *pki.CA) pki.Token {
	t.Helper()
	tok, err := pki.NewToken(role, pki.Fingerprint(ca.Cert), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// startCluster serves the handler with the API's TLS configuration
// (pki.Peers.APIServer) and the server's own node certificate.
func startCluster(t *testing.T, opts Options) *cluster {
	t.Helper()
	ca := newCA(t)
	c := &cluster{logs: &syncBuffer{}}
	c.server, c.agent = newToken(t, pki.RoleServer, ca), newToken(t, pki.RoleAgent, ca)
	c.auth = &fakeAuthority{ca: ca, now: t0, revoked: map[string]bool{},
		hashes: map[pki.Role][32]byte{pki.RoleServer: c.server.SecretHash(), pki.RoleAgent: c.agent.SecretHash()}}
	if opts.CertLifetime == 0 {
		opts.CertLifetime = nodeLifetime
	}
	opts.Logger = slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	serverCert := nodeCert(t, ca, pki.Identity{NodeID: "5e7e", Role: pki.RoleServer}, 30*24*time.Hour)
	peers := pki.Peers{CA: ca.Cert, Cert: func() *tls.Certificate { return serverCert }, Now: c.auth.Now, Revoked: c.auth.Revoked}
	c.start(t, peers.APIServer(), serverCert, NewHandler(c.auth, opts))
	return c
}

// start serves h with cfg, counting every request that reaches HTTP.
func (c *cluster) start(t *testing.T, cfg *tls.Config, cert *tls.Certificate, h http.Handler) {
	t.Helper()
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	// httptest puts its own certificate in Certificates, which TLS prefers
	// to GetCertificate when the client sends no server name (an IP).
	cfg.Certificates = []tls.Certificate{*cert}
	c.srv.TLS = cfg
	c.srv.Config.ErrorLog = log.New(c.logs, "http: ", 0)
	c.srv.StartTLS()
	t.Cleanup(c.srv.Close)
	c.addr = c.srv.Listener.Addr().String()
}

func (c *cluster) now() time.Time { return c.auth.Now() }

// joinRequest is a well-formed request for a fresh key.
func joinRequest(t testing.TB, id string, role pki.Role) (Request, *ecdsa.PrivateKey) {
	t.Helper()
	k := newKey(t)
	return Request{NodeID: id, NodeName: "host-" + id, Role: role, PublicKey: pkix(t, k), IPs: []string{"127.0.0.1", "::1"}}, k
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// newRequest is a request as the API server hands it to the handler, over
// TLS (httptest fills r.TLS for an https URL), from remote.
func newRequest(path string, body []byte, remote string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://node"+path, bytes.NewReader(body))
	r.RemoteAddr = remote
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
