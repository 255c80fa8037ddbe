package node

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"time"

	"github.com/clusterd/clusterd/node/pki"
	"github.com/clusterd/clusterd/raftfsm"
)

// A cluster's identity is made once, by its first leader once the log can
// hold it (log version 3): the CA every node certificate and join token
// will descend from, and the gossip key. Later leaders find it replicated.
// A cluster upgraded from an older release gets its CA the same way, when
// its last server is upgraded.

// ensureClusterSecrets creates the cluster's CA and gossip key if the state
// has none yet. Two leaders in quick succession may both try: the state
// keeps the first CA and refuses the second, so the cluster has one.
func (l *leaderLoop) ensureClusterSecrets() {
	v := l.n.fsm.View()
	if v.LogVersion() < 3 || v.ClusterID() == "" || v.ClusterSecrets() != nil {
		return
	}
	secrets, fingerprint, err := newClusterSecrets(v.ClusterID(), l.n.now(), rand.Reader)
	if ic := l.n.initial; ic != nil && ic.clusterID == v.ClusterID() {
		// What init made before Raft ran: this node's certificate and the
		// join tokens it printed already pin this CA.
		secrets, fingerprint, err = ic.secrets, pki.FingerprintHex(ic.ca.Cert), nil
	}
	if err != nil {
		l.n.log.Error("create the cluster CA", "err", err)
		return
	}
	if _, err := l.n.apply(&raftfsm.SetClusterSecrets{Secrets: secrets}); err != nil {
		l.n.log.Warn("store the cluster CA", "err", err)
		return
	}
	l.n.log.Info("created the cluster CA and gossip key", "ca_fingerprint", fingerprint)
}

// newClusterSecrets makes a CA for clusterID and a 32-byte gossip key, and
// returns them with the CA's SHA-256 fingerprint (hex).
func newClusterSecrets(clusterID string, now time.Time, rnd io.Reader) (raftfsm.ClusterSecrets, string, error) {
	ca, err := pki.NewCA(clusterID, now, rnd)
	if err != nil {
		return raftfsm.ClusterSecrets{}, "", err
	}
	certPEM, keyPEM, err := ca.MarshalPEM()
	if err != nil {
		return raftfsm.ClusterSecrets{}, "", err
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(rnd, key); err != nil {
		return raftfsm.ClusterSecrets{}, "", fmt.Errorf("gossip key: %w", err)
	}
	return raftfsm.ClusterSecrets{CACertPEM: string(certPEM), CAKeyPEM: string(keyPEM),
		GossipKeys: []string{base64.StdEncoding.EncodeToString(key)}}, pki.FingerprintHex(ca.Cert), nil
}

// caFingerprint is the replicated CA's SHA-256 fingerprint (hex), "" before
// there is one: what a join token pins, safe to show anyone.
func caFingerprint(v *raftfsm.View) string {
	s := v.ClusterSecrets()
	if s == nil {
		return ""
	}
	c, err := pki.ParseCertPEM([]byte(s.CACertPEM))
	if err != nil {
		return ""
	}
	return pki.FingerprintHex(c)
}
