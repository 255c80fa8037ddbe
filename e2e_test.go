package main

// End-to-end: the real binary, started as a user would, driven through the
// CLI. Nothing is mocked: raft and bolt on disk, the process isolator, HTTP
// on loopback.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
)

// buildBinary compiles clusterd once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "clusterd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// server is a clusterd process under test.
type server struct {
	t    *testing.T
	bin  string
	addr string
	cmd  *exec.Cmd
	out  *os.File
	// dataDir is the node's --data-dir (none for --dev): the CLI finds the
	// admin token there, as root on a server does.
	dataDir string
}

// start runs `clusterd ARGS...` with free ports and waits until it prints
// its URL and registered itself as an agent.
func start(t *testing.T, bin string, httpPort int, args ...string) *server {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "clusterd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args = append(args, "--bind", "127.0.0.1", "--http-port", strconv.Itoa(httpPort), "--raft-port", strconv.Itoa(freePort(t)), "--gossip-port", strconv.Itoa(freePort(t)), "--isolator", "process")
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, bin: bin, addr: fmt.Sprintf("http://127.0.0.1:%d", httpPort), cmd: cmd, out: logf}
	for i, a := range args {
		if a == "--data-dir" && i+1 < len(args) {
			s.dataDir = args[i+1]
		}
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			_, _ = s.cmd.Process.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("clusterd log:\n%s", b)
		}
	})
	eventually(t, "node registered", 20*time.Second, func() bool {
		out, err := s.cli("nodes", "-o", "json")
		return err == nil && strings.Contains(out, `"state": "ready"`)
	})
	return s
}

// cli runs the CLI against this server and returns stdout (stderr on error).
func (s *server) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, append([]string{"--addr", s.addr}, args...)...)
	cmd.Env = append(cliEnv(s.t), "CLUSTERD_DATA_DIR="+s.dataDir)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// cliEnv is this process's environment without CLUSTERD_ settings and with
// a config dir of its own, so the CLI under test finds neither the
// developer's saved credentials nor their address.
func cliEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CLUSTERD_") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "XDG_CONFIG_HOME="+filepath.Join(t.TempDir(), "config"))
}

