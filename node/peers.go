package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/clusterd/clusterd/gossip"
	"github.com/clusterd/clusterd/web"
	"github.com/clusterd/clusterd/web/api"
)

// peerClient calls other nodes' HTTP APIs. It tries the node that last
// answered (usually the leader) first, then the other members gossip knows,
// and follows 307s to the leader.
type peerClient struct {
	n    *Node
	http *http.Client

	mu   sync.Mutex
	hint string // host:port that answered last
}

func newPeerClient(n *Node) *peerClient {
	return &peerClient{n: n, http: &http.Client{
		Timeout: watchTimeout + 15*time.Second,
		Transport: &http.Transport{
			DialContext:         n.dialer(3 * time.Second).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			TLSClientConfig:     n.nodeClientTLS(),
			TLSHandshakeTimeout: 10 * time.Second,
		},
	}}
}

// nodeClientTLS is the client side of node-to-node HTTPS: this node's
// certificate, and the peer's checked against the cluster CA as it is at
// each handshake (a node's identity is loaded after the client is made).
func (n *Node) nodeClientTLS() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // VerifyConnection checks the chain and identity
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := n.ident.Cert(); c != nil {
				return c, nil
			}
			return &tls.Certificate{}, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			return n.peers().MutualClient().VerifyConnection(cs)
		},
	}
}

// secureCluster reports whether this node's cluster runs on certificates
// (Raft over mutual TLS): then node-to-node HTTP is HTTPS with them too.
func (n *Node) secureCluster() bool { return n.raft != nil && n.raft.secure != nil }

// nodeScheme is the scheme node-to-node requests use.
func (n *Node) nodeScheme() string {
	if n.secureCluster() {
		return "https://"
	}
	return "http://"
}

// peerError is an error answer from another node.
type peerError struct {
	Status  int
	Message string
}

func (e *peerError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Message) }

func isNotFound(err error) bool {
	var pe *peerError
	return errors.As(err, &pe) && pe.Status == http.StatusNotFound
}

// candidates lists HTTP addresses to try: the last that answered, then the
// members that hold the state, then the rest, each group shuffled so agents
// do not all hit the same node after a leader change.
func (c *peerClient) candidates() []string {
	c.mu.Lock()
	hint := c.hint
	c.mu.Unlock()
	var withState, others []string
	if g := c.n.gossip; g != nil {
		for _, m := range g.Members() {
			if m.ID == c.n.id || m.State != gossip.Alive || m.Meta.HTTPPort == 0 {
				continue
			}
			addr := net.JoinHostPort(m.Addr, strconv.Itoa(m.Meta.HTTPPort))
			if addr == hint {
				continue
			}
			if m.Meta.HasState {
				withState = append(withState, addr)
			} else {
				others = append(others, addr)
			}
		}
	}
	rand.Shuffle(len(withState), func(i, j int) { withState[i], withState[j] = withState[j], withState[i] })
	rand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	out := []string{}
	if hint != "" {
		out = append(out, hint)
	}
	return append(append(out, withState...), others...)
}

// serverCandidates are the HTTP addresses of the members that hold a
// replica, in random order.
func (c *peerClient) serverCandidates() []string {
	var out []string
	if g := c.n.gossip; g != nil {
		for _, m := range g.Members() {
			if m.ID != c.n.id && m.State == gossip.Alive && m.Meta.HTTPPort != 0 && m.Meta.HasState {
				out = append(out, net.JoinHostPort(m.Addr, strconv.Itoa(m.Meta.HTTPPort)))
			}
		}
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// do sends one request to the first candidate that answers. A 4xx answer is
// final; connection errors and 5xx move on to the next candidate.
func (c *peerClient) do(ctx context.Context, method, path string, body []byte, out any) error {
	cands := c.candidates()
	if len(cands) == 0 {
		return fmt.Errorf("no other cluster member is known yet")
	}
	var lastErr error
	for _, addr := range cands {
		err := c.doOne(ctx, addr, method, path, body, out)
		if err == nil {
			return nil
		}
		var pe *peerError
		if errors.As(err, &pe) && pe.Status < 500 {
			return err
		}
		lastErr = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return lastErr
}

func (c *peerClient) doOne(ctx context.Context, addr, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.n.nodeScheme()+addr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	// A request made for a user's (the cluster status an agent-only node
	// fetches) carries the user's token.
	if tok := web.TokenFrom(ctx); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized && c.n.tokens != nil {
		if tok := web.TokenFrom(ctx); tok != "" {
			c.n.tokens.forget(tok)
		}
	}
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&eb)
		return &peerError{Status: resp.StatusCode, Message: eb.Error}
	}
	c.mu.Lock()
	c.hint = resp.Request.URL.Host // after redirects: the node that answered
	c.mu.Unlock()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s: %w", addr, err)
	}
	return nil
}

// dialer dials other nodes from --bind's address when it names one, as
// Raft does (see raftnet.SourceAddr).
func (n *Node) dialer(timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if ip := net.ParseIP(n.cfg.Bind); ip != nil && !ip.IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}
