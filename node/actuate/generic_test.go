package actuate

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var decision = Decision{Group: "burst", Kind: KindTerminate, Count: 2, Reason: "drained: no tasks left",
	Hosts: []Host{{ID: "id1", Name: "auto-1"}, {ID: "id2", Name: "auto-2"}}, At: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), Size: 3, Cluster: "c1"}

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "act.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func newCommand(t *testing.T, argv []string, timeout time.Duration) Actuator {
	t.Helper()
	a, err := New(context.Background(), Config{Type: "command", Command: argv, Timeout: Duration(timeout)}, "burst")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCommandGetsTheDecisionOnStdinAndInItsEnvironment(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	a := newCommand(t, []string{script(t, `cat >"$1.json"; echo "$CLUSTERD_AUTOSCALE_GROUP|$CLUSTERD_AUTOSCALE_KIND|$CLUSTERD_AUTOSCALE_COUNT|$CLUSTERD_AUTOSCALE_HOSTS" >"$1"`), out}, 10*time.Second)
	if err := a.Act(context.Background(), decision); err != nil {
		t.Fatal(err)
	}
	env, _ := os.ReadFile(out)
	if got := strings.TrimSpace(string(env)); got != "burst|terminate|2|auto-1 auto-2" {
		t.Fatalf("environment %q", got)
	}
	var got Decision
	b, _ := os.ReadFile(out + ".json")
	if err := json.Unmarshal(b, &got); err != nil || got.Reason != decision.Reason || len(got.Hosts) != 2 || got.Hosts[1].Name != "auto-2" || !got.At.Equal(decision.At) {
		t.Fatalf("stdin %s (%v)", b, err)
	}
}

