package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/clusterd/clusterd/node/chaos/check"
)

// recorder collects the history; every worker appends to it.
type recorder struct {
	mu  sync.Mutex
	ops []check.Operation
}

func (r *recorder) add(op check.Operation) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

func (r *recorder) history() []check.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]check.Operation(nil), r.ops...)
}

// answer is one HTTP exchange as a client saw it.
type answer struct {
	status int
	body   []byte
	err    error
}

// call makes one request (a 307 to the leader is followed) and reads the
// whole answer.
func call(ctx context.Context, hc *http.Client, method, url string, body any) answer {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return answer{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return answer{status: resp.StatusCode, err: err}
	}
	return answer{status: resp.StatusCode, body: b}
}

// outcome classifies an answer the way the history needs it: no answer, or
// one that does not say whether the change happened (a 5xx other than 503:
// a timeout inside the server, a leader lost mid-commit), is unknown; a
// refusal (4xx, or 503: no leader to take it) definitely did not happen;
// 404 is an answer about the state.
func (a answer) outcome() (check.Outcome, bool /* found */, string) {
	switch {
	case a.err != nil:
		return check.OutcomeUnknown, false, a.err.Error()
	case a.status >= 200 && a.status < 300:
		return check.OutcomeOK, true, ""
	case a.status == http.StatusNotFound:
		return check.OutcomeOK, false, ""
	case a.status == http.StatusServiceUnavailable || (a.status >= 400 && a.status < 500):
		return check.OutcomeFailed, false, fmt.Sprintf("%d %s", a.status, short(a.body))
	default:
		return check.OutcomeUnknown, false, fmt.Sprintf("%d %s", a.status, short(a.body))
	}
}

func short(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// sleepCtx sleeps d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
