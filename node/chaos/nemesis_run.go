package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/failpoint"
	"github.com/clusterd/clusterd/node/nodetest"
)

// nemesis carries out faults on the test's goroutine (nodetest's Kill,
// Restart, Pause and Resume fail the test if a node cannot be driven).
type nemesis struct {
	t    *testing.T
	c    *nodetest.Cluster
	net  *Net
	log  *faultLog
	bump func(i int) // a node was restarted: a new incarnation
}

// leader is the node that leads now, or a random one when none does.
func (n *nemesis) leader(fallback int) int {
	if l := n.c.LeaderNow(); l != nil {
		return l.Index
	}
	return fallback
}

func (n *nemesis) ips(except ...int) []string {
	var out []string
	for _, nd := range n.c.Nodes() {
		if !slices.Contains(except, nd.Index) {
			out = append(out, nd.IP)
		}
	}
	return out
}

func (n *nemesis) inject(f Fault) {
	t, c := n.t, n.c
	target := f.Node
	switch f.Kind {
	case KillLeader, PauseLeader, IsolateLeader:
		target = n.leader(f.Node)
	}
	n.log.printf("start %s (target node %d)", f, target)
	switch f.Kind {
	case KillLeader, KillNode:
		c.Kill(t, target)
		sleepCtx(stopped, f.Hold)
		c.Restart(t, target)
		n.bump(target)
	case PauseNode, PauseLeader:
		c.Pause(t, target)
		sleepCtx(stopped, f.Hold)
		c.Resume(t, target)
	case CrashPoint:
		n.crashPoint(f, target)
	default:
		var cuts []Cut
		me := c.Node(target).IP
		switch f.Kind {
		case IsolateNode, IsolateLeader:
			cuts = isolate(me, n.ips(target), LayerAll)
		case GossipCut:
			cuts = isolate(me, n.ips(target), LayerGossip)
		case RaftCut:
			cuts = isolate(me, n.ips(target), LayerRaft)
		case OneWay:
			for _, o := range n.ips(target) {
				cuts = append(cuts, Cut{From: me, To: o, Layer: LayerAll})
			}
		case SplitMinority:
			a, b := f.Node, f.Peer
			if f.WithLeader {
				a = n.leader(f.Node)
				if b == a {
					b = f.Node
				}
				if b == a {
					b = (a + 1) % nodes
				}
			}
			cuts = split([]string{c.Node(a).IP, c.Node(b).IP}, n.ips(a, b))
		}
		if err := n.net.Partition(cuts); err != nil {
			t.Fatal(err)
		}
		sleepCtx(stopped, f.Hold)
		dropped, err := n.net.Dropped()
		if err != nil {
			t.Fatal(err)
		}
		if err := n.net.Heal(); err != nil {
			t.Fatal(err)
		}
		n.log.printf("  %d packets dropped", dropped)
	}
	n.log.printf("end %s", f.Kind)
}

// healAll ends every fault: partitions removed, paused nodes continued,
// stopped ones started.
func (n *nemesis) healAll() {
	if err := n.net.Heal(); err != nil {
		n.t.Fatal(err)
	}
	for i := range n.c.Nodes() {
		if n.c.Paused(i) {
			n.c.Resume(n.t, i)
		}
		if !n.c.Running(i) {
			n.c.Restart(n.t, i)
			n.bump(i)
		}
	}
	n.log.printf("heal all: %s", fmt.Sprint("no cuts, every node running"))
}

// crashPoint arms f's failpoint on node target through its data dir's
// failpoints file, waits up to f.Hold for it to fire, disarms it, and
// restarts the node if it crashed.
func (n *nemesis) crashPoint(f Fault, target int) {
	t, c := n.t, n.c
	action := "panic"
	if f.Stall {
		action = "sleep:3s"
	}
	file := filepath.Join(c.Node(target).DataDir, "failpoints")
	spec := fmt.Sprintf("%s=%s@%d\n", failpoint.Points[f.Point], action, f.Hit)
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(f.Hold)
	for c.Running(target) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	// Disarmed before any restart: a restarted node reads the file first.
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if c.Running(target) {
		n.log.printf("  node %d did not crash at %s within %v", target, failpoint.Points[f.Point], f.Hold)
		return
	}
	n.log.printf("  node %d crashed at %s", target, failpoint.Points[f.Point])
	time.Sleep(time.Duration(f.Hit) * 500 * time.Millisecond)
	c.Restart(t, target)
	n.bump(target)
}
