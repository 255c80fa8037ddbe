// Package node owns one running clusterd node: its configuration, the wiring
// of Raft, the replicated state, the allocator, the built-in frameworks, the
// isolator and the HTTP server, and their lifecycle: leadership changes start
// and stop the leader loops, and every node runs the agent loop that turns
// tasks assigned to it into processes.
//
// Nothing imports node except main.
package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/clusterd/clusterd/node/pki"
	"github.com/clusterd/clusterd/web/api"
)

// Config is everything a node needs to start. Build it with DefaultConfig and
// change what differs; Validate is called by New.
type Config struct {
	// DataDir holds raft/ (log, stable store, snapshots) and agent/
	// (checkpoints and task sandboxes).
	DataDir string
	// NodeName is a human name, unique in the cluster (default: hostname).
	NodeName string
	// Bind is the IP every listener binds to.
	Bind string
	// Advertise is the IP other nodes and clients use to reach this node
	// (default: Bind, or the first private address when Bind is 0.0.0.0).
	Advertise  string
	HTTPPort   int
	RaftPort   int
	GossipPort int

	// Bootstrap makes this node the first voter of a new cluster when its
	// data dir holds no Raft state. A data dir that has state is resumed,
	// never bootstrapped again.
	Bootstrap bool
	// Join lists peers (IP or IP:gossip-port of any member) to join through.
	// They are retried with backoff until one answers or JoinTimeout passes.
	Join        []string
	JoinTimeout time.Duration
	// BootstrapExpect > 0 forms a new cluster once that many server-eligible
	// nodes see each other through gossip (symmetric start), exactly once.
	BootstrapExpect int
	// Server is whether this node may hold the Raft log as a voter.
	Server bool
	// Voters is the number of Raft voters the leader keeps (3 or 5).
	Voters int
	// VoterReplaceAfter is how long a voter must be failed before the
	// leader replaces it with another server-eligible node.
	VoterReplaceAfter time.Duration
	// NodeLostGrace is how long a node gossip declared failed may stay so
	// before its tasks are declared lost and replaced elsewhere.
	NodeLostGrace time.Duration
	// LeaveOnTerminate makes SIGTERM (context cancellation) a graceful
	// leave: tasks move elsewhere, a voter hands over leadership and leaves
	// the Raft configuration. A cluster's only node never leaves.
	LeaveOnTerminate bool
	// SnapshotThreshold is how many Raft log entries trigger a snapshot,
	// checked every SnapshotInterval; TrailingLogs entries are kept after
	// one (a follower further behind gets the snapshot).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64

	// Dev marks a throwaway --dev node (for display only; the CLI sets up
	// the temp dir and loopback binding).
	Dev bool
	// NoAuth serves the API without checking tokens. Only --dev sets it,
	// and only a node bound to loopback may: anyone who can reach an
	// unauthenticated API can run any command on every machine.
	NoAuth bool
	// AdminToken is the admin token a new cluster gets (cdk1-...), when
	// the caller chose it; empty: the node makes one when it creates the
	// cluster (ReadyInfo.AdminToken).
	AdminToken string
	// AutoscaleFile is the JSON file of the groups the leader scales
	// (--autoscale; see docs/OPERATIONS.md); "" turns autoscaling off.
	// AutoscaleDryRun reports decisions without carrying them out.
	AutoscaleFile   string
	AutoscaleDryRun bool
	// JoinToken (cdt1-...) lets a node without state join: it proves the
	// token's secret to a member whose CA the token pins, and receives its
	// certificate and the gossip keyring. It may instead be a bootstrap
	// token (cdb1-...), from which the node derives the cluster's CA,
	// gossip key and join tokens (pki.BootstrapToken): what
	// --bootstrap-expect needs, and what later machines of such a cluster
	// may join with.
	JoinToken string
	// CertLifetime is how long node certificates are valid; nodes renew at
	// half of it, checking every CertCheckInterval.
	CertLifetime      time.Duration
	CertCheckInterval time.Duration

	// Isolator is "auto", "process", "systemd" or "cgroupfs".
	Isolator string
	// Resources overrides the detected resources where a field is set
	// (ResourcesSet says which).
	Resources    api.Resources
	ResourcesSet ResourceFields
	// Reserved are static reservations: role → resources of the total
	// offered only to frameworks of that role.
	Reserved   map[string]api.Resources
	Attributes map[string]string
	// TaskLogMaxBytes caps each of a task's stdout and stderr (the older
	// part is kept in one rotated file beside it).
	TaskLogMaxBytes int64
	// AllowUsers are the users a job may name to run as instead of a
	// dynamic unprivileged one (root among them only if listed).
	AllowUsers []string

	// UtilizationInterval is how often the leader samples the cluster's
	// utilization for GET /v1/utilization (360 samples are kept); 0 is 10 s.
	UtilizationInterval time.Duration

	// Clock is the time the leader schedules by (cron schedules, backoffs,
	// offer filters, the times of job changes); nil is time.Now. Tests set
	// it to drive schedules without waiting.
	Clock func() time.Time

	// AllocationInterval is how often the leader offers resources even when
	// nothing changed (default 1s); freed resources are offered at once.
	AllocationInterval time.Duration
	// OfferTimeout rescinds offers a framework held this long without
	// answering; 0 never does (Mesos's default).
	OfferTimeout time.Duration
	// RecoveryTimeout bounds how long a new leader holds offers back while
	// agents and frameworks reconnect (see leaderLoop.checkRecovery).
	RecoveryTimeout time.Duration
	// HeartbeatInterval is how often a Mesos framework's event stream gets
	// a HEARTBEAT (Mesos: 15s). A framework connected to a leader that
	// changed gets five of them to subscribe again before its failover
	// timeout starts to count.
	HeartbeatInterval time.Duration
	// StatusRetryInterval is how long an unacknowledged status update
	// waits before it is sent again; the wait doubles up to ten minutes
	// (as Mesos agents retry).
	StatusRetryInterval time.Duration

	Logger *slog.Logger
	// Version is reported in status and gossip.
	Version string
}

