package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/mesos"
)

// go test -run Golden -update rewrites testdata/golden from what the
// commands print now; review the diff before committing it.
var update = flag.Bool("update", false, "rewrite the golden files of TestGolden...")

// goldenNow is the fixed clock the golden outputs are printed at.
var goldenNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixtureCluster is a small, fixed cluster served as the API does: three
// nodes, a service mid roll-out, a batch job that cannot be placed, a cron
// job, their tasks, two roles and two frameworks.
func fixtureCluster() (api.Status, []api.Node, []api.Job, []api.Task, []mesos.Role, mesos.GetFrameworksResponse, []mesos.Task) {
	now := goldenNow
	status := api.Status{ClusterID: "5f0c2a9e1b7d4c3a", CAFingerprint: "9b1f3c0d7e2a4b6c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e", Version: "1.4.0", NodeID: "a1b2c3d4e5f60718", NodeName: "ip-10-0-1-5",
		Leader: "a1b2c3d4e5f60718", LeaderAddr: "10.0.1.5:5050", RaftState: "Leader", AppliedIndex: 4242, LogVersion: 2,
		Voters: []string{"a1b2c3d4e5f60718", "b2c3d4e5f6071829", "c3d4e5f60718293a"},
		Nodes:  map[string]int{"ready": 2, "draining": 1}, Jobs: 3,
		Tasks:    map[string]int{api.TaskRunning: 3, api.TaskFinished: 1, api.TaskFailed: 1},
		Capacity: api.Resources{CPUs: 24, Mem: 98304, Disk: 300000, GPUs: 2}, Allocated: api.Resources{CPUs: 2.6, Mem: 1440.4, Disk: 0, GPUs: 0},
		Uptime: 93784}
	nodes := []api.Node{
		{ID: "c3d4e5f60718293a", Name: "ip-10-0-1-7", Address: "10.0.1.7:5050", State: "draining", Isolator: "systemd",
			Total: api.Resources{CPUs: 8, Mem: 32768}, Allocated: api.Resources{CPUs: 0.5, Mem: 128}, Tasks: 1, RegisteredAt: now.Add(-26 * time.Hour)},
		{ID: "a1b2c3d4e5f60718", Name: "ip-10-0-1-5", Address: "10.0.1.5:5050", State: "ready", Leader: true, Isolator: "systemd",
			Total: api.Resources{CPUs: 8, Mem: 32768}, Allocated: api.Resources{CPUs: 1.6, Mem: 1184.4}, Tasks: 2, RegisteredAt: now.Add(-26 * time.Hour)},
		{ID: "b2c3d4e5f6071829", Name: "ip-10-0-1-6", Address: "10.0.1.6:5050", State: "ready", Isolator: "systemd",
			Total: api.Resources{CPUs: 8, Mem: 32768}, Allocated: api.Resources{CPUs: 0.5, Mem: 128}, Tasks: 1, RegisteredAt: now.Add(-25 * time.Hour)},
	}
	web := api.Job{JobSpec: api.JobSpec{ID: "web", Type: api.JobService, Args: []string{"python3", "-m", "http.server", "$PORT0"},
		Instances: 3, CPUs: 0.5, Mem: 128, Ports: 1, Role: "jobs",
		Constraints:  []api.Constraint{{Field: "hostname", Operator: "UNIQUE"}},
		HealthChecks: []api.HealthCheck{{Protocol: "HTTP", Path: "/", IntervalSeconds: floatp(10), TimeoutSeconds: floatp(5), MaxConsecutiveFailures: intp(3)}}},
		Version: 4, State: api.JobStateDeploying, CreatedAt: now.Add(-48 * time.Hour), UpdatedAt: now.Add(-2 * time.Minute),
		Tasks:      map[string]int{api.TaskRunning: 3},
		Deployment: &api.Deployment{Version: 4, Instances: 3, Updated: 2, Healthy: 2, Old: 1, StartedAt: now.Add(-2 * time.Minute)},
		Deployments: []api.DeploymentRecord{
			{Version: 3, State: "succeeded", StartedAt: now.Add(-26 * time.Hour), FinishedAt: now.Add(-26*time.Hour + 40*time.Second)},
			{Version: 4, State: "running", StartedAt: now.Add(-2 * time.Minute)},
		}}
	big := api.Job{JobSpec: api.JobSpec{ID: "train", Type: api.JobBatch, Cmd: "python3 train.py --epochs 40 --data /srv/datasets/imagenet", Instances: 2, CPUs: 16, Mem: 65536, GPUs: 1},
		Version: 1, State: api.JobStateRunning, CreatedAt: now.Add(-10 * time.Minute), UpdatedAt: now.Add(-10 * time.Minute),
		Pending: &api.PendingReason{Instances: 2, Unplaceable: true, Hosts: map[string]int{"insufficient cpus": 3, "insufficient gpus": 2}}}
	cron := api.Job{JobSpec: api.JobSpec{ID: "backup", Type: api.JobCron, Cmd: "pg_dump db > $CLUSTERD_SANDBOX/db.sql", Instances: 1, CPUs: 1, Mem: 512,
		Schedule: "0 2 * * *", TimeZone: "Europe/Berlin", ConcurrencyPolicy: "forbid"},
		Version: 2, State: "scheduled", CreatedAt: now.Add(-72 * time.Hour), UpdatedAt: now.Add(-72 * time.Hour),
		Tasks:   map[string]int{api.TaskFinished: 1, api.TaskFailed: 1},
		NextRun: time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC),
		Runs: []api.Run{
			{Number: 7, Version: 2, Trigger: "schedule", State: "failed", Message: "instance 0 failed: exit code 3", StartedAt: now.Add(-34 * time.Hour), FinishedAt: now.Add(-34*time.Hour + 42*time.Second)},
			{Number: 8, Version: 2, Trigger: "schedule", State: "succeeded", StartedAt: now.Add(-10 * time.Hour), FinishedAt: now.Add(-10*time.Hour + 5*time.Minute)},
		}}
	tasks := []api.Task{
		{ID: "web.0.6f1c9a2e-5b7d-4e3a-9c1f-8d2b7a6e0001", Job: "web", JobVersion: 4, Instance: 0, Framework: "clusterd-jobs", Node: "a1b2c3d4e5f60718", NodeName: "ip-10-0-1-5",
			State: api.TaskRunning, Healthy: boolp(true), Resources: api.Resources{CPUs: 0.5, Mem: 128}, Used: &api.Usage{CPUs: 0.12, Mem: 41.6, At: now},
			CreatedAt: now.Add(-2 * time.Minute), UpdatedAt: now.Add(-time.Minute)},
		{ID: "web.1.6f1c9a2e-5b7d-4e3a-9c1f-8d2b7a6e0002", Job: "web", JobVersion: 4, Instance: 1, Framework: "clusterd-jobs", Node: "b2c3d4e5f6071829", NodeName: "ip-10-0-1-6",
			State: api.TaskRunning, Resources: api.Resources{CPUs: 0.5, Mem: 128}, CreatedAt: now.Add(-time.Minute), UpdatedAt: now.Add(-time.Minute)},
		{ID: "web.2.6f1c9a2e-5b7d-4e3a-9c1f-8d2b7a6e0003", Job: "web", JobVersion: 3, Instance: 2, Framework: "clusterd-jobs", Node: "c3d4e5f60718293a", NodeName: "ip-10-0-1-7",
			State: api.TaskRunning, Healthy: boolp(false), Resources: api.Resources{CPUs: 0.5, Mem: 128}, CreatedAt: now.Add(-26 * time.Hour), UpdatedAt: now.Add(-time.Hour)},
		{ID: "backup.0.6f1c9a2e-5b7d-4e3a-9c1f-8d2b7a6e0004", Job: "backup", JobVersion: 2, Instance: 0, Framework: "clusterd-jobs", Node: "a1b2c3d4e5f60718", NodeName: "ip-10-0-1-5",
			State: api.TaskFinished, ExitCode: intp(0), Run: 8, Resources: api.Resources{CPUs: 1, Mem: 512}, CreatedAt: now.Add(-10 * time.Hour), UpdatedAt: now.Add(-10*time.Hour + 5*time.Minute)},
		{ID: "backup.0.6f1c9a2e-5b7d-4e3a-9c1f-8d2b7a6e0005", Job: "backup", JobVersion: 2, Instance: 0, Framework: "clusterd-jobs", Node: "b2c3d4e5f6071829", NodeName: "ip-10-0-1-6",
			State: api.TaskFailed, ExitCode: intp(3), Message: "exited with status 3", Run: 7, Resources: api.Resources{CPUs: 1, Mem: 512},
			CreatedAt: now.Add(-34 * time.Hour), UpdatedAt: now.Add(-34*time.Hour + 42*time.Second)},
	}
	jobsRole := "jobs"
	roles := []mesos.Role{
		{Name: "*", Weight: 1},
		{Name: "jobs", Weight: 2, Frameworks: []mesos.FrameworkID{{Value: "clusterd-jobs"}},
			Allocated: []mesos.Resource{scalar("cpus", 1.5), scalar("mem", 384)},
			Quota: &mesos.RoleQuota{Role: "jobs", Limits: map[string]mesos.Scalar{"cpus": {Value: 8}, "mem": {Value: 16384}},
				Consumed: map[string]mesos.Scalar{"cpus": {Value: 1.5}, "mem": {Value: 384}}}},
		{Name: "analytics", Weight: 0.5, Frameworks: []mesos.FrameworkID{{Value: "5f0c2a9e1b7d4c3a-00000001"}},
			Allocated: []mesos.Resource{scalar("cpus", 1), scalar("mem", 1024)}, Offered: []mesos.Resource{scalar("cpus", 4), scalar("mem", 8192)},
			Reserved: []mesos.Resource{{Name: "cpus", Type: mesos.ValueScalar, Scalar: &mesos.Scalar{Value: 2},
				Reservations: []mesos.ReservationInfo{{Type: mesos.ReservationStatic, Role: &jobsRole}}}}},
	}
	at := func(d time.Duration) *mesos.TimeInfo {
		return &mesos.TimeInfo{Nanoseconds: mesos.Int64(now.Add(-d).UnixNano())}
	}
	analytics := "analytics"
	fws := mesos.GetFrameworksResponse{
		Frameworks: []mesos.OperatorFramework{
			{FrameworkInfo: mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: "clusterd-jobs"}, Name: "clusterd jobs", Roles: []string{"jobs"}},
				Active: true, Connected: true, RegisteredTime: at(26 * time.Hour), AllocatedResources: []mesos.Resource{scalar("cpus", 1.5), scalar("mem", 384)}},
			{FrameworkInfo: mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: "5f0c2a9e1b7d4c3a-00000001"}, Name: "spark", Role: &analytics},
				Active: true, Connected: true, RegisteredTime: at(5 * time.Minute), Offers: []mesos.Offer{{}},
				AllocatedResources: []mesos.Resource{scalar("cpus", 1), scalar("mem", 1024)}},
		},
		CompletedFrameworks: []mesos.OperatorFramework{
			{FrameworkInfo: mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: "5f0c2a9e1b7d4c3a-00000000"}, Name: "old-spark", Role: &analytics}, RegisteredTime: at(72 * time.Hour)},
		},
	}
	mtasks := []mesos.Task{
		{FrameworkID: mesos.FrameworkID{Value: "clusterd-jobs"}}, {FrameworkID: mesos.FrameworkID{Value: "clusterd-jobs"}}, {FrameworkID: mesos.FrameworkID{Value: "clusterd-jobs"}},
		{FrameworkID: mesos.FrameworkID{Value: "5f0c2a9e1b7d4c3a-00000001"}},
	}
	return status, nodes, []api.Job{web, big, cron}, tasks, roles, fws, mtasks
}

