package health_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/health"
	"github.com/clusterd/clusterd/node/health/healthtest"
)

// serve starts a server on loopback and returns the target reaching it
// (its port is PORT0).
func serve(t *testing.T, tls bool, h http.HandlerFunc) health.Target {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return targetOf(t, srv.Listener.Addr())
}

func targetOf(t *testing.T, addr net.Addr) health.Target {
	t.Helper()
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return health.Target{TaskID: "web.1", Host: host, Ports: []int{p}}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) health.Target {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := targetOf(t, l.Addr())
	l.Close()
	return tg
}

func probe(c health.Check, tg health.Target) error {
	var p health.NetProber
	return p.Probe(context.Background(), c, tg)
}

func httpCheck(timeout time.Duration) health.Check {
	c := health.DefaultCheck()
	c.Path, c.Timeout = "/health?verbose=1", timeout
	return c
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("probe passed, want a failure saying %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q should contain %q", err, p)
		}
	}
}

func TestHTTPCheckPassesOnStatus200AndGetsThePathWithoutKeepAlive(t *testing.T) {
	var got atomic.Value
	tg := serve(t, false, func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Method + " " + r.URL.RequestURI() + " close=" + strconv.FormatBool(r.Close))
		w.Write([]byte("ok"))
	})
	if err := probe(httpCheck(5*s), tg); err != nil {
		t.Fatalf("probe of a server answering 200: %v", err)
	}
	if g := got.Load(); g != "GET /health?verbose=1 close=true" {
		t.Fatalf("server got %v, want GET of the check's path with Connection: close", g)
	}
}

func TestHTTPCheckFailsOnStatus500QuotingTheBody(t *testing.T) {
	tg := serve(t, false, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database unreachable", http.StatusInternalServerError)
	})
	wantErr(t, probe(httpCheck(5*s), tg), "status 500 Internal Server Error", "database unreachable", "/health")
}

