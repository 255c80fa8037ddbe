package web

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
	"github.com/prometheus/client_golang/prometheus"
)

type testEnv struct {
	backend *fakeBackend
	srv     *httptest.Server
	reg     *prometheus.Registry
	client  *http.Client
}

// newTestEnv serves a sample cluster from a fake backend, with short poll
// and ping intervals.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	fb := newFakeBackend()
	sampleCluster(fb)
	reg := prometheus.NewRegistry()
	cfg := Config{Backend: fb, Gatherer: reg, Registerer: reg}
	s := newServer(cfg)
	s.pollInterval = 10 * time.Millisecond
	s.pingInterval = 20 * time.Millisecond
	srv := httptest.NewServer(s.handler(cfg))
	t.Cleanup(srv.Close)
	return &testEnv{
		backend: fb, srv: srv, reg: reg,
		client: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// do sends a request; the client gives up after 10 s, streams included, and
// does not follow redirects.
func (e *testEnv) do(t *testing.T, method, path, body string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// expectJSON checks the status and content type and decodes the body into v.
func expectJSON(t *testing.T, resp *http.Response, status int, v any) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q, want application/json", resp.Request.URL.Path, ct)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: decode %s: %v", resp.Request.URL.Path, body, err)
	}
}

func expectError(t *testing.T, resp *http.Response, status int, field, contains string) api.ErrorBody {
	t.Helper()
	var eb api.ErrorBody
	expectJSON(t, resp, status, &eb)
	if eb.Field != field {
		t.Errorf("error field %q, want %q (error %q)", eb.Field, field, eb.Error)
	}
	if !strings.Contains(eb.Error, contains) {
		t.Errorf("error %q does not contain %q", eb.Error, contains)
	}
	return eb
}

func TestReadRoutesReturnBackendState(t *testing.T) {
	e := newTestEnv(t)

	var st api.Status
	expectJSON(t, e.do(t, "GET", "/v1/status", ""), 200, &st)
	if st.ClusterID != "c-7f3a" || st.Capacity.CPUs != 16 {
		t.Errorf("status = %+v", st)
	}
	var nodes []api.Node
	expectJSON(t, e.do(t, "GET", "/v1/nodes", ""), 200, &nodes)
	if len(nodes) != 2 || nodes[0].Name != "ip-10-0-1-5" {
		t.Errorf("nodes = %+v", nodes)
	}
	var jobs []api.Job
	expectJSON(t, e.do(t, "GET", "/v1/jobs", ""), 200, &jobs)
	if len(jobs) != 2 || jobs[0].ID != "bigbatch" || jobs[0].Pending == nil || !jobs[0].Pending.Unplaceable {
		t.Errorf("jobs = %+v", jobs)
	}
	var job api.Job
	expectJSON(t, e.do(t, "GET", "/v1/jobs/web", ""), 200, &job)
	if job.ID != "web" || job.Version != 3 {
		t.Errorf("job = %+v", job)
	}
	var tasks []api.Task
	expectJSON(t, e.do(t, "GET", "/v1/tasks", ""), 200, &tasks)
	if len(tasks) != 3 {
		t.Errorf("tasks = %+v", tasks)
	}
	var task api.Task
	expectJSON(t, e.do(t, "GET", "/v1/tasks/web.0.a1", ""), 200, &task)
	if task.ID != "web.0.a1" || len(task.History) != 2 {
		t.Errorf("task = %+v", task)
	}
}

func TestEmptyListsAreJSONArrays(t *testing.T) {
	e := newTestEnv(t)
	e.backend.nodes = nil
	resp := e.do(t, "GET", "/v1/nodes", "")
	body, _ := io.ReadAll(resp.Body)
	if strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("empty node list = %s, want []", body)
	}
}

func TestPrettyIndentsJSON(t *testing.T) {
	e := newTestEnv(t)
	plain, _ := io.ReadAll(e.do(t, "GET", "/v1/status", "").Body)
	pretty, _ := io.ReadAll(e.do(t, "GET", "/v1/status?pretty", "").Body)
	if strings.Contains(string(plain), "\n  ") || !strings.Contains(string(pretty), "\n  \"cluster_id\"") {
		t.Errorf("plain %q\npretty %q", plain, pretty)
	}
}

