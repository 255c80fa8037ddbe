package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/clusterd/clusterd/node/failpoint"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/clusterd/clusterd/gossip"
	"github.com/clusterd/clusterd/isolate"
	"github.com/clusterd/clusterd/node/pki"
	"github.com/clusterd/clusterd/node/raftnet"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web"
	"github.com/clusterd/clusterd/web/api"
)

// ReadyInfo is handed to Run's ready callback once the node serves HTTP.
type ReadyInfo struct {
	HTTPURL      string
	NodeID       string
	ClusterID    string
	Bootstrapped bool // this start created the cluster
	// AdminToken is the new cluster's admin token, when this start created
	// the cluster (print it once: the cluster keeps only its hash).
	AdminToken string
	// ServerJoinToken and AgentJoinToken are the new cluster's join
	// tokens (also in JoinTokensFile in the data dir).
	ServerJoinToken, AgentJoinToken string
	// CAFingerprint is the cluster CA's SHA-256 (hex), when known.
	CAFingerprint string
}

// Node is one running clusterd.
type Node struct {
	cfg       Config
	log       *slog.Logger
	id        string
	advertise string
	started   time.Time
	// failCommit, set by tests, makes the commits it returns an error for
	// fail with it, as a lost leadership or a timeout would.
	failCommit atomic.Pointer[func(raftfsm.Command) error]

	fsm  *raftfsm.FSM
	raft *raftParts
	// restartLeader asks watchLeadership to start the leader loop over
	// (after a restore replaced the state it was built from).
	restartLeader chan struct{}
	iso           isolate.Isolator
	machine       isolate.MachineResources
	httpAddr      string // host:port others reach our API at

	metrics *metrics
	usage   usageSampler
	gossip  *gossip.Membership
	peer    *peerClient

	leaveRequests chan struct{}
	// stopTasksOnExit is set by a graceful leave: the cluster replaces this
	// node's tasks elsewhere, so they must not keep running here.
	stopTasksOnExit atomic.Bool
	registry        *prometheus.Registry

	// applied carries apply results to the leader loop (see apply).
	leaderMu sync.Mutex
	leader   *leaderState // non-nil while this node leads

	// initialAdminToken is the admin token the leader stores when the
	// cluster has none (see ensureAdminToken).
	initialAdminToken *pki.APIToken
	// ident is this node's certificate, CA and gossip keyring; joinAuth
	// answers the join exchange from the replica; initial is what init
	// decided before Raft ran (nil on any other start).
	ident    identity
	joinAuth *joinAuthority
	initial  *initialCluster
	// autoscale is the --autoscale file, read at start (nil: none).
	autoscale *autoscaleConfig
	// tokens checks API tokens (nil with NoAuth).
	tokens *tokenChecker
	// authFailures limits token guesses through /v1/internal/authenticate.
	authFailures web.FailureLimiter
}

