package mesosfw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

const wait = 5 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func subscribe(t *testing.T, base string, opts ...CallOption) *Scheduler {
	t.Helper()
	s, err := Subscribe(ctxT(t), base, SubscribeCall(FrameworkInfo("root", "mesosfw-test")), opts...)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// jsonEqual compares v with a JSON literal after a round trip through JSON.
func jsonEqual(t *testing.T, what string, v any, want string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got, exp any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad literal for %s: %v", what, err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s:\n got %s\nwant %s", what, b, want)
	}
}

func TestRecordReaderValid(t *testing.T) {
	a := `{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"x"}}}`
	b := `{"type":"HEARTBEAT"}`
	stream := EncodeRecord([]byte(a))
	stream = append(stream, EncodeRecord([]byte(b))...)
	// Leading zeros are digits too; the grammar allows them.
	stream = append(stream, []byte("0020\n"+b)...)
	// One byte at a time: chunk boundaries must not matter.
	rr := newRecordReader(iotest.OneByteReader(bytes.NewReader(stream)))
	for i, want := range []string{"SUBSCRIBED", "HEARTBEAT", "HEARTBEAT"} {
		ev, err := rr.nextObject()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if Type(ev) != want {
			t.Fatalf("record %d: type %q, want %q", i, Type(ev), want)
		}
	}
	if _, err := rr.nextObject(); err != io.EOF {
		t.Fatalf("after the last record: %v, want io.EOF", err)
	}
}

var malformed = []struct {
	name, data, msg string
}{
	{"non-digit in length", "2x\n{}", "non-digit"},
	{"space in length", "2 \n{}", "non-digit"},
	{"CRLF line end", "2\r\n{}", "non-digit"},
	{"empty length line", "\n2\n{}", "empty record length"},
	{"zero length", "0\n", "length 0"},
	{"length over bound", "99999999\n{}", "exceeds"},
	{"length overflows uint64", "99999999999999999999\n{}", "overflows"},
	{"too many digits", "000000000000000000002\n{}", "more than 20 digits"},
	{"truncated data", "100\n{\"type\":\"HEARTBEAT\"}", "truncated record"},
	{"truncated length", "12", "inside a record length"},
	{"array record", "2\n[]", "not a JSON object"},
	{"string record", "5\n\"abc\"", "not a JSON object"},
	{"not JSON", "5\nhello", "not a JSON object"},
	{"two values in one record", "4\n{}{}", "not a JSON object"},
	{"length too short", "5\n{\"type\":\"HEARTBEAT\"}", "not a JSON object"},
}

func TestRecordReaderMalformed(t *testing.T) {
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			rr := newRecordReader(strings.NewReader(tc.data))
			var err error
			for range 3 {
				if _, err = rr.nextObject(); err != nil {
					break
				}
			}
			if !errors.Is(err, ErrRecordIO) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want an error wrapping ErrRecordIO that says %q", err, tc.msg)
			}
		})
	}
}