func TestSubmitJobCreatesThenUpdates(t *testing.T) {
	e := newTestEnv(t)
	spec := `{"id":"hello","type":"batch","cmd":"echo hello","instances":1,"cpus":0.1,"mem":32}`

	var job api.Job
	resp := e.do(t, "POST", "/v1/jobs", spec)
	expectJSON(t, resp, http.StatusCreated, &job)
	if job.ID != "hello" || job.Version != 1 || job.Role != api.DefaultJobRole || job.Retries == nil || *job.Retries != 2 {
		t.Errorf("created job = %+v (defaults must be applied before the backend)", job)
	}
	if loc := resp.Header.Get("Location"); loc != "/v1/jobs/hello" {
		t.Errorf("Location %q", loc)
	}
	expectJSON(t, e.do(t, "POST", "/v1/jobs", spec), http.StatusOK, &job)
	if job.Version != 2 {
		t.Errorf("updated job version %d, want 2", job.Version)
	}
	if n := e.backend.submittedCount(); n != 2 {
		t.Errorf("%d submits reached the backend, want 2", n)
	}
}

func TestSubmitJobRejectsBadSpecsBeforeTheBackend(t *testing.T) {
	cases := []struct {
		name, body, field, contains string
	}{
		{"malformed JSON", `{"id":"a",`, "", "JSON"},
		{"empty body", ``, "", "empty body"},
		{"unknown field", `{"id":"a","type":"batch","cmd":"x","instances":1,"cpu":1,"mem":32}`, "cpu", "unknown field"},
		{"zero cpus", `{"id":"a","type":"batch","cmd":"x","instances":1,"cpus":0,"mem":32}`, "cpus", "more than 0"},
		{"empty cmd", `{"id":"a","type":"batch","cmd":" ","instances":1,"cpus":1,"mem":32}`, "cmd", "required"},
		{"wrong type", `{"id":"a","type":"batch","cmd":"x","instances":"1","cpus":1,"mem":32}`, "instances", "wrong type"},
		{"two documents", `{"id":"a","type":"batch","cmd":"x","instances":1,"cpus":1,"mem":32} {}`, "", "one job"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t)
			expectError(t, e.do(t, "POST", "/v1/jobs", c.body), http.StatusBadRequest, c.field, c.contains)
			if n := e.backend.submittedCount(); n != 0 {
				t.Errorf("a rejected spec reached the backend (%d submits)", n)
			}
		})
	}
}

func TestOversizedBodiesAreRejected(t *testing.T) {
	e := newTestEnv(t)
	// Over the job limit (64 KiB) but under the request limit.
	big := `{"id":"a","type":"batch","cmd":"` + strings.Repeat("x", 100<<10) + `","instances":1,"cpus":1,"mem":32}`
	expectError(t, e.do(t, "POST", "/v1/jobs", big), http.StatusBadRequest, "", "larger than 64 KiB")
	// Over the request limit (1 MiB).
	huge := strings.Repeat(" ", 2<<20)
	expectError(t, e.do(t, "POST", "/v1/jobs", huge), http.StatusRequestEntityTooLarge, "", "larger than")
	if n := e.backend.submittedCount(); n != 0 {
		t.Errorf("an oversized spec reached the backend (%d submits)", n)
	}
}

func TestDeleteJobAnswersNoContent(t *testing.T) {
	e := newTestEnv(t)
	resp := e.do(t, "DELETE", "/v1/jobs/web", "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204", resp.StatusCode)
	}
	if len(e.backend.deleted) != 1 || e.backend.deleted[0] != "web" {
		t.Errorf("deleted %v", e.backend.deleted)
	}
}

