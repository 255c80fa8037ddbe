package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node"
	"github.com/clusterd/clusterd/web/api"
)

func TestParseResourcesAcceptsKeyValueAndMesosForms(t *testing.T) {
	cases := []struct {
		in   string
		want api.Resources
		set  node.ResourceFields
	}{
		{"cpus=4,mem=8192,disk=20000,gpus=0,ports=[31000-32000,33000]",
			api.Resources{CPUs: 4, Mem: 8192, Disk: 20000, Ports: []api.PortRange{{Begin: 31000, End: 32000}, {Begin: 33000, End: 33000}}},
			node.ResourceFields{CPUs: true, Mem: true, Disk: true, GPUs: true, Ports: true}},
		{"cpus:4;mem:8192;ports:[31000-32000, 33000-33000]",
			api.Resources{CPUs: 4, Mem: 8192, Ports: []api.PortRange{{Begin: 31000, End: 32000}, {Begin: 33000, End: 33000}}},
			node.ResourceFields{CPUs: true, Mem: true, Ports: true}},
		{" cpus = 0.5 , gpus=2 ", api.Resources{CPUs: 0.5, GPUs: 2}, node.ResourceFields{CPUs: true, GPUs: true}},
		{"ports=8080", api.Resources{Ports: []api.PortRange{{Begin: 8080, End: 8080}}}, node.ResourceFields{Ports: true}},
		{"", api.Resources{}, node.ResourceFields{}},
	}
	for _, c := range cases {
		got, set, _, err := parseResources(c.in)
		if err != nil {
			t.Errorf("parseResources(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) || set != c.set {
			t.Errorf("parseResources(%q) = %+v %+v, want %+v %+v", c.in, got, set, c.want, c.set)
		}
	}
}

func TestParseResourcesReadsStaticReservations(t *testing.T) {
	total, set, reserved, err := parseResources("cpus:8;cpus(analytics):4;mem(analytics):1024;ports(web):[31000-31009];disk(*):10")
	if err != nil {
		t.Fatal(err)
	}
	if total.CPUs != 8 || total.Disk != 10 || !set.CPUs || set.Mem || set.Ports || !set.Disk {
		t.Errorf("unreserved part %+v %+v: want cpus 8 and disk 10 given, mem and ports detected", total, set)
	}
	want := map[string]api.Resources{
		"analytics": {CPUs: 4, Mem: 1024},
		"web":       {Ports: []api.PortRange{{Begin: 31000, End: 31009}}},
	}
	if !reflect.DeepEqual(reserved, want) {
		t.Errorf("reservations %+v, want %+v", reserved, want)
	}
}

func TestParseResourcesErrorsNameTheBadKey(t *testing.T) {
	cases := map[string]string{
		"cpus=4,cpu=2":              `"cpu"`,
		"cpus=-1":                   "cpus",
		"mem=lots":                  "mem",
		"disk=-5":                   "disk",
		"gpus=1.5":                  "gpus",
		"gpus=-1":                   "gpus",
		"cpus=NaN":                  "cpus",
		"cpus=1,cpus=2":             `"cpus"`,
		"ports=[32000-31000]":       "ports",
		"ports=[31000-32000,31500]": "ports",
		"ports=[0-10]":              "ports",
		"ports=[70000]":             "ports",
		"ports=[31000-32000":        "]",
		"cpus":                      `"cpus"`,
		"cpus(role:4":               `"cpus(role"`,
		"cpus(Bad Role):4":          `"cpus(bad role)"`,
		"cpu(web):4":                `"cpu(web)"`,
		"cpus(web)=1,cpus(web)=2":   `"cpus(web)"`,
	}
	for in, want := range cases {
		_, _, _, err := parseResources(in)
		if err == nil {
			t.Errorf("parseResources(%q) = nil error", in)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("parseResources(%q) = %q, want it to name %s", in, err, want)
		}
	}
}

func TestParseAttributesRejectsMissingValueAndDuplicates(t *testing.T) {
	got, err := parseAttributes([]string{"zone=a", "rack = r1"})
	if err != nil || !reflect.DeepEqual(got, map[string]string{"zone": "a", "rack": "r1"}) {
		t.Fatalf("parseAttributes = %v, %v", got, err)
	}
	for _, bad := range [][]string{{"zone"}, {"=a"}, {"zone=a", "zone=b"}} {
		if _, err := parseAttributes(bad); err == nil {
			t.Errorf("parseAttributes(%q) = nil error", bad)
		}
	}
}

func intp(i int) *int { return &i }

func TestWriteTasksShowsNewestFirstWithShortIDs(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tasks := []api.Task{
		{ID: "web.0.6f1c9a2e-5b7d-4e3a-9c1f-000000000001", Job: "web", Node: "0123456789abcdef", State: api.TaskRunning, CreatedAt: now.Add(-3 * time.Hour),
			Resources: api.Resources{CPUs: 0.5, Mem: 128}, Used: &api.Usage{CPUs: 0.25, Mem: 40.2}},
		{ID: "batch.1.x", Job: "batch", NodeName: "ip-10-0-1-5", State: api.TaskFailed, ExitCode: intp(2), CreatedAt: now.Add(-42 * time.Second)},
	}
	var b bytes.Buffer
	if err := writeTasks(&b, tasks, now, false); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID                        JOB    NODE          STATE    EXIT  CPU (used/alloc)  MEM MiB (used/alloc)  AGE\n" +
		"batch.1.x                 batch  ip-10-0-1-5   FAILED   2     -                 -                     42s\n" +
		"web.0.6f1c9a2e-5b7d-4e3a  web    0123456789ab  RUNNING  -     0.25/0.5          40/128                3h\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteJobsShowsPendingReason(t *testing.T) {
	jobs := []api.Job{
		{JobSpec: api.JobSpec{ID: "web", Type: api.JobService, Instances: 3}, State: api.JobStateDeploying, Version: 2,
			Tasks:   map[string]int{api.TaskRunning: 2},
			Pending: &api.PendingReason{Instances: 1, Hosts: map[string]int{"insufficient mem": 1, "insufficient cpus": 3}}},
		{JobSpec: api.JobSpec{ID: "big", Type: api.JobBatch, Instances: 1}, State: api.JobStateRunning, Version: 1,
			Pending: &api.PendingReason{Instances: 1, Unplaceable: true, Message: "needs 64 cpus; the largest node has 8"}},
	}
	var b bytes.Buffer
	if err := writeJobs(&b, jobs); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID   TYPE     INSTANCES  STATE      RUNNING  VERSION  PENDING-REASON\n" +
		"big  batch    1          running    0        1        needs 64 cpus; the largest node has 8\n" +
		"web  service  3          deploying  2        2        1 waiting: insufficient cpus on 3 hosts, insufficient mem o…\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteNodesMarksLeaderAndShowsAllocOverTotal(t *testing.T) {
	nodes := []api.Node{{ID: "a1b2c3d4e5f6a7b8", Name: "n1", State: "ready", Leader: true, Address: "10.0.1.5:5050", Tasks: 3,
		Total: api.Resources{CPUs: 8, Mem: 16384}, Allocated: api.Resources{CPUs: 2.5, Mem: 1024}}}
	var b bytes.Buffer
	if err := writeNodes(&b, nodes); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME  ID            STATE           CPUS   MEM (MiB)   TASKS  ADDRESS\n" +
		"n1    a1b2c3d4e5f6  ready (leader)  2.5/8  1024/16384  3      10.0.1.5:5050\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestCLIHintAddsAddrOnlyForNonDefaultPort(t *testing.T) {
	if got := cliHint("http://127.0.0.1:5050"); got != "clusterd" {
		t.Errorf("default: %q", got)
	}
	if got := cliHint("http://127.0.0.1:40123"); got != "clusterd --addr http://127.0.0.1:40123" {
		t.Errorf("other port: %q", got)
	}
}

func TestWaitProgress(t *testing.T) {
	service := api.Job{JobSpec: api.JobSpec{ID: "web", Type: api.JobService, Instances: 3}, Version: 2}
	batch := api.Job{JobSpec: api.JobSpec{ID: "b", Type: api.JobBatch, Instances: 2}, Version: 1}
	task := func(inst int, version uint64, state string) api.Task {
		return api.Task{ID: "t" + string(rune('0'+inst)) + state, Instance: inst, JobVersion: version, State: state}
	}
	with := func(j api.Job, f func(*api.Job)) api.Job { f(&j); return j }

	cases := []struct {
		name     string
		job      api.Job
		tasks    []api.Task
		line     string
		done     bool
		errWant  string
		exitCode int
	}{
		{name: "service deploying", job: service,
			tasks: []api.Task{task(0, 2, api.TaskRunning), task(1, 2, api.TaskRunning), task(2, 2, api.TaskStaging), task(0, 1, api.TaskRunning)},
			line:  "web: 2/3 running, 1 staging"},
		{name: "service running", job: service,
			tasks: []api.Task{task(0, 2, api.TaskRunning), task(1, 2, api.TaskRunning), task(2, 2, api.TaskRunning), task(2, 1, api.TaskKilling)},
			line:  "web: 3/3 running", done: true},
		{name: "batch in progress with a retry", job: batch,
			tasks: []api.Task{task(0, 1, api.TaskFinished), task(1, 1, api.TaskFailed), task(1, 1, api.TaskRunning)},
			line:  "b: 1/2 finished, 1 running, 1 failed"},
		{name: "batch finished", job: with(batch, func(j *api.Job) { j.State = api.JobStateComplete }),
			tasks: []api.Task{task(0, 1, api.TaskFinished), task(1, 1, api.TaskFinished)},
			line:  "b: 2/2 finished", done: true},
		{name: "batch failed", job: with(batch, func(j *api.Job) { j.State = api.JobStateFailed }),
			tasks: []api.Task{task(0, 1, api.TaskFinished), {ID: "b.1.z", Instance: 1, JobVersion: 1, State: api.TaskFailed, ExitCode: intp(3), Message: "boom"}},
			line:  "b: 1/2 finished, 1 failed", done: true, errWant: "task b.1.z (instance 1): FAILED, exit code 3: boom", exitCode: exitError},
		{name: "unplaceable", job: with(service, func(j *api.Job) {
			j.Pending = &api.PendingReason{Instances: 3, Unplaceable: true, Message: "needs 64 cpus; the largest node has 8"}
		}),
			line: "web: 0/3 running, needs 64 cpus; the largest node has 8", done: true,
			errWant: "cannot be placed on any node: needs 64 cpus", exitCode: exitUsage},
		{name: "deleted", job: with(service, func(j *api.Job) { j.State = api.JobStateDead }),
			line: "web: 0/3 running", done: true, errWant: "deleted", exitCode: exitError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			line, done, err := waitProgress(c.job, c.tasks)
			if line != c.line || done != c.done {
				t.Fatalf("waitProgress = %q, %v; want %q, %v", line, done, c.line, c.done)
			}
			if c.errWant == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.errWant) {
				t.Fatalf("err = %v, want it to contain %q", err, c.errWant)
			}
			code := exitError
			var ce *codeError
			if errors.As(err, &ce) {
				code = ce.code
			}
			if code != c.exitCode {
				t.Fatalf("exit code %d, want %d", code, c.exitCode)
			}
		})
	}
}

