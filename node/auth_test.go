package node

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/pki"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// authNode is a node that checks tokens, with the admin token it was
// created with, on a clock the test moves.
type authNode struct {
	n     *Node
	admin string
	mu    sync.Mutex
	now   time.Time
}

func startAuthNode(t *testing.T) *authNode {
	t.Helper()
	tok, err := pki.NewAPIToken(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := &authNode{admin: tok.String(), now: time.Now()}
	a.n = startNodeWith(t, func(c *Config) {
		c.NoAuth = false
		c.AdminToken = a.admin
		c.Clock = a.clock
	})
	waitFor(t, "the first admin token stored", 10*time.Second, func() bool {
		return len(a.n.fsm.View().Credentials(raftfsm.CredentialAPI)) == 1
	})
	return a
}

func (a *authNode) clock() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now
}

func (a *authNode) advance(d time.Duration) {
	a.mu.Lock()
	a.now = a.now.Add(d)
	a.mu.Unlock()
}

// call sends a request with a token ("" for none) and returns the status
// and body.
func (a *authNode) call(t *testing.T, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+a.n.httpAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (a *authNode) createToken(t *testing.T, req string) api.Token {
	t.Helper()
	code, body := a.call(t, "POST", "/v1/tokens", a.admin, req)
	var tok api.Token
	if err := json.Unmarshal(body, &tok); code != http.StatusCreated || err != nil || tok.Secret == "" {
		t.Fatalf("create token %s: %d %s", req, code, body)
	}
	return tok
}

const authJob = `{"id":"auth-job","type":"batch","cmd":"true","instances":1,"cpus":0.1,"mem":16}`

// A node that is not --dev refuses the API without a token; the admin
// token the cluster was made with works and is in the data dir for root;
// tokens of each scope do what their scope allows and no more.
func TestANodeRefusesTheAPIWithoutATokenAndScopesLimitWhatATokenDoes(t *testing.T) {
	a := startAuthNode(t)
	if code, body := a.call(t, "GET", "/v1/status", "", ""); code != http.StatusUnauthorized || !strings.Contains(string(body), "needs a read token") {
		t.Errorf("status without a token: %d %s; want 401 saying a read token is needed", code, body)
	}
	if code, _ := a.call(t, "POST", "/v1/jobs", "", authJob); code != http.StatusUnauthorized {
		t.Errorf("submit without a token: %d; want 401", code)
	}
	if a.n.fsm.View().Job("auth-job") != nil {
		t.Fatal("a submit without a token made a job")
	}
	b, err := os.ReadFile(filepath.Join(a.n.cfg.DataDir, AdminTokenFile))
	if err != nil || strings.TrimSpace(string(b)) != a.admin {
		t.Fatalf("%s: %q %v; want the admin token", AdminTokenFile, b, err)
	}
	if fi, _ := os.Stat(filepath.Join(a.n.cfg.DataDir, AdminTokenFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v; want 0600", AdminTokenFile, fi.Mode().Perm())
	}
	if code, _ := a.call(t, "GET", "/v1/status", a.admin, ""); code != http.StatusOK {
		t.Errorf("status with the admin token: %d", code)
	}

	read := a.createToken(t, `{"scope":"read","name":"grafana"}`)
	write := a.createToken(t, `{"scope":"write","name":"ci"}`)
	if code, _ := a.call(t, "GET", "/v1/jobs", read.Secret, ""); code != http.StatusOK {
		t.Errorf("list jobs with a read token: %d", code)
	}
	if code, body := a.call(t, "POST", "/v1/jobs", read.Secret, authJob); code != http.StatusForbidden || !strings.Contains(string(body), "grants read") {
		t.Errorf("submit with a read token: %d %s; want 403", code, body)
	}
	if code, _ := a.call(t, "POST", "/v1/tokens", write.Secret, `{"scope":"admin"}`); code != http.StatusForbidden {
		t.Errorf("a write token making an admin token: %d; want 403", code)
	}
	if code, body := a.call(t, "POST", "/v1/jobs", write.Secret, authJob); code != http.StatusCreated {
		t.Fatalf("submit with a write token: %d %s", code, body)
	}

	code, body := a.call(t, "GET", "/v1/tokens", a.admin, "")
	var list []api.Token
	if err := json.Unmarshal(body, &list); code != http.StatusOK || err != nil || len(list) != 3 {
		t.Fatalf("list tokens: %d %s; want the 3 tokens", code, body)
	}
	for _, tok := range list {
		if tok.Secret != "" {
			t.Errorf("the token list shows token %s's secret", tok.ID)
		}
	}

	if code, _ := a.call(t, "DELETE", "/v1/tokens/"+write.ID, a.admin, ""); code != http.StatusNoContent {
		t.Fatalf("revoke: %d", code)
	}
	if code, body := a.call(t, "GET", "/v1/jobs", write.Secret, ""); code != http.StatusUnauthorized || !strings.Contains(string(body), "not one of this cluster's") {
		t.Errorf("a revoked token: %d %s; want 401 at once", code, body)
	}
}

// A token made with a TTL stops working when it runs out.
func TestATokenWithATTLExpires(t *testing.T) {
	a := startAuthNode(t)
	tok := a.createToken(t, `{"scope":"read","ttl":"1h"}`)
	if tok.ExpiresAt.IsZero() {
		t.Fatalf("token %+v has no expiry", tok)
	}
	if code, _ := a.call(t, "GET", "/v1/jobs", tok.Secret, ""); code != http.StatusOK {
		t.Fatalf("a fresh token: %d", code)
	}
	a.advance(time.Hour)
	if code, body := a.call(t, "GET", "/v1/jobs", tok.Secret, ""); code != http.StatusUnauthorized || !strings.Contains(string(body), "expired") {
		t.Errorf("an hour later: %d %s; want 401 saying it expired", code, body)
	}
}

// The cluster keeps only a hash of each token: no file under raft/ (log,
// snapshots) holds a secret.
func TestTheStateKeepsOnlyHashesOfTokens(t *testing.T) {
	a := startAuthNode(t)
	tok := a.createToken(t, `{"scope":"write"}`)
	if f := a.n.raft.raft.Snapshot(); f.Error() != nil {
		t.Fatalf("snapshot: %v", f.Error())
	}
	for _, secret := range []string{tok.Secret, a.admin} {
		part := []byte(secret[strings.LastIndex(secret, "-")+1:])
		err := filepath.WalkDir(filepath.Join(a.n.cfg.DataDir, "raft"), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(b, part) || bytes.Contains(b, bytes.ToUpper(part)) {
				t.Errorf("%s holds a token's secret", path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// An API without tokens is only for loopback.
func TestNoAuthIsRefusedOffLoopback(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NoAuth = true
	cfg.Bind = "0.0.0.0"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "only listen on loopback") {
		t.Errorf("NoAuth on 0.0.0.0: %v; want refused", err)
	}
	cfg.NoAuth, cfg.AdminToken = false, "cdk1-nope"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "admin token") {
		t.Errorf("a malformed admin token: %v; want refused", err)
	}
}