func TestScaleJobTakesAnInstanceCount(t *testing.T) {
	e := newTestEnv(t)
	var j api.Job
	expectJSON(t, e.do(t, "POST", "/v1/jobs/web/scale", `{"instances": 5}`), 200, &j)
	if j.ID != "web" || j.Instances != 5 {
		t.Errorf("scaled job %s has %d instances, want web with 5", j.ID, j.Instances)
	}
	expectError(t, e.do(t, "POST", "/v1/jobs/web/scale", `{}`), 400, "instances", "is required")
	expectError(t, e.do(t, "POST", "/v1/jobs/web/scale", `{"instances": -1}`), 400, "instances", "between 0 and")
	expectError(t, e.do(t, "POST", "/v1/jobs/web/scale", `{"instances": 2, "force": true}`), 400, "force", "unknown field (known: instances)")
	expectError(t, e.do(t, "POST", "/v1/jobs/nope/scale", `{"instances": 2}`), 404, "", `job "nope" not found`)
	expectError(t, e.do(t, "GET", "/v1/jobs/web/scale", ""), 405, "", "")
}

func TestStartRunAnswersCreatedWithTheRun(t *testing.T) {
	e := newTestEnv(t)
	var j api.Job
	expectJSON(t, e.do(t, "POST", "/v1/jobs/bigbatch/runs", ""), 201, &j)
	if n := len(j.Runs); n == 0 || j.Runs[n-1].Trigger != "manual" {
		t.Errorf("runs %+v, want a manual run last", j.Runs)
	}
	expectError(t, e.do(t, "POST", "/v1/jobs/nope/runs", ""), 404, "", `job "nope" not found`)
}

func TestUnknownJobAndTaskAnswerNotFound(t *testing.T) {
	e := newTestEnv(t)
	expectError(t, e.do(t, "GET", "/v1/jobs/nope", ""), 404, "", `job "nope" not found`)
	expectError(t, e.do(t, "DELETE", "/v1/jobs/nope", ""), 404, "", `job "nope" not found`)
	expectError(t, e.do(t, "GET", "/v1/tasks/nope", ""), 404, "", `task "nope" not found`)
	expectError(t, e.do(t, "POST", "/v1/tasks/nope/kill", ""), 404, "", `task "nope" not found`)
	expectError(t, e.do(t, "GET", "/v1/tasks/nope/logs", ""), 404, "", `task "nope" not found`)
}

func TestListTasksPassesTheFilter(t *testing.T) {
	e := newTestEnv(t)
	var tasks []api.Task
	expectJSON(t, e.do(t, "GET", "/v1/tasks?job=web&node=n-1&state=running&active=true", ""), 200, &tasks)
	got := e.backend.filters[len(e.backend.filters)-1]
	want := api.TaskFilter{Job: "web", Node: "n-1", State: api.TaskRunning, Active: true}
	if got != want {
		t.Errorf("filter %+v, want %+v", got, want)
	}
	expectJSON(t, e.do(t, "GET", "/v1/tasks?state=TASK_FINISHED", ""), 200, &tasks)
	if len(tasks) != 1 || tasks[0].ID != "hello.0.c3" {
		t.Errorf("finished tasks = %+v", tasks)
	}
	expectError(t, e.do(t, "GET", "/v1/tasks?state=sleeping", ""), 400, "state", "unknown task state")
	expectError(t, e.do(t, "GET", "/v1/tasks?active=maybe", ""), 400, "active", "true or false")
}

func TestKillTask(t *testing.T) {
	e := newTestEnv(t)
	resp := e.do(t, "POST", "/v1/tasks/web.0.a1/kill", "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, want 202", resp.StatusCode)
	}
	if len(e.backend.killed) != 1 || e.backend.killed[0] != "web.0.a1" {
		t.Errorf("killed %v", e.backend.killed)
	}
	expectError(t, e.do(t, "POST", "/v1/tasks/hello.0.c3/kill", ""), http.StatusConflict, "", "already ended")
}

