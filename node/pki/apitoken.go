package pki

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// An API token is what a user, a script or a framework sends as a bearer
// token (or a Mesos principal and secret):
//
//	cdk1-<16 hex: the id>-<52 base32: the secret>
//
// The id is not secret: it is what `clusterd token list` shows and what a
// revocation names. The cluster keeps only the secret's SHA-256.
type APIToken struct {
	ID     string
	Secret [32]byte
}

const apiTokenPrefix = "cdk1"

// apiTokenIDLen is the id's length in hex digits.
const apiTokenIDLen = 16

// ErrMalformedAPIToken is wrapped by every ParseAPIToken error.
var ErrMalformedAPIToken = errors.New("malformed API token")

// NewAPIToken makes a token with a fresh id and secret.
func NewAPIToken(rnd io.Reader) (APIToken, error) {
	var id [apiTokenIDLen / 2]byte
	var t APIToken
	if _, err := io.ReadFull(rnd, id[:]); err != nil {
		return APIToken{}, fmt.Errorf("API token: %w", err)
	}
	if _, err := io.ReadFull(rnd, t.Secret[:]); err != nil {
		return APIToken{}, fmt.Errorf("API token: %w", err)
	}
	t.ID = hex.EncodeToString(id[:])
	return t, nil
}

func (t APIToken) String() string {
	return apiTokenPrefix + "-" + t.ID + "-" + strings.ToLower(secretEncoding.EncodeToString(t.Secret[:]))
}

// SecretHash is what the cluster keeps of the token, as hex.
func (t APIToken) SecretHash() string {
	h := sha256.Sum256(t.Secret[:])
	return hex.EncodeToString(h[:])
}

// MatchesHash reports, in constant time, whether the token's secret hashes
// to hexHash.
func (t APIToken) MatchesHash(hexHash string) bool {
	b, err := hex.DecodeString(hexHash)
	if err != nil || len(b) != sha256.Size {
		return false
	}
	return SecretMatches([32]byte(b), t.Secret)
}

// ParseAPIToken reads a token. Its errors never contain the secret.
func ParseAPIToken(s string) (APIToken, error) {
	parts := strings.Split(strings.TrimSpace(s), "-")
	if len(parts) != 3 || parts[0] != apiTokenPrefix {
		return APIToken{}, fmt.Errorf("%w: want %s-ID-SECRET as printed by 'clusterd init' or 'clusterd token create'", ErrMalformedAPIToken, apiTokenPrefix)
	}
	t := APIToken{ID: parts[1]}
	if len(t.ID) != apiTokenIDLen || !isLowerHex(t.ID) {
		return APIToken{}, fmt.Errorf("%w: the id must be %d lower-case hex digits", ErrMalformedAPIToken, apiTokenIDLen)
	}
	secret, err := secretEncoding.DecodeString(strings.ToUpper(parts[2]))
	if err != nil || len(secret) != len(t.Secret) {
		return APIToken{}, fmt.Errorf("%w: the secret must be %d base32 characters", ErrMalformedAPIToken, secretEncoding.EncodedLen(len(t.Secret)))
	}
	copy(t.Secret[:], secret)
	return t, nil
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
