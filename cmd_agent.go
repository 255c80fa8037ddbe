package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clusterd/clusterd/node"
)

// This file is the only one that calls into the node package.

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "run a node of an existing cluster (or, with --dev, a throwaway one-node cluster)",
		Description: "Runs this machine as a clusterd node until SIGINT or SIGTERM; a second signal exits at once.\n" +
			"SIGTERM leaves the cluster gracefully (--leave-on-terminate); a cluster's only node just stops,\n" +
			"and its running tasks keep running and are re-adopted from --data-dir.\n\n" +
			"With --dev: a one-node cluster in a temporary data dir (removed on exit), bound to 127.0.0.1.",
		Flags:  nodeFlags(),
		Action: func(c *cli.Context) error { return runNode(c, false) },
	}
}

func joinCommand() *cli.Command {
	return &cli.Command{
		Name:      "join",
		Usage:     "join the cluster a peer belongs to, and run this machine as one of its nodes",
		ArgsUsage: "PEER [PEER...]",
		Description: "PEER is the IP (or IP:gossip-port) of any member, leader or not. Peers are retried with backoff\n" +
			"until one answers or --join-timeout passes. With --bootstrap-expect N, run the same line on N\n" +
			"machines (naming each other): the cluster forms once N of them see each other.\n" +
			"Restarting the same command resumes from --data-dir.",
		Flags: nodeFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageErrorf("join needs at least one PEER: the IP of any cluster member (e.g. clusterd join 10.0.1.5)")
			}
			for _, a := range c.Args().Slice() {
				if strings.HasPrefix(a, "-") {
					return usageErrorf("join: flags go before the peers: clusterd join [flags] PEER... (got %q after a peer)", a)
				}
			}
			return runNode(c, false)
		},
	}
}

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create a new cluster with this machine as its first member (resumes it if the data dir has one)",
		Description: "Like agent, but bootstraps a new cluster when --data-dir holds no cluster state.\n" +
			"Restarting the same command resumes the cluster; it never creates a second one.",
		Flags:  nodeFlags(),
		Action: func(c *cli.Context) error { return runNode(c, true) },
	}
}

