package pki

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Peers is how a node's TLS configurations see the cluster: the CA, its own
// current certificate (swapped in place when renewed), the time, and which
// node ids are no longer members (their certificates stop working at once,
// before they expire).
type Peers struct {
	CA      *x509.Certificate
	Cert    func() *tls.Certificate
	Now     func() time.Time
	Revoked func(nodeID string) bool
}

// ErrRevoked is wrapped when a peer's certificate belongs to a node that was
// removed from the cluster.
var ErrRevoked = errors.New("node was removed from the cluster")

// verifyPeer checks a peer's presented chain: issued by the cluster CA,
// valid now, a node identity that is not revoked.
func (p Peers) verifyPeer(cs tls.ConnectionState) (Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, errors.New("the peer presented no certificate: only nodes of this cluster may connect")
	}
	id, err := Verify(p.CA, cs.PeerCertificates[0], cs.PeerCertificates[1:], p.Now())
	if err != nil {
		return Identity{}, err
	}
	if p.Revoked != nil && p.Revoked(id.NodeID) {
		return Identity{}, fmt.Errorf("certificate of node %s: %w", id.NodeID, ErrRevoked)
	}
	return id, nil
}

func (p Peers) getCert() func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return p.Cert(), nil }
}

func (p Peers) getClientCert() func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return p.Cert(), nil }
}

// MutualServer is the server side of node-to-node connections (Raft, the
// nodes' RPC): a client without a valid, unrevoked node certificate is
// refused during the handshake.
func (p Peers) MutualServer() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: p.getCert(),
		// Verified in VerifyConnection, with the injected clock and the
		// revocation check the standard verification does not have.
		ClientAuth: tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := p.verifyPeer(cs)
			return err
		},
	}
}

// MutualClient is the client side of node-to-node connections. Nodes are
// reached by address and identified by their certificate's clusterd
// identity, not by a host name, so only the chain and identity are checked.
func (p Peers) MutualClient() *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetClientCertificate: p.getClientCert(),
		InsecureSkipVerify:   true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := p.verifyPeer(cs)
			return err
		},
	}
}

// APIServer is the HTTP API's side: any client may connect (the CLI, a
// browser, a framework authenticate with tokens); a client certificate, if
// one is presented, must be a valid node certificate, and then identifies a
// node.
func (p Peers) APIServer() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12, // browsers and framework clients in other languages
		GetCertificate: p.getCert(),
		ClientAuth:     tls.RequestClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			_, err := p.verifyPeer(cs)
			return err
		},
	}
}

// PeerIdentity is the node a connection's verified client certificate
// names, if it presented one.
func PeerIdentity(cs *tls.ConnectionState) (Identity, bool) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return Identity{}, false
	}
	id, err := IdentityOf(cs.PeerCertificates[0])
	return id, err == nil
}

// FingerprintMismatchError says the server's CA is not the one a join token
// names: the wrong cluster, or someone in between.
type FingerprintMismatchError struct {
	Want, Got string // hex; Got is empty when the server sent no CA
}

func (e *FingerprintMismatchError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("the server did not present the cluster CA %s…: it is not a member of the cluster the token is for (or a man in the middle); nothing was sent", e.Want[:16])
	}
	return fmt.Sprintf("the server's CA %s… is not the cluster CA %s… the token names: it is another cluster, or a man in the middle; nothing was sent", e.Got[:16], e.Want[:16])
}

// Pinned is the client side of a join, before the machine has a
// certificate: it trusts exactly the CA whose fingerprint the token holds,
// presented in the server's chain, and the server's certificate must be
// signed by it. No trust on first use: a server that fails this is never
// sent the secret.
func Pinned(caFingerprint [32]byte, now func() time.Time) *tls.Config {
	want := hex.EncodeToString(caFingerprint[:])
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return &FingerprintMismatchError{Want: want}
			}
			var ca *x509.Certificate
			got := ""
			for _, c := range cs.PeerCertificates[1:] {
				fp := Fingerprint(c)
				if subtle.ConstantTimeCompare(fp[:], caFingerprint[:]) == 1 && c.IsCA {
					ca = c
					break
				}
				if c.IsCA {
					got = hex.EncodeToString(fp[:])
				}
			}
			if ca == nil {
				return &FingerprintMismatchError{Want: want, Got: got}
			}
			if _, err := Verify(ca, cs.PeerCertificates[0], nil, now()); err != nil {
				return fmt.Errorf("join: %w", err)
			}
			return nil
		},
	}
}

// Chain is a node's certificate as TLS presents it: its own certificate,
// then the CA's, so that a joining machine can find the CA it pinned.
func Chain(cert *x509.Certificate, ca *x509.Certificate, key any) *tls.Certificate {
	return &tls.Certificate{Certificate: [][]byte{cert.Raw, ca.Raw}, PrivateKey: key, Leaf: cert}
}
