package api

import "time"

// Token scopes, each including the ones before it.
const (
	ScopeRead  = "read"  // reads: the state, logs, events, metrics
	ScopeWrite = "write" // every change and launch that is not about credentials
	ScopeAdmin = "admin" // everything: tokens, snapshots (they hold the cluster's CA key)
)

// APITokenPrefix starts every API token: cdk1-ID-SECRET. The ID is public
// (it is what lists and revocations name); the secret is shown once, when
// the token is made, and the cluster keeps only its SHA-256.
const APITokenPrefix = "cdk1-"

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	Scope string `json:"scope"`          // read, write or admin
	Name  string `json:"name,omitempty"` // what it is for: "ci", "grafana"
	// TTL is how long the token works, as a Go duration ("720h"); empty:
	// until revoked.
	TTL string `json:"ttl,omitempty"`
}

// Token describes an API token. Secret is set only in the answer that
// created it: the cluster cannot show it again.
type Token struct {
	ID        string    `json:"id"`
	Scope     string    `json:"scope"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Secret    string    `json:"token,omitempty"`
}

// LoginRequest is the body of POST /v1/login (the dashboard's sign-in): it
// trades a token for a session cookie.
type LoginRequest struct {
	Token string `json:"token"`
}

// JoinToken is the answer of POST /v1/join-tokens/ROLE: a new join token
// for servers or agents, shown once; the role's previous token stops
// working.
type JoinToken struct {
	Role          string `json:"role"`
	Token         string `json:"token"`
	CAFingerprint string `json:"ca_fingerprint"`
}

// WhoAmI is the answer of GET /v1/whoami: what the caller's credentials
// grant. Auth is false on a node that checks none (--dev).
type WhoAmI struct {
	Auth    bool   `json:"auth"`
	Scope   string `json:"scope"`
	TokenID string `json:"token_id,omitempty"`
	Name    string `json:"name,omitempty"`
}

// GossipStatus is GET /v1/gossip: the cluster's gossip encryption and any
// key rotation in progress (never the keys).
type GossipStatus struct {
	Encrypted bool `json:"encrypted"`
	// Keys is how many keys the cluster's keyring holds (2 during a
	// rotation); Digest names the keyring (gossip.KeyringDigest).
	Keys   int    `json:"keys"`
	Digest string `json:"digest,omitempty"`
	// Rotation is the round in progress: "install", "use" or "" (none).
	Rotation string `json:"rotation,omitempty"`
	// Pending are the live nodes not yet at this round's keyring.
	Pending []string `json:"pending,omitempty"`
}
