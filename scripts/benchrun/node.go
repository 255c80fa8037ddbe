package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// devNode is one `clusterd agent --dev` process that the driver started.
// Its --dev data dir is made under dir (the node gets TMPDIR=dir), so every
// task sandbox lives under dir too: that is how leftover task processes are
// found and killed after the node stops.
type devNode struct {
	cmd     *exec.Cmd
	dir     string // the driver's temp dir for this node
	logPath string // the node's stderr
	url     string // http://127.0.0.1:PORT
	exited  chan struct{}
	waitErr error
}

var urlPattern = regexp.MustCompile(`Dashboard and API:\s+(http://127\.0\.0\.1:\d+)`)

// startNode starts the node on free loopback ports (port 0 everywhere) and
// waits until GET /v1/status answers and GET /v1/nodes lists a node.
func startNode(ctx context.Context, bin, logLevel string, hc *http.Client) (*devNode, error) {
	dir, err := os.MkdirTemp("", "clusterd-bench-")
	if err != nil {
		return nil, err
	}
	n := &devNode{dir: dir, logPath: filepath.Join(dir, "node.log"), exited: make(chan struct{})}
	logFile, err := os.Create(n.logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close()

	cmd := exec.Command(bin, "agent", "--dev",
		"--http-port", "0", "--raft-port", "0", "--gossip-port", "0",
		"--isolator", "process", "--log-level", logLevel)
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	cmd.Dir = dir
	cmd.Stderr = logFile
	// Its own process group: a Ctrl-C on the terminal reaches the driver,
	// which then stops the node in order (SIGINT, then SIGKILL).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	n.cmd = cmd

	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if m := urlPattern.FindStringSubmatch(sc.Text()); m != nil && !found {
				found = true
				urlc <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		n.waitErr = cmd.Wait()
		close(n.exited)
	}()

	fail := func(err error) (*devNode, error) {
		n.stop()
		return nil, err
	}
	readyCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	select {
	case n.url = <-urlc:
	case <-n.exited:
		return fail(fmt.Errorf("clusterd exited before it was ready (%v); log:\n%s", n.waitErr, n.logTail(20)))
	case <-readyCtx.Done():
		return fail(fmt.Errorf("clusterd printed no URL within 60 s; log:\n%s", n.logTail(20)))
	}
	// Not the timed path: a bounded poll every 50 ms until the node is
	// registered with the leader.
	for i := 0; ; i++ {
		var st struct {
			RaftState string `json:"raft_state"`
		}
		var nodes []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		}
		if err := getJSON(readyCtx, hc, n.url+"/v1/status", &st); err == nil && st.RaftState == "Leader" {
			if err := getJSON(readyCtx, hc, n.url+"/v1/nodes", &nodes); err == nil && len(nodes) > 0 && nodes[0].State == "ready" {
				return n, nil
			}
		}
		select {
		case <-n.exited:
			return fail(fmt.Errorf("clusterd exited before it was ready (%v); log:\n%s", n.waitErr, n.logTail(20)))
		case <-readyCtx.Done():
			return fail(fmt.Errorf("clusterd at %s not ready within 60 s; log:\n%s", n.url, n.logTail(20)))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pid is the clusterd process id.
func (n *devNode) pid() int { return n.cmd.Process.Pid }

// stop sends SIGINT, waits up to 15 s, then SIGKILLs; then it kills every
// task process whose working directory lies under the node's temp dir, and
// removes the temp dir. It returns the number of task processes killed.
func (n *devNode) stop() int {
	if n.cmd != nil && n.cmd.Process != nil {
		select {
		case <-n.exited:
		default:
			_ = n.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-n.exited:
			case <-time.After(15 * time.Second):
				logf("clusterd did not stop within 15 s of SIGINT; sending SIGKILL")
				_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
				<-n.exited
			}
		}
	}
	killed := killTasksUnder(n.dir)
	if os.Getenv("BENCH_KEEP") == "" {
		os.RemoveAll(n.dir)
	}
	return killed
}

func (n *devNode) logTail(lines int) string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// copyLog copies the node's log to path (for -node-log).
func (n *devNode) copyLog(path string) error {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(b)
	return err
}

// killTasksUnder SIGKILLs the process group of every process whose cwd is
// under dir (the process isolator runs each task as a session leader in its
// sandbox). Bounded: two passes over /proc.
func killTasksUnder(dir string) int {
	killed := 0
	for pass := 0; pass < 2; pass++ {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return killed
		}
		found := 0
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
			if err != nil || !(cwd == dir || strings.HasPrefix(cwd, dir+"/")) {
				continue
			}
			found++
			_ = syscall.Kill(-pid, syscall.SIGKILL) // its process group, if it leads one
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		killed += found
		if found == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return killed
}

// rssKB reads VmRSS of pid from /proc/PID/status.
func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS line")
}
