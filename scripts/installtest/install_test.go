package installtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
)

// The outer test passes these to its own binary re-run inside the sandbox.
const (
	insideEnv = "CLUSTERD_INSTALLTEST_INSIDE" // "1" inside the sandbox
	binEnv    = "CLUSTERD_INSTALLTEST_BIN"    // the clusterd binary built outside
	ipEnv     = "CLUSTERD_INSTALLTEST_IP"     // the loopback address the node binds
	// sandboxMarker is set by isolate/systemdtest in the environment of a
	// test that already runs inside a sandbox (sandboxes do not nest).
	sandboxMarker = "CLUSTERD_SYSTEMD_SANDBOX"
)

const testVersion = "installtest"

// TestInstallScriptRunsClusterdWithTasksInClusterdSlice is the check of
// issue 7, part 4: scripts/install.sh run inside a real systemd installs a
// clusterd.service that starts, `clusterd status` answers, and a task runs
// as a unit in clusterd.slice. Beyond that: the unit's hardening is in force
// on the running clusterd, a second identical run changes nothing, an
// upgrade restarts clusterd in place without touching the task, and
// --uninstall removes unit and binary but keeps the data dir.
func TestInstallScriptRunsClusterdWithTasksInClusterdSlice(t *testing.T) {
	if os.Getenv(insideEnv) == "1" {
		inside(t)
		return
	}
	if why := sandboxUnavailable(); why != "" {
		t.Fatalf("this test installs clusterd into a private systemd and cannot run here: %s. "+
			"Run it as root on a machine with systemd installed (/lib/systemd/systemd), as scripts/test does in CI", why)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "clusterd")
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version="+testVersion, "-o", bin, ".")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build clusterd: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Millisecond))

	// A loopback address of its own: the sandbox shares the machine's
	// network, and the node listens on the default ports 5050-5052.
	ip := fmt.Sprintf("127.77.%d.%d", rand.IntN(256), 2+rand.IntN(250))
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Sandboxes run one at a time machine-wide (the isolate tests boot
	// theirs too): most of this limit is for waiting on the sandbox lock; the
	// test inside has -test.timeout of its own.
	runCtx, runCancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer runCancel()
	cmd := exec.CommandContext(runCtx, filepath.Join(root, "scripts", "systemd-sandbox"),
		"env", insideEnv+"=1", binEnv+"="+bin, ipEnv+"="+ip,
		exe, "-test.run", "^"+regexp.QuoteMeta(t.Name())+"$", "-test.v", "-test.count=1", "-test.timeout=150s")
	// SIGTERM lets the sandbox helper pass the signal on and tear the
	// sandbox down; it is killed only if it does not finish.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			t.Log("sandbox| " + sc.Text())
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Run()
	pw.Close()
	<-done
	switch {
	case err != nil:
		t.Fatalf("the test inside the systemd sandbox failed: %v (its output is above)", err)
	case !strings.Contains(out.String(), "--- PASS: "+t.Name()+" "):
		t.Fatalf("the test inside the systemd sandbox did not run (no %q in its output)", "--- PASS: "+t.Name())
	}
	t.Logf("install test took %v in all", time.Since(start).Round(time.Millisecond))
}

// sandboxUnavailable says why no systemd sandbox can be booted here, or "".
// (The checks of isolate/systemdtest.Available, which this package may not
// import: scripts/ depend on web/ only.)
func sandboxUnavailable() string {
	if os.Getenv(sandboxMarker) == "1" {
		return "already inside a systemd sandbox (sandboxes do not nest)"
	}
	if os.Geteuid() != 0 {
		return "needs root"
	}
	if _, err := os.Stat("/lib/systemd/systemd"); err != nil {
		return "no /lib/systemd/systemd"
	}
	for _, c := range []string{"go", "unshare", "nsenter", "systemctl", "mount", "sh"} {
		if _, err := exec.LookPath(c); err != nil {
			return "no " + c + " on PATH"
		}
	}
	if b, err := os.ReadFile("/proc/filesystems"); err != nil || !bytes.Contains(b, []byte("\toverlay\n")) {
		return "no overlay file system (the test keeps what install.sh writes off the disk with overlays)"
	}
	return ""
}

// inside runs in the sandbox's namespaces, under its systemd (PID 1).
func inside(t *testing.T) {
	bin, ip := os.Getenv(binEnv), os.Getenv(ipEnv)
	if bin == "" || ip == "" {
		t.Fatalf("%s and %s must be set inside the sandbox", binEnv, ipEnv)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ip + ":5050"
	bin, script := isolateFilesystem(t, bin, filepath.Join(root, "scripts"))

	// Cleanups run last-registered first: on failure the logs are shown,
	// then whatever still runs is stopped (so no unit is cut down with the
	// sandbox).
	t.Cleanup(func() {
		// Exit 5: not loaded (already uninstalled, or never installed).
		out, err := run(60*time.Second, nil, "systemctl", "stop", "clusterd.service", "clusterd.slice")
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 5) {
			t.Errorf("stop clusterd.service and clusterd.slice: %v\n%s", err, out)
		}
	})
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, args := range [][]string{
			{"systemctl", "status", "--no-pager", "--all", "clusterd.service", "clusterd.slice"},
			{"journalctl", "--no-pager", "-n", "150", "-u", "clusterd.service"},
			{"journalctl", "--no-pager", "-n", "60", "-u", "clusterd-*"},
		} {
			out, _ := run(10*time.Second, nil, args[0], args[1:]...)
			t.Logf("$ %s\n%s", strings.Join(args, " "), out)
		}
	})

	installArgs := []string{"--binary", bin, "--init", "--env", "CLUSTERD_BIND=" + ip, "--env", "CLUSTERD_NODE_NAME=installtest"}
	out := mustRun(t, 60*time.Second, nil, "sh", append([]string{script}, installArgs...)...)
	t.Logf("install.sh:\n%s", out)
	if !strings.Contains(out, "started clusterd.service") {
		t.Fatalf("install.sh did not say it started clusterd.service:\n%s", out)
	}
	for _, p := range []string{"/usr/local/bin/clusterd", "/etc/systemd/system/clusterd.service", "/etc/systemd/system/clusterd.slice", "/etc/clusterd/clusterd.env"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("after install: %v", err)
		}
	}
	if fi, err := os.Stat("/var/lib/clusterd"); err != nil {
		t.Errorf("after install: %v", err)
	} else if !fi.IsDir() || fi.Mode().Perm() != 0o711 {
		t.Errorf("data dir /var/lib/clusterd has mode %v; want a directory with mode 0711 (hardened tasks traverse it)", fi.Mode())
	}
	st := waitReady(t, addr)
	if st.Version != testVersion || st.RaftState != "Leader" {
		t.Fatalf("clusterd status: version %q, raft state %q; want the binary just built (%q) leading its one-node cluster", st.Version, st.RaftState, testVersion)
	}
	clusterdPID := showProp(t, "clusterd.service", "MainPID")

	// The unit's hardening is in force on the running clusterd, and it
	// still does its job under it (the task below).
	status := mustRun(t, 5*time.Second, nil, "cat", "/proc/"+clusterdPID+"/status")
	for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(status, want) {
			t.Errorf("/proc/%s/status of clusterd lacks %q: the unit's hardening is not applied", clusterdPID, want)
		}
	}
	if sec, err := run(20*time.Second, nil, "systemd-analyze", "security", "--no-pager", "clusterd.service"); err == nil {
		lines := strings.Split(strings.TrimSpace(sec), "\n")
		t.Logf("systemd-analyze security: %s", lines[len(lines)-1])
	}

	// A task: a transient unit in clusterd.slice, outside clusterd's cgroup.
	job := `{"id": "installtest", "type": "service", "cmd": "sleep 600", "instances": 1, "cpus": 0.1, "mem": 32, "kill_grace_seconds": 1}`
	out = mustRun(t, 60*time.Second, strings.NewReader(job), "/usr/local/bin/clusterd", "--addr", addr, "run", "--wait", "--timeout", "45s", "-")
	t.Logf("clusterd run: %s", lastLine(out))
	task := runningTask(t, addr)
	unit := taskUnit(t, task.ID)
	if slice := showProp(t, unit, "Slice"); slice != "clusterd.slice" {
		t.Errorf("task %s: unit %s is in slice %q; want clusterd.slice", task.ID, unit, slice)
	}
	if cg := showProp(t, unit, "ControlGroup"); !strings.HasPrefix(cg, "/clusterd.slice/") {
		t.Errorf("task %s: unit %s has cgroup %q; want one under /clusterd.slice/", task.ID, unit, cg)
	}
	taskPID := showProp(t, unit, "MainPID")
	t.Logf("task %s runs as %s (pid %s) in clusterd.slice", task.ID, unit, taskPID)

	// Idempotent: the same line again changes nothing and restarts nothing.
	envBefore := readFile(t, "/etc/clusterd/clusterd.env")
	out = mustRun(t, 60*time.Second, nil, "sh", append([]string{script}, installArgs...)...)
	if !strings.Contains(out, "running and up to date") {
		t.Errorf("second identical install.sh run: want 'running and up to date', got:\n%s", out)
	}
	if pid := showProp(t, "clusterd.service", "MainPID"); pid != clusterdPID {
		t.Errorf("second identical install.sh run restarted clusterd (pid %s, was %s)", pid, clusterdPID)
	}
	if envAfter := readFile(t, "/etc/clusterd/clusterd.env"); envAfter != envBefore {
		t.Errorf("second install.sh run rewrote /etc/clusterd/clusterd.env")
	}
	// Other options never overwrite the env file: they go beside it.
	out = mustRun(t, 60*time.Second, nil, "sh", script, "--binary", bin, "--join", "10.0.1.5")
	if !strings.Contains(out, "kept /etc/clusterd/clusterd.env") || readFile(t, "/etc/clusterd/clusterd.env") != envBefore ||
		!strings.Contains(readFile(t, "/etc/clusterd/clusterd.env.new"), "CLUSTERD_JOIN=10.0.1.5") {
		t.Errorf("install.sh --join on a machine with an env file: want it kept and the new one in clusterd.env.new; said:\n%s", out)
	}
	if fi, err := os.Stat("/etc/clusterd/clusterd.env"); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("/etc/clusterd/clusterd.env has mode %v; want 0600 (it may hold a join token)", fi.Mode())
	}

	// An upgrade: a different binary (the same one with bytes appended,
	// which an ELF loader ignores) is put in place and clusterd restarts in
	// place; the task keeps running and is re-adopted.
	newer := bin + ".new"
	mustRun(t, 10*time.Second, nil, "sh", "-c", `cp "$0" "$1" && printf upgrade >>"$1"`, bin, newer)
	out = mustRun(t, 120*time.Second, nil, "sh", script, "--binary", newer)
	if !strings.Contains(out, "restarted clusterd.service") {
		t.Errorf("install.sh with a new binary: want 'restarted clusterd.service', got:\n%s", out)
	}
	if pid := showProp(t, "clusterd.service", "MainPID"); pid == clusterdPID || pid == "0" {
		t.Errorf("after the upgrade clusterd's pid is %s (was %s); want a new process", pid, clusterdPID)
	}
	waitReady(t, addr)
	if pid := showProp(t, unit, "MainPID"); pid != taskPID {
		t.Errorf("the upgrade restarted the task: unit %s pid %s, was %s; tasks must survive restarts of clusterd", unit, pid, taskPID)
	}
	if again := runningTask(t, addr); again.ID != task.ID {
		t.Errorf("after the upgrade the running task is %s; want %s re-adopted", again.ID, task.ID)
	}

	// Clean stop of the task, then the uninstall.
	mustRun(t, 20*time.Second, nil, "/usr/local/bin/clusterd", "--addr", addr, "kill", "installtest")
	waitFor(t, "task unit "+unit+" gone", 30*time.Second, func() (bool, string) {
		state, _ := run(5*time.Second, nil, "systemctl", "is-active", unit)
		state = strings.TrimSpace(state)
		return state != "active" && state != "deactivating", state
	})
	out = mustRun(t, 120*time.Second, nil, "sh", script, "--uninstall")
	t.Logf("install.sh --uninstall:\n%s", out)
	for _, p := range []string{"/usr/local/bin/clusterd", "/etc/systemd/system/clusterd.service", "/etc/systemd/system/clusterd.slice"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after --uninstall %s: %v; want it removed", p, err)
		}
	}
	for _, p := range []string{"/var/lib/clusterd/raft/raft.db", "/etc/clusterd/clusterd.env"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("after --uninstall: %v; want the data dir and the env file kept", err)
		}
	}
	if state, _ := run(5*time.Second, nil, "systemctl", "is-active", "clusterd.service"); strings.TrimSpace(state) == "active" {
		t.Errorf("after --uninstall clusterd.service is still active")
	}
}