func nodeFlags() []cli.Flag {
	def := node.DefaultConfig()
	env := func(name string) []string { return []string{"CLUSTERD_" + name} }
	return []cli.Flag{
		&cli.StringFlag{Name: "data-dir", Value: def.DataDir, EnvVars: env("DATA_DIR"), Usage: "where Raft state, task checkpoints and sandboxes live"},
		&cli.StringFlag{Name: "bind", Value: def.Bind, EnvVars: env("BIND"), Usage: "IP address every listener binds to"},
		&cli.StringFlag{Name: "advertise", EnvVars: env("ADVERTISE"), Usage: "IP address other nodes and clients use to reach this one", DefaultText: "--bind, or the first private address when binding 0.0.0.0"},
		&cli.IntFlag{Name: "http-port", Value: def.HTTPPort, EnvVars: env("HTTP_PORT"), Usage: "port of the API and dashboard (0: pick a free one)"},
		&cli.IntFlag{Name: "raft-port", Value: def.RaftPort, EnvVars: env("RAFT_PORT"), Usage: "Raft port (0: pick a free one)"},
		&cli.IntFlag{Name: "gossip-port", Value: def.GossipPort, EnvVars: env("GOSSIP_PORT"), Usage: "gossip port, TCP and UDP (0: pick a free one)"},
		&cli.StringFlag{Name: "node-name", EnvVars: env("NODE_NAME"), Usage: "name of this node, unique in the cluster", DefaultText: "hostname"},
		&cli.StringFlag{Name: "isolator", Value: def.Isolator, EnvVars: env("ISOLATOR"), Usage: "how tasks are run: auto, systemd, cgroupfs or process"},
		&cli.StringFlag{Name: "resources", EnvVars: env("RESOURCES"), Usage: `override detected resources, e.g. "cpus=4,mem=8192,disk=20000,gpus=0,ports=[31000-32000,33000]" (mem, disk in MiB); "cpus(analytics)=2" reserves 2 of them for role analytics`},
		&cli.StringSliceFlag{Name: "attribute", EnvVars: env("ATTRIBUTE"), Usage: "node attribute key=value for placement constraints (repeatable)"},
		&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: env("LOG_LEVEL"), Usage: "debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", Value: "text", EnvVars: env("LOG_FORMAT"), Usage: "text or json"},
		&cli.BoolFlag{Name: "dev", EnvVars: env("DEV"), Usage: "throwaway one-node cluster on 127.0.0.1 in a temporary data dir"},
		&cli.IntFlag{Name: "task-log-max", Value: int(def.TaskLogMaxBytes >> 20), EnvVars: env("TASK_LOG_MAX"), Usage: "MiB each of a task's stdout and stderr may grow to before the older part is rotated out (one rotated file is kept)"},
		&cli.StringSliceFlag{Name: "allow-user", EnvVars: env("ALLOW_USER"), Usage: "a user jobs may run as (repeatable; root only if named, which the relaxed profile also needs); others run as a dynamic unprivileged user"},
		&cli.StringFlag{Name: "autoscale", EnvVars: env("AUTOSCALE"), Usage: "JSON file of the agent groups the leader grows and shrinks (servers; see docs/OPERATIONS.md)"},
		&cli.BoolFlag{Name: "autoscale-dry-run", EnvVars: env("AUTOSCALE_DRY_RUN"), Usage: "with --autoscale: report the decisions, carry none out"},
		&cli.StringFlag{Name: "token", EnvVars: env("JOIN_TOKEN"), Usage: "join token (cdt1-...) a machine without state joins with, as 'clusterd init' printed it or 'clusterd token rotate' makes it; or a bootstrap token (cdb1-..., 'clusterd token bootstrap'), which --bootstrap-expect needs"},
		&cli.StringSliceFlag{Name: "join", EnvVars: env("JOIN"), Usage: "IP or IP:gossip-port of a cluster member to join through (repeatable)"},
		&cli.DurationFlag{Name: "join-timeout", Value: def.JoinTimeout, EnvVars: env("JOIN_TIMEOUT"), Usage: "give up joining (and exit non-zero) when no peer answered within this time"},
		&cli.IntFlag{Name: "bootstrap-expect", EnvVars: env("BOOTSTRAP_EXPECT"), Usage: "form a new cluster once this many server nodes (with the same flag) see each other"},
		&cli.IntFlag{Name: "voters", Value: def.Voters, EnvVars: env("VOTERS"), Usage: "number of Raft voters the leader keeps (3; 5 recommended past 10 nodes)"},
		&cli.BoolFlag{Name: "server", Value: def.Server, EnvVars: env("SERVER"), Usage: "this node may be a Raft voter (--server=false: agent only)"},
		&cli.BoolFlag{Name: "leave-on-terminate", Value: def.LeaveOnTerminate, EnvVars: env("LEAVE_ON_TERMINATE"), Usage: "SIGTERM leaves the cluster gracefully (tasks move elsewhere); false: tasks keep running for a restart"},
		&cli.DurationFlag{Name: "node-lost-grace", Value: def.NodeLostGrace, EnvVars: env("NODE_LOST_GRACE"), Usage: "how long a node gossip declared dead may stay so before its tasks are replaced"},
		&cli.DurationFlag{Name: "voter-replace-after", Value: def.VoterReplaceAfter, EnvVars: env("VOTER_REPLACE_AFTER"), Usage: "how long a voter must be dead before another node replaces it"},
		&cli.Uint64Flag{Name: "raft-snapshot-threshold", Value: def.SnapshotThreshold, EnvVars: env("RAFT_SNAPSHOT_THRESHOLD"), Usage: "Raft log entries between snapshots", Hidden: true},
		&cli.DurationFlag{Name: "raft-snapshot-interval", Value: def.SnapshotInterval, EnvVars: env("RAFT_SNAPSHOT_INTERVAL"), Usage: "how often Raft checks whether to snapshot", Hidden: true},
		&cli.Uint64Flag{Name: "raft-trailing-logs", Value: def.TrailingLogs, EnvVars: env("RAFT_TRAILING_LOGS"), Usage: "Raft log entries kept after a snapshot", Hidden: true},
		&cli.DurationFlag{Name: "allocation-interval", Value: def.AllocationInterval, EnvVars: env("ALLOCATION_INTERVAL"), Usage: "how often the leader offers resources even when nothing changed (freed resources are offered at once)"},
		&cli.DurationFlag{Name: "offer-timeout", Value: def.OfferTimeout, EnvVars: env("OFFER_TIMEOUT"), Usage: "rescind offers a framework holds this long without answering (0: never)"},
		&cli.DurationFlag{Name: "recovery-timeout", Value: def.RecoveryTimeout, EnvVars: env("RECOVERY_TIMEOUT"), Usage: "after a leader change, the longest offers wait for agents and frameworks to reconnect"},
		&cli.DurationFlag{Name: "scheduler-heartbeat", Value: def.HeartbeatInterval, EnvVars: env("SCHEDULER_HEARTBEAT"), Usage: "how often Mesos frameworks' event streams get a HEARTBEAT", Hidden: true},
		&cli.DurationFlag{Name: "cert-lifetime", Value: def.CertLifetime, EnvVars: env("CERT_LIFETIME"), Usage: "how long node certificates are valid (renewed at half)", Hidden: true},
		&cli.DurationFlag{Name: "status-retry-interval", Value: def.StatusRetryInterval, EnvVars: env("STATUS_RETRY_INTERVAL"), Usage: "first wait before an unacknowledged status update is sent again (doubling to 10m)", Hidden: true},
	}
}

