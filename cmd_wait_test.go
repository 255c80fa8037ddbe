package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/mesos"
)

// A --wait that runs out of --timeout exits 3 with how far it got and
// the reason the rest is pending.
func TestScaleWaitTimesOutWithExitThreeAndWhatIsPending(t *testing.T) {
	stuck := webService(3)
	stuck.State = api.JobStateRunning
	stuck.Pending = &api.PendingReason{Instances: 2, Message: "2 instances waiting: not enough cpus on any node"}
	f := &scriptedJobAPI{answer: stuck, steps: []jobSnapshot{{job: stuck, tasks: []api.Task{webTask(0, api.TaskRunning, boolp(true))}}}}
	addr := f.start(t)
	out, errOut, code := runCLI(t, "", "--addr", addr, "scale", "--wait", "--timeout", "300ms", "web", "3")
	want := "clusterd: timed out after 300ms waiting for job web: 1/3 healthy, 2 instances waiting: not enough cpus on any node; " +
		"it keeps going: see 'clusterd job web'\n"
	if code != exitTimeout || !strings.HasSuffix(errOut, want) {
		t.Fatalf("code %d, stdout %q\nstderr %q\nwant the stderr to end with %q", code, out, errOut, want)
	}
	// Without a terminal the progress is plain lines, one per change.
	if !strings.HasPrefix(errOut, "web: 1/3 healthy, 2 instances waiting: not enough cpus on any node\n") {
		t.Fatalf("no progress line before the error: %q", errOut)
	}
}

func drainingAgent(id, state string) mesos.GetAgentsResponse {
	return mesos.GetAgentsResponse{Agents: []mesos.OperatorAgent{{AgentInfo: mesos.AgentInfo{ID: &mesos.AgentID{Value: id}},
		DrainInfo: &mesos.DrainInfo{State: state}}}}
}