func TestHTTPCheckPassesOnARedirectWithoutFollowingIt(t *testing.T) {
	var followed atomic.Bool
	tg := serve(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Store(true)
			http.Error(w, "not here", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	if err := probe(httpCheck(5*s), tg); err != nil {
		t.Fatalf("probe of a server answering 302: %v", err)
	}
	if followed.Load() {
		t.Fatal("the probe followed the redirect")
	}
}

func TestHTTPSCheckDoesNotVerifyTheCertificate(t *testing.T) {
	tg := serve(t, true, func(w http.ResponseWriter, r *http.Request) {}) // self-signed
	c := httpCheck(5 * s)
	c.Protocol = health.ProtocolHTTPS
	if err := probe(c, tg); err != nil {
		t.Fatalf("HTTPS probe of a server with a self-signed certificate: %v", err)
	}
	c.Protocol = health.ProtocolHTTP
	if err := probe(c, tg); err == nil {
		t.Fatal("an HTTP probe of a TLS server passed")
	}
}

func TestHTTPCheckFailsWhenTheConnectionIsRefused(t *testing.T) {
	wantErr(t, probe(httpCheck(5*s), closedPort(t)), "GET http://127.0.0.1:", "connection refused")
}

func TestHTTPCheckOfAServerThatHangsTimesOut(t *testing.T) {
	release := make(chan struct{})
	tg := serve(t, false, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release) // before the server's Close, which waits for handlers
	begin := time.Now()
	wantErr(t, probe(httpCheck(200*time.Millisecond), tg), "no answer within the timeout of 200ms")
	if took := time.Since(begin); took > 2*s {
		t.Fatalf("the probe took %v with a 200ms timeout", took)
	}
}

func TestHTTPCheckReadsOnlyABoundedPartOfAnEndlessBody(t *testing.T) {
	tg := serve(t, false, func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	begin := time.Now()
	if err := probe(httpCheck(5*s), tg); err != nil {
		t.Fatalf("probe of a 200 with an endless body: %v", err)
	}
	if took := time.Since(begin); took > 2*s {
		t.Fatalf("the probe took %v: it read the endless body", took)
	}
}

func TestTCPCheckPassesWhenAConnectionOpensAndFailsWhenRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if conn, err := l.Accept(); err == nil {
			conn.Close()
			accepted <- struct{}{}
		}
	}()
	c := health.DefaultCheck()
	c.Protocol, c.Timeout = health.ProtocolTCP, 5*s
	if err := probe(c, targetOf(t, l.Addr())); err != nil {
		t.Fatalf("TCP probe of a listener: %v", err)
	}
	select {
	case <-accepted:
	case <-time.After(healthtest.WaitLimit):
		t.Fatal("the listener saw no connection")
	}
	wantErr(t, probe(c, closedPort(t)), "TCP connect to 127.0.0.1:", "connection refused")
}

// execer answers COMMAND checks as given and records what it ran.
type execer struct {
	code int
	out  string
	err  error
	hang bool
	ran  atomic.Value
}

func (e *execer) Exec(ctx context.Context, taskID, command string) (int, string, error) {
	e.ran.Store(taskID + ": " + command)
	if e.hang {
		<-ctx.Done()
		return -1, "", ctx.Err()
	}
	return e.code, e.out, e.err
}

func commandCheck() health.Check {
	c := health.DefaultCheck()
	c.Protocol, c.Command, c.Timeout = health.ProtocolCommand, "test -f /tmp/ready", 5*s
	return c
}

func TestCommandCheckPassesOnExitCodeZeroInTheTasksSandbox(t *testing.T) {
	e := &execer{}
	p := health.NetProber{Execer: e}
	if err := p.Probe(context.Background(), commandCheck(), health.Target{TaskID: "web.1"}); err != nil {
		t.Fatalf("command exiting 0: %v", err)
	}
	if ran := e.ran.Load(); ran != "web.1: test -f /tmp/ready" {
		t.Fatalf("Execer ran %v, want the check's command for web.1", ran)
	}
}

func TestCommandCheckFailsOnANonZeroExitCodeQuotingTheOutput(t *testing.T) {
	p := health.NetProber{Execer: &execer{code: 1, out: "lots of noise\nnot ready: migrations pending\n"}}
	wantErr(t, p.Probe(context.Background(), commandCheck(), health.Target{TaskID: "web.1"}), "exited with code 1", "not ready: migrations pending")
}

func TestCommandCheckFailsWithTheExecersError(t *testing.T) {
	p := health.NetProber{Execer: &execer{err: errors.New("task web.1 is not running")}}
	wantErr(t, p.Probe(context.Background(), commandCheck(), health.Target{TaskID: "web.1"}), `command "test -f /tmp/ready"`, "task web.1 is not running")
}

func TestCommandCheckOfACommandThatHangsTimesOut(t *testing.T) {
	p := health.NetProber{Execer: &execer{hang: true}}
	c := commandCheck()
	c.Timeout = 100 * time.Millisecond
	wantErr(t, p.Probe(context.Background(), c, health.Target{TaskID: "web.1"}), "no answer within the timeout of 100ms")
}

func TestCommandCheckWithoutAnExecerFailsSayingSo(t *testing.T) {
	var p health.NetProber
	wantErr(t, p.Probe(context.Background(), commandCheck(), health.Target{TaskID: "web.1"}), "no Execer")
}

func TestMonitorWithTheRealProberReportsAServerGoingBad(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	tg := serve(t, false, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) })
	m := health.NewMonitor(health.Config{}) // the system clock and the real prober
	defer m.Close()
	c := httpCheck(time.Second)
	c.Interval, c.GracePeriod, c.MaxConsecutiveFailures = 20*time.Millisecond, 0, 2
	if err := m.Start("web.1", []health.Check{c}, tg, time.Now()); err != nil {
		t.Fatal(err)
	}
	next := func() health.Change {
		t.Helper()
		select {
		case ch := <-m.Changes():
			return ch
		case <-time.After(healthtest.WaitLimit):
			t.Fatal("no change")
		}
		return health.Change{}
	}
	if ch := next(); !ch.Healthy {
		t.Fatalf("first change %+v, want healthy", ch)
	}
	status.Store(http.StatusServiceUnavailable)
	if ch := next(); ch.Healthy || ch.Unhealthy || ch.ConsecutiveFailures != 1 || !strings.Contains(ch.Message, "status 503") {
		t.Fatalf("change %+v, want a first failure quoting status 503", ch)
	}
	if ch := next(); !ch.Unhealthy || ch.ConsecutiveFailures != 2 {
		t.Fatalf("change %+v, want unhealthy after 2 failures", ch)
	}
}
