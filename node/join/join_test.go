package join

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/pki"
)

func TestARightTokenJoinsWithACertificateForItsIdentityKeyAndLifetime(t *testing.T) {
	c := startCluster(t, Options{})
	for _, tc := range []struct {
		name  string
		token pki.Token
		role  pki.Role
	}{
		{"server token as server", c.server, pki.RoleServer},
		{"server token as agent", c.server, pki.RoleAgent},
		{"agent token as agent", c.agent, pki.RoleAgent},
		{"agent token, role from the token", c.agent, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, key := joinRequest(t, "a1b2c3d4e5f60718", tc.role)
			res, err := Join(ctx(t), c.addr, tc.token, req, c.now)
			if err != nil {
				t.Fatalf("join: %v", err)
			}
			want := pki.Identity{NodeID: "a1b2c3d4e5f60718", Role: tc.role}
			if want.Role == "" {
				want.Role = tc.token.Role
			}
			id, err := pki.Verify(c.auth.CA().Cert, res.Cert, nil, c.now())
			if err != nil || id != want {
				t.Fatalf("the certificate verifies as %+v, %v; want %+v", id, err, want)
			}
			if got := res.Cert.NotAfter.Sub(c.now()); got != nodeLifetime {
				t.Errorf("the certificate is valid for %s, want %s", got, nodeLifetime)
			}
			if !key.PublicKey.Equal(res.Cert.PublicKey) {
				t.Error("the certificate is not for the key sent")
			}
			if len(res.Cert.IPAddresses) != 2 || !res.Cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !res.Cert.IPAddresses[1].Equal(net.IPv6loopback) {
				t.Errorf("IP SANs %v, want 127.0.0.1 and ::1", res.Cert.IPAddresses)
			}
			if !res.CA.Equal(c.auth.CA().Cert) || res.ClusterID != "c1" || len(res.GossipKeys) != 2 || res.GossipKeys[0] != "a2V5MQ==" {
				t.Errorf("result CA/cluster/gossip keys wrong: %s %v", res.ClusterID, res.GossipKeys)
			}
		})
	}
	if n := c.auth.issuedCount(); n != 4 {
		t.Errorf("the recorder saw %d certificates, want 4", n)
	}
	if i := c.auth.issued[0]; i.NodeName != "host-a1b2c3d4e5f60718" || i.Renewal || i.Cert == nil || !strings.HasPrefix(i.Source, "127.0.0.1:") {
		t.Errorf("the first record is %+v", i)
	}
}

// refusedAs checks err is a refusal with the status and sentinel, its
// message holding every part of want.
func refusedAs(t *testing.T, err error, status int, kind error, want ...string) {
	t.Helper()
	var re *RefusedError
	if !errors.As(err, &re) || re.Status != status {
		t.Fatalf("got %v, want a %d refusal", err, status)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("%v is not %v", err, kind)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not say %q", err, w)
		}
	}
}

