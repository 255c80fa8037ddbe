package join

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/node/pki"
)

// TestTheSecretNeverAppearsInAnErrorOrALog runs every way a join can fail
// with a secret in play, including a secret sent where another field
// belongs, and looks for the secret, in every spelling, in what came back
// and in the server's log.
func TestTheSecretNeverAppearsInAnErrorOrALog(t *testing.T) {
	c := startCluster(t, Options{})
	other := startCluster(t, Options{})
	secret := EncodeSecret(c.server.Secret)
	spellings := []string{secret, strings.ToUpper(secret), hex.EncodeToString(c.server.Secret[:]), secret[:20]}
	var said []string
	mustFail := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s succeeded", what)
		}
		said = append(said, err.Error())
	}

	wrong := c.server
	wrong.Secret[31] ^= 1
	req, _ := joinRequest(t, "0a", pki.RoleServer)
	for _, tok := range []pki.Token{wrong, c.agent} {
		_, err := Join(ctx(t), c.addr, tok, req, c.now)
		mustFail("a wrong token", err)
	}
	_, err := Join(ctx(t), other.addr, c.server, req, c.now)
	mustFail("a join to another cluster", err)
	p := startProxy(t, c.addr, nodeCert(t, newCA(t), pki.Identity{NodeID: "5e", Role: pki.RoleServer}, nodeLifetime))
	_, err = Join(ctx(t), p.addr, c.server, req, c.now)
	mustFail("a join through a man in the middle", err)
	for _, body := range []any{
		map[string]any{"node_id": secret, "role": "server", "secret": secret},
		map[string]any{"node_id": "0a", "node_name": secret + "\x00", "role": "server", "secret": secret},
		map[string]any{"node_id": "0a", "role": secret, "secret": secret},
		map[string]any{"node_id": "0a", "role": "server", "secret": secret + "x"},
		map[string]any{"node_id": "0a", "role": "server", "secret": secret, "public_key": secret},
		map[string]any{"node_id": "0a", "role": "server", "secret": secret, "ips": []string{secret}},
		map[string]any{secret: secret},
		map[string]any{"node_id": "0a", "role": "server", "secret": []string{secret}},
	} {
		_, msg := rawJoin(t, c, body)
		said = append(said, msg)
	}
	b, _ := json.Marshal(map[string]string{"node_id": "0a", "secret": secret})
	_, msg := rawPost(t, c, PathJoin, pki.Pinned(c.server.CAFingerprint, c.now), append(b[:len(b)-1], []byte(`,"x":`+secret+`}`)...))
	said = append(said, msg)

	for _, s := range said {
		if s == "" {
			t.Error("a refusal came back without a message")
		}
	}
	all := strings.Join(said, "\n") + "\n" + c.logs.String() + other.logs.String()
	for _, sp := range spellings {
		if strings.Contains(all, sp) {
			t.Fatalf("the secret (%s…) appears in:\n%s", sp[:4], all)
		}
	}
	if !strings.Contains(c.logs.String(), "join: refused") {
		t.Errorf("the refusals were not logged:\n%s", c.logs)
	}
}
