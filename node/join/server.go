package join

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/clusterd/clusterd/node/pki"
)

// Options tune the handler; a zero field takes its DefaultOptions value.
type Options struct {
	// CertLifetime is how long an issued node certificate is valid; nodes
	// renew at half of it (pki.NeedsRenewal).
	CertLifetime time.Duration
	// RateLimit bounds failed attempts per source address, on both routes.
	RateLimit RateLimit
	// Logger gets one line per refusal and per certificate issued (never a
	// secret); nil discards.
	Logger *slog.Logger
	// Rand is the randomness for certificate serials; nil is crypto/rand.
	Rand io.Reader
}

// DefaultOptions are the production settings.
func DefaultOptions() Options {
	return Options{CertLifetime: pki.DefaultCertLifetime, RateLimit: DefaultRateLimit(), Rand: rand.Reader}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.CertLifetime <= 0 {
		o.CertLifetime = d.CertLifetime
	}
	if o.RateLimit.Burst <= 0 {
		o.RateLimit.Burst = d.RateLimit.Burst
	}
	if o.RateLimit.Refill <= 0 {
		o.RateLimit.Refill = d.RateLimit.Refill
	}
	if o.RateLimit.MaxSources <= 0 {
		o.RateLimit.MaxSources = d.RateLimit.MaxSources
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Rand == nil {
		o.Rand = d.Rand
	}
	return o
}

// handler serves PathJoin and PathRenew.
type handler struct {
	auth Authority
	opts Options
	lim  *limiter
	mux  *http.ServeMux
}

// NewHandler serves the join exchange. Mount it on the API's HTTPS server,
// whose TLS configuration is pki.Peers.APIServer(): that verifies a client
// certificate when one is presented, which renewal needs; the handler
// checks it again (a kept-alive connection outlives a certificate).
// Requests that did not come over TLS are refused.
func NewHandler(a Authority, o Options) http.Handler {
	h := &handler{auth: a, opts: o.withDefaults(), mux: http.NewServeMux()}
	h.lim = newLimiter(h.opts.RateLimit)
	h.mux.HandleFunc("POST "+PathJoin, h.join)
	h.mux.HandleFunc("POST "+PathRenew, h.renew)
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// refusal is a request the handler turns down: the status, the message the
// client gets, and whether it counts against the source's rate limit (the
// client's fault, not the cluster's).
type refusal struct {
	status  int
	msg     string
	counted bool
}

func (e *refusal) Error() string { return e.msg }

func refuse(status int, format string, args ...any) *refusal {
	return &refusal{status: status, msg: fmt.Sprintf(format, args...), counted: true}
}

// unavailable is the cluster's fault: it does not cost the client a guess.
func unavailable(format string, args ...any) *refusal {
	return &refusal{status: http.StatusServiceUnavailable, msg: fmt.Sprintf(format, args...)}
}

// msgTokenRefused is the one answer to every wrong secret, so that a guess
// learns nothing (not even which role's secret it was close to).
const msgTokenRefused = "the join token was refused: it is wrong, for another role (an agent token cannot join a server), or was rotated; get a current one from the cluster's administrator ('clusterd init' printed the first ones, 'clusterd token rotate' makes new ones)"

// serve runs one attempt under the rate limit and writes its answer.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, route string, attempt func(now time.Time) (*Response, *refusal)) {
	now := h.auth.Now()
	source := sourceKey(r.RemoteAddr)
	if ok, wait := h.lim.take(source, now); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		if secs < 1 {
			secs = 1
		}
		h.opts.Logger.Warn("join: rate limited", "route", route, "source", source)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		writeJSON(w, http.StatusTooManyRequests, errorBody{Error: fmt.Sprintf("too many failed join attempts from %s; try again in %d s", source, secs)})
		return
	}
	if r.TLS == nil {
		// The secret has crossed the network in the clear already; never
		// answer it with a certificate as well.
		h.opts.Logger.Warn("join: refused a request that did not come over TLS", "route", route, "source", source)
		writeJSON(w, http.StatusForbidden, errorBody{Error: "the join exchange needs HTTPS; the token's secret was sent in the clear, so rotate it ('clusterd token rotate')"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	resp, ref := attempt(now)
	if ref != nil {
		if !ref.counted {
			h.lim.refund(source)
		}
		h.opts.Logger.Warn("join: refused", "route", route, "source", source, "status", ref.status, "reason", ref.msg)
		writeJSON(w, ref.status, errorBody{Error: ref.msg})
		return
	}
	h.lim.refund(source)
	writeJSON(w, http.StatusOK, resp)
}

func (h *handler) join(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, PathJoin, func(now time.Time) (*Response, *refusal) {
		req, err := DecodeRequest(r.Body)
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "join request: %v", err)
		}
		ca := h.auth.CA()
		if ca == nil {
			return nil, unavailable("this node has no cluster CA yet (the cluster is still starting): try again, or join through another server")
		}
		admits, known := h.secretAdmits(req)
		if !known {
			// The CA is stored a moment before the first join tokens.
			return nil, unavailable("this cluster has no join tokens yet (it is still starting): try again")
		}
		if !admits {
			return nil, refuse(http.StatusUnauthorized, "%s", msgTokenRefused)
		}
		if h.auth.Revoked(req.NodeID) {
			return nil, refuse(http.StatusForbidden, "node id %s was removed from the cluster and cannot join again under it: delete the node's id file in its data directory so it joins as a new node", req.NodeID)
		}
		pub, _ := parsePublicKey(req.PublicKey) // checked by DecodeRequest
		ips, _ := parseIPs(req.IPs)
		id := pki.Identity{NodeID: req.NodeID, Role: req.Role}
		return h.issue(ca, id, pub, ips, now, Issued{Identity: id, NodeName: req.NodeName, Source: r.RemoteAddr})
	})
}

