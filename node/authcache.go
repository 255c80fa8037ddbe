package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/clusterd/clusterd/node/pki"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web"
)

// A server keeps a copy of the cluster's API credentials (hashes only) in
// its data dir, so that after a restart, while its replica is still empty
// or behind and no leader is there to ask (a lost quorum, the whole cluster
// restarting), it can still tell an operator's token from a stranger's and
// answer `clusterd status`. The copy is only a fallback: the replica and
// the leader come first, so a token revoked while this node was down is
// refused as soon as the node can ask.

// CredentialsCacheFile holds that copy (0600).
const CredentialsCacheFile = "credentials.json"

type credentialsCache struct {
	Index       uint64                `json:"index"` // of the replica it was taken from
	Credentials []*raftfsm.Credential `json:"credentials"`
}

func (n *Node) credentialsCachePath() string {
	return filepath.Join(n.cfg.DataDir, CredentialsCacheFile)
}

// loadCredentialsCache reads the copy; a missing or unreadable one is no
// copy (it is refused, never trusted in part).
func (n *Node) loadCredentialsCache() *credentialsCache {
	b, err := os.ReadFile(n.credentialsCachePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var c credentialsCache
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		n.log.Warn("ignoring the saved copy of the API credentials", "path", n.credentialsCachePath(), "err", err)
		return nil
	}
	return &c
}

// keepCredentialsCache writes the copy whenever the replica's API
// credentials change.
func (n *Node) keepCredentialsCache(ctx context.Context) {
	var last []*raftfsm.Credential
	if c := n.tokens.saved; c != nil {
		last = c.Credentials
	}
	for {
		changed := n.fsm.Changed()
		v := n.fsm.View()
		if v.Index() > 0 && n.inRaftConfig() {
			creds := v.Credentials(raftfsm.CredentialAPI)
			if !slices.EqualFunc(creds, last, func(a, b *raftfsm.Credential) bool { return *a == *b }) {
				b, err := json.Marshal(credentialsCache{Index: v.Index(), Credentials: creds})
				if err == nil {
					err = writeFileAtomic(n.credentialsCachePath(), b, 0o600)
				}
				if err != nil {
					n.log.Warn("save a copy of the API credentials", "path", n.credentialsCachePath(), "err", err)
				} else {
					last = creds
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(time.Minute):
		}
	}
}

// checkSaved checks a token against the saved copy, when the node can
// check it no other way.
func (c *tokenChecker) checkSaved(tok pki.APIToken, why error) (web.Principal, error) {
	if c.saved == nil {
		return web.Principal{}, why
	}
	for _, cr := range c.saved.Credentials {
		if cr.ID == tok.ID {
			return checkCredential(cr, tok, c.n.now())
		}
	}
	return web.Principal{}, fmt.Errorf("%w (nor does this node's saved copy of the credentials know token %s)", why, tok.ID)
}
