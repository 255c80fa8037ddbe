package nodetest

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Forms of cluster creation (Options.Form).
const (
	// FormInitJoin: node 0 runs `clusterd init`, every other node runs
	// `clusterd join` through node Options.JoinVia (nodes 1..JoinVia join
	// node 0 first). Needs `clusterd join`.
	FormInitJoin = "init-join"
	// FormBootstrapExpect: every node runs `clusterd join --bootstrap-expect
	// N` with the addresses of all the others, all at once. Needs `clusterd
	// join --bootstrap-expect`.
	FormBootstrapExpect = "bootstrap-expect"
	// FormInitOnly: a single node (N must be 1) that runs `clusterd init`;
	// works with the single-node binary.
	FormInitOnly = "init-only"
)

// Timeouts the harness waits by itself.
const (
	startTimeout = 60 * time.Second // cluster formed, node listed ready
	stopTimeout  = 30 * time.Second // exit after SIGTERM
	killTimeout  = 10 * time.Second // exit after SIGKILL
	pollEvery    = 50 * time.Millisecond
)

// Options describe the cluster Start makes.
type Options struct {
	N int // nodes, at least 1
	// Binary is the clusterd to run; empty: Build's.
	Binary string
	// Form is how the cluster is created: FormInitJoin (the default),
	// FormBootstrapExpect or FormInitOnly.
	Form string
	// JoinVia is the node the others join through in FormInitJoin (default
	// 0). With JoinVia 1, node 1 joins node 0 and the rest join through
	// node 1, a follower.
	JoinVia int
	// ExtraArgs are appended to every node's flags (before any peer
	// address), e.g. "--voters", "5".
	ExtraArgs []string
	// LogLevel is each node's --log-level (default "info").
	LogLevel string
}

// Node is one clusterd node of a Cluster. Its fields are fixed once Start
// or AddNode returned, except ID, which is filled in once the leader lists
// the node.
type Node struct {
	Index      int
	Name       string // --node-name: "node-<index>"
	IP         string // 127.0.0.(10+Index)
	HTTPPort   int
	RaftPort   int
	GossipPort int
	Dir        string // holds DataDir and LogPath
	DataDir    string
	LogPath    string // the node's stdout and stderr, across restarts
	Addr       string // http://IP:HTTPPort
	ID         string // node id, as the cluster reports it
	// Args is the command line (without the binary); Restart reuses it.
	Args []string

	proc   *proc
	paused bool
}

// GossipAddr is IP:gossip port, the address other nodes join through.
func (n *Node) GossipAddr() string {
	return net.JoinHostPort(n.IP, strconv.Itoa(n.GossipPort))
}

// HTTPHostPort is IP:HTTP port, as api.Node.Address and Status.LeaderAddr
// write it.
func (n *Node) HTTPHostPort() string {
	return net.JoinHostPort(n.IP, strconv.Itoa(n.HTTPPort))
}

