package raftfsm

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func gossipKey(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func apiToken(id, scope string) *PutCredential {
	return &PutCredential{Credential: Credential{ID: id, Kind: CredentialAPI, Scope: scope, SecretHash: "h-" + id, CreatedAt: t0}}
}

func joinToken(id, scope string) *PutCredential {
	return &PutCredential{Credential: Credential{ID: id, Kind: CredentialJoin, Scope: scope, SecretHash: "h-" + id, CreatedAt: t0}}
}

func wantErr(t *testing.T, r *Result, contains string) {
	t.Helper()
	if r.Err == nil || !strings.Contains(r.Err.Error(), contains) {
		t.Errorf("result %v, want an error containing %q", r.Err, contains)
	}
}

func TestSecurityCommandsNeedLogVersion3(t *testing.T) {
	a := newApplierAt(t, 2)
	wantErr(t, a.apply(&SetClusterSecrets{Secrets: ClusterSecrets{CACertPEM: "c", CAKeyPEM: "k"}}), "log version 3")
	wantErr(t, a.apply(apiToken("t1", ScopeAdmin)), "log version 3")
	wantErr(t, a.apply(&DeleteCredential{ID: "t1"}), "log version 3")
	if a.fsm.View().ClusterSecrets() != nil || len(a.fsm.View().Credentials("")) != 0 {
		t.Error("a version 2 log took security state")
	}
}

func TestTheCAIsSetOnceAndTheGossipKeyringRotates(t *testing.T) {
	a := newApplierAt(t, 3)
	ca := ClusterSecrets{CACertPEM: "cert", CAKeyPEM: "key", GossipKeys: []string{gossipKey(1)}}
	if r := a.apply(&SetClusterSecrets{Secrets: ca}); r.Err != nil {
		t.Fatal(r.Err)
	}
	other := ca
	other.CAKeyPEM = "another key"
	wantErr(t, a.apply(&SetClusterSecrets{Secrets: other}), "already has a CA")

	// A rotation: the new key first, the old one still accepted, then alone.
	rotating := ca
	rotating.GossipKeys = []string{gossipKey(2), gossipKey(1)}
	if r := a.apply(&SetClusterSecrets{Secrets: rotating}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := a.fsm.View().ClusterSecrets().GossipKeys; len(got) != 2 || got[0] != gossipKey(2) {
		t.Errorf("keyring during a rotation: %v, want the new key first", got)
	}
	bad := ca
	bad.GossipKeys = []string{base64.StdEncoding.EncodeToString([]byte("short"))}
	wantErr(t, a.apply(&SetClusterSecrets{Secrets: bad}), "gossip key 0")
	wantErr(t, a.apply(&SetClusterSecrets{Secrets: ClusterSecrets{CACertPEM: "cert"}}), "required")
	if got := a.fsm.View().ClusterSecrets(); got.CAKeyPEM != "key" || len(got.GossipKeys) != 2 {
		t.Errorf("refused commands changed the secrets: %+v", got)
	}
}

func TestCredentialsAreAddedRevokedAndJoinTokensRotate(t *testing.T) {
	a := newApplierAt(t, 3)
	for _, c := range []*PutCredential{apiToken("a-admin", ScopeAdmin), apiToken("a-ro", ScopeRead), joinToken("j1", ScopeServer), joinToken("j2", ScopeAgent)} {
		if r := a.apply(c); r.Err != nil {
			t.Fatalf("put %s: %v", c.Credential.ID, r.Err)
		}
	}
	wantErr(t, a.apply(apiToken("a-ro", ScopeWrite)), "taken")
	wantErr(t, a.apply(apiToken("a-x", "root")), "not one clusterd knows")
	wantErr(t, a.apply(joinToken("j-x", ScopeAdmin)), "not one clusterd knows")
	wantErr(t, a.apply(&PutCredential{Credential: Credential{ID: "a-y", Kind: CredentialAPI, Scope: ScopeRead}}), "no secret hash")

	// Rotating the server join token replaces j1 and leaves the agents' alone.
	if r := a.apply(joinToken("j3", ScopeServer)); r.Err != nil {
		t.Fatal(r.Err)
	}
	v := a.fsm.View()
	var ids []string
	for _, c := range v.Credentials(CredentialJoin) {
		ids = append(ids, c.ID+"/"+c.Scope)
	}
	if strings.Join(ids, " ") != "j2/agent j3/server" {
		t.Errorf("join tokens after rotating the server one: %v, want j2/agent j3/server", ids)
	}
	if v.Credential("j1") != nil {
		t.Error("the rotated join token still admits")
	}

	if r := a.apply(&DeleteCredential{ID: "a-ro"}); r.Err != nil {
		t.Fatal(r.Err)
	}
	wantErr(t, a.apply(&DeleteCredential{ID: "a-ro"}), "not found")
	if got := len(a.fsm.View().Credentials(CredentialAPI)); got != 1 {
		t.Errorf("%d API tokens after revoking one of two", got)
	}
}

func TestSecretsAndCredentialsSurviveASnapshotAndCountInTheDigest(t *testing.T) {
	a := newApplierAt(t, 3)
	populate(a)
	withoutSecrets := a.fsm.View().Digest()
	a.apply(&SetClusterSecrets{Secrets: ClusterSecrets{CACertPEM: "cert", CAKeyPEM: "key", GossipKeys: []string{gossipKey(7)}}})
	a.apply(apiToken("a-admin", ScopeAdmin))
	a.apply(joinToken("j1", ScopeAgent))
	before := a.fsm.View()
	if before.Digest() == withoutSecrets {
		t.Fatal("the digest does not cover secrets and credentials: replicas could differ unseen")
	}
	after := restoredCopy(t, a.fsm).View()
	if after.Digest() != before.Digest() {
		t.Errorf("digest changed across snapshot/restore")
	}
	if s := after.ClusterSecrets(); s == nil || s.CAKeyPEM != "key" || s.GossipKeys[0] != gossipKey(7) {
		t.Errorf("restored secrets %+v", s)
	}
	if c := after.Credential("j1"); c == nil || c.Scope != ScopeAgent || c.SecretHash != "h-j1" {
		t.Errorf("restored join token %+v", c)
	}
	if got := len(after.Credentials(CredentialJoin)); got != 1 {
		t.Errorf("restored %d join tokens, want 1 (the kind index rebuilt)", got)
	}
}

// A new leader's snapshot stays readable by a server not yet upgraded for
// as long as the log is older than version 3.
func TestASnapshotBeforeLogVersion3KeepsTheOlderHeader(t *testing.T) {
	for _, c := range []struct{ log, want int }{{2, 3}, {3, snapshotVersion}} {
		a := newApplierAt(t, c.log)
		var h snapshotHeader
		if err := json.NewDecoder(snapshotOf(t, a.fsm)).Decode(&h); err != nil {
			t.Fatal(err)
		}
		if h.Version != c.want {
			t.Errorf("log version %d: snapshot header version %d, want %d", c.log, h.Version, c.want)
		}
	}
}
