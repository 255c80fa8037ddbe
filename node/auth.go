package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/clusterd/clusterd/node/pki"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web"
	"github.com/clusterd/clusterd/web/api"
)

// API tokens are credentials of the replicated state (raftfsm.Credential,
// kind "api"): every server checks them against its own replica, so a
// revocation works everywhere as soon as it is committed. A node without a
// replica (agent only) asks a server, and remembers the answer for
// remoteCheckTTL.

// AdminTokenFile is, in the data dir of the server that created it, the
// cluster's first admin token (0600): the way in for root on that machine.
const AdminTokenFile = "admin.token"

// remoteCheckTTL is how long a node without a replica trusts a server's
// answer about a token: a revocation reaches it within this time.
const remoteCheckTTL = 10 * time.Second

// tokenChecker is the node's web.Authenticator.
type tokenChecker struct {
	n *Node

	// saved is the copy of the credentials in the data dir, read at start
	// (see authcache.go); nil when there was none.
	saved *credentialsCache

	mu    sync.Mutex
	cache map[[32]byte]cachedCheck // by SHA-256 of the token
}

type cachedCheck struct {
	p     web.Principal
	err   error
	until time.Time
}

func (c *tokenChecker) CheckToken(ctx context.Context, s string) (web.Principal, error) {
	tok, err := pki.ParseAPIToken(s)
	if err != nil {
		return web.Principal{}, err
	}
	var p web.Principal
	if c.n.hasReplica() {
		p, err = c.withReplica(ctx, tok, s)
	} else {
		p, err = c.remote(ctx, s)
	}
	if errors.Is(err, web.ErrCannotCheck) {
		return c.checkSaved(tok, err)
	}
	return p, err
}

// withReplica checks a token against this node's replica, and asks the
// leader about one the replica lacks: a token created a moment ago may not
// have reached it yet (or it is replaying its log after a restart). A
// revoked one the leader refuses too.
func (c *tokenChecker) withReplica(ctx context.Context, tok pki.APIToken, s string) (web.Principal, error) {
	p, err := checkAPIToken(c.n.fsm.View(), tok, c.n.now())
	if !errors.Is(err, errUnknownAPIToken) {
		return p, err
	}
	addr, self := (&backend{n: c.n}).Leader()
	switch {
	case self:
		return p, err
	case addr == "":
		return web.Principal{}, fmt.Errorf("this node's copy of the credentials lacks token %s and there is no leader to ask: %w", tok.ID, web.ErrCannotCheck)
	}
	return c.ask(ctx, s, func(ctx context.Context, body []byte, out any) error {
		return c.n.peer.doOne(ctx, addr, "POST", "/v1/internal/authenticate", body, out)
	})
}

// errUnknownAPIToken is wrapped when a replica has no such token.
var errUnknownAPIToken = errors.New("revoked, mistyped or from another cluster")

// checkAPIToken checks a token against a replica of the state.
func checkAPIToken(v *raftfsm.View, tok pki.APIToken, now time.Time) (web.Principal, error) {
	return checkCredential(v.Credential(tok.ID), tok, now)
}

// checkCredential checks a token against its record (nil: none).
func checkCredential(cr *raftfsm.Credential, tok pki.APIToken, now time.Time) (web.Principal, error) {
	if cr == nil || cr.Kind != raftfsm.CredentialAPI || !tok.MatchesHash(cr.SecretHash) {
		return web.Principal{}, fmt.Errorf("token %s is not one of this cluster's: %w", tok.ID, errUnknownAPIToken)
	}
	if !cr.ExpiresAt.IsZero() && !now.Before(cr.ExpiresAt) {
		return web.Principal{}, fmt.Errorf("token %s expired at %s; an admin can make a new one with 'clusterd token create'", tok.ID, cr.ExpiresAt.UTC().Format(time.RFC3339))
	}
	scope, ok := web.ParseScope(cr.Scope)
	if !ok {
		return web.Principal{}, fmt.Errorf("token %s has scope %q, which this node does not know", tok.ID, cr.Scope)
	}
	return web.Principal{Scope: scope, TokenID: cr.ID, Name: cr.Name}, nil
}

