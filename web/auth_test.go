package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/mesos"
)

// tokenAuth is an Authenticator of fixed bearer tokens.
type tokenAuth map[string]Scope

func (a tokenAuth) CheckToken(_ context.Context, tok string) (Principal, error) {
	if s, known := a[tok]; known {
		return Principal{Scope: s, TokenID: tok}, nil
	}
	return Principal{}, errUnknownToken
}

var errUnknownToken = errors.New("unknown token")

// authEnv serves the sample cluster, with the Mesos endpoints, behind
// tokenAuth; state() says everything the backends were asked to change.
type authEnv struct {
	srv    *httptest.Server
	s      *server
	fb     *fakeBackend
	fm     *fakeMaster
	client *http.Client
}

func newAuthEnv(t *testing.T) *authEnv {
	fb := newFakeBackend()
	sampleCluster(fb)
	fb.tokens = map[string]api.Token{"t1": {ID: "t1", Scope: api.ScopeRead, Name: "grafana"}}
	fm := &fakeMaster{events: make(chan *mesos.Event, 1)}
	cfg := Config{Backend: fb, Mesos: fm, Auth: tokenAuth{"r": ScopeRead, "w": ScopeWrite, "a": ScopeAdmin,
		"cdk1-fw1-s3cret": ScopeWrite}}
	s := newServer(cfg)
	// The walk sends hundreds of forged tokens from one address: a clock
	// that jumps past the failure limiter's refill at every look keeps it
	// out of the way (its own test is TestRefusedCredentialsAreRateLimitedPerClient).
	var ticks atomic.Int64
	s.now = func() time.Time {
		return time.Unix(0, 0).Add(time.Duration(ticks.Add(1)) * failureForgets)
	}
	srv := httptest.NewServer(s.handler(cfg))
	t.Cleanup(srv.Close)
	return &authEnv{srv: srv, s: s, fb: fb, fm: fm, client: &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (e *authEnv) state(t *testing.T) string {
	e.fb.mu.Lock()
	b, err := json.Marshal([]any{e.fb.jobs, e.fb.tasks, e.fb.submitted, e.fb.killed, e.fb.deleted, e.fb.restored, e.fb.operatorCalls, e.fb.tokens, e.fb.rotated})
	e.fb.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	e.fm.mu.Lock()
	defer e.fm.mu.Unlock()
	return string(b) + strings.Repeat("c", len(e.fm.calls))
}

// requestsOf are the requests a registered pattern answers: its method, or
// every method for a pattern without one; {id} is a job or task of the
// sample cluster, so a request let through would change something.
func requestsOf(pattern string) [][2]string {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	id := "web"
	switch {
	case strings.HasPrefix(path, "/v1/tasks/"):
		id = "web.0.a1"
	case strings.HasPrefix(path, "/v1/tokens/"):
		id = "t1"
	}
	path = strings.ReplaceAll(path, "{id}", id)
	if method != "" {
		return [][2]string{{method, path}}
	}
	var out [][2]string
	for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
		out = append(out, [2]string{m, path})
	}
	return out
}

func bodyFor(path string) string {
	switch {
	case path == "/v1/jobs":
		return `{"id":"new","type":"batch","cmd":"true","instances":1,"cpus":0.1,"mem":16}`
	case strings.HasSuffix(path, "/scale"):
		return `{"instances":5}`
	case path == "/v1/tokens":
		return `{"scope":"admin","name":"x"}`
	case path == "/v1/login":
		return `{"token":"forged"}`
	case strings.Contains(path, "/api/v1"):
		return `{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"n-1"}}}`
	}
	return `{}`
}

func (e *authEnv) send(t *testing.T, method, path, token string) (int, string) {
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(bodyFor(path)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, string(b)
}

// Every registered route: without a token, with a wrong one, or with too
// small a scope, whatever needs one is refused (401 or 403, saying what it
// needs) and nothing changes; only the dashboard's files and /health are
// open.
func TestEveryRouteThatNeedsATokenRefusesARequestWithoutOne(t *testing.T) {
	e := newAuthEnv(t)
	before := e.state(t)
	walked, open := 0, 0
	for _, pattern := range e.s.patterns {
		for _, mp := range requestsOf(pattern) {
			method, path := mp[0], mp[1]
			req, _ := http.NewRequest(method, path, nil)
			need := requiredScope(req)
			walked++
			if need == ScopeNone {
				open++
				if !(path == "/" || path == "/health") || (method != "GET" && method != "HEAD") {
					if !((path == "/v1/login" || path == "/v1/logout") && method == "POST") {
						t.Errorf("%s %s needs no token", method, path)
					}
				}
				continue
			}
			if code, body := e.send(t, method, path, ""); code != http.StatusUnauthorized || !strings.Contains(body, "needs a "+need.String()+" token") {
				t.Errorf("%s %s without a token: %d %s; want 401 saying it needs a %s token", method, path, code, body, need)
			}
			if code, _ := e.send(t, method, path, "forged"); code != http.StatusUnauthorized {
				t.Errorf("%s %s with an unknown token: %d; want 401", method, path, code)
			}
			for tok, scope := range map[string]Scope{"r": ScopeRead, "w": ScopeWrite} {
				if scope >= need {
					continue
				}
				if code, body := e.send(t, method, path, tok); code != http.StatusForbidden || !strings.Contains(body, "grants "+scope.String()) {
					t.Errorf("%s %s with a %s token: %d %s; want 403", method, path, scope, code, body)
				}
			}
		}
	}
	if after := e.state(t); after != before {
		t.Errorf("refused requests changed the state:\nbefore %s\nafter  %s", before, after)
	}
	t.Logf("walked %d requests over %d patterns, %d open", walked, len(e.s.patterns), open)
	if walked < 30 {
		t.Errorf("walked only %d requests: the patterns were not recorded", walked)
	}
}

// The same requests with a token of enough scope get through: the walk
// above would have seen the changes it forbids.
func TestARequestWithATokenOfEnoughScopeGetsThrough(t *testing.T) {
	e := newAuthEnv(t)
	before := e.state(t)
	if code, body := e.send(t, "POST", "/v1/jobs/web/scale", "w"); code != http.StatusOK {
		t.Fatalf("scale with a write token: %d %s", code, body)
	}
	if e.state(t) == before {
		t.Error("a scale let through changed nothing: the state check sees nothing")
	}
	if code, _ := e.send(t, "GET", "/v1/jobs", "r"); code != http.StatusOK {
		t.Errorf("a read with a read token: %d", code)
	}
	if code, _ := e.send(t, "GET", "/v1/snapshot", "a"); code != http.StatusOK {
		t.Errorf("a snapshot with an admin token: %d", code)
	}
	if code, _ := e.send(t, "GET", "/health", ""); code != http.StatusOK {
		t.Errorf("/health without a token: %d", code)
	}
}
