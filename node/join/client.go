package join

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clusterd/clusterd/node/pki"
)

// Result is what a join or a renewal hands the node.
type Result struct {
	Cert       *x509.Certificate
	CA         *x509.Certificate
	GossipKeys []string
	ClusterID  string
}

// Sentinels a caller branches on (errors.Is); a *RefusedError wraps them.
var (
	// ErrTokenRefused: the secret is wrong, for another role, or rotated.
	ErrTokenRefused = errors.New("join token refused")
	// ErrCertificateRefused: a renewal's certificate expired, is of
	// another cluster, or the node was removed; the node must join again.
	ErrCertificateRefused = errors.New("node certificate refused")
	// ErrNodeRemoved: the node id asking to join was removed from the
	// cluster; the machine joins again under a new id.
	ErrNodeRemoved = errors.New("node was removed from the cluster")
	// ErrRateLimited: too many failed attempts from this address.
	ErrRateLimited = errors.New("too many failed join attempts")
)

// RefusedError is a server's answer other than success: its status and
// message (written for the user, without the secret).
type RefusedError struct {
	Peer string
	// Status is the HTTP status, 0 when the TLS handshake refused this
	// side's certificate (before any HTTP).
	Status  int
	Message string
	// RetryAfter is when a rate-limited client may try again.
	RetryAfter time.Duration
	kind       error
}

func (e *RefusedError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s refused the connection: %s", e.Peer, e.Message)
	}
	return fmt.Sprintf("%s answered %d: %s", e.Peer, e.Status, e.Message)
}

func (e *RefusedError) Unwrap() error { return e.kind }

// Timeouts of one exchange; the caller's context may end it sooner.
const (
	dialTimeout     = 10 * time.Second
	exchangeTimeout = 30 * time.Second
	maxResponse     = 1 << 20
)

// Join asks the server at peerAddr (HOST:PORT of its API) for a node
// certificate. The connection trusts exactly the CA the token pins: unless
// the server's chain holds that CA and its certificate is signed by it, the
// TLS handshake fails and nothing, not even the path, is sent
// (*pki.FingerprintMismatchError). req.Secret is filled in from the token,
// and req.Role too when empty; req.PublicKey is the node's key (PKIX DER).
// The answer is checked too: a certificate of another CA, identity or key
// is refused.
func Join(ctx context.Context, peerAddr string, token pki.Token, req Request, now func() time.Time) (*Result, error) {
	req.Secret = EncodeSecret(token.Secret)
	if req.Role == "" {
		req.Role = token.Role
	}
	want, err := parsePublicKey(req.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	resp, err := exchange(ctx, peerAddr, PathJoin, pki.Pinned(token.CAFingerprint, now), req,
		refusals{http.StatusUnauthorized: ErrTokenRefused, http.StatusForbidden: ErrNodeRemoved})
	if err != nil {
		return nil, fmt.Errorf("join through %w", err)
	}
	res, err := checkResponse(resp, pki.Identity{NodeID: req.NodeID, Role: req.Role}, want, now())
	if err != nil {
		return nil, fmt.Errorf("join through %s: %w", peerAddr, err)
	}
	if pki.Fingerprint(res.CA) != token.CAFingerprint {
		return nil, fmt.Errorf("join through %s: %w", peerAddr, &pki.FingerprintMismatchError{Want: fmtFP(token.CAFingerprint), Got: pki.FingerprintHex(res.CA)})
	}
	return res, nil
}

// Renew asks the server at peerAddr for a new certificate for the identity
// of current, the node's valid certificate, over mutual TLS; the server must
// present a node certificate of ca. req.PublicKey is the new key.
func Renew(ctx context.Context, peerAddr string, current *tls.Certificate, ca *x509.Certificate, req RenewRequest, now func() time.Time) (*Result, error) {
	if current == nil || len(current.Certificate) == 0 {
		return nil, errors.New("renew: no current certificate: a machine without one joins with a token")
	}
	leaf := current.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(current.Certificate[0]); err != nil {
			return nil, fmt.Errorf("renew: the current certificate: %w", err)
		}
	}
	id, err := pki.IdentityOf(leaf)
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	want, err := parsePublicKey(req.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	cfg := pki.Peers{CA: ca, Cert: func() *tls.Certificate { return current }, Now: now}.MutualClient()
	resp, err := exchange(ctx, peerAddr, PathRenew, cfg, req,
		refusals{0: ErrCertificateRefused, http.StatusUnauthorized: ErrCertificateRefused, http.StatusForbidden: ErrCertificateRefused})
	if err != nil {
		return nil, fmt.Errorf("renew node %s's certificate through %w", id.NodeID, err)
	}
	res, err := checkResponse(resp, id, want, now())
	if err != nil {
		return nil, fmt.Errorf("renew through %s: %w", peerAddr, err)
	}
	if !res.CA.Equal(ca) {
		return nil, fmt.Errorf("renew through %s: the answer is signed by another CA (%s…)", peerAddr, pki.FingerprintHex(res.CA)[:16])
	}
	return res, nil
}

func fmtFP(fp [32]byte) string { return fmt.Sprintf("%x", fp[:]) }

// refusals are the sentinels a route's refusals wrap, by status (0: the
// TLS handshake refused this side's certificate).
type refusals map[int]error

// exchange posts body to path at peer over a fresh TLS connection and
// decodes a 200's Response. Its errors start with the peer's address.
func exchange(ctx context.Context, peer, path string, cfg *tls.Config, body any, refused refusals) (*Response, error) {
	peer = strings.TrimSuffix(strings.TrimPrefix(peer, "https://"), "/")
	if _, _, err := net.SplitHostPort(peer); err != nil {
		return nil, fmt.Errorf("%q: the peer must be HOST:PORT of a server's API", peer)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%s: encode the request: %w", peer, err)
	}
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+peer+path, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", peer, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	tr := &http.Transport{
		// Never an environment proxy: the peer is reached directly, and the
		// pin would refuse a proxy's certificate anyway.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: dialTimeout}).DialContext,
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: dialTimeout,
		DisableKeepAlives:   true,
	}
	defer tr.CloseIdleConnections()
	hresp, err := (&http.Client{Transport: tr}).Do(hreq)
	if err != nil {
		return nil, transportError(peer, err, refused)
	}
	defer hresp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("%s: read the answer: %w", peer, err)
	}
	if hresp.StatusCode != http.StatusOK {
		return nil, refusedError(peer, hresp, rb, refused)
	}
	var resp Response
	if err := json.Unmarshal(rb, &resp); err != nil {
		return nil, fmt.Errorf("%s: the answer is not a join response (is it a clusterd server's API port?): %w", peer, err)
	}
	return &resp, nil
}

