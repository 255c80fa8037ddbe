package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/clusterd/clusterd/web/api"
)

// jobSnapshot is the job and its tasks at one moment.
type jobSnapshot struct {
	job   api.Job
	tasks []api.Task
}

// scriptedJobAPI serves one job through a script of snapshots: each read
// of the job moves to the next (the last one stays), and an event on
// /v1/events tells a waiting client to read again at once, so a --wait
// walks the script without sleeping. POSTs (a submission, a scale, a
// start) are recorded and answered with answer (or, when status is set,
// that error).
type scriptedJobAPI struct {
	mu      sync.Mutex
	steps   []jobSnapshot
	at      int // the step the next read of the job returns
	last    int // the step the last read of the job returned
	posts   []string
	answer  api.Job
	status  int
	message string
	kick    chan struct{}
}

func (f *scriptedJobAPI) start(t *testing.T) string {
	f.kick = make(chan struct{}, 1)
	mux := http.NewServeMux()
	send := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	post := func(w http.ResponseWriter, r *http.Request, call string) {
		f.mu.Lock()
		f.posts = append(f.posts, call)
		status, msg, answer := f.status, f.message, f.answer
		f.mu.Unlock()
		if status != 0 {
			send(w, status, api.ErrorBody{Error: msg})
			return
		}
		send(w, http.StatusOK, answer)
	}
	mux.HandleFunc("POST /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		post(w, r, "submit")
	})
	mux.HandleFunc("POST /v1/jobs/{id}/scale", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		post(w, r, fmt.Sprintf("scale %s %s", r.PathValue("id"), strings.TrimSpace(string(body))))
	})
	mux.HandleFunc("POST /v1/jobs/{id}/runs", func(w http.ResponseWriter, r *http.Request) {
		post(w, r, "start "+r.PathValue("id"))
	})
	mux.HandleFunc("GET /v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		if len(f.steps) == 0 || r.PathValue("id") != f.steps[0].job.ID {
			f.mu.Unlock()
			send(w, http.StatusNotFound, api.ErrorBody{Error: fmt.Sprintf("job %q not found", r.PathValue("id"))})
			return
		}
		job := f.steps[f.at].job
		f.last = f.at
		if f.at < len(f.steps)-1 {
			f.at++
			select {
			case f.kick <- struct{}{}:
			default:
			}
		}
		f.mu.Unlock()
		send(w, http.StatusOK, job)
	})
	mux.HandleFunc("GET /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		var tasks []api.Task
		if len(f.steps) > 0 {
			tasks = f.steps[f.last].tasks // the tasks that go with the job just read
		}
		f.mu.Unlock()
		send(w, http.StatusOK, append([]api.Task{}, tasks...))
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for i := 1; ; i++ {
			select {
			case <-r.Context().Done():
				return
			case <-f.kick:
				fmt.Fprintf(w, "data: {\"kind\":\"state\",\"index\":%d}\n\n", i)
				w.(http.Flusher).Flush()
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func (f *scriptedJobAPI) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.posts...)
}

func webService(instances int) api.Job {
	return api.Job{JobSpec: api.JobSpec{ID: "web", Type: api.JobService, Instances: instances, Ports: 1,
		HealthChecks: []api.HealthCheck{{Protocol: "HTTP", Path: "/health"}}}, Version: 3, State: api.JobStateDeploying}
}

func webTask(instance int, state string, healthy *bool) api.Task {
	return api.Task{ID: fmt.Sprintf("web.%d.x", instance), Job: "web", JobVersion: 3, Instance: instance, State: state, Healthy: healthy}
}

func TestScaleWaitFollowsTheInstancesUntilAllAreHealthy(t *testing.T) {
	ok := boolp(true)
	f := &scriptedJobAPI{answer: webService(3), steps: []jobSnapshot{
		{webService(1), []api.Task{webTask(0, api.TaskRunning, ok)}}, // a replica that has not seen the scale yet
		{webService(3), []api.Task{webTask(0, api.TaskRunning, ok), webTask(1, api.TaskStaging, nil), webTask(2, api.TaskStaging, nil)}},
		{webService(3), []api.Task{webTask(0, api.TaskRunning, ok), webTask(1, api.TaskRunning, nil), webTask(2, api.TaskRunning, ok)}},
		{webService(3), []api.Task{webTask(0, api.TaskRunning, ok), webTask(1, api.TaskRunning, ok), webTask(2, api.TaskRunning, ok)}},
	}}
	addr := f.start(t)
	out, errOut, code := runCLI(t, "", "--addr", addr, "scale", "--wait", "web", "3")
	if code != 0 || out != "job web scaled to 3 instances (version 3)\n" {
		t.Fatalf("code %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	if want := []string{`scale web {"instances":3}`}; !equalStrings(f.calls(), want) {
		t.Fatalf("sent %q, want %q", f.calls(), want)
	}
	want := "web: 1/3 healthy, 2 staging\nweb: 2/3 healthy, 1 checking\nweb: 3/3 healthy\n"
	if errOut != want {
		t.Fatalf("progress\n%s\nwant\n%s", errOut, want)
	}
}

func TestScaleWaitExitsTwoWithTheReasonWhenUnplaceable(t *testing.T) {
	stuck := webService(5)
	stuck.Pending = &api.PendingReason{Instances: 2, Unplaceable: true, Message: "2 instances: hostname UNIQUE leaves no node (3 nodes)"}
	f := &scriptedJobAPI{answer: webService(5), steps: []jobSnapshot{{stuck, []api.Task{webTask(0, api.TaskRunning, boolp(true))}}}}
	addr := f.start(t)
	_, errOut, code := runCLI(t, "", "--addr", addr, "scale", "-w", "web", "5")
	if code != exitUsage || !strings.Contains(errOut, "job web cannot be placed on any node: 2 instances: hostname UNIQUE leaves no node") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

func TestScaleRefusesBadInputBeforeSendingAnything(t *testing.T) {
	f := &scriptedJobAPI{answer: webService(3), steps: []jobSnapshot{{job: webService(3)}}}
	addr := f.start(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"scale", "web", "three"}, `instances "three": give a whole number, 0 or more`},
		{[]string{"scale", "web"}, "usage: clusterd scale [--wait [--timeout DURATION]] JOB INSTANCES"},
		{[]string{"scale", "web", "3", "--wait"}, "flags go before the arguments: clusterd scale --wait web 3"},
	}
	for _, c := range cases {
		_, errOut, code := runCLI(t, "", append([]string{"--addr", addr}, c.args...)...)
		if code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("clusterd %s: code %d, stderr %q; want exit 2 saying %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
	if len(f.calls()) != 0 {
		t.Fatalf("bad input reached the server: %q", f.calls())
	}
}

func TestScaleSaysWhyTheServerRefused(t *testing.T) {
	f := &scriptedJobAPI{status: http.StatusBadRequest,
		message: "instances: job nightly is a batch job: scale services; a batch job's instances per run change by submitting it again",
		steps:   []jobSnapshot{{job: api.Job{JobSpec: api.JobSpec{ID: "nightly", Type: api.JobBatch}}}}}
	addr := f.start(t)
	_, errOut, code := runCLI(t, "", "--addr", addr, "scale", "nightly", "2")
	if code != exitError || !strings.Contains(errOut, "scale job nightly: instances: job nightly is a batch job: scale services") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}

	// 404: no such job, or a server without the endpoint.
	f = &scriptedJobAPI{status: http.StatusNotFound, message: "404 page not found", steps: []jobSnapshot{{job: webService(1)}}}
	addr = f.start(t)
	_, errOut, code = runCLI(t, "", "--addr", addr, "scale", "nope", "2")
	if code != exitError || !strings.Contains(errOut, `job "nope" not found; see 'clusterd jobs'`) {
		t.Fatalf("unknown job: code %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "", "--addr", addr, "scale", "web", "2")
	if code != exitError || !strings.Contains(errOut, "cannot do this (is it an older clusterd?") || !strings.Contains(errOut, "submit the job with the new instance count") {
		t.Fatalf("old server: code %d, stderr %q", code, errOut)
	}
}

func nightly(runs ...api.Run) api.Job {
	return api.Job{JobSpec: api.JobSpec{ID: "nightly", Type: api.JobCron, Instances: 1}, Version: 2, State: "running", Runs: runs}
}

func nightlyTask(run int, state string) api.Task {
	return api.Task{ID: fmt.Sprintf("nightly.0.r%d", run), Job: "nightly", JobVersion: 2, Run: run, State: state, ExitCode: exitOf(state)}
}

func exitOf(state string) *int {
	switch state {
	case api.TaskFinished:
		return intp(0)
	case api.TaskFailed:
		return intp(3)
	}
	return nil
}

func TestStartPrintsTheRunNumber(t *testing.T) {
	f := &scriptedJobAPI{answer: nightly(api.Run{Number: 6, State: "succeeded"}, api.Run{Number: 7, Trigger: "manual", State: "running"}),
		steps: []jobSnapshot{{job: nightly()}}}
	addr := f.start(t)
	out, errOut, code := runCLI(t, "", "--addr", addr, "start", "nightly")
	if code != 0 || out != "started run 7 of nightly\n" || !equalStrings(f.calls(), []string{"start nightly"}) {
		t.Fatalf("code %d, stdout %q, stderr %q, calls %q", code, out, errOut, f.calls())
	}
}

func TestStartWaitExitsZeroWhenTheRunSucceeds(t *testing.T) {
	running := api.Run{Number: 7, Trigger: "manual", State: "running"}
	done := running
	done.State = "succeeded"
	f := &scriptedJobAPI{answer: nightly(running), steps: []jobSnapshot{
		{nightly(api.Run{Number: 6, State: "succeeded"}), nil}, // a replica that has not seen run 7 yet
		{nightly(running), []api.Task{nightlyTask(6, api.TaskFinished), nightlyTask(7, api.TaskRunning)}},
		{nightly(done), []api.Task{nightlyTask(6, api.TaskFinished), nightlyTask(7, api.TaskFinished)}},
	}}
	addr := f.start(t)
	out, errOut, code := runCLI(t, "", "--addr", addr, "start", "--wait", "nightly")
	if code != 0 || out != "started run 7 of nightly\nrun 7 of nightly succeeded\n" {
		t.Fatalf("code %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	if want := "nightly: run 7: 0/1 finished, 1 running\nnightly: run 7: 1/1 finished\n"; errOut != want {
		t.Fatalf("progress\n%s\nwant\n%s", errOut, want)
	}
}

func TestStartWaitExitsOneWithTheRunsMessageWhenItFails(t *testing.T) {
	running := api.Run{Number: 7, Trigger: "manual", State: "running"}
	failed := running
	failed.State, failed.Message = "failed", "instance 0 failed after 0 retries: failed: exit code 3"
	f := &scriptedJobAPI{answer: nightly(running), steps: []jobSnapshot{
		{nightly(running), []api.Task{nightlyTask(7, api.TaskRunning)}},
		{nightly(failed), []api.Task{nightlyTask(7, api.TaskFailed)}},
	}}
	addr := f.start(t)
	out, errOut, code := runCLI(t, "", "--addr", addr, "start", "--wait", "nightly")
	if code != exitError || out != "started run 7 of nightly\n" {
		t.Fatalf("code %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, want := range []string{
		"clusterd: run 7 of job nightly failed: instance 0 failed after 0 retries: failed: exit code 3",
		"task nightly.0.r7 (instance 0): FAILED, exit code 3",
		"clusterd logs --stderr TASK",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestStartSaysWhyTheServerRefused(t *testing.T) {
	f := &scriptedJobAPI{status: http.StatusConflict,
		message: `run 7 of job nightly is still running and its concurrency_policy is "forbid": wait for it, or kill its tasks`,
		steps:   []jobSnapshot{{job: nightly()}}}
	addr := f.start(t)
	_, errOut, code := runCLI(t, "", "--addr", addr, "start", "nightly")
	if code != exitError || !strings.Contains(errOut, `start a run of job nightly: run 7 of job nightly is still running and its concurrency_policy is "forbid"`) {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

func TestRunWaitReportsAServicesRollOut(t *testing.T) {
	rolling := func(updated, healthy, old int) api.Job {
		j := webService(2)
		j.Deployment = &api.Deployment{Version: 3, Instances: 2, Updated: updated, Healthy: healthy, Old: old}
		return j
	}
	rolled := webService(2)
	rolled.State = api.JobStateRunning
	ok := boolp(true)
	f := &scriptedJobAPI{answer: webService(2), steps: []jobSnapshot{
		{rolling(1, 0, 2), nil},
		{rolling(2, 1, 1), nil},
		{rolled, []api.Task{webTask(0, api.TaskRunning, ok), webTask(1, api.TaskRunning, ok)}},
	}}
	addr := f.start(t)
	spec := `{"id":"web","type":"service","cmd":"serve","instances":2,"cpus":0.1,"mem":32}`
	_, errOut, code := runCLI(t, spec, "--addr", addr, "run", "--wait", "-")
	want := "web: version 3: 1/2 updated, 0 healthy, 2 old\nweb: version 3: 2/2 updated, 1 healthy, 1 old\nweb: 2/2 healthy\n"
	if code != 0 || errOut != want {
		t.Fatalf("code %d, progress\n%s\nwant\n%s", code, errOut, want)
	}
}

func TestRunProgressEndsWhenTheRunWasReplacedOrForgotten(t *testing.T) {
	job := nightly(api.Run{Number: 7, State: "superseded", Message: "a newer run took over"})
	if _, done, err := runProgress(job, nil, 7); !done || err == nil || !strings.Contains(err.Error(), "run 7 of job nightly was superseded: a newer run took over") {
		t.Errorf("superseded: done %v, err %v", done, err)
	}
	if _, done, err := runProgress(job, nil, 3); !done || err == nil || !strings.Contains(err.Error(), "no longer in its history") {
		t.Errorf("forgotten: done %v, err %v", done, err)
	}
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}