// TestFrameworkLife runs the whole documented flow against the fake and
// checks, on the fake's side, every request the client sent.
func TestFrameworkLife(t *testing.T) {
	fm := newFake(t)
	fm.splitWrites = true
	fm.initial = append(fm.initial, record(t, map[string]any{"type": "HEARTBEAT"}))
	s := subscribe(t, fm.srv.URL)

	if s.FrameworkID() != "fw-1" || s.StreamID() != "stream-1" {
		t.Fatalf("framework %q stream %q", s.FrameworkID(), s.StreamID())
	}
	if s.Leader() != fm.srv.URL {
		t.Fatalf("Leader() = %q, want %q", s.Leader(), fm.srv.URL)
	}
	if s.HeartbeatInterval() != 15*time.Second {
		t.Fatalf("HeartbeatInterval() = %v", s.HeartbeatInterval())
	}
	sub := fm.lastCall(t, "SUBSCRIBE")
	if got := sub.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("SUBSCRIBE Content-Type %q", got)
	}
	if got := sub.Header.Get("Accept"); got != "application/json" {
		t.Errorf("SUBSCRIBE Accept %q", got)
	}
	if _, ok := sub.Header["Mesos-Stream-Id"]; ok {
		t.Errorf("SUBSCRIBE carried Mesos-Stream-Id %q; the docs forbid it", sub.Header.Get("Mesos-Stream-Id"))
	}
	if Str(sub.Body, "subscribe", "framework_info", "name") != "mesosfw-test" || Str(sub.Body, "subscribe", "framework_info", "user") != "root" {
		t.Errorf("SUBSCRIBE body %s", sub.Raw)
	}

	fm.send(map[string]any{"type": "OFFERS", "offers": map[string]any{"offers": []any{map[string]any{
		"id":           ID("o-1"),
		"framework_id": ID("fw-1"),
		"agent_id":     ID("a-1"),
		"hostname":     "agent1",
		"resources":    []any{Scalar("cpus", 4), Scalar("mem", 1024), Ports([2]uint64{31000, 32000})},
	}}}})
	ev, err := s.NextOfType("OFFERS", wait)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitHeartbeats(1, wait); err != nil {
		t.Fatal(err)
	}
	if s.LastHeartbeat().IsZero() {
		t.Fatal("LastHeartbeat is zero after a HEARTBEAT")
	}
	offers, err := Offers(ev)
	if err != nil {
		t.Fatal(err)
	}
	if OfferScalar(offers[0], "cpus") != 4 || OfferScalar(offers[0], "mem") != 1024 {
		t.Fatalf("offer resources %v", offers[0]["resources"])
	}
	if got := OfferRanges(offers[0], "ports"); !reflect.DeepEqual(got, [][2]uint64{{31000, 32000}}) {
		t.Fatalf("ports %v", got)
	}
	ids, err := OfferIDs(ev)
	if err != nil || !slices.Equal(ids, []string{"o-1"}) {
		t.Fatalf("OfferIDs = %v, %v", ids, err)
	}
	agent := Str(offers[0], "agent_id", "value")

	task := TaskInfo("t", "task-1", agent, "sleep 100", Scalar("cpus", 0.5), Scalar("mem", 64))
	resp, err := s.Call(ctxT(t), WithRefuseSeconds(Accept(ids, Launch(task)), 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Expect(http.StatusAccepted); err != nil {
		t.Fatal(err)
	}
	acc := fm.lastCall(t, "ACCEPT")
	if got := acc.Header.Get("Mesos-Stream-Id"); got != "stream-1" {
		t.Errorf("ACCEPT Mesos-Stream-Id %q", got)
	}
	if got := acc.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("ACCEPT Content-Type %q", got)
	}
	jsonEqual(t, "ACCEPT body", acc.Body, `{
		"framework_id": {"value": "fw-1"},
		"type": "ACCEPT",
		"accept": {
			"offer_ids": [{"value": "o-1"}],
			"operations": [{
				"type": "LAUNCH",
				"launch": {"task_infos": [{
					"name": "t",
					"task_id": {"value": "task-1"},
					"agent_id": {"value": "a-1"},
					"command": {"shell": true, "value": "sleep 100"},
					"resources": [
						{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
						{"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}
					]
				}]}
			}],
			"filters": {"refuse_seconds": 1}
		}
	}`)

	uuid := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fm.send(map[string]any{"type": "HEARTBEAT"})
	fm.send(map[string]any{"type": "UPDATE", "update": map[string]any{"status": map[string]any{
		"task_id": ID("task-1"), "agent_id": ID("a-1"), "state": "TASK_STARTING", "source": "SOURCE_EXECUTOR", "uuid": uuid,
	}}})
	fm.send(map[string]any{"type": "UPDATE", "update": map[string]any{"status": map[string]any{
		"task_id": ID("task-1"), "agent_id": ID("a-1"), "state": "TASK_RUNNING", "source": "SOURCE_EXECUTOR", "uuid": uuid,
	}}})
	ev, err = s.NextMatching(IsUpdate("task-1", "TASK_RUNNING"), wait)
	if err != nil {
		t.Fatal(err)
	}
	st, err := UpdateStatus(ev)
	if err != nil {
		t.Fatal(err)
	}
	if st.TaskID != "task-1" || st.State != "TASK_RUNNING" || st.UUID != uuid || st.AgentID != "a-1" || st.Source != "SOURCE_EXECUTOR" {
		t.Fatalf("status %+v", st)
	}
	resp, err = s.Call(ctxT(t), AcknowledgeStatus(st))
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Expect(http.StatusAccepted); err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, "ACKNOWLEDGE body", fm.lastCall(t, "ACKNOWLEDGE").Body, `{
		"framework_id": {"value": "fw-1"},
		"type": "ACKNOWLEDGE",
		"acknowledge": {"agent_id": {"value": "a-1"}, "task_id": {"value": "task-1"}, "uuid": "`+uuid+`"}
	}`)

	want := []string{"SUBSCRIBED", "HEARTBEAT", "OFFERS", "HEARTBEAT", "UPDATE", "UPDATE"}
	if got := s.EventTypes(); !slices.Equal(got, want) {
		t.Fatalf("EventTypes() = %v, want %v", got, want)
	}
	if s.Heartbeats() != 2 {
		t.Fatalf("Heartbeats() = %d, want 2", s.Heartbeats())
	}
	// The skipped TASK_STARTING stays in the log.
	if Str(s.Events()[4], "update", "status", "state") != "TASK_STARTING" {
		t.Fatalf("skipped event lost: %v", s.Events()[4])
	}
}

