package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/mesos"
)

func exitCodeOf(err error) int {
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	if err != nil {
		return exitError
	}
	return exitOK
}

func TestParseWeightsReadsRoleEqualsWeight(t *testing.T) {
	got, err := parseWeights([]string{"web=2", " batch = 0.5", "eng/frontend=1e1"})
	want := []mesos.WeightInfo{{Role: "web", Weight: 2}, {Role: "batch", Weight: 0.5}, {Role: "eng/frontend", Weight: 10}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("parseWeights = %+v, %v; want %+v", got, err, want)
	}
}

func TestParseWeightsErrorsAreUsageErrorsNamingTheArgument(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"web"}, `"web": expected ROLE=WEIGHT`},
		{[]string{"=2"}, `"=2": the role is missing`},
		{[]string{"web=-1"}, `"web=-1": a weight must be positive`},
		{[]string{"web=0"}, `"web=0": a weight must be positive`},
		{[]string{"web=heavy"}, `"web=heavy": weight "heavy" is not a number`},
		{[]string{"web=NaN"}, `"web=NaN": weight "NaN" is not a number`},
		{[]string{"web=Inf"}, `"web=Inf"`},
		{[]string{"web="}, `"web=": weight "" is not a number`},
		{[]string{"web=2", "web=3"}, `"web=3": role web is also given as "web=2"`},
		{[]string{"my role=2"}, `"my role=2": Role component 'my role' is invalid`},
		{[]string{"-web=2"}, `"-web=2"`},
		{nil, "no weights given"},
	}
	for _, c := range cases {
		_, err := parseWeights(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseWeights(%q) = %v, want it to say %s", c.args, err, c.want)
			continue
		}
		if code := exitCodeOf(err); code != exitUsage {
			t.Errorf("parseWeights(%q): exit code %d, want %d", c.args, code, exitUsage)
		}
	}
}

