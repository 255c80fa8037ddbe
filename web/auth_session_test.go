package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
)

func (e *authEnv) do(t *testing.T, method, path, body string, set func(*http.Request)) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(req)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func errorOf(t *testing.T, resp *http.Response) api.ErrorBody {
	t.Helper()
	var eb api.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
		t.Fatalf("decode error body (%d): %v", resp.StatusCode, err)
	}
	return eb
}

// The dashboard signs in with a token and gets a session cookie that works
// for reads, and for changes only with the header a page of another site
// cannot add; a refused token sets no cookie; signing out clears it.
func TestDashboardSignInTradesATokenForASessionCookie(t *testing.T) {
	e := newAuthEnv(t)
	resp := e.do(t, "POST", "/v1/login", `{"token":"forged"}`, nil)
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("sign-in with an unknown token: %d, cookies %v; want 401 and none", resp.StatusCode, resp.Cookies())
	}
	if eb := errorOf(t, resp); eb.Field != "token" || strings.Contains(eb.Error, "forged") {
		t.Errorf("sign-in refusal %+v: want field token, and the token not echoed", eb)
	}

	resp = e.do(t, "POST", "/v1/login", `{"token":"w"}`, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in with a write token: %d", resp.StatusCode)
	}
	var who api.WhoAmI
	if err := json.NewDecoder(resp.Body).Decode(&who); err != nil || who.Scope != "write" || !who.Auth {
		t.Errorf("sign-in answer %+v (%v): want auth and scope write", who, err)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v: want HttpOnly and SameSite=Strict", session)
	}
	withCookie := func(r *http.Request) { r.AddCookie(session) }
	if resp := e.do(t, "GET", "/v1/jobs", "", withCookie); resp.StatusCode != http.StatusOK {
		t.Errorf("a read with the session cookie: %d", resp.StatusCode)
	}
	before := e.state(t)
	resp = e.do(t, "POST", "/v1/jobs/web/scale", `{"instances":5}`, withCookie)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(errorOf(t, resp).Error, ProxyHeader) {
		t.Errorf("a change with the cookie alone (as a forged form post would be): %d; want 403 naming %s", resp.StatusCode, ProxyHeader)
	}
	if e.state(t) != before {
		t.Error("the refused cookie-only change changed the state")
	}
	resp = e.do(t, "POST", "/v1/jobs/web/scale", `{"instances":5}`, func(r *http.Request) { withCookie(r); r.Header.Set(ProxyHeader, "1") })
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a change with the cookie and %s: %d", ProxyHeader, resp.StatusCode)
	}
	resp = e.do(t, "POST", "/v1/logout", "", withCookie)
	if resp.StatusCode != http.StatusNoContent || len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 {
		t.Errorf("sign-out: %d %v; want 204 clearing the cookie", resp.StatusCode, resp.Cookies())
	}
}

// Mesos frameworks authenticate with a principal and secret: the token's
// id and secret part, or any principal and the whole token.
func TestMesosBasicAuthTakesTheTokenAsPrincipalAndSecret(t *testing.T) {
	e := newAuthEnv(t)
	for _, c := range []struct{ user, pass string }{{"fw1", "s3cret"}, {"cdk1-fw1", "s3cret"}, {"marathon", "cdk1-fw1-s3cret"}} {
		resp := e.do(t, "GET", "/v1/whoami", "", func(r *http.Request) { r.SetBasicAuth(c.user, c.pass) })
		var who api.WhoAmI
		if err := json.NewDecoder(resp.Body).Decode(&who); resp.StatusCode != http.StatusOK || err != nil || who.Scope != "write" {
			t.Errorf("basic auth %s:%s: %d %+v", c.user, c.pass, resp.StatusCode, who)
		}
	}
	resp := e.do(t, "GET", "/v1/whoami", "", func(r *http.Request) { r.SetBasicAuth("fw1", "wrong") })
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("basic auth with a wrong secret: %d; want 401", resp.StatusCode)
	}
	resp = e.do(t, "GET", "/v1/jobs", "", func(r *http.Request) { r.Header.Set("Authorization", "Token abc") })
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(errorOf(t, resp).Error, "Bearer") {
		t.Errorf("an Authorization header of another scheme: %d; want 401 saying what is expected", resp.StatusCode)
	}
}