func TestSubscribeRedirect(t *testing.T) {
	for _, tc := range []struct {
		name string
		loc  func(leader string, r *http.Request) string
	}{
		{"absolute", func(l string, r *http.Request) string { return l + r.URL.Path }},
		{"scheme-relative", func(l string, r *http.Request) string { return "//" + hostOf(l) + r.URL.Path }},
		{"bare host:port", func(l string, r *http.Request) string { return hostOf(l) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fm := newFake(t)
			follower := newRedirector(t, func(r *http.Request) string { return tc.loc(fm.srv.URL, r) })
			s := subscribe(t, follower.srv.URL)
			if s.Leader() != fm.srv.URL {
				t.Fatalf("Leader() = %q, want %q", s.Leader(), fm.srv.URL)
			}
			if len(s.Redirects()) != 1 || follower.count() != 1 {
				t.Fatalf("redirects %v, follower hits %d", s.Redirects(), follower.count())
			}
			// The POST body was re-sent to the leader.
			if Type(fm.lastCall(t, "SUBSCRIBE").Body) != "SUBSCRIBE" {
				t.Fatal("leader got no SUBSCRIBE body")
			}
			follower.mu.Lock()
			fbody := follower.hits[0].Raw
			follower.mu.Unlock()
			if !bytes.Equal(fbody, fm.lastCall(t, "SUBSCRIBE").Raw) {
				t.Fatalf("body to follower %q differs from body to leader %q", fbody, fm.lastCall(t, "SUBSCRIBE").Raw)
			}
			// Calls go straight to the leader.
			resp, err := s.Call(ctxT(t), Revive())
			if err != nil || resp.Status != http.StatusAccepted {
				t.Fatalf("REVIVE: %v %+v", err, resp)
			}
			if follower.count() != 1 {
				t.Fatalf("REVIVE went to the follower")
			}
		})
	}
}

func TestRedirectLoopIsBounded(t *testing.T) {
	var self string
	rd := newRedirector(t, func(r *http.Request) string { return self + r.URL.Path })
	self = rd.srv.URL
	_, err := Subscribe(ctxT(t), rd.srv.URL, SubscribeCall(FrameworkInfo("u", "n")))
	if err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("got %v, want a too-many-redirects error", err)
	}
	if rd.count() != MaxRedirects+1 {
		t.Fatalf("follower hit %d times, want %d", rd.count(), MaxRedirects+1)
	}
}

func TestCallOptions(t *testing.T) {
	fm := newFake(t)
	s := subscribe(t, fm.srv.URL)
	ctx := ctxT(t)

	call := func(c map[string]any, opts ...CallOption) recorded {
		t.Helper()
		n := len(fm.requests())
		resp, err := s.Call(ctx, c, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusAccepted {
			t.Fatalf("status %d", resp.Status)
		}
		rs := fm.requests()
		if len(rs) != n+1 {
			t.Fatalf("fake saw %d new requests, want 1", len(rs)-n)
		}
		return rs[n]
	}

	r := call(Suppress("a", "b"), WithoutStreamID())
	if _, ok := r.Header["Mesos-Stream-Id"]; ok {
		t.Error("WithoutStreamID still sent Mesos-Stream-Id")
	}
	jsonEqual(t, "SUPPRESS", r.Body, `{"type":"SUPPRESS","suppress":{"roles":["a","b"]},"framework_id":{"value":"fw-1"}}`)

	r = call(Revive(), WithStreamID("bogus"))
	if r.Header.Get("Mesos-Stream-Id") != "bogus" {
		t.Errorf("WithStreamID: header %q", r.Header.Get("Mesos-Stream-Id"))
	}

	r = call(Teardown(), WithoutFrameworkID())
	jsonEqual(t, "TEARDOWN without framework_id", r.Body, `{"type":"TEARDOWN"}`)

	explicit := map[string]any{"type": "TEARDOWN", "framework_id": ID("other")}
	r = call(explicit)
	if Str(r.Body, "framework_id", "value") != "other" {
		t.Errorf("explicit framework_id replaced: %s", r.Raw)
	}

	r = call(nil, WithRawBody([]byte(`{"type":`)), WithContentType("text/plain"))
	if string(r.Raw) != `{"type":` || r.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("raw body %q content type %q", r.Raw, r.Header.Get("Content-Type"))
	}

	// The caller's map is not modified by Call.
	dec := Decline([]string{"o-9"})
	call(dec)
	if _, ok := dec["framework_id"]; ok {
		t.Error("Call modified the caller's map")
	}

	// Error statuses come back as responses, with the body.
	fm.callStatus = http.StatusForbidden
	resp, err := s.Call(ctx, Revive())
	if err != nil {
		t.Fatal(err)
	}
	err = resp.Expect(http.StatusAccepted)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusForbidden || !strings.Contains(err.Error(), "call refused") {
		t.Fatalf("Expect: %v", err)
	}

	// Outside a subscription nothing is added.
	fm.callStatus = http.StatusAccepted
	resp, err = SchedulerCall(ctx, fm.srv.URL, Teardown())
	if err != nil || resp.Status != http.StatusAccepted {
		t.Fatalf("SchedulerCall: %v %+v", err, resp)
	}
	last := fm.requests()[len(fm.requests())-1]
	if _, ok := last.Header["Mesos-Stream-Id"]; ok || Has(last.Body, "framework_id") {
		t.Fatalf("SchedulerCall added identity: %v %s", last.Header, last.Raw)
	}
}