func TestDrainWaitShowsProgressAndExitsZeroWhenDrained(t *testing.T) {
	const id = "0123456789abcdef"
	f := &fakeOperator{nodes: []api.Node{{ID: id, Name: "n1", State: "ready", Tasks: 2}},
		agents:    []mesos.GetAgentsResponse{drainingAgent(id, mesos.DrainStateDraining), drainingAgent(id, mesos.DrainStateDrained)},
		nodeTasks: [][]api.Task{{{ID: "a", Node: id, State: api.TaskKilling}, {ID: "b", Node: id, State: api.TaskRunning}}, nil}}
	addr := f.start(t)
	out, errOut, code := runCLI(t, "", "--addr", addr, "drain", "--wait", "--timeout", "30s", "n1")
	if code != 0 || out != "node n1 (0123456789abcdef) is drained: no tasks left. 'clusterd reactivate n1' puts it back in service\n" {
		t.Fatalf("code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if errOut != "node n1: draining, 2 task(s) left (1 running, 1 killing)\nnode n1: drained\n" {
		t.Fatalf("progress on stderr: %q", errOut)
	}
}

func TestDrainWaitTimesOutWithExitThree(t *testing.T) {
	const id = "0123456789abcdef"
	f := &fakeOperator{nodes: []api.Node{{ID: id, Name: "n1", State: "ready", Tasks: 1}},
		agents:    []mesos.GetAgentsResponse{drainingAgent(id, mesos.DrainStateDraining)},
		nodeTasks: [][]api.Task{{{ID: "a", Node: id, State: api.TaskKilling}}}}
	addr := f.start(t)
	_, errOut, code := runCLI(t, "", "--addr", addr, "drain", "-w", "--timeout", "300ms", "n1")
	want := "clusterd: timed out after 300ms waiting for node n1 to drain: draining, 1 task(s) left (1 killing); it keeps draining: see 'clusterd ps --active --node 0123456789abcdef'\n"
	if code != exitTimeout || !strings.HasSuffix(errOut, want) {
		t.Fatalf("code %d, stderr %q\nwant it to end with %q", code, errOut, want)
	}
}

// leaveCluster is the node that leaves and the one other node a leave
// --wait asks about it: it reports the node's state and tasks from steps,
// one step per read of its nodes.
type leaveCluster struct {
	mu     sync.Mutex
	left   bool
	alone  bool // the leaving node is the cluster's only one
	steps  []leaveStep
	at     int
	leaver *httptest.Server
	other  *httptest.Server
}

type leaveStep struct {
	state string // of the leaving node as the other node sees it; "" is forgotten
	tasks []api.Task
}

func (lc *leaveCluster) start(t *testing.T) string {
	send := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	var step leaveStep
	lc.other = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lc.mu.Lock()
		defer lc.mu.Unlock()
		switch r.URL.Path {
		case "/v1/nodes":
			step = lc.steps[min(lc.at, len(lc.steps)-1)]
			lc.at++
			nodes := []api.Node{{ID: "n2id", Name: "n2", State: "ready", Leader: true}}
			if step.state != "" {
				nodes = append(nodes, api.Node{ID: "n1id", Name: "n1", State: step.state, Tasks: len(step.tasks)})
			}
			send(w, nodes)
		case "/v1/tasks":
			if r.URL.Query().Get("node") != "n1id" || r.URL.Query().Get("active") != "true" {
				http.Error(w, "the fixture lists only n1's active tasks", http.StatusBadRequest)
				return
			}
			send(w, append([]api.Task{}, step.tasks...))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(lc.other.Close)
	lc.leaver = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lc.mu.Lock()
		defer lc.mu.Unlock()
		switch r.URL.Path {
		case "/v1/status":
			send(w, api.Status{NodeID: "n1id", NodeName: "n1"})
		case "/v1/nodes":
			nodes := []api.Node{{ID: "n1id", Name: "n1", State: "ready", Tasks: 2, Address: strings.TrimPrefix(lc.leaver.URL, "http://")}}
			if !lc.alone {
				nodes = append(nodes, api.Node{ID: "n2id", Name: "n2", State: "ready", Leader: true, Address: strings.TrimPrefix(lc.other.URL, "http://")})
			}
			send(w, nodes)
		case "/v1/agent/leave":
			lc.left = true
			w.WriteHeader(http.StatusAccepted)
			send(w, map[string]string{"leaving": "n1id"})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(lc.leaver.Close)
	return lc.leaver.URL
}

func TestLeaveWaitFollowsTheNodeThroughAnotherNodeUntilItHasLeft(t *testing.T) {
	running := api.Task{ID: "web.0.a", Node: "n1id", State: api.TaskRunning}
	killing := api.Task{ID: "web.0.a", Node: "n1id", State: api.TaskKilling}
	lc := &leaveCluster{steps: []leaveStep{{"ready", []api.Task{running, running}}, {"left", []api.Task{killing}}, {"left", nil}}}
	addr := lc.start(t)
	out, errOut, code := runCLI(t, "", "--addr", addr, "leave", "--wait", "--timeout", "30s")
	if code != 0 || out != "node n1 (n1id) has left the cluster; no task of it is active\n" {
		t.Fatalf("code %d, stdout %q, stderr %q", code, out, errOut)
	}
	want := "node n1: leaving (still ready), 2 task(s) left (2 running)\nnode n1: left, 1 task(s) left (1 killing)\nnode n1: left, no active tasks\n"
	if errOut != want || !lc.sent() {
		t.Fatalf("stderr %q, want %q (leave sent: %v)", errOut, want, lc.sent())
	}
}

func TestLeaveWaitTimesOutWithExitThree(t *testing.T) {
	lc := &leaveCluster{steps: []leaveStep{{"ready", []api.Task{{ID: "x", Node: "n1id", State: api.TaskRunning}}}}}
	addr := lc.start(t)
	out, errOut, code := runCLI(t, "", "--addr", addr, "-o", "json", "leave", "--wait", "--timeout", "300ms")
	want := "clusterd: timed out after 300ms waiting for node n1 to leave: leaving (still ready), 1 task(s) left (1 running); " +
		"see 'clusterd nodes' and 'clusterd ps --active --node n1id' on another node\n"
	if code != exitTimeout || !strings.HasSuffix(errOut, want) || out != "" {
		t.Fatalf("code %d, stdout %q, stderr %q\nwant it to end with %q", code, out, errOut, want)
	}
}

func TestLeaveWithoutWaitSaysWhatHappensToTheTasks(t *testing.T) {
	lc := &leaveCluster{steps: []leaveStep{{"ready", nil}}}
	addr := lc.start(t)
	out, errOut, code := runCLI(t, "", "--addr", addr, "-o", "json", "leave")
	var o outcome
	if code != 0 || json.Unmarshal([]byte(out), &o) != nil || o.Action != "leave" || o.Node != "n1id" || o.State != "leaving" ||
		o.ActiveTasks == nil || *o.ActiveTasks != 2 || !lc.sent() {
		t.Fatalf("code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// sent reports whether the leave was sent to the leaving node.
func (lc *leaveCluster) sent() bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.left
}

func TestLeaveRefusesForTheClustersOnlyNode(t *testing.T) {
	lc := &leaveCluster{alone: true, steps: []leaveStep{{"ready", nil}}}
	addr := lc.start(t)
	_, errOut, code := runCLI(t, "", "--addr", addr, "leave", "--wait")
	if code != exitError || !strings.Contains(errOut, "is the only node of its cluster and cannot leave it; stop it instead") || lc.sent() {
		t.Fatalf("code %d, stderr %q, leave sent: %v", code, errOut, lc.sent())
	}
}

func TestLeaveProgress(t *testing.T) {
	self := api.Node{ID: "n1id", Name: "n1"}
	for _, c := range []struct {
		name  string
		now   *api.Node
		tasks []api.Task
		line  string
		done  bool
	}{
		{"still ready", &api.Node{State: "ready"}, []api.Task{{State: api.TaskRunning}}, "node n1: leaving (still ready), 1 task(s) left (1 running)", false},
		{"down, not yet left", &api.Node{State: "down"}, nil, "node n1: leaving (still down), 0 task(s) left", false},
		{"left with tasks", &api.Node{State: "left"}, []api.Task{{State: api.TaskKilling}, {State: api.TaskRunning}}, "node n1: left, 2 task(s) left (1 killing, 1 running)", false},
		{"left", &api.Node{State: "left"}, nil, "node n1: left, no active tasks", true},
		{"forgotten", nil, nil, "node n1: left, no active tasks", true},
	} {
		line, done := leaveProgress(self, c.now, c.tasks)
		if line != c.line || done != c.done {
			t.Errorf("%s: leaveProgress = %q, %v; want %q, %v", c.name, line, done, c.line, c.done)
		}
	}
}

// Every command that reports what it did prints one JSON document with
// -o json; logs, whose output is the task's own bytes, refuses it.
func TestActionCommandsPrintJSONWithOutputJSON(t *testing.T) {
	f := &fakeOperator{nodes: []api.Node{{ID: "0123456789abcdef", Name: "n1", State: "ready", Tasks: 2}}}
	addr := f.start(t)
	for _, tc := range []struct {
		args []string
		want outcome
	}{
		{[]string{"drain", "n1"}, outcome{Action: "drain", Node: "0123456789abcdef", NodeName: "n1", State: "draining", ActiveTasks: intPtr(2)}},
		{[]string{"deactivate", "n1"}, outcome{Action: "deactivate", Node: "0123456789abcdef", NodeName: "n1", State: "inactive", ActiveTasks: intPtr(2)}},
		{[]string{"reactivate", "n1"}, outcome{Action: "reactivate", Node: "0123456789abcdef", NodeName: "n1", State: "active"}},
		{[]string{"weights", "set", "web=2"}, outcome{Action: "set_weights", Weights: []mesos.WeightInfo{{Role: "web", Weight: 2}}}},
		{[]string{"quota", "set", "web", "cpus=4"}, outcome{Action: "set_quota", Role: "web", Quota: map[string]mesos.Scalar{"cpus": {Value: 4}}}},
	} {
		out, errOut, code := runCLI(t, "", append([]string{"--addr", addr, "-o", "json"}, tc.args...)...)
		want, _ := json.MarshalIndent(tc.want, "", "  ")
		if code != 0 || out != string(want)+"\n" {
			t.Errorf("clusterd -o json %s: code %d, stderr %q\ngot  %s\nwant %s", strings.Join(tc.args, " "), code, errOut, out, want)
		}
	}
	out, _, code := runCLI(t, "", "version", "-o", "json")
	var v versionInfo
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Version != version || v.GoVersion == "" {
		t.Errorf("version -o json: code %d, %q", code, out)
	}
	_, errOut, code := runCLI(t, "", "--addr", addr, "-o", "json", "logs", "web.0.a")
	if code != exitUsage || !strings.Contains(errOut, "-o json does not apply") {
		t.Errorf("logs -o json: code %d, stderr %q", code, errOut)
	}
}

func TestHelpDocumentsTheExitCodes(t *testing.T) {
	out, _, code := runCLI(t, "", "help")
	for _, line := range []string{"0    done", "1    error", "2    usage error", "3    --wait timed out", "130  --wait interrupted", "completion"} {
		if code != 0 || !strings.Contains(out, line) {
			t.Errorf("clusterd help lacks %q (exit %d):\n%s", line, code, out)
		}
	}
}

func TestCompletionPrintsAScriptForEachShell(t *testing.T) {
	// (urfave/cli reads os.Args to complete, so the completions themselves
	// are tested against the real binary, below.)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, errOut, code := runCLI(t, "", "completion", shell)
		if code != 0 || !strings.Contains(out, "clusterd") {
			t.Errorf("completion %s: code %d, stderr %q", shell, code, errOut)
		}
	}
	if _, errOut, code := runCLI(t, "", "completion", "tcsh"); code != exitUsage || !strings.Contains(errOut, "give bash, zsh or fish") {
		t.Errorf("completion tcsh: code %d, stderr %q", code, errOut)
	}
}

// The bash script, sourced into a real bash, completes "clusterd sn<TAB>"
// to snapshot and "clusterd snapshot i<TAB>" to inspect by asking the
// binary on PATH.
func TestBashCompletionScriptCompletesInBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash is needed for this test: %v", err)
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, "clusterd")); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "clusterd.bash")
	if err := os.WriteFile(script, []byte(bashCompletion), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) string {
		t.Helper()
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		prog := "source " + script + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" + strconv.Itoa(len(words)-1) +
			"\n_clusterd_complete\necho \"${COMPREPLY[*]}\"\n"
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	all := " " + complete("clusterd", "") + " "
	for _, cmd := range []string{"status", "snapshot", "drain", "leave", "completion"} {
		if !strings.Contains(all, " "+cmd+" ") {
			t.Errorf("clusterd <TAB> lacks %s: %q", cmd, all)
		}
	}
	if got := complete("clusterd", "sn"); got != "snapshot" {
		t.Errorf("clusterd sn<TAB> = %q, want snapshot", got)
	}
	if got := complete("clusterd", "snapshot", "i"); got != "inspect" {
		t.Errorf("clusterd snapshot i<TAB> = %q, want inspect", got)
	}
	if got := complete("clusterd", "drain", "--ti"); got != "--timeout" {
		t.Errorf("clusterd drain --ti<TAB> = %q, want --timeout", got)
	}
}