// nodeConfig builds a node.Config from the flags, without side effects
// (--dev's temporary data dir is made by the caller).
func nodeConfig(c *cli.Context, bootstrap bool) (node.Config, error) {
	cfg := node.DefaultConfig()
	cfg.DataDir = c.String("data-dir")
	cfg.Bind = c.String("bind")
	cfg.Advertise = c.String("advertise")
	cfg.HTTPPort = c.Int("http-port")
	cfg.RaftPort = c.Int("raft-port")
	cfg.GossipPort = c.Int("gossip-port")
	cfg.Isolator = c.String("isolator")
	cfg.Bootstrap = bootstrap
	cfg.Version = version
	cfg.NodeName = c.String("node-name")
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return cfg, fmt.Errorf("node name: cannot read the hostname (%v); set --node-name", err)
		}
		cfg.NodeName = h
	}
	if s := c.String("resources"); s != "" {
		res, set, reserved, err := parseResources(s)
		if err != nil {
			return cfg, usageErrorf("--resources: %v", err)
		}
		cfg.Resources, cfg.ResourcesSet, cfg.Reserved = res, set, reserved
	}
	attrs, err := parseAttributes(c.StringSlice("attribute"))
	if err != nil {
		return cfg, err
	}
	cfg.Attributes = attrs
	cfg.AllowUsers = c.StringSlice("allow-user")
	if mb := c.Int("task-log-max"); mb > 0 {
		cfg.TaskLogMaxBytes = int64(mb) << 20
	} else {
		return cfg, usageErrorf("--task-log-max %d: must be at least 1 (MiB)", mb)
	}
	cfg.Join = append(c.StringSlice("join"), c.Args().Slice()...)
	cfg.JoinTimeout = c.Duration("join-timeout")
	cfg.JoinToken = c.String("token")
	cfg.AutoscaleFile = c.String("autoscale")
	cfg.AutoscaleDryRun = c.Bool("autoscale-dry-run")
	cfg.CertLifetime = c.Duration("cert-lifetime")
	cfg.CertCheckInterval = min(time.Minute, cfg.CertLifetime/8)
	cfg.BootstrapExpect = c.Int("bootstrap-expect")
	cfg.Voters = c.Int("voters")
	cfg.Server = c.Bool("server")
	cfg.LeaveOnTerminate = c.Bool("leave-on-terminate")
	cfg.NodeLostGrace = c.Duration("node-lost-grace")
	cfg.VoterReplaceAfter = c.Duration("voter-replace-after")
	cfg.SnapshotThreshold = c.Uint64("raft-snapshot-threshold")
	cfg.SnapshotInterval = c.Duration("raft-snapshot-interval")
	cfg.TrailingLogs = c.Uint64("raft-trailing-logs")
	cfg.AllocationInterval = c.Duration("allocation-interval")
	cfg.OfferTimeout = c.Duration("offer-timeout")
	cfg.RecoveryTimeout = c.Duration("recovery-timeout")
	cfg.HeartbeatInterval = c.Duration("scheduler-heartbeat")
	cfg.StatusRetryInterval = c.Duration("status-retry-interval")
	if cfg.BootstrapExpect > 0 && len(cfg.Join) == 0 {
		return cfg, usageErrorf("--bootstrap-expect %d: name the other machines to find (clusterd join --bootstrap-expect %d IP1 IP2 ...)", cfg.BootstrapExpect, cfg.BootstrapExpect)
	}
	if c.Bool("dev") {
		// Loopback only (checked below), so the API needs no token.
		cfg.Dev, cfg.Bootstrap, cfg.NoAuth = true, true, true
		for _, f := range []string{"bind", "advertise"} {
			if !c.IsSet(f) {
				continue
			}
			if ip := net.ParseIP(c.String(f)); ip == nil || !ip.IsLoopback() {
				return cfg, usageErrorf("--%s %q: --dev only listens on loopback (127.0.0.1); drop --dev to run a real node", f, c.String(f))
			}
		}
		if !c.IsSet("bind") {
			cfg.Bind = "127.0.0.1"
		}
		if !c.IsSet("advertise") {
			cfg.Advertise = cfg.Bind
		}
		if c.IsSet("data-dir") {
			return cfg, usageErrorf("--data-dir: --dev always uses a temporary data dir; drop one of them")
		}
		cfg.DataDir = "" // made by runNode
	}
	return cfg, nil
}