func (s *server) mustCLI(args ...string) string {
	s.t.Helper()
	out, err := s.cli(args...)
	if err != nil {
		s.t.Fatalf("clusterd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (s *server) tasks(job string) []api.Task {
	s.t.Helper()
	var tasks []api.Task
	if err := json.Unmarshal([]byte(s.mustCLI("ps", "--job", job, "-o", "json")), &tasks); err != nil {
		s.t.Fatalf("ps -o json: %v", err)
	}
	return tasks
}

func (s *server) jobs() []api.Job {
	s.t.Helper()
	var jobs []api.Job
	if err := json.Unmarshal([]byte(s.mustCLI("jobs", "-o", "json")), &jobs); err != nil {
		s.t.Fatalf("jobs -o json: %v", err)
	}
	return jobs
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { _, err := s.cmd.Process.Wait(); done <- err }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.t.Fatal("clusterd did not exit within 30 s of SIGTERM")
	}
}

func (s *server) kill9() {
	_ = s.cmd.Process.Kill()
	_, _ = s.cmd.Process.Wait()
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func jobFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "job.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDevClusterRunsBatchAndServiceJobsThroughTheCLI(t *testing.T) {
	bin := buildBinary(t)
	s := start(t, bin, freePort(t), "agent", "--dev")

	// A batch job: run --wait returns once it finished; its output is readable.
	out := s.mustCLI("run", "--wait", jobFile(t, `{"id":"hello","type":"batch","cmd":"echo hello from $CLUSTERD_TASK_ID","instances":1,"cpus":0.1,"mem":32}`))
	if !strings.Contains(out, "hello") {
		t.Fatalf("run output: %q", out)
	}
	tasks := s.tasks("hello")
	if len(tasks) != 1 || tasks[0].State != api.TaskFinished || tasks[0].ExitCode == nil || *tasks[0].ExitCode != 0 {
		t.Fatalf("hello tasks: %+v", tasks)
	}
	if logs := s.mustCLI("logs", tasks[0].ID); strings.TrimSpace(logs) != "hello from "+tasks[0].ID {
		t.Fatalf("logs of %s: %q", tasks[0].ID, logs)
	}

	// A failing batch job is retried (default retries 2) and reported failed.
	if out, err := s.cli("run", "--wait", jobFile(t, `{"id":"fails","type":"batch","cmd":"exit 3","instances":1,"cpus":0.1,"mem":32,"retries":1}`)); err == nil {
		t.Fatalf("run --wait of a failing job succeeded: %s", out)
	}
	failed := s.tasks("fails")
	if len(failed) != 2 || failed[0].State != api.TaskFailed || *failed[0].ExitCode != 3 {
		t.Fatalf("a failing batch job with retries 1 should run twice and fail with code 3: %+v", failed)
	}

	// A service keeps its instances running; a killed task is replaced.
	s.mustCLI("run", "--wait", jobFile(t, `{"id":"web","type":"service","cmd":"sleep 300","instances":2,"cpus":0.1,"mem":32}`))
	running := s.tasks("web")
	if len(running) != 2 {
		t.Fatalf("web tasks: %+v", running)
	}
	victim := running[0].ID
	s.mustCLI("kill", victim)
	eventually(t, "the killed task is replaced", 15*time.Second, func() bool {
		n, killed := 0, false
		for _, task := range s.tasks("web") {
			if task.State == api.TaskRunning && task.ID != victim {
				n++
			}
			if task.ID == victim && task.State == api.TaskKilled {
				killed = true
			}
		}
		return n == 2 && killed
	})

	// Bad input: each is refused with a message naming the problem, and
	// none changes state.
	before := s.jobs()
	for _, bad := range []struct{ body, want string }{
		{`{"id":"x","type":"batch"`, "malformed"},
		{`{"id":"x","type":"batch","cmd":"true","instances":1,"cpus":0.1,"mem":32,"memory":5}`, "memory"},
		{`{"id":"x","type":"batch","cmd":"true","instances":1,"cpus":0,"mem":32}`, "cpus"},
		{`{"id":"x","type":"batch","cmd":"true","instances":1,"cpus":-1,"mem":32}`, "cpus"},
		{`{"id":"x","type":"batch","cmd":"","instances":1,"cpus":0.1,"mem":32}`, "cmd"},
		{`{"id":"x","type":"batch","cmd":"true","instances":0,"cpus":0.1,"mem":32}`, "instances"},
		{`{"id":"X Y","type":"batch","cmd":"true","instances":1,"cpus":0.1,"mem":32}`, "id"},
	} {
		out, err := s.cli("run", jobFile(t, bad.body))
		if err == nil || !strings.Contains(out, bad.want) {
			t.Errorf("run %s: err=%v, output %q should mention %q", bad.body, err, out, bad.want)
		}
	}
	after := s.jobs()
	if len(after) != len(before) {
		t.Fatalf("bad input changed the jobs: %d before, %d after", len(before), len(after))
	}

	// A job bigger than any node is accepted and shown as unplaceable with
	// the reason, never silently pending.
	out, err := s.cli("run", "--wait", jobFile(t, `{"id":"huge","type":"service","cmd":"sleep 1","instances":1,"cpus":0.1,"mem":999999}`))
	if err == nil || !strings.Contains(out, "mem") {
		t.Fatalf("run --wait of an unplaceable job: err=%v out=%q", err, out)
	}
	if code := exitCode(err); code != 2 {
		t.Fatalf("unplaceable job: exit code %d, want 2", code)
	}
	eventually(t, "huge is listed as unplaceable", 10*time.Second, func() bool {
		for _, j := range s.jobs() {
			if j.ID == "huge" && j.Pending != nil && j.Pending.Unplaceable && strings.Contains(j.Pending.Message, "mem") {
				return true
			}
		}
		return false
	})
	if out := s.mustCLI("jobs"); !strings.Contains(out, "unplaceable") {
		t.Fatalf("clusterd jobs does not show why huge is pending:\n%s", out)
	}

	s.stop()
	// --dev stops its tasks: nothing of web may outlive the node.
	for _, task := range running {
		if task.ID == victim {
			continue
		}
		if alive(t, task) {
			t.Errorf("task %s still runs after the dev node stopped", task.ID)
		}
	}
}

// alive reports whether a task's `sleep` process still exists, by looking
// for its CLUSTERD_TASK_ID in every process's environment.
func alive(t *testing.T, task api.Task) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && strings.Contains(string(env), "CLUSTERD_TASK_ID="+task.ID+"\x00") {
			return true
		}
	}
	return false
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func TestNodeKilledWithSIGKILLRestartsWithItsJobsAndTasks(t *testing.T) {
	bin := buildBinary(t)
	dataDir := t.TempDir()
	port := freePort(t)
	s := start(t, bin, port, "init", "--data-dir", dataDir)
	// Whatever happens, kill the task processes this test started.
	t.Cleanup(func() { killTasks(t, dataDir) })

	s.mustCLI("run", "--wait", jobFile(t, `{"id":"svc","type":"service","cmd":"sleep 300","instances":2,"cpus":0.1,"mem":32}`))
	s.mustCLI("run", "--wait", jobFile(t, `{"id":"once","type":"batch","cmd":"echo done","instances":1,"cpus":0.1,"mem":32}`))
	before := s.tasks("svc")
	s.kill9()

	s = start(t, bin, port, "init", "--data-dir", dataDir)
	if out := s.mustCLI("status"); !strings.Contains(out, "Leader") {
		t.Fatalf("status after restart:\n%s", out)
	}
	jobs := s.jobs()
	if len(jobs) != 2 {
		t.Fatalf("after a SIGKILL restart the node has %d jobs, want 2: %+v", len(jobs), jobs)
	}
	// The service's tasks were re-adopted, not restarted: same ids, running.
	eventually(t, "svc tasks re-adopted", 10*time.Second, func() bool {
		after := s.tasks("svc")
		if len(after) != len(before) {
			return false
		}
		for i := range after {
			if after[i].ID != before[i].ID || after[i].State != api.TaskRunning {
				return false
			}
		}
		return true
	})
	if once := s.tasks("once"); len(once) != 1 || once[0].State != api.TaskFinished {
		t.Fatalf("finished batch task after restart: %+v", once)
	}
	// A clean stop keeps tasks running (they belong to the cluster, not to
	// this process); the next start re-adopts them again.
	s.mustCLI("kill", "svc")
	eventually(t, "svc tasks killed", 15*time.Second, func() bool {
		for _, task := range s.tasks("svc") {
			if task.State != api.TaskKilled {
				return false
			}
		}
		return true
	})
	s.stop()
}