func TestParseQuotaLimitsAcceptsBothForms(t *testing.T) {
	cases := map[string]map[string]mesos.Scalar{
		"cpus=4,mem=8192":                  {"cpus": {Value: 4}, "mem": {Value: 8192}},
		"cpus:4;mem:8192":                  {"cpus": {Value: 4}, "mem": {Value: 8192}},
		" CPUS = 1.5 , disk=100, gpus=2 ":  {"cpus": {Value: 1.5}, "disk": {Value: 100}, "gpus": {Value: 2}},
		"mem=256;":                         {"mem": {Value: 256}},
		"cpus=0.25,mem=64,disk=10,gpus=1,": {"cpus": {Value: 0.25}, "mem": {Value: 64}, "disk": {Value: 10}, "gpus": {Value: 1}},
	}
	for in, want := range cases {
		got, err := parseQuotaLimits(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseQuotaLimits(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestParseQuotaLimitsErrorsNameTheItem(t *testing.T) {
	cases := map[string]string{
		"cpu=4":          `"cpu=4": unknown kind "cpu"`,
		"ports=[1-2]":    `"ports=[1-2]": ports cannot be limited`,
		"cpus=-1":        `"cpus=-1": a limit must not be negative`,
		"mem=lots":       `"mem=lots": "lots" is not a number`,
		"cpus=NaN":       `"cpus=NaN": "NaN" is not a number`,
		"gpus=1.5":       `"gpus=1.5": gpus is a whole number`,
		"cpus=1,cpus=2":  `"cpus=2": cpus is given twice`,
		"cpus":           `"cpus": expected KIND=AMOUNT`,
		"cpus=0":         `"cpus=0": clusterd takes a zero limit as no limit on cpus`,
		"":               "no limits",
		",;":             "no limits",
		"cpus=4,mem=8g":  `"mem=8g"`,
		"cpus=4;disk=-0": `"disk=-0": clusterd takes a zero limit`,
	}
	for in, want := range cases {
		_, err := parseQuotaLimits(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseQuotaLimits(%q) = %v, want it to say %s", in, err, want)
			continue
		}
		if code := exitCodeOf(err); code != exitUsage {
			t.Errorf("parseQuotaLimits(%q): exit code %d, want %d", in, code, exitUsage)
		}
	}
}

func scalar(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.ValueScalar, Scalar: &mesos.Scalar{Value: v}}
}

func TestWriteRolesShowsWhatEachRoleHoldsAndItsQuota(t *testing.T) {
	jobsRole := "jobs"
	roles := []mesos.Role{
		{Name: "web", Weight: 2.5,
			Frameworks: []mesos.FrameworkID{{Value: "a"}, {Value: "b"}, {Value: "c"}},
			Allocated:  []mesos.Resource{scalar("cpus", 1), scalar("mem", 256), scalar("cpus", 0.5), scalar("mem", 256)},
			Offered:    []mesos.Resource{scalar("cpus", 2), scalar("gpus", 1)},
			Reserved: []mesos.Resource{{Name: "cpus", Type: mesos.ValueScalar, Scalar: &mesos.Scalar{Value: 4},
				Reservations: []mesos.ReservationInfo{{Type: mesos.ReservationStatic, Role: &jobsRole}}}},
			Quota: &mesos.RoleQuota{Role: "web", Limits: map[string]mesos.Scalar{"cpus": {Value: 4}, "mem": {Value: 8192}},
				Consumed: map[string]mesos.Scalar{"cpus": {Value: 1.5}, "mem": {Value: 512}, "disk": {Value: 10}}}},
		{Name: "*", Weight: 1},
		{Name: "jobs", Weight: 1, Frameworks: []mesos.FrameworkID{{Value: "clusterd-jobs"}},
			Allocated: []mesos.Resource{scalar("cpus", 0.1), scalar("cpus", 0.2), scalar("mem", 32.4)},
			Quota:     &mesos.RoleQuota{Role: "jobs", Limits: map[string]mesos.Scalar{"gpus": {Value: 2}}}},
	}
	var b bytes.Buffer
	if err := writeRoles(&b, roles); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ROLE  WEIGHT  FRAMEWORKS     ALLOCATED        OFFERED        RESERVED  QUOTA (used/limit)\n" +
		"*     1       -              -                -              -         -\n" +
		"jobs  1       clusterd-jobs  cpus 0.3 mem 32  -              -         gpus 0/2\n" +
		"web   2.5     3 frameworks   cpus 1.5 mem 512  cpus 2 gpus 1  cpus 4    cpus 1.5/4 mem 512/8192\n"
	// tabwriter aligns; compare cell by cell so the test reads as the table.
	if got := cells(b.String()); !reflect.DeepEqual(got, cells(want)) {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	if !strings.Contains(b.String(), "cpus 1.5/4 mem 512/8192\n") {
		t.Fatalf("quota cell of web: %s", b.String())
	}
}

// cells splits a table into rows of cells (two or more spaces apart).
func cells(table string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(table, "\n"), "\n") {
		var row []string
		for _, c := range strings.Split(line, "  ") {
			if c = strings.TrimSpace(c); c != "" {
				row = append(row, c)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func TestWriteQuotasShowsUsedOverLimitPerKind(t *testing.T) {
	quotas := []mesos.RoleQuota{
		{Role: "web", Limits: map[string]mesos.Scalar{"cpus": {Value: 4}, "mem": {Value: 8192}},
			Consumed: map[string]mesos.Scalar{"cpus": {Value: 1.5}, "mem": {Value: 512.4}}},
		{Role: "analytics", Limits: map[string]mesos.Scalar{"gpus": {Value: 2}, "disk": {Value: 20000}}},
	}
	var b bytes.Buffer
	if err := writeQuotas(&b, quotas); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ROLE       CPUS (used/limit)  MEM MiB   DISK MiB  GPUS\n" +
		"analytics  -                  -         0/20000   0/2\n" +
		"web        1.5/4              512/8192  -         -\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteWeightsSortsByRole(t *testing.T) {
	var b bytes.Buffer
	if err := writeWeights(&b, []mesos.WeightInfo{{Role: "web", Weight: 2}, {Role: "*", Weight: 1}, {Role: "batch", Weight: 0.5}}); err != nil {
		t.Fatal(err)
	}
	want := "ROLE   WEIGHT\n*      1\nbatch  0.5\nweb    2\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteFrameworksShowsStateTasksAndOffers(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *mesos.TimeInfo {
		return &mesos.TimeInfo{Nanoseconds: mesos.Int64(now.Add(-d).UnixNano())}
	}
	fid := func(s string) *mesos.FrameworkID { return &mesos.FrameworkID{Value: s} }
	role := "analytics"
	fws := &mesos.GetFrameworksResponse{
		Frameworks: []mesos.OperatorFramework{
			{FrameworkInfo: mesos.FrameworkInfo{ID: fid("c0ffee0123456789-0000000a"), Name: "spark", Role: &role},
				RegisteredTime: at(5 * time.Minute),
				Offers:         []mesos.Offer{{}, {}}, AllocatedResources: []mesos.Resource{scalar("cpus", 2), scalar("mem", 1024)}},
			{FrameworkInfo: mesos.FrameworkInfo{ID: fid("clusterd-jobs"), Name: "clusterd jobs", Roles: []string{"jobs", "web"}},
				Active: true, Connected: true, RegisteredTime: at(3 * time.Hour),
				AllocatedResources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)}},
		},
		CompletedFrameworks: []mesos.OperatorFramework{
			{FrameworkInfo: mesos.FrameworkInfo{ID: fid("c0ffee0123456789-0000000b"), Name: "old"}, RegisteredTime: at(72 * time.Hour)},
		},
	}
	var b bytes.Buffer
	if err := writeFrameworks(&b, fws, map[string]int{"clusterd-jobs": 3, "c0ffee0123456789-0000000a": 1}, now); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID                         NAME           ROLES      STATE         TASKS  ALLOCATED         OFFERS  REGISTERED\n" +
		"c0ffee0123456789-0000000a  spark          analytics  disconnected  1      cpus 2 mem 1024   2       5m ago\n" +
		"clusterd-jobs              clusterd jobs  jobs,web   connected     3      cpus 0.1 mem 32   0       3h ago\n" +
		"c0ffee0123456789-0000000b  old            *          removed       0      -                 0       3d ago\n"
	if got := cells(b.String()); !reflect.DeepEqual(got, cells(want)) {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestResolveNodeByNameIDOrPrefix(t *testing.T) {
	nodes := []api.Node{{ID: "aaaa1111", Name: "n1"}, {ID: "aaaa2222", Name: "n2"}, {ID: "bbbb3333", Name: "twin"}, {ID: "cccc4444", Name: "twin"}}
	for arg, want := range map[string]string{"n1": "aaaa1111", "aaaa2222": "aaaa2222", "bbbb": "bbbb3333", "cccc4444": "cccc4444"} {
		n, err := resolveNode(nodes, arg)
		if err != nil || n.ID != want {
			t.Errorf("resolveNode(%q) = %s, %v; want %s", arg, n.ID, err, want)
		}
	}
	_, err := resolveNode(nodes, "twin")
	if err == nil || exitCodeOf(err) != exitUsage || !strings.Contains(err.Error(), "twin (bbbb3333), twin (cccc4444)") {
		t.Errorf("ambiguous name: %v", err)
	}
	_, err = resolveNode(nodes, "aaaa")
	if err == nil || !strings.Contains(err.Error(), `"aaaa" matches 2 nodes: n1 (aaaa1111), n2 (aaaa2222)`) {
		t.Errorf("ambiguous prefix: %v", err)
	}
	_, err = resolveNode(nodes, "n3")
	if err == nil || exitCodeOf(err) != exitError || !strings.Contains(err.Error(), `no node "n3"; nodes: n1 (aaaa1111), n2 (aaaa2222), twin`) {
		t.Errorf("unknown node: %v", err)
	}
}

func TestResolveFrameworkByIDOrPrefix(t *testing.T) {
	fw := func(id string) mesos.OperatorFramework {
		return mesos.OperatorFramework{FrameworkInfo: mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: id}}}
	}
	fws := &mesos.GetFrameworksResponse{
		Frameworks:          []mesos.OperatorFramework{fw("abc-1"), fw("abc-2"), fw("clusterd-jobs")},
		CompletedFrameworks: []mesos.OperatorFramework{fw("old-1")},
	}
	if f, err := resolveFramework(fws, "abc-2"); err != nil || frameworkID(f) != "abc-2" {
		t.Errorf("exact: %v, %v", frameworkID(f), err)
	}
	if f, err := resolveFramework(fws, "clu"); err != nil || frameworkID(f) != "clusterd-jobs" {
		t.Errorf("prefix: %v, %v", frameworkID(f), err)
	}
	if _, err := resolveFramework(fws, "abc"); err == nil || exitCodeOf(err) != exitUsage || !strings.Contains(err.Error(), "abc-1, abc-2") {
		t.Errorf("ambiguous: %v", err)
	}
	if _, err := resolveFramework(fws, "old"); err == nil || !strings.Contains(err.Error(), "framework old-1 was already removed") {
		t.Errorf("removed: %v", err)
	}
	if _, err := resolveFramework(fws, "zzz"); err == nil || !strings.Contains(err.Error(), `no framework "zzz"; see 'clusterd frameworks'`) {
		t.Errorf("unknown: %v", err)
	}
}

func TestDrainProgress(t *testing.T) {
	n := api.Node{ID: "id1", Name: "n1"}
	draining := &mesos.OperatorAgent{DrainInfo: &mesos.DrainInfo{State: mesos.DrainStateDraining}}
	tasks := []api.Task{{State: api.TaskRunning}, {State: api.TaskKilling}, {State: api.TaskKilling}, {State: "TASK_UNREACHABLE"}}
	cases := []struct {
		name    string
		agent   *mesos.OperatorAgent
		tasks   []api.Task
		line    string
		done    bool
		errWant string
	}{
		{"draining", draining, tasks, "node n1: draining, 4 task(s) left (1 running, 2 killing, 1 other)", false, ""},
		{"draining, none listed yet", draining, nil, "node n1: draining, 0 task(s) left", false, ""},
		{"drained", &mesos.OperatorAgent{DrainInfo: &mesos.DrainInfo{State: mesos.DrainStateDrained}}, nil, "node n1: drained", true, ""},
		{"reactivated", &mesos.OperatorAgent{Active: true}, nil, "node n1: not draining", true, "no longer draining"},
		{"gone", nil, nil, "node n1: gone", true, "left the cluster"},
	}
	for _, c := range cases {
		line, done, err := drainProgress(n, c.agent, c.tasks)
		if line != c.line || done != c.done {
			t.Errorf("%s: drainProgress = %q, %v; want %q, %v", c.name, line, done, c.line, c.done)
		}
		if (c.errWant == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.errWant)) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.errWant)
		}
	}
}

func TestConfirmTakesOnlyYes(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "YES\n": true, " yes ": true, "n\n": false, "\n": false, "": false, "yep\n": false} {
		var out bytes.Buffer
		got, err := confirm(strings.NewReader(in), &out, "tear down framework x and kill its 2 tasks?")
		if err != nil || got != want {
			t.Errorf("confirm(%q) = %v, %v; want %v", in, got, err, want)
		}
		if out.String() != "tear down framework x and kill its 2 tasks? [y/N] " {
			t.Errorf("prompt %q", out.String())
		}
	}
}