// secretAdmits checks the secret against every hash that may admit the
// role, all of them, in constant time: a server token admits an agent too.
// known is false when the cluster has no join secret for the role at all.
func (h *handler) secretAdmits(req Request) (admits, known bool) {
	secret, err := decodeSecret(req.Secret)
	roles := []pki.Role{pki.RoleServer}
	if req.Role == pki.RoleAgent {
		roles = append(roles, pki.RoleAgent)
	}
	for _, role := range roles {
		if hash, has := h.auth.JoinSecretHash(role); has {
			known = true
			admits = (err == nil && pki.SecretMatches(hash, secret)) || admits
		}
	}
	return admits, known
}

func (h *handler) renew(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, PathRenew, func(now time.Time) (*Response, *refusal) {
		if len(r.TLS.PeerCertificates) == 0 {
			return nil, refuse(http.StatusUnauthorized, "renewal needs the node's current certificate (mutual TLS); a machine without one joins with a token: clusterd join --token TOKEN PEER")
		}
		ca := h.auth.CA()
		if ca == nil {
			return nil, unavailable("this node has no cluster CA yet (the cluster is still starting): try again, or renew through another server")
		}
		leaf := r.TLS.PeerCertificates[0]
		id, err := pki.Verify(ca.Cert, leaf, r.TLS.PeerCertificates[1:], now)
		if err != nil {
			return nil, refuse(http.StatusUnauthorized, "renewal refused: %v; a node whose certificate expired joins again with a token", err)
		}
		if h.auth.Revoked(id.NodeID) {
			return nil, refuse(http.StatusForbidden, "renewal refused: node %s: %v", id.NodeID, pki.ErrRevoked)
		}
		req, err := DecodeRenewRequest(r.Body)
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "renew request: %v", err)
		}
		pub, _ := parsePublicKey(req.PublicKey)
		ips := leaf.IPAddresses
		if len(req.IPs) > 0 {
			ips, _ = parseIPs(req.IPs)
		}
		// The identity is the certificate's, never the body's: a node
		// cannot renew itself into another node or a higher role.
		return h.issue(ca, id, pub, ips, now, Issued{Identity: id, Renewal: true, Source: r.RemoteAddr})
	})
}

func (h *handler) issue(ca *pki.CA, id pki.Identity, pub any, ips []net.IP, now time.Time, rec Issued) (*Response, *refusal) {
	cert, err := ca.Issue(pub, id, ips, h.opts.CertLifetime, now, h.opts.Rand)
	if err != nil {
		return nil, unavailable("could not sign the node certificate: %v", err)
	}
	rec.Cert = cert
	if r, ok := h.auth.(Recorder); ok {
		if err := r.Issued(rec); err != nil {
			return nil, unavailable("could not record node %s: %v; try again", id.NodeID, err)
		}
	}
	h.opts.Logger.Info("join: issued a node certificate", "node", id.NodeID, "role", id.Role, "renewal", rec.Renewal,
		"source", rec.Source, "not_after", cert.NotAfter)
	return &Response{
		CertPEM:    string(pki.CertPEM(cert)),
		CAPEM:      string(pki.CertPEM(ca.Cert)),
		GossipKeys: h.auth.GossipKeys(),
		ClusterID:  h.auth.ClusterID(),
	}, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