// killTasks kills every task process recorded in a data dir's checkpoints.
func killTasks(t *testing.T, dataDir string) {
	dirs, _ := filepath.Glob(filepath.Join(dataDir, "agent", "tasks", "*", "task.json"))
	for _, p := range dirs {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		var cp struct {
			PID int `json:"pid"`
		}
		_ = json.NewDecoder(bufio.NewReader(f)).Decode(&cp)
		f.Close()
		if cp.PID > 1 {
			_ = syscall.Kill(-cp.PID, syscall.SIGKILL)
		}
	}
}

func TestRolesWeightsQuotaAndFrameworksThroughTheCLI(t *testing.T) {
	bin := buildBinary(t)
	s := start(t, bin, freePort(t), "agent", "--dev")
	// hasRow reports whether a table has a line whose first cells (two or
	// more spaces apart) are these.
	hasRow := func(table string, want ...string) bool {
		for _, line := range strings.Split(table, "\n") {
			var cells []string
			for _, c := range strings.Split(line, "  ") {
				if c = strings.TrimSpace(c); c != "" {
					cells = append(cells, c)
				}
			}
			if len(cells) >= len(want) && strings.Join(cells[:len(want)], "|") == strings.Join(want, "|") {
				return true
			}
		}
		return false
	}

	type role struct {
		Name       string  `json:"name"`
		Weight     float64 `json:"weight"`
		Frameworks []struct {
			Value string `json:"value"`
		} `json:"frameworks"`
		Quota *struct {
			Limits map[string]struct {
				Value float64 `json:"value"`
			} `json:"limits"`
		} `json:"quota"`
	}
	roles := func() map[string]role {
		t.Helper()
		var rs []role
		if err := json.Unmarshal([]byte(s.mustCLI("roles", "-o", "json")), &rs); err != nil {
			t.Fatalf("roles -o json: %v", err)
		}
		out := map[string]role{}
		for _, r := range rs {
			out[r.Name] = r
		}
		return out
	}

	// Weights: set one, see it in roles.
	if out := s.mustCLI("weights", "set", "web=2"); out != "role web: weight 2\n" {
		t.Fatalf("weights set: %q", out)
	}
	if w := roles()["web"].Weight; w != 2 {
		t.Fatalf("roles -o json: weight of web is %v, want 2", w)
	}
	if out := s.mustCLI("weights"); !hasRow(out, "web", "2") {
		t.Fatalf("weights does not show web at 2:\n%s", out)
	}

	// Quota: set, list (table and JSON), remove.
	s.mustCLI("quota", "set", "web", "cpus=1,mem=256")
	if out := s.mustCLI("quota"); !hasRow(out, "web", "0/1", "0/256", "-", "-") {
		t.Fatalf("quota does not show web's limits as used/limit:\n%s", out)
	}
	var quotas []struct {
		Role   string `json:"role"`
		Limits map[string]struct {
			Value float64 `json:"value"`
		} `json:"limits"`
	}
	if err := json.Unmarshal([]byte(s.mustCLI("quota", "-o", "json")), &quotas); err != nil {
		t.Fatal(err)
	}
	if len(quotas) != 1 || quotas[0].Role != "web" || quotas[0].Limits["cpus"].Value != 1 || quotas[0].Limits["mem"].Value != 256 {
		t.Fatalf("quota -o json: %+v", quotas)
	}
	if out := s.mustCLI("roles"); !strings.Contains(out, "cpus 0/1 mem 0/256") {
		t.Fatalf("roles does not show web's quota:\n%s", out)
	}
	s.mustCLI("quota", "remove", "web")
	if out := s.mustCLI("quota"); strings.Contains(out, "web") {
		t.Fatalf("quota still lists web after quota remove:\n%s", out)
	}
	if q := roles()["web"].Quota; q != nil && len(q.Limits) > 0 {
		t.Fatalf("roles -o json: web still has a quota: %+v", q)
	}

	// Bad input: a usage error naming the argument, and the server's own
	// message for the default role.
	out, err := s.cli("weights", "set", "web=-1")
	if code := exitCode(err); code != exitUsage || !strings.Contains(out, "web=-1") {
		t.Fatalf("weights set web=-1: exit %d, output %q", code, out)
	}
	out, err = s.cli("quota", "set", "*", "cpus=1")
	if code := exitCode(err); code != exitError || !strings.Contains(out, "default role") {
		t.Fatalf("quota set '*': exit %d, output %q", code, out)
	}

	// The built-in framework is listed, connected, in role jobs.
	if out := s.mustCLI("frameworks"); !hasRow(out, "clusterd-jobs", "clusterd jobs", "jobs", "connected") {
		t.Fatalf("frameworks does not list clusterd-jobs, connected, in role jobs:\n%s", out)
	}
	if fws := roles()["jobs"].Frameworks; len(fws) != 1 || fws[0].Value != "clusterd-jobs" {
		t.Fatalf("roles -o json: frameworks of role jobs = %+v, want clusterd-jobs", fws)
	}

	// Deactivate and reactivate the node, by name.
	var nodes []api.Node
	nodeState := func() string {
		t.Helper()
		if err := json.Unmarshal([]byte(s.mustCLI("nodes", "-o", "json")), &nodes); err != nil || len(nodes) != 1 {
			t.Fatalf("nodes -o json: %v, %+v", err, nodes)
		}
		return nodes[0].State
	}
	nodeState()
	name := nodes[0].Name
	s.mustCLI("deactivate", name)
	if st := nodeState(); st != "inactive" {
		t.Fatalf("after deactivate the node is %q, want inactive", st)
	}
	s.mustCLI("reactivate", name)
	if st := nodeState(); st != "ready" {
		t.Fatalf("after reactivate the node is %q, want ready", st)
	}

	// Drain a node that runs a service: its task is killed; with one node
	// the service has nowhere to go and waits; reactivating runs it again.
	s.mustCLI("run", "--wait", jobFile(t, `{"id":"svc","type":"service","cmd":"sleep 300","instances":1,"cpus":0.1,"mem":32}`))
	before := s.tasks("svc")
	if len(before) != 1 || before[0].State != api.TaskRunning {
		t.Fatalf("svc tasks: %+v", before)
	}
	if out := s.mustCLI("drain", "--grace", "1s", "--wait", name); !strings.Contains(out, "is drained: no tasks left") {
		t.Fatalf("drain --wait: %q", out)
	}
	if st := nodeState(); st != "draining" {
		t.Fatalf("after drain the node is %q, want draining", st)
	}
	if got := s.tasks("svc"); len(got) != 1 || got[0].ID != before[0].ID || got[0].State != api.TaskKilled {
		t.Fatalf("after drain, svc tasks are %+v; want its one task killed and no new one", got)
	}
	eventually(t, "svc shown waiting for a node", 10*time.Second, func() bool {
		for _, j := range s.jobs() {
			if j.ID == "svc" {
				return j.Pending != nil && j.Pending.Instances == 1
			}
		}
		return false
	})
	s.mustCLI("reactivate", name)
	eventually(t, "svc runs again after reactivate", 15*time.Second, func() bool {
		for _, task := range s.tasks("svc") {
			if task.ID != before[0].ID && task.State == api.TaskRunning {
				return true
			}
		}
		return false
	})
	s.mustCLI("kill", "svc")
	s.stop()
}

