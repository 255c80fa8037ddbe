package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Wire shapes (a subset of api.Job / api.Task; the driver uses only the
// standard library, so it does not import the module's packages).
type jobSpec struct {
	ID               string   `json:"id"`
	Type             string   `json:"type"`
	Cmd              string   `json:"cmd"`
	Instances        int      `json:"instances"`
	CPUs             float64  `json:"cpus"`
	Mem              float64  `json:"mem"`
	KillGraceSeconds *float64 `json:"kill_grace_seconds,omitempty"`
}

type job struct {
	ID        string         `json:"id"`
	State     string         `json:"state"`
	CreatedAt time.Time      `json:"created_at"`
	Tasks     map[string]int `json:"tasks"`
}

type taskStatus struct {
	State string    `json:"state"`
	Time  time.Time `json:"time"`
}

type task struct {
	ID        string       `json:"id"`
	State     string       `json:"state"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
	History   []taskStatus `json:"history"`
}

func newHTTPClient() *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        32,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	// No client-wide timeout: the event stream is long-lived. Every other
	// request carries a context deadline (see reqCtx).
	return &http.Client{Transport: tr}
}

const requestTimeout = 30 * time.Second

func do(ctx context.Context, hc *http.Client, method, url string, body any, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode: %w", method, url, err)
		}
	}
	return resp.StatusCode, nil
}

func getJSON(ctx context.Context, hc *http.Client, url string, out any) error {
	_, err := do(ctx, hc, "GET", url, nil, out)
	return err
}

// eventStream follows GET /v1/events and turns every "data:" line into a
// wake-up on C (buffered 1, coalescing: a waiter re-reads state anyway).
type eventStream struct {
	C      chan struct{}
	events atomic.Int64
	last   atomic.Uint64 // last index seen
	done   chan struct{}
	err    error
}

func followEvents(ctx context.Context, hc *http.Client, base string) (*eventStream, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET /v1/events: %s", resp.Status)
	}
	es := &eventStream{C: make(chan struct{}, 1), done: make(chan struct{})}
	connected := make(chan struct{})
	go func() {
		defer close(es.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sawConnect := false
		for sc.Scan() {
			line := sc.Text()
			if !sawConnect && strings.HasPrefix(line, ":") {
				sawConnect = true
				close(connected)
				continue
			}
			data, ok := strings.CutPrefix(line, "data:")
			if !ok {
				continue
			}
			var ev struct {
				Kind  string `json:"kind"`
				Index uint64 `json:"index"`
			}
			if json.Unmarshal([]byte(strings.TrimSpace(data)), &ev) == nil {
				es.last.Store(ev.Index)
			}
			es.events.Add(1)
			select {
			case es.C <- struct{}{}:
			default:
			}
		}
		es.err = sc.Err()
		if !sawConnect {
			close(connected)
		}
	}()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("GET /v1/events: no \": connected\" comment within 10 s")
	}
	return es, nil
}

// drain empties the wake-up channel (before an action whose effects the
// caller then waits for).
func (es *eventStream) drain() {
	select {
	case <-es.C:
	default:
	}
}

// waitStats counts what woke a waiter.
type waitStats struct {
	Events   int `json:"event_wakeups"`
	Fallback int `json:"fallback_wakeups"`
	Checks   int `json:"checks"`
}

// waitJob re-reads the job after every event until cond holds. recheck is a
// safety net (not a tight poll): when no event arrives for that long, the
// job is read anyway, and the wake-up is counted as a fallback so that a
// stream that misses changes shows up in the results.
func waitJob(ctx context.Context, hc *http.Client, base, id string, es *eventStream, recheck time.Duration, ws *waitStats, cond func(*job) (bool, error)) (*job, error) {
	timer := time.NewTimer(recheck)
	defer timer.Stop()
	for {
		var j job
		ws.Checks++
		if err := getJSON(ctx, hc, base+"/v1/jobs/"+id, &j); err != nil {
			return nil, err
		}
		ok, err := cond(&j)
		if err != nil {
			return &j, err
		}
		if ok {
			return &j, nil
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(recheck)
		select {
		case <-ctx.Done():
			return &j, fmt.Errorf("job %s: %w (last state %q, tasks %v)", id, ctx.Err(), j.State, j.Tasks)
		case <-es.done:
			return &j, fmt.Errorf("event stream closed: %v", es.err)
		case <-es.C:
			ws.Events++
		case <-timer.C:
			ws.Fallback++
		}
	}
}

// scrapeMetrics reads /metrics into name{labels} -> value.
func scrapeMetrics(ctx context.Context, hc *http.Client, base string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}
