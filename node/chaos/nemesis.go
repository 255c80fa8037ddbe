package chaos

import (
	"fmt"

	"github.com/clusterd/clusterd/node/failpoint"
	"math/rand"
	"time"
)

// FaultKind names one kind of fault the nemesis injects.
type FaultKind string

// The faults. Every one ends by itself: a killed node is restarted, a
// paused one continued, a partition healed, after the fault's Hold.
const (
	KillLeader    FaultKind = "kill-leader"    // SIGKILL the leader, restart after Hold (0-5 s)
	KillNode      FaultKind = "kill-node"      // SIGKILL a random node, restart after Hold
	PauseNode     FaultKind = "pause-node"     // SIGSTOP a random node for Hold (1-8 s), then SIGCONT
	PauseLeader   FaultKind = "pause-leader"   // SIGSTOP the leader for Hold
	IsolateNode   FaultKind = "isolate-node"   // cut one node from all others, both ways
	IsolateLeader FaultKind = "isolate-leader" // cut the leader from all others
	SplitMinority FaultKind = "split"          // two nodes (with the leader, when Leader) against three
	OneWay        FaultKind = "one-way"        // one node's packets to the others are dropped; theirs still arrive
	GossipCut     FaultKind = "gossip-cut"     // one node isolated on the gossip port only
	RaftCut       FaultKind = "raft-cut"       // one node isolated on the Raft port only
	// CrashPoint arms a failpoint on a random node: it panics (or, one
	// time in four, stalls 3 s) at the Hit-th pass through the point; a
	// crashed node is restarted. Needs a binary built with -tags failpoints.
	CrashPoint FaultKind = "crash-point"
)

// AllFaults is every kind, the default mix.
var AllFaults = []FaultKind{KillLeader, KillNode, PauseNode, PauseLeader, IsolateNode, IsolateLeader, SplitMinority, OneWay, GossipCut, RaftCut, CrashPoint}

// PartitionFaults are the network faults only.
var PartitionFaults = []FaultKind{IsolateNode, IsolateLeader, SplitMinority, OneWay, GossipCut, RaftCut}

// Fault is one scheduled fault. Node is the target drawn for faults that
// take a random node; faults on the leader find it when they start.
type Fault struct {
	At   time.Duration // from the start of the run
	Kind FaultKind
	Node int
	// Peer is, for SplitMinority, the second node of the minority.
	Peer int
	// WithLeader puts the leader in the minority of a split.
	WithLeader bool
	Hold       time.Duration
	// Point, Hit and Stall are a CrashPoint's failpoint (an index into
	// failpoint.Points), the pass it fires at, and whether it stalls
	// instead of crashing.
	Point int
	Hit   int
	Stall bool
}

func (f Fault) String() string {
	s := fmt.Sprintf("%s hold %v", f.Kind, f.Hold.Round(time.Millisecond))
	switch f.Kind {
	case KillNode, PauseNode, IsolateNode, OneWay, GossipCut, RaftCut:
		s += fmt.Sprintf(" node %d", f.Node)
	case CrashPoint:
		action := "panic"
		if f.Stall {
			action = "sleep:3s"
		}
		s += fmt.Sprintf(" node %d %s=%s@%d", f.Node, failpoint.Points[f.Point], action, f.Hit)
	case SplitMinority:
		if f.WithLeader {
			s += fmt.Sprintf(" minority leader+node %d", f.Node)
		} else {
			s += fmt.Sprintf(" minority nodes %d,%d", f.Node, f.Peer)
		}
	}
	return s
}

// Schedule draws the faults of a run from seed: one every `every` (the
// first after one interval), until length, kinds drawn uniformly. The same
// arguments always give the same schedule.
func Schedule(seed int64, nodes int, length, every time.Duration, kinds []FaultKind) []Fault {
	rng := rand.New(rand.NewSource(seed))
	var out []Fault
	for at := every; at+every/2 <= length; at += every {
		f := Fault{At: at, Kind: kinds[rng.Intn(len(kinds))], Node: rng.Intn(nodes)}
		f.Peer = (f.Node + 1 + rng.Intn(nodes-1)) % nodes
		f.WithLeader = rng.Intn(2) == 0
		f.Point, f.Hit, f.Stall = rng.Intn(len(failpoint.Points)), 1+rng.Intn(3), rng.Intn(4) == 0
		switch f.Kind {
		case KillLeader, KillNode:
			f.Hold = time.Duration(rng.Int63n(int64(5 * time.Second)))
		case PauseNode, PauseLeader:
			f.Hold = time.Second + time.Duration(rng.Int63n(int64(7*time.Second)))
		default:
			f.Hold = 3*time.Second + time.Duration(rng.Int63n(int64(5*time.Second)))
		}
		out = append(out, f)
	}
	return out
}
