// Package join owns the exchange by which a machine becomes a node: over
// HTTPS, a joining machine that pinned the cluster CA by a join token's
// fingerprint proves the token's secret and receives a node certificate
// signed by that CA, the gossip keyring and the cluster id (POST /v1/join);
// a node renews its short-lived certificate with its current one (POST
// /v1/join/renew, mutual TLS), for the same identity only.
//
// It holds no state of its own beyond the failed-attempt rate limiter: what
// the cluster knows (the CA, the join secrets' hashes, which nodes were
// removed) comes through Authority, which the node implements from the
// replicated state. It does not import node, and reads no wall clock: the
// time comes from Authority.Now on the server and a func on the client.
package join

import (
	"crypto/x509"
	"time"

	"github.com/clusterd/clusterd/node/pki"
)

// Authority is what the handler needs of the cluster. Its methods are
// called on every request, concurrently: they must be cheap reads of state
// already in memory, and must not block on the network.
type Authority interface {
	// JoinSecretHash is the SHA-256 of the join secret for a role (the
	// raftfsm join credential with that scope), false when there is none
	// (not created yet, or expired): every join for that role is refused.
	JoinSecretHash(role pki.Role) ([32]byte, bool)
	// CA signs the certificates; nil while the cluster has none yet, and
	// then every request is refused (never answered unsigned).
	CA() *pki.CA
	// GossipKeys is memberlist's keyring, base64, the primary first.
	GossipKeys() []string
	ClusterID() string
	// Revoked reports whether a node id was removed from the cluster: it may
	// neither join again under that id nor renew.
	Revoked(nodeID string) bool
	// Now is the time certificates are issued and checked at.
	Now() time.Time
}

// Issued is what a Recorder is told about each certificate handed out.
type Issued struct {
	Identity pki.Identity
	NodeName string // empty on a renewal
	Cert     *x509.Certificate
	Renewal  bool
	Source   string // the client's address, for the audit trail
}

// Recorder is an Authority that wants to know of every certificate before
// it is handed out (to record the node, or to refuse it). An error refuses
// the request with 503 and its message, and nothing is sent; so Issued must
// not fail for a reason the client cannot retry past.
type Recorder interface {
	Issued(Issued) error
}
