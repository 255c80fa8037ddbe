package raftfsm

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// The cluster's secrets live in the replicated state, as Docker Swarm
// keeps its root CA in Raft: any server that becomes leader can then issue
// node certificates, check join and API tokens and hand out the gossip
// key, and a snapshot (docs/SECURITY.md) carries them all. Secrets that
// admit someone (join and API tokens) are kept only as hashes; the CA key
// and the gossip keys cannot be, since servers use them.

// Credential kinds and scopes.
const (
	CredentialAPI  = "api"  // a bearer token for the HTTP API
	CredentialJoin = "join" // a join token

	ScopeRead  = "read"  // api: reads only
	ScopeWrite = "write" // api: reads and every change that is not about credentials
	ScopeAdmin = "admin" // api: everything, tokens and secrets included

	ScopeServer = "server" // join: may become a Raft voter
	ScopeAgent  = "agent"  // join: runs tasks only
)

// Credential admits its holder: an API token, or a join token. The token a
// user holds is its ID and a secret; only SecretHash (hex SHA-256 of the
// secret) is kept, so that a snapshot or a server's disk does not give
// the secret away.
type Credential struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Scope      string    `json:"scope"`
	Name       string    `json:"name,omitempty"` // what it is for, from its creator
	SecretHash string    `json:"secret_hash"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"` // zero: never
}

// ClusterSecrets is the cluster's CA and its gossip keys.
type ClusterSecrets struct {
	CACertPEM string `json:"ca_cert_pem"`
	CAKeyPEM  string `json:"ca_key_pem"`
	// GossipKeys are memberlist's keyring, base64, the primary (the one
	// messages are encrypted with) first; the others are still accepted,
	// so a rotation installs a new key before it stops using the old.
	GossipKeys []string `json:"gossip_keys,omitempty"`
	// GossipRotation is the round of a key rotation in progress (see
	// package gossip): "install" (the new key is listed second, every node
	// learns it), "use" (it is first, every node sends with it), "" (none;
	// the old key is gone).
	GossipRotation string `json:"gossip_rotation,omitempty"`
}

// Rounds of a gossip key rotation (ClusterSecrets.GossipRotation).
const (
	GossipRotationInstall = "install"
	GossipRotationUse     = "use"
)

// SetClusterSecrets sets the CA (once: a different CA later is refused,
// since every certificate would stop working) and replaces the gossip
// keyring.
type SetClusterSecrets struct {
	Secrets ClusterSecrets `json:"secrets"`
}

// PutCredential adds a credential. A join credential replaces the other
// join credentials of its scope: that is how a join token is rotated.
type PutCredential struct {
	Credential Credential `json:"credential"`
}

// DeleteCredential removes a credential (revokes the token).
type DeleteCredential struct {
	ID string `json:"id"`
}

func (SetClusterSecrets) Type() MessageType { return SetClusterSecretsType }
func (PutCredential) Type() MessageType     { return PutCredentialType }
func (DeleteCredential) Type() MessageType  { return DeleteCredentialType }

const secretsKey = "cluster"

// secretsRow is the single row of tableSecrets.
type secretsRow struct {
	Key string `json:"key"`
	ClusterSecrets
}

// needsVersion3 refuses a security command in a log older than version 3:
// a server that does not know the commands would skip or stop on them.
func needsVersion3(txn *memdb.Txn, what string) *Result {
	if logVersion(txn) < 3 {
		return &Result{Err: fmt.Errorf("%s needs log version 3; upgrade every server first", what)}
	}
	return nil
}