// New validates the configuration and prepares a node; Run starts it.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if failpoint.Enabled {
		cfg.Logger.Warn("this binary has failpoints (built with -tags failpoints): for the fault suite only", "armed_from", filepath.Join(cfg.DataDir, "failpoints"))
		failpoint.Watch(filepath.Join(cfg.DataDir, "failpoints"))
		isolate.CheckpointHook = func(after bool) {
			if after {
				failpoint.Inject(failpoint.CheckpointWriteAfter)
			} else {
				failpoint.Inject(failpoint.CheckpointWriteBefore)
			}
		}
	}
	if cfg.Attributes == nil {
		cfg.Attributes = map[string]string{}
	}
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("node name: %w (set --node-name)", err)
		}
		cfg.NodeName = h
	}
	advertise := cfg.Advertise
	if advertise == "" {
		advertise = cfg.Bind
		if ip := net.ParseIP(cfg.Bind); ip.IsUnspecified() {
			a, err := firstPrivateIP()
			if err != nil {
				return nil, fmt.Errorf("advertise address: %w (set --advertise)", err)
			}
			advertise = a
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n := &Node{cfg: cfg, log: cfg.Logger, advertise: advertise, fsm: raftfsm.New(), registry: reg, metrics: newMetrics(reg), leaveRequests: make(chan struct{}, 1),
		restartLeader: make(chan struct{}, 1)}
	reg.MustRegister(newStateCollector(n))
	n.peer = newPeerClient(n)
	n.joinAuth = &joinAuthority{n: n}
	if cfg.AutoscaleFile != "" {
		if !cfg.Server {
			return nil, fmt.Errorf("--autoscale %s: only servers (the leader) scale groups; drop it on agents (--server=false)", cfg.AutoscaleFile)
		}
		c, err := loadAutoscaleConfig(cfg.AutoscaleFile, cfg.AutoscaleDryRun)
		if err != nil {
			return nil, err
		}
		n.autoscale = c
	}
	return n, nil
}

// Run starts the node, calls ready once it serves HTTP, and blocks until ctx
// is cancelled and the node has shut down. Running tasks keep running; the
// next start re-adopts them.
func (n *Node) Run(ctx context.Context, ready func(ReadyInfo)) error {
	n.started = time.Now()
	// 0711: not listable, but traversable, because a hardened task runs as
	// a dynamic uid that must reach its sandbox under DATA/agent; what is
	// secret below (raft/, checkpoints, the node id) has its own 0700/0600.
	if err := os.MkdirAll(n.cfg.DataDir, 0o711); err != nil {
		return fmt.Errorf("data dir %s: %w", n.cfg.DataDir, err)
	}
	id, err := loadOrCreateID(filepath.Join(n.cfg.DataDir, "node-id"))
	if err != nil {
		return err
	}
	n.id = id
	n.log = n.log.With("node", n.cfg.NodeName)

	if n.machine, err = isolate.Detect(n.cfg.DataDir); err != nil {
		return fmt.Errorf("detect resources: %w (set them with --resources)", err)
	}
	if err := n.checkReservations(); err != nil {
		return err
	}
	iso, why, err := isolate.Open(ctx, n.cfg.Isolator, isolate.ProcessConfig{Dir: filepath.Join(n.cfg.DataDir, "agent"), Logger: n.log.With("component", "isolator")})
	if err != nil {
		return fmt.Errorf("isolator: %w", err)
	}
	n.log.Info("isolator chosen", "isolator", iso.Name(), "why", why)
	n.iso = iso
	defer iso.Close()

	ln, err := net.Listen("tcp", net.JoinHostPort(n.cfg.Bind, strconv.Itoa(n.cfg.HTTPPort)))
	if err != nil {
		return fmt.Errorf("listen for HTTP: %w (--http-port)", err)
	}
	n.httpAddr = net.JoinHostPort(n.advertise, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))

	if err := n.loadIdentity(); err != nil {
		ln.Close()
		return err
	}
	parts, bootstrapped, err := openRaft(n.cfg, n.id, n.advertise, n.fsm, n.log, func(hasState bool, rln net.Listener, adv net.Addr) (*raftnet.Layer, error) {
		return n.prepareIdentity(ctx, hasState, rln, adv)
	})
	if err != nil {
		ln.Close()
		return err
	}
	n.raft = parts
	if n.cfg.AdminToken != "" {
		t, _ := pki.ParseAPIToken(n.cfg.AdminToken) // checked by Validate
		n.initialAdminToken = &t
	}
	// Raft runs (and reports) from here; see metrics_gometrics.go.
	defer attachGometrics(n.metrics.gometrics)()
	if err := n.startGossip(); err != nil {
		ln.Close()
		parts.close()
		return err
	}
	defer n.gossip.Shutdown()

	webCfg := web.Config{Backend: &backend{n: n}, Mesos: &mesosBackend{n: n},
		Gatherer: n.registry, Registerer: n.registry, Logger: n.log.With("component", "http"),
		// A cluster on certificates takes credentials from other machines
		// only over TLS, and its followers reach the leader over mTLS.
		TLSRequired: n.secureCluster, ProxyTransport: n.peer.http.Transport, ProxyScheme: n.nodeScheme}
	if !n.cfg.NoAuth {
		n.tokens = &tokenChecker{n: n, saved: n.loadCredentialsCache()}
		webCfg.Auth = n.tokens
	}
	apiMux := newProtoMux(ln)
	srv := &http.Server{
		Handler: n.internalHandler(web.NewHandler(webCfg), webCfg.Auth),
		// No slowloris: headers must arrive within 10 s and fit in 64 KiB,
		// an idle keep-alive connection is closed after 2 minutes; bodies
		// have their own stall and total limits (web's limitBody).
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		IdleTimeout:       2 * time.Minute,
	}
	var wg sync.WaitGroup
	// The node's loops outlive ctx: a graceful leave needs them after the
	// signal that asked for it.
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serveErr := make(chan error, 1)
	joinErr := make(chan error, 1)
	wg.Add(8)
	go func() {
		defer wg.Done()
		// A node with state (a restart) works without gossip: Raft knows its
		// peers, so it joins in the background for as long as it takes. A new
		// node without state is useless until it joins, and gives up.
		err := n.joinPeers(runCtx)
		var mismatch *gossip.ClusterMismatchError
		if err != nil && (!parts.hadState || errors.As(err, &mismatch)) {
			joinErr <- err
		} else if err != nil {
			n.log.Warn("join gossip", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := srv.Serve(apiMux.plain); err != nil && !errors.Is(err, http.ErrServerClosed) {
			reportServeErr(serveErr, err)
		}
	}()
	// The same API over TLS with this node's certificate (read at every
	// handshake: renewals and a first certificate take effect at once).
	tlsSrv := &http.Server{Handler: srv.Handler, ReadHeaderTimeout: srv.ReadHeaderTimeout, MaxHeaderBytes: srv.MaxHeaderBytes,
		IdleTimeout: srv.IdleTimeout, ErrorLog: log.New(slogWriter{n.log.With("component", "https")}, "", 0)}
	tlsCfg := &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		if n.ident.Cert() == nil {
			return nil, errors.New("this node has no certificate yet")
		}
		return n.peers().APIServer(), nil
	}}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := tlsSrv.Serve(tls.NewListener(apiMux.tls, tlsCfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			reportServeErr(serveErr, err)
		}
	}()
	go func() { defer wg.Done(); n.maintainCertificate(runCtx) }()
	wg.Add(1)
	go func() { defer wg.Done(); n.syncGossipKeys(runCtx) }()
	go func() { defer wg.Done(); n.watchLeadership(runCtx) }()
	go func() { defer wg.Done(); n.runAgent(runCtx) }()
	go func() { defer wg.Done(); n.usage.run(runCtx, n) }()
	go func() { defer wg.Done(); n.bootstrapExpect(runCtx) }()
	go func() { defer wg.Done(); n.watchClusterID(runCtx) }()
	go func() { defer wg.Done(); n.drainGossipEvents(runCtx) }()
	if n.tokens != nil {
		wg.Add(1)
		go func() { defer wg.Done(); n.keepCredentialsCache(runCtx) }()
	}

	if ready != nil {
		info := ReadyInfo{HTTPURL: "http://" + n.httpAddr, NodeID: n.id, ClusterID: n.waitClusterID(runCtx, 2*time.Second), Bootstrapped: bootstrapped}
		if bootstrapped && n.initialAdminToken != nil {
			info.AdminToken = n.initialAdminToken.String()
		}
		if ic := n.initial; ic != nil {
			info.ServerJoinToken = ic.joinTokens[pki.RoleServer].String()
			info.AgentJoinToken = ic.joinTokens[pki.RoleAgent].String()
		}
		if ca, _ := n.ident.current(); ca != nil {
			info.CAFingerprint = pki.FingerprintHex(ca)
		}
		ready(info)
	}
	n.log.Info("clusterd node started", "id", n.id, "http", n.httpAddr, "raft", parts.transport.LocalAddr(), "isolator", iso.Name())

	var runErr error
	leave := false
	select {
	case <-ctx.Done():
		leave = n.cfg.LeaveOnTerminate && !n.cfg.Dev
	case <-n.leaveRequests:
		leave = true
	case runErr = <-serveErr:
		runErr = fmt.Errorf("http server: %w", runErr)
	case runErr = <-joinErr:
	}
	if leave {
		lctx, lcancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := n.leave(lctx); err != nil {
			n.log.Error("leave the cluster", "err", err)
		}
		lcancel()
	}
	cancel()
	shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	// The servers first: a listener closed under a running server makes it
	// report a failure instead of ErrServerClosed.
	_ = srv.Shutdown(shutdownCtx)
	_ = tlsSrv.Shutdown(shutdownCtx)
	apiMux.Close()
	wg.Wait()
	if err := parts.close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("raft shutdown: %w", err)
	}
	n.log.Info("clusterd node stopped")
	return runErr
}

