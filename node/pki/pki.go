// Package pki owns the cluster's identity: its certificate authority, the
// short-lived node certificates it signs, the join tokens that let a new
// machine trust the cluster before it has anything signed (the CA's
// fingerprint) and prove to the cluster that it may join (a secret), and
// the TLS configurations every node-to-node connection uses.
//
// It does no I/O of its own and reads no clock: the caller passes the time
// and the randomness, so renewals and expiries are tested with a fake clock.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"time"
)

// Role is what a node may be: a server can become a Raft voter and holds
// the state; an agent only runs tasks.
type Role string

const (
	RoleServer Role = "server"
	RoleAgent  Role = "agent"
)

// CALifetime is how long the cluster CA is valid; node certificates are
// short-lived and renewed, the CA is not.
const CALifetime = 10 * 365 * 24 * time.Hour

// DefaultCertLifetime is how long a node certificate is valid. A removed
// node is refused at once by the revocation check; the lifetime bounds how
// long a stolen key is of use to someone who can also pass that check.
const DefaultCertLifetime = 24 * time.Hour

// clockSkew is how far before "now" certificates start to be valid, so a
// node whose clock is a little behind accepts a certificate just issued.
const clockSkew = 5 * time.Minute

// CA is the cluster's certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA creates the CA of a new cluster (ECDSA P-256).
func NewCA(clusterID string, now time.Time, rnd io.Reader) (*CA, error) {
	key, err := NewKey(rnd)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial(rnd)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "clusterd CA " + clusterID, Organization: []string{"clusterd"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create the cluster CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create the cluster CA: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// NewKey makes a node or CA key.
func NewKey(rnd io.Reader) (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, fmt.Errorf("generate a key: %w", err)
	}
	return key, nil
}

func randomSerial(rnd io.Reader) (*big.Int, error) {
	serial, err := randInt(rnd, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return serial, nil
}

func randInt(rnd io.Reader, limit *big.Int) (*big.Int, error) {
	b := make([]byte, (limit.BitLen()+7)/8)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return nil, err
	}
	return new(big.Int).Mod(new(big.Int).SetBytes(b), limit), nil
}

// MarshalPEM encodes the CA's certificate and key.
func (ca *CA) MarshalPEM() (certPEM, keyPEM []byte, err error) {
	keyPEM, err = KeyPEM(ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode the CA key: %w", err)
	}
	return CertPEM(ca.Cert), keyPEM, nil
}

// KeyPEM encodes an EC private key (SEC 1), as ParseKeyPEM reads it.
func KeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// LoadCA decodes a CA written by MarshalPEM and checks that the key is the
// certificate's.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("the cluster CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("the cluster CA certificate is not a CA certificate")
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("the cluster CA key: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("the cluster CA key does not belong to its certificate")
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CertPEM encodes one certificate.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// ParseCertPEM decodes the first certificate of a PEM file.
func ParseCertPEM(b []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// ParseKeyPEM decodes an EC private key (SEC 1 or PKCS #8).
func ParseKeyPEM(b []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM key block")
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not an EC private key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T key, want ECDSA", k)
	}
	return ek, nil
}

// Fingerprint is the SHA-256 of a certificate's DER encoding, the value a
// join token pins.
func Fingerprint(c *x509.Certificate) [32]byte { return sha256.Sum256(c.Raw) }

// FingerprintHex is Fingerprint as lower-case hex, as printed to people.
func FingerprintHex(c *x509.Certificate) string {
	fp := Fingerprint(c)
	return hex.EncodeToString(fp[:])
}

// Identity is who a node certificate speaks for.
type Identity struct {
	NodeID string
	Role   Role
}

// identityURI is the certificate's URI SAN: clusterd://node/ID?role=ROLE.
func (id Identity) uri() *url.URL {
	return &url.URL{Scheme: "clusterd", Host: "node", Path: "/" + id.NodeID, RawQuery: url.Values{"role": {string(id.Role)}}.Encode()}
}

// IdentityOf reads the node identity a certificate carries.
func IdentityOf(c *x509.Certificate) (Identity, error) {
	for _, u := range c.URIs {
		if u.Scheme != "clusterd" || u.Host != "node" {
			continue
		}
		id := Identity{NodeID: trimSlash(u.Path), Role: Role(u.Query().Get("role"))}
		if id.NodeID == "" || (id.Role != RoleServer && id.Role != RoleAgent) {
			return Identity{}, fmt.Errorf("certificate %q has a malformed clusterd identity %q", c.Subject.CommonName, u)
		}
		return id, nil
	}
	return Identity{}, fmt.Errorf("certificate %q is not a clusterd node certificate (no clusterd://node/ name)", c.Subject.CommonName)
}

func trimSlash(s string) string {
	if len(s) > 0 && s[0] == '/' {
		return s[1:]
	}
	return s
}

// Issue signs a node certificate for pub. It serves both as a TLS server
// and client certificate (every node is both); ips become IP SANs so that
// the CLI can verify a node reached by address, and "localhost" is named
// for a CLI on the node itself.
func (ca *CA) Issue(pub crypto.PublicKey, id Identity, ips []net.IP, lifetime time.Duration, now time.Time, rnd io.Reader) (*x509.Certificate, error) {
	if id.NodeID == "" {
		return nil, errors.New("issue a node certificate: no node id")
	}
	if id.Role != RoleServer && id.Role != RoleAgent {
		return nil, fmt.Errorf("issue a node certificate: role %q is neither server nor agent", id.Role)
	}
	if lifetime <= 0 {
		lifetime = DefaultCertLifetime
	}
	serial, err := randomSerial(rnd)
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(lifetime)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id.NodeID, OrganizationalUnit: []string{string(id.Role)}, Organization: []string{"clusterd"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  ips,
		DNSNames:     []string{"localhost"},
		URIs:         []*url.URL{id.uri()},
	}
	der, err := x509.CreateCertificate(rnd, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issue a certificate for node %s: %w", id.NodeID, err)
	}
	return x509.ParseCertificate(der)
}

// NeedsRenewal reports whether a certificate is past half its lifetime (or
// no longer valid): renewing at half-life leaves the other half to retry
// through a leader change or an outage.
func NeedsRenewal(c *x509.Certificate, now time.Time) bool {
	start := c.NotBefore.Add(clockSkew)
	half := start.Add(c.NotAfter.Sub(start) / 2)
	return !now.Before(half)
}

// Verify checks that cert was issued by ca and is valid at now, for use as
// a node certificate, and returns its identity.
func Verify(ca *x509.Certificate, cert *x509.Certificate, intermediates []*x509.Certificate, now time.Time) (Identity, error) {
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	opts := x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if len(intermediates) > 0 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range intermediates {
			opts.Intermediates.AddCert(c)
		}
	}
	if _, err := cert.Verify(opts); err != nil {
		return Identity{}, fmt.Errorf("certificate of %q is not valid for this cluster: %w", cert.Subject.CommonName, err)
	}
	return IdentityOf(cert)
}