// fakeServer is a minimal /v1 API for end-to-end CLI tests.
func fakeServer(t *testing.T, job api.Job, tasks []api.Task) *httptest.Server {
	mux := http.NewServeMux()
	send := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		spec, err := api.DecodeJobSpec(r.Body)
		if err != nil {
			var ve *api.ValidationError
			errors.As(err, &ve)
			w.WriteHeader(400)
			send(w, api.ErrorBody{Error: ve.Message, Field: ve.Field})
			return
		}
		job.JobSpec = spec // the fake keeps one job; no locking: requests are sequential
		w.WriteHeader(201)
		send(w, job)
	})
	mux.HandleFunc("GET /v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) { send(w, job) })
	mux.HandleFunc("GET /v1/tasks", func(w http.ResponseWriter, r *http.Request) { send(w, tasks) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp(&out, &errb)
	app.Reader = strings.NewReader(stdin)
	code = runApp(context.Background(), app, append([]string{"clusterd"}, args...), &errb)
	return out.String(), errb.String(), code
}

const helloJob = `{"id":"hello","type":"batch","cmd":"echo hi","instances":1,"cpus":0.1,"mem":32}`

func TestRunWaitExitsZeroWhenBatchCompletes(t *testing.T) {
	job := api.Job{Version: 1, State: api.JobStateComplete}
	srv := fakeServer(t, job, []api.Task{{ID: "hello.0.a", Job: "hello", JobVersion: 1, State: api.TaskFinished, ExitCode: intp(0)}})
	out, errOut, code := runCLI(t, helloJob, "--addr", srv.URL, "run", "--wait", "-")
	if code != 0 || out != "job hello submitted (version 1)\n" || !strings.Contains(errOut, "hello: 1/1 finished") {
		t.Fatalf("code %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

func TestRunWaitExitsTwoWhenUnplaceable(t *testing.T) {
	job := api.Job{Version: 1, State: api.JobStateRunning, Pending: &api.PendingReason{Instances: 1, Unplaceable: true, Message: "needs 0.1 cpus"}}
	srv := fakeServer(t, job, nil)
	_, errOut, code := runCLI(t, helloJob, "run", "--addr", srv.URL, "-w", "-")
	if code != exitUsage || !strings.Contains(errOut, "cannot be placed") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

func TestRunReportsServerValidationErrorWithField(t *testing.T) {
	srv := fakeServer(t, api.Job{}, nil)
	_, errOut, code := runCLI(t, `{"id":"x","cpu":1}`, "run", "--addr", srv.URL, "-")
	if code != exitError || !strings.Contains(errOut, "cpu: unknown field") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

func TestPsJSONPrintsOnlyTheTaskArray(t *testing.T) {
	srv := fakeServer(t, api.Job{}, []api.Task{{ID: "web.0.a", Job: "web", Node: "n1", State: api.TaskFailed, ExitCode: intp(1)}})
	out, _, code := runCLI(t, "", "ps", "--addr", srv.URL, "-o", "json")
	var got []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || len(got) != 1 {
		t.Fatalf("code %d, stdout %q", code, out)
	}
	for _, k := range []string{"id", "job", "node", "state", "exit_code"} {
		if _, ok := got[0][k]; !ok {
			t.Errorf("task JSON lacks %q: %s", k, out)
		}
	}
}

func TestClientCommandsSayWhenTheServerIsUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("CLUSTERD_ADDR", addr)
	_, errOut, code := runCLI(t, "", "status")
	if code != exitError || !strings.Contains(errOut, "cannot reach clusterd at http://"+addr+": is it running?") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{{"nope"}, {"ps", "--bogus"}, {"logs"}, {"ps", "-o", "yaml"}, {"agent", "--dev", "--bind", "0.0.0.0"}} {
		_, _, code := runCLI(t, "", args...)
		if code != exitUsage {
			t.Errorf("clusterd %s: exit %d, want %d", strings.Join(args, " "), code, exitUsage)
		}
	}
}