// fakeOperator is an operator API that answers reads from fixed data and
// records the calls that change state.
type fakeOperator struct {
	mu    sync.Mutex
	calls []mesos.OperatorCall
	roles []mesos.Role
	fws   mesos.GetFrameworksResponse
	tasks []mesos.Task
	nodes []api.Node
	// agents are the answers to GET_AGENTS, one per read (the last one
	// stays); nodeTasks[i] are the tasks GET /v1/tasks lists after the
	// i-th: a drain --wait walks them.
	agents    []mesos.GetAgentsResponse
	nodeTasks [][]api.Task
	agentAt   int
}

func (f *fakeOperator) start(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(f.nodes)
	})
	mux.HandleFunc("GET /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		tasks := []api.Task{}
		if len(f.nodeTasks) > 0 {
			tasks = append(tasks, f.nodeTasks[min(max(f.agentAt-1, 0), len(f.nodeTasks)-1)]...)
		}
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(tasks)
	})
	mux.HandleFunc("POST /api/v1", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		call, err := mesos.DecodeOperatorCall(body)
		if err == nil {
			err = call.Validate()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp := mesos.OperatorResponse{Type: call.Type}
		switch call.Type {
		case mesos.OperatorGetRoles:
			resp.GetRoles = &mesos.GetRolesResponse{Roles: f.roles}
		case mesos.OperatorGetFrameworks:
			resp.GetFrameworks = &f.fws
		case mesos.OperatorGetTasks:
			resp.GetTasks = &mesos.GetTasksResponse{Tasks: f.tasks}
		case mesos.OperatorGetAgents:
			f.mu.Lock()
			if len(f.agents) > 0 {
				resp.GetAgents = &f.agents[min(f.agentAt, len(f.agents)-1)]
				f.agentAt++
			}
			f.mu.Unlock()
		default:
			f.mu.Lock()
			f.calls = append(f.calls, *call)
			f.mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func (f *fakeOperator) sent() []mesos.OperatorCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]mesos.OperatorCall(nil), f.calls...)
}

