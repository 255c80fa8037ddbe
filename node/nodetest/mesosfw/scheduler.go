package mesosfw

import (
	"context"
	"fmt"
	"maps"
	"net/http"
)

// MaxStreamIDLength is the documented bound on Mesos-Stream-Id.
const MaxStreamIDLength = 128

// Scheduler is one framework's subscription to a Mesos-compatible master:
// the event stream (embedded Stream) plus what is needed to send calls on
// behalf of that subscription.
type Scheduler struct {
	*Stream
	frameworkID string
	streamID    string
	transport   http.RoundTripper
	auth        string // the Authorization the subscription was made with
}

// Subscribe POSTs call (a SUBSCRIBE, e.g. SubscribeCall(...) or a literal
// map) to baseURL+"/api/v1/scheduler" with Content-Type and Accept
// application/json and no Mesos-Stream-Id, following 307 redirects. It
// requires 200, Content-Type application/json, a chunked body and a
// non-empty Mesos-Stream-Id of at most 128 bytes, then waits for the first
// RecordIO event, which must be SUBSCRIBED with subscribed.framework_id.value
// (equal to subscribe.framework_info.id.value when the call set it).
//
// ctx bounds only this handshake (DefaultTimeout if it has no deadline);
// the stream then lives until Close or until the server ends it. A non-200
// answer is a *StatusError, an ERROR first event an *EventError.
func Subscribe(ctx context.Context, baseURL string, call map[string]any, opts ...CallOption) (*Scheduler, error) {
	o := collect(opts)
	if !o.rawSet && Type(call) != "SUBSCRIBE" {
		return nil, fmt.Errorf("mesosfw.Subscribe: call type %q, want SUBSCRIBE (use SchedulerCall for other calls)", Type(call))
	}
	body, err := o.requestBody(call)
	if err != nil {
		return nil, err
	}
	st, resp, err := openStream(ctx, "scheduler", joinURL(baseURL, schedulerPath), body, o.postHeaders(""), o)
	if err != nil {
		return nil, err
	}
	st.leader = baseOf(resp.Request.URL, schedulerPath)
	final := resp.Request.URL.String()

	sid := resp.Header.Get("Mesos-Stream-Id")
	if sid == "" {
		st.Close()
		return nil, fmt.Errorf("scheduler SUBSCRIBE %s: no Mesos-Stream-Id response header", final)
	}
	if len(sid) > MaxStreamIDLength {
		st.Close()
		return nil, fmt.Errorf("scheduler SUBSCRIBE %s: Mesos-Stream-Id is %d bytes, Mesos guarantees at most %d", final, len(sid), MaxStreamIDLength)
	}
	fid, err := LookupStr(st.subscribed, "subscribed", "framework_id", "value")
	if err == nil && fid == "" {
		err = fmt.Errorf("subscribed.framework_id.value is empty")
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("scheduler SUBSCRIBE %s: SUBSCRIBED event: %w", final, err)
	}
	if want := Str(call, "subscribe", "framework_info", "id", "value"); want != "" && want != fid {
		st.Close()
		return nil, fmt.Errorf("scheduler SUBSCRIBE %s: resubscribed as framework %q but SUBSCRIBED names %q", final, want, fid)
	}
	return &Scheduler{Stream: st, frameworkID: fid, streamID: sid, transport: o.transport, auth: o.authorization}, nil
}

// FrameworkID returns subscribed.framework_id.value.
func (s *Scheduler) FrameworkID() string { return s.frameworkID }

// StreamID returns the Mesos-Stream-Id the master gave this subscription.
func (s *Scheduler) StreamID() string { return s.streamID }

// Call POSTs a non-SUBSCRIBE call to Leader()+"/api/v1/scheduler" on a new
// connection with Content-Type and Accept application/json and this
// subscription's Mesos-Stream-Id, adding "framework_id": {"value":
// FrameworkID()} when the call has none. Options change any of that (see
// WithoutStreamID, WithStreamID, WithoutFrameworkID, WithRawBody, ...).
// 307s are followed. Any status is returned as a Response (check it with
// Response.Expect); err is only for transport failures.
func (s *Scheduler) Call(ctx context.Context, call map[string]any, opts ...CallOption) (*Response, error) {
	o := collect(opts)
	if o.transport == nil {
		o.transport = s.transport
	}
	if o.authorization == "" {
		o.authorization = s.auth
	}
	if !o.rawSet && !o.noFrameworkID {
		if _, ok := call["framework_id"]; !ok {
			call = maps.Clone(call)
			call["framework_id"] = ID(s.frameworkID)
		}
	}
	body, err := o.requestBody(call)
	if err != nil {
		return nil, err
	}
	return exchange(ctx, http.MethodPost, joinURL(s.leader, schedulerPath), body, o.postHeaders(s.streamID), o)
}

// SchedulerCall POSTs call to baseURL+"/api/v1/scheduler" outside any
// subscription: no Mesos-Stream-Id and no framework_id are added (pass them
// with WithStreamID or in the map). For checking how a master treats calls
// from frameworks that are not subscribed.
func SchedulerCall(ctx context.Context, baseURL string, call map[string]any, opts ...CallOption) (*Response, error) {
	o := collect(opts)
	body, err := o.requestBody(call)
	if err != nil {
		return nil, err
	}
	return exchange(ctx, http.MethodPost, joinURL(baseURL, schedulerPath), body, o.postHeaders(""), o)
}