// ResourceFields records which resource kinds were given on the command line.
type ResourceFields struct {
	CPUs, Mem, Disk, GPUs, Ports bool
}

// DefaultConfig returns the defaults documented for `clusterd agent`.
func DefaultConfig() Config {
	return Config{
		DataDir:             "/var/lib/clusterd",
		Bind:                "0.0.0.0",
		HTTPPort:            5050,
		RaftPort:            5051,
		GossipPort:          5052,
		Isolator:            "auto",
		AllocationInterval:  time.Second,
		RecoveryTimeout:     10 * time.Second,
		HeartbeatInterval:   15 * time.Second,
		StatusRetryInterval: 10 * time.Second,
		Attributes:          map[string]string{},
		JoinTimeout:         5 * time.Minute,
		CertLifetime:        pki.DefaultCertLifetime,
		CertCheckInterval:   time.Minute,
		Server:              true,
		Voters:              3,
		VoterReplaceAfter:   10 * time.Second,
		NodeLostGrace:       2 * time.Second,
		LeaveOnTerminate:    true,
		TaskLogMaxBytes:     64 << 20,
		SnapshotThreshold:   8192,
		SnapshotInterval:    2 * time.Minute,
		TrailingLogs:        10240,
	}
}

// Validate checks the configuration once, at start.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("data dir: must be set (--data-dir)")
	}
	if net.ParseIP(c.Bind) == nil {
		return fmt.Errorf("bind address %q: not an IP address (--bind)", c.Bind)
	}
	if c.Advertise != "" && net.ParseIP(c.Advertise) == nil {
		return fmt.Errorf("advertise address %q: not an IP address (--advertise)", c.Advertise)
	}
	for name, p := range map[string]int{"--http-port": c.HTTPPort, "--raft-port": c.RaftPort, "--gossip-port": c.GossipPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("%s %d: must be between 0 and 65535", name, p)
		}
	}
	if c.NoAuth && !net.ParseIP(c.Bind).IsLoopback() {
		return fmt.Errorf("an API without authentication may only listen on loopback, not %s: drop --dev, or bind 127.0.0.1", c.Bind)
	}
	if pki.IsBootstrapToken(c.JoinToken) {
		if _, err := pki.ParseBootstrapToken(c.JoinToken); err != nil {
			return fmt.Errorf("--token: %w", err)
		}
		if c.Bootstrap {
			return errors.New("--token: init makes a new cluster with its own CA and takes no bootstrap token; use clusterd join --bootstrap-expect N --token cdb1-... PEERS")
		}
	} else if c.JoinToken != "" {
		if _, err := pki.ParseToken(c.JoinToken); err != nil {
			return fmt.Errorf("--token: %w", err)
		}
	}
	if c.CertLifetime < 30*time.Second || c.CertCheckInterval <= 0 || c.CertCheckInterval > c.CertLifetime/4 {
		return fmt.Errorf("certificate lifetime %s and check interval %s: the lifetime must be at least 30s and the interval positive and at most a quarter of it", c.CertLifetime, c.CertCheckInterval)
	}
	if c.AdminToken != "" {
		if _, err := pki.ParseAPIToken(c.AdminToken); err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
	}
	switch c.Isolator {
	case "auto", "process", "systemd", "cgroupfs":
	default:
		return fmt.Errorf("isolator %q: must be auto, systemd, cgroupfs or process (--isolator)", c.Isolator)
	}
	if c.Voters < 1 || c.Voters > 9 {
		return fmt.Errorf("voters %d: must be between 1 and 9 (3 or 5 recommended) (--voters)", c.Voters)
	}
	if c.BootstrapExpect < 0 || c.BootstrapExpect > 9 {
		return fmt.Errorf("bootstrap-expect %d: must be between 1 and 9 (--bootstrap-expect)", c.BootstrapExpect)
	}
	if c.BootstrapExpect > 0 && c.Bootstrap {
		return fmt.Errorf("--bootstrap-expect and init both create a cluster: use one of them")
	}
	if c.BootstrapExpect > 0 && !c.Server {
		return fmt.Errorf("--bootstrap-expect needs a server-eligible node: drop --server=false")
	}
	if c.AllocationInterval <= 0 {
		return fmt.Errorf("allocation interval %v: must be positive", c.AllocationInterval)
	}
	if c.OfferTimeout < 0 || c.RecoveryTimeout < 0 {
		return fmt.Errorf("offer timeout %v, recovery timeout %v: must not be negative (0 disables)", c.OfferTimeout, c.RecoveryTimeout)
	}
	if c.HeartbeatInterval <= 0 || c.StatusRetryInterval <= 0 {
		return fmt.Errorf("heartbeat interval %v, status retry interval %v: must be positive", c.HeartbeatInterval, c.StatusRetryInterval)
	}
	return nil
}