func TestMalformedStreamFailsNext(t *testing.T) {
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			fm := newFake(t)
			s := subscribe(t, fm.srv.URL)
			fm.sendRaw(tc.data)
			if tc.name == "truncated data" || tc.name == "truncated length" || tc.name == "length too short" {
				fm.endStream() // only the end of the stream shows the truncation
			}
			var err error
			for range 3 {
				if _, err = s.Next(wait); err != nil {
					break
				}
			}
			if !errors.Is(err, ErrRecordIO) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Next: %v, want an error wrapping ErrRecordIO that says %q", err, tc.msg)
			}
			if errors.Is(err, ErrTimeout) {
				t.Fatalf("Next timed out instead of failing: %v", err)
			}
			select {
			case <-s.Done():
			case <-time.After(wait):
				t.Fatal("reader goroutine still running after a malformed record")
			}
			if !errors.Is(s.Err(), ErrRecordIO) {
				t.Fatalf("Err() = %v", s.Err())
			}
		})
	}
}

func TestEventWithoutTypeFails(t *testing.T) {
	fm := newFake(t)
	s := subscribe(t, fm.srv.URL)
	fm.send(map[string]any{"offers": map[string]any{}})
	if _, err := s.Next(wait); !errors.Is(err, ErrRecordIO) {
		t.Fatalf("Next: %v", err)
	}
}

func TestSubscribeFailures(t *testing.T) {
	subscribed := func(fid string) []byte {
		return record(t, map[string]any{"type": "SUBSCRIBED", "subscribed": map[string]any{"framework_id": ID(fid)}})
	}
	for _, tc := range []struct {
		name  string
		setup func(fm *fakeMaster)
		call  map[string]any
		check func(t *testing.T, err error)
	}{
		{"400", func(fm *fakeMaster) { fm.subscribeStatus = 400 }, nil, func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.Status != 400 || !strings.Contains(string(se.Body), "subscribe refused") {
				t.Fatalf("got %v, want StatusError 400 with the body", err)
			}
		}},
		{"no stream id", func(fm *fakeMaster) { fm.streamID = "" }, nil, wantErr("Mesos-Stream-Id")},
		{"stream id too long", func(fm *fakeMaster) { fm.streamID = strings.Repeat("x", 129) }, nil, wantErr("at most 128")},
		{"wrong content type", func(fm *fakeMaster) { fm.contentType = "text/plain" }, nil, wantErr("Content-Type")},
		{"error event first", func(fm *fakeMaster) {
			fm.initial = [][]byte{record(t, map[string]any{"type": "ERROR", "error": map[string]any{"message": "not authorized"}})}
		}, nil, func(t *testing.T, err error) {
			var ee *EventError
			if !errors.As(err, &ee) || ee.Message != "not authorized" {
				t.Fatalf("got %v, want EventError", err)
			}
		}},
		{"heartbeat first", func(fm *fakeMaster) {
			fm.initial = [][]byte{record(t, map[string]any{"type": "HEARTBEAT"}), subscribed("fw-1")}
		}, nil, wantErr(`first event has type "HEARTBEAT"`)},
		{"malformed first record", func(fm *fakeMaster) { fm.initial = [][]byte{[]byte("x\n{}")} }, nil, func(t *testing.T, err error) {
			if !errors.Is(err, ErrRecordIO) {
				t.Fatalf("got %v", err)
			}
		}},
		{"no framework id", func(fm *fakeMaster) {
			fm.initial = [][]byte{record(t, map[string]any{"type": "SUBSCRIBED", "subscribed": map[string]any{}})}
		}, nil, wantErr("framework_id")},
		{"empty framework id", func(fm *fakeMaster) { fm.initial = [][]byte{subscribed("")} }, nil, wantErr("empty")},
		{"resubscribe gets another id", func(fm *fakeMaster) { fm.initial = [][]byte{subscribed("fw-2")} },
			SubscribeCall(map[string]any{"user": "u", "name": "n", "id": ID("fw-1")}), wantErr(`"fw-1"`)},
		{"not a subscribe", func(*fakeMaster) {}, Teardown(), wantErr("want SUBSCRIBE")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fm := newFake(t)
			tc.setup(fm)
			call := tc.call
			if call == nil {
				call = SubscribeCall(FrameworkInfo("u", "n"))
			}
			s, err := Subscribe(ctxT(t), fm.srv.URL, call)
			if err == nil {
				s.Close()
				t.Fatal("Subscribe succeeded")
			}
			tc.check(t, err)
		})
	}
}

