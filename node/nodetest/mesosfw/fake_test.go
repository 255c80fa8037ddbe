package mesosfw

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeMaster is a minimal stand-in for a leading Mesos master, written for
// testing the client: it streams whatever records the test gives it and
// records every request it gets.
type fakeMaster struct {
	t   *testing.T
	srv *httptest.Server

	// Settings, set before use.
	streamID        string         // Mesos-Stream-Id sent on SUBSCRIBE ("" = none)
	contentType     string         // Content-Type of streams
	subscribeStatus int            // non-zero: answer SUBSCRIBE with this status
	initial         [][]byte       // raw bytes written first on each scheduler stream
	callStatus      int            // status for other scheduler calls (default 202)
	splitWrites     bool           // write each chunk in two flushes
	onCall          func(recorded) // run for each non-SUBSCRIBE scheduler call

	events   chan []byte   // raw bytes written on the open stream
	end      chan struct{} // closed: the server ends the open stream
	quit     chan struct{}
	once     sync.Once
	quitOnce sync.Once

	mu    sync.Mutex
	reqs  []recorded
	subs  int
	count map[string]int
}

type recorded struct {
	Method string
	Path   string
	Header http.Header
	Raw    []byte
	Body   map[string]any // nil when the body is not a JSON object
}

func newFake(t *testing.T) *fakeMaster {
	t.Helper()
	fm := &fakeMaster{
		t:           t,
		streamID:    "stream-1",
		contentType: "application/json",
		callStatus:  http.StatusAccepted,
		events:      make(chan []byte, 64),
		end:         make(chan struct{}),
		quit:        make(chan struct{}),
		count:       map[string]int{},
	}
	fm.initial = [][]byte{
		record(t, map[string]any{
			"type": "SUBSCRIBED",
			"subscribed": map[string]any{
				"framework_id":               map[string]any{"value": "fw-1"},
				"heartbeat_interval_seconds": 15.0,
			},
		}),
	}
	fm.srv = httptest.NewServer(http.HandlerFunc(fm.serve))
	t.Cleanup(fm.shutdown)
	return fm
}

// shutdown ends every stream and stops the server (idempotent).
func (fm *fakeMaster) shutdown() {
	fm.quitOnce.Do(func() { close(fm.quit) })
	fm.srv.Close()
}

func record(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return EncodeRecord(b)
}

// send queues an event on the open stream.
func (fm *fakeMaster) send(v map[string]any) { fm.events <- record(fm.t, v) }

// sendRaw queues raw bytes on the open stream.
func (fm *fakeMaster) sendRaw(s string) { fm.events <- []byte(s) }

func (fm *fakeMaster) endStream() { fm.once.Do(func() { close(fm.end) }) }

func (fm *fakeMaster) requests() []recorded {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	return append([]recorded(nil), fm.reqs...)
}

// lastCall returns the last recorded request of the given call type.
func (fm *fakeMaster) lastCall(t *testing.T, typ string) recorded {
	t.Helper()
	rs := fm.requests()
	for i := len(rs) - 1; i >= 0; i-- {
		if Type(rs[i].Body) == typ {
			return rs[i]
		}
	}
	t.Fatalf("fake master got no %s call; got %d requests", typ, len(rs))
	return recorded{}
}

func (fm *fakeMaster) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rec := recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Raw: raw}
	rec.Body, _ = decodeObject(raw)
	fm.mu.Lock()
	fm.reqs = append(fm.reqs, rec)
	fm.count[r.Method+" "+r.URL.Path]++
	fm.mu.Unlock()

	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/scheduler":
		if Type(rec.Body) != "SUBSCRIBE" {
			if fm.onCall != nil {
				fm.onCall(rec)
			}
			w.WriteHeader(fm.callStatus)
			if fm.callStatus >= 400 {
				io.WriteString(w, "fake: call refused")
			}
			return
		}
		fm.mu.Lock()
		fm.subs++
		fm.mu.Unlock()
		if fm.subscribeStatus != 0 {
			http.Error(w, "fake: subscribe refused", fm.subscribeStatus)
			return
		}
		if fm.streamID != "" {
			w.Header().Set("Mesos-Stream-Id", fm.streamID)
		}
		fm.stream(w, r, fm.initial)
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1":
		switch Type(rec.Body) {
		case "SUBSCRIBE":
			fm.stream(w, r, [][]byte{record(fm.t, map[string]any{
				"type": "SUBSCRIBED",
				"subscribed": map[string]any{
					"get_state":                  map[string]any{"get_tasks": map[string]any{}},
					"heartbeat_interval_seconds": 2.0,
				},
			})})
		case "GET_HEALTH":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"type":"GET_HEALTH","get_health":{"healthy":true}}`)
		case "MARK_AGENT_GONE":
			w.WriteHeader(http.StatusOK)
		default:
			http.Error(w, "fake: unknown operator call", http.StatusBadRequest)
		}
	case r.Method == http.MethodGet && r.URL.Path == "/master/state":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"version":"1.11.0","frameworks":[]}`)
	case r.Method == http.MethodGet && r.URL.Path == "/master/redirect":
		w.Header().Set("Location", "//"+r.Host)
		w.WriteHeader(http.StatusTemporaryRedirect)
	default:
		http.NotFound(w, r)
	}
}

// stream writes a chunked RecordIO response: first the given records, then
// whatever the test sends, until the client goes, the test ends the
// stream, or the fake shuts down.
func (fm *fakeMaster) stream(w http.ResponseWriter, r *http.Request, first [][]byte) {
	f := w.(http.Flusher)
	w.Header().Set("Content-Type", fm.contentType)
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) {
		if fm.splitWrites && len(b) > 1 {
			w.Write(b[:len(b)/2])
			f.Flush()
			b = b[len(b)/2:]
		}
		w.Write(b)
		f.Flush()
	}
	for _, b := range first {
		write(b)
	}
	for {
		select {
		case b := <-fm.events:
			write(b)
		case <-fm.end:
			// Bytes queued before the end are written first: select
			// picks among ready cases at random.
			for {
				select {
				case b := <-fm.events:
					write(b)
				default:
					return
				}
			}
		case <-fm.quit:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// redirector is a "follower" that answers everything with 307 to loc(r).
type redirector struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits []recorded
}

func newRedirector(t *testing.T, loc func(r *http.Request) string) *redirector {
	t.Helper()
	rd := &redirector{}
	rd.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		rd.mu.Lock()
		rd.hits = append(rd.hits, recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Raw: raw})
		rd.mu.Unlock()
		w.Header().Set("Location", loc(r))
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	t.Cleanup(rd.srv.Close)
	return rd
}

func (rd *redirector) count() int {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return len(rd.hits)
}

func hostOf(u string) string { return strings.TrimPrefix(u, "http://") }
