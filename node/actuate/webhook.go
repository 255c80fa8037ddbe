package actuate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// webhookActuator POSTs the decision as JSON.
type webhookActuator struct {
	url     string
	headers map[string]string
	client  *http.Client
	// backoff is the first wait before a retry, doubled each time.
	backoff  time.Duration
	attempts int
}

func newWebhook(c Config) *webhookActuator {
	return &webhookActuator{url: c.URL, headers: c.Headers, client: &http.Client{Timeout: c.timeout()}, backoff: time.Second, attempts: 3}
}

// String names the webhook without a password its URL may carry, since it
// goes to logs and `clusterd autoscale status`.
func (w *webhookActuator) String() string {
	if u, err := url.Parse(w.url); err == nil {
		return "webhook " + u.Redacted()
	}
	return "webhook " + w.url
}

func (w *webhookActuator) Act(ctx context.Context, d Decision) error {
	body, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode the decision: %w", err)
	}
	wait := w.backoff
	var last error
	for attempt := 1; ; attempt++ {
		retry, err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry || attempt >= w.attempts {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (after: %v)", w, ctx.Err(), last)
		case <-time.After(wait):
		}
		wait *= 2
	}
	return fmt.Errorf("%s: %w", w, last)
}

// post sends once; retry says whether another try may do better (a
// connection error, 429, 5xx).
func (w *webhookActuator) post(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range w.headers {
		req.Header.Set(k, v)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	start, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	// Read a little more so the connection can be reused, but no more:
	// the answer's body means nothing past its start.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	err = fmt.Errorf("answered %s: %s", resp.Status, bytes.TrimSpace(start))
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500, err
}