// isolateFilesystem keeps what the install writes inside the sandbox: the
// directories install.sh writes get overlays whose upper layers live in the
// sandbox's private /run (a tmpfs), and /tmp becomes a private tmpfs (the
// PrivateTmp= of clusterd.service and of hardened tasks lands there). It
// returns where the binary and scripts/install.sh (with its install/
// beside it, copied from scriptsDir) are now reachable: a checkout under
// /tmp, as CI's may be, is hidden with the rest of /tmp.
func isolateFilesystem(t *testing.T, bin, scriptsDir string) (string, string) {
	const work = "/run/installtest"
	for _, d := range []string{"/etc", "/usr/local", "/var/lib"} {
		layer := filepath.Join(work, strings.ReplaceAll(strings.Trim(d, "/"), "/", "-"))
		upper, wk := filepath.Join(layer, "upper"), filepath.Join(layer, "work")
		if err := os.MkdirAll(upper, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(wk, 0o755); err != nil {
			t.Fatal(err)
		}
		mustRun(t, 10*time.Second, nil, "mount", "-t", "overlay", "overlay", "-o", "lowerdir="+d+",upperdir="+upper+",workdir="+wk, d)
	}
	// The binary was built in the machine's /tmp, about to be hidden.
	copied := filepath.Join(work, "clusterd")
	mustRun(t, 10*time.Second, nil, "cp", bin, copied)
	scripts := filepath.Join(work, "scripts")
	if err := os.MkdirAll(scripts, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 10*time.Second, nil, "cp", "-R", filepath.Join(scriptsDir, "install.sh"), filepath.Join(scriptsDir, "install"), scripts)
	mustRun(t, 10*time.Second, nil, "mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", "/tmp")
	return copied, filepath.Join(scripts, "install.sh")
}

// waitReady waits until clusterd.service is active and `clusterd status`
// answers with a leader.
func waitReady(t *testing.T, addr string) api.Status {
	t.Helper()
	waitFor(t, "clusterd.service active", 20*time.Second, func() (bool, string) {
		out, _ := run(5*time.Second, nil, "systemctl", "is-active", "clusterd.service")
		return strings.TrimSpace(out) == "active", out
	})
	var st api.Status
	waitFor(t, "clusterd status answers with a leader", 30*time.Second, func() (bool, string) {
		out, err := run(5*time.Second, nil, "/usr/local/bin/clusterd", "--addr", addr, "status", "-o", "json")
		if err != nil {
			return false, out
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return false, fmt.Sprintf("%v: %s", err, out)
		}
		return st.Leader != "", out
	})
	return st
}

// runningTask waits for the one task of job installtest to be running.
func runningTask(t *testing.T, addr string) api.Task {
	t.Helper()
	var task api.Task
	waitFor(t, "one running task of job installtest", 30*time.Second, func() (bool, string) {
		out, err := run(5*time.Second, nil, "/usr/local/bin/clusterd", "--addr", addr, "ps", "--job", "installtest", "--active", "-o", "json")
		if err != nil {
			return false, out
		}
		var ts []api.Task
		if err := json.Unmarshal([]byte(out), &ts); err != nil {
			return false, fmt.Sprintf("%v: %s", err, out)
		}
		if len(ts) != 1 || ts[0].State != "TASK_RUNNING" {
			return false, out
		}
		task = ts[0]
		return true, ""
	})
	return task
}

// taskUnit finds the systemd unit running a task.
func taskUnit(t *testing.T, taskID string) string {
	t.Helper()
	out := mustRun(t, 10*time.Second, nil, "systemctl", "list-units", "--all", "--plain", "--no-legend", "clusterd-*.service")
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.Contains(f[0], taskID) {
			return f[0]
		}
	}
	t.Fatalf("no unit clusterd-*.service for task %s; units:\n%s", taskID, out)
	return ""
}

func showProp(t *testing.T, unit, prop string) string {
	t.Helper()
	return strings.TrimSpace(mustRun(t, 10*time.Second, nil, "systemctl", "show", "-p", prop, "--value", unit))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor polls cond every 200 ms until it holds or timeout passes; detail
// is the last thing seen, for the failure message.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (ok bool, detail string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last seen: %s", timeout, what, strings.TrimSpace(detail))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// run runs a command with a time limit and returns its combined output.
func run(timeout time.Duration, stdin io.Reader, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: no result after %v: %w", name, timeout, ctx.Err())
	}
	return string(out), err
}

func mustRun(t *testing.T, timeout time.Duration, stdin io.Reader, name string, args ...string) string {
	t.Helper()
	out, err := run(timeout, stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
