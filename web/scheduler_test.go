package web

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/mesos"
)

// fakeMaster is a MesosMaster whose answers the test sets.
type fakeMaster struct {
	mu       sync.Mutex
	events   chan *mesos.Event
	closed   bool
	err      error // returned by every call when set
	calls    []*mesos.Call
	streamID string
}

func (f *fakeMaster) Subscribe(ctx context.Context, call *mesos.Call) (*MesosSubscription, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &MesosSubscription{StreamID: "stream-1", FrameworkID: "fw", Heartbeat: 50 * time.Millisecond, Events: f.events,
		Close: func() { f.mu.Lock(); f.closed = true; f.mu.Unlock() }}, nil
}

func (f *fakeMaster) SchedulerCall(ctx context.Context, streamID string, call *mesos.Call) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	f.streamID = streamID
	return f.err
}

func (f *fakeMaster) OperatorCall(ctx context.Context, call *mesos.OperatorCall) (*mesos.OperatorResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	if call.Type == mesos.OperatorGetHealth {
		return &mesos.OperatorResponse{Type: call.Type, GetHealth: &mesos.GetHealthResponse{Healthy: true}}, nil
	}
	return nil, nil
}

func (f *fakeMaster) OperatorSubscribe(ctx context.Context) (*OperatorSubscription, error) {
	return nil, &MesosError{Status: 501, Message: "not in this fake"}
}

func (f *fakeMaster) MasterState(ctx context.Context) (*mesos.MasterState, error) {
	return &mesos.MasterState{ID: "m1", Hostname: "leader"}, f.err
}

func (f *fakeMaster) LeaderURL(ctx context.Context) (string, error) {
	return "http://10.0.0.9:5050", f.err
}

func newMesosEnv(t *testing.T) (*fakeMaster, *httptest.Server) {
	t.Helper()
	fm := &fakeMaster{events: make(chan *mesos.Event, 8)}
	cfg := Config{Backend: newFakeBackend(), Mesos: fm}
	srv := httptest.NewServer(newServer(cfg).handler(cfg))
	t.Cleanup(srv.Close)
	return fm, srv
}

func post(t *testing.T, url, contentType, body string, header ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func bodyOf(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b)
}

const subscribeBody = `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`

func TestSchedulerStreamFlushesEveryEventAndHeartbeats(t *testing.T) {
	fm, srv := newMesosEnv(t)
	fm.events <- &mesos.Event{Type: mesos.EventSubscribed, Subscribed: &mesos.EventSubscribedInfo{FrameworkID: mesos.FrameworkID{Value: "fw"}}}
	resp := post(t, srv.URL+"/api/v1/scheduler", "application/json", subscribeBody)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Mesos-Stream-Id") != "stream-1" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("SUBSCRIBE: %d, headers %v", resp.StatusCode, resp.Header)
	}
	rd := mesos.NewReader(bufio.NewReader(resp.Body), 0)
	// Each event arrives while the stream stays open: it was flushed.
	if ev, err := rd.ReadEvent(); err != nil || ev.Type != mesos.EventSubscribed {
		t.Fatalf("first event: %+v %v", ev, err)
	}
	if ev, err := rd.ReadEvent(); err != nil || ev.Type != mesos.EventHeartbeat {
		t.Fatalf("second event: %+v %v, want a HEARTBEAT after the interval", ev, err)
	}
	close(fm.events) // the subscription ends: so does the stream
	for {
		ev, err := rd.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil || ev.Type != mesos.EventHeartbeat {
			t.Fatalf("after the end: %+v %v", ev, err)
		}
	}
	fm.mu.Lock()
	defer fm.mu.Unlock()
	if !fm.closed {
		t.Fatal("the subscription was not closed when its stream ended")
	}
}

func TestSchedulerAndOperatorAnswerOnBothPathsWithMesosErrors(t *testing.T) {
	fm, srv := newMesosEnv(t)
	for _, prefix := range []string{"", "/master"} {
		resp := post(t, srv.URL+prefix+"/api/v1/scheduler", "application/json", `{"type":"REVIVE","framework_id":{"value":"fw"}}`, "Mesos-Stream-Id", "s")
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("%s/api/v1/scheduler REVIVE: %d %s", prefix, resp.StatusCode, bodyOf(resp))
		}
		resp = post(t, srv.URL+prefix+"/api/v1", "application/json", `{"type":"GET_HEALTH"}`)
		if b := bodyOf(resp); resp.StatusCode != 200 || !strings.Contains(b, `"healthy":true`) {
			t.Errorf("%s/api/v1 GET_HEALTH: %d %s", prefix, resp.StatusCode, b)
		}
	}
	if fm.streamID != "s" {
		t.Errorf("the stream id reached the master as %q", fm.streamID)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/scheduler", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET /api/v1/scheduler: %v %v", resp, err)
	}
	for status, call := range map[int]string{
		http.StatusOK:                   `{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"a","weight":2}]}}`,
		http.StatusAccepted:             `{"type":"RESERVE_RESOURCES","reserve_resources":{"agent_id":{"value":"a"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"r"}]}]}}`,
		http.StatusNotImplemented:       `{"type":"GET_FLAGS"}`,
		http.StatusBadRequest:           `{"type":"UPDATE_WEIGHTS"}`,
		http.StatusUnsupportedMediaType: `x`,
	} {
		ct := "application/json"
		if status == http.StatusUnsupportedMediaType {
			ct = "text/plain"
		}
		if resp := post(t, srv.URL+"/api/v1", ct, call); resp.StatusCode != status {
			t.Errorf("operator %s: %d %s, want %d", call, resp.StatusCode, bodyOf(resp), status)
		}
	}
	// A refused subscription is a stream with one ERROR event.
	resp := post(t, srv.URL+"/api/v1/scheduler", "application/json",
		`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","roles":["a"]}}}`)
	ev, err := mesos.NewReader(resp.Body, 0).ReadEvent()
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || ev.Type != mesos.EventError || !strings.Contains(ev.Error.Message, "MULTI_ROLE") {
		t.Errorf("roles without MULTI_ROLE: %d %+v %v, want 200 and an ERROR event", resp.StatusCode, ev, err)
	}
}

func TestMesosEndpointsRedirectToTheLeader(t *testing.T) {
	fm, srv := newMesosEnv(t)
	fm.err = &api.NotLeaderError{LeaderAddr: "10.0.0.9:5050"}
	resp := post(t, srv.URL+"/api/v1/scheduler?x=1", "application/json", subscribeBody)
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "http://10.0.0.9:5050/api/v1/scheduler?x=1" {
		t.Fatalf("SUBSCRIBE on a follower: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	fm.err = &api.NotLeaderError{}
	if resp := post(t, srv.URL+"/api/v1", "application/json", `{"type":"GET_HEALTH"}`); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("no leader: %d, want 503", resp.StatusCode)
	}
	fm.err = nil
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := c.Get(srv.URL + "/master/redirect/master/state?jsonp=f")
	if err != nil || r.StatusCode != http.StatusTemporaryRedirect || r.Header.Get("Location") != "http://10.0.0.9:5050/master/state?jsonp=f" {
		t.Fatalf("/master/redirect: %v %v", r, err)
	}
}