func TestScaleAndStartThroughTheCLI(t *testing.T) {
	bin := buildBinary(t)
	s := start(t, bin, freePort(t), "agent", "--dev")
	t.Cleanup(s.stop) // before start's kill: --dev stops its tasks on a graceful exit

	// scale --wait returns once the new instances run, and once the ones
	// scaled away stopped; the version stays.
	s.mustCLI("run", "--wait", jobFile(t, `{"id":"web","type":"service","cmd":"sleep 300","instances":1,"cpus":0.1,"mem":32}`))
	if out := s.mustCLI("scale", "--wait", "web", "3"); out != "job web scaled to 3 instances (version 1)\n" {
		t.Fatalf("scale up: %q", out)
	}
	active := func() int {
		n := 0
		for _, task := range s.tasks("web") {
			if task.State == api.TaskRunning && !task.KillRequested {
				n++
			}
		}
		return n
	}
	if n := active(); n != 3 {
		t.Fatalf("after scale --wait web 3: %d running tasks", n)
	}
	s.mustCLI("scale", "--wait", "web", "1")
	for _, task := range s.tasks("web") {
		if task.Instance > 0 && !api.TaskStateTerminal(task.State) {
			t.Fatalf("scale --wait web 1 returned while %s (instance %d) is %s", task.ID, task.Instance, task.State)
		}
	}
	if out := s.mustCLI("job", "web"); !strings.Contains(out, "Instances:         1\n") || !strings.Contains(out, "HEALTH") {
		t.Fatalf("job web after scaling:\n%s", out)
	}

	// start --wait runs a batch job again and says how its run ended.
	s.mustCLI("run", "--wait", jobFile(t, `{"id":"hello","type":"batch","cmd":"echo hi","instances":1,"cpus":0.1,"mem":32}`))
	if out := s.mustCLI("start", "--wait", "hello"); out != "started run 2 of hello\nrun 2 of hello succeeded\n" {
		t.Fatalf("start --wait hello: %q", out)
	}
	if out := s.mustCLI("job", "hello"); !strings.Contains(out, "RUN  TRIGGER") || !strings.Contains(out, "manual") {
		t.Fatalf("job hello does not list its manual run:\n%s", out)
	}
	if _, err := s.cli("run", "--wait", jobFile(t, `{"id":"fails","type":"batch","cmd":"exit 3","instances":1,"cpus":0.1,"mem":32,"retries":0}`)); err == nil {
		t.Fatal("run --wait of a failing job succeeded")
	}
	out, err := s.cli("start", "--wait", "fails")
	if code := exitCode(err); code != 1 || !strings.Contains(out, "run 2 of job fails failed") || !strings.Contains(out, "exit code 3") {
		t.Fatalf("start --wait of a failing job: exit %d\n%s", code, out)
	}

	// What cannot be done says so.
	if out, err := s.cli("start", "web"); err == nil || !strings.Contains(out, "web is a service") {
		t.Fatalf("start of a service: err %v, %q", err, out)
	}
	if out, err := s.cli("scale", "hello", "2"); err == nil || !strings.Contains(out, "batch") {
		t.Fatalf("scale of a batch job: err %v, %q", err, out)
	}

	// A cron job is shown with its schedule and when it runs next.
	s.mustCLI("run", "--wait", jobFile(t, `{"id":"nightly","type":"cron","cmd":"true","instances":1,"cpus":0.1,"mem":32,"schedule":"0 2 * * *","time_zone":"Europe/Berlin"}`))
	out = s.mustCLI("job", "show", "nightly") // the same as "job nightly"
	for _, want := range []string{"Schedule:", "0 2 * * * (Europe/Berlin)", "Next run:", " 02:00:00 CE"} {
		if !strings.Contains(out, want) {
			t.Errorf("job nightly lacks %q:\n%s", want, out)
		}
	}
	if out := s.mustCLI("jobs"); !strings.Contains(out, "scheduled, next in ") {
		t.Errorf("jobs does not say when nightly runs next:\n%s", out)
	}
}

