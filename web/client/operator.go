package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/clusterd/clusterd/web/mesos"
)

// operatorPath is the Mesos v1 operator API.
const operatorPath = "/api/v1"

// Operator sends one call of the Mesos v1 operator API (POST /api/v1) and
// returns the server's answer. Calls that change state (UPDATE_WEIGHTS,
// UPDATE_QUOTA, DRAIN_AGENT, TEARDOWN, ...) answer without a body: the
// response is nil then. A follower's 307 is followed to the leader with the
// call re-sent. An error answer is an *APIError whose Message is the
// server's plain-text message, as the Mesos API words it.
func (c *Client) Operator(ctx context.Context, call *mesos.OperatorCall) (*mesos.OperatorResponse, error) {
	body, err := json.Marshal(call)
	if err != nil {
		return nil, fmt.Errorf("encode %s call: %w", call.Type, err)
	}
	resp, err := c.send(ctx, http.MethodPost, operatorPath, nil, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := checkPlainStatus(resp); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: read response: %w", call.Type, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var out mesos.OperatorResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", call.Type, err)
	}
	return &out, nil
}

// checkPlainStatus is checkStatus for the Mesos API, whose errors are a
// plain-text message: that text, unchanged, is the APIError's Message.
func checkPlainStatus(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := strings.TrimSpace(string(data))
	if msg == "" {
		msg = fmt.Sprintf("%s (HTTP %d)", http.StatusText(resp.StatusCode), resp.StatusCode)
	}
	return &APIError{Status: resp.StatusCode, Message: msg}
}
