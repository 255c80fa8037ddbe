package node

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/pki"
)

// A new cluster's first leader makes its CA and gossip key; the status
// shows the CA's fingerprint; a restarted node keeps the same CA.
func TestTheFirstLeaderMakesTheClusterCAOnce(t *testing.T) {
	dir := t.TempDir()
	n, stop := startNodeCtl(t, func(c *Config) { c.DataDir = dir })
	waitFor(t, "the cluster CA in the replicated state", 10*time.Second, func() bool { return n.fsm.View().ClusterSecrets() != nil })
	s := n.fsm.View().ClusterSecrets()
	ca, err := pki.LoadCA([]byte(s.CACertPEM), []byte(s.CAKeyPEM))
	if err != nil {
		t.Fatalf("the replicated CA does not load: %v", err)
	}
	if !ca.Cert.IsCA || ca.Cert.Subject.CommonName != "clusterd CA "+n.fsm.View().ClusterID() {
		t.Errorf("CA certificate %q (CA %v), want the cluster's CA", ca.Cert.Subject.CommonName, ca.Cert.IsCA)
	}
	if len(s.GossipKeys) != 1 {
		t.Fatalf("gossip keyring %v, want one key", s.GossipKeys)
	}
	if k, err := base64.StdEncoding.DecodeString(s.GossipKeys[0]); err != nil || len(k) != 32 {
		t.Errorf("gossip key of %d bytes (%v), want 32", len(k), err)
	}
	st, err := (&backend{n: n}).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := pki.FingerprintHex(ca.Cert); st.CAFingerprint != want {
		t.Errorf("status ca_fingerprint %q, want %q", st.CAFingerprint, want)
	}

	stop()
	// It returns once leading, after the new leader's ensureClusterSecrets.
	again := startNodeWith(t, func(c *Config) { c.DataDir = dir })
	if got := again.fsm.View().ClusterSecrets(); got == nil || got.CACertPEM != s.CACertPEM || got.GossipKeys[0] != s.GossipKeys[0] {
		t.Error("a restarted node's cluster has another CA or gossip key")
	}
}
