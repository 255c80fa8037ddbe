package web

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// slowServer serves a sample cluster with short body timeouts.
func slowServer(t *testing.T, stall, total time.Duration) string {
	t.Helper()
	fb := newFakeBackend()
	sampleCluster(fb)
	cfg := Config{Backend: fb}
	s := newServer(cfg)
	s.bodyStall, s.bodyTotal = stall, total
	srv := httptest.NewServer(s.handler(cfg))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// sendSlowly writes the headers of a POST announcing a 1 KiB body, then
// one byte of it every gap, until the server answers or closes, and
// returns how long that took and the status line ("" if it only closed).
func sendSlowly(t *testing.T, addr string, gap time.Duration) (time.Duration, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetDeadline(start.Add(10 * time.Second)) // the test's own bound
	if _, err := io.WriteString(c, "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1024\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	answered := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(c).ReadString('\n')
		answered <- strings.TrimSpace(line)
	}()
	for i := 0; i < 1000; i++ {
		select {
		case line := <-answered:
			return time.Since(start), line
		case <-time.After(gap):
		}
		if gap > 0 {
			if _, err := io.WriteString(c, " "); err != nil {
				return time.Since(start), <-answered
			}
		}
	}
	t.Fatal("the server kept reading a trickled body for 1,000 bytes")
	return 0, ""
}

func TestABodyThatStallsIsCutOff(t *testing.T) {
	addr := slowServer(t, 300*time.Millisecond, time.Minute)
	took, line := sendSlowly(t, addr, 5*time.Second)
	if took > 3*time.Second {
		t.Errorf("a stalled body held the connection for %v; want it cut after the 300ms stall limit", took)
	}
	if !strings.Contains(line, "408") {
		t.Errorf("answer to a stalled body: %q; want 408 Request Timeout", line)
	}
	t.Logf("stalled body: cut after %v, answer %q", took.Round(time.Millisecond), line)
}

func TestABodyTrickledSlowerThanTheTotalLimitIsCutOff(t *testing.T) {
	addr := slowServer(t, 500*time.Millisecond, time.Second)
	took, line := sendSlowly(t, addr, 100*time.Millisecond)
	if took > 4*time.Second {
		t.Errorf("a trickled body held the connection for %v; want it cut at the 1s total limit", took)
	}
	if !strings.Contains(line, "408") {
		t.Errorf("answer to a trickled body: %q; want 408 Request Timeout", line)
	}
	t.Logf("trickled body: cut after %v, answer %q", took.Round(time.Millisecond), line)
}

// A Mesos subscription reads its body and then streams for as long as the
// framework stays: the body's deadline must not cut the stream.
func TestTheBodyDeadlineEndsWithTheBody(t *testing.T) {
	fb := newFakeBackend()
	cfg := Config{Backend: fb}
	s := newServer(cfg)
	s.bodyStall, s.bodyTotal = 100*time.Millisecond, 200*time.Millisecond
	mux := http.NewServeMux()
	mux.HandleFunc("POST /stream", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.WriteHeader(200)
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(600 * time.Millisecond):
			io.WriteString(w, "still here\n")
		}
	})
	srv := httptest.NewServer(s.limitBody(mux))
	t.Cleanup(srv.Close)
	resp, err := http.Post(srv.URL+"/stream", "text/plain", strings.NewReader("subscribe"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "still here\n" {
		t.Errorf("a stream answering after its body was read got %q; want it uncut", b)
	}
}
