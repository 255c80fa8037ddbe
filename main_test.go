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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node"
	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/client"
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

func boolp(b bool) *bool { return &b }

func TestWriteTasksShowsNewestFirstWithShortIDsAndHealth(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tasks := []api.Task{
		{ID: "web.0.6f1c9a2e-5b7d-4e3a-9c1f-000000000001", Job: "web", Node: "0123456789abcdef", State: api.TaskRunning, CreatedAt: now.Add(-3 * time.Hour),
			Resources: api.Resources{CPUs: 0.5, Mem: 128}, Used: &api.Usage{CPUs: 0.25, Mem: 40.2}, Healthy: boolp(true)},
		{ID: "web.1.7", Job: "web", Node: "0123456789abcdef", State: api.TaskRunning, CreatedAt: now.Add(-2 * time.Hour), Healthy: boolp(false)},
		{ID: "batch.1.x", Job: "batch", NodeName: "ip-10-0-1-5", State: api.TaskFailed, ExitCode: intp(2), CreatedAt: now.Add(-42 * time.Second)},
	}
	var b bytes.Buffer
	if err := writeTasks(&b, tasks, now, false); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID                        JOB    NODE          STATE    HEALTH     EXIT  CPU (used/alloc)  MEM MiB (used/alloc)  AGE\n" +
		"batch.1.x                 batch  ip-10-0-1-5   FAILED   -          2     -                 -                     42s\n" +
		"web.1.7                   web    0123456789ab  RUNNING  unhealthy  -     -                 -                     2h\n" +
		"web.0.6f1c9a2e-5b7d-4e3a  web    0123456789ab  RUNNING  healthy    -     0.25/0.5          40/128                3h\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteNotPlacedListsWhyInstancesHaveNoTask(t *testing.T) {
	jobs := []api.Job{
		{JobSpec: api.JobSpec{ID: "web"}, Pending: &api.PendingReason{Instances: 1, Message: "1 instance waiting: constraint hostname UNIQUE on 3 of 3 nodes"}},
		{JobSpec: api.JobSpec{ID: "ok"}},
		{JobSpec: api.JobSpec{ID: "big"}, Pending: &api.PendingReason{Instances: 2, Unplaceable: true, Message: "2 instances unplaceable: no node is big enough"}},
	}
	var b bytes.Buffer
	if err := writeNotPlaced(&b, jobs, ""); err != nil {
		t.Fatal(err)
	}
	want := "\nnot placed:\n" +
		"  big: 2 instances unplaceable: no node is big enough\n" +
		"  web: 1 instance waiting: constraint hostname UNIQUE on 3 of 3 nodes\n"
	if b.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	if err := writeNotPlaced(&b, jobs, "ok"); err != nil || b.Len() != 0 {
		t.Fatalf("for a job with everything placed: %q, %v; want nothing", b.String(), err)
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
	if err := writeJobs(&b, jobs, time.Now()); err != nil {
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

func floatp(f float64) *float64 { return &f }

// localStamp is how the detail view prints a time: in the zone of the
// clock it prints at, UTC in these tests (the reader's own zone for real).
func localStamp(t time.Time) string { return t.UTC().Format(time.DateTime) }

func TestWriteJobsShowsDeploymentProgressAndNextCronRun(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	jobs := []api.Job{
		{JobSpec: api.JobSpec{ID: "web", Type: api.JobService, Instances: 3}, State: api.JobStateDeploying, Version: 4,
			Tasks:      map[string]int{api.TaskRunning: 4},
			Deployment: &api.Deployment{Version: 4, Instances: 3, Updated: 2, Healthy: 1, Old: 2}},
		{JobSpec: api.JobSpec{ID: "backup", Type: api.JobCron, Instances: 1}, State: "scheduled", Version: 2,
			NextRun: now.Add(5*time.Hour + 10*time.Minute)},
		{JobSpec: api.JobSpec{ID: "api", Type: api.JobService, Instances: 2}, State: api.JobStateRunning, Version: 1,
			Tasks: map[string]int{api.TaskRunning: 2}},
	}
	var b bytes.Buffer
	if err := writeJobs(&b, jobs, now); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID      TYPE     INSTANCES  STATE                  RUNNING  VERSION  PENDING-REASON\n" +
		"api     service  2          running                2        1        -\n" +
		"backup  cron     1          scheduled, next in 5h  0        2        -\n" +
		"web     service  3          deploying 2/3          4        4        -\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// A service in the middle of a rolling update, with every service setting.
func TestWriteJobShowsAServiceMidDeployment(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	j := api.Job{JobSpec: api.JobSpec{ID: "web", Type: api.JobService, Args: []string{"python3", "-m", "http.server", "--bind", "0.0.0.0 or ::"},
		Instances: 3, CPUs: 0.5, Mem: 128, Ports: 1, Role: "jobs", Priority: 10,
		Constraints: []api.Constraint{{Field: "hostname", Operator: "UNIQUE"}, {Field: "zone", Operator: "GROUP_BY", Value: "3", Soft: true}},
		HealthChecks: []api.HealthCheck{
			{Protocol: "HTTP", Path: "/health", GracePeriodSeconds: floatp(30), IntervalSeconds: floatp(10), TimeoutSeconds: floatp(5), MaxConsecutiveFailures: intp(3)},
			{Protocol: "COMMAND", Command: "test -f /tmp/ready", GracePeriodSeconds: floatp(300), IntervalSeconds: floatp(60), TimeoutSeconds: floatp(20), MaxConsecutiveFailures: intp(0)},
		},
		BackoffSeconds: floatp(1), BackoffFactor: floatp(1.15), MaxLaunchDelaySeconds: floatp(300),
		UpgradeStrategy: &api.UpgradeStrategy{MinimumHealthCapacity: floatp(0.9), MaximumOverCapacity: floatp(0.2)}},
		Version: 4, State: api.JobStateDeploying, CreatedAt: now.Add(-48 * time.Hour), UpdatedAt: now.Add(-2 * time.Minute),
		Tasks:      map[string]int{api.TaskRunning: 3},
		Deployment: &api.Deployment{Version: 4, Instances: 3, Updated: 2, Healthy: 2, Old: 1, StartedAt: now.Add(-2 * time.Minute)},
		Deployments: []api.DeploymentRecord{
			{Version: 2, State: "superseded", StartedAt: now.Add(-30 * time.Hour), FinishedAt: now.Add(-29 * time.Hour)},
			{Version: 3, State: "succeeded", StartedAt: now.Add(-26 * time.Hour), FinishedAt: now.Add(-26*time.Hour + 40*time.Second)},
			{Version: 4, State: "running", StartedAt: now.Add(-2 * time.Minute)},
		},
	}
	tasks := []api.Task{
		{ID: "web.0.aa", Job: "web", JobVersion: 4, NodeName: "n1", State: api.TaskRunning, Healthy: boolp(true), CreatedAt: now.Add(-2 * time.Minute)},
		{ID: "web.1.bb", Job: "web", JobVersion: 4, NodeName: "n2", State: api.TaskRunning, CreatedAt: now.Add(-time.Minute)},
		{ID: "web.2.cc", Job: "web", JobVersion: 3, NodeName: "n3", State: api.TaskRunning, Healthy: boolp(false), CreatedAt: now.Add(-26 * time.Hour)},
	}
	var b bytes.Buffer
	if err := writeJob(&b, j, tasks, now); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID:                web\n" +
		"Type:              service\n" +
		"State:             deploying\n" +
		"Version:           4\n" +
		"Args:              python3 -m http.server --bind \"0.0.0.0 or ::\" (exec'd without a shell)\n" +
		"Instances:         3\n" +
		"Resources:         cpus=0.5 mem=128 MiB ports=1 (each)\n" +
		"Role:              jobs\n" +
		"Priority:          10\n" +
		"Constraints:       hostname UNIQUE, zone GROUP_BY 3 (soft)\n" +
		"Health checks:     HTTP :PORT0/health every 10s, timeout 5s, grace 30s, 3 failures in a row\n" +
		"                   COMMAND \"test -f /tmp/ready\" every 1m, timeout 20s, grace 5m, never unhealthy\n" +
		"Upgrade strategy:  min health capacity 90%, max over capacity 20%\n" +
		"Restart backoff:   1s, 1.15x per failure, at most 5m\n" +
		"Tasks:             TASK_RUNNING=3\n" +
		"Created:           " + localStamp(j.CreatedAt) + " (2d ago)\n" +
		"Updated:           " + localStamp(j.UpdatedAt) + " (2m ago)\n" +
		"Deployment:        version 4: 2/3 updated, 2 healthy, 1 old, started 2m ago\n" +
		"\n" +
		"DEPLOYED VERSION  STATE       STARTED  TOOK\n" +
		"4                 running     2m ago   -\n" +
		"3                 succeeded   26h ago  40s\n" +
		"2                 superseded  30h ago  1h\n" +
		"\n" +
		"ID        JOB  NODE  STATE    HEALTH     EXIT  CPU (used/alloc)  MEM MiB (used/alloc)  AGE\n" +
		"web.1.bb  web  n2    RUNNING  -          -     -                 -                     1m\n" +
		"web.0.aa  web  n1    RUNNING  healthy    -     -                 -                     2m\n" +
		"web.2.cc  web  n3    RUNNING  unhealthy  -     -                 -                     26h\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// A cron job: its schedule in its own time zone, when it runs next, and
// its latest runs, newest first.
func TestWriteJobShowsACronJobsScheduleAndRuns(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	j := api.Job{JobSpec: api.JobSpec{ID: "backup", Type: api.JobCron, Cmd: "pg_dump db > $CLUSTERD_SANDBOX/db.sql", Instances: 1, CPUs: 1, Mem: 512,
		Role: "jobs", Retries: intp(2), MaxCompletionSeconds: 3600, Schedule: "0 2 * * *", TimeZone: "Europe/Berlin", ConcurrencyPolicy: "forbid"},
		Version: 2, State: "scheduled", CreatedAt: now.Add(-72 * time.Hour), UpdatedAt: now.Add(-72 * time.Hour),
		Tasks:   map[string]int{api.TaskFinished: 1, api.TaskFailed: 3},
		NextRun: time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC), // 02:00 in Berlin
		Runs: []api.Run{
			{Number: 7, Version: 2, Trigger: "schedule", State: "succeeded", StartedAt: now.Add(-34 * time.Hour), FinishedAt: now.Add(-34*time.Hour + 5*time.Minute)},
			{Number: 8, Version: 2, Trigger: "schedule", State: "failed", Message: "instance 0 failed after 2 retries: failed: exit code 3",
				StartedAt: now.Add(-10 * time.Hour), FinishedAt: now.Add(-10*time.Hour + 42*time.Second)},
			{Number: 9, Version: 2, Trigger: "manual", State: "succeeded", StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-time.Hour + 3*time.Minute)},
		},
	}
	var b bytes.Buffer
	if err := writeJob(&b, j, nil, now); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID:              backup\n" +
		"Type:            cron\n" +
		"State:           scheduled\n" +
		"Version:         2\n" +
		"Command:         pg_dump db > $CLUSTERD_SANDBOX/db.sql\n" +
		"Instances:       1\n" +
		"Resources:       cpus=1 mem=512 MiB (each)\n" +
		"Role:            jobs\n" +
		"Retries:         2\n" +
		"Max completion:  1h per task (then it is killed and fails)\n" +
		"Schedule:        0 2 * * * (Europe/Berlin)\n" +
		"Concurrency:     forbid (a run due while one runs is skipped)\n" +
		"Next run:        2026-03-02 02:00:00 CET (in 13h)\n" +
		"Tasks:           TASK_FAILED=3 TASK_FINISHED=1\n" +
		"Created:         " + localStamp(j.CreatedAt) + " (3d ago)\n" +
		"Updated:         " + localStamp(j.UpdatedAt) + " (3d ago)\n" +
		"\n" +
		"RUN  TRIGGER   STATE      STARTED  TOOK  MESSAGE\n" +
		"9    manual    succeeded  1h ago   3m    -\n" +
		"8    schedule  failed     10h ago  42s   instance 0 failed after 2 retries: failed: exit code 3\n" +
		"7    schedule  succeeded  34h ago  5m    -\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteJobShowsParentsAndOnlyTheLatestRuns(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	j := api.Job{JobSpec: api.JobSpec{ID: "report", Type: api.JobBatch, Cmd: "make report", Instances: 1, CPUs: 1, Mem: 64, Parents: []string{"extract", "load"}},
		Version: 1, State: "waiting"}
	for n := 1; n <= 8; n++ {
		j.Runs = append(j.Runs, api.Run{Number: n, Trigger: "parents", State: "succeeded", StartedAt: now.Add(-time.Hour)})
	}
	var b bytes.Buffer
	if err := writeJob(&b, j, nil, now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "Parents:    extract, load (runs when the latest run of each succeeded)\n") {
		t.Errorf("no parents row:\n%s", out)
	}
	rows := cells(out[strings.Index(out, "RUN "):])
	if len(rows) != 1+detailRows || rows[1][0] != "8" || rows[len(rows)-1][0] != "4" {
		t.Errorf("want the %d latest runs, newest first:\n%s", detailRows, out)
	}
	if strings.Contains(out, "Schedule") || strings.Contains(out, "Health checks") || strings.Contains(out, "Upgrade") {
		t.Errorf("a batch job shows rows of other job types:\n%s", out)
	}
}

func TestHealthCheckTextNamesProtocolPortAndTiming(t *testing.T) {
	cases := []struct {
		hc   api.HealthCheck
		want string
	}{
		{api.HealthCheck{Protocol: "HTTPS", Path: "/", PortIndex: 1, IntervalSeconds: floatp(1.5), MaxConsecutiveFailures: intp(1)},
			"HTTPS :PORT1/ every 1.5s, unhealthy after 1 failure"},
		{api.HealthCheck{Protocol: "tcp", PortIndex: 0, TimeoutSeconds: floatp(90), GracePeriodSeconds: floatp(7200)}, "TCP :PORT0 timeout 90s, grace 2h"},
		{api.HealthCheck{Protocol: "COMMAND", Command: `curl -f "localhost:$PORT0"`}, `COMMAND "curl -f \"localhost:$PORT0\""`},
	}
	for _, c := range cases {
		if got := healthCheckText(c.hc); got != c.want {
			t.Errorf("healthCheckText(%+v) = %q, want %q", c.hc, got, c.want)
		}
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
	withRuns := func(j api.Job, runs ...api.Run) api.Job { j.Runs = runs; return j }
	healthy := func(t api.Task, h bool) api.Task { t.Healthy = &h; return t }
	inRun := func(t api.Task, run int) api.Task { t.Run = run; t.ID += strconv.Itoa(run); return t }

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

		// A service update reports its roll-out until it is done.
		{name: "service rolling", job: with(service, func(j *api.Job) {
			j.Deployment = &api.Deployment{Version: 2, Instances: 3, Updated: 2, Healthy: 1, Old: 2}
		}),
			tasks: []api.Task{task(0, 2, api.TaskRunning), task(1, 2, api.TaskRunning), task(2, 2, api.TaskRunning)},
			line:  "web: version 2: 2/3 updated, 1 healthy, 2 old"},
		{name: "service rolling but unplaceable", job: with(service, func(j *api.Job) {
			j.Deployment = &api.Deployment{Version: 2, Instances: 3, Old: 3}
			j.Pending = &api.PendingReason{Instances: 3, Unplaceable: true, Message: "no node has the attribute zone"}
		}),
			line: "web: version 2: 0/3 updated, 0 healthy, 3 old, no node has the attribute zone", done: true,
			errWant: "cannot be placed on any node: no node has the attribute zone", exitCode: exitUsage},
		// With health checks, an instance counts once it is healthy.
		{name: "service with health checks", job: with(service, func(j *api.Job) { j.HealthChecks = []api.HealthCheck{{Protocol: "TCP"}} }),
			tasks: []api.Task{healthy(task(0, 2, api.TaskRunning), true), healthy(task(1, 2, api.TaskRunning), false), task(2, 2, api.TaskRunning)},
			line:  "web: 1/3 healthy, 1 checking, 1 unhealthy"},
		{name: "service healthy", job: with(service, func(j *api.Job) { j.HealthChecks = []api.HealthCheck{{Protocol: "TCP"}} }),
			tasks: []api.Task{healthy(task(0, 2, api.TaskRunning), true), healthy(task(1, 2, api.TaskRunning), true), healthy(task(2, 2, api.TaskRunning), true)},
			line:  "web: 3/3 healthy", done: true},
		// Scaled down: done once the instances scaled away stopped.
		{name: "service scaled down", job: with(service, func(j *api.Job) { j.Instances = 1 }),
			tasks: []api.Task{task(0, 2, api.TaskRunning), task(1, 2, api.TaskKilling), task(2, 2, api.TaskKilled)},
			line:  "web: 1/1 running, 1 stopping"},
		{name: "service scaled down and stopped", job: with(service, func(j *api.Job) { j.Instances = 1 }),
			tasks: []api.Task{task(0, 2, api.TaskRunning), task(1, 2, api.TaskKilled), task(2, 2, api.TaskKilled)},
			line:  "web: 1/1 running", done: true},

		// A batch job follows the run of its current version.
		{name: "batch run in progress", job: withRuns(batch, api.Run{Number: 1, Version: 1, State: "succeeded"}, api.Run{Number: 2, Version: 1, State: "running"}),
			tasks: []api.Task{inRun(task(0, 1, api.TaskFinished), 1), inRun(task(1, 1, api.TaskFinished), 1), inRun(task(0, 1, api.TaskFinished), 2), inRun(task(1, 1, api.TaskStarting), 2)},
			line:  "b: run 2: 1/2 finished, 1 starting"},
		{name: "batch run succeeded", job: withRuns(batch, api.Run{Number: 2, Version: 1, State: "succeeded"}),
			tasks: []api.Task{inRun(task(0, 1, api.TaskFinished), 2), inRun(task(1, 1, api.TaskFinished), 2)},
			line:  "b: run 2: 2/2 finished", done: true},
		{name: "batch run failed", job: withRuns(batch, api.Run{Number: 2, Version: 1, State: "failed", Message: "instance 1 failed after 2 retries: failed: exit code 3"}),
			tasks: []api.Task{inRun(task(0, 1, api.TaskFinished), 2), {ID: "b.1.y", Instance: 1, JobVersion: 1, Run: 2, State: api.TaskFailed, ExitCode: intp(3)}},
			line:  "b: run 2: 1/2 finished, 1 failed", done: true,
			errWant: "run 2 of job b failed: instance 1 failed after 2 retries: failed: exit code 3\n  task b.1.y (instance 1): FAILED, exit code 3", exitCode: exitError},
		// Runs of an older version are not what a submission waits for.
		{name: "batch run of an older version", job: with(withRuns(batch, api.Run{Number: 1, Version: 1, State: "failed"}), func(j *api.Job) { j.Version = 2; j.State = api.JobStateRunning }),
			tasks: []api.Task{task(0, 2, api.TaskRunning)},
			line:  "b: 0/2 finished, 1 running"},
		// A dependent job or a cron job runs later: accepted is done.
		{name: "batch waiting for parents", job: with(batch, func(j *api.Job) { j.Parents = []string{"extract", "load"}; j.State = "waiting" }),
			line: "b: waiting for its parents (extract, load) to succeed; it runs then", done: true},
		{name: "cron scheduled", job: api.Job{JobSpec: api.JobSpec{ID: "c", Type: api.JobCron, Instances: 1, TimeZone: "UTC"}, Version: 1, State: "scheduled",
			NextRun: time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)},
			line: "c: scheduled, next run 2026-03-02 02:00:00 UTC", done: true},
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
	// It names the address, the reason and what to do next.
	want := "clusterd: cannot reach clusterd at http://" + addr + ": connection refused; is it running? " +
		"Start one with 'clusterd agent --dev', or point --addr (or CLUSTERD_ADDR) at a node of the cluster\n"
	if code != exitError || errOut != want {
		t.Fatalf("code %d, stderr %q, want %q", code, errOut, want)
	}
	// A name that does not resolve says so (built here: no DNS in tests).
	dnsErr := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Name: "clusterd.example", Err: "no such host", IsNotFound: true}}
	got := unreachableText(&client.UnreachableError{Addr: "http://clusterd.example:5050", Err: dnsErr})
	if !strings.HasPrefix(got, "cannot reach clusterd at http://clusterd.example:5050: no such host clusterd.example; is it running?") {
		t.Fatalf("unknown host: %q", got)
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