// adminTokenPath is where the server that created a cluster keeps its
// first admin token.
func adminTokenPath(dataDir string) string { return filepath.Join(dataDir, node.AdminTokenFile) }

// joinTokensPath is where the server that created a cluster keeps its
// first join tokens.
func joinTokensPath(dataDir string) string { return filepath.Join(dataDir, node.JoinTokensFile) }

func defaultDataDir() string { return node.DefaultConfig().DataDir }

func parseAttributes(kvs []string) (map[string]string, error) {
	attrs := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, usageErrorf("--attribute %q: expected key=value, e.g. zone=us-east-1a", kv)
		}
		if _, dup := attrs[k]; dup {
			return nil, usageErrorf("--attribute %q: key %q given twice", kv, k)
		}
		attrs[k] = strings.TrimSpace(v)
	}
	return attrs, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErrorf("--log-level %q: must be debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageErrorf("--log-format %q: must be text or json", format)
}

// runNode runs `agent` or `init` until a signal.
func runNode(c *cli.Context, bootstrap bool) error {
	if c.NArg() > 0 && c.Command.Name != "join" {
		return usageErrorf("%s takes no arguments, got %q (to join a cluster: clusterd join PEER, or --join PEER)", c.Command.Name, c.Args().Slice())
	}
	cfg, err := nodeConfig(c, bootstrap)
	if err != nil {
		return err
	}
	logger, err := newLogger(c.App.ErrWriter, c.String("log-level"), c.String("log-format"))
	if err != nil {
		return err
	}
	cfg.Logger = logger

	cleanup := func() {}
	if cfg.Dev {
		dir, err := os.MkdirTemp("", "clusterd-dev-")
		if err != nil {
			return fmt.Errorf("dev data dir: %w", err)
		}
		// MkdirTemp makes it 0700: hardened tasks' dynamic uids must
		// traverse it to their sandboxes (see node.Run).
		if err := os.Chmod(dir, 0o711); err != nil {
			_ = os.RemoveAll(dir)
			return fmt.Errorf("dev data dir: %w", err)
		}
		cfg.DataDir = dir
		cleanup = func() {
			if err := os.RemoveAll(dir); err != nil {
				logger.Warn("remove dev data dir", "dir", dir, "err", err)
			}
		}
		defer cleanup()
	}

	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	stopSignals := handleSignals(logger, cancel, cleanup)
	defer stopSignals()

	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	out := c.App.Writer
	err = n.Run(ctx, func(info node.ReadyInfo) {
		switch {
		case cfg.Dev:
			printDevBanner(out, info.HTTPURL, cfg.DataDir)
		case bootstrap:
			printInitBanner(out, initBanner{HTTPURL: info.HTTPURL, ClusterID: info.ClusterID, NodeID: info.NodeID,
				Bootstrapped: info.Bootstrapped, AdminToken: info.AdminToken, ServerJoinToken: info.ServerJoinToken,
				AgentJoinToken: info.AgentJoinToken, CAFingerprint: info.CAFingerprint}, cfg.DataDir)
		default:
			logger.Info("node ready", "url", info.HTTPURL, "node", info.NodeID, "cluster", info.ClusterID)
		}
	})
	if err != nil {
		return fmt.Errorf("%s: %w", c.Command.Name, err)
	}
	return nil
}

// handleSignals cancels the node's context on the first SIGINT/SIGTERM and
// exits at once on the second. The returned func stops listening.
func handleSignals(logger *slog.Logger, cancel context.CancelFunc, cleanup func()) func() {
	sigs := make(chan os.Signal, 2)
	done := make(chan struct{})
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		first := true
		for {
			select {
			case s := <-sigs:
				if first {
					first = false
					logger.Info("shutting down (signal again to exit at once)", "signal", s.String())
					cancel()
					continue
				}
				logger.Warn("second signal: exiting immediately", "signal", s.String())
				cleanup()
				os.Exit(exitError)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}
