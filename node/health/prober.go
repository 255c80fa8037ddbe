package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Target is what a task's checks probe.
type Target struct {
	// TaskID names the task to the Execer (Monitor.Start sets it).
	TaskID string
	// Host is the address the task listens on as the agent reaches it; ""
	// means 127.0.0.1.
	Host string
	// Ports are the task's ports in order: Ports[i] is its $PORTi.
	Ports []int
}

func (t Target) host() string {
	if t.Host == "" {
		return "127.0.0.1"
	}
	return t.Host
}

// Prober runs one probe of one check: nil means it passed, an error says
// what failed.
//
// The trap: Probe must return soon after ctx is done. The Monitor cancels
// ctx at the check's Timeout (and at Stop and Close) and never starts the
// task's next probe while one still runs, so a probe that ignores ctx stops
// that task's checks and holds a worker, and Close waits for it.
type Prober interface {
	Probe(ctx context.Context, c Check, t Target) error
}

// ProberFunc adapts a function to Prober.
type ProberFunc func(ctx context.Context, c Check, t Target) error

// Probe calls f.
func (f ProberFunc) Probe(ctx context.Context, c Check, t Target) error { return f(ctx, c, t) }

// Execer runs a COMMAND check's command inside a task's isolation: as the
// task's user, in its sandbox, with its environment and its limits. The
// health package never runs a command on the host itself.
//
// Exec returns the command's exit code and a bounded part of its output
// (its tail: the reason is usually at the end), or an error when the
// command could not be run or ctx ended before it exited (the command is
// then killed). It must return soon after ctx is done, as Probe must.
type Execer interface {
	Exec(ctx context.Context, taskID, command string) (exitCode int, output string, err error)
}

// ExecerFunc adapts a function to Execer.
type ExecerFunc func(ctx context.Context, taskID, command string) (int, string, error)

// Exec calls f.
func (f ExecerFunc) Exec(ctx context.Context, taskID, command string) (int, string, error) {
	return f(ctx, taskID, command)
}

const (
	// maxBodyRead bounds how much of a response body a probe reads before
	// closing the connection.
	maxBodyRead = 4 << 10
	// maxDetail bounds the part of a body or of a command's output quoted
	// in a failure's message.
	maxDetail = 512
)

// NetProber is the real Prober: HTTP(S) with net/http, TCP with net.Dialer,
// both to Target.Host, and COMMAND through Execer. The zero value probes
// HTTP(S) and TCP; COMMAND checks fail until Execer is set.
//
// Every probe is bounded by the check's Timeout on the system clock as well
// as by ctx. HTTP probes follow no redirect, use no proxy and no keep-alive
// (a fresh connection each time, closed after it), read at most 4 KiB of
// the body and do not verify an HTTPS certificate. Informational 1xx
// responses are consumed by net/http: the final status decides (Marathon's
// ignoreHttp1xx is therefore always on).
type NetProber struct {
	Execer Execer

	once   sync.Once
	client *http.Client
}

// Probe runs one probe of c against t.
func (p *NetProber) Probe(ctx context.Context, c Check, t Target) error {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	switch c.Protocol {
	case ProtocolHTTP, ProtocolHTTPS:
		return p.probeHTTP(ctx, c, t)
	case ProtocolTCP:
		return p.probeTCP(ctx, c, t)
	case ProtocolCommand:
		return p.probeCommand(ctx, c, t)
	}
	return fmt.Errorf("health check protocol %q is unknown: give HTTP, HTTPS, TCP or COMMAND", c.Protocol)
}

func (p *NetProber) httpClient() *http.Client {
	p.once.Do(func() {
		dialer := &net.Dialer{}
		p.client = &http.Client{
			Transport: &http.Transport{
				Proxy:                  nil, // the task is on this node: never through a proxy
				DialContext:            dialer.DialContext,
				TLSClientConfig:        &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // Marathon's HTTPS checks do not verify certificates either
				DisableKeepAlives:      true,
				DisableCompression:     true,
				MaxResponseHeaderBytes: 64 << 10,
			},
			// A 3xx is a verdict (healthy), not a place to go.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
	return p.client
}

func (p *NetProber) probeHTTP(ctx context.Context, c Check, t Target) error {
	port, err := c.PortFor(t)
	if err != nil {
		return err
	}
	scheme := "http"
	if c.Protocol == ProtocolHTTPS {
		scheme = "https"
	}
	u := scheme + "://" + net.JoinHostPort(t.host(), strconv.Itoa(port)) + c.path()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	req.Header.Set("User-Agent", "clusterd-health-check")
	resp, err := p.httpClient().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("GET %s: %w", u, ctxErr(ctx, c, err))
	}
	defer resp.Body.Close()
	// Read a little of the body (bounded in size, and in time by ctx), so
	// the task sees a complete exchange; a failure quotes its start.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
	if resp.StatusCode >= 200 && resp.StatusCode <= 399 {
		return nil
	}
	msg := fmt.Sprintf("GET %s: status %s, not 200-399", u, resp.Status)
	if d := detail(string(body)); d != "" {
		msg += ": " + d
	}
	return errors.New(msg)
}

func (p *NetProber) probeTCP(ctx context.Context, c Check, t Target) error {
	port, err := c.PortFor(t)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(t.host(), strconv.Itoa(port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("TCP connect to %s: %w", addr, ctxErr(ctx, c, err))
	}
	return conn.Close()
}

func (p *NetProber) probeCommand(ctx context.Context, c Check, t Target) error {
	if p.Execer == nil {
		return errors.New("COMMAND health check: no Execer is configured to run it in the task's sandbox")
	}
	code, out, err := p.Execer.Exec(ctx, t.TaskID, c.Command)
	if err != nil {
		return fmt.Errorf("command %q: %w", truncate(c.Command, 60), ctxErr(ctx, c, err))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("command %q: %w", truncate(c.Command, 60), ctxErr(ctx, c, ctx.Err()))
	}
	if code != 0 {
		msg := fmt.Sprintf("command %q exited with code %d", truncate(c.Command, 60), code)
		if d := detailTail(out); d != "" {
			msg += ": " + d
		}
		return errors.New(msg)
	}
	return nil
}

// ctxErr says "no answer within 20s" instead of a bare deadline error when
// the probe's time ran out.
func ctxErr(ctx context.Context, c Check, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("no answer within the timeout of %v", c.Timeout)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("probe canceled: %w", err)
	}
	return err
}

// detail is the start of s, trimmed and bounded, for a message.
func detail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxDetail {
		s = s[:maxDetail] + "..."
	}
	return s
}

// detailTail is the end of s, trimmed and bounded, for a message.
func detailTail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxDetail {
		s = "..." + s[len(s)-maxDetail:]
	}
	return s
}
