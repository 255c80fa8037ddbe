package node

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clusterd/clusterd/node/join"
	"github.com/clusterd/clusterd/node/pki"
	"github.com/clusterd/clusterd/node/raftnet"
	"github.com/clusterd/clusterd/raftfsm"
)

// Joining with a token (issue 8): a machine without state proves a join
// token's secret to a member, over TLS pinned to the CA fingerprint the
// token carries, and receives a node certificate, the CA and the gossip
// keyring (node/join). Servers answer from their replica; every server can
// sign, since the CA key is replicated to them.

// JoinTokensFile is, in the data dir of the server that created a cluster,
// its first join tokens (0600), one per line: "server TOKEN", "agent TOKEN".
const JoinTokensFile = "join.tokens"

// joinAuthority is join.Authority over this node's replica.
type joinAuthority struct {
	n *Node

	mu     sync.Mutex
	caPEM  string
	caLast *pki.CA
}

func (a *joinAuthority) JoinSecretHash(role pki.Role) ([32]byte, bool) {
	var out [32]byte
	if !a.n.hasReplica() {
		return out, false
	}
	now := a.n.now()
	for _, cr := range a.n.fsm.View().Credentials(raftfsm.CredentialJoin) {
		if cr.Scope != string(role) || (!cr.ExpiresAt.IsZero() && !now.Before(cr.ExpiresAt)) {
			continue
		}
		b, err := hex.DecodeString(cr.SecretHash)
		if err != nil || len(b) != len(out) {
			continue
		}
		copy(out[:], b)
		return out, true
	}
	return out, false
}

func (a *joinAuthority) CA() *pki.CA {
	if !a.n.hasReplica() {
		return nil
	}
	return a.n.clusterCA()
}

func (a *joinAuthority) GossipKeys() []string {
	// What the cluster's gossip really uses: a cluster formed without
	// keys (bootstrap-expect) hands out none.
	if a.n.gossip == nil {
		return nil
	}
	_, all := a.n.gossip.Keys()
	return encodeKeys(all)
}

func (a *joinAuthority) ClusterID() string      { return a.n.clusterID() }
func (a *joinAuthority) Revoked(id string) bool { return a.n.revoked(id) }
func (a *joinAuthority) Now() time.Time         { return a.n.now() }

// clusterCA is the CA of the replicated state, decoded once per change.
func (n *Node) clusterCA() *pki.CA {
	s := n.fsm.View().ClusterSecrets()
	if s == nil {
		return nil
	}
	a := n.joinAuth
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.caPEM != s.CACertPEM || a.caLast == nil {
		ca, err := pki.LoadCA([]byte(s.CACertPEM), []byte(s.CAKeyPEM))
		if err != nil {
			n.log.Error("the replicated cluster CA cannot be read", "err", err)
			return nil
		}
		a.caPEM, a.caLast = s.CACertPEM, ca
	}
	return a.caLast
}

func encodeKeys(keys [][]byte) []string {
	var out []string
	for _, k := range keys {
		out = append(out, base64.StdEncoding.EncodeToString(k))
	}
	return out
}