func TestNotLeaderRedirectsToTheLeader(t *testing.T) {
	cases := []struct{ addr, path, want string }{
		{"10.0.0.2:5050", "/v1/jobs", "http://10.0.0.2:5050/v1/jobs"},
		{"10.0.0.2:5050", "/v1/tasks?job=web&active=true", "http://10.0.0.2:5050/v1/tasks?job=web&active=true"},
		{"https://leader.example:5050", "/v1/status", "https://leader.example:5050/v1/status"},
	}
	for _, c := range cases {
		e := newTestEnv(t)
		e.backend.setErr(&api.NotLeaderError{LeaderAddr: c.addr})
		resp := e.do(t, "GET", c.path, "")
		expectError(t, resp, http.StatusTemporaryRedirect, "", "not the leader")
		if loc := resp.Header.Get("Location"); loc != c.want {
			t.Errorf("GET %s: Location %q, want %q", c.path, loc, c.want)
		}
	}
	// A POST is redirected too: 307 makes clients repeat the body.
	e := newTestEnv(t)
	e.backend.setErr(&api.NotLeaderError{LeaderAddr: "10.0.0.2:5050"})
	resp := e.do(t, "POST", "/v1/jobs", `{"id":"a","type":"batch","cmd":"x","instances":1,"cpus":1,"mem":32}`)
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "http://10.0.0.2:5050/v1/jobs" {
		t.Errorf("POST: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestNoLeaderAnswersServiceUnavailable(t *testing.T) {
	e := newTestEnv(t)
	e.backend.setErr(&api.NotLeaderError{})
	resp := e.do(t, "GET", "/v1/jobs", "")
	expectError(t, resp, http.StatusServiceUnavailable, "", "no leader")
	if resp.Header.Get("Location") != "" {
		t.Errorf("a 503 must not redirect")
	}
}

func TestBackendFailureAnswersInternalError(t *testing.T) {
	e := newTestEnv(t)
	e.backend.setErr(errors.New("bolt: database not open"))
	expectError(t, e.do(t, "GET", "/v1/status", ""), http.StatusInternalServerError, "", "database not open")
}

func TestUnknownRoutesAndMethodsAnswerJSON(t *testing.T) {
	e := newTestEnv(t)
	expectError(t, e.do(t, "GET", "/v1/frobnicate", ""), 404, "", "no such API endpoint")
	expectError(t, e.do(t, "GET", "/v1/tasks/a/b/c", ""), 404, "", "no such API endpoint")
	resp := e.do(t, "PUT", "/v1/jobs", "{}")
	expectError(t, resp, http.StatusMethodNotAllowed, "", "not allowed")
	if allow := resp.Header.Get("Allow"); allow != "GET, HEAD, POST" {
		t.Errorf("Allow %q", allow)
	}
	expectError(t, e.do(t, "GET", "/v1/tasks/web.0.a1/kill", ""), http.StatusMethodNotAllowed, "", "use POST")
	expectError(t, e.do(t, "POST", "/", ""), http.StatusMethodNotAllowed, "", "not allowed")
}

func TestHealth(t *testing.T) {
	e := newTestEnv(t)
	resp := e.do(t, "GET", "/health", "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("health: %d %q", resp.StatusCode, body)
	}
}

func TestEventsStreamsBackendEvents(t *testing.T) {
	e := newTestEnv(t)
	resp := e.do(t, "GET", "/v1/events", "")
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	select {
	case <-e.backend.subscribe:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never subscribed")
	}
	e.backend.emit(api.Event{Kind: "state", Index: 42})

	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev api.Event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("decode %q: %v", data, err)
		}
		if ev != (api.Event{Kind: "state", Index: 42}) {
			t.Errorf("event %+v", ev)
		}
		return
	}
	t.Fatalf("stream ended without an event: %v", sc.Err())
}

func TestEventsSendsKeepAlivePings(t *testing.T) {
	e := newTestEnv(t)
	resp := e.do(t, "GET", "/v1/events", "")
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == ": ping" {
			return
		}
	}
	t.Fatalf("no ping before the stream ended: %v", sc.Err())
}

func readLog(t *testing.T, e *testEnv, path string) (string, *http.Response) {
	t.Helper()
	resp := e.do(t, "GET", path, "")
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	return string(body), resp
}

