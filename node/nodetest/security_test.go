package nodetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// caPool is the cluster CA as a client trusts it: from a node's data dir
// (DATA/tls/ca.crt), as an operator copies it.
func caPool(t *testing.T, c *Cluster) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Node(0).DataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatalf("the cluster CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatal("ca.crt holds no certificate")
	}
	return pool
}

// apiCert is the certificate node i's API presents over TLS, verified
// against the cluster CA and the node's address.
func apiCert(c *Cluster, i int, pool *x509.CertPool) (*x509.Certificate, error) {
	n := c.Node(i)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", n.HTTPHostPort(), &tls.Config{RootCAs: pool, ServerName: n.IP})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// strangerCert is a certificate of a CA that is not the cluster's.
func strangerCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stranger"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	cert, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// refusedTLS reports whether a TLS client with cfg gets no working Raft
// connection: the handshake fails, or the first read does (TLS 1.3 sends
// the server's refusal after the client finished).
func refusedTLS(addr string, cfg *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := conn.Write([]byte{0}); err != nil {
		return nil
	}
	if _, err := conn.Read(make([]byte, 1)); err != nil {
		return nil
	}
	return fmt.Errorf("a TLS client was answered on the Raft port %s", addr)
}

// Raft speaks only mutual TLS with the cluster's servers, gossip only with
// the cluster's key, and the API serves TLS with the node's certificate:
// strangers connecting raw are cut off and the cluster carries on.
func TestRaftAndGossipRefuseStrangersAndTheAPIServesTheClusterCA(t *testing.T) {
	c := Start(t, Options{N: 3})
	c.Eventually(t, "3 voters", 30*time.Second, func() bool { return len(voters(c, c.Leader(t).Index)) == 3 })
	leader := c.Leader(t)
	before, err := c.Status(leader.Index)
	if err != nil {
		t.Fatal(err)
	}
	pool := caPool(t, c)
	for i := range c.Nodes() {
		cert, err := apiCert(c, i, pool)
		if err != nil {
			t.Fatalf("node %d's API over TLS, checked against the cluster CA: %v", i, err)
		}
		if cert.NotAfter.Sub(cert.NotBefore) > 25*time.Hour {
			t.Errorf("node %d's certificate lives %s; node certificates are short-lived", i, cert.NotAfter.Sub(cert.NotBefore))
		}
	}

	raftAddr := net.JoinHostPort(leader.IP, strconv.Itoa(leader.RaftPort))
	// Raw TCP speaking Raft's framing without TLS: cut off, unanswered.
	raw, err := net.DialTimeout("tcp", raftAddr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = raw.Write([]byte{0, 0x82, 0xa4, 'T', 'e', 'r', 'm', 1})
	_ = raw.SetReadDeadline(time.Now().Add(15 * time.Second))
	if n, err := raw.Read(make([]byte, 64)); err == nil {
		t.Errorf("raw TCP to the Raft port got %d bytes back", n)
	}
	raw.Close()
	if err := refusedTLS(raftAddr, &tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Errorf("TLS without a client certificate: %v", err)
	}
	if err := refusedTLS(raftAddr, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{strangerCert(t)}}); err != nil {
		t.Errorf("TLS with another CA's certificate: %v", err)
	}

	// Gossip's TCP side without the key: memberlist refuses what is not
	// sealed with it and answers only sealed (its error), so a stranger
	// learns no member. (A push-pull request, in the clear.)
	gossipAddr := leader.GossipAddr()
	g, err := net.DialTimeout("tcp", gossipAddr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// memberlist's pushPullMsg and its header {Nodes: 0, UserStateLen: 0,
	// Join: true} in msgpack: a cluster without a key answers it with its
	// members.
	req := append([]byte{6, 0x83, 0xa5}, "Nodes"...)
	req = append(append(append(req, 0x00, 0xac), "UserStateLen"...), 0x00, 0xa4)
	req = append(append(req, "Join"...), 0xc3)
	_, _ = g.Write(req)
	_ = g.SetReadDeadline(time.Now().Add(15 * time.Second))
	b, _ := io.ReadAll(io.LimitReader(g, 64<<10))
	g.Close()
	// memberlist's stream answers start with their message type: 10 is a
	// sealed message; a cluster without a key answers 6 or 9 (its state,
	// plain or compressed).
	if len(b) > 0 && b[0] != 10 {
		t.Errorf("unencrypted gossip was answered in the clear (message type %d, %d bytes)", b[0], len(b))
	}
	if u, err := net.Dial("udp", gossipAddr); err == nil {
		_, _ = u.Write([]byte{0, 0x81, 0xa5, 'S', 'e', 'q', 'N', 'o', 1}) // a ping, in the clear
		u.Close()
	}

	// Node-to-node routes answer only nodes with a certificate: not plain
	// HTTP, not HTTPS without one, even with the admin token.
	for _, base := range []string{leader.Addr, "https://" + leader.HTTPHostPort()} {
		req, _ := http.NewRequest("POST", base+"/v1/internal/commands", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+c.Token())
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: leader.IP}}}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("POST %s/v1/internal/commands: %v", base, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "node certificate") {
			t.Errorf("POST %s/v1/internal/commands without a node certificate: %d %s; want 403 naming the certificate", base, resp.StatusCode, body)
		}
	}

	after, err := c.Status(leader.Index)
	if err != nil {
		t.Fatal(err)
	}
	if after.Leader != before.Leader {
		t.Errorf("the leader changed from %s to %s while strangers knocked", before.Leader, after.Leader)
	}
	if v := voters(c, leader.Index); len(v) != 3 {
		t.Errorf("voters after the strangers: %v", v)
	}
	if got := readyNodes(c, leader.Index); got != 3 {
		t.Errorf("%d nodes ready after the strangers, want 3", got)
	}
}