// transportError names what went wrong below HTTP in terms a user acts on.
func transportError(peer string, err error, refused refusals) error {
	var fp *pki.FingerprintMismatchError
	if errors.As(err, &fp) {
		return fmt.Errorf("%s: %w", peer, fp)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("%s: cannot reach it (is clusterd running there, and is its API port open to this machine?): %w", peer, op.Err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: no answer in time (is it a clusterd server's API port?): %w", peer, err)
	}
	if strings.Contains(err.Error(), "remote error: tls: ") {
		// The server refused this side's certificate during the handshake.
		return &RefusedError{Peer: peer, kind: refused[0],
			Message: "the TLS handshake was refused (" + tlsAlert(err) + "): this node's certificate expired, is of another cluster, or the node was removed; join again with a token"}
	}
	return fmt.Errorf("%s: %w", peer, err)
}

func tlsAlert(err error) string {
	s := err.Error()
	return s[strings.Index(s, "remote error: tls: ")+len("remote error: "):]
}

func refusedError(peer string, hresp *http.Response, body []byte, refused refusals) error {
	e := &RefusedError{Peer: peer, Status: hresp.StatusCode, kind: refused[hresp.StatusCode]}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil && eb.Error != "" {
		e.Message = eb.Error
	} else {
		e.Message = http.StatusText(hresp.StatusCode) + " (is it a clusterd server's API port?)"
	}
	if hresp.StatusCode == http.StatusTooManyRequests {
		e.kind = ErrRateLimited
		if s, err := strconv.Atoi(hresp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
	}
	return e
}

// checkResponse decodes an answer and checks it is what was asked for: a
// certificate valid now, signed by the CA sent along, for id and key.
func checkResponse(resp *Response, id pki.Identity, key *ecdsa.PublicKey, now time.Time) (*Result, error) {
	ca, err := pki.ParseCertPEM([]byte(resp.CAPEM))
	if err != nil {
		return nil, fmt.Errorf("the answer's CA: %w", err)
	}
	cert, err := pki.ParseCertPEM([]byte(resp.CertPEM))
	if err != nil {
		return nil, fmt.Errorf("the answer's certificate: %w", err)
	}
	got, err := pki.Verify(ca, cert, nil, now)
	if err != nil {
		return nil, fmt.Errorf("the answer's certificate: %w", err)
	}
	if got != id {
		return nil, fmt.Errorf("the answer's certificate is for node %s (%s), not the %s (%s) asked for", got.NodeID, got.Role, id.NodeID, id.Role)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(key) {
		return nil, errors.New("the answer's certificate is not for this node's key")
	}
	return &Result{Cert: cert, CA: ca, GossipKeys: resp.GossipKeys, ClusterID: resp.ClusterID}, nil
}