func TestTaskLogsFromOffsetAndTail(t *testing.T) {
	e := newTestEnv(t)
	e.backend.appendLog("hello.0.c3", "stdout", "0123456789")
	e.backend.appendLog("hello.0.c3", "stderr", "oops")

	cases := []struct{ query, want, offset string }{
		{"", "0123456789", "0"},
		{"?offset=4", "456789", "4"},
		{"?offset=99", "", "99"},
		{"?stream=stderr", "oops", "0"},
		{"?tail=3", "789", "7"},
		{"?tail=100", "0123456789", "0"},
	}
	for _, c := range cases {
		got, resp := readLog(t, e, "/v1/tasks/hello.0.c3/logs"+c.query)
		if got != c.want {
			t.Errorf("logs%s = %q, want %q", c.query, got, c.want)
		}
		if off := resp.Header.Get(LogOffsetHeader); off != c.offset {
			t.Errorf("logs%s: %s %q, want %q", c.query, LogOffsetHeader, off, c.offset)
		}
	}
	expectError(t, e.do(t, "GET", "/v1/tasks/hello.0.c3/logs?stream=stdin", ""), 400, "stream", "stdout or stderr")
	expectError(t, e.do(t, "GET", "/v1/tasks/hello.0.c3/logs?offset=-1", ""), 400, "offset", "byte offset")
	expectError(t, e.do(t, "GET", "/v1/tasks/hello.0.c3/logs?follow=please", ""), 400, "follow", "true or false")
}

func TestTaskLogsFollowEndsWhenTheTaskEnds(t *testing.T) {
	e := newTestEnv(t)
	id := "web.1.b2"
	e.backend.appendLog(id, "stdout", "first line\n")

	resp := e.do(t, "GET", "/v1/tasks/"+id+"/logs?offset=6&follow=true", "")
	rd := bufio.NewReader(resp.Body)
	line, err := rd.ReadString('\n')
	if err != nil || line != "line\n" {
		t.Fatalf("first read %q, %v", line, err)
	}
	// New bytes arrive while the task runs, then it ends with a last line
	// written just before the terminal state.
	e.backend.appendLog(id, "stdout", "second line\n")
	line, err = rd.ReadString('\n')
	if err != nil || line != "second line\n" {
		t.Fatalf("followed read %q, %v", line, err)
	}
	e.backend.appendLog(id, "stdout", "last words\n")
	e.backend.setTaskState(id, api.TaskFinished)
	rest, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("the stream did not end cleanly after the task finished: %v", err)
	}
	if string(rest) != "last words\n" {
		t.Errorf("after finish: %q, want %q", rest, "last words\n")
	}
}

func TestMetricsCountRequestsByRoutePattern(t *testing.T) {
	e := newTestEnv(t)
	e.do(t, "GET", "/v1/jobs/web", "")
	e.do(t, "GET", "/v1/jobs/nope", "")
	resp := e.do(t, "GET", "/metrics", "")
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`clusterd_http_requests_total{code="200",route="GET /v1/jobs/{id}"} 1`,
		`clusterd_http_requests_total{code="404",route="GET /v1/jobs/{id}"} 1`,
		`clusterd_http_request_duration_seconds_count{code="200",route="GET /v1/jobs/{id}"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(body), "/v1/jobs/web") {
		t.Errorf("/metrics labels a raw path")
	}
}

func TestHandlersShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	fb := newFakeBackend()
	NewHandler(Config{Backend: fb, Registerer: reg})
	NewHandler(Config{Backend: fb, Registerer: reg}) // must not panic
}

func TestDashboardIsServed(t *testing.T) {
	e := newTestEnv(t)
	resp := e.do(t, "GET", "/", "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, ref := range []string{`src="app.js"`, `href="style.css"`} {
		if !strings.Contains(string(body), ref) {
			t.Errorf("index.html does not reference %s", ref)
		}
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("the dashboard has no Content-Security-Policy")
	}
	resp = e.do(t, "GET", "/app.js", "")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.Contains(ct, "javascript") {
		t.Errorf("/app.js: %d %q", resp.StatusCode, ct)
	}
	resp = e.do(t, "GET", "/style.css", "")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/css") {
		t.Errorf("/style.css: %d %q", resp.StatusCode, ct)
	}
}
