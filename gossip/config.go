package gossip

import (
	"fmt"
	"log"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// DefaultPort is clusterd's gossip port, TCP and UDP.
const DefaultPort = 5052

// Config is everything New needs. Start from DefaultConfig and change a few
// fields; New validates it once.
type Config struct {
	// NodeID is the memberlist node name: the clusterd node id, unique in
	// the cluster.
	NodeID string
	// BindAddr is the IP to listen on (TCP and UDP).
	BindAddr string
	// BindPort is the port to listen on; 0 picks a free one, which
	// Membership.Port reports.
	BindPort int
	// AdvertiseAddr is the IP the others use to reach this node; empty means
	// BindAddr (or, when that is 0.0.0.0, a private address memberlist picks).
	AdvertiseAddr string
	// Meta is the initial metadata; its NodeID defaults to NodeID.
	Meta Meta
	// Keys is the gossip keyring, primary first: the primary seals what this
	// node sends and every key is tried on what it receives. Each is 16, 24
	// or 32 bytes (AES-128, -192, -256). With keys, gossip that is
	// plaintext or sealed with another key is dropped, packets and push/pull
	// streams alike. Empty means unencrypted, which only --dev (bound to
	// 127.0.0.1) and tests may use: anyone who reaches the port can then join
	// and inject members. Change a running node's ring with SetKeys (or
	// InstallKey, UseKey, RemoveKey); encryption itself cannot be switched
	// on or off without a restart.
	Keys [][]byte
	// Logger receives memberlist's own logs at the level of their
	// "[DEBUG]"/"[INFO]"/"[WARN]"/"[ERR]" prefix; nil discards them.
	Logger *slog.Logger

	// Failure detector tuning; see the package documentation for what the
	// values mean in seconds.
	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	SuspicionMult  int
	GossipInterval time.Duration
	// TCPTimeout bounds connecting to a peer and a push/pull state exchange,
	// so it is also how long Join waits for an unreachable peer.
	TCPTimeout time.Duration

	// wrapTransport lets tests interpose on the network (pause a node).
	wrapTransport func(memberlist.Transport) memberlist.Transport
}

// DefaultConfig is tuned for a LAN (one EC2 region): a crashed node of a
// 3-node cluster is declared dead in about 3.5 s, and a node paused for 2 s
// is not. Everything not listed here is memberlist's DefaultLANConfig.
func DefaultConfig() Config {
	return Config{
		BindAddr:       "0.0.0.0",
		BindPort:       DefaultPort,
		ProbeInterval:  500 * time.Millisecond,
		ProbeTimeout:   250 * time.Millisecond,
		SuspicionMult:  5,
		GossipInterval: 100 * time.Millisecond,
		TCPTimeout:     5 * time.Second,
	}
}

// validate checks the config and fills in the defaults New relies on.
func (c *Config) validate() error {
	if c.NodeID == "" {
		return fmt.Errorf("gossip config: node id is empty")
	}
	if c.Meta.NodeID == "" {
		c.Meta.NodeID = c.NodeID
	}
	if c.Meta.NodeID != c.NodeID {
		return fmt.Errorf("gossip config: metadata node id %q differs from node id %q", c.Meta.NodeID, c.NodeID)
	}
	if c.BindAddr == "" {
		c.BindAddr = "0.0.0.0"
	}
	if net.ParseIP(c.BindAddr) == nil {
		return fmt.Errorf("gossip config: bind address %q is not an IP address", c.BindAddr)
	}
	if c.AdvertiseAddr == "" && !net.ParseIP(c.BindAddr).IsUnspecified() {
		c.AdvertiseAddr = c.BindAddr
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		return fmt.Errorf("gossip config: advertise address %q is not an IP address", c.AdvertiseAddr)
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		return fmt.Errorf("gossip config: port %d is out of range (0 picks a free one)", c.BindPort)
	}
	if c.ProbeInterval <= 0 || c.ProbeTimeout <= 0 || c.GossipInterval <= 0 || c.SuspicionMult < 1 || c.TCPTimeout <= 0 {
		return fmt.Errorf("gossip config: probe interval, probe timeout, gossip interval, suspicion multiplier and TCP timeout must be positive (start from DefaultConfig)")
	}
	if c.ProbeTimeout >= c.ProbeInterval {
		return fmt.Errorf("gossip config: probe timeout %s must be shorter than the probe interval %s", c.ProbeTimeout, c.ProbeInterval)
	}
	if _, err := c.Meta.Encode(); err != nil {
		return fmt.Errorf("gossip config: %w", err)
	}
	if err := checkKeys(c.Keys); err != nil {
		return fmt.Errorf("gossip config: %w", err)
	}
	return nil
}

// memberlistConfig translates a validated Config; delegates are set by New.
func (c Config) memberlistConfig(logger *slog.Logger) (*memberlist.Config, error) {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.NodeID
	mc.BindAddr = c.BindAddr
	mc.BindPort = c.BindPort
	mc.AdvertiseAddr = c.AdvertiseAddr
	mc.AdvertisePort = c.BindPort
	mc.ProbeInterval = c.ProbeInterval
	mc.ProbeTimeout = c.ProbeTimeout
	mc.SuspicionMult = c.SuspicionMult
	mc.GossipInterval = c.GossipInterval
	mc.TCPTimeout = c.TCPTimeout
	mc.LogOutput = nil
	mc.Logger = log.New(slogWriter{logger}, "", 0)
	ring, err := newKeyring(c.Keys)
	if err != nil {
		return nil, err
	}
	mc.Keyring = ring
	// Both true is memberlist's default already; they are what makes a
	// keyring a gate rather than an option (false is only for switching a
	// running cluster to encryption, which clusterd does not do).
	mc.GossipVerifyIncoming = true
	mc.GossipVerifyOutgoing = true
	return mc, nil
}
