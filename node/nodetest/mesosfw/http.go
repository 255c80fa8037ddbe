package mesosfw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds an HTTP exchange whose context has no deadline, and
// the wait for the first event of a stream.
const DefaultTimeout = 30 * time.Second

// MaxRedirects bounds how many 307 hops one request follows.
const MaxRedirects = 8

const (
	schedulerPath = "/api/v1/scheduler"
	operatorPath  = "/api/v1"
	jsonType      = "application/json"
)

// Response is a non-streaming HTTP answer.
type Response struct {
	Status    int         // final status code
	Header    http.Header // final response headers
	Body      []byte      // final body (at most MaxRecordSize bytes)
	URL       string      // URL that gave the final answer
	Redirects []string    // Location headers followed, in order
}

// JSON decodes the body, which must be one JSON object.
func (r *Response) JSON() (map[string]any, error) {
	if len(bytes.TrimSpace(r.Body)) == 0 {
		return nil, fmt.Errorf("%s: status %d with an empty body, want a JSON object", r.URL, r.Status)
	}
	obj, err := decodeObject(r.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: status %d body is not a JSON object: %v (body %q)", r.URL, r.Status, err, clip(r.Body, 300))
	}
	return obj, nil
}

func (r *Response) reqURL() *url.URL {
	u, err := url.Parse(r.URL)
	if err != nil {
		return &url.URL{}
	}
	return u
}

// Expect returns nil if the status is one of codes, else an error quoting
// the body.
func (r *Response) Expect(codes ...int) error {
	for _, c := range codes {
		if r.Status == c {
			return nil
		}
	}
	return &StatusError{URL: r.URL, Status: r.Status, Header: r.Header, Body: r.Body, Want: codes}
}

// StatusError is an unexpected HTTP status. Subscribe, OperatorCall,
// GetJSON and friends return it so a bad-input test can check the code.
type StatusError struct {
	URL    string
	Status int
	Header http.Header
	Body   []byte
	Want   []int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: HTTP status %d, want %v; body %q", e.URL, e.Status, e.Want, clip(e.Body, 300))
}

// CallOption adjusts one request (a scheduler call, a SUBSCRIBE, an operator
// call); they exist chiefly so tests can send deliberately bad requests.
type CallOption func(*reqOpts)

type reqOpts struct {
	streamID      *string // nil: default; "": omit header
	noFrameworkID bool
	contentType   string
	accept        string
	raw           []byte
	rawSet        bool
	header        http.Header
	noRedirect    bool
	transport     http.RoundTripper
	authorization string
}

// WithStreamID sends id as Mesos-Stream-Id instead of the stream's own.
func WithStreamID(id string) CallOption {
	return func(o *reqOpts) { o.streamID = &id }
}

// WithoutStreamID sends no Mesos-Stream-Id header.
func WithoutStreamID() CallOption {
	return func(o *reqOpts) { empty := ""; o.streamID = &empty }
}

// WithoutFrameworkID stops Scheduler.Call adding "framework_id".
func WithoutFrameworkID() CallOption {
	return func(o *reqOpts) { o.noFrameworkID = true }
}

// WithContentType replaces the Content-Type (default application/json).
func WithContentType(ct string) CallOption {
	return func(o *reqOpts) { o.contentType = ct }
}

// WithAccept replaces the Accept header (default application/json).
func WithAccept(a string) CallOption {
	return func(o *reqOpts) { o.accept = a }
}

// WithRawBody sends body verbatim instead of the JSON of the call map
// (Scheduler.Call then adds no framework_id).
func WithRawBody(body []byte) CallOption {
	return func(o *reqOpts) { o.raw = body; o.rawSet = true }
}

// WithHeader adds a request header.
func WithHeader(key, value string) CallOption {
	return func(o *reqOpts) {
		if o.header == nil {
			o.header = http.Header{}
		}
		o.header.Add(key, value)
	}
}

// WithBearer authenticates the request with an API token, the way a
// framework given a clusterd token does. A Scheduler subscribed with it
// sends it on every call.
func WithBearer(token string) CallOption {
	return func(o *reqOpts) { o.authorization = "Bearer " + token }
}

// WithBasicAuth authenticates the request the Mesos way, with a principal
// and a secret. A Scheduler subscribed with it sends it on every call.
func WithBasicAuth(principal, secret string) CallOption {
	return func(o *reqOpts) {
		o.authorization = "Basic " + base64.StdEncoding.EncodeToString([]byte(principal+":"+secret))
	}
}

// NoRedirect returns a 307 as the response instead of following it.
func NoRedirect() CallOption {
	return func(o *reqOpts) { o.noRedirect = true }
}

// WithTransport uses rt (e.g. for TLS) instead of a private plain
// transport. The caller then owns rt's idle connections.
func WithTransport(rt http.RoundTripper) CallOption {
	return func(o *reqOpts) { o.transport = rt }
}

func collect(opts []CallOption) *reqOpts {
	o := &reqOpts{}
	for _, f := range opts {
		f(o)
	}
	return o
}

// newTransport returns a private HTTP/1.1 transport without keep-alives, so
// every request has its own connection (the subscription connection is
// never shared with calls, as the scheduler API requires) and nothing idles
// after a request completes. Compression is off so the client sends exactly
// the headers the tests expect.
func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableKeepAlives:     true,
		DisableCompression:    true,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: DefaultTimeout,
	}
}