// authAnswer is the body of /v1/internal/authenticate's answer.
type authAnswer struct {
	Scope string `json:"scope,omitempty"`
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Error string `json:"error,omitempty"`
}

// remote asks a server what a token grants.
func (c *tokenChecker) remote(ctx context.Context, s string) (web.Principal, error) {
	return c.ask(ctx, s, func(ctx context.Context, body []byte, out any) error {
		return c.n.peer.do(ctx, "POST", "/v1/internal/authenticate", body, out)
	})
}

// ask sends a token to another node's /v1/internal/authenticate with send
// and remembers the answer for remoteCheckTTL.
func (c *tokenChecker) ask(ctx context.Context, s string, send func(ctx context.Context, body []byte, out any) error) (web.Principal, error) {
	key := sha256.Sum256([]byte(s))
	now := time.Now()
	c.mu.Lock()
	if hit, ok := c.cache[key]; ok && now.Before(hit.until) {
		c.mu.Unlock()
		return hit.p, hit.err
	}
	c.mu.Unlock()
	body, _ := json.Marshal(api.LoginRequest{Token: s})
	var ans authAnswer
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := send(qctx, body, &ans); err != nil {
		// Not cached: the next request asks again.
		return web.Principal{}, fmt.Errorf("this node could not ask a server about the token (%v): %w", err, web.ErrCannotCheck)
	}
	var res cachedCheck
	if ans.Error != "" {
		res.err = errors.New(ans.Error)
	} else if scope, ok := web.ParseScope(ans.Scope); ok {
		res.p = web.Principal{Scope: scope, TokenID: ans.ID, Name: ans.Name}
	} else {
		res.err = fmt.Errorf("a server answered with scope %q, which this node does not know", ans.Scope)
	}
	res.until = now.Add(remoteCheckTTL)
	c.mu.Lock()
	if c.cache == nil || len(c.cache) >= 4096 {
		c.cache = map[[32]byte]cachedCheck{}
	}
	c.cache[key] = res
	c.mu.Unlock()
	return res.p, res.err
}

// forget drops what this node remembers about a token: a server refused a
// request made with it, so it was revoked since it was last asked about.
func (c *tokenChecker) forget(s string) {
	key := sha256.Sum256([]byte(s))
	c.mu.Lock()
	delete(c.cache, key)
	c.mu.Unlock()
}

// handleAuthenticate answers, on a node with a replica, what a token
// grants, for a node without one. Refusals count against the caller like
// the API's own, so this is no faster way to guess.
func (n *Node) handleAuthenticate(w http.ResponseWriter, r *http.Request) {
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	if wait := n.authFailures.Wait(ip, time.Now()); wait > 0 {
		writeRPCStatus(w, http.StatusTooManyRequests, api.ErrorBody{Error: "too many refused credentials from " + ip})
		return
	}
	var req api.LoginRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&req); err != nil {
		writeRPCError(w, r, &api.ValidationError{Message: "bad authenticate request: " + err.Error()})
		return
	}
	if !n.hasReplica() {
		writeRPCError(w, r, n.notLeader())
		return
	}
	var p web.Principal
	tok, err := pki.ParseAPIToken(req.Token)
	if err == nil {
		p, err = (&tokenChecker{n: n}).withReplica(r.Context(), tok, req.Token)
	}
	if errors.Is(err, web.ErrCannotCheck) {
		writeRPCStatus(w, http.StatusServiceUnavailable, api.ErrorBody{Error: err.Error()})
		return
	}
	if err != nil {
		n.authFailures.Add(ip, time.Now())
		writeRPC(w, authAnswer{Error: err.Error()})
		return
	}
	writeRPC(w, authAnswer{Scope: p.Scope.String(), ID: p.TokenID, Name: p.Name})
}

