package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/clusterd/clusterd/node/raftnet"
	"github.com/clusterd/clusterd/raftfsm"
)

// raftParts are the pieces of a Raft server that must be closed in order.
type raftParts struct {
	raft      *raft.Raft
	transport *raft.NetworkTransport
	store     *raftboltdb.BoltStore
	// hadState is whether the data dir held Raft state when it was opened.
	hadState bool
	// secure is the mutual TLS stream layer under the transport; nil when
	// Raft runs over plain TCP (a cluster formed without init's CA).
	secure *raftnet.Layer
}

// raftStream decides, once the data dir's state is known and before Raft
// starts, what Raft runs over: a stream layer (mutual TLS) or, nil, plain
// TCP. It may do what must come first (make a new cluster's CA, join with
// a token).
type raftStream func(hasState bool, ln net.Listener, advertise net.Addr) (*raftnet.Layer, error)

// raftTuning is tuned for a LAN of EC2 instances: leader failure is noticed
// within about a second instead of raft's WAN-friendly defaults.
func raftConfig(id string, cfg Config, logger hclog.Logger) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(id)
	c.Logger = logger
	c.HeartbeatTimeout = 500 * time.Millisecond
	c.ElectionTimeout = 500 * time.Millisecond
	c.LeaderLeaseTimeout = 250 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	// Status updates arrive in bursts: let raft group concurrent Applies
	// into one disk write and hand them to the FSM's ApplyBatch together.
	c.BatchApplyCh = true
	c.MaxAppendEntries = 256
	c.SnapshotThreshold = max(cfg.SnapshotThreshold, 16)
	c.SnapshotInterval = max(cfg.SnapshotInterval, 100*time.Millisecond)
	c.TrailingLogs = cfg.TrailingLogs
	// Peers as labels, not one go-metrics key per peer (metrics_gometrics.go).
	c.NoLegacyTelemetry = true
	return c
}

// openRaft opens (or creates) the Raft server under DATA/raft and bootstraps
// a one-voter cluster when asked and when there is no state yet: a restarted
// node resumes, it never bootstraps a second cluster.
func openRaft(cfg Config, id, advertise string, fsm *raftfsm.FSM, logger *slog.Logger, stream raftStream) (*raftParts, bool, error) {
	dir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("raft dir %s: %w", dir, err)
	}
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{logger.With("component", "raft")}})
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		return nil, false, fmt.Errorf("open raft log %s: %w (is another clusterd using this --data-dir?)", dir, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hl)
	if err != nil {
		store.Close()
		return nil, false, fmt.Errorf("open raft snapshots in %s: %w", dir, err)
	}
	bind := net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.RaftPort))
	var adv net.Addr
	if cfg.RaftPort != 0 {
		if adv, err = net.ResolveTCPAddr("tcp", net.JoinHostPort(advertise, strconv.Itoa(cfg.RaftPort))); err != nil {
			store.Close()
			return nil, false, fmt.Errorf("raft advertise address: %w", err)
		}
	}
	hasState, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		store.Close()
		return nil, false, fmt.Errorf("read raft state: %w", err)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		store.Close()
		return nil, false, fmt.Errorf("listen for raft on %s: %w (--raft-port)", bind, err)
	}
	if adv == nil {
		adv = ln.Addr()
	}
	var secure *raftnet.Layer
	if stream != nil {
		if secure, err = stream(hasState, ln, adv); err != nil {
			ln.Close()
			store.Close()
			return nil, false, err
		}
	}
	var trans *raft.NetworkTransport
	tcfg := &raft.NetworkTransportConfig{MaxPool: 3, Timeout: 10 * time.Second, Logger: hl}
	if secure != nil {
		tcfg.Stream = secure
	} else {
		tcfg.Stream = &tcpStream{ln: ln, adv: adv, source: raftnet.SourceAddr(ln.Addr())}
	}
	trans = raft.NewNetworkTransportWithConfig(tcfg)
	r, err := raft.NewRaft(raftConfig(id, cfg, hl), raftFSM(fsm), store, store, snaps, trans)
	if err != nil {
		trans.Close()
		store.Close()
		return nil, false, fmt.Errorf("start raft: %w", err)
	}
	bootstrapped := false
	if cfg.Bootstrap && !hasState {
		conf := raft.Configuration{Servers: []raft.Server{{ID: raft.ServerID(id), Address: trans.LocalAddr()}}}
		if err := r.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			r.Shutdown()
			trans.Close()
			store.Close()
			return nil, false, fmt.Errorf("bootstrap cluster: %w", err)
		}
		bootstrapped = true
	} else if !hasState && len(cfg.Join) == 0 && cfg.BootstrapExpect == 0 {
		logger.Warn("this node is not part of a cluster yet: it waits to be joined. Run `clusterd init` on the first machine to create one, `clusterd join PEER` to join one (or `clusterd agent --dev` to try clusterd out)", "data_dir", cfg.DataDir)
	}
	return &raftParts{raft: r, transport: trans, store: store, hadState: hasState, secure: secure}, bootstrapped, nil
}

// tcpStream is Raft over plain TCP, as raft.NewTCPTransport makes it, on a
// listener already open.
type tcpStream struct {
	ln     net.Listener
	adv    net.Addr
	source *net.TCPAddr // see raftnet.SourceAddr
}

func (s *tcpStream) Accept() (net.Conn, error) { return s.ln.Accept() }
func (s *tcpStream) Close() error              { return s.ln.Close() }
func (s *tcpStream) Addr() net.Addr            { return s.adv }
func (s *tcpStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if s.source != nil {
		d.LocalAddr = s.source
	}
	return d.Dial("tcp", string(address))
}

func (p *raftParts) close() error {
	err := p.raft.Shutdown().Error()
	p.transport.Close()
	if cerr := p.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// slogWriter lets hclog (raft's logger) write through slog.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	msg := string(p)
	for len(msg) > 0 && msg[len(msg)-1] == '\n' {
		msg = msg[:len(msg)-1]
	}
	w.l.Warn(msg)
	return len(p), nil
}

var _ io.Writer = slogWriter{}
