package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/mesos"
)

// MesosMaster is what the Mesos-compatible endpoints (the v1 scheduler and
// operator APIs, /master/state, /master/redirect) need from a node. Calls
// reach it decoded and validated. Errors: *api.NotLeaderError answers 307
// to the leader (503 while none is known), *MesosError its status with its
// message, anything else 500.
type MesosMaster interface {
	// Subscribe registers the framework of a SUBSCRIBE call and returns its
	// event stream, whose first event is SUBSCRIBED (or an ERROR, after
	// which it ends).
	Subscribe(ctx context.Context, call *mesos.Call) (*MesosSubscription, error)
	// SchedulerCall carries out any other call of the framework whose
	// subscription has streamID.
	SchedulerCall(ctx context.Context, streamID string, call *mesos.Call) error
	// OperatorCall answers an operator API call: a response to send as JSON
	// (200), or nil for a call that only changes something (202).
	OperatorCall(ctx context.Context, call *mesos.OperatorCall) (*mesos.OperatorResponse, error)
	// OperatorSubscribe opens the operator event stream.
	OperatorSubscribe(ctx context.Context) (*OperatorSubscription, error)
	// MasterState is the v0 /master/state document.
	MasterState(ctx context.Context) (*mesos.MasterState, error)
	// LeaderURL is the base URL ("http://host:port") of the current leader.
	LeaderURL(ctx context.Context) (string, error)
}

// MesosSubscription is a framework's event stream.
type MesosSubscription struct {
	StreamID    string
	FrameworkID string
	// Heartbeat is how often the stream sends HEARTBEAT.
	Heartbeat time.Duration
	// Events is closed when the subscription ends (the framework subscribed
	// again elsewhere, was torn down, was too slow, or the leader changed).
	Events <-chan *mesos.Event
	// Close ends the subscription; the handler calls it when the client
	// goes away. It must be safe to call more than once.
	Close func()
}

// OperatorSubscription is an operator API event stream.
type OperatorSubscription struct {
	Heartbeat time.Duration
	Events    <-chan *mesos.OperatorEvent
	Close     func()
}

// MesosError is an answer of the Mesos APIs with its status and message
// (plain text, as Mesos answers).
type MesosError struct {
	Status  int
	Message string
}

func (e *MesosError) Error() string { return e.Message }

// mesosMaxBody bounds a Mesos call; an ACCEPT of many tasks is the largest.
const mesosMaxBody = MaxRequestBytes

// checkMesosRequest applies the checks every Mesos API call passes first,
// in Mesos's order and words: POST, then a JSON body. It answers and
// returns false when the request does not qualify.
func checkMesosRequest(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeMesosError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Expecting 'POST', received '%s'", r.Method))
		return false
	}
	raw := r.Header.Get("Content-Type")
	ct, _, _ := mime.ParseMediaType(raw)
	switch {
	case raw == "":
		writeMesosError(w, http.StatusBadRequest, "Expecting 'Content-Type' to be present")
		return false
	case ct == "application/json":
		return true
	case ct == "application/x-protobuf":
		writeMesosError(w, http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json: clusterd speaks the JSON flavour of the Mesos API, not protobuf")
	default:
		writeMesosError(w, http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json or application/x-protobuf")
	}
	return false
}

// checkAccept answers 406 when the client accepts no JSON answer.
func checkAccept(w http.ResponseWriter, r *http.Request) bool {
	if acceptsJSON(r.Header.Values("Accept")) {
		return true
	}
	writeMesosError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow 'application/json' (clusterd answers the Mesos API in JSON only)")
	return false
}

// acceptsJSON reports whether Accept headers allow an application/json
// answer (no header allows anything).
func acceptsJSON(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || params["q"] == "0" {
				continue
			}
			switch mt {
			case "application/json", "application/*", "*/*":
				return true
			}
		}
	}
	return false
}

func writeMesosError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

// writeMesosBackendError maps a MesosMaster error to its answer.
func (s *server) writeMesosBackendError(w http.ResponseWriter, r *http.Request, err error) {
	var me *MesosError
	var notLeader *api.NotLeaderError
	switch {
	case errors.As(err, &me):
		writeMesosError(w, me.Status, me.Message)
	case errors.As(err, &notLeader):
		if notLeader.LeaderAddr == "" {
			w.Header().Set("Retry-After", "2")
			writeMesosError(w, http.StatusServiceUnavailable, "No leader elected yet; retry shortly")
			return
		}
		w.Header().Set("Location", leaderURL(notLeader.LeaderAddr, r))
		writeMesosError(w, http.StatusTemporaryRedirect, "This node is not the leader; follow the redirect")
	case r.Context().Err() != nil:
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		s.log.Error("mesos call failed", "path", r.URL.Path, "err", err)
		writeMesosError(w, http.StatusInternalServerError, err.Error())
	}
}

