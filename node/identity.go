package node

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/clusterd/clusterd/node/pki"
	"github.com/clusterd/clusterd/raftfsm"
)

// A node's identity in the cluster: its private key (made on this machine,
// never sent anywhere), its certificate signed by the cluster CA (short
// lived, renewed by maintainCertificate), the CA's certificate, and the
// gossip keyring it was given. They live in DATA/tls (0700, files 0600),
// so a restart needs no token.

const tlsDirName = "tls"

// identity is the node's current TLS material; the zero value has none.
type identity struct {
	mu         sync.RWMutex
	ca         *x509.Certificate
	cert       *tls.Certificate
	gossipKeys []string // base64, primary first
}

func (id *identity) current() (*x509.Certificate, *tls.Certificate) {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.ca, id.cert
}

// Cert is the node's certificate chain for TLS, nil while it has none.
func (id *identity) Cert() *tls.Certificate {
	_, c := id.current()
	return c
}

func (id *identity) keys() []string {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.gossipKeys
}

func (n *Node) tlsPath(name string) string { return filepath.Join(n.cfg.DataDir, tlsDirName, name) }

// loadIdentity reads DATA/tls. Nothing there is no identity (a node that
// has not joined yet); a part missing or unreadable is an error, never a
// half identity.
func (n *Node) loadIdentity() error {
	caPEM, err := os.ReadFile(n.tlsPath("ca.crt"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the node's TLS identity: %w", err)
	}
	certPEM, err1 := os.ReadFile(n.tlsPath("node.crt"))
	keyPEM, err2 := os.ReadFile(n.tlsPath("node.key"))
	keys, err3 := os.ReadFile(n.tlsPath("gossip.keys"))
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("read the node's TLS identity in %s: %w (a join that was cut off: remove the directory and join again with a token)", filepath.Dir(n.tlsPath("x")), err)
	}
	ca, err1 := pki.ParseCertPEM(caPEM)
	cert, err2 := pki.ParseCertPEM(certPEM)
	key, err3 := pki.ParseKeyPEM(keyPEM)
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("the node's TLS identity in %s is corrupt: %w", filepath.Dir(n.tlsPath("x")), err)
	}
	n.ident.mu.Lock()
	n.ident.ca, n.ident.cert, n.ident.gossipKeys = ca, pki.Chain(cert, ca, key), strings.Fields(string(keys))
	n.ident.mu.Unlock()
	return nil
}

// saveIdentity writes and then adopts a new identity (a join, a renewal,
// a rotated gossip keyring). The key is written before the certificate
// that needs it, each file atomically.
func (n *Node) saveIdentity(ca, cert *x509.Certificate, key *ecdsa.PrivateKey, gossipKeys []string) error {
	if err := os.MkdirAll(filepath.Dir(n.tlsPath("x")), 0o700); err != nil {
		return fmt.Errorf("save the node's TLS identity: %w", err)
	}
	keyPEM, err := pki.KeyPEM(key)
	if err != nil {
		return fmt.Errorf("save the node's key: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{"node.key", keyPEM},
		{"ca.crt", pki.CertPEM(ca)},
		{"gossip.keys", []byte(strings.Join(gossipKeys, "\n") + "\n")},
		{"node.crt", pki.CertPEM(cert)},
	}
	for _, f := range files {
		if err := writeFileAtomic(n.tlsPath(f.name), f.data, 0o600); err != nil {
			return fmt.Errorf("save the node's TLS identity: %w", err)
		}
	}
	n.ident.mu.Lock()
	n.ident.ca, n.ident.cert, n.ident.gossipKeys = ca, pki.Chain(cert, ca, key), gossipKeys
	n.ident.mu.Unlock()
	return nil
}

// peers is how this node's TLS configurations see the cluster.
func (n *Node) peers() pki.Peers {
	ca, _ := n.ident.current()
	return pki.Peers{CA: ca, Cert: n.ident.Cert, Now: n.now, Revoked: n.revoked}
}

// revoked reports whether a node was removed from the cluster: its
// certificate stops working before it expires.
func (n *Node) revoked(nodeID string) bool {
	nd := n.fsm.View().Node(nodeID)
	return nd != nil && nd.State == raftfsm.NodeLeft
}

// certIPs are the addresses a node certificate names, so that a client
// reaching the node by address can verify it.
func (n *Node) certIPs() []net.IP {
	var ips []net.IP
	for _, s := range []string{n.advertise, n.cfg.Bind} {
		if ip := net.ParseIP(s); ip != nil && !ip.IsUnspecified() && !containsIP(ips, ip) {
			ips = append(ips, ip)
		}
	}
	return ips
}

func containsIP(ips []net.IP, ip net.IP) bool {
	for _, have := range ips {
		if have.Equal(ip) {
			return true
		}
	}
	return false
}

// issueOwnCertificate signs this node a new certificate with the cluster
// CA, which a server holds in its replica (and init before the cluster
// exists): servers need no one else to renew.
func (n *Node) issueOwnCertificate(ca *pki.CA, gossipKeys []string) error {
	key, err := pki.NewKey(rand.Reader)
	if err != nil {
		return err
	}
	role := pki.RoleAgent
	if n.cfg.Server {
		role = pki.RoleServer
	}
	cert, err := ca.Issue(&key.PublicKey, pki.Identity{NodeID: n.id, Role: role}, n.certIPs(), n.cfg.CertLifetime, n.now(), rand.Reader)
	if err != nil {
		return fmt.Errorf("sign this node's certificate: %w", err)
	}
	return n.saveIdentity(ca.Cert, cert, key, gossipKeys)
}

// gossipKeyBytes decodes a keyring for gossip.Config.Keys.
func gossipKeyBytes(keys []string) ([][]byte, error) {
	var out [][]byte
	for i, k := range keys {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			return nil, fmt.Errorf("gossip key %d is not base64: %w", i+1, err)
		}
		out = append(out, b)
	}
	return out, nil
}
