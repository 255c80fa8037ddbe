package join

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"unicode"

	"github.com/clusterd/clusterd/node/pki"
)

// The exchange's routes. Both take a JSON body and answer JSON, over HTTPS.
const (
	// PathJoin takes a Request and answers a Response; the client has no
	// certificate yet and pins the CA by the token's fingerprint.
	PathJoin = "/v1/join"
	// PathRenew takes a RenewRequest over mutual TLS (the client's current
	// node certificate) and answers a Response for the same identity.
	PathRenew = "/v1/join/renew"
)

// Wire limits. A request larger or deeper than these is refused before it is
// decoded: the endpoint is open to anyone who can reach the API port.
const (
	MaxBodyBytes   = 16 << 10
	MaxNodeIDLen   = 64 // hex digits; clusterd makes 16
	MaxNodeNameLen = 253
	MaxIPs         = 16

	maxEchoedField = 20
)

// Request is the body of POST /v1/join.
type Request struct {
	// NodeID is the node's lower-case hex id, 1 to MaxNodeIDLen digits; the
	// certificate speaks for it.
	NodeID string `json:"node_id"`
	// NodeName is for people (a host name); it is not in the certificate.
	NodeName string `json:"node_name"`
	// Role is what the node asks to be: "server" needs a server token,
	// "agent" either token.
	Role pki.Role `json:"role"`
	// Secret is the token's secret exactly as the token spells it (52
	// base32 characters, either case); Join fills it in from the token.
	Secret string `json:"secret"`
	// PublicKey is the node's ECDSA P-256 public key, PKIX DER (base64 in
	// JSON). The node keeps the private key: it never leaves the machine.
	PublicKey []byte `json:"public_key"`
	// IPs become the certificate's IP SANs, so a CLI reaching the node by
	// one of them can verify it.
	IPs []string `json:"ips"`
}

// RenewRequest is the body of POST /v1/join/renew. Who is renewing is the
// client certificate of the connection, never anything in the body.
type RenewRequest struct {
	// PublicKey is the new key, as in Request.
	PublicKey []byte `json:"public_key"`
	// IPs replace the old certificate's IP SANs; empty keeps them (an
	// instance's address can change across a stop and start).
	IPs []string `json:"ips,omitempty"`
}

// Response answers both routes.
type Response struct {
	CertPEM string `json:"cert_pem"`
	CAPEM   string `json:"ca_pem"`
	// GossipKeys is memberlist's keyring, base64, the primary first.
	GossipKeys []string `json:"gossip_keys"`
	ClusterID  string   `json:"cluster_id"`
}

// errorBody is every refusal's body. The message is written for the person
// running `clusterd join`; it never holds the secret.
type errorBody struct {
	Error string `json:"error"`
}

// secretEncoding is the token's own spelling of the secret (pki.Token).
var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// EncodeSecret spells a secret as the token does and the wire carries it.
func EncodeSecret(secret [32]byte) string {
	return strings.ToLower(secretEncoding.EncodeToString(secret[:]))
}

// badRequest is a refusal of a malformed body (400). Its message names the
// field at fault and never quotes a value the client sent.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error { return &badRequest{msg: fmt.Sprintf(format, args...)} }

// decodeStrict reads exactly one JSON object into v: unknown fields, a
// second value or a body over MaxBodyBytes are refused.
func decodeStrict(body io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(body, MaxBodyBytes+1))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || len(b) > MaxBodyBytes {
		return badf("the request body is larger than %d bytes", MaxBodyBytes)
	}
	if err != nil {
		return badf("read the request body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badf("the request body is not a valid request: %s", jsonProblem(err))
	}
	if dec.More() {
		return badf("the request body holds more than one JSON value")
	}
	return nil
}

// jsonProblem describes a decoding error by field and kind, never by value:
// a secret sent in the wrong place must not come back in the message.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var b64 base64.CorruptInputError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be %s", typ.Field, jsonKind(typ.Type))
	case errors.As(err, &b64):
		return "public_key is not valid base64"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends early"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// The name comes from the client. Ours are short; a long one is
		// echoed by length only, in case it is a secret pasted as a key.
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if len(name) > maxEchoedField+2 {
			return fmt.Sprintf("an unknown field (a name of %d bytes)", len(name)-2)
		}
		return "unknown field " + name
	default:
		return "malformed JSON"
	}
}