func TestWeightsSetSendsOneUpdateWithEveryRole(t *testing.T) {
	f := &fakeOperator{}
	addr := f.start(t)
	out, errOut, code := runCLI(t, "", "--addr", addr, "weights", "set", "web=2", "batch=0.5")
	if code != 0 || out != "role web: weight 2\nrole batch: weight 0.5\n" {
		t.Fatalf("code %d, stdout %q, stderr %q", code, out, errOut)
	}
	want := []mesos.OperatorCall{{Type: mesos.OperatorUpdateWeights, UpdateWeights: &mesos.OperatorUpdateWeightsInfo{
		WeightInfos: []mesos.WeightInfo{{Role: "web", Weight: 2}, {Role: "batch", Weight: 0.5}}}}}
	if got := f.sent(); !reflect.DeepEqual(got, want) {
		t.Fatalf("sent %+v, want %+v", got, want)
	}

	// A bad argument sends nothing.
	_, errOut, code = runCLI(t, "", "--addr", addr, "weights", "set", "web=3", "web=-1")
	if code != exitUsage || !strings.Contains(errOut, `"web=-1"`) || len(f.sent()) != 1 {
		t.Fatalf("bad weight: code %d, stderr %q, %d calls", code, errOut, len(f.sent()))
	}
}

func TestQuotaSetAndRemoveSendUpdateQuota(t *testing.T) {
	f := &fakeOperator{roles: []mesos.Role{{Name: "web", Weight: 1, Quota: &mesos.RoleQuota{Role: "web", Limits: map[string]mesos.Scalar{"cpus": {Value: 1}}}}}}
	addr := f.start(t)
	out, errOut, code := runCLI(t, "", "--addr", addr, "quota", "set", "web", "cpus:4;mem:8192")
	if code != 0 || out != "role web: quota cpus=4,mem=8192\n" {
		t.Fatalf("quota set: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "", "--addr", addr, "quota", "remove", "web")
	if code != 0 || out != "role web: quota removed (no limits)\n" {
		t.Fatalf("quota remove: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	want := []mesos.OperatorCall{
		{Type: mesos.OperatorUpdateQuota, UpdateQuota: &mesos.OperatorUpdateQuotaInfo{QuotaConfigs: []mesos.QuotaConfig{
			{Role: "web", Limits: map[string]mesos.Scalar{"cpus": {Value: 4}, "mem": {Value: 8192}}}}}},
		{Type: mesos.OperatorUpdateQuota, UpdateQuota: &mesos.OperatorUpdateQuotaInfo{QuotaConfigs: []mesos.QuotaConfig{{Role: "web"}}}},
	}
	if got := f.sent(); !reflect.DeepEqual(got, want) {
		t.Fatalf("sent %+v, want %+v", got, want)
	}
	// Removing a quota a role does not have says which roles have one.
	_, errOut, code = runCLI(t, "", "--addr", addr, "quota", "remove", "db")
	if code != exitError || !strings.Contains(errOut, "role db has no quota; roles with a quota: web") {
		t.Fatalf("quota remove db: code %d, stderr %q", code, errOut)
	}
	// quota -o json is the list of quotas.
	out, _, code = runCLI(t, "", "--addr", addr, "quota", "-o", "json")
	var quotas []mesos.RoleQuota
	if code != 0 || json.Unmarshal([]byte(out), &quotas) != nil || len(quotas) != 1 || quotas[0].Limits["cpus"].Value != 1 {
		t.Fatalf("quota -o json: code %d, %s", code, out)
	}
}

func TestFrameworksTeardownNeedsYesWithoutATerminal(t *testing.T) {
	f := &fakeOperator{
		fws: mesos.GetFrameworksResponse{Frameworks: []mesos.OperatorFramework{
			{FrameworkInfo: mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: "c0ffee-00000001"}, Name: "spark"}, Connected: true},
			{FrameworkInfo: mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: "clusterd-jobs"}, Name: "clusterd jobs"}, Connected: true},
		}},
		tasks: []mesos.Task{{FrameworkID: mesos.FrameworkID{Value: "c0ffee-00000001"}}, {FrameworkID: mesos.FrameworkID{Value: "c0ffee-00000001"}}},
	}
	addr := f.start(t)
	_, errOut, code := runCLI(t, "y\n", "--addr", addr, "frameworks", "teardown", "c0ffee")
	if code != exitUsage || !strings.Contains(errOut, "stdin is not a terminal; pass --yes") || len(f.sent()) != 0 {
		t.Fatalf("teardown without --yes: code %d, stderr %q, calls %+v", code, errOut, f.sent())
	}
	_, errOut, code = runCLI(t, "", "--addr", addr, "frameworks", "teardown", "--yes", "clusterd-jobs")
	if code != exitUsage || !strings.Contains(errOut, "built-in jobs framework and cannot be torn down") || len(f.sent()) != 0 {
		t.Fatalf("teardown of clusterd-jobs: code %d, stderr %q", code, errOut)
	}
	out, errOut, code := runCLI(t, "", "--addr", addr, "frameworks", "teardown", "-y", "c0ffee")
	if code != 0 || out != "framework c0ffee-00000001 (spark) torn down; killing its 2 active task(s)\n" {
		t.Fatalf("teardown --yes: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	want := []mesos.OperatorCall{{Type: mesos.OperatorTeardown, Teardown: &mesos.OperatorTeardownInfo{FrameworkID: mesos.FrameworkID{Value: "c0ffee-00000001"}}}}
	if got := f.sent(); !reflect.DeepEqual(got, want) {
		t.Fatalf("sent %+v, want %+v", got, want)
	}
}

func TestDrainSendsGraceAndResolvesTheNodeName(t *testing.T) {
	f := &fakeOperator{nodes: []api.Node{{ID: "0123456789abcdef", Name: "n1", State: "ready", Tasks: 2}}}
	addr := f.start(t)
	out, errOut, code := runCLI(t, "", "--addr", addr, "drain", "--grace", "1.5s", "n1")
	if code != 0 || !strings.HasPrefix(out, "node n1 (0123456789abcdef) is draining: its 2 task(s) are being killed") {
		t.Fatalf("drain: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, _, code := runCLI(t, "", "--addr", addr, "deactivate", "0123"); code != 0 {
		t.Fatalf("deactivate by id prefix: code %d", code)
	}
	want := []mesos.OperatorCall{
		{Type: mesos.OperatorDrainAgent, DrainAgent: &mesos.OperatorDrainAgentInfo{AgentID: mesos.AgentID{Value: "0123456789abcdef"},
			MaxGracePeriod: &mesos.DurationInfo{Nanoseconds: 1500 * 1000 * 1000}}},
		{Type: mesos.OperatorDeactivateAgent, DeactivateAgent: &mesos.OperatorAgentRef{AgentID: mesos.AgentID{Value: "0123456789abcdef"}}},
	}
	if got := f.sent(); !reflect.DeepEqual(got, want) {
		t.Fatalf("sent %+v, want %+v", got, want)
	}
	// A flag after the node is refused with the line to type.
	_, errOut, code = runCLI(t, "", "--addr", addr, "drain", "n1", "--wait")
	if code != exitUsage || !strings.Contains(errOut, "flags go before the arguments: clusterd drain --wait n1") {
		t.Fatalf("drain n1 --wait: code %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "", "--addr", addr, "reactivate", "n9")
	if code != exitError || !strings.Contains(errOut, `no node "n9"; nodes: n1 (0123456789abcdef)`) {
		t.Fatalf("reactivate n9: code %d, stderr %q", code, errOut)
	}
}