// Tokens are managed with an admin token only, and a request to make one
// is checked field by field.
func TestTokensNeedAnAdminTokenAndAValidRequest(t *testing.T) {
	e := newAuthEnv(t)
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	if resp := e.do(t, "POST", "/v1/tokens", `{"scope":"read"}`, bearer("w")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("create a token with a write token: %d; want 403", resp.StatusCode)
	}
	for body, field := range map[string]string{`{"scope":"root"}`: "scope", `{"scope":"read","ttl":"-1h"}`: "ttl",
		`{"scope":"read","ttl":"soon"}`: "ttl", `{"scope":"read","name":"` + strings.Repeat("n", 129) + `"}`: "name"} {
		resp := e.do(t, "POST", "/v1/tokens", body, bearer("a"))
		if eb := errorOf(t, resp); resp.StatusCode != http.StatusBadRequest || eb.Field != field {
			t.Errorf("create %s: %d %+v; want 400 naming %s", body, resp.StatusCode, eb, field)
		}
	}
	if resp := e.do(t, "POST", "/v1/tokens", `{"scope":"read","sope":"x"}`, bearer("a")); resp.StatusCode != http.StatusBadRequest || !strings.Contains(errorOf(t, resp).Error, "sope") {
		t.Errorf("create with an unknown field: %d; want 400 naming it", resp.StatusCode)
	}
	resp := e.do(t, "POST", "/v1/tokens", `{"scope":"write","name":"ci","ttl":"24h"}`, bearer("a"))
	var tok api.Token
	if err := json.NewDecoder(resp.Body).Decode(&tok); resp.StatusCode != http.StatusCreated || err != nil || tok.Secret == "" || tok.Scope != "write" {
		t.Fatalf("create: %d %+v %v", resp.StatusCode, tok, err)
	}
	if resp := e.do(t, "DELETE", "/v1/tokens/nope", "", bearer("a")); resp.StatusCode != http.StatusNotFound || !strings.Contains(errorOf(t, resp).Error, `token "nope"`) {
		t.Errorf("revoke an unknown token: %d; want 404 naming it", resp.StatusCode)
	}
	if resp := e.do(t, "DELETE", "/v1/tokens/"+tok.ID, "", bearer("a")); resp.StatusCode != http.StatusNoContent {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
}

// A client that had ten tokens refused must wait before it tries again;
// other clients are not held up, and the wait passes.
func TestRefusedCredentialsAreRateLimitedPerClient(t *testing.T) {
	fb := newFakeBackend()
	sampleCluster(fb)
	cfg := Config{Backend: fb, Auth: tokenAuth{"r": ScopeRead}}
	s := newServer(cfg)
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	h := s.handler(cfg)
	send := func(ip, tok string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/v1/jobs", nil)
		req.RemoteAddr = ip + ":40000"
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := range failureBurst {
		if rec := send("10.0.0.1", "guess"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d; want 401", i+1, rec.Code)
		}
	}
	rec := send("10.0.0.1", "r")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("after %d refusals, even a right token: %d Retry-After %q; want 429 and 2", failureBurst, rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := send("10.0.0.2", "r"); rec.Code != http.StatusOK {
		t.Errorf("another client: %d; want 200", rec.Code)
	}
	now = now.Add(failureRefill)
	if rec := send("10.0.0.1", "r"); rec.Code != http.StatusOK {
		t.Errorf("after the wait: %d; want 200", rec.Code)
	}
	if rec := send("10.0.0.1", "guess"); rec.Code != http.StatusUnauthorized {
		t.Errorf("one more guess after the wait: %d; want 401", rec.Code)
	}
	if rec := send("10.0.0.1", "guess"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("a second guess right after: %d; want 429", rec.Code)
	}
}

// The limiter's table is bounded: a flood of addresses cannot grow it.
func TestFailureLimiterForgetsClientsWhenFull(t *testing.T) {
	var l FailureLimiter
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for i := range maxFailureIPs + 5 {
		l.Add("ip"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune(i)), now)
	}
	if n := len(l.buckets); n > maxFailureIPs {
		t.Errorf("%d clients kept; want at most %d", n, maxFailureIPs)
	}
}

// undecided is an Authenticator that cannot check anything yet (a node
// replaying its log with no leader to ask).
type undecided struct{}

func (undecided) CheckToken(context.Context, string) (Principal, error) {
	return Principal{}, fmt.Errorf("no leader to ask: %w", ErrCannotCheck)
}

// A token that cannot be checked yet is answered 503 with Retry-After, and
// does not count as a refused credential: a client retrying through a
// node's restart is not locked out once the node can check again.
func TestCredentialsThatCannotBeCheckedYetAreA503NotARefusal(t *testing.T) {
	fb := newFakeBackend()
	cfg := Config{Backend: fb, Auth: undecided{}}
	s := newServer(cfg)
	h := s.handler(cfg)
	for i := range 3 * failureBurst {
		req := httptest.NewRequest("GET", "/v1/jobs", nil)
		req.RemoteAddr = "10.0.0.1:40000"
		req.Header.Set("Authorization", "Bearer r")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" || !strings.Contains(rec.Body.String(), "no leader to ask") {
			t.Fatalf("request %d: %d Retry-After %q %q; want 503, 1 and the reason", i+1, rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
		}
	}
	if wait := s.failures.Wait("10.0.0.1", s.now()); wait != 0 {
		t.Fatalf("undecided checks counted as refusals: the client must wait %s", wait)
	}
}