// readMesosBody reads a call's body, answering 413 when it is too large.
func readMesosBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, mesosMaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeMesosError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body is larger than %d KiB", tooLarge.Limit>>10))
		} else {
			writeMesosError(w, http.StatusBadRequest, "Failed to read the request body: "+err.Error())
		}
		return nil, false
	}
	return body, true
}

// scheduler serves POST /api/v1/scheduler.
func (s *server) scheduler(w http.ResponseWriter, r *http.Request) {
	if !checkMesosRequest(w, r) {
		return
	}
	body, ok := readMesosBody(w, r)
	if !ok {
		return
	}
	call, err := mesos.DecodeCall(body)
	if err != nil {
		writeMesosError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := call.Validate(); err != nil {
		if errors.Is(err, mesos.ErrSubscriptionRefused) && checkAccept(w, r) {
			// Mesos opens the stream, then says why on it.
			refusedStream(w, err.Error())
			return
		}
		if !errors.Is(err, mesos.ErrSubscriptionRefused) {
			writeMesosError(w, http.StatusBadRequest, "Failed to validate scheduler::Call: "+err.Error())
		}
		return
	}
	if call.Type == mesos.CallSubscribe {
		if !checkAccept(w, r) {
			return
		}
		if r.Header.Get("Mesos-Stream-Id") != "" {
			writeMesosError(w, http.StatusBadRequest, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
			return
		}
		s.subscribe(w, r, call)
		return
	}
	// The node checks the framework, then the stream id (missing or not
	// matching), in Mesos's order.
	if err := s.mesos.SchedulerCall(r.Context(), r.Header.Get("Mesos-Stream-Id"), call); err != nil {
		s.writeMesosBackendError(w, r, err)
		return
	}
	if call.Type == mesos.CallUpdateFramework {
		// Mesos answers UPDATE_FRAMEWORK once it is done, not 202.
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// subscribe answers SUBSCRIBE with the framework's event stream: RecordIO
// records of JSON events, each written and flushed as soon as it exists,
// and a HEARTBEAT every interval, until the subscription or the client
// ends.
func (s *server) subscribe(w http.ResponseWriter, r *http.Request, call *mesos.Call) {
	sub, err := s.mesos.Subscribe(r.Context(), call)
	if err != nil {
		s.writeMesosBackendError(w, r, err)
		return
	}
	defer sub.Close()
	w.Header().Set("Mesos-Stream-Id", sub.StreamID)
	stream(w, r, sub.Events, sub.Heartbeat, &mesos.Event{Type: mesos.EventHeartbeat})
}

// stream answers 200 with a RecordIO stream of the JSON events of ch, each
// written and flushed as soon as it exists, and heartbeat every interval,
// until ch is closed or the client goes away.
func stream[E any](w http.ResponseWriter, r *http.Request, ch <-chan E, interval time.Duration, heartbeat E) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	out := mesos.NewWriter(flushingWriter{w, http.NewResponseController(w)})
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ev := heartbeat
		select {
		case <-r.Context().Done():
			return
		case e, open := <-ch:
			if !open {
				return
			}
			ev = e
		case <-tick.C:
		}
		if err := out.WriteJSON(ev); err != nil {
			return // the client went away
		}
	}
}

// refusedStream answers a SUBSCRIBE Mesos refuses after accepting it: a
// stream with one ERROR event, then its end.
func refusedStream(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Mesos-Stream-Id", randomStreamID())
	w.WriteHeader(http.StatusOK)
	out := mesos.NewWriter(flushingWriter{w, http.NewResponseController(w)})
	_ = out.WriteJSON(&mesos.Event{Type: mesos.EventError, Error: &mesos.EventErrorInfo{Message: msg}})
}

// randomStreamID is a random version 4 UUID, as Mesos stream ids are.
func randomStreamID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// flushingWriter flushes after every write, through the ResponseController
// so that wrapped ResponseWriters (request metrics) still flush.
type flushingWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushingWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}
