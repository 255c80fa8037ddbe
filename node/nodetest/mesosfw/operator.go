package mesosfw

import (
	"context"
	"fmt"
	"net/http"
)

// OperatorCallRaw POSTs call to baseURL+"/api/v1" (the v1 operator API)
// with Content-Type and Accept application/json, following 307, and returns
// whatever came back.
func OperatorCallRaw(ctx context.Context, baseURL string, call map[string]any, opts ...CallOption) (*Response, error) {
	o := collect(opts)
	body, err := o.requestBody(call)
	if err != nil {
		return nil, err
	}
	return exchange(ctx, http.MethodPost, joinURL(baseURL, operatorPath), body, o.postHeaders(""), o)
}

// OperatorCall is OperatorCallRaw for the usual case. A 2xx answer gives its
// status and its body decoded (nil when empty; otherwise it must be a JSON
// object with Content-Type application/json). Any other status gives the
// status and a *StatusError.
func OperatorCall(ctx context.Context, baseURL string, call map[string]any, opts ...CallOption) (int, map[string]any, error) {
	r, err := OperatorCallRaw(ctx, baseURL, call, opts...)
	if err != nil {
		return 0, nil, err
	}
	if r.Status < 200 || r.Status > 299 {
		return r.Status, nil, &StatusError{URL: r.URL, Status: r.Status, Header: r.Header, Body: r.Body, Want: []int{200, 202}}
	}
	if len(r.Body) == 0 {
		return r.Status, nil, nil
	}
	if ct := r.Header.Get("Content-Type"); !isJSONContentType(ct) {
		return r.Status, nil, fmt.Errorf("operator %s %s: Content-Type %q, want %s", Type(call), r.URL, ct, jsonType)
	}
	obj, err := r.JSON()
	return r.Status, obj, err
}

// OperatorSubscribe POSTs {"type": "SUBSCRIBE"} to baseURL+"/api/v1",
// following 307, and returns the operator event stream once its first event,
// SUBSCRIBED (carrying subscribed.get_state), has arrived. ctx bounds only
// the handshake.
func OperatorSubscribe(ctx context.Context, baseURL string, opts ...CallOption) (*Stream, error) {
	o := collect(opts)
	body, err := o.requestBody(map[string]any{"type": "SUBSCRIBE"})
	if err != nil {
		return nil, err
	}
	st, resp, err := openStream(ctx, "operator", joinURL(baseURL, operatorPath), body, o.postHeaders(""), o)
	if err != nil {
		return nil, err
	}
	st.leader = baseOf(resp.Request.URL, operatorPath)
	if _, err := LookupObj(st.subscribed, "subscribed", "get_state"); err != nil {
		st.Close()
		return nil, fmt.Errorf("operator SUBSCRIBE: SUBSCRIBED event: %w", err)
	}
	return st, nil
}

// GetJSON GETs rawURL (e.g. base+"/master/state") with Accept
// application/json, following 307, and requires 200 with a JSON object
// body. Other statuses give a *StatusError.
func GetJSON(ctx context.Context, rawURL string, opts ...CallOption) (int, map[string]any, error) {
	o := collect(opts)
	h := http.Header{}
	h.Set("Accept", jsonType)
	if o.accept != "" {
		h.Set("Accept", o.accept)
	}
	o.addAuthorization(h)
	for k, vs := range o.header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	r, err := exchange(ctx, http.MethodGet, rawURL, nil, h, o)
	if err != nil {
		return 0, nil, err
	}
	if r.Status != http.StatusOK {
		return r.Status, nil, r.Expect(http.StatusOK)
	}
	obj, err := r.JSON()
	return r.Status, obj, err
}

// MasterRedirect GETs baseURL+"/master/redirect" without following it and
// requires 307 with a Location; it returns the Location as sent (Mesos sends
// a scheme-relative "//host:port") and its resolution against the request.
func MasterRedirect(ctx context.Context, baseURL string) (location, resolved string, err error) {
	u := joinURL(baseURL, "/master/redirect")
	r, err := exchange(ctx, http.MethodGet, u, nil, nil, collect([]CallOption{NoRedirect()}))
	if err != nil {
		return "", "", err
	}
	if err := r.Expect(http.StatusTemporaryRedirect); err != nil {
		return "", "", err
	}
	location = r.Header.Get("Location")
	if location == "" {
		return "", "", fmt.Errorf("GET %s: 307 without a Location header", u)
	}
	// Resolve against the bare origin: a Location without a path names the
	// leader itself, not its /master/redirect.
	origin := baseOf(r.reqURL(), "/master/redirect")
	resolved, err = ResolveLocation(origin, location)
	if err != nil {
		return location, "", fmt.Errorf("GET %s: %w", u, err)
	}
	return location, resolved, nil
}
