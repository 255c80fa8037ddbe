package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/clusterd/clusterd/node/pki"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// initialCluster is what `clusterd init` decides before Raft runs: the
// cluster id, CA and gossip key, and the first join tokens. The first
// leader (this node) commits them, and the node has its certificate and
// encrypted gossip from its first second, before anyone can join.
type initialCluster struct {
	clusterID  string
	secrets    raftfsm.ClusterSecrets
	ca         *pki.CA
	joinTokens map[pki.Role]pki.Token
	// fromBootstrap: derived from a bootstrap token, which every server
	// forming the cluster holds (so the join tokens are not shown).
	fromBootstrap bool
}

// PendingClusterFile holds, in the data dir of the server that ran init,
// what init decided until the cluster's first leader has committed it
// (0600: it holds the CA key, as the Raft state does): a crash in between
// must not make the next start invent another CA and admin token than
// those init printed.
const PendingClusterFile = "init.pending"

type pendingCluster struct {
	ClusterID  string                 `json:"cluster_id"`
	Secrets    raftfsm.ClusterSecrets `json:"secrets"`
	JoinTokens map[string]string      `json:"join_tokens"`
	AdminToken string                 `json:"admin_token,omitempty"`
}

func (n *Node) savePendingCluster(ic *initialCluster) error {
	p := pendingCluster{ClusterID: ic.clusterID, Secrets: ic.secrets, JoinTokens: map[string]string{}}
	for role, tok := range ic.joinTokens {
		p.JoinTokens[string(role)] = tok.String()
	}
	if t := n.initialAdminToken; t != nil {
		p.AdminToken = t.String()
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode the new cluster: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(n.cfg.DataDir, PendingClusterFile), b, 0o600); err != nil {
		return fmt.Errorf("save the new cluster until it is committed: %w", err)
	}
	return nil
}

// loadPendingCluster takes up what init decided if its first leader never
// committed it; no file is nothing to do.
func (n *Node) loadPendingCluster() error {
	path := filepath.Join(n.cfg.DataDir, PendingClusterFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var p pendingCluster
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("%s is corrupt (%v): if the cluster has a leader, remove the file", path, err)
	}
	ic := &initialCluster{clusterID: p.ClusterID, secrets: p.Secrets, joinTokens: map[pki.Role]pki.Token{}}
	if ic.ca, err = pki.LoadCA([]byte(p.Secrets.CACertPEM), []byte(p.Secrets.CAKeyPEM)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for role, s := range p.JoinTokens {
		tok, err := pki.ParseToken(s)
		if err != nil {
			return fmt.Errorf("%s: %s join token: %w", path, role, err)
		}
		ic.joinTokens[pki.Role(role)] = tok
	}
	if p.AdminToken != "" && n.cfg.AdminToken == "" {
		t, err := pki.ParseAPIToken(p.AdminToken)
		if err != nil {
			return fmt.Errorf("%s: admin token: %w", path, err)
		}
		n.initialAdminToken = &t
	}
	n.initial = ic
	return nil
}

// forgetPendingCluster removes init's file once the state holds a CA, join
// tokens and an admin token: from then on the replica is the truth.
func (n *Node) forgetPendingCluster() {
	v := n.fsm.View()
	if n.initial == nil || n.initial.fromBootstrap || v.ClusterSecrets() == nil || len(v.Credentials(raftfsm.CredentialJoin)) == 0 ||
		(!n.cfg.NoAuth && len(v.Credentials(raftfsm.CredentialAPI)) == 0) {
		return
	}
	path := filepath.Join(n.cfg.DataDir, PendingClusterFile)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		n.log.Warn("remove the new cluster's file", "path", path, "err", err)
	}
}

// prepareBootstrapCluster derives the cluster a bootstrap token stands
// for; the first leader, whichever server it is, commits it.
func (n *Node) prepareBootstrapCluster() error {
	bt, err := pki.ParseBootstrapToken(n.cfg.JoinToken)
	if err != nil {
		return fmt.Errorf("--token: %w", err)
	}
	b, err := bt.Derive()
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := b.CA.MarshalPEM()
	if err != nil {
		return err
	}
	n.initial = &initialCluster{clusterID: b.ClusterID, ca: b.CA, joinTokens: b.JoinTokens, fromBootstrap: true,
		secrets: raftfsm.ClusterSecrets{CACertPEM: string(certPEM), CAKeyPEM: string(keyPEM),
			GossipKeys: []string{base64.StdEncoding.EncodeToString(b.GossipKey)}}}
	if n.initialAdminToken == nil && n.cfg.AdminToken == "" {
		n.initialAdminToken = &b.AdminToken
	}
	return nil
}

