package pki

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A join token is what `clusterd init` prints and `clusterd join --token`
// takes:
//
//	cdt1-s-<64 hex: SHA-256 of the cluster CA>-<52 base32: the secret>
//
// "s" is a server token (the node may become a Raft voter), "a" an agent
// token. The fingerprint lets the joining machine check the cluster before
// it sends anything (no trust on first use); the secret proves to the
// cluster that the machine may join. The cluster stores only the secret's
// SHA-256, so a leaked snapshot or data dir does not leak the token.
type Token struct {
	Role          Role
	CAFingerprint [32]byte
	Secret        [32]byte
}

const tokenPrefix = "cdt1"

var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewToken makes a token with a fresh secret for a cluster's CA.
func NewToken(role Role, caFingerprint [32]byte, rnd io.Reader) (Token, error) {
	t := Token{Role: role, CAFingerprint: caFingerprint}
	if role != RoleServer && role != RoleAgent {
		return Token{}, fmt.Errorf("join token: role %q is neither server nor agent", role)
	}
	if _, err := io.ReadFull(rnd, t.Secret[:]); err != nil {
		return Token{}, fmt.Errorf("join token: %w", err)
	}
	return t, nil
}

func (t Token) String() string {
	return tokenPrefix + "-" + string(t.Role[0]) + "-" + hex.EncodeToString(t.CAFingerprint[:]) + "-" +
		strings.ToLower(secretEncoding.EncodeToString(t.Secret[:]))
}

// SecretHash is what the cluster keeps of the token.
func (t Token) SecretHash() [32]byte { return sha256.Sum256(t.Secret[:]) }

// SecretMatches reports, in constant time, whether secret hashes to hash.
func SecretMatches(hash, secret [32]byte) bool {
	got := sha256.Sum256(secret[:])
	return subtle.ConstantTimeCompare(got[:], hash[:]) == 1
}

// ErrMalformedToken is wrapped by every ParseToken error.
var ErrMalformedToken = errors.New("malformed join token")

// ParseToken reads a token. Its errors say which part is wrong, never the
// secret itself.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	parts := strings.Split(s, "-")
	if len(parts) != 4 || parts[0] != tokenPrefix {
		return Token{}, fmt.Errorf("%w: want %s-ROLE-FINGERPRINT-SECRET as printed by 'clusterd init' or 'clusterd token'", ErrMalformedToken, tokenPrefix)
	}
	var t Token
	switch parts[1] {
	case "s":
		t.Role = RoleServer
	case "a":
		t.Role = RoleAgent
	default:
		return Token{}, fmt.Errorf("%w: role %q is neither s (server) nor a (agent)", ErrMalformedToken, parts[1])
	}
	fp, err := hex.DecodeString(parts[2])
	if err != nil || len(fp) != len(t.CAFingerprint) {
		return Token{}, fmt.Errorf("%w: the CA fingerprint must be %d hex digits", ErrMalformedToken, 2*len(t.CAFingerprint))
	}
	copy(t.CAFingerprint[:], fp)
	secret, err := secretEncoding.DecodeString(strings.ToUpper(parts[3]))
	if err != nil || len(secret) != len(t.Secret) {
		return Token{}, fmt.Errorf("%w: the secret must be %d base32 characters", ErrMalformedToken, secretEncoding.EncodedLen(len(t.Secret)))
	}
	copy(t.Secret[:], secret)
	return t, nil
}
