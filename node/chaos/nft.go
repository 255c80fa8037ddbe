package chaos

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// Layer is what a cut drops.
type Layer string

// Layers of a cut: everything between two nodes, gossip only (memberlist's
// UDP and TCP port), or Raft only (its TCP port).
const (
	LayerAll    Layer = "all"
	LayerGossip Layer = "gossip"
	LayerRaft   Layer = "raft"
)

// Cut drops the packets From sends To (one direction).
type Cut struct {
	From, To string // node IPs
	Layer    Layer
}

// Net installs and removes partitions between the nodes of one cluster.
type Net struct {
	table                      string
	httpPort, raftPort, gossip int
}

// NewNet creates the run's nftables table with an empty output chain.
func NewNet(table string, httpPort, raftPort, gossipPort int) (*Net, error) {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, fmt.Errorf("partitions need nftables' nft command: apt-get install nftables (scripts/test does): %w", err)
	}
	n := &Net{table: table, httpPort: httpPort, raftPort: raftPort, gossip: gossipPort}
	script := fmt.Sprintf("add table inet %s\nadd chain inet %s out { type filter hook output priority 0; policy accept; }\n", table, table)
	if err := nft(script); err != nil {
		return nil, fmt.Errorf("create nftables table %s: %w", table, err)
	}
	return n, nil
}

// rules renders the cuts as nft rule statements.
func (n *Net) rules(cuts []Cut) string {
	var b strings.Builder
	for _, c := range cuts {
		match := fmt.Sprintf("add rule inet %s out ip saddr %s ip daddr %s", n.table, c.From, c.To)
		var tcp, udp []int
		switch c.Layer {
		case LayerAll:
			tcp, udp = []int{n.httpPort, n.raftPort, n.gossip}, []int{n.gossip}
		case LayerGossip:
			tcp, udp = []int{n.gossip}, []int{n.gossip}
		case LayerRaft:
			tcp = []int{n.raftPort}
		}
		for _, proto := range []struct {
			name  string
			ports []int
		}{{"tcp", tcp}, {"udp", udp}} {
			if len(proto.ports) == 0 {
				continue
			}
			set := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(proto.ports)), ", "), "[]")
			// dport: connections From opens to To; sport: From's answers on
			// connections To opened.
			fmt.Fprintf(&b, "%s %s dport { %s } counter drop\n", match, proto.name, set)
			fmt.Fprintf(&b, "%s %s sport { %s } counter drop\n", match, proto.name, set)
		}
	}
	return b.String()
}

// Partition replaces the current cuts with cuts.
func (n *Net) Partition(cuts []Cut) error {
	return nft(fmt.Sprintf("flush chain inet %s out\n%s", n.table, n.rules(cuts)))
}

// Heal removes every cut.
func (n *Net) Heal() error {
	return nft(fmt.Sprintf("flush chain inet %s out\n", n.table))
}

// Dropped is how many packets the current cuts dropped: a partition that
// dropped nothing did not partition anything.
func (n *Net) Dropped() (int, error) {
	out, err := exec.Command("nft", "list", "chain", "inet", n.table, "out").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("nft list chain: %v: %s", err, out)
	}
	total := 0
	for _, f := range strings.Split(string(out), "counter packets ")[1:] {
		var p int
		fmt.Sscanf(f, "%d", &p)
		total += p
	}
	return total, nil
}

// Close deletes the table and its rules.
func (n *Net) Close() error {
	return nft(fmt.Sprintf("delete table inet %s\n", n.table))
}

func nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft: %v: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// isolate cuts node from every other, both ways, at layer.
func isolate(node string, others []string, layer Layer) []Cut {
	var cuts []Cut
	for _, o := range others {
		cuts = append(cuts, Cut{From: node, To: o, Layer: layer}, Cut{From: o, To: node, Layer: layer})
	}
	return cuts
}

// split cuts every node of a from every node of b, both ways.
func split(a, b []string) []Cut {
	var cuts []Cut
	for _, x := range a {
		for _, y := range b {
			cuts = append(cuts, Cut{From: x, To: y, Layer: LayerAll}, Cut{From: y, To: x, Layer: LayerAll})
		}
	}
	return cuts
}