// roundTripper returns the transport to use and what to call when done.
// Requests go straight to RoundTrip, not through http.Client: the client
// would refuse a bare "host:port" Location (as the scheduler API docs show)
// before any redirect policy runs, and redirects are followed by hand in do
// so that POST bodies are re-sent and hops are recorded.
func (o *reqOpts) roundTripper() (http.RoundTripper, func()) {
	if o.transport != nil {
		return o.transport, func() {}
	}
	t := newTransport()
	return t, t.CloseIdleConnections
}

// ResolveLocation resolves a Location header against the URL of the request
// that received it. Mesos masters send scheme-relative locations
// ("//host:port/path"); the scheduler API docs also show a bare
// "host:port". Absolute http(s) URLs, scheme-relative and path-absolute
// references and bare host[:port][/path] are accepted; when the Location
// carries no path (as /master/redirect's "//host:port" does) the request's
// path is kept.
func ResolveLocation(requestURL, location string) (string, error) {
	base, err := url.Parse(requestURL)
	if err != nil {
		return "", err
	}
	loc := strings.TrimSpace(location)
	if loc == "" {
		return "", fmt.Errorf("empty Location")
	}
	var u *url.URL
	switch {
	case strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://"):
		u, err = url.Parse(loc)
	case strings.HasPrefix(loc, "//"):
		u, err = url.Parse(base.Scheme + ":" + loc)
	case strings.HasPrefix(loc, "/"):
		u, err = base.Parse(loc)
	default:
		u, err = url.Parse(base.Scheme + "://" + loc)
	}
	if err != nil {
		return "", fmt.Errorf("bad Location %q: %v", location, err)
	}
	if u.Host == "" {
		return "", fmt.Errorf("Location %q names no host", location)
	}
	if u.Path == "" {
		u.Path = base.Path
		u.RawPath = base.RawPath
		if u.RawQuery == "" {
			u.RawQuery = base.RawQuery
		}
	}
	return u.String(), nil
}

// do sends method to rawURL with body, following 307/308 unless told not
// to. It returns the final response with its body still open, plus the
// hops followed. A non-nil response's body must be closed by the caller.
func do(ctx context.Context, rt http.RoundTripper, method, rawURL string, body []byte, hdr http.Header, follow bool) (*http.Response, []string, error) {
	var hops []string
	cur := rawURL
	for {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, cur, rd)
		if err != nil {
			return nil, hops, err
		}
		for k, vs := range hdr {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return nil, hops, fmt.Errorf("%s %s: %w", method, cur, err)
		}
		resp.Request = req // what the callers read the final URL from
		if !follow || (resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusPermanentRedirect) {
			return resp, hops, nil
		}
		loc := resp.Header.Get("Location")
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if len(hops) >= MaxRedirects {
			return nil, hops, fmt.Errorf("%s %s: more than %d redirects (%v)", method, rawURL, MaxRedirects, hops)
		}
		next, err := ResolveLocation(cur, loc)
		if err != nil {
			return nil, hops, fmt.Errorf("%s %s: %d redirect: %w", method, cur, resp.StatusCode, err)
		}
		hops = append(hops, loc)
		cur = next
	}
}

// exchange does a whole non-streaming request and reads the body.
func exchange(ctx context.Context, method, rawURL string, body []byte, hdr http.Header, o *reqOpts) (*Response, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	rt, cleanup := o.roundTripper()
	defer cleanup()
	resp, hops, err := do(ctx, rt, method, rawURL, body, hdr, !o.noRedirect)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading body: %w", method, resp.Request.URL, err)
	}
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("%s %s: body exceeds %d bytes", method, resp.Request.URL, MaxRecordSize)
	}
	return &Response{
		Status:    resp.StatusCode,
		Header:    resp.Header,
		Body:      b,
		URL:       resp.Request.URL.String(),
		Redirects: hops,
	}, nil
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// requestBody encodes call unless a raw body was given.
func (o *reqOpts) requestBody(call map[string]any) ([]byte, error) {
	if o.rawSet {
		return o.raw, nil
	}
	b, err := json.Marshal(call)
	if err != nil {
		return nil, fmt.Errorf("encoding call: %w", err)
	}
	return b, nil
}

// postHeaders are the headers of a JSON POST, with the options applied.
func (o *reqOpts) postHeaders(streamID string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", jsonType)
	if o.contentType != "" {
		h.Set("Content-Type", o.contentType)
	}
	h.Set("Accept", jsonType)
	if o.accept != "" {
		h.Set("Accept", o.accept)
	}
	if o.streamID != nil {
		streamID = *o.streamID
	}
	if streamID != "" {
		h.Set("Mesos-Stream-Id", streamID)
	}
	o.addAuthorization(h)
	for k, vs := range o.header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return h
}

func (o *reqOpts) addAuthorization(h http.Header) {
	if o.authorization != "" {
		h.Set("Authorization", o.authorization)
	}
}

func isJSONContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == jsonType
}

// baseOf strips suffix from u's path and returns scheme://host[/prefix].
func baseOf(u *url.URL, suffix string) string {
	b := *u
	b.RawQuery, b.Fragment, b.RawPath = "", "", ""
	b.Path = strings.TrimSuffix(strings.TrimSuffix(b.Path, "/"), suffix)
	return strings.TrimSuffix(b.String(), "/")
}

func joinURL(base, path string) string {
	return strings.TrimSuffix(base, "/") + path
}
