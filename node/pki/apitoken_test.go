package pki

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestAPITokenRoundTripsAndMatchesOnlyItsHash(t *testing.T) {
	tok, err := NewAPIToken(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := tok.String()
	if !strings.HasPrefix(s, "cdk1-"+tok.ID+"-") || len(s) != 5+16+1+52 {
		t.Fatalf("token %q: want cdk1-<16 hex>-<52 base32>", s)
	}
	back, err := ParseAPIToken(" " + s + "\n")
	if err != nil || back != tok {
		t.Fatalf("parse %q: %+v %v", s, back, err)
	}
	if !back.MatchesHash(tok.SecretHash()) {
		t.Error("a token does not match its own hash")
	}
	other, _ := NewAPIToken(rand.Reader)
	if other.MatchesHash(tok.SecretHash()) || tok.MatchesHash("zz") || tok.MatchesHash("") {
		t.Error("a token matches another's hash or a malformed one")
	}
}

func TestParseAPITokenSaysWhatIsWrongWithoutTheSecret(t *testing.T) {
	good, _ := NewAPIToken(rand.Reader)
	secret := strings.Split(good.String(), "-")[2]
	for in, want := range map[string]string{
		"":                                     "cdk1-ID-SECRET",
		"cdt1-s-00-" + secret:                  "cdk1-ID-SECRET",
		"cdk1-XYZ-" + secret:                   "16 lower-case hex",
		"cdk1-" + good.ID + "-" + secret[:40]:  "52 base32",
		"cdk1-" + good.ID + "-" + secret + "-": "cdk1-ID-SECRET",
	} {
		_, err := ParseAPIToken(in)
		if !errors.Is(err, ErrMalformedAPIToken) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAPIToken(%q) = %v; want a malformed-token error saying %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), secret[:20]) {
			t.Errorf("ParseAPIToken(%q) error %q contains the secret", in, err)
		}
	}
}

func FuzzParseAPIToken(f *testing.F) {
	tok, _ := NewAPIToken(rand.Reader)
	f.Add(tok.String())
	f.Add("cdk1-0123456789abcdef-")
	f.Add("cdk1--")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseAPIToken(s)
		if err != nil {
			return
		}
		back, err := ParseAPIToken(tok.String())
		if err != nil || back != tok {
			t.Fatalf("%q parsed to %+v, which does not round-trip: %+v %v", s, tok, back, err)
		}
	})
}