// Node certificates are short-lived and renewed while the cluster works:
// with a 30 s lifetime every node, servers (which sign their own) and an
// agent (which renews through a server), gets three new certificates
// while a service keeps running and Raft keeps its leader.
func TestCertificatesAreRenewedThreeTimesWithoutInterruption(t *testing.T) {
	c := Start(t, Options{N: 3, ExtraArgs: []string{"--cert-lifetime", "30s"}})
	agent := c.AddNodeWith(t, "--server=false")
	c.Eventually(t, "3 voters", 30*time.Second, func() bool { return len(voters(c, c.Leader(t).Index)) == 3 })
	leader := c.Leader(t)
	st, err := c.Status(leader.Index)
	if err != nil {
		t.Fatal(err)
	}
	c.Submit(t, leader.Index, `{"id":"steady","type":"service","cmd":"sleep 600","instances":4,"cpus":0.05,"mem":16}`)
	var running map[string]string
	c.Eventually(t, "4 instances running", 60*time.Second, func() bool {
		running = runningOn(c, leader.Index, "steady")
		return len(running) == 4
	})

	pool := caPool(t, c)
	serials := make([]map[string]bool, len(c.Nodes()))
	for i := range serials {
		serials[i] = map[string]bool{}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		done := true
		for i := range c.Nodes() {
			cert, err := apiCert(c, i, pool)
			if err != nil {
				t.Fatalf("node %d's API over TLS during renewals: %v", i, err)
			}
			if time.Now().After(cert.NotAfter) {
				t.Fatalf("node %d presents an expired certificate (not after %s)", i, cert.NotAfter)
			}
			serials[i][cert.SerialNumber.String()] = true
			done = done && len(serials[i]) >= 4 // the first and three renewals
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("certificates seen per node after 2 minutes: %v (want 4 each; agent is node %d)", counts(serials), agent.Index)
		}
		time.Sleep(time.Second)
	}

	now, err := c.Status(leader.Index)
	if err != nil {
		t.Fatal(err)
	}
	if now.Leader != st.Leader {
		t.Errorf("the leader changed during the renewals: %s, then %s", st.Leader, now.Leader)
	}
	if got := runningOn(c, leader.Index, "steady"); !sameKeys(got, running) {
		t.Errorf("the service's tasks changed during the renewals: %v, then %v", running, got)
	}
	if got := readyNodes(c, leader.Index); got != 4 {
		t.Errorf("%d nodes ready after the renewals, want 4", got)
	}
}

