package join

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/pki"
)

var wellFormedID = regexp.MustCompile(`^[0-9a-f]{1,64}$`)

// FuzzJoinRequest feeds the join route arbitrary bodies. The decoder must
// not panic; what it rejects the handler refuses and issues nothing for;
// what it accepts is well formed, and is issued a certificate only with the
// right secret, for exactly the identity asked.
func FuzzJoinRequest(f *testing.F) {
	secret := [32]byte{7, 7, 7}
	auth := &fakeAuthority{ca: newCA(f), now: t0, revoked: map[string]bool{"dead": true},
		hashes: map[pki.Role][32]byte{pki.RoleAgent: sha256.Sum256(secret[:])}}
	h := NewHandler(auth, Options{RateLimit: RateLimit{Burst: 1 << 30, Refill: time.Nanosecond}})
	key := pkix(f, newKey(f))
	seed := func(r Request) {
		b, _ := json.Marshal(r)
		f.Add(b)
	}
	good := Request{NodeID: "0a1b", NodeName: "h", Role: pki.RoleAgent, Secret: EncodeSecret(secret), PublicKey: key, IPs: []string{"127.0.0.1"}}
	seed(good)
	asServer := good
	asServer.Role = pki.RoleServer
	seed(asServer)
	dead := good
	dead.NodeID = "dead"
	seed(dead)
	for _, s := range []string{``, `null`, `[]`, `{}`, `{"node_id":"0a"}`, `{"node_id":"0a","x":1}`, `{"ips":[1]}`,
		`{"public_key":"AAAA"}`, `{"node_id":"0a"}{}`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`, `{"secret":"` + EncodeSecret(secret) + `"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(bytes.NewReader(body))
		before := auth.issuedCount()
		w := serve(h, newRequest(PathJoin, body, "127.0.0.1:1"))
		issued := auth.issuedCount() - before
		if err != nil {
			if w.Code == http.StatusOK || issued != 0 {
				t.Fatalf("a body the decoder rejects (%v) was answered %d with %d certificates", err, w.Code, issued)
			}
			if w.Code != http.StatusBadRequest {
				t.Fatalf("a body the decoder rejects was answered %d, want 400", w.Code)
			}
			return
		}
		if !wellFormedID.MatchString(req.NodeID) || (req.Role != pki.RoleAgent && req.Role != pki.RoleServer) || len(req.IPs) > MaxIPs || len(req.NodeName) > MaxNodeNameLen {
			t.Fatalf("the decoder accepted a malformed request %+v", req)
		}
		if w.Code != http.StatusOK {
			if issued != 0 {
				t.Fatalf("refused with %d but %d certificates issued", w.Code, issued)
			}
			return
		}
		s, _ := decodeSecret(req.Secret)
		if issued != 1 || s != secret || req.Role != pki.RoleAgent || req.NodeID == "dead" {
			t.Fatalf("issued %d certificates for %+v", issued, req)
		}
		var resp Response
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		cert, err := pki.ParseCertPEM([]byte(resp.CertPEM))
		if err != nil {
			t.Fatal(err)
		}
		if id, err := pki.Verify(auth.CA().Cert, cert, nil, t0); err != nil || id != (pki.Identity{NodeID: req.NodeID, Role: req.Role}) {
			t.Fatalf("issued %+v (%v) for %+v", id, err, req)
		}
	})
}
