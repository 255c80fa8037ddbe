package pki

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestBootstrapTokenDerivesTheSameClusterOnEveryMachine(t *testing.T) {
	tok, err := NewBootstrapToken(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseBootstrapToken(strings.ToUpper(tok.String()[:5]) + tok.String()[5:])
	if err == nil {
		t.Fatalf("an upper-case prefix parsed: %+v", parsed)
	}
	parsed, err = ParseBootstrapToken("  " + tok.String() + "\n")
	if err != nil || parsed != tok {
		t.Fatalf("round trip: %v, %v", parsed == tok, err)
	}
	a, err := tok.Derive()
	if err != nil {
		t.Fatal(err)
	}
	b, err := parsed.Derive()
	if err != nil {
		t.Fatal(err)
	}
	// Two machines: the same CA certificate byte for byte (so join tokens
	// pin one fingerprint), the same key, gossip key, id and join secrets.
	if !bytes.Equal(a.CA.Cert.Raw, b.CA.Cert.Raw) || !a.CA.Key.Equal(b.CA.Key) {
		t.Fatal("two derivations made different CAs")
	}
	if a.ClusterID != b.ClusterID || len(a.ClusterID) != 16 || !bytes.Equal(a.GossipKey, b.GossipKey) || len(a.GossipKey) != 32 {
		t.Fatalf("cluster id %q/%q, gossip keys equal %v (len %d)", a.ClusterID, b.ClusterID, bytes.Equal(a.GossipKey, b.GossipKey), len(a.GossipKey))
	}
	for _, role := range []Role{RoleServer, RoleAgent} {
		if a.JoinTokens[role] != b.JoinTokens[role] || a.JoinTokens[role].CAFingerprint != Fingerprint(a.CA.Cert) || a.JoinTokens[role].Role != role {
			t.Fatalf("%s join token differs or pins another CA", role)
		}
	}
	if a.AdminToken != b.AdminToken || a.AdminToken.ID == "" {
		t.Fatal("the derived admin tokens differ")
	}
	if a.JoinTokens[RoleServer].Secret == a.JoinTokens[RoleAgent].Secret {
		t.Fatal("the server and agent join secrets are the same")
	}
	// The CA is a real one: its PEM loads, and a leaf one machine signs
	// verifies against the CA another machine derived.
	certPEM, keyPEM, err := a.CA.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	leaf := nodeCert(t, a.CA, "n1", RoleServer, DefaultCertLifetime, t0)
	if id, err := Verify(b.CA.Cert, leaf.Leaf, nil, t0); err != nil || id.NodeID != "n1" {
		t.Fatalf("a leaf of one derivation against the other: %v, %v", id, err)
	}

	// Another token is another cluster, with nothing in common.
	other, _ := NewBootstrapToken(rand.Reader)
	c, err := other.Derive()
	if err != nil {
		t.Fatal(err)
	}
	if c.ClusterID == a.ClusterID || bytes.Equal(c.GossipKey, a.GossipKey) || c.CA.Key.Equal(a.CA.Key) || c.AdminToken == a.AdminToken {
		t.Fatal("two tokens derived overlapping clusters")
	}
	if _, err := Verify(c.CA.Cert, leaf.Leaf, nil, t0); err == nil {
		t.Fatal("a leaf of one bootstrap cluster verified against another's CA")
	}
}

func TestParseBootstrapTokenNamesTheBadPartWithoutTheSecret(t *testing.T) {
	tok, _ := NewBootstrapToken(rand.Reader)
	s := tok.String()
	cases := map[string]string{
		"":                                "cdb1-SECRET",
		"cdt1-" + s[5:]:                   "cdb1-SECRET",
		s[:len(s)-1]:                      "52 base32",
		s + "a":                           "52 base32",
		"cdb1-" + strings.Repeat("1", 52): "52 base32", // 1 is not base32
	}
	for in, want := range cases {
		_, err := ParseBootstrapToken(in)
		if err == nil || !errors.Is(err, ErrMalformedToken) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseBootstrapToken(%q) = %v, want an ErrMalformedToken naming %q", in, err, want)
		}
		if err != nil && len(in) > 10 && strings.Contains(err.Error(), in[5:15]) {
			t.Errorf("the error echoes the secret: %v", err)
		}
	}
	if !IsBootstrapToken(s) || IsBootstrapToken("cdt1-s-00") {
		t.Error("IsBootstrapToken tells the kinds apart by prefix")
	}
}
