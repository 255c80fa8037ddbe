package raftnet

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/clusterd/clusterd/node/pki"
)

// ErrNotServer is wrapped when a peer's certificate is valid but for an
// agent: agents are members of the cluster and hold certificates from the
// same CA, but must never vote or be sent the log.
var ErrNotServer = errors.New("only servers speak Raft")

// serversOnly adds the servers-only rule to pki's check of a peer (CA,
// validity at Peers.Now, not revoked). It runs inside the handshake, so a
// refused peer gets a TLS alert and never a byte of Raft.
func serversOnly(verify func(tls.ConnectionState) error) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if err := verify(cs); err != nil {
			return err
		}
		id, ok := pki.PeerIdentity(&cs)
		if !ok {
			// pki's check has already read the identity; this is its
			// safety net, not a case a peer can reach.
			return errors.New("the peer's certificate names no clusterd node")
		}
		if id.Role != pki.RoleServer {
			return fmt.Errorf("node %s holds a certificate for the %s role: %w", id.NodeID, id.Role, ErrNotServer)
		}
		return nil
	}
}