func counts(sets []map[string]bool) []int {
	out := make([]int, len(sets))
	for i, s := range sets {
		out[i] = len(s)
	}
	return out
}

// The gossip key is rotated in three rounds while the cluster runs: every
// node, the agent-only one too, ends with the new key alone, no node is
// lost on the way, and a machine joining afterwards gets the new key.
func TestGossipKeyRotationReachesEveryNodeAndLosesNone(t *testing.T) {
	c := Start(t, Options{N: 3})
	c.AddNodeWith(t, "--server=false")
	leader := c.Leader(t)
	keysOf := func(n *Node) string {
		b, err := os.ReadFile(filepath.Join(n.DataDir, "tls", "gossip.keys"))
		if err != nil {
			t.Fatalf("gossip keys of %s: %v", n.Name, err)
		}
		return strings.TrimSpace(string(b))
	}
	old := keysOf(c.Node(0))
	if strings.Contains(old, "\n") || old == "" {
		t.Fatalf("before the rotation node 0 holds %q, want one key", old)
	}
	if out, err := c.CLI(t, 1, "gossip", "rotate", "--wait", "--timeout", "60s"); err != nil {
		t.Fatalf("gossip rotate --wait: %v\n%s", err, out)
	}
	var st struct {
		Encrypted bool     `json:"encrypted"`
		Keys      int      `json:"keys"`
		Rotation  string   `json:"rotation"`
		Pending   []string `json:"pending"`
	}
	out, err := c.CLI(t, 0, "gossip", "status", "-o", "json")
	if err != nil || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("gossip status: %v\n%s", err, out)
	}
	if !st.Encrypted || st.Keys != 1 || st.Rotation != "" || len(st.Pending) != 0 {
		t.Fatalf("gossip status after the rotation: %+v, want encrypted, 1 key, no round, none pending", st)
	}
	newKey := keysOf(c.Node(0))
	for _, n := range c.Nodes() {
		if got := keysOf(n); got != newKey || got == old {
			t.Errorf("%s holds gossip keys %q after the rotation, want the new one alone", n.Name, got)
		}
	}
	if now := c.Leader(t); now != leader {
		t.Errorf("the leader changed during the rotation: %s, then %s", leader.Name, now.Name)
	}
	nodes, err := c.APINodes(leader.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.State != "ready" {
			t.Errorf("node %s is %s after the rotation", n.Name, n.State)
		}
	}
	late := c.AddNode(t)
	if got := keysOf(late); got != newKey {
		t.Errorf("a node joining after the rotation got gossip keys %q, want the new one", got)
	}
}

// An agent down for longer than its certificate lives cannot renew it
// (renewal needs a valid one): with its join token it joins again by
// itself and gets back to work.
func TestAnAgentWhoseCertificateExpiredJoinsAgainWithItsToken(t *testing.T) {
	c := Start(t, Options{N: 1, ExtraArgs: []string{"--cert-lifetime", "30s"}})
	agent := c.AddNodeWith(t, "--server=false")
	pool := caPool(t, c)
	before, err := apiCert(c, agent.Index, pool)
	if err != nil {
		t.Fatal(err)
	}
	// Down (a crash, a machine powered off), not gone: a node that left
	// may not join again under its id.
	c.Kill(t, agent.Index)
	if wait := time.Until(before.NotAfter) + time.Second; wait > 0 {
		time.Sleep(wait)
	}
	c.Restart(t, agent.Index)
	c.Eventually(t, "the agent has a new, valid certificate", 60*time.Second, func() bool {
		cert, err := apiCert(c, agent.Index, pool)
		return err == nil && cert.SerialNumber.Cmp(before.SerialNumber) != 0
	})
	c.Eventually(t, "the agent is ready again", 60*time.Second, func() bool { return readyNodes(c, 0) == 2 })
	b, err := os.ReadFile(agent.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "joining again with the token") {
		t.Errorf("the agent's log does not say it joined again:\n%s", tail(string(b), 30))
	}
}
