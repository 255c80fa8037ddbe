package web

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clusterd/clusterd/web/api"
)

// Scope is what a credential allows, each including the ones before it.
type Scope int

const (
	ScopeNone  Scope = iota // no credential needed (the dashboard's files, /health)
	ScopeRead               // reads: the state, logs, events, metrics
	ScopeWrite              // every change and launch: jobs, kills, drains, Mesos frameworks
	ScopeAdmin              // what holds or replaces the cluster's secrets: tokens, snapshots
)

func (s Scope) String() string {
	return [...]string{"none", "read", "write", "admin"}[s]
}

// ParseScope reads api.ScopeRead, api.ScopeWrite or api.ScopeAdmin.
func ParseScope(s string) (Scope, bool) {
	switch s {
	case api.ScopeRead:
		return ScopeRead, true
	case api.ScopeWrite:
		return ScopeWrite, true
	case api.ScopeAdmin:
		return ScopeAdmin, true
	}
	return ScopeNone, false
}

// Principal is who a credential speaks for.
type Principal struct {
	Scope   Scope
	TokenID string
	Name    string
}

// Authenticator tells what a token grants. It returns an error saying why
// for a token it refuses (malformed, unknown, revoked, expired); the error
// must not contain the token. An error that wraps ErrCannotCheck says the
// token could not be checked at all (no replica and no server to ask yet):
// the request is answered 503 and does not count as a refused credential.
type Authenticator interface {
	CheckToken(ctx context.Context, token string) (Principal, error)
}

// ErrCannotCheck is wrapped by an Authenticator that could not decide.
var ErrCannotCheck = errors.New("credentials cannot be checked right now")

// SessionCookie is the dashboard's session: the token, set by POST
// /v1/login. It is HttpOnly and SameSite=Strict, and a request that changes
// something with it alone must also carry ProxyHeader, which a page of
// another site cannot add to a form post (no CSRF).
const SessionCookie = "clusterd_session"

// errNoCredentials is requestToken's answer for a request without any.
var errNoCredentials = errors.New("no credentials")

// requestToken is the token a request presents: a bearer token, the
// password of Mesos-style basic auth (principal = the token's id and
// secret = the rest, or any principal and the whole token), or the
// dashboard's session cookie.
func requestToken(r *http.Request) (token string, cookie bool, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok && strings.TrimSpace(tok) != "" {
			return strings.TrimSpace(tok), false, nil
		}
		if user, pass, ok := r.BasicAuth(); ok && pass != "" {
			return basicToken(user, pass), false, nil
		}
		return "", false, errors.New("the Authorization header is neither 'Bearer TOKEN' nor basic auth with the token as the secret")
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		return c.Value, true, nil
	}
	return "", false, errNoCredentials
}

// basicToken maps a Mesos principal and secret to a token: a framework may
// give the token's id as principal and its secret part as secret, or the
// whole token as secret.
func basicToken(user, pass string) string {
	if strings.HasPrefix(pass, api.APITokenPrefix) {
		return pass
	}
	user = strings.TrimPrefix(user, api.APITokenPrefix)
	return api.APITokenPrefix + user + "-" + pass
}

type tokenKey struct{}

// TokenFrom is the token the request being served presented, for a backend
// that passes the request on to another node (a task's log on its agent).
func TokenFrom(ctx context.Context) string {
	s, _ := ctx.Value(tokenKey{}).(string)
	return s
}

// requiredScope is what a request needs, by its route: reads need read,
// everything that changes something or launches a task needs write, and
// tokens and snapshots (which carry the cluster's CA key) need admin. The
// Mesos operator API takes reads and changes alike by POST: all of it needs
// write. Only the dashboard's own files, /health and the sign-in are open.
func requiredScope(r *http.Request) Scope {
	p := r.URL.Path
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case p == "/v1/snapshot" || p == "/v1/tokens" || strings.HasPrefix(p, "/v1/tokens/") || strings.HasPrefix(p, "/v1/join-tokens/") || p == "/v1/gossip/rotate":
		return ScopeAdmin
	case (p == "/v1/login" || p == "/v1/logout") && r.Method == http.MethodPost:
		return ScopeNone // they check the token themselves
	case strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/master/") || p == "/metrics":
		if read && !strings.HasPrefix(p, "/master/api/") {
			return ScopeRead
		}
		return ScopeWrite
	case strings.HasPrefix(p, "/api/"):
		return ScopeWrite
	case p == "/health" && read:
		return ScopeNone
	case read:
		return ScopeNone // the dashboard's files: it asks for a token itself
	}
	return ScopeWrite
}