// waitClusterID waits briefly for the cluster id (the first entry a new
// cluster writes) so the ready message can show it.
func (n *Node) waitClusterID(ctx context.Context, d time.Duration) string {
	timeout := time.After(d)
	for {
		changed := n.fsm.Changed()
		if id := n.fsm.View().ClusterID(); id != "" {
			return id
		}
		select {
		case <-changed:
		case <-timeout:
			return ""
		case <-ctx.Done():
			return ""
		}
	}
}

// watchLeadership starts the leader loop when this node becomes the Raft
// leader and stops it when it stops being one.
func (n *Node) watchLeadership(ctx context.Context) {
	var stop context.CancelFunc
	var done chan struct{}
	stopLeader := func() {
		if stop != nil {
			stop()
			<-done
			stop = nil
		}
	}
	defer stopLeader()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.restartLeader:
			// The state was replaced under the leader loop (a restore):
			// rebuild its soft state from the new one.
			if stop != nil {
				stopLeader()
				lctx, cancel := context.WithCancel(ctx)
				stop, done = cancel, make(chan struct{})
				go func() { defer close(done); n.runLeader(lctx) }()
			}
		case isLeader := <-n.raft.raft.LeaderCh():
			stopLeader()
			if isLeader {
				lctx, cancel := context.WithCancel(ctx)
				stop, done = cancel, make(chan struct{})
				go func() { defer close(done); n.runLeader(lctx) }()
			}
		}
	}
}