func (b *backend) Tokens(ctx context.Context) ([]api.Token, error) {
	v, err := b.view()
	if err != nil {
		return nil, err
	}
	var out []api.Token
	for _, cr := range v.Credentials(raftfsm.CredentialAPI) {
		out = append(out, api.Token{ID: cr.ID, Scope: cr.Scope, Name: cr.Name, CreatedAt: cr.CreatedAt, ExpiresAt: cr.ExpiresAt})
	}
	return out, nil
}

func (b *backend) CreateToken(ctx context.Context, req api.TokenRequest) (api.Token, error) {
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			return api.Token{}, &api.ValidationError{Field: "ttl", Message: "must be a positive duration such as 720h"}
		}
		ttl = d
	}
	tok, cr, err := newAPICredential(req.Scope, req.Name, b.n.now(), ttl)
	if err != nil {
		return api.Token{}, err
	}
	if _, err := b.n.apply(&raftfsm.PutCredential{Credential: cr}); err != nil {
		return api.Token{}, err
	}
	return api.Token{ID: cr.ID, Scope: cr.Scope, Name: cr.Name, CreatedAt: cr.CreatedAt, ExpiresAt: cr.ExpiresAt, Secret: tok.String()}, nil
}

func (b *backend) RevokeToken(ctx context.Context, id string) error {
	v, err := b.view()
	if err != nil {
		return err
	}
	if cr := v.Credential(id); cr == nil || cr.Kind != raftfsm.CredentialAPI {
		return api.ErrNotFound
	}
	_, err = b.n.apply(&raftfsm.DeleteCredential{ID: id})
	return err
}

// newAPICredential makes a token and the credential the state keeps of it.
func newAPICredential(scope, name string, now time.Time, ttl time.Duration) (pki.APIToken, raftfsm.Credential, error) {
	tok, err := pki.NewAPIToken(rand.Reader)
	if err != nil {
		return pki.APIToken{}, raftfsm.Credential{}, err
	}
	return tok, apiCredential(tok, scope, name, now, ttl), nil
}

func apiCredential(tok pki.APIToken, scope, name string, now time.Time, ttl time.Duration) raftfsm.Credential {
	cr := raftfsm.Credential{ID: tok.ID, Kind: raftfsm.CredentialAPI, Scope: scope, Name: name,
		SecretHash: tok.SecretHash(), CreatedAt: now.UTC()}
	if ttl > 0 {
		cr.ExpiresAt = cr.CreatedAt.Add(ttl)
	}
	return cr
}

// ensureAdminToken gives a cluster that has no API token at all (a new
// one, or one upgraded from a release without them) an admin token: the
// one `clusterd init` printed, or a new one. The leader writes it to its
// data dir (AdminTokenFile, 0600) and logs where, so that root on that
// machine always has a way in.
func (l *leaderLoop) ensureAdminToken() {
	n := l.n
	v := n.fsm.View()
	if n.cfg.NoAuth || v.LogVersion() < 3 || v.ClusterID() == "" || len(v.Credentials(raftfsm.CredentialAPI)) > 0 {
		return
	}
	tok := n.initialAdminToken
	if tok == nil {
		t, err := pki.NewAPIToken(rand.Reader)
		if err != nil {
			n.log.Error("create the first admin token", "err", err)
			return
		}
		tok = &t
	}
	// Written before it is committed: a token on disk that the cluster
	// does not know is harmless, a known one nobody has is a lock-out.
	path := filepath.Join(n.cfg.DataDir, AdminTokenFile)
	if err := writeFileAtomic(path, []byte(tok.String()+"\n"), 0o600); err != nil {
		n.log.Error("write the first admin token", "path", path, "err", err)
		return
	}
	cr := apiCredential(*tok, raftfsm.ScopeAdmin, "admin (created with the cluster)", n.now(), 0)
	if _, err := n.apply(&raftfsm.PutCredential{Credential: cr}); err != nil {
		n.log.Warn("store the first admin token", "err", err)
		return
	}
	n.log.Info("created the cluster's first admin token", "id", tok.ID, "path", path)
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so a crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
