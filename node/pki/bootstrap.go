package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"
)

// A bootstrap token lets machines that start at the same time form a
// cluster with --bootstrap-expect, secured from their first packet, with
// nobody to run `clusterd init` first:
//
//	cdb1-<52 base32: a 32-byte secret>
//
// Every machine given the same token derives from it, and from nothing
// else, the same cluster: its id, its CA (the same key and the same
// certificate, byte for byte, so the same fingerprint), its gossip key and
// its server and agent join tokens. A server then signs its own
// certificate, just as init does, and the first leader stores the admin
// token it derives. Whoever holds the token holds the CA key:
// it is a secret of the cluster, like the CA key in the replicated state.
type BootstrapToken struct {
	Secret [32]byte
}

const bootstrapPrefix = "cdb1"

// The derived CA's validity is fixed, not taken from a clock, so that
// every machine makes the same certificate.
var (
	bootstrapCANotBefore = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bootstrapCANotAfter  = time.Date(2046, 1, 1, 0, 0, 0, 0, time.UTC)
)

// NewBootstrapToken makes a token with a fresh secret.
func NewBootstrapToken(rnd io.Reader) (BootstrapToken, error) {
	var t BootstrapToken
	if _, err := io.ReadFull(rnd, t.Secret[:]); err != nil {
		return BootstrapToken{}, fmt.Errorf("bootstrap token: %w", err)
	}
	return t, nil
}

func (t BootstrapToken) String() string {
	return bootstrapPrefix + "-" + strings.ToLower(secretEncoding.EncodeToString(t.Secret[:]))
}

// IsBootstrapToken reports whether s looks like a bootstrap token rather
// than a join token (its prefix), so one flag can take either.
func IsBootstrapToken(s string) bool {
	return strings.HasPrefix(strings.TrimSpace(s), bootstrapPrefix+"-")
}

// ParseBootstrapToken reads a token; its errors never echo the secret.
func ParseBootstrapToken(s string) (BootstrapToken, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, bootstrapPrefix+"-")
	if !ok {
		return BootstrapToken{}, fmt.Errorf("%w: a bootstrap token is %s-SECRET, as 'clusterd token bootstrap' prints it", ErrMalformedToken, bootstrapPrefix)
	}
	var t BootstrapToken
	secret, err := secretEncoding.DecodeString(strings.ToUpper(rest))
	if err != nil || len(secret) != len(t.Secret) {
		return BootstrapToken{}, fmt.Errorf("%w: the bootstrap secret must be %d base32 characters", ErrMalformedToken, secretEncoding.EncodedLen(len(t.Secret)))
	}
	copy(t.Secret[:], secret)
	return t, nil
}

// Bootstrap is the cluster a bootstrap token stands for.
type Bootstrap struct {
	ClusterID  string // 16 hex digits, like a cluster init makes
	CA         *CA
	GossipKey  []byte // 32 bytes (AES-256)
	JoinTokens map[Role]Token
	// AdminToken is the cluster's first admin API token, so that whoever
	// formed the cluster can use it without finding which server led first.
	AdminToken APIToken
}

// Derive computes the cluster of a bootstrap token. It is a pure function
// of the secret: HKDF-SHA256 with a label per part, the CA key by
// rejection sampling into P-256's scalar range, and the CA certificate
// signed deterministically (RFC 6979), so every machine gets the same
// bytes.
func (t BootstrapToken) Derive() (*Bootstrap, error) {
	part := func(label string, n int) ([]byte, error) {
		b, err := hkdf.Key(sha256.New, t.Secret[:], []byte("clusterd bootstrap v1"), label, n)
		if err != nil {
			return nil, fmt.Errorf("derive the cluster's %s: %w", label, err)
		}
		return b, nil
	}
	id, err := part("cluster id", 8)
	if err != nil {
		return nil, err
	}
	b := &Bootstrap{ClusterID: hex.EncodeToString(id), JoinTokens: map[Role]Token{}}
	if b.GossipKey, err = part("gossip key", 32); err != nil {
		return nil, err
	}
	var key *ecdsa.PrivateKey
	for i := 0; key == nil; i++ {
		if i == 64 { // a chance of about 2^-2048
			return nil, errors.New("derive the cluster CA key: no scalar in range")
		}
		raw, err := part(fmt.Sprintf("ca key %d", i), 32)
		if err != nil {
			return nil, err
		}
		key, _ = ecdsa.ParseRawPrivateKey(elliptic.P256(), raw) // out of range or zero: next
	}
	serial, err := part("ca serial", 16)
	if err != nil {
		return nil, err
	}
	if b.CA, err = deterministicCA(b.ClusterID, key, new(big.Int).SetBytes(serial[:15])); err != nil {
		return nil, err
	}
	fp := Fingerprint(b.CA.Cert)
	for _, role := range []Role{RoleServer, RoleAgent} {
		s, err := part(string(role)+" join secret", 32)
		if err != nil {
			return nil, err
		}
		tok := Token{Role: role, CAFingerprint: fp}
		copy(tok.Secret[:], s)
		b.JoinTokens[role] = tok
	}
	admin, err := part("admin token", apiTokenIDLen/2+32)
	if err != nil {
		return nil, err
	}
	if b.AdminToken, err = NewAPIToken(bytes.NewReader(admin)); err != nil {
		return nil, err
	}
	return b, nil
}

func deterministicCA(clusterID string, key *ecdsa.PrivateKey, serial *big.Int) (*CA, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "clusterd CA " + clusterID, Organization: []string{"clusterd"}},
		NotBefore:             bootstrapCANotBefore,
		NotAfter:              bootstrapCANotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, &key.PublicKey, rfc6979Signer{key})
	if err != nil {
		return nil, fmt.Errorf("derive the cluster CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("derive the cluster CA: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// rfc6979Signer signs deterministically whatever randomness it is handed:
// ecdsa signs by RFC 6979 only when given none.
type rfc6979Signer struct{ key *ecdsa.PrivateKey }

func (s rfc6979Signer) Public() crypto.PublicKey { return s.key.Public() }

func (s rfc6979Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.key.Sign(nil, digest, opts)
}