func applySetClusterSecrets(txn *memdb.Txn, c *SetClusterSecrets) *Result {
	if r := needsVersion3(txn, "set cluster secrets"); r != nil {
		return r
	}
	s := c.Secrets
	if s.CACertPEM == "" || s.CAKeyPEM == "" {
		return &Result{Err: fmt.Errorf("set cluster secrets: the CA certificate and key are required")}
	}
	switch {
	case s.GossipRotation != "" && s.GossipRotation != GossipRotationInstall && s.GossipRotation != GossipRotationUse:
		return &Result{Err: fmt.Errorf("set cluster secrets: gossip rotation round %q is neither %q nor %q", s.GossipRotation, GossipRotationInstall, GossipRotationUse)}
	case s.GossipRotation != "" && len(s.GossipKeys) != 2:
		return &Result{Err: fmt.Errorf("set cluster secrets: a gossip rotation round has two keys, the old and the new, not %d", len(s.GossipKeys))}
	}
	for i, k := range s.GossipKeys {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || (len(b) != 16 && len(b) != 24 && len(b) != 32) {
			return &Result{Err: fmt.Errorf("set cluster secrets: gossip key %d is not 16, 24 or 32 bytes of base64", i)}
		}
	}
	if old := currentSecrets(txn); old != nil && (old.CACertPEM != s.CACertPEM || old.CAKeyPEM != s.CAKeyPEM) {
		return &Result{Err: fmt.Errorf("set cluster secrets: the cluster already has a CA; a new one would invalidate every node's certificate")}
	}
	s.GossipKeys = append([]string(nil), s.GossipKeys...)
	mustInsert(txn, tableSecrets, &secretsRow{Key: secretsKey, ClusterSecrets: s})
	return &Result{}
}

func applyPutCredential(txn *memdb.Txn, c *PutCredential) *Result {
	if r := needsVersion3(txn, "put credential"); r != nil {
		return r
	}
	cr := c.Credential
	switch {
	case cr.ID == "":
		return &Result{Err: fmt.Errorf("put credential: empty id")}
	case cr.SecretHash == "":
		return &Result{Err: fmt.Errorf("put credential %s: no secret hash", cr.ID)}
	case cr.Kind == CredentialAPI && (cr.Scope == ScopeRead || cr.Scope == ScopeWrite || cr.Scope == ScopeAdmin):
	case cr.Kind == CredentialJoin && (cr.Scope == ScopeServer || cr.Scope == ScopeAgent):
	default:
		return &Result{Err: fmt.Errorf("put credential %s: kind %q with scope %q is not one clusterd knows", cr.ID, cr.Kind, cr.Scope)}
	}
	if raw, _ := txn.First(tableCredentials, "id", cr.ID); raw != nil {
		return &Result{Err: fmt.Errorf("put credential: id %s is taken", cr.ID)}
	}
	if cr.Kind == CredentialJoin {
		it, err := txn.Get(tableCredentials, "kind", CredentialJoin)
		if err != nil {
			panic(fmt.Sprintf("raftfsm: credentials by kind: %v", err))
		}
		var replaced []*Credential
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if old := raw.(*Credential); old.Scope == cr.Scope {
				replaced = append(replaced, old)
			}
		}
		for _, old := range replaced {
			if err := txn.Delete(tableCredentials, old); err != nil {
				panic(fmt.Sprintf("raftfsm: delete credential: %v", err))
			}
		}
	}
	mustInsert(txn, tableCredentials, &cr)
	return &Result{}
}

func applyDeleteCredential(txn *memdb.Txn, c *DeleteCredential) *Result {
	if r := needsVersion3(txn, "delete credential"); r != nil {
		return r
	}
	raw, _ := txn.First(tableCredentials, "id", c.ID)
	if raw == nil {
		return &Result{Err: fmt.Errorf("credential %s not found", c.ID)}
	}
	if err := txn.Delete(tableCredentials, raw); err != nil {
		panic(fmt.Sprintf("raftfsm: delete credential: %v", err))
	}
	return &Result{}
}

func currentSecrets(txn *memdb.Txn) *ClusterSecrets {
	raw, _ := txn.First(tableSecrets, "id", secretsKey)
	if raw == nil {
		return nil
	}
	return &raw.(*secretsRow).ClusterSecrets
}

// ClusterSecrets returns the cluster's CA and gossip keys, or nil before
// they are set.
func (v *View) ClusterSecrets() *ClusterSecrets {
	if r := first[secretsRow](v, tableSecrets, "id", secretsKey); r != nil {
		return &r.ClusterSecrets
	}
	return nil
}

// Credential returns a credential by id, or nil.
func (v *View) Credential(id string) *Credential {
	return first[Credential](v, tableCredentials, "id", id)
}

// Credentials returns the credentials of a kind ("": all), sorted by id.
func (v *View) Credentials(kind string) []*Credential {
	if kind == "" {
		return all[Credential](v, tableCredentials, "id")
	}
	out := all[Credential](v, tableCredentials, "kind", kind)
	slices.SortFunc(out, func(a, b *Credential) int { return strings.Compare(a.ID, b.ID) })
	return out
}