// joinWithToken gets this node its identity from a member, before gossip
// starts (the keyring comes with it). A refusal (wrong token, CA not the
// one the token pins, node removed) is final; a member that does not
// answer is retried until --join-timeout.
func (n *Node) joinWithToken(ctx context.Context, tok pki.Token, timeout time.Duration) error {
	if n.cfg.Server && tok.Role != pki.RoleServer {
		return errors.New("--token is an agent join token, which cannot make a server: use the server token, or join with --server=false")
	}
	key, pub, err := newNodeKey()
	if err != nil {
		return err
	}
	role := pki.RoleAgent
	if n.cfg.Server {
		role = pki.RoleServer
	}
	var ips []string
	for _, ip := range n.certIPs() {
		ips = append(ips, ip.String())
	}
	req := join.Request{NodeID: n.id, NodeName: n.cfg.NodeName, Role: role, PublicKey: pub, IPs: ips}
	deadline := time.Now().Add(timeout)
	backoff := 250 * time.Millisecond
	for {
		var errs []error
		var addrs []string
		for _, peer := range n.cfg.Join {
			addrs = append(addrs, n.peerAPIAddr(peer))
		}
		if n.gossip != nil {
			// A node joining again (its certificate expired) knows the
			// servers from gossip.
			addrs = append(addrs, n.peer.serverCandidates()...)
		}
		for _, addr := range addrs {
			res, err := join.Join(ctx, addr, tok, req, n.now)
			if err == nil {
				if err := n.saveIdentity(res.CA, res.Cert, key, res.GossipKeys); err != nil {
					return err
				}
				n.log.Info("joined with a token: this node has its certificate", "through", addr, "role", role,
					"not_after", res.Cert.NotAfter, "gossip_encrypted", len(res.GossipKeys) > 0)
				return nil
			}
			var refused *join.RefusedError
			var mismatch *pki.FingerprintMismatchError
			if errors.As(err, &mismatch) || (errors.As(err, &refused) && !errors.Is(err, join.ErrRateLimited) && refused.Status != 503) {
				return err
			}
			errs = append(errs, err)
		}
		if time.Now().After(deadline) {
			return &noMemberAnswered{timeout: timeout, err: errors.Join(errs...)}
		}
		n.log.Info("waiting for a member to answer the join", "err", errors.Join(errs...))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// peerAPIAddr is where a peer named for joining (IP or IP:gossip-port)
// serves its API: the same HTTP port as this node's, as in a cluster whose
// machines all run the same unit.
func (n *Node) peerAPIAddr(peer string) string {
	host := peer
	if h, _, err := net.SplitHostPort(peer); err == nil {
		host = h
	}
	_, port, _ := net.SplitHostPort(n.httpAddr)
	if port == "" {
		port = strconv.Itoa(n.cfg.HTTPPort)
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// maintainCertificate keeps the node's certificate valid: a server signs
// its own from the replicated CA once it has one (a cluster formed by
// bootstrap-expect, a node upgraded from a release without certificates)
// and whenever half its lifetime has passed; a node without a replica
// renews through a server with its current certificate.
func (n *Node) maintainCertificate(ctx context.Context) {
	for {
		n.forgetPendingCluster()
		if err := n.renewCertificate(ctx); err != nil {
			n.log.Warn("renew this node's certificate", "err", err)
		}
		// A removed node's or an expired certificate's Raft connections
		// end here, not only its new handshakes.
		if s := n.raft.secure; s != nil {
			if cut := s.CloseInvalid(); cut > 0 {
				n.log.Info("cut raft connections whose certificate is no longer valid", "connections", cut)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.cfg.CertCheckInterval):
		}
	}
}

func (n *Node) renewCertificate(ctx context.Context) error {
	ca, cert := n.ident.current()
	due := cert == nil || pki.NeedsRenewal(cert.Leaf, n.now())
	if n.hasReplica() {
		cca := n.clusterCA()
		if cca == nil {
			return nil // the leader makes it
		}
		if !due && ca != nil && ca.Equal(cca.Cert) {
			return nil
		}
		return n.issueOwnCertificate(cca, n.ident.keys())
	}
	if !due || cert == nil {
		return nil
	}
	if !n.now().Before(cert.Leaf.NotAfter) {
		// Down longer than its certificate lives: renewal needs a valid
		// one, so it joins again, if it was given a token to.
		if n.cfg.JoinToken == "" {
			return fmt.Errorf("this node's certificate expired at %s: restart it with a join token (--token, from 'clusterd token rotate agent') to join again", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		tok, err := n.joinToken()
		if err != nil {
			return err
		}
		n.log.Warn("this node's certificate expired; joining again with the token", "expired", cert.Leaf.NotAfter)
		return n.joinWithToken(ctx, tok, n.cfg.JoinTimeout)
	}
	key, pub, err := newNodeKey()
	if err != nil {
		return err
	}
	var errs []error
	// Only servers can sign (an agent would answer 503).
	for _, addr := range n.peer.serverCandidates() {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err := join.Renew(rctx, addr, cert, ca, join.RenewRequest{PublicKey: pub}, n.now)
		cancel()
		if err == nil {
			if err := n.saveIdentity(res.CA, res.Cert, key, n.ident.keys()); err != nil {
				return err
			}
			n.log.Info("renewed this node's certificate", "through", addr, "not_after", res.Cert.NotAfter)
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("no server renewed it: %w", errors.Join(errs...))
}

// relayJoinWithoutReplica lets a machine join through any member: a node
// without a replica (an agent, a server not yet a voter) cannot sign, so
// it passes the request to a server over mutual TLS and returns the
// answer. The joining machine has already checked this node's certificate
// against the CA its token pins; the server checks the secret.
func (n *Node) relayJoinWithoutReplica(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.hasReplica() || r.TLS == nil || n.ident.Cert() == nil {
			h.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, join.MaxBodyBytes+1))
		if err != nil || len(body) > join.MaxBodyBytes {
			h.ServeHTTP(w, r) // it refuses what it cannot read
			return
		}
		// The node's own mutual TLS client (its certificate, the CA).
		hc := n.peer.http
		var lastErr error
		for _, addr := range n.peer.serverCandidates() {
			req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, "https://"+addr+join.PathJoin, bytes.NewReader(body))
			if err != nil {
				lastErr = err
				continue
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				lastErr = err
				continue
			}
			b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if err != nil || resp.StatusCode == http.StatusServiceUnavailable {
				lastErr = fmt.Errorf("%s: %s", addr, resp.Status)
				continue
			}
			for _, k := range []string{"Content-Type", "Cache-Control", "Retry-After"} {
				if v := resp.Header.Get(k); v != "" {
					w.Header().Set(k, v)
				}
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(b)
			return
		}
		n.log.Warn("relay a join to a server", "err", lastErr)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "this node cannot sign certificates and reached no server to pass the join to; try again, or join through a server"})
	})
}

// noMemberAnswered is a join that no member admitted or refused in time:
// no cluster there yet, or none reachable.
type noMemberAnswered struct {
	timeout time.Duration
	err     error
}

func (e *noMemberAnswered) Error() string {
	return fmt.Sprintf("join with a token: no member answered within %v: %v", e.timeout, e.err)
}

func (e *noMemberAnswered) Unwrap() error { return e.err }

// joinToken is the token this node joins with: --token as given, or the
// join token of this node's role that a bootstrap token derives.
func (n *Node) joinToken() (pki.Token, error) {
	if ic := n.initial; ic != nil && ic.fromBootstrap {
		role := pki.RoleAgent
		if n.cfg.Server {
			role = pki.RoleServer
		}
		return ic.joinTokens[role], nil
	}
	if n.cfg.JoinToken == "" {
		return pki.Token{}, errors.New("joining a cluster needs one of its join tokens: clusterd join --token TOKEN PEER " +
			"('clusterd init' printed them and left them in join.tokens in its data dir; 'clusterd token rotate server|agent' makes new ones)")
	}
	tok, err := pki.ParseToken(n.cfg.JoinToken)
	if err != nil {
		return pki.Token{}, fmt.Errorf("--token: %w", err)
	}
	return tok, nil
}

// bootstrapProbe is how long a server forming a cluster with a bootstrap
// token tries to join one that already exists before it forms its own.
const bootstrapProbe = 3 * time.Second

// prepareIdentity runs before Raft starts: a new cluster gets its CA and
// this node its certificate (init, or --bootstrap-expect with a bootstrap
// token), a machine without state joins with its token. A node whose
// cluster has encrypted gossip (every cluster made by init or a bootstrap
// token) runs Raft over mutual TLS; one without a CA (a data dir from a
// release before certificates) over plain TCP, with a warning.
func (n *Node) prepareIdentity(ctx context.Context, hasState bool, ln net.Listener, adv net.Addr) (*raftnet.Layer, error) {
	if pki.IsBootstrapToken(n.cfg.JoinToken) {
		// Always, not only without state: a server that restarts before
		// the first leader stored the derived CA must not let a leader
		// make another one.
		if err := n.prepareBootstrapCluster(); err != nil {
			return nil, err
		}
	}
	switch {
	case n.cfg.Bootstrap && !hasState:
		if err := n.prepareNewCluster(); err != nil {
			return nil, err
		}
	case n.cfg.Bootstrap:
		if err := n.loadPendingCluster(); err != nil {
			return nil, err
		}
	case n.ident.Cert() == nil && !hasState && n.cfg.BootstrapExpect > 0:
		if n.initial == nil {
			return nil, errors.New("--bootstrap-expect forms a new cluster and needs a bootstrap token to secure it: " +
				"make one with 'clusterd token bootstrap' and give the same one to every machine (--token cdb1-... or CLUSTERD_JOIN_TOKEN)")
		}
		// A machine with the same command line as the cluster's first
		// servers (a replacement in an Auto Scaling group) joins the
		// cluster that exists, so it gets today's gossip keys; only
		// when there is none yet does it form one from the token.
		tok, _ := n.joinToken()
		err := n.joinWithToken(ctx, tok, bootstrapProbe)
		var none *noMemberAnswered
		switch {
		case err == nil:
		case errors.As(err, &none):
			n.log.Info("no cluster answered yet: forming one from the bootstrap token", "cluster", n.initial.clusterID, "expect", n.cfg.BootstrapExpect)
			if err := n.issueOwnCertificate(n.initial.ca, n.initial.secrets.GossipKeys); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
	case n.ident.Cert() == nil && !hasState && len(n.cfg.Join) > 0:
		tok, err := n.joinToken()
		if err != nil {
			return nil, err
		}
		if err := n.joinWithToken(ctx, tok, n.cfg.JoinTimeout); err != nil {
			return nil, err
		}
	}
	if n.ident.Cert() == nil || len(n.ident.keys()) == 0 {
		n.log.Warn("raft runs over plain TCP and gossip unencrypted: this cluster has no CA (a data dir from a release before certificates); see docs/SECURITY.md")
		return nil, nil
	}
	opts := raftnet.DefaultOptions()
	opts.Logger = n.log.With("component", "raftnet")
	layer, err := raftnet.New(ln, adv, n.peers(), opts)
	if err != nil {
		return nil, fmt.Errorf("raft over mutual TLS: %w", err)
	}
	return layer, nil
}

// newNodeKey makes a node's key pair; the public half PKIX DER, as the
// join exchange sends it.
func newNodeKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := pki.NewKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("encode the node's public key: %w", err)
	}
	return key, pub, nil
}