func TestSnapshotSaveRestoreAndRecoverThroughTheCLI(t *testing.T) {
	bin := buildBinary(t)
	dataDir := t.TempDir()
	port := freePort(t)
	s := start(t, bin, port, "init", "--data-dir", dataDir)
	t.Cleanup(func() { killTasks(t, dataDir) })
	s.mustCLI("run", "--wait", jobFile(t, `{"id":"keep","type":"batch","cmd":"echo kept","instances":1,"cpus":0.1,"mem":32}`))

	snap := filepath.Join(t.TempDir(), "backup.snap")
	out := s.mustCLI("snapshot", "save", snap)
	if !strings.Contains(out, "saved "+snap) || !regexpMatch(`(?m)^jobs:\s+1$`, out) || !regexpMatch(`(?m)^sha256:\s+[0-9a-f]{64}$`, out) {
		t.Fatalf("snapshot save printed:\n%s", out)
	}
	if _, err := os.Stat(snap + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("snapshot save left %s.tmp behind (%v)", snap, err)
	}
	var sum api.SnapshotSummary
	if err := json.Unmarshal([]byte(s.mustCLI("snapshot", "inspect", "-o", "json", snap)), &sum); err != nil || sum.Jobs != 1 || sum.Tasks != 1 || sum.ClusterID == "" {
		t.Fatalf("snapshot inspect -o json = %+v, %v", sum, err)
	}

	s.mustCLI("run", "--wait", jobFile(t, `{"id":"later","type":"service","cmd":"sleep 300","instances":1,"cpus":0.1,"mem":32}`))
	// Not a terminal and no --yes: nothing happens, and it says how to go on.
	if out, err := s.cli("snapshot", "restore", snap); exitCode(err) != exitUsage || !strings.Contains(out, "pass --yes") {
		t.Fatalf("restore without --yes: exit %d, output:\n%s", exitCode(err), out)
	}
	if n := len(s.jobs()); n != 2 {
		t.Fatalf("a refused restore changed the jobs: %d, want 2", n)
	}
	// A damaged file is refused before it reaches the cluster.
	raw, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "broken.snap")
	if err := os.WriteFile(broken, raw[:len(raw)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := s.cli("snapshot", "restore", "--yes", broken); err == nil || !strings.Contains(out, "not a usable snapshot") {
		t.Fatalf("restore of a truncated snapshot: %v\n%s", err, out)
	}

	out = s.mustCLI("snapshot", "restore", "--yes", snap)
	if !strings.Contains(out, "restored "+snap) {
		t.Fatalf("snapshot restore printed:\n%s", out)
	}
	eventually(t, "state back to the snapshot's", 15*time.Second, func() bool {
		jobs := s.jobs()
		return len(jobs) == 1 && jobs[0].ID == "keep"
	})
	s.stop()

	// Lost quorum: recover the stopped node's data dir so it leads alone.
	if out, err := s.cli("recover", "--data-dir", dataDir); exitCode(err) != exitUsage || !strings.Contains(out, "pass --yes") {
		t.Fatalf("recover without --yes: exit %d, output:\n%s", exitCode(err), out)
	}
	out = s.mustCLI("recover", "--yes", "--data-dir", dataDir)
	if !strings.Contains(out, "is now the only server of its cluster") || !strings.Contains(out, "clusterd join 127.0.0.1") {
		t.Fatalf("recover printed:\n%s", out)
	}
	s = start(t, bin, port, "init", "--data-dir", dataDir)
	if jobs := s.jobs(); len(jobs) != 1 || jobs[0].ID != "keep" {
		t.Fatalf("jobs after recover: %+v", jobs)
	}
	s.stop()
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

// The CLI speaks https to a node only when it can check the node against
// the cluster CA: one given as a file, or one that login accepted because
// its fingerprint is the one init printed. It never trusts on first use.
func TestCLIOverHTTPSTrustsOnlyTheClusterCA(t *testing.T) {
	bin := buildBinary(t)
	dataDir := t.TempDir()
	port := freePort(t)
	s := start(t, bin, port, "init", "--data-dir", dataDir)
	var st struct {
		CAFingerprint string `json:"ca_fingerprint"`
	}
	if err := json.Unmarshal([]byte(s.mustCLI("status", "-o", "json")), &st); err != nil || len(st.CAFingerprint) != 64 {
		t.Fatalf("status: ca_fingerprint %q: %v", st.CAFingerprint, err)
	}
	tokenBytes, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenBytes))
	https := fmt.Sprintf("https://127.0.0.1:%d", port)
	// One config dir for the whole test (login saves there), and a data
	// dir the CLI cannot take a CA or token from.
	env := append(cliEnv(t), "CLUSTERD_DATA_DIR="+t.TempDir())
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	if out, err := run("--addr", https, "--token", token, "nodes"); err == nil || !strings.Contains(out, "certificate") {
		t.Errorf("https without the CA: err=%v\n%s", err, out)
	}
	if out, err := run("--addr", https, "--token", token, "--ca-file", filepath.Join(dataDir, "tls", "ca.crt"), "nodes"); err != nil || !strings.Contains(out, "ready") {
		t.Errorf("https with --ca-file: err=%v\n%s", err, out)
	}
	out, err := run("--addr", https, "login", token)
	if err == nil || !strings.Contains(out, st.CAFingerprint) || !strings.Contains(out, "nothing was sent") {
		t.Errorf("login over https without a fingerprint: err=%v\n%s", err, out)
	}
	wrong := strings.Repeat("0", 64)
	if out, err := run("--addr", https, "login", "--ca-fingerprint", wrong, token); err == nil || !strings.Contains(out, "man in the middle") {
		t.Errorf("login with another fingerprint: err=%v\n%s", err, out)
	}
	if out, err := run("--addr", https, "login", "--ca-fingerprint", st.CAFingerprint, token); err != nil || !strings.Contains(out, "Logged in to "+https) {
		t.Fatalf("login with the right fingerprint: err=%v\n%s", err, out)
	}
	// Saved: the address, the token and the CA.
	if out, err := run("nodes"); err != nil || !strings.Contains(out, "ready") {
		t.Errorf("nodes after login, over https: err=%v\n%s", err, out)
	}
}