func jsonKind(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[[]byte]():
		return "a base64 string"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "an array"
	case t.Kind() == reflect.Struct:
		return "an object"
	default:
		return "a " + t.Kind().String()
	}
}

// DecodeRequest reads and checks a join request body. Every error is a
// refusal with a message for the client; nothing is issued on any of them.
func DecodeRequest(body io.Reader) (Request, error) {
	var req Request
	if err := decodeStrict(body, &req); err != nil {
		return Request{}, err
	}
	if err := checkNodeID(req.NodeID); err != nil {
		return Request{}, err
	}
	if len(req.NodeName) > MaxNodeNameLen {
		return Request{}, badf("node_name is longer than %d bytes", MaxNodeNameLen)
	}
	for _, r := range req.NodeName {
		if !unicode.IsPrint(r) {
			return Request{}, badf("node_name holds a character that is not printable")
		}
	}
	if req.Role != pki.RoleServer && req.Role != pki.RoleAgent {
		return Request{}, badf("role must be %q or %q", pki.RoleServer, pki.RoleAgent)
	}
	if req.Secret == "" {
		return Request{}, badf("no secret: pass a join token (clusterd join --token TOKEN PEER); 'clusterd init' printed the first ones, 'clusterd token rotate' makes new ones")
	}
	if _, err := decodeSecret(req.Secret); err != nil {
		return Request{}, err
	}
	if err := checkKeyAndIPs(req.PublicKey, req.IPs); err != nil {
		return Request{}, err
	}
	return req, nil
}

// DecodeRenewRequest reads and checks a renewal body.
func DecodeRenewRequest(body io.Reader) (RenewRequest, error) {
	var req RenewRequest
	if err := decodeStrict(body, &req); err != nil {
		return RenewRequest{}, err
	}
	if err := checkKeyAndIPs(req.PublicKey, req.IPs); err != nil {
		return RenewRequest{}, err
	}
	return req, nil
}

// checkKeyAndIPs checks what both requests carry into the certificate.
func checkKeyAndIPs(pub []byte, ips []string) error {
	if _, err := parsePublicKey(pub); err != nil {
		return err
	}
	_, err := parseIPs(ips)
	return err
}

func checkNodeID(id string) error {
	if id == "" || len(id) > MaxNodeIDLen {
		return badf("node_id must be 1 to %d lower-case hex digits", MaxNodeIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return badf("node_id must be 1 to %d lower-case hex digits", MaxNodeIDLen)
		}
	}
	return nil
}

func decodeSecret(s string) ([32]byte, error) {
	var secret [32]byte
	b, err := secretEncoding.DecodeString(strings.ToUpper(s))
	if err != nil || len(b) != len(secret) {
		return secret, badf("secret must be %d base32 characters, the last part of the join token", secretEncoding.EncodedLen(len(secret)))
	}
	copy(secret[:], b)
	return secret, nil
}

// parsePublicKey accepts what pki.NewKey makes, an ECDSA P-256 key, and
// nothing else: one kind of node key is one kind to get right.
func parsePublicKey(der []byte) (*ecdsa.PublicKey, error) {
	if len(der) == 0 {
		return nil, badf("no public_key: send the node's public key, PKIX DER in base64")
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, badf("public_key is not a PKIX DER public key")
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, badf("public_key must be an ECDSA P-256 key (as clusterd makes)")
	}
	return ek, nil
}

func parseIPs(ss []string) ([]net.IP, error) {
	if len(ss) > MaxIPs {
		return nil, badf("ips holds more than %d addresses", MaxIPs)
	}
	ips := make([]net.IP, 0, len(ss))
	for i, s := range ss {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, badf("ips[%d] is not an IP address", i)
		}
		if ip.IsUnspecified() || ip.IsMulticast() {
			return nil, badf("ips[%d] is not an address a node can be reached at", i)
		}
		ips = append(ips, ip)
	}
	return ips, nil
}