func wantErr(sub string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), sub) {
			t.Fatalf("got %v, want an error mentioning %q", err, sub)
		}
	}
}

func TestSubscribeHandshakeIsBounded(t *testing.T) {
	fm := newFake(t)
	fm.initial = nil // headers, then silence
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Subscribe(ctx, fm.srv.URL, SubscribeCall(FrameworkInfo("u", "n")))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("handshake took %v", d)
	}
}

func TestStreamOutlivesHandshakeContext(t *testing.T) {
	fm := newFake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	s, err := Subscribe(ctx, fm.srv.URL, SubscribeCall(FrameworkInfo("u", "n")))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	time.Sleep(400 * time.Millisecond)
	fm.send(map[string]any{"type": "RESCIND", "rescind": map[string]any{"offer_id": ID("o-1")}})
	ev, err := s.Next(wait)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := RescindedOfferID(ev); err != nil || id != "o-1" {
		t.Fatalf("RESCIND: %q %v", id, err)
	}
}

func TestNextSemantics(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		fm := newFake(t)
		s := subscribe(t, fm.srv.URL)
		fm.send(map[string]any{"type": "HEARTBEAT"}) // Next skips heartbeats
		start := time.Now()
		_, err := s.Next(150 * time.Millisecond)
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("got %v, want ErrTimeout", err)
		}
		if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
			t.Fatalf("Next waited %v", d)
		}
		if s.Heartbeats() != 1 {
			t.Fatalf("Heartbeats() = %d", s.Heartbeats())
		}
	})
	t.Run("error event", func(t *testing.T) {
		fm := newFake(t)
		s := subscribe(t, fm.srv.URL)
		fm.send(map[string]any{"type": "ERROR", "error": map[string]any{"message": "framework removed"}})
		_, err := s.NextOfType("OFFERS", wait)
		var ee *EventError
		if !errors.As(err, &ee) || ee.Message != "framework removed" {
			t.Fatalf("got %v, want EventError", err)
		}
	})
	t.Run("next returns error events", func(t *testing.T) {
		fm := newFake(t)
		s := subscribe(t, fm.srv.URL)
		fm.send(map[string]any{"type": "ERROR", "error": map[string]any{"message": "m"}})
		ev, err := s.Next(wait)
		if err != nil || Type(ev) != "ERROR" {
			t.Fatalf("Next: %v %v", ev, err)
		}
		if m, err := ErrorMessage(ev); m != "m" || err != nil {
			t.Fatalf("ErrorMessage: %q %v", m, err)
		}
	})
	t.Run("server ends stream", func(t *testing.T) {
		fm := newFake(t)
		s := subscribe(t, fm.srv.URL)
		fm.send(map[string]any{"type": "FAILURE", "failure": map[string]any{"agent_id": ID("a")}})
		time.Sleep(50 * time.Millisecond)
		fm.endStream()
		select {
		case <-s.Done():
		case <-time.After(wait):
			t.Fatal("stream not done after the server ended it")
		}
		ev, err := s.Next(wait)
		if err != nil || Type(ev) != "FAILURE" {
			t.Fatalf("queued event lost: %v %v", ev, err)
		}
		if _, err := s.Next(wait); !errors.Is(err, ErrStreamEnded) {
			t.Fatalf("got %v, want ErrStreamEnded", err)
		}
	})
	t.Run("close unblocks next", func(t *testing.T) {
		fm := newFake(t)
		s := subscribe(t, fm.srv.URL)
		errc := make(chan error, 1)
		go func() { _, err := s.Next(time.Minute); errc <- err }()
		time.Sleep(50 * time.Millisecond)
		s.Close()
		select {
		case err := <-errc:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("got %v, want ErrClosed", err)
			}
		case <-time.After(wait):
			t.Fatal("Next still blocked after Close")
		}
	})
	t.Run("heartbeats only via WaitHeartbeats", func(t *testing.T) {
		fm := newFake(t)
		s := subscribe(t, fm.srv.URL)
		if _, err := s.NextOfType("HEARTBEAT", time.Millisecond); err == nil {
			t.Fatal("NextOfType(HEARTBEAT) accepted")
		}
		if err := s.WaitHeartbeats(1, 100*time.Millisecond); !errors.Is(err, ErrTimeout) {
			t.Fatalf("WaitHeartbeats with none sent: %v", err)
		}
		for range 3 {
			fm.send(map[string]any{"type": "HEARTBEAT"})
		}
		if err := s.WaitHeartbeats(3, wait); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCloseLeavesNoGoroutines checks that the reader goroutine and every
// connection goroutine are gone after Close.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		fm := newFake(t)
		defer fm.shutdown()
		s, err := Subscribe(ctxT(t), fm.srv.URL, SubscribeCall(FrameworkInfo("u", "n")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Call(ctxT(t), Revive()); err != nil {
			t.Fatal(err)
		}
		fm.send(map[string]any{"type": "HEARTBEAT"})
		if err := s.WaitHeartbeats(1, wait); err != nil {
			t.Fatal(err)
		}
		s.Close()
		select {
		case <-s.Done():
		default:
			t.Fatal("Done not closed when Close returned")
		}
		s.Close() // idempotent
		if !errors.Is(s.Err(), ErrClosed) {
			t.Fatalf("Err() = %v, want ErrClosed", s.Err())
		}
	}()
	deadline := time.Now().Add(wait)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOperator(t *testing.T) {
	fm := newFake(t)
	follower := newRedirector(t, func(r *http.Request) string { return "//" + hostOf(fm.srv.URL) + r.URL.Path })
	ctx := ctxT(t)

	status, body, err := OperatorCall(ctx, follower.srv.URL, map[string]any{"type": "GET_HEALTH"})
	if err != nil || status != 200 {
		t.Fatalf("GET_HEALTH: %d %v", status, err)
	}
	if !Bool(body, "get_health", "healthy") || Type(body) != "GET_HEALTH" {
		t.Fatalf("GET_HEALTH body %v", body)
	}
	r := fm.lastCall(t, "GET_HEALTH")
	if r.Path != "/api/v1" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json" {
		t.Fatalf("operator request %s %v", r.Path, r.Header)
	}

	status, body, err = OperatorCall(ctx, fm.srv.URL, map[string]any{"type": "MARK_AGENT_GONE"})
	if err != nil || status != 200 || body != nil {
		t.Fatalf("empty 200: %d %v %v", status, body, err)
	}

	status, _, err = OperatorCall(ctx, fm.srv.URL, map[string]any{"type": "NOPE"})
	var se *StatusError
	if status != 400 || !errors.As(err, &se) {
		t.Fatalf("bad call: %d %v", status, err)
	}

	st, err := OperatorSubscribe(ctx, follower.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Leader() != fm.srv.URL || st.HeartbeatInterval() != 2*time.Second {
		t.Fatalf("operator stream leader %q heartbeat %v", st.Leader(), st.HeartbeatInterval())
	}
	if !Has(st.Subscribed(), "subscribed", "get_state", "get_tasks") {
		t.Fatalf("SUBSCRIBED %v", st.Subscribed())
	}
	fm.send(map[string]any{"type": "TASK_ADDED", "task_added": map[string]any{"task": map[string]any{"task_id": ID("t1")}}})
	ev, err := st.NextOfType("TASK_ADDED", wait)
	if err != nil || Str(ev, "task_added", "task", "task_id", "value") != "t1" {
		t.Fatalf("TASK_ADDED: %v %v", ev, err)
	}

	status, state, err := GetJSON(ctx, follower.srv.URL+"/master/state")
	if err != nil || status != 200 || Str(state, "version") != "1.11.0" {
		t.Fatalf("GetJSON: %d %v %v", status, state, err)
	}
	if _, _, err := GetJSON(ctx, fm.srv.URL+"/nothing"); !errors.As(err, &se) || se.Status != 404 {
		t.Fatalf("GetJSON 404: %v", err)
	}

	loc, resolved, err := MasterRedirect(ctx, fm.srv.URL)
	if err != nil || loc != "//"+hostOf(fm.srv.URL) || resolved != fm.srv.URL {
		t.Fatalf("MasterRedirect: %q %q %v", loc, resolved, err)
	}
	if _, _, err := MasterRedirect(ctx, fm.srv.URL+"/prefix-that-404s"); err == nil {
		t.Fatal("MasterRedirect accepted a 404")
	}
}

func TestResolveLocation(t *testing.T) {
	req := "http://10.0.0.1:5050/api/v1/scheduler"
	for _, tc := range []struct{ loc, want string }{
		{"http://10.0.0.2:5050/api/v1/scheduler", "http://10.0.0.2:5050/api/v1/scheduler"},
		{"//10.0.0.2:5050/api/v1/scheduler", "http://10.0.0.2:5050/api/v1/scheduler"},
		{"//10.0.0.2:5050", "http://10.0.0.2:5050/api/v1/scheduler"},
		{"masterhost2:5050", "http://masterhost2:5050/api/v1/scheduler"},
		{"/other", "http://10.0.0.1:5050/other"},
	} {
		got, err := ResolveLocation(req, tc.loc)
		if err != nil || got != tc.want {
			t.Errorf("ResolveLocation(%q) = %q, %v; want %q", tc.loc, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "//"} {
		if got, err := ResolveLocation(req, bad); err == nil {
			t.Errorf("ResolveLocation(%q) = %q, want an error", bad, got)
		}
	}
	got, _ := ResolveLocation("https://a:1/x", "//b:2/x")
	if got != "https://b:2/x" {
		t.Errorf("scheme-relative keeps https: %q", got)
	}
}

func TestCallBuilders(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  map[string]any
		want string
	}{
		{"subscribe", SubscribeCall(FrameworkInfo("foo", "fw", "r1", "r2"), "r2"), `{"type":"SUBSCRIBE","subscribe":{
			"framework_info":{"user":"foo","name":"fw","roles":["r1","r2"],"capabilities":[{"type":"MULTI_ROLE"}]},
			"suppressed_roles":["r2"]}}`},
		{"decline", WithRefuseSeconds(Decline([]string{"o1", "o2"}), 5), `{"type":"DECLINE","decline":{
			"offer_ids":[{"value":"o1"},{"value":"o2"}],"filters":{"refuse_seconds":5}}}`},
		{"accept no ops", Accept([]string{"o1"}), `{"type":"ACCEPT","accept":{"offer_ids":[{"value":"o1"}],"operations":[]}}`},
		{"revive all", Revive(), `{"type":"REVIVE"}`},
		{"revive roles", Revive("r"), `{"type":"REVIVE","revive":{"roles":["r"]}}`},
		{"suppress all", Suppress(), `{"type":"SUPPRESS"}`},
		{"kill", Kill("t", "a"), `{"type":"KILL","kill":{"task_id":{"value":"t"},"agent_id":{"value":"a"}}}`},
		{"kill no agent", Kill("t", ""), `{"type":"KILL","kill":{"task_id":{"value":"t"}}}`},
		{"shutdown", Shutdown("e", "a"), `{"type":"SHUTDOWN","shutdown":{"executor_id":{"value":"e"},"agent_id":{"value":"a"}}}`},
		{"reconcile implicit", Reconcile(), `{"type":"RECONCILE","reconcile":{"tasks":[]}}`},
		{"reconcile explicit", Reconcile([2]string{"t1", "a1"}, [2]string{"t2", ""}), `{"type":"RECONCILE","reconcile":{"tasks":[
			{"task_id":{"value":"t1"},"agent_id":{"value":"a1"}},{"task_id":{"value":"t2"}}]}}`},
		{"message", Message("a", "e", []byte("hi")), `{"type":"MESSAGE","message":{"agent_id":{"value":"a"},"executor_id":{"value":"e"},"data":"aGk="}}`},
		{"request", Request(ResourceRequest("a", Scalar("cpus", 1))), `{"type":"REQUEST","request":{"requests":[
			{"agent_id":{"value":"a"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]}]}}`},
		{"update framework", UpdateFramework(map[string]any{"id": ID("f"), "user": "u", "name": "n"}, "r"), `{"type":"UPDATE_FRAMEWORK",
			"update_framework":{"framework_info":{"id":{"value":"f"},"user":"u","name":"n"},"suppressed_roles":["r"]}}`},
		{"teardown", Teardown(), `{"type":"TEARDOWN"}`},
		{"ports", Ports([2]uint64{31000, 31001}, [2]uint64{31005, 31005}), `{"name":"ports","type":"RANGES","ranges":{"range":[
			{"begin":31000,"end":31001},{"begin":31005,"end":31005}]}}`},
		{"set", Set("disks", "a", "b"), `{"name":"disks","type":"SET","set":{"item":["a","b"]}}`},
		{"allocated", AllocatedTo("eng", Scalar("mem", 8))[0], `{"name":"mem","type":"SCALAR","scalar":{"value":8},"allocation_info":{"role":"eng"}}`},
	} {
		jsonEqual(t, tc.name, tc.got, tc.want)
	}
}

func TestEventReaders(t *testing.T) {
	// The prose of scheduler-http-api.md shows "offers" as an array; the
	// proto makes it a message. The reader insists on the proto.
	prose := map[string]any{"type": "OFFERS", "offers": []any{map[string]any{"id": ID("o")}}}
	if _, err := Offers(prose); err == nil {
		t.Error("Offers accepted the prose shape")
	}
	bad := map[string]any{"type": "OFFERS", "offers": map[string]any{"offers": []any{map[string]any{
		"id": ID("o"), "framework_id": ID("f"), "agent_id": ID(""), "hostname": "h"}}}}
	if _, err := Offers(bad); err == nil || !strings.Contains(err.Error(), "agent_id") {
		t.Errorf("Offers with empty agent id: %v", err)
	}
	if _, err := Offers(map[string]any{"type": "UPDATE"}); err == nil {
		t.Error("Offers accepted an UPDATE")
	}
	for name, st := range map[string]map[string]any{
		"no task id":  {"state": "TASK_RUNNING"},
		"bad state":   {"task_id": ID("t"), "state": "RUNNING"},
		"state num":   {"task_id": ID("t"), "state": 1.0},
		"bad uuid":    {"task_id": ID("t"), "state": "TASK_RUNNING", "uuid": "not base64!"},
		"uuid number": {"task_id": ID("t"), "state": "TASK_RUNNING", "uuid": 5.0},
	} {
		if _, err := UpdateStatus(map[string]any{"type": "UPDATE", "update": map[string]any{"status": st}}); err == nil {
			t.Errorf("UpdateStatus accepted %s", name)
		}
	}
	st, err := UpdateStatus(map[string]any{"type": "UPDATE", "update": map[string]any{"status": map[string]any{
		"task_id": ID("t"), "state": "TASK_LOST", "reason": "REASON_RECONCILIATION", "source": "SOURCE_MASTER", "message": "gone", "timestamp": 12.5,
	}}})
	if err != nil || st.UUID != "" || st.Reason != "REASON_RECONCILIATION" || st.Message != "gone" || st.Timestamp != 12.5 || !IsTerminal(st.State) {
		t.Errorf("status %+v %v", st, err)
	}
	if IsTerminal("TASK_RUNNING") || IsTerminal("TASK_UNREACHABLE") {
		t.Error("IsTerminal wrong for non-terminal states")
	}
}

func TestAccessors(t *testing.T) {
	var v any
	json.Unmarshal([]byte(`{"a":{"b":[{"c":"x","n":2,"t":true}]}}`), &v)
	if Str(v, "a", "b", 0, "c") != "x" || Num(v, "a", "b", 0, "n") != 2 || !Bool(v, "a", "b", 0, "t") {
		t.Fatal("accessors on present paths")
	}
	if Str(v, "a", "missing") != "" || !math.IsNaN(Num(v, "a", "b", 0, "c")) || Obj(v, "a", "b") != nil || len(Arr(v, "a", "b")) != 1 {
		t.Fatal("accessors on missing or mistyped paths")
	}
	_, err := Lookup(v, "a", "b", 0, "d")
	if err == nil || !strings.Contains(err.Error(), `a.b[0]: no field "d" (fields: [c n t])`) {
		t.Fatalf("Lookup error %v", err)
	}
	_, err = Lookup(v, "a", "b", 3)
	if err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("Lookup index error %v", err)
	}
	if _, err := LookupStr(v, "a", "b", 0, "n"); err == nil || !strings.Contains(err.Error(), "the number 2") {
		t.Fatalf("LookupStr error %v", err)
	}
}
