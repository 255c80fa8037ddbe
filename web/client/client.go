// Package client is the Go client of clusterd's native /v1 HTTP API, used by
// the CLI. It speaks the api package's wire types, turns error responses into
// *APIError, follows a follower's 307 to the leader (re-sending the body of a
// POST), and reports an unreachable server as *UnreachableError with a hint
// of what to do.
//
// It does no retries and keeps no state beyond the address: a caller that
// wants to wait for something polls.
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clusterd/clusterd/web/api"
)

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// Client calls one clusterd node. It is safe for concurrent use.
type Client struct {
	base string // scheme://host:port, no trailing slash
	hc   *http.Client
}

// New returns a client for addr, a URL such as http://127.0.0.1:5050 or a
// bare host:port (http is assumed).
func New(addr string) *Client {
	return &Client{base: normalize(addr), hc: newHTTPClient()}
}

// NewWithHTTPClient is New with a caller-provided *http.Client (tests, TLS).
// The client must follow redirects (the default CheckRedirect does).
func NewWithHTTPClient(addr string, hc *http.Client) *Client {
	return &Client{base: normalize(addr), hc: hc}
}

func normalize(addr string) string {
	addr = strings.TrimSpace(addr)
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return strings.TrimRight(addr, "/")
}

func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	// No overall Timeout: log streams are long-lived; callers bound requests
	// with their context.
	return &http.Client{Transport: tr}
}

// WithCA returns a client that verifies an https:// node, and the leader it
// redirects to, against the cluster CA (PEM) instead of the system's roots.
// It must be called before WithToken.
func (c *Client) WithCA(caPEM []byte) (*Client, error) {
	if len(caPEM) == 0 {
		return c, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the cluster CA file holds no PEM certificate")
	}
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("WithCA: the HTTP client's transport is a %T, not an *http.Transport", c.hc.Transport)
	}
	tr = tr.Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	hc := *c.hc
	hc.Transport = tr
	return &Client{base: c.base, hc: &hc}, nil
}

// WithToken returns a client that sends token as a bearer token with
// every request, redirects to the leader included (net/http drops the
// Authorization header on a redirect to another host; a follower's 307 to
// the leader is one).
func (c *Client) WithToken(token string) *Client {
	if token == "" {
		return c
	}
	hc := *c.hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &tokenTransport{base: base, token: token}
	return &Client{base: c.base, hc: &hc}
}

type tokenTransport struct {
	base  http.RoundTripper
	token string
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	return t.base.RoundTrip(req)
}

// Addr is the base URL the client calls.
func (c *Client) Addr() string { return c.base }

// APIError is an error response of the server: its HTTP status and the
// message (and offending field, for validation errors) of its api.ErrorBody.
type APIError struct {
	Status  int
	Message string
	Field   string
}

func (e *APIError) Error() string {
	// The server's message may already start with the field name.
	if e.Field != "" && !strings.HasPrefix(e.Message, e.Field+": ") {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// IsNotFound reports whether err is a 404 from the server.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// UnreachableError says the server could not be connected to at all.
type UnreachableError struct {
	Addr string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach clusterd at %s: is it running? (set --addr or CLUSTERD_ADDR)", e.Addr)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Status returns the cluster at a glance.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var s api.Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &s)
	return s, err
}

// Nodes lists the machines of the cluster.
func (c *Client) Nodes(ctx context.Context) ([]api.Node, error) {
	var ns []api.Node
	err := c.do(ctx, http.MethodGet, "/v1/nodes", nil, nil, &ns)
	return ns, err
}

// Jobs lists the jobs of the built-in frameworks.
func (c *Client) Jobs(ctx context.Context) ([]api.Job, error) {
	var js []api.Job
	err := c.do(ctx, http.MethodGet, "/v1/jobs", nil, nil, &js)
	return js, err
}

// SaveSnapshot writes a backup of the cluster's replicated state, taken on
// the leader, to w. It fails unless the whole of it arrived: the server's
// SHA-256 trailer must match what was received.
func (c *Client) SaveSnapshot(ctx context.Context, w io.Writer) (sha string, n int64, err error) {
	resp, err := c.send(ctx, http.MethodGet, "/v1/snapshot", nil, nil)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err = io.Copy(io.MultiWriter(w, h), resp.Body)
	if err != nil {
		return "", n, fmt.Errorf("receive the snapshot (after %d bytes): %w", n, err)
	}
	sha = hex.EncodeToString(h.Sum(nil))
	switch want := resp.Trailer.Get("X-Clusterd-Snapshot-Sha256"); {
	case want == "":
		return sha, n, fmt.Errorf("the snapshot ended without its checksum (after %d bytes): the server failed while sending it; take it again", n)
	case want != sha:
		return sha, n, fmt.Errorf("the snapshot's checksum %s does not match what arrived (%s, %d bytes): take it again", want, sha, n)
	}
	return sha, n, nil
}

// RestoreSnapshot replaces the cluster's replicated state with a backup
// (force: even one of another cluster).
func (c *Client) RestoreSnapshot(ctx context.Context, snapshot []byte, force bool) (api.SnapshotSummary, error) {
	var s api.SnapshotSummary
	q := url.Values{}
	if force {
		q.Set("force", "true")
	}
	err := c.do(ctx, http.MethodPost, "/v1/snapshot", q, snapshot, &s)
	return s, err
}

// Roles lists the allocation roles with their shares and frameworks.
func (c *Client) Roles(ctx context.Context) ([]api.Role, error) {
	var rs []api.Role
	err := c.do(ctx, http.MethodGet, "/v1/roles", nil, nil, &rs)
	return rs, err
}

// Utilization is the leader's utilization history.
func (c *Client) Utilization(ctx context.Context) (api.Utilization, error) {
	var u api.Utilization
	err := c.do(ctx, http.MethodGet, "/v1/utilization", nil, nil, &u)
	return u, err
}

// Job returns one job; a missing one is an *APIError with Status 404.
func (c *Client) Job(ctx context.Context, id string) (api.Job, error) {
	var j api.Job
	err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, nil, &j)
	return j, err
}

// SubmitJob creates or updates a job from a spec.
func (c *Client) SubmitJob(ctx context.Context, spec api.JobSpec) (api.Job, error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return api.Job{}, fmt.Errorf("encode job %s: %w", spec.ID, err)
	}
	return c.SubmitJobJSON(ctx, raw)
}