// prepareNewCluster makes the initial cluster (or takes up the one an
// init that crashed had made), signs this node's certificate and writes
// the join tokens to the data dir (0600) before the leader commits their
// hashes.
func (n *Node) prepareNewCluster() error {
	if err := n.loadPendingCluster(); err != nil {
		return err
	}
	ic := n.initial
	if ic == nil {
		var err error
		if ic, err = n.newInitialCluster(); err != nil {
			return err
		}
		if err := n.savePendingCluster(ic); err != nil {
			return err
		}
	}
	var lines string
	for _, role := range []pki.Role{pki.RoleServer, pki.RoleAgent} {
		lines += string(role) + " " + ic.joinTokens[role].String() + "\n"
	}
	if err := writeFileAtomic(filepath.Join(n.cfg.DataDir, JoinTokensFile), []byte(lines), 0o600); err != nil {
		return fmt.Errorf("write the join tokens: %w", err)
	}
	if err := n.issueOwnCertificate(ic.ca, ic.secrets.GossipKeys); err != nil {
		return err
	}
	n.initial = ic
	return nil
}

func (n *Node) newInitialCluster() (*initialCluster, error) {
	ic := &initialCluster{clusterID: randomID(8), joinTokens: map[pki.Role]pki.Token{}}
	if n.cfg.AdminToken == "" && !n.cfg.NoAuth {
		t, err := pki.NewAPIToken(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
		n.initialAdminToken = &t
	}
	secrets, _, err := newClusterSecrets(ic.clusterID, n.now(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create the cluster CA: %w", err)
	}
	ic.secrets = secrets
	if ic.ca, err = pki.LoadCA([]byte(secrets.CACertPEM), []byte(secrets.CAKeyPEM)); err != nil {
		return nil, err
	}
	fp := pki.Fingerprint(ic.ca.Cert)
	for _, role := range []pki.Role{pki.RoleServer, pki.RoleAgent} {
		tok, err := pki.NewToken(role, fp, rand.Reader)
		if err != nil {
			return nil, err
		}
		ic.joinTokens[role] = tok
	}
	return ic, nil
}

// ensureJoinTokens gives the cluster a join secret per role when it has
// none: init's, or (a cluster formed by bootstrap-expect, or upgraded) a
// new one nobody was shown, which `clusterd token rotate` replaces.
func (l *leaderLoop) ensureJoinTokens() {
	n := l.n
	v := n.fsm.View()
	ca := n.clusterCA()
	if v.LogVersion() < 3 || ca == nil {
		return
	}
	have := map[string]bool{}
	for _, cr := range v.Credentials(raftfsm.CredentialJoin) {
		have[cr.Scope] = true
	}
	fp := pki.Fingerprint(ca.Cert)
	for _, role := range []pki.Role{pki.RoleServer, pki.RoleAgent} {
		if have[string(role)] {
			continue
		}
		tok, ok := pki.Token{}, false
		if n.initial != nil {
			tok, ok = n.initial.joinTokens[role]
			ok = ok && tok.CAFingerprint == fp
		}
		if !ok {
			var err error
			if tok, err = pki.NewToken(role, fp, rand.Reader); err != nil {
				n.log.Error("create a join token", "role", role, "err", err)
				return
			}
		}
		if _, err := n.apply(&raftfsm.PutCredential{Credential: joinCredential(tok, n)}); err != nil {
			n.log.Warn("store a join token", "role", role, "err", err)
			return
		}
		n.log.Info("created a join token", "role", role, "shown", ok)
	}
}

func joinCredential(tok pki.Token, n *Node) raftfsm.Credential {
	h := tok.SecretHash()
	return raftfsm.Credential{ID: randomID(8), Kind: raftfsm.CredentialJoin, Scope: string(tok.Role),
		Name: string(tok.Role) + " join token", SecretHash: hex.EncodeToString(h[:]), CreatedAt: n.now().UTC()}
}

// RotateJoinToken replaces a role's join secret: the old token stops
// admitting anyone at once (nodes that joined keep their certificates).
func (b *backend) RotateJoinToken(ctx context.Context, role string) (api.JoinToken, error) {
	if role != string(pki.RoleServer) && role != string(pki.RoleAgent) {
		return api.JoinToken{}, &api.ValidationError{Field: "role", Message: fmt.Sprintf("%q: must be server or agent", role)}
	}
	if _, err := b.leading(); err != nil {
		return api.JoinToken{}, err
	}
	ca := b.n.clusterCA()
	if ca == nil {
		return api.JoinToken{}, fmt.Errorf("the cluster has no CA yet (its log is older than version 3, or its first leader is still making it): try again shortly")
	}
	tok, err := pki.NewToken(pki.Role(role), pki.Fingerprint(ca.Cert), rand.Reader)
	if err != nil {
		return api.JoinToken{}, err
	}
	if _, err := b.n.apply(&raftfsm.PutCredential{Credential: joinCredential(tok, b.n)}); err != nil {
		return api.JoinToken{}, err
	}
	return api.JoinToken{Role: role, Token: tok.String(), CAFingerprint: pki.FingerprintHex(ca.Cert)}, nil
}