func TestNoTokenAWrongSecretOrAnAgentTokenAskingForServerIsRefusedWithoutACertificate(t *testing.T) {
	c := startCluster(t, Options{RateLimit: RateLimit{Burst: 100}})
	wrong := c.server
	wrong.Secret[0] ^= 1
	other := newToken(t, pki.RoleServer, c.auth.CA())

	t.Run("wrong secret", func(t *testing.T) {
		req, _ := joinRequest(t, "0a", pki.RoleServer)
		_, err := Join(ctx(t), c.addr, wrong, req, c.now)
		refusedAs(t, err, http.StatusUnauthorized, ErrTokenRefused, c.addr, "join token was refused", "clusterd token rotate")
	})
	t.Run("a token of the same cluster that was rotated away", func(t *testing.T) {
		req, _ := joinRequest(t, "0a", pki.RoleAgent)
		_, err := Join(ctx(t), c.addr, other, req, c.now)
		refusedAs(t, err, http.StatusUnauthorized, ErrTokenRefused, "rotated")
	})
	t.Run("agent token asking to be a server", func(t *testing.T) {
		req, _ := joinRequest(t, "0a", pki.RoleServer)
		_, err := Join(ctx(t), c.addr, c.agent, req, c.now)
		refusedAs(t, err, http.StatusUnauthorized, ErrTokenRefused, "an agent token cannot join a server")
	})
	t.Run("no token", func(t *testing.T) {
		req, _ := joinRequest(t, "0a", pki.RoleAgent)
		status, msg := rawJoin(t, c, req)
		if status != http.StatusBadRequest || !strings.Contains(msg, "no secret") || !strings.Contains(msg, "clusterd join --token") {
			t.Errorf("no secret: %d %q", status, msg)
		}
	})
	t.Run("a role with no secret in the cluster", func(t *testing.T) {
		c.auth.mu.Lock()
		delete(c.auth.hashes, pki.RoleAgent)
		c.auth.mu.Unlock()
		t.Cleanup(func() {
			c.auth.mu.Lock()
			c.auth.hashes[pki.RoleAgent] = c.agent.SecretHash()
			c.auth.mu.Unlock()
		})
		req, _ := joinRequest(t, "0a", pki.RoleAgent)
		_, err := Join(ctx(t), c.addr, c.agent, req, c.now)
		refusedAs(t, err, http.StatusUnauthorized, ErrTokenRefused)
	})
	if n := c.auth.issuedCount(); n != 0 {
		t.Errorf("%d certificates were issued to refused requests", n)
	}
}

// rawJoin posts body as is (bytes, or JSON of a value) (Secret unset unless the test set it) to a
// cluster, pinned like Join, and returns the status and error message.
func rawJoin(t *testing.T, c *cluster, body any) (int, string) {
	t.Helper()
	b, ok := body.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	return rawPost(t, c, PathJoin, pki.Pinned(c.server.CAFingerprint, c.now), b)
}

func rawPost(t *testing.T, c *cluster, path string, cfg *tls.Config, body []byte) (int, string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, "https://"+c.addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb errorBody
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	return resp.StatusCode, eb.Error
}

func TestARemovedNodeCannotJoinAgainUnderItsID(t *testing.T) {
	c := startCluster(t, Options{})
	c.auth.revoke("dead")
	req, _ := joinRequest(t, "dead", pki.RoleAgent)
	_, err := Join(ctx(t), c.addr, c.agent, req, c.now)
	refusedAs(t, err, http.StatusForbidden, ErrNodeRemoved, "node id dead was removed", "id file")
	req.NodeID = "beef"
	if _, err := Join(ctx(t), c.addr, c.agent, req, c.now); err != nil {
		t.Fatalf("the same machine under a new id: %v", err)
	}
}

func TestMalformedRequestsAreRefusedNamingTheField(t *testing.T) {
	c := startCluster(t, Options{RateLimit: RateLimit{Burst: 100}})
	good, _ := joinRequest(t, "0a", pki.RoleAgent)
	good.Secret = EncodeSecret(c.agent.Secret)
	mutate := func(f func(*Request)) Request { r := good; f(&r); return r }
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"upper-case node id", mutate(func(r *Request) { r.NodeID = "0A" }), "node_id must be"},
		{"empty node id", mutate(func(r *Request) { r.NodeID = "" }), "node_id must be"},
		{"long node id", mutate(func(r *Request) { r.NodeID = strings.Repeat("a", MaxNodeIDLen+1) }), "node_id must be"},
		{"path in node id", mutate(func(r *Request) { r.NodeID = "../etc" }), "node_id must be"},
		{"unknown role", mutate(func(r *Request) { r.Role = "admin" }), "role must be"},
		{"short secret", mutate(func(r *Request) { r.Secret = "abc" }), "secret must be 52 base32"},
		{"no key", mutate(func(r *Request) { r.PublicKey = nil }), "no public_key"},
		{"not a key", mutate(func(r *Request) { r.PublicKey = []byte("junk") }), "not a PKIX DER"},
		{"bad ip", mutate(func(r *Request) { r.IPs = []string{"127.0.0.1", "nope"} }), "ips[1] is not an IP"},
		{"unspecified ip", mutate(func(r *Request) { r.IPs = []string{"0.0.0.0"} }), "ips[0] is not an address"},
		{"too many ips", mutate(func(r *Request) { r.IPs = make([]string, MaxIPs+1) }), "more than 16"},
		{"control character in the name", mutate(func(r *Request) { r.NodeName = "a\x1bb" }), "node_name holds"},
		{"unknown field", map[string]any{"node_id": "0a", "admin": true}, `unknown field "admin"`},
		{"wrong type", map[string]any{"node_id": 7}, `"node_id" must be a string`},
		{"bad base64 key", map[string]any{"public_key": "!!"}, "public_key is not valid base64"},
		{"two values", []byte(`{} {}`), "more than one JSON value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := rawJoin(t, c, tc.body)
			if status != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
				t.Errorf("got %d %q, want 400 saying %q", status, msg, tc.want)
			}
		})
	}
	t.Run("a body over the limit", func(t *testing.T) {
		big := mutate(func(r *Request) { r.NodeName = strings.Repeat("x", MaxBodyBytes) })
		status, msg := rawJoin(t, c, big)
		if status != http.StatusBadRequest || !strings.Contains(msg, "larger than 16384 bytes") {
			t.Errorf("got %d %q", status, msg)
		}
	})
	if status, msg := rawJoin(t, c, good); status != http.StatusOK {
		t.Fatalf("the unmutated request was refused: %d %q", status, msg)
	}
	if n := c.auth.issuedCount(); n != 1 {
		t.Errorf("%d certificates issued, want only the good request's", n)
	}
}