// authenticate refuses a request whose credentials do not grant the scope
// its route needs: 401 without credentials or with refused ones, 403 with
// too small a scope, 429 for a client that had too many refused. It runs
// before the request is passed to the leader, and the leader checks again
// (credentials are replicated).
func (s *server) authenticate(next http.Handler) http.Handler {
	if s.auth == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.authorize(w, r, requiredScope(r), next)
	})
}

// Guard serves next only to requests whose credentials grant need, as the
// API does: for endpoints a node serves beside it (POST /v1/agent/leave).
// A nil auth lets everything through, as for --dev.
func Guard(auth Authenticator, need Scope, next http.Handler) http.Handler {
	if auth == nil {
		return next
	}
	s := &server{auth: auth, now: time.Now}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.authorize(w, r, need, next) })
}

func (s *server) authorize(w http.ResponseWriter, r *http.Request, need Scope, next http.Handler) {
	if need == ScopeNone {
		next.ServeHTTP(w, r)
		return
	}
	tok, cookie, err := requestToken(r)
	if errors.Is(err, errNoCredentials) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="clusterd"`)
		writeErrorBody(w, r, http.StatusUnauthorized, r.Method+" "+r.URL.Path+" needs a "+need.String()+
			" token: send it as 'Authorization: Bearer TOKEN' (the CLI: --token, CLUSTERD_TOKEN or 'clusterd login')", "")
		return
	}
	var p Principal
	if err == nil {
		p, err = s.checkToken(w, r, tok)
		if err == errLimited {
			return
		}
	}
	switch {
	case errors.Is(err, ErrCannotCheck):
		w.Header().Set("Retry-After", "1")
		writeErrorBody(w, r, http.StatusServiceUnavailable, err.Error(), "")
	case err != nil:
		w.Header().Set("WWW-Authenticate", `Bearer realm="clusterd", error="invalid_token"`)
		writeErrorBody(w, r, http.StatusUnauthorized, "credentials refused: "+err.Error(), "")
	case cookie && need > ScopeRead && r.Header.Get(ProxyHeader) == "":
		// A session cookie goes with every request a browser sends to us,
		// also one that another site's page makes it send.
		writeErrorBody(w, r, http.StatusForbidden, "a change made with the dashboard's session cookie must carry the "+ProxyHeader+" header", "")
	case p.Scope < need:
		writeErrorBody(w, r, http.StatusForbidden, r.Method+" "+r.URL.Path+" needs a "+need.String()+
			" token; this one grants "+p.Scope.String(), "")
	default:
		ctx := context.WithValue(r.Context(), tokenKey{}, tok)
		ctx = context.WithValue(ctx, principalKey{}, p)
		next.ServeHTTP(w, r.WithContext(ctx))
	}
}

type principalKey struct{}

// errLimited says checkToken already answered 429.
var errLimited = errors.New("rate limited")

// checkToken asks the Authenticator, unless the client had too many tokens
// refused lately; a refusal counts against it.
func (s *server) checkToken(w http.ResponseWriter, r *http.Request, tok string) (Principal, error) {
	ip := clientIP(r)
	if wait := s.failures.Wait(ip, s.now()); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		writeErrorBody(w, r, http.StatusTooManyRequests, "too many refused credentials from "+ip+"; try again in "+wait.Round(time.Second).String(), "")
		return Principal{}, errLimited
	}
	p, err := s.auth.CheckToken(r.Context(), tok)
	if err != nil && !errors.Is(err, ErrCannotCheck) {
		s.failures.Add(ip, s.now())
	}
	return p, err
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// login trades a token for the dashboard's session cookie.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	var req api.LoginRequest
	if err := decodeStrict(r, &req); err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	if s.auth == nil {
		writeJSON(w, r, http.StatusOK, api.WhoAmI{Auth: false, Scope: api.ScopeAdmin})
		return
	}
	p, err := s.checkToken(w, r, strings.TrimSpace(req.Token))
	if err == errLimited {
		return
	}
	if errors.Is(err, ErrCannotCheck) {
		w.Header().Set("Retry-After", "1")
		writeErrorBody(w, r, http.StatusServiceUnavailable, "sign-in: "+err.Error(), "")
		return
	}
	if err != nil {
		writeErrorBody(w, r, http.StatusUnauthorized, "sign-in refused: "+err.Error(), "token")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: strings.TrimSpace(req.Token), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	writeJSON(w, r, http.StatusOK, whoAmI(true, p))
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) whoami(w http.ResponseWriter, r *http.Request) {
	if s.auth == nil {
		writeJSON(w, r, http.StatusOK, api.WhoAmI{Auth: false, Scope: api.ScopeAdmin})
		return
	}
	p, _ := r.Context().Value(principalKey{}).(Principal)
	writeJSON(w, r, http.StatusOK, whoAmI(true, p))
}

func whoAmI(auth bool, p Principal) api.WhoAmI {
	return api.WhoAmI{Auth: auth, Scope: p.Scope.String(), TokenID: p.TokenID, Name: p.Name}
}

// decodeStrict reads a small JSON body, refusing unknown fields.
func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &api.ValidationError{Message: "request body: " + err.Error()}
	}
	return nil
}

// FailureLimiter is a token bucket per client IP over refused credentials:
// a client may have failureBurst refused in a row, then one per
// failureRefill. The zero value is ready to use. Guessing a 256-bit secret is hopeless anyway; the limit
// keeps a guesser from loading the nodes and the logs.
type FailureLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

const (
	failureBurst   = 10
	failureRefill  = 2 * time.Second
	maxFailureIPs  = 10000
	failureForgets = failureBurst * failureRefill
)

func (l *FailureLimiter) level(ip string, now time.Time) *bucket {
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b := l.buckets[ip]
	if b == nil {
		return nil
	}
	b.tokens = min(failureBurst, b.tokens+float64(now.Sub(b.at))/float64(failureRefill))
	b.at = now
	return b
}

// Wait is how long ip must wait before its next attempt (0: now).
func (l *FailureLimiter) Wait(ip string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.level(ip, now)
	if b == nil || b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(failureRefill))
}

// Add counts a refusal against ip.
func (l *FailureLimiter) Add(ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.level(ip, now)
	if b == nil {
		if len(l.buckets) >= maxFailureIPs {
			// Forget the clients whose buckets refilled; if none did, the
			// table is under attack from many addresses: start over rather
			// than grow without bound.
			for k, o := range l.buckets {
				if now.Sub(o.at) >= failureForgets {
					delete(l.buckets, k)
				}
			}
			if len(l.buckets) >= maxFailureIPs {
				clear(l.buckets)
			}
		}
		b = &bucket{tokens: failureBurst, at: now}
		l.buckets[ip] = b
	}
	b.tokens = max(0, b.tokens-1)
}

// requireTLS refuses plain HTTP from other machines when the node asks for
// it (Config.TLSRequired): a browser asking for the dashboard is sent to
// https, everything else but /health is refused with what to do. Loopback
// clients (the CLI on the node itself) may use plain HTTP.
func (s *server) requireTLS(next http.Handler) http.Handler {
	if s.tlsRequired == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil || !s.tlsRequired() || isLocalClient(r) || r.URL.Path == "/health" {
			next.ServeHTTP(w, r)
			return
		}
		read := r.Method == http.MethodGet || r.Method == http.MethodHead
		if read && requiredScope(r) == ScopeNone && r.Host != "" {
			http.Redirect(w, r, "https://"+r.Host+r.URL.RequestURI(), http.StatusPermanentRedirect)
			return
		}
		writeErrorBody(w, r, http.StatusForbidden, "this cluster takes requests from other machines only over https: use https://"+r.Host+
			" and check it against the cluster CA ('clusterd login --ca-fingerprint FP', or --ca-file with a copy of DATA/tls/ca.crt); "+
			"a token sent over plain HTTP may have been seen on the way: revoke it if the network is not yours", "")
	})
}

// isLocalClient reports whether a request comes from this machine: from a
// loopback address, or from the very address it was sent to (a TCP
// connection cannot be opened with another machine's source address).
func isLocalClient(r *http.Request) bool {
	ip := net.ParseIP(clientIP(r))
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	la, _ := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	return la != nil && la.IP.Equal(ip)
}