// proc is one run of a node's process.
type proc struct {
	cmd  *exec.Cmd
	logf *os.File
	done chan struct{} // closed once the process exited and was reaped
	err  error         // Wait's result, set before done is closed
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Cluster is a set of clusterd processes started by Start. Its methods
// that take a *testing.T must be called from the test's goroutine.
type Cluster struct {
	bin  string
	dir  string
	opts Options
	base int // HTTP port; Raft is base+1, gossip base+2

	mu    sync.Mutex
	nodes []*Node
	seen  map[string]bool   // task ids seen in this cluster
	token string            // the admin token, once read (see Token)
	join  map[string]string // join tokens by role (see JoinToken)
	// Bootstrap is the bootstrap token of a FormBootstrapExpect cluster,
	// which every node was started with; "" in the other forms.
	Bootstrap string
	closed    bool
	dumped    bool // logs were dumped for a failure already
}

// Start starts a cluster as opts says and waits (up to 60 s) until a leader
// exists and lists every node ready. Cleanup is registered with t.Cleanup.
func Start(t *testing.T, opts Options) *Cluster {
	t.Helper()
	if opts.N < 1 {
		t.Fatalf("nodetest: Options.N %d: need at least one node", opts.N)
	}
	if opts.Form == "" {
		opts.Form = FormInitJoin
	}
	switch opts.Form {
	case FormInitJoin:
		if opts.JoinVia < 0 || opts.JoinVia >= opts.N {
			t.Fatalf("nodetest: Options.JoinVia %d: must be a node index below N %d", opts.JoinVia, opts.N)
		}
	case FormBootstrapExpect:
	case FormInitOnly:
		if opts.N != 1 {
			t.Fatalf("nodetest: Form %q takes N 1, not %d", FormInitOnly, opts.N)
		}
	default:
		t.Fatalf("nodetest: Options.Form %q: want %q, %q or %q", opts.Form, FormInitJoin, FormBootstrapExpect, FormInitOnly)
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	bin := opts.Binary
	if bin == "" {
		bin = Build(t)
	}
	c := &Cluster{bin: bin, dir: t.TempDir(), opts: opts, seen: map[string]bool{}}
	// Registered after TempDir's own cleanup, so it runs before the
	// directory is removed.
	t.Cleanup(func() {
		c.mu.Lock()
		dumped := c.dumped
		c.mu.Unlock()
		if t.Failed() && !dumped {
			c.dumpLogs(t, 80)
		}
		c.Close()
	})

	ips := make([]string, opts.N)
	for i := range ips {
		ips[i] = nodeIP(i)
	}
	base, err := pickPorts(ips)
	if err != nil {
		t.Fatalf("nodetest: %v", err)
	}
	c.base = base
	for i := 0; i < opts.N; i++ {
		c.nodes = append(c.nodes, c.newNode(t, i))
	}

	switch opts.Form {
	case FormInitOnly, FormInitJoin:
		n0 := c.nodes[0]
		n0.Args = c.nodeArgs(n0, "init")
		c.startProc(t, n0)
		c.waitReady(t, c.nodes[:1])
		// Nodes 1..JoinVia join node 0; once they are in, the rest join
		// through node JoinVia.
		first := c.nodes[1 : opts.JoinVia+1]
		for _, n := range first {
			n.Args = c.joinArgs(t, n, n0.GossipAddr())
			c.startProc(t, n)
		}
		c.waitReady(t, c.nodes[:opts.JoinVia+1])
		via := c.nodes[opts.JoinVia]
		for _, n := range c.nodes[opts.JoinVia+1:] {
			n.Args = c.joinArgs(t, n, via.GossipAddr())
			c.startProc(t, n)
		}
	case FormBootstrapExpect:
		c.Bootstrap, c.token = c.newBootstrapToken(t)
		for _, n := range c.nodes {
			var peers []string
			for _, p := range c.nodes {
				if p != n {
					peers = append(peers, p.GossipAddr())
				}
			}
			n.Args = c.nodeArgs(n, "join", peers...)
			// The flag goes before the peers, like every flag.
			n.Args = append(n.Args[:1], append([]string{"--bootstrap-expect", strconv.Itoa(opts.N), "--token", c.Bootstrap}, n.Args[1:]...)...)
		}
		for _, n := range c.nodes {
			c.startProc(t, n)
		}
	}
	c.waitReady(t, c.nodes)
	return c
}

// newNode lays out node i: its address, ports and directories.
func (c *Cluster) newNode(t *testing.T, i int) *Node {
	t.Helper()
	n := &Node{
		Index:      i,
		Name:       fmt.Sprintf("node-%d", i),
		IP:         nodeIP(i),
		HTTPPort:   c.base,
		RaftPort:   c.base + 1,
		GossipPort: c.base + 2,
		Dir:        filepath.Join(c.dir, fmt.Sprintf("node-%d", i)),
	}
	n.DataDir = filepath.Join(n.Dir, "data")
	n.LogPath = filepath.Join(n.Dir, "clusterd.log")
	n.Addr = "http://" + n.HTTPHostPort()
	if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
		t.Fatalf("nodetest: %v", err)
	}
	return n
}

// nodeArgs is `SUB FLAGS... EXTRA... PEERS...`: flags first, since the CLI
// stops reading flags at the first positional argument.
func (c *Cluster) nodeArgs(n *Node, sub string, peers ...string) []string {
	args := []string{sub,
		"--data-dir", n.DataDir,
		"--bind", n.IP,
		"--http-port", strconv.Itoa(n.HTTPPort),
		"--raft-port", strconv.Itoa(n.RaftPort),
		"--gossip-port", strconv.Itoa(n.GossipPort),
		"--node-name", n.Name,
		"--isolator", "process",
		"--log-level", c.opts.LogLevel,
	}
	args = append(args, c.opts.ExtraArgs...)
	return append(args, peers...)
}

// newBootstrapToken runs `clusterd token bootstrap` for a bootstrap token
// and the admin token it derives.
func (c *Cluster) newBootstrapToken(t *testing.T) (token, admin string) {
	t.Helper()
	out, err := exec.Command(c.bin, "token", "bootstrap", "-o", "json").Output()
	if err != nil {
		t.Fatalf("nodetest: clusterd token bootstrap: %v", err)
	}
	var b struct {
		Token string `json:"bootstrap_token"`
		Admin string `json:"admin_token"`
	}
	if err := json.Unmarshal(out, &b); err != nil || b.Token == "" || b.Admin == "" {
		t.Fatalf("nodetest: clusterd token bootstrap printed %q: %v", out, err)
	}
	return b.Token, b.Admin
}

// joinArgs is `join FLAGS... --token TOKEN PEER`: a server's join token,
// or an agent's when extra has --server=false.
func (c *Cluster) joinArgs(t *testing.T, n *Node, peer string, extra ...string) []string {
	t.Helper()
	role := "server"
	if slices.Contains(extra, "--server=false") || slices.Contains(c.opts.ExtraArgs, "--server=false") {
		role = "agent"
	}
	args := c.nodeArgs(n, "join", peer)
	return append(args[:len(args)-1:len(args)-1], "--token", c.JoinToken(t, role), peer)
}

// startProc runs n.Args, appending its output to n.LogPath.
func (c *Cluster) startProc(t *testing.T, n *Node) {
	t.Helper()
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("nodetest: open log of node %d: %v", n.Index, err)
	}
	fmt.Fprintf(logf, "=== nodetest %s: clusterd %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(n.Args, " "))
	cmd := exec.Command(c.bin, n.Args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = nodeEnv()
	// Its own process group, so a ^C in the terminal does not reach it
	// before the harness; Pdeathsig kills it if the test process dies
	// without running its cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("nodetest: start node %d: %v", n.Index, err)
	}
	p := &proc{cmd: cmd, logf: logf, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		fmt.Fprintf(logf, "=== nodetest %s: clusterd exited: %v\n", time.Now().Format(time.RFC3339Nano), p.err)
		close(p.done)
	}()
	c.mu.Lock()
	n.proc, n.paused = p, false
	c.mu.Unlock()
}

// nodeEnv is the test's environment without CLUSTERD_* variables, which
// would change the nodes' flags or fake a task id.
func nodeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CLUSTERD_") {
			env = append(env, kv)
		}
	}
	return env
}