// serveFixture serves fixtureCluster through the endpoints the read
// commands use.
func serveFixture(t *testing.T) string {
	status, nodes, jobs, tasks, roles, fws, mtasks := fixtureCluster()
	mux := http.NewServeMux()
	send := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { send(w, 200, status) })
	mux.HandleFunc("GET /v1/nodes", func(w http.ResponseWriter, r *http.Request) { send(w, 200, nodes) })
	mux.HandleFunc("GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) { send(w, 200, jobs) })
	mux.HandleFunc("GET /v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		for _, j := range jobs {
			if j.ID == r.PathValue("id") {
				send(w, 200, j)
				return
			}
		}
		send(w, 404, api.ErrorBody{Error: "job not found"})
	})
	mux.HandleFunc("GET /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		out := []api.Task{}
		for _, tk := range tasks {
			switch {
			case q.Get("job") != "" && tk.Job != q.Get("job"):
			case q.Get("node") != "" && tk.Node != q.Get("node"):
			case q.Get("state") != "" && tk.State != q.Get("state"):
			case q.Get("active") == "true" && api.TaskStateTerminal(tk.State):
			default:
				out = append(out, tk)
			}
		}
		send(w, 200, out)
	})
	mux.HandleFunc("POST /api/v1", func(w http.ResponseWriter, r *http.Request) {
		var call mesos.OperatorCall
		if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp := mesos.OperatorResponse{Type: call.Type}
		switch call.Type {
		case mesos.OperatorGetRoles:
			resp.GetRoles = &mesos.GetRolesResponse{Roles: roles}
		case mesos.OperatorGetFrameworks:
			f := fws
			resp.GetFrameworks = &f
		case mesos.OperatorGetTasks:
			resp.GetTasks = &mesos.GetTasksResponse{Tasks: mtasks}
		default:
			http.Error(w, "not in the fixture: "+call.Type, http.StatusBadRequest)
			return
		}
		send(w, 200, resp)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// runFixed runs the CLI with the golden clock; cols > 0 makes stdout a
// terminal of that width.
func runFixed(t *testing.T, cols int, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	var stdout io.Writer = &out
	if cols > 0 {
		stdout = sizedWriter{Writer: &out, cols: cols}
	}
	app := newApp(stdout, &errb)
	app.Reader = strings.NewReader("")
	app.Metadata = map[string]any{clockKey: func() time.Time { return goldenNow }}
	code := runApp(context.Background(), app, append([]string{"clusterd"}, args...), &errb)
	return out.String(), errb.String(), code
}

// checkGolden compares got with testdata/golden/name, or rewrites it with
// -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with: go test -run Golden -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (if the change is meant, rewrite it with: go test -run Golden -update)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// The golden snapshot of raftfsm: its files are append-only, so what it
// holds never changes.
const goldenSnapshot = "raftfsm/testdata/golden-snapshot-v2.jsonl"

func TestGoldenReadCommandsTableAndJSON(t *testing.T) {
	addr := serveFixture(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"status", []string{"status"}},
		{"nodes", []string{"nodes"}},
		{"jobs", []string{"jobs"}},
		{"job-show-web", []string{"job", "show", "web"}},
		{"job-backup", []string{"job", "backup"}},
		{"ps", []string{"ps"}},
		{"ps-active-web", []string{"ps", "--active", "--job", "web"}},
		{"roles", []string{"roles"}},
		{"frameworks", []string{"frameworks", "--all"}},
		{"snapshot-inspect", []string{"snapshot", "inspect", goldenSnapshot}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, format := range []string{"table", "json"} {
				args := append([]string{"--addr", addr, "-o", format}, tc.args...)
				out, errOut, code := runFixed(t, 0, args...)
				if code != 0 {
					t.Fatalf("clusterd %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
				}
				ext := ".txt"
				if format == "json" {
					ext = ".json"
					if !json.Valid([]byte(out)) {
						t.Fatalf("-o json printed invalid JSON:\n%s", out)
					}
				}
				checkGolden(t, tc.name+ext, out)
			}
		})
	}
}

// On a terminal narrower than a table, the widest columns are cut with
// "…" so every row fits on one line; the id column is kept whole.
func TestGoldenTablesFitANarrowTerminal(t *testing.T) {
	addr := serveFixture(t)
	for _, tc := range []struct {
		name string
		cols int
		args []string
	}{
		{"jobs-80cols", 80, []string{"jobs"}},
		{"ps-100cols", 100, []string{"ps"}},
		{"nodes-200cols", 200, []string{"nodes"}}, // wide enough: as in a pipe
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runFixed(t, tc.cols, append([]string{"--addr", addr}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			checkGolden(t, tc.name+".txt", out)
			for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				if n := len([]rune(line)); n > tc.cols && !strings.HasPrefix(line, "  ") {
					t.Errorf("line of %d characters on a %d-column terminal: %q", n, tc.cols, line)
				}
			}
			piped, _, _ := runFixed(t, 0, append([]string{"--addr", addr}, tc.args...)...)
			if tc.cols >= 200 && out != piped {
				t.Errorf("a table that fits prints differently on a terminal:\n%s\npiped:\n%s", out, piped)
			}
		})
	}
}
