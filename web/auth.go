package web

import (
	"errors"
	"net/http"
	"strings"
)

// Scope is what a credential allows, each including the ones before it.
type Scope int

const (
	ScopeNone  Scope = iota // no credential needed (the dashboard's files, /health)
	ScopeRead               // reads: the state, logs, events, metrics
	ScopeWrite              // every change and launch: jobs, kills, drains, Mesos frameworks
	ScopeAdmin              // what holds or replaces the cluster's secrets: snapshots
)

func (s Scope) String() string {
	return [...]string{"none", "read", "write", "admin"}[s]
}

// Authenticator tells the scope a request's credentials grant: a bearer
// token, or a Mesos principal and secret (basic auth). It returns
// ErrNoCredentials when the request carries none, and an error saying why
// for credentials it refuses (unknown, revoked, expired).
type Authenticator interface {
	Authenticate(r *http.Request) (Scope, error)
}

// ErrNoCredentials is what an Authenticator returns for a request without
// credentials.
var ErrNoCredentials = errors.New("no credentials")

// requiredScope is what a request needs, by its route: reads need read,
// everything that changes something or launches a task needs write, and
// snapshots (which carry the cluster's CA key) need admin. The Mesos
// operator API takes reads and changes alike by POST: all of it needs
// write. Only the dashboard's own files and /health are open.
func requiredScope(r *http.Request) Scope {
	p := r.URL.Path
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case p == "/v1/snapshot":
		return ScopeAdmin
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
// too small a scope. It runs before the request is passed to the leader,
// and the leader checks again (credentials are replicated).
func (s *server) authenticate(next http.Handler) http.Handler {
	if s.auth == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		need := requiredScope(r)
		if need == ScopeNone {
			next.ServeHTTP(w, r)
			return
		}
		have, err := s.auth.Authenticate(r)
		switch {
		case errors.Is(err, ErrNoCredentials):
			w.Header().Set("WWW-Authenticate", `Bearer realm="clusterd"`)
			writeErrorBody(w, r, http.StatusUnauthorized, r.Method+" "+r.URL.Path+" needs a "+need.String()+
				" token: send it as 'Authorization: Bearer TOKEN' (the CLI: --token or CLUSTERD_TOKEN)", "")
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="clusterd", error="invalid_token"`)
			writeErrorBody(w, r, http.StatusUnauthorized, "credentials refused: "+err.Error(), "")
		case have < need:
			writeErrorBody(w, r, http.StatusForbidden, r.Method+" "+r.URL.Path+" needs a "+need.String()+
				" token; this one grants "+have.String(), "")
		default:
			next.ServeHTTP(w, r)
		}
	})
}