// running reports whether n's process was started and has not exited.
func (c *Cluster) running(n *Node) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.proc != nil && !n.proc.exited()
}

// live reports whether n runs and answers: started, not exited, not paused.
func (c *Cluster) live(n *Node) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.proc != nil && !n.proc.exited() && !n.paused
}

// waitReady waits until a leader exists and lists every node of want as
// ready; it fails at once if one of them exits. It fills in their IDs.
func (c *Cluster) waitReady(t *testing.T, want []*Node) {
	t.Helper()
	names := make([]string, len(want))
	for i, n := range want {
		names[i] = n.Name
	}
	c.eventually(t, fmt.Sprintf("a leader lists %v ready", names), startTimeout, func() (bool, string) {
		for _, n := range want {
			c.mu.Lock()
			p := n.proc
			c.mu.Unlock()
			if p != nil && p.exited() {
				c.dumpLogs(t, 50)
				t.Fatalf("nodetest: node %d (clusterd %s) exited while the cluster formed: %v", n.Index, strings.Join(n.Args, " "), p.err)
			}
		}
		leader, why := c.findLeader()
		if leader == nil {
			return false, why
		}
		nodes, err := c.APINodes(leader.Index)
		if err != nil {
			return false, err.Error()
		}
		state := map[string]string{}
		ids := map[string]string{}
		for _, an := range nodes {
			state[an.Name], ids[an.Name] = an.State, an.ID
		}
		for _, n := range want {
			if state[n.Name] != "ready" {
				return false, fmt.Sprintf("leader node %d lists %s as %q", leader.Index, n.Name, state[n.Name])
			}
		}
		c.mu.Lock()
		for _, n := range want {
			n.ID = ids[n.Name]
		}
		c.mu.Unlock()
		return true, ""
	})
}