func TestTheHandlerRefusesPlainHTTPAndAClusterWithoutCA(t *testing.T) {
	auth := &fakeAuthority{now: t0, revoked: map[string]bool{}, hashes: map[pki.Role][32]byte{}}
	h := NewHandler(auth, Options{RateLimit: RateLimit{Burst: 1}})
	req, _ := joinRequest(t, "0a", pki.RoleAgent)
	req.Secret = EncodeSecret([32]byte{1})
	body, _ := json.Marshal(req)

	r := newRequest(PathJoin, body, "127.0.0.9:1000")
	r.TLS = nil
	w := serve(h, r)
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "needs HTTPS") {
		t.Errorf("plain HTTP: %d %s", w.Code, w.Body)
	}
	// With no CA the cluster is not ready: 503, and it costs the client
	// nothing (a burst of 1 would be spent otherwise).
	for range 3 {
		w := serve(h, newRequest(PathJoin, body, "127.0.0.10:1000"))
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "no cluster CA yet") {
			t.Fatalf("no CA: %d %s", w.Code, w.Body)
		}
	}
	if w := serve(h, newRequest("/v1/join", body, "127.0.0.10:1000")); w.Code == http.StatusTooManyRequests {
		t.Error("the cluster's own unreadiness counted against the client")
	}
	get := newRequest(PathJoin, nil, "127.0.0.11:1")
	get.Method = http.MethodGet
	if w := serve(h, get); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/join: %d", w.Code)
	}
}

func TestTheRecorderCanRefuseAndThenNothingIsHandedOut(t *testing.T) {
	c := startCluster(t, Options{})
	c.auth.failRec = errors.New("not the leader")
	req, _ := joinRequest(t, "0a", pki.RoleAgent)
	_, err := Join(ctx(t), c.addr, c.agent, req, c.now)
	refusedAs(t, err, http.StatusServiceUnavailable, nil, "could not record node 0a: not the leader; try again")
}

func TestAnUnreachablePeerIsNamed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ca := newCA(t)
	req, _ := joinRequest(t, "0a", pki.RoleAgent)
	_, err = Join(ctx(t), addr, newToken(t, pki.RoleAgent, ca), req, func() time.Time { return t0 })
	if err == nil || !strings.Contains(err.Error(), "join through "+addr+": cannot reach it") {
		t.Errorf("got %v", err)
	}
	if _, err := Join(ctx(t), "127.0.0.1", newToken(t, pki.RoleAgent, ca), req, func() time.Time { return t0 }); err == nil || !strings.Contains(err.Error(), "HOST:PORT") {
		t.Errorf("no port: %v", err)
	}
}
