package mesosfw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrTimeout is wrapped by the error of a wait that ran out of time.
	ErrTimeout = errors.New("timed out")
	// ErrStreamEnded is wrapped by the error returned once the server has
	// ended the stream cleanly (at a record boundary) and every event
	// received before has been consumed.
	ErrStreamEnded = errors.New("event stream ended by the server")
	// ErrClosed is the error returned once Close was called and every event
	// received before has been consumed.
	ErrClosed = errors.New("event stream closed by the client")
)

// EventError is returned by the waits that look for a particular event
// (NextOfType, NextMatching) when an ERROR event arrives first; Mesos says
// a framework should abort on ERROR.
type EventError struct {
	Event   map[string]any
	Message string
}

func (e *EventError) Error() string { return "ERROR event from master: " + e.Message }

func newEventError(ev map[string]any) *EventError {
	msg, err := ErrorMessage(ev)
	if err != nil {
		msg = fmt.Sprintf("(no error.message: %v; event %v)", err, ev)
	}
	return &EventError{Event: ev, Message: msg}
}

// Stream is a RecordIO event stream opened by a SUBSCRIBE call, scheduler
// or operator. A goroutine reads it into an in-memory log; the Next*
// methods move a cursor through that log. Events are never dropped: every
// one stays available through Events.
type Stream struct {
	kind       string // "scheduler" or "operator", for messages
	leader     string
	header     http.Header
	redirects  []string
	subscribed map[string]any

	cancel  context.CancelFunc
	cleanup func()
	done    chan struct{}
	closing atomic.Bool
	once    sync.Once

	mu       sync.Mutex
	log      []map[string]any
	cursor   int
	err      error
	notify   chan struct{} // closed and replaced whenever log or err change
	beats    int
	lastBeat time.Time
}

// openStream POSTs body to rawURL and, on a 200 JSON chunked answer, starts
// reading the RecordIO stream and waits (bounded by ctx) for the first
// event, which must be SUBSCRIBED.
func openStream(ctx context.Context, kind, rawURL string, body []byte, hdr http.Header, o *reqOpts) (*Stream, *http.Response, error) {
	hctx, hcancel := withDefaultTimeout(ctx)
	defer hcancel()
	rt, cleanup := o.roundTripper()
	// The stream must outlive ctx; ctx bounds only the handshake.
	sctx, scancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(hctx, scancel)
	fail := func(err error) (*Stream, *http.Response, error) {
		stop()
		scancel()
		cleanup()
		return nil, nil, err
	}
	resp, hops, err := do(sctx, rt, http.MethodPost, rawURL, body, hdr, !o.noRedirect)
	if err != nil {
		if hctx.Err() != nil {
			return fail(fmt.Errorf("%s SUBSCRIBE to %s: %w: %v", kind, rawURL, ErrTimeout, err))
		}
		return fail(fmt.Errorf("%s SUBSCRIBE: %w", kind, err))
	}
	final := resp.Request.URL.String()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return fail(&StatusError{URL: final, Status: resp.StatusCode, Header: resp.Header, Body: b, Want: []int{http.StatusOK}})
	}
	if ct := resp.Header.Get("Content-Type"); !isJSONContentType(ct) {
		resp.Body.Close()
		return fail(fmt.Errorf("%s SUBSCRIBE %s: Content-Type %q, want %s (the Accept of the request)", kind, final, ct, jsonType))
	}
	if !chunked(resp) {
		resp.Body.Close()
		return fail(fmt.Errorf("%s SUBSCRIBE %s: response is not Transfer-Encoding: chunked (Transfer-Encoding %v, Content-Length %d)", kind, final, resp.TransferEncoding, resp.ContentLength))
	}
	s := &Stream{
		kind:      kind,
		header:    resp.Header,
		redirects: hops,
		cancel:    scancel,
		cleanup:   cleanup,
		done:      make(chan struct{}),
		notify:    make(chan struct{}),
	}
	go s.read(resp.Body)

	first, err := s.wait(hctx, "the first event", func(map[string]any) bool { return true }, false, true)
	if !stop() && err == nil {
		err = fmt.Errorf("%w: handshake context ended", ErrTimeout)
	}
	if err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("%s SUBSCRIBE %s: waiting for SUBSCRIBED: %w", kind, final, err)
	}
	switch Type(first) {
	case "SUBSCRIBED":
	case "ERROR":
		s.Close()
		return nil, nil, fmt.Errorf("%s SUBSCRIBE %s: %w", kind, final, newEventError(first))
	default:
		s.Close()
		return nil, nil, fmt.Errorf("%s SUBSCRIBE %s: first event has type %q, want SUBSCRIBED", kind, final, Type(first))
	}
	if _, err := LookupObj(first, "subscribed"); err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("%s SUBSCRIBE %s: SUBSCRIBED event: %w", kind, final, err)
	}
	if Has(first, "subscribed", "heartbeat_interval_seconds") {
		if hb, err := LookupNum(first, "subscribed", "heartbeat_interval_seconds"); err != nil || hb < 0 {
			s.Close()
			return nil, nil, fmt.Errorf("%s SUBSCRIBE %s: bad subscribed.heartbeat_interval_seconds: %v %v", kind, final, hb, err)
		}
	}
	s.subscribed = first
	return s, resp, nil
}

