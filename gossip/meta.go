package gossip

import (
	"encoding/json"
	"fmt"
)

// MetaMaxBytes is memberlist's limit on a node's metadata.
const MetaMaxBytes = 512

// metaVersion lets a newer clusterd read an older node's metadata.
const metaVersion = 1

// Meta is what a node tells every other node about itself through gossip:
// enough to reach it and to decide whether it can be a Raft voter.
type Meta struct {
	Version  int    `json:"v"`
	NodeID   string `json:"id"`
	HTTPPort int    `json:"http"`
	RaftPort int    `json:"raft"`
	// Build is the clusterd version the node runs.
	Build string `json:"build,omitempty"`
	// Server is true when the node may hold the Raft log (a voter).
	Server bool `json:"server,omitempty"`
	// Zone spreads voters across failure domains.
	Zone string `json:"zone,omitempty"`
	// ClusterID is the cluster this node belongs to, empty until it belongs
	// to one. Two nodes with different non-empty cluster ids never merge.
	ClusterID string `json:"cluster,omitempty"`
	// HasState is true when the node holds Raft state: it was bootstrapped
	// or joined before, so it must never bootstrap again.
	HasState bool `json:"state,omitempty"`
	// Leaving is set by Membership.Leave just before the node leaves, so
	// that the others report MemberLeft rather than MemberFailed.
	Leaving bool `json:"leaving,omitempty"`
	// LogVersion is the newest replicated log version the node's binary
	// applies (0 from binaries older than log versions: 1). The leader
	// raises the log only to a version every server knows.
	LogVersion int `json:"log,omitempty"`
	// Keys is a short digest of the keyring the node uses (KeyringDigest),
	// so that a key rotation moves to its next round only once every node
	// is at this one.
	Keys string `json:"keys,omitempty"`
}

// Encode serializes the metadata and refuses anything over memberlist's
// limit, naming the field to shorten, instead of letting memberlist drop it.
func (m Meta) Encode() ([]byte, error) {
	m.Version = metaVersion
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode gossip metadata: %w", err)
	}
	if len(b) > MetaMaxBytes {
		return nil, fmt.Errorf("gossip metadata is %d bytes, over memberlist's %d: shorten the node id (%d bytes), build (%d), zone (%d) or cluster id (%d)",
			len(b), MetaMaxBytes, len(m.NodeID), len(m.Build), len(m.Zone), len(m.ClusterID))
	}
	return b, nil
}

// DecodeMeta parses metadata from another node. Unknown fields (from a newer
// node) are ignored; a newer major layout is an error.
func DecodeMeta(b []byte) (Meta, error) {
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode gossip metadata: %w", err)
	}
	if m.Version < 1 || m.Version > metaVersion {
		return m, fmt.Errorf("gossip metadata version %d is not understood by this clusterd (knows %d): upgrade it", m.Version, metaVersion)
	}
	if m.NodeID == "" {
		return m, fmt.Errorf("gossip metadata has no node id")
	}
	return m, nil
}
