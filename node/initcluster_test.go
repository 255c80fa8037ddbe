package node

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/pki"
)

// What init printed (CA, join tokens, admin token) is what the cluster
// ends up with even when init dies after Raft was bootstrapped but before
// its first leadership committed them; once committed, the file that
// carried them across the crash is gone.
func TestInitsCAAndTokensSurviveACrashBeforeTheyAreCommitted(t *testing.T) {
	dir := t.TempDir()
	change := func(c *Config) { c.DataDir, c.NoAuth = dir, false }
	cfg := DefaultConfig()
	change(&cfg)
	cfg.Bind, cfg.NodeName, cfg.Bootstrap = "127.0.0.1", "test", true
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	first.id = "n1"
	if err := first.prepareNewCluster(); err != nil {
		t.Fatal(err)
	}
	printed := first.initial
	admin := *first.initialAdminToken
	if _, err := os.Stat(filepath.Join(dir, PendingClusterFile)); err != nil {
		t.Fatalf("init kept nothing for a crash: %v", err)
	}
	// "Crash": the next start finds state (the bootstrap was written), so
	// it does not prepare a new cluster, and takes init's up again.
	again, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.loadPendingCluster(); err != nil {
		t.Fatal(err)
	}
	got := again.initial
	if got == nil || got.clusterID != printed.clusterID || pki.FingerprintHex(got.ca.Cert) != pki.FingerprintHex(printed.ca.Cert) ||
		got.joinTokens[pki.RoleServer] != printed.joinTokens[pki.RoleServer] || got.joinTokens[pki.RoleAgent] != printed.joinTokens[pki.RoleAgent] ||
		again.initialAdminToken == nil || *again.initialAdminToken != admin || !got.ca.Key.Equal(printed.ca.Key) {
		t.Fatal("the restarted init does not hold the CA, tokens and admin token it printed")
	}
	again.forgetPendingCluster() // nothing committed yet: kept
	if _, err := os.Stat(filepath.Join(dir, PendingClusterFile)); err != nil {
		t.Fatalf("the file went before the cluster committed its CA: %v", err)
	}

	// Run for real from that data dir: the first leadership commits init's
	// CA, the admin token works, and the file goes.
	n := startNodeWith(t, func(c *Config) { change(c); c.Bootstrap = true })
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := os.Stat(filepath.Join(dir, PendingClusterFile))
		if os.IsNotExist(err) && n.fsm.View().ClusterSecrets() != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pending cluster file is still there or no CA committed (stat: %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if fp := caFingerprint(n.fsm.View()); fp != pki.FingerprintHex(printed.ca.Cert) {
		t.Fatalf("the cluster's CA is %s, init printed %s", fp, pki.FingerprintHex(printed.ca.Cert))
	}
	if n.fsm.View().ClusterID() != printed.clusterID {
		t.Fatalf("cluster id %s, init printed %s", n.fsm.View().ClusterID(), printed.clusterID)
	}
	found := false
	for _, cr := range n.fsm.View().Credentials("") {
		found = found || admin.MatchesHash(cr.SecretHash)
	}
	if !found {
		t.Fatal("the admin token init printed is not a credential of the cluster")
	}
}