// SubmitJobJSON posts a job document as-is, so the server's strict decoding
// (unknown fields, trailing data) applies to exactly what the user wrote.
func (c *Client) SubmitJobJSON(ctx context.Context, raw []byte) (api.Job, error) {
	var j api.Job
	err := c.do(ctx, http.MethodPost, "/v1/jobs", nil, raw, &j)
	return j, err
}

// Events streams change notifications (GET /v1/events) until ctx is done or
// the stream breaks; the channel is closed then.
func (c *Client) Events(ctx context.Context) (<-chan api.Event, error) {
	resp, err := c.send(ctx, http.MethodGet, "/v1/events", nil, nil)
	if err != nil {
		return nil, err
	}
	if err := checkStatus(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	out := make(chan api.Event, 1)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev api.Event
			if json.Unmarshal([]byte(data), &ev) != nil {
				continue
			}
			select {
			case <-out: // coalesce
			default:
			}
			out <- ev
		}
	}()
	return out, nil
}

// Leave asks the node at this client's address (not the leader) to leave
// the cluster gracefully and exit.
func (c *Client) Leave(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/agent/leave", nil, nil, nil)
}

// ScaleJob sets a service's instance count, keeping its version.
func (c *Client) ScaleJob(ctx context.Context, id string, instances int) (api.Job, error) {
	var j api.Job
	body, _ := json.Marshal(api.Scale{Instances: &instances})
	err := c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/scale", nil, body, &j)
	return j, err
}

// StartRun starts a run of a batch or cron job now; the job comes back
// with the new run last in Runs.
func (c *Client) StartRun(ctx context.Context, id string) (api.Job, error) {
	var j api.Job
	err := c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/runs", nil, nil, &j)
	return j, err
}

// DeleteJob kills a job's tasks and removes it.
func (c *Client) DeleteJob(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/jobs/"+url.PathEscape(id), nil, nil, nil)
}

// Tasks lists tasks matching the filter.
func (c *Client) Tasks(ctx context.Context, f api.TaskFilter) ([]api.Task, error) {
	q := url.Values{}
	if f.Job != "" {
		q.Set("job", f.Job)
	}
	if f.Node != "" {
		q.Set("node", f.Node)
	}
	if f.State != "" {
		q.Set("state", f.State)
	}
	if f.Active {
		q.Set("active", "true")
	}
	var ts []api.Task
	err := c.do(ctx, http.MethodGet, "/v1/tasks", q, nil, &ts)
	return ts, err
}

// Task returns one task; a missing one is an *APIError with Status 404.
func (c *Client) Task(ctx context.Context, id string) (api.Task, error) {
	var t api.Task
	err := c.do(ctx, http.MethodGet, "/v1/tasks/"+url.PathEscape(id), nil, nil, &t)
	return t, err
}

// KillTask asks for a task to be killed; it returns once the request is
// committed, not when the task has stopped.
func (c *Client) KillTask(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/v1/tasks/"+url.PathEscape(id)+"/kill", nil, nil, nil)
}

// TaskLog copies a task's "stdout" or "stderr" to w. With follow it keeps
// copying until the server ends the stream or ctx is cancelled (which is
// returned as ctx.Err()).
func (c *Client) TaskLog(ctx context.Context, id, stream string, follow bool, w io.Writer) error {
	q := url.Values{"stream": {stream}, "follow": {strconv.FormatBool(follow)}}
	resp, err := c.send(ctx, http.MethodGet, "/v1/tasks/"+url.PathEscape(id)+"/logs", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("read log of task %s: %w", id, err)
	}
	return nil
}

// do sends a request and decodes a 2xx JSON answer into out (unless out is
// nil or the body is empty).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	resp, err := c.send(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// send builds and sends a request. A body is given as a byte slice so that
// http.NewRequest sets GetBody and a 307/308 redirect re-sends it.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body []byte) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if isDialError(err) {
			return nil, &UnreachableError{Addr: c.base, Err: err}
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp, nil
}

// isDialError reports whether err happened before any byte reached a server:
// connection refused, no route, unknown host, dial timeout.
func isDialError(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

// checkStatus turns a non-2xx response into an *APIError, from its
// api.ErrorBody when it has one.
func checkStatus(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &APIError{Status: resp.StatusCode}
	var eb api.ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
		e.Message, e.Field = eb.Error, eb.Field
		return e
	}
	msg := strings.TrimSpace(string(data))
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Message = fmt.Sprintf("%s (HTTP %d)", msg, resp.StatusCode)
	return e
}

// Autoscale is the leader's autoscaler: its groups and last decisions.
func (c *Client) Autoscale(ctx context.Context) (api.AutoscaleStatus, error) {
	var st api.AutoscaleStatus
	err := c.do(ctx, http.MethodGet, "/v1/autoscale", nil, nil, &st)
	return st, err
}
