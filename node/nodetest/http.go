package nodetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
)

// httpTimeout bounds every API request of the harness.
const httpTimeout = 5 * time.Second

// authTransport sends the cluster's admin token with every request,
// redirected ones too (http.Client drops Authorization on a redirect to
// another host, and a follower redirects to the leader's address).
type authTransport struct{ c *Cluster }

func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tok := a.c.Token(); tok != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// HTTPClient is a client for the cluster's API that authenticates with the
// admin token (once a leader has made one) and gives up after timeout.
func (c *Cluster) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: authTransport{c}}
}

// adminTokenFile is node.AdminTokenFile: the harness drives the binary and
// does not import the node package.
const adminTokenFile = "admin.token"

// Token is the cluster's admin token: read, once it exists, from the data
// dir of the server whose leadership created it (AdminTokenFile). Empty
// until then.
func (c *Cluster) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" {
		return c.token
	}
	for _, n := range c.nodes {
		b, err := os.ReadFile(filepath.Join(n.DataDir, adminTokenFile))
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			c.token = string(bytes.TrimSpace(b))
			break
		}
	}
	return c.token
}

// joinTokensFile is node.JoinTokensFile.
const joinTokensFile = "join.tokens"

// JoinToken is a join token for role ("server" or "agent"): the one init
// wrote to its data dir, or in a cluster formed by bootstrap-expect its
// bootstrap token.
func (c *Cluster) JoinToken(t *testing.T, role string) string {
	t.Helper()
	c.mu.Lock()
	if tok := c.join[role]; tok != "" {
		c.mu.Unlock()
		return tok
	}
	if c.Bootstrap != "" {
		// Every machine of such a cluster may join with it.
		c.mu.Unlock()
		return c.Bootstrap
	}
	if c.join == nil {
		c.join = map[string]string{}
	}
	for _, n := range c.nodes {
		b, err := os.ReadFile(filepath.Join(n.DataDir, joinTokensFile))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if r, tok, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
				c.join[r] = tok
			}
		}
		break
	}
	tok := c.join[role]
	c.mu.Unlock()
	if tok != "" {
		return tok
	}
	var out string
	for i, n := range c.Nodes() {
		if !c.live(n) {
			continue
		}
		var err error
		if out, err = c.CLI(t, i, "token", "rotate", role); err == nil {
			tok = strings.TrimSpace(out)
			break
		}
	}
	if tok == "" {
		t.Fatalf("nodetest: no %s join token: init wrote none and token rotate failed: %s", role, out)
	}
	c.mu.Lock()
	c.join[role] = tok
	c.mu.Unlock()
	return tok
}

// get GETs path from node i, following redirects, into out.
func (c *Cluster) get(i int, path string, timeout time.Duration, out any) error {
	hc := c.HTTPClient(timeout)
	resp, err := hc.Get(c.Node(i).Addr + path)
	if err != nil {
		return fmt.Errorf("GET %s from node %d: %w", path, i, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s from node %d: %w", path, i, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s from node %d: %s: %s", path, i, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s from node %d: decode: %w", path, i, err)
	}
	return nil
}

// Status is GET /v1/status of node i.
func (c *Cluster) Status(i int) (api.Status, error) { return c.status(i, httpTimeout) }

func (c *Cluster) status(i int, timeout time.Duration) (api.Status, error) {
	var st api.Status
	err := c.get(i, "/v1/status", timeout, &st)
	return st, err
}

// APINodes is GET /v1/nodes of node i (Nodes lists the harness's nodes).
func (c *Cluster) APINodes(i int) ([]api.Node, error) {
	var nodes []api.Node
	err := c.get(i, "/v1/nodes", httpTimeout, &nodes)
	return nodes, err
}

// Tasks is GET /v1/tasks of node i. The harness remembers the task ids, so
// that cleanup kills their processes.
func (c *Cluster) Tasks(i int) ([]api.Task, error) {
	var tasks []api.Task
	if err := c.get(i, "/v1/tasks", httpTimeout, &tasks); err != nil {
		return nil, err
	}
	c.mu.Lock()
	for _, task := range tasks {
		c.seen[task.ID] = true
	}
	c.mu.Unlock()
	return tasks, nil
}

// Jobs is GET /v1/jobs of node i.
func (c *Cluster) Jobs(i int) ([]api.Job, error) {
	var jobs []api.Job
	err := c.get(i, "/v1/jobs", httpTimeout, &jobs)
	return jobs, err
}

// Submit POSTs a job spec (JSON) to /v1/jobs of node i, following a
// follower's 307 to the leader with the body. While there is no leader
// (503) or the node does not answer, it retries for up to 30 s; any other
// refusal fails the test at once.
func (c *Cluster) Submit(t *testing.T, i int, spec string) api.Job {
	t.Helper()
	var job api.Job
	c.eventually(t, fmt.Sprintf("node %d accepts job %s", i, spec), 30*time.Second, func() (bool, string) {
		hc := c.HTTPClient(httpTimeout)
		req, err := http.NewRequest(http.MethodPost, c.Node(i).Addr+"/v1/jobs", bytes.NewReader([]byte(spec)))
		if err != nil {
			t.Fatalf("nodetest: Submit: %v", err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable:
			return false, fmt.Sprintf("%s: %s", resp.Status, body)
		case resp.StatusCode/100 != 2:
			t.Fatalf("nodetest: POST /v1/jobs to node %d: %s: %s\nspec: %s", i, resp.Status, strings.TrimSpace(string(body)), spec)
		}
		if err := json.Unmarshal(body, &job); err != nil {
			t.Fatalf("nodetest: POST /v1/jobs to node %d: decode %q: %v", i, body, err)
		}
		return true, ""
	})
	return job
}