func chunked(resp *http.Response) bool {
	for _, te := range resp.TransferEncoding {
		if strings.EqualFold(te, "chunked") {
			return true
		}
	}
	return false
}

// read is the reader goroutine.
func (s *Stream) read(body io.ReadCloser) {
	defer close(s.done)
	defer body.Close()
	rr := newRecordReader(body)
	for {
		ev, err := rr.nextObject()
		if err == nil {
			if _, terr := LookupStr(ev, "type"); terr != nil {
				err = rr.fail("event without a string \"type\": %v", terr)
			}
		}
		if err != nil {
			switch {
			case s.closing.Load():
				err = ErrClosed
			case errors.Is(err, io.EOF):
				err = ErrStreamEnded
			case errors.Is(err, ErrRecordIO):
			default:
				err = fmt.Errorf("reading event stream: %w", err)
			}
			s.mu.Lock()
			s.err = err
			s.wake()
			s.mu.Unlock()
			return
		}
		now := time.Now()
		s.mu.Lock()
		s.log = append(s.log, ev)
		if Type(ev) == "HEARTBEAT" {
			s.beats++
			s.lastBeat = now
		}
		s.wake()
		s.mu.Unlock()
	}
}

// wake must be called with s.mu held.
func (s *Stream) wake() {
	close(s.notify)
	s.notify = make(chan struct{})
}

// wait moves the cursor to the first event matching pred and returns it.
// With failOnError an ERROR event that does not match ends the wait with an
// EventError. Non-matching events stay in the log.
func (s *Stream) wait(ctx context.Context, what string, pred func(map[string]any) bool, failOnError, withHeartbeats bool) (map[string]any, error) {
	for {
		s.mu.Lock()
		for s.cursor < len(s.log) {
			ev := s.log[s.cursor]
			s.cursor++
			if !withHeartbeats && Type(ev) == "HEARTBEAT" {
				continue
			}
			if pred(ev) {
				s.mu.Unlock()
				return ev, nil
			}
			if failOnError && Type(ev) == "ERROR" {
				s.mu.Unlock()
				return ev, newEventError(ev)
			}
		}
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return nil, fmt.Errorf("waiting for %s: %w (events so far: %s)", what, err, s.summary())
		}
		ch := s.notify
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			s.mu.Lock()
			sum := s.summary()
			s.mu.Unlock()
			return nil, fmt.Errorf("waiting for %s: %w (events so far: %s)", what, ErrTimeout, sum)
		}
	}
}

// summary lists event types received; s.mu must be held.
func (s *Stream) summary() string {
	if len(s.log) == 0 {
		return "none"
	}
	var b strings.Builder
	from := max(0, len(s.log)-20)
	if from > 0 {
		fmt.Fprintf(&b, "... %d earlier, ", from)
	}
	for i, ev := range s.log[from:] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(Type(ev))
	}
	return b.String()
}