// applyTimeout bounds one Raft write; a healthy cluster commits in milliseconds.
const applyTimeout = 10 * time.Second

// apply writes a command to the Raft log through this node, which must be the
// leader, and returns what applying it did. Every write goes through here, so
// the leader loop hears about every result (freed resources above all).
// now is the time the leader schedules by: Config.Clock, or the system's.
func (n *Node) now() time.Time {
	if n.cfg.Clock != nil {
		return n.cfg.Clock()
	}
	return time.Now()
}

func (n *Node) apply(cmd raftfsm.Command) (*raftfsm.Result, error) {
	res, _, err := n.applyAt(cmd)
	return res, err
}

// applyAt is apply that also returns the Raft index the command was
// committed at, for callers that must later wait for a replica to catch up.
func (n *Node) applyAt(cmd raftfsm.Command) (*raftfsm.Result, uint64, error) {
	if fail := n.failCommit.Load(); fail != nil {
		if err := (*fail)(cmd); err != nil {
			return nil, 0, err
		}
	}
	if n.raft.raft.State() != raft.Leader {
		return nil, 0, n.notLeader()
	}
	data, err := raftfsm.Encode(cmd)
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	f := n.raft.raft.Apply(data, applyTimeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return nil, 0, n.notLeader() // refused before it was appended: retry at the leader
		}
		if errors.Is(err, raft.ErrLeadershipLost) {
			// Appended but not known to be committed: the next leader may
			// commit it or drop it. Saying "not the leader" here would tell
			// the client it did not happen.
			return nil, 0, fmt.Errorf("this server stopped leading while the change was being committed: it may or may not have been applied; read it back before retrying: %w", err)
		}
		return nil, 0, fmt.Errorf("raft apply: %w", err)
	}
	n.metrics.applyDuration.Observe(time.Since(start).Seconds())
	res := f.Response().(*raftfsm.Result)
	n.metrics.launches.applied(cmd, res, time.Now())
	n.leaderMu.Lock()
	if l := n.leader; l != nil {
		l.observe(f.Index(), cmd, res)
	}
	n.leaderMu.Unlock()
	if res.Err != nil {
		return res, f.Index(), res.Err
	}
	return res, f.Index(), nil
}

// notLeader builds the error a node answers requests only the leader (or a
// replica) can serve with: it names the leader's HTTP address when known,
// else any member that holds the state (which redirects again).
func (n *Node) notLeader() error {
	if _, id := n.raft.raft.LeaderWithID(); id != "" {
		if m, ok := n.memberByID(string(id)); ok && m.Meta.HTTPPort != 0 {
			return &api.NotLeaderError{LeaderAddr: memberHTTPAddr(m)}
		}
		if nd := n.fsm.View().Node(string(id)); nd != nil {
			return &api.NotLeaderError{LeaderAddr: nd.HTTPAddr}
		}
	}
	if n.gossip != nil {
		for _, m := range n.gossip.Members() {
			if m.ID != n.id && m.State == gossip.Alive && m.Meta.HasState && m.Meta.HTTPPort != 0 {
				return &api.NotLeaderError{LeaderAddr: memberHTTPAddr(m)}
			}
		}
	}
	return &api.NotLeaderError{}
}

func loadOrCreateID(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !os.IsNotExist(err) {
		return "", fmt.Errorf("read node id: %w", err)
	}
	id := randomID(8)
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write node id: %w", err)
	}
	return id, nil
}

func randomID(bytes int) string {
	b := make([]byte, bytes)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func firstPrivateIP() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsPrivate() {
			return ipn.IP.String(), nil
		}
	}
	return "", fmt.Errorf("no private IPv4 address found")
}

// reportServeErr hands a server's failure to Run without blocking: the
// first one ends the node; a second (the other server on the same port)
// has nobody to read it.
func reportServeErr(ch chan<- error, err error) {
	select {
	case ch <- err:
	default:
	}
}
