package nodetest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// statusWith sends method path to node i with token (none when empty) and
// returns the status.
func statusWith(t *testing.T, c *Cluster, i int, method, path, token, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, c.Node(i).Addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := &http.Client{Timeout: httpTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s on node %d: %v", method, path, i, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// An agent-only node holds no replica of the credentials: it asks a server
// about each token, honours its scope, and stops accepting a revoked token
// within the 10 s it may remember the answer.
func TestAgentOnlyNodeChecksTokensWithAServer(t *testing.T) {
	c := Start(t, Options{N: 1})
	agent := c.AddNodeWith(t, "--server=false")
	a := agent.Index

	if got := statusWith(t, c, a, "GET", "/v1/jobs", "", ""); got != http.StatusUnauthorized {
		t.Fatalf("GET /v1/jobs on the agent without a token: %d, want 401", got)
	}
	if got := statusWith(t, c, a, "GET", "/v1/jobs", "cdk1-0123456789abcdef-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ""); got != http.StatusUnauthorized {
		t.Fatalf("GET /v1/jobs on the agent with a forged token: %d, want 401", got)
	}
	if got := statusWith(t, c, a, "GET", "/v1/status", c.Token(), ""); got != http.StatusOK {
		t.Fatalf("GET /v1/status on the agent with the admin token: %d, want 200", got)
	}

	out, err := c.CLI(t, 0, "token", "create", "--scope", "read", "--name", "dashboards")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	reader := strings.TrimSpace(out)
	if got := statusWith(t, c, a, "GET", "/v1/status", reader, ""); got != http.StatusOK {
		t.Fatalf("GET /v1/status on the agent with a read token: %d, want 200", got)
	}
	spec := `{"id":"nope","type":"batch","cmd":"true","instances":1,"cpus":0.1,"mem":16}`
	if got := statusWith(t, c, a, "POST", "/v1/jobs", reader, spec); got != http.StatusForbidden {
		t.Fatalf("POST /v1/jobs on the agent with a read token: %d, want 403", got)
	}
	if got := statusWith(t, c, a, "POST", "/v1/agent/leave", reader, ""); got != http.StatusForbidden {
		t.Fatalf("POST /v1/agent/leave with a read token: %d, want 403", got)
	}

	if out, err := c.CLI(t, 0, "token", "revoke", reader); err != nil {
		t.Fatalf("token revoke: %v\n%s", err, out)
	}
	if got := statusWith(t, c, 0, "GET", "/v1/jobs", reader, ""); got != http.StatusUnauthorized {
		t.Fatalf("the server accepts a revoked token: %d, want 401", got)
	}
	revoked := time.Now()
	c.Eventually(t, "the agent refuses the revoked token", 15*time.Second, func() bool {
		return statusWith(t, c, a, "GET", "/v1/status", reader, "") == http.StatusUnauthorized
	})
	if d := time.Since(revoked); d > 12*time.Second {
		t.Errorf("the agent accepted the revoked token for %s, more than the 10 s it may remember it", d)
	}
	if jobs, err := c.Jobs(0); err != nil || len(jobs) != 0 {
		t.Fatalf("jobs %v %v: a refused request changed something", jobs, err)
	}
}