func TestCommandFailureCarriesItsStderrAndATimeoutKillsWhatItStarted(t *testing.T) {
	a := newCommand(t, []string{script(t, "echo 'no capacity in eu-west-1a' >&2; exit 3")}, 10*time.Second)
	if err := a.Act(context.Background(), decision); err == nil || !strings.Contains(err.Error(), "status 3") || !strings.Contains(err.Error(), "no capacity in eu-west-1a") {
		t.Fatalf("err %v, want the exit status and the stderr", err)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	a = newCommand(t, []string{script(t, `sleep 30 & echo $! >"$1"; wait`), pidFile}, 300*time.Millisecond)
	start := time.Now()
	err := a.Act(context.Background(), decision)
	if err == nil || !strings.Contains(err.Error(), "timeout") || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %v, want a timeout well before the sleep ends", err, time.Since(start))
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for pid > 0 && running(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pid <= 0 || running(pid) {
		t.Fatalf("the command's child %d still runs after the timeout", pid)
	}

	// Only the end of a long stderr is kept, and the caller's own
	// cancellation is not called a timeout.
	a = newCommand(t, []string{script(t, `i=0; while [ $i -lt 500 ]; do echo "noise line $i" >&2; i=$((i+1)); done; echo 'the real reason' >&2; exit 1`)}, 10*time.Second)
	err = a.Act(context.Background(), decision)
	if err == nil || !strings.Contains(err.Error(), "the real reason") || strings.Contains(err.Error(), "noise line 0\n") || len(err.Error()) > stderrTail+200 {
		t.Fatalf("a long stderr: %d bytes of error, want its last %d bytes ending in the reason", len(err.Error()), stderrTail)
	}
	a = newCommand(t, []string{script(t, "sleep 30")}, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := a.Act(ctx, decision); err == nil || strings.Contains(err.Error(), "timeout of") || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("cancelled by the caller: %v", err)
	}
}

// running: the process exists and is not a zombie (a killed process whose
// parent died stays one until PID 1 reaps it, which some inits do late or
// never).
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if os.IsNotExist(err) {
		return false
	}
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// The state follows the command name, which is in parentheses.
	rest := b[bytes.LastIndexByte(b, ')')+1:]
	f := strings.Fields(string(rest))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	tb := &tailBuffer{max: 8}
	for _, w := range []string{"abc", "defgh", "ij", "0123456789xyz", "!"} {
		tb.Write([]byte(w))
	}
	if got := string(tb.Bytes()); got != "6789xyz!" {
		t.Fatalf("tail %q", got)
	}
}

func TestWebhookPostsTheDecisionAndRetriesOnlyWhatMaySucceed(t *testing.T) {
	var calls atomic.Int32
	var status atomic.Int32
	var failAll atomic.Bool
	status.Store(503)
	var got Decision
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "bad request shape", 400)
			return
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &got)
		if n < 3 || failAll.Load() {
			w.WriteHeader(int(status.Load()))
			return
		}
		w.WriteHeader(204)
	}))
	t.Cleanup(srv.Close)
	a, err := New(context.Background(), Config{Type: "webhook", URL: srv.URL, Headers: map[string]string{"Authorization": "Bearer s3cret"}}, "burst")
	if err != nil {
		t.Fatal(err)
	}
	a.(*webhookActuator).backoff = time.Millisecond
	if err := a.Act(context.Background(), decision); err != nil {
		t.Fatalf("503, 503, 204: %v", err)
	}
	if calls.Load() != 3 || got.Group != "burst" || got.Count != 2 {
		t.Fatalf("%d calls, body %+v", calls.Load(), got)
	}
	// 429 is retried too, as is a webhook that is not listening.
	status.Store(429)
	calls.Store(0)
	if err := a.Act(context.Background(), decision); err != nil || calls.Load() != 3 {
		t.Fatalf("429, 429, 204: %v after %d calls", err, calls.Load())
	}
	status.Store(500)
	failAll.Store(true)
	calls.Store(0)
	if err := a.Act(context.Background(), decision); err == nil || !strings.Contains(err.Error(), "500") || calls.Load() != 3 {
		t.Fatalf("500 every time: %v after %d calls, want 3 and the status", err, calls.Load())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close() // a connection error for the client
		}
	}()
	t.Cleanup(func() { l.Close() })
	down, _ := New(context.Background(), Config{Type: "webhook", URL: "http://user:pw@" + l.Addr().String() + "/scale"}, "burst")
	down.(*webhookActuator).backoff = time.Millisecond
	if err := down.Act(context.Background(), decision); err == nil || accepted.Load() != 3 || strings.Contains(err.Error(), "pw") {
		t.Fatalf("connection closed every time: %v after %d connections, want 3 and no password", err, accepted.Load())
	}
	if s := down.String(); strings.Contains(s, "pw") || !strings.Contains(s, l.Addr().String()+"/scale") {
		t.Fatalf("String() = %q, want the URL without its password", s)
	}

	// A 4xx other than 429 is final, with the status and what it said.
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "group burst unknown", http.StatusNotFound)
	}))
	t.Cleanup(srv2.Close)
	a, _ = New(context.Background(), Config{Type: "webhook", URL: srv2.URL}, "burst")
	calls.Store(0)
	if err := a.Act(context.Background(), decision); err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "group burst unknown") || calls.Load() != 1 {
		t.Fatalf("404: err %v after %d calls, want one call and the answer in the error", err, calls.Load())
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	for c, want := range map[*Config]string{
		{}:                                   "type: missing",
		{Type: "teleport"}:                   `type "teleport"`,
		{Type: "command"}:                    "command",
		{Type: "webhook", URL: "ftp://x"}:    "url",
		{Type: "aws", Endpoint: "localhost"}: "endpoint",
		{Type: "aws", MaxAttempts: -1}:       "max_attempts",
	} {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want an error naming %q", *c, err, want)
		}
	}
	var c Config
	if err := json.Unmarshal([]byte(`{"type":"command","command":["x"],"timeout":"90s"}`), &c); err != nil || time.Duration(c.Timeout) != 90*time.Second {
		t.Fatalf("timeout: %v %v", c.Timeout, err)
	}
	if err := json.Unmarshal([]byte(`{"timeout":"soon"}`), &c); err == nil {
		t.Fatal(`timeout "soon" decoded`)
	}
}
