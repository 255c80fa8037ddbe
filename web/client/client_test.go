package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/web/api"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func TestClientDecodesEveryReadRoute(t *testing.T) {
	exit := 3
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.Status{ClusterID: "c1", Leader: "n1", Nodes: map[string]int{"ready": 2}})
	})
	mux.HandleFunc("GET /v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []api.Node{{ID: "n1", Name: "a", Total: api.Resources{CPUs: 4, Ports: []api.PortRange{{Begin: 31000, End: 32000}}}}})
	})
	mux.HandleFunc("GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []api.Job{{JobSpec: api.JobSpec{ID: "web", Type: api.JobService}, Version: 2}})
	})
	mux.HandleFunc("GET /v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.Job{JobSpec: api.JobSpec{ID: r.PathValue("id")}, Pending: &api.PendingReason{Instances: 1, Unplaceable: true}})
	})
	mux.HandleFunc("GET /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("job") != "web" || q.Get("node") != "n1" || q.Get("state") != api.TaskRunning || q.Get("active") != "true" {
			writeJSON(w, 400, api.ErrorBody{Error: "bad filter " + r.URL.RawQuery})
			return
		}
		writeJSON(w, 200, []api.Task{{ID: "web.0.x", Job: "web", State: api.TaskRunning}})
	})
	mux.HandleFunc("GET /v1/tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.Task{ID: r.PathValue("id"), State: api.TaskFailed, ExitCode: &exit})
	})
	mux.HandleFunc("GET /v1/tasks/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.PathValue("id")+" "+r.URL.Query().Get("stream")+" follow="+r.URL.Query().Get("follow"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := New(strings.TrimPrefix(srv.URL, "http://")) // bare host:port
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil || st.ClusterID != "c1" || st.Nodes["ready"] != 2 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	ns, err := c.Nodes(ctx)
	if err != nil || len(ns) != 1 || ns[0].Total.Ports[0].End != 32000 {
		t.Fatalf("Nodes = %+v, %v", ns, err)
	}
	js, err := c.Jobs(ctx)
	if err != nil || len(js) != 1 || js[0].ID != "web" || js[0].Version != 2 {
		t.Fatalf("Jobs = %+v, %v", js, err)
	}
	j, err := c.Job(ctx, "web")
	if err != nil || j.ID != "web" || j.Pending == nil || !j.Pending.Unplaceable {
		t.Fatalf("Job = %+v, %v", j, err)
	}
	ts, err := c.Tasks(ctx, api.TaskFilter{Job: "web", Node: "n1", State: api.TaskRunning, Active: true})
	if err != nil || len(ts) != 1 || ts[0].ID != "web.0.x" {
		t.Fatalf("Tasks = %+v, %v", ts, err)
	}
	tk, err := c.Task(ctx, "web.0.x")
	if err != nil || tk.ExitCode == nil || *tk.ExitCode != 3 {
		t.Fatalf("Task = %+v, %v", tk, err)
	}
	var buf bytes.Buffer
	if err := c.TaskLog(ctx, "web.0.x", "stderr", true, &buf); err != nil || buf.String() != "web.0.x stderr follow=true" {
		t.Fatalf("TaskLog = %q, %v", buf.String(), err)
	}
}

func TestClientWriteRoutes(t *testing.T) {
	var got []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		spec, err := api.DecodeJobSpec(r.Body)
		if err != nil {
			writeJSON(w, 400, api.ErrorBody{Error: err.Error()})
			return
		}
		writeJSON(w, 201, api.Job{JobSpec: spec, Version: 1})
	})
	mux.HandleFunc("DELETE /v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		got = append(got, "delete "+r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/tasks/{id}/kill", func(w http.ResponseWriter, r *http.Request) {
		got = append(got, "kill "+r.PathValue("id"))
		writeJSON(w, 202, map[string]string{"status": "killing"})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := New(srv.URL + "/")
	ctx := context.Background()

	j, err := c.SubmitJob(ctx, api.JobSpec{ID: "b", Type: api.JobBatch, Cmd: "true", Instances: 1, CPUs: 0.1, Mem: 32})
	if err != nil || j.ID != "b" || j.Version != 1 {
		t.Fatalf("SubmitJob = %+v, %v", j, err)
	}
	if err := c.DeleteJob(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := c.KillTask(ctx, "b.0.x"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "delete b,kill b.0.x" {
		t.Fatalf("server saw %q", got)
	}
}

func TestClientMapsErrorBodyToAPIError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/jobs":
			writeJSON(w, 400, api.ErrorBody{Error: "unknown field", Field: "cpu"})
		case "/v1/jobs/nope":
			writeJSON(w, 404, api.ErrorBody{Error: "job nope: not found"})
		default:
			http.Error(w, "boom", 500) // not an ErrorBody
		}
	}))
	defer srv.Close()
	c := New(srv.URL)
	ctx := context.Background()

	_, err := c.SubmitJobJSON(ctx, []byte(`{"cpu":1}`))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Field != "cpu" || ae.Message != "unknown field" {
		t.Fatalf("submit error = %#v", err)
	}
	if err.Error() != "cpu: unknown field" {
		t.Fatalf("submit error text = %q", err.Error())
	}
	if e := (&APIError{Field: "cpu", Message: "cpu: unknown field"}); e.Error() != "cpu: unknown field" {
		t.Fatalf("field named twice: %q", e.Error())
	}
	_, err = c.Job(ctx, "nope")
	if !IsNotFound(err) || err.Error() != "job nope: not found" {
		t.Fatalf("job error = %#v", err)
	}
	_, err = c.Status(ctx)
	if !errors.As(err, &ae) || ae.Status != 500 || !strings.Contains(ae.Message, "boom") {
		t.Fatalf("status error = %#v", err)
	}
}

func TestClientFollowsRedirectOfPostWithBody(t *testing.T) {
	raw := []byte(`{"id":"hello","type":"batch","cmd":"echo hi","instances":1,"cpus":0.1,"mem":32}`)
	var leaderBody []byte
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/jobs" {
			writeJSON(w, 405, api.ErrorBody{Error: r.Method + " " + r.URL.Path})
			return
		}
		leaderBody, _ = io.ReadAll(r.Body)
		writeJSON(w, 201, api.Job{JobSpec: api.JobSpec{ID: "hello"}, Version: 7})
	}))
	defer leader.Close()
	follower := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, leader.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer follower.Close()

	j, err := New(follower.URL).SubmitJobJSON(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if j.Version != 7 || !bytes.Equal(leaderBody, raw) {
		t.Fatalf("job %+v; leader got body %q", j, leaderBody)
	}
}

func TestClientConnectionRefusedSaysWhatToDo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	_, err = New(addr).Status(context.Background())
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %#v, want *UnreachableError", err)
	}
	want := "cannot reach clusterd at http://" + addr + ": is it running? (set --addr or CLUSTERD_ADDR)"
	if err.Error() != want {
		t.Fatalf("err = %q\nwant  %q", err.Error(), want)
	}
}