// Nodes returns every node ever started, live or not, by index.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.nodes...)
}

// Node returns node i.
func (c *Cluster) Node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Dir is the directory that holds every node's data dir and log.
func (c *Cluster) Dir() string { return c.dir }

// Binary is the clusterd the cluster runs.
func (c *Cluster) Binary() string { return c.bin }

// signal sends sig to node i's process (the node only, not its tasks).
func (c *Cluster) signal(t *testing.T, i int, sig syscall.Signal) *proc {
	t.Helper()
	n := c.Node(i)
	c.mu.Lock()
	p := n.proc
	c.mu.Unlock()
	if p == nil || p.exited() {
		t.Fatalf("nodetest: %v to node %d: it is not running", sig, i)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("nodetest: %v to node %d: %v", sig, i, err)
	}
	return p
}

func waitExit(p *proc, timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Kill SIGKILLs node i's process (not its tasks, which keep running as
// after a crash) and waits until it is gone.
func (c *Cluster) Kill(t *testing.T, i int) {
	t.Helper()
	p := c.signal(t, i, syscall.SIGKILL)
	if !waitExit(p, killTimeout) {
		t.Fatalf("nodetest: node %d still runs %v after SIGKILL", i, killTimeout)
	}
}

// WaitExited waits up to timeout for node i's process to exit on its own
// (a node that left), and reaps it.
func (c *Cluster) WaitExited(t *testing.T, i int, timeout time.Duration) {
	t.Helper()
	n := c.Node(i)
	c.mu.Lock()
	p := n.proc
	c.mu.Unlock()
	if p == nil {
		t.Fatalf("nodetest: node %d was never started", i)
	}
	if !waitExit(p, timeout) {
		t.Fatalf("nodetest: node %d still runs after %v", i, timeout)
	}
}

// Stop sends SIGTERM to node i (a graceful leave, by default) and waits up
// to 30 s for it to exit.
func (c *Cluster) Stop(t *testing.T, i int) {
	t.Helper()
	n := c.Node(i)
	c.mu.Lock()
	paused := n.paused
	c.mu.Unlock()
	p := c.signal(t, i, syscall.SIGTERM)
	if paused {
		c.Resume(t, i)
	}
	if !waitExit(p, stopTimeout) {
		t.Fatalf("nodetest: node %d did not exit within %v of SIGTERM", i, stopTimeout)
	}
}

// Pause freezes node i with SIGSTOP: it holds its ports and answers
// nothing, like a hung host. Harness queries skip paused nodes.
func (c *Cluster) Pause(t *testing.T, i int) {
	t.Helper()
	c.signal(t, i, syscall.SIGSTOP)
	c.mu.Lock()
	c.nodes[i].paused = true
	c.mu.Unlock()
}

// Resume continues a paused node with SIGCONT.
func (c *Cluster) Resume(t *testing.T, i int) {
	t.Helper()
	c.signal(t, i, syscall.SIGCONT)
	c.mu.Lock()
	c.nodes[i].paused = false
	c.mu.Unlock()
}

// Restart starts node i again, after Kill or Stop, with the same command
// line, data dir and ports, and waits (up to 60 s) until it answers
// /v1/status. It does not wait for the node to rejoin: a test that needs
// it says so with Eventually.
func (c *Cluster) Restart(t *testing.T, i int) {
	t.Helper()
	n := c.Node(i)
	if c.running(n) {
		t.Fatalf("nodetest: Restart node %d: it still runs; Kill or Stop it first", i)
	}
	c.startProc(t, n)
	c.eventually(t, fmt.Sprintf("restarted node %d answers /v1/status", i), startTimeout, func() (bool, string) {
		c.mu.Lock()
		p := n.proc
		c.mu.Unlock()
		if p.exited() {
			c.dumpLogs(t, 50)
			t.Fatalf("nodetest: restarted node %d exited: %v", i, p.err)
		}
		_, err := c.Status(i)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// AddNode starts one more node that joins the cluster through the first
// live node, and waits (up to 60 s) until the leader lists it ready.
func (c *Cluster) AddNode(t *testing.T) *Node {
	t.Helper()
	return c.AddNodeWith(t)
}

// AddNodeWith is AddNode with extra flags for the new node only (given
// before the peer, e.g. "--server=false").
func (c *Cluster) AddNodeWith(t *testing.T, extra ...string) *Node {
	t.Helper()
	var via *Node
	for _, n := range c.Nodes() {
		if c.live(n) {
			via = n
			break
		}
	}
	if via == nil {
		t.Fatal("nodetest: AddNode: no live node to join through")
	}
	c.mu.Lock()
	i := len(c.nodes)
	c.mu.Unlock()
	if err := portsFree([]string{nodeIP(i)}, c.base); err != nil {
		t.Fatalf("nodetest: AddNode: ports %d-%d on %s are taken: %v", c.base, c.base+2, nodeIP(i), err)
	}
	n := c.newNode(t, i)
	n.Args = c.joinArgs(t, n, via.GossipAddr(), extra...)
	if len(extra) > 0 {
		// Flags go before the peer, the last argument.
		peer := n.Args[len(n.Args)-1]
		n.Args = append(append(n.Args[:len(n.Args)-1:len(n.Args)-1], extra...), peer)
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	c.startProc(t, n)
	c.waitReady(t, []*Node{n})
	return n
}

// Leader returns the node that says it is the Raft leader and that every
// other live node names as leader, waiting up to 30 s for one.
func (c *Cluster) Leader(t *testing.T) *Node {
	t.Helper()
	var leader *Node
	c.eventually(t, "one leader all live nodes agree on", 30*time.Second, func() (bool, string) {
		var why string
		leader, why = c.findLeader()
		return leader != nil, why
	})
	return leader
}

// findLeader is one try of Leader: nil and why not when there is none yet.
func (c *Cluster) findLeader() (*Node, string) {
	var leader *Node
	var leaderID string
	says := map[int]string{}
	for _, n := range c.Nodes() {
		if !c.live(n) {
			continue
		}
		st, err := c.status(n.Index, 2*time.Second)
		if err != nil {
			says[n.Index] = "error: " + err.Error()
			continue
		}
		says[n.Index] = fmt.Sprintf("%s, leader %q", st.RaftState, st.Leader)
		if st.RaftState == "Leader" {
			if leader != nil {
				return nil, fmt.Sprintf("nodes %d and %d both say they lead", leader.Index, n.Index)
			}
			leader, leaderID = n, st.NodeID
		}
	}
	if leader == nil {
		return nil, fmt.Sprintf("no node says it leads: %v", says)
	}
	for i, s := range says {
		if i != leader.Index && !strings.HasSuffix(s, fmt.Sprintf("leader %q", leaderID)) {
			return nil, fmt.Sprintf("node %d leads (%s) but the nodes say %v", leader.Index, leaderID, says)
		}
	}
	return leader, ""
}

// CLI runs `clusterd --addr NODE_I ARGS...` (bounded to 60 s) and returns
// its stdout, or stdout and stderr with the error.
func (c *Cluster) CLI(t *testing.T, i int, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(c.bin, append([]string{"--addr", c.Node(i).Addr}, args...)...)
	// The admin token, as an operator would pass it, and a config dir of
	// the cluster's own, so no credentials saved on this machine are used.
	cmd.Env = append(nodeEnv(), "XDG_CONFIG_HOME="+filepath.Join(c.dir, "config"))
	if tok := c.Token(); tok != "" {
		cmd.Env = append(cmd.Env, "CLUSTERD_TOKEN="+tok)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		err = fmt.Errorf("clusterd %s: no answer within 60 s", strings.Join(args, " "))
	}
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// Eventually waits until cond holds, polling every 50 ms. On timeout it
// fails the test with desc and the last 50 log lines of every node. It is
// the only way a test of a cluster should wait.
func (c *Cluster) Eventually(t *testing.T, desc string, timeout time.Duration, cond func() bool) {
	t.Helper()
	c.eventually(t, desc, timeout, func() (bool, string) { return cond(), "" })
}

// eventually is Eventually with a reason why cond does not hold yet, shown
// on timeout.
func (c *Cluster) eventually(t *testing.T, desc string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.dumpLogs(t, 50)
			if why != "" {
				why = "\nlast: " + why
			}
			t.Fatalf("timed out after %v waiting for: %s%s", timeout, desc, why)
		}
		time.Sleep(pollEvery)
	}
}

// dumpLogs logs the last lines of every node's log (once is enough: the
// cleanup skips its dump after this one).
func (c *Cluster) dumpLogs(t *testing.T, lines int) {
	t.Helper()
	c.mu.Lock()
	c.dumped = true
	c.mu.Unlock()
	for _, n := range c.Nodes() {
		b, err := os.ReadFile(n.LogPath)
		if err != nil {
			t.Logf("node %d: no log: %v", n.Index, err)
			continue
		}
		t.Logf("=== node %d (%s, %s): last %d lines of %s\n%s", n.Index, n.Name, n.Addr, lines, n.LogPath, tail(string(b), lines))
	}
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Close kills every node process and every task process of the cluster
// (see the package comment). It is idempotent and also runs at cleanup.
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	nodes := append([]*Node(nil), c.nodes...)
	c.mu.Unlock()
	for _, n := range nodes {
		if p := n.proc; p != nil && !p.exited() {
			_ = p.cmd.Process.Kill()
		}
	}
	for _, n := range nodes {
		if p := n.proc; p != nil {
			waitExit(p, killTimeout)
			p.logf.Close()
		}
	}
	c.killTasks()
}

// LeaderNow is the node that says it leads right now, without waiting or
// failing: nil when none does (an election) or when two do (a deposed
// leader in a minority that has not noticed yet: the one with the higher
// applied index is returned then).
func (c *Cluster) LeaderNow() *Node {
	var leader *Node
	var best uint64
	for _, n := range c.Nodes() {
		if !c.live(n) {
			continue
		}
		st, err := c.status(n.Index, 2*time.Second)
		if err != nil || st.RaftState != "Leader" {
			continue
		}
		if leader == nil || st.AppliedIndex > best {
			leader, best = n, st.AppliedIndex
		}
	}
	return leader
}

// Running says whether node i's process runs (started and not exited).
func (c *Cluster) Running(i int) bool { return c.running(c.Node(i)) }

// Paused says whether node i is stopped with SIGSTOP (Pause).
func (c *Cluster) Paused(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].paused
}

// Ports are the cluster's HTTP, Raft and gossip ports, the same on every
// node.
func (c *Cluster) Ports() (httpPort, raftPort, gossipPort int) {
	return c.base, c.base + 1, c.base + 2
}