func (s *Stream) waitFor(timeout time.Duration, what string, pred func(map[string]any) bool, failOnError bool) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ev, err := s.wait(ctx, what, pred, failOnError, false)
	if err != nil && errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%s stream: after %v: %w", s.kind, timeout, err)
	}
	return ev, err
}

// Next returns the next event other than HEARTBEAT (which is counted, see
// Heartbeats), an ERROR event included, waiting at most timeout. After the
// stream ends it returns the events still unread and then an error wrapping
// ErrStreamEnded, ErrClosed or ErrRecordIO; a wait that runs out of time
// returns an error wrapping ErrTimeout.
func (s *Stream) Next(timeout time.Duration) (map[string]any, error) {
	return s.waitFor(timeout, "the next event", func(map[string]any) bool { return true }, false)
}

// NextOfType returns the next event of type typ, skipping (but keeping in
// Events) events of other types. An ERROR event met first ends the wait with
// an *EventError (unless typ is "ERROR").
func (s *Stream) NextOfType(typ string, timeout time.Duration) (map[string]any, error) {
	if typ == "HEARTBEAT" {
		return nil, fmt.Errorf("mesosfw: use WaitHeartbeats for HEARTBEAT events")
	}
	return s.waitFor(timeout, "a "+typ+" event", func(ev map[string]any) bool { return Type(ev) == typ }, true)
}

// NextMatching returns the next event for which pred is true, skipping the
// others as NextOfType does (ERROR included).
func (s *Stream) NextMatching(pred func(map[string]any) bool, timeout time.Duration) (map[string]any, error) {
	return s.waitFor(timeout, "a matching event", pred, true)
}

// Events returns every event received so far, in order, HEARTBEATs and the
// initial SUBSCRIBED included.
func (s *Stream) Events() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.log...)
}

// EventTypes returns the types of Events().
func (s *Stream) EventTypes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.log))
	for _, ev := range s.log {
		out = append(out, Type(ev))
	}
	return out
}

// Heartbeats returns how many HEARTBEAT events have arrived.
func (s *Stream) Heartbeats() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.beats
}

// LastHeartbeat returns when the latest HEARTBEAT arrived (zero if none).
func (s *Stream) LastHeartbeat() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastBeat
}

// WaitHeartbeats waits until at least n HEARTBEAT events have arrived in
// total since subscription.
func (s *Stream) WaitHeartbeats(n int, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		beats, err, ch := s.beats, s.err, s.notify
		s.mu.Unlock()
		if beats >= n {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s stream: waiting for %d heartbeats (have %d): %w", s.kind, n, beats, err)
		}
		select {
		case <-ch:
		case <-t.C:
			return fmt.Errorf("%s stream: waiting for %d heartbeats (have %d) after %v: %w", s.kind, n, beats, timeout, ErrTimeout)
		}
	}
}

// Subscribed returns the SUBSCRIBED event.
func (s *Stream) Subscribed() map[string]any { return s.subscribed }

// HeartbeatInterval returns subscribed.heartbeat_interval_seconds (0 if the
// master did not announce heartbeats).
func (s *Stream) HeartbeatInterval() time.Duration {
	hb, err := LookupNum(s.subscribed, "subscribed", "heartbeat_interval_seconds")
	if err != nil {
		return 0
	}
	return time.Duration(hb * float64(time.Second))
}

// Leader returns the base URL (scheme://host:port) of the master that
// answered the SUBSCRIBE, after redirects.
func (s *Stream) Leader() string { return s.leader }

// Redirects returns the Location headers followed by the SUBSCRIBE.
func (s *Stream) Redirects() []string { return append([]string(nil), s.redirects...) }

// Header returns the SUBSCRIBE response's headers.
func (s *Stream) Header() http.Header { return s.header }

// Done is closed once the reader goroutine has exited (stream ended,
// failed, or closed).
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err returns why the stream ended, or nil while it is live.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the stream as a disconnecting client would: it cancels the
// SUBSCRIBE request (closing the connection) and waits for the reader
// goroutine to exit. Events already received stay readable. Idempotent.
func (s *Stream) Close() {
	s.once.Do(func() {
		s.closing.Store(true)
		s.cancel()
		<-s.done
		s.cleanup()
	})
}
