package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// node is a Membership under test with every event it delivered.
type node struct {
	*Membership
	mu     sync.Mutex
	events []Event
}

func testConfig(id, cluster string) Config {
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = 0
	cfg.Meta = Meta{HTTPPort: 5050, RaftPort: 5051, Server: true, ClusterID: cluster, Zone: "zone-" + id}
	return cfg
}

func start(t *testing.T, cfg Config) *node {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{Membership: m}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range m.Events() {
			n.mu.Lock()
			n.events = append(n.events, e)
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if err := m.Shutdown(); err != nil {
			t.Error(err)
		}
		<-done
	})
	return n
}

func (n *node) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Port())) }

// saw reports whether n delivered an event of type typ about member id.
func (n *node) saw(typ EventType, id string, cond func(Member) bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range n.events {
		if e.Type == typ && e.Member.ID == id && (cond == nil || cond(e.Member)) {
			return true
		}
	}
	return false
}

func (n *node) member(id string) (Member, bool) {
	for _, mb := range n.Members() {
		if mb.ID == id {
			return mb, true
		}
	}
	return Member{}, false
}

func eventually(t *testing.T, desc string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("after %s: %s", timeout, desc)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// cluster starts n members of cluster c1 joined through the first.
func cluster(t *testing.T, ids ...string) []*node {
	t.Helper()
	var nodes []*node
	for _, id := range ids {
		nodes = append(nodes, start(t, testConfig(id, "c1")))
	}
	for _, n := range nodes[1:] {
		if got, err := n.Join([]string{nodes[0].addr()}); err != nil || got != 1 {
			t.Fatalf("%s join: %d, %v", n.LocalID(), got, err)
		}
	}
	for _, n := range nodes {
		eventually(t, n.LocalID()+" sees everyone alive", 5*time.Second, func() bool {
			ms := n.Members()
			if len(ms) != len(ids) {
				return false
			}
			for _, m := range ms {
				if m.State != Alive {
					return false
				}
			}
			return true
		})
	}
	return nodes
}

func TestThreeMembersSeeEachOtherAliveWithMetadataAndUpdates(t *testing.T) {
	nodes := cluster(t, "a", "b", "c")
	for _, n := range nodes {
		ms := n.Members()
		for i, id := range []string{"a", "b", "c"} {
			m := ms[i]
			if m.ID != id || m.Addr != "127.0.0.1" || m.Port != nodes[i].Port() || m.State != Alive ||
				m.Meta.NodeID != id || m.Meta.Zone != "zone-"+id || m.Meta.ClusterID != "c1" || m.Meta.HTTPPort != 5050 {
				t.Errorf("%s sees %+v", n.LocalID(), m)
			}
		}
		if !n.saw(MemberJoin, n.LocalID(), nil) {
			t.Errorf("%s did not report its own join", n.LocalID())
		}
	}

	meta := nodes[0].Meta()
	meta.HasState = true
	meta.Zone = "zone-moved"
	if err := nodes[0].UpdateMeta(meta, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		eventually(t, n.LocalID()+" gets a's update", 5*time.Second, func() bool {
			return n.saw(MemberUpdate, "a", func(m Member) bool { return m.Meta.Zone == "zone-moved" && m.Meta.HasState })
		})
		if m, _ := n.member("a"); m.Meta.Zone != "zone-moved" {
			t.Errorf("%s lists a with %+v", n.LocalID(), m.Meta)
		}
	}
	if err := nodes[0].UpdateMeta(Meta{Zone: strings.Repeat("z", 600)}, time.Second); err == nil {
		t.Error("metadata over 512 bytes was accepted")
	}
}

func TestLeaveIsReportedAsLeftNotFailed(t *testing.T) {
	nodes := cluster(t, "a", "b", "c")
	if err := nodes[2].Leave(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := nodes[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[:2] {
		eventually(t, n.LocalID()+" reports c left", 5*time.Second, func() bool { return n.saw(MemberLeft, "c", nil) })
		if m, ok := n.member("c"); !ok || m.State != Left {
			t.Errorf("%s lists c as %+v, %v", n.LocalID(), m, ok)
		}
	}
	// Give a failure detector that wrongly suspected c time to say so.
	time.Sleep(MinTimeToDeclareDead(DefaultConfig(), 3))
	for _, n := range nodes[:2] {
		if n.saw(MemberFailed, "c", nil) {
			t.Errorf("%s reported c failed after a graceful leave", n.LocalID())
		}
	}
}

func TestCrashIsReportedAsFailedWithinTheExpectedTime(t *testing.T) {
	nodes := cluster(t, "a", "b", "c")
	crashed := time.Now()
	if err := nodes[2].Shutdown(); err != nil { // no Leave: a crash
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	// The race detector slows memberlist's goroutines; allow a little.
	bound := MaxTimeToDeclareDead(cfg, 3) + time.Second
	for _, n := range nodes[:2] {
		eventually(t, n.LocalID()+" reports c failed", bound-time.Since(crashed), func() bool { return n.saw(MemberFailed, "c", nil) })
		t.Logf("%s declared c dead within %s (min %s, expected %s, max %s)", n.LocalID(), time.Since(crashed),
			MinTimeToDeclareDead(cfg, 3), ExpectedTimeToDeclareDead(cfg, 3), MaxTimeToDeclareDead(cfg, 3))
		if n.saw(MemberLeft, "c", nil) {
			t.Errorf("%s reported a crash as a leave", n.LocalID())
		}
		if m, _ := n.member("c"); m.State != Dead {
			t.Errorf("%s lists c as %s", n.LocalID(), m.State)
		}
	}
}

func TestTwoSecondPauseIsShorterThanTheSuspicionTimeout(t *testing.T) {
	cfg := DefaultConfig()
	lo, hi := SuspicionTimeout(cfg, 3)
	if lo != hi || lo <= 2*time.Second+cfg.ProbeTimeout {
		t.Fatalf("suspicion timeout for 3 nodes is %s..%s; a 2 s pause needs more than %s", lo, hi, 2*time.Second+cfg.ProbeTimeout)
	}
	if d := MinTimeToDeclareDead(cfg, 3); d < 2*time.Second+cfg.ProbeTimeout+500*time.Millisecond {
		t.Fatalf("a node paused 2 s could be declared dead after %s, leaving under 500 ms to refute", d)
	}
}

func TestPausedNodeIsNotDeclaredDead(t *testing.T) {
	var nodes []*node
	var paused *pausableTransport
	for _, id := range []string{"a", "b", "c"} {
		cfg := testConfig(id, "c1")
		if id == "c" {
			cfg.wrapTransport = func(inner memberlist.Transport) memberlist.Transport {
				paused = newPausableTransport(inner)
				return paused
			}
		}
		nodes = append(nodes, start(t, cfg))
	}
	for _, n := range nodes[1:] {
		if _, err := n.Join([]string{nodes[0].addr()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		eventually(t, "everyone sees three", 5*time.Second, func() bool { return len(n.Members()) == 3 })
	}
	paused.pause(2 * time.Second)
	time.Sleep(2*time.Second + MinTimeToDeclareDead(DefaultConfig(), 3))
	for _, n := range nodes[:2] {
		if n.saw(MemberFailed, "c", nil) {
			t.Errorf("%s declared c dead after a 2 s pause", n.LocalID())
		}
		if m, _ := n.member("c"); m.State != Alive {
			t.Errorf("%s lists c as %s after a 2 s pause", n.LocalID(), m.State)
		}
	}
}

func TestNodesOfAnotherClusterAreRefused(t *testing.T) {
	nodes := cluster(t, "a", "b")
	c := start(t, testConfig("c", "c2"))
	_, err := c.Join([]string{nodes[0].addr()})
	var mm *ClusterMismatchError
	if !errors.As(err, &mm) || mm.PeerCluster != "c1" || mm.LocalCluster != "c2" {
		t.Fatalf("join of another cluster: %v", err)
	}
	for _, want := range []string{"c1", "c2", nodes[0].addr(), "--data-dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	// Gossip runs every 100 ms; give it many rounds to leak c in.
	time.Sleep(time.Second)
	for _, n := range append(nodes, c) {
		for _, m := range n.Members() {
			if (n == c) != (m.ID == "c") {
				t.Errorf("%s lists %s across clusters", n.LocalID(), m.ID)
			}
		}
	}

	// A new node (no cluster id yet) may join, then learns its cluster.
	d := start(t, testConfig("d", ""))
	if _, err := d.Join([]string{nodes[1].addr()}); err != nil {
		t.Fatal(err)
	}
	d.SetClusterID("c1")
	eventually(t, "a sees d in c1", 5*time.Second, func() bool {
		m, ok := nodes[0].member("d")
		return ok && m.Meta.ClusterID == "c1"
	})
}

func TestJoinFailsWithWhatToCheck(t *testing.T) {
	// A port where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "dashboard") }))
	t.Cleanup(web.Close)

	n := start(t, testConfig("a", "c1"))
	for name, peer := range map[string]string{
		"nothing listens": closed,
		"http server":     strings.TrimPrefix(web.URL, "http://"),
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			got, err := n.Join([]string{peer})
			took := time.Since(start)
			if err == nil || got != 0 {
				t.Fatalf("join %s: %d, %v", peer, got, err)
			}
			if took > DefaultConfig().TCPTimeout+2*time.Second {
				t.Errorf("join %s took %s", peer, took)
			}
			for _, want := range []string{withDefaultPort(peer), "is clusterd running there", "5052/tcp+udp"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
	if _, err := n.Join(nil); err == nil {
		t.Error("join with no peers succeeded")
	}
}

func TestEventsAreNeverDroppedForASlowConsumer(t *testing.T) {
	q := newEventQueue()
	defer q.close()
	const total = 10000
	for i := range total { // nobody reads yet: push must not block
		q.push(Event{Type: MemberUpdate, Member: Member{ID: strconv.Itoa(i)}})
	}
	for i := range total {
		select {
		case e := <-q.out:
			if e.Member.ID != strconv.Itoa(i) {
				t.Fatalf("event %d is %s", i, e.Member.ID)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d never came", i)
		}
	}
}

func TestDeadNodeTimingTableInTheDocs(t *testing.T) {
	cfg := DefaultConfig()
	want := map[int][3]string{ // min, expected, max as in doc.go
		3:    {"3s", "3.42s", "4.5s"},
		10:   {"3s", "3.52s", "20.5s"},
		100:  {"5.5s", "6.04s", "35.5s"},
		1000: {"8s", "8.54s", "50.5s"},
	}
	for n, w := range want {
		got := [3]string{
			MinTimeToDeclareDead(cfg, n).Round(10 * time.Millisecond).String(),
			ExpectedTimeToDeclareDead(cfg, n).Round(10 * time.Millisecond).String(),
			MaxTimeToDeclareDead(cfg, n).Round(10 * time.Millisecond).String(),
		}
		if got != w {
			t.Errorf("n=%d: min, expected, max = %v; doc.go says %v", n, got, w)
		}
	}
}

func TestMemberlistLogsGoThroughSlogAtTheirLevel(t *testing.T) {
	var buf bytes.Buffer
	w := slogWriter{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	fmt.Fprintln(w, "[WARN] memberlist: Refuting a suspect message (from: b)")
	fmt.Fprintln(w, "[DEBUG] memberlist: Stream connection from=127.0.0.1:1")
	out := buf.String()
	for _, want := range []string{`level=WARN msg="Refuting a suspect message (from: b)"`, `level=DEBUG msg="Stream connection`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
}

func TestPeerAddressesGetTheGossipPort(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.1.5":      "10.0.1.5:5052",
		"10.0.1.5:7000": "10.0.1.5:7000",
		"node-1":        "node-1:5052",
		"::1":           "[::1]:5052",
		"[::1]:7000":    "[::1]:7000",
	} {
		if got := withDefaultPort(in); got != want {
			t.Errorf("withDefaultPort(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigIsValidatedOnce(t *testing.T) {
	cfg := testConfig("", "")
	if _, err := New(cfg); err == nil {
		t.Error("empty node id accepted")
	}
	cfg = testConfig("a", "")
	cfg.BindAddr = "localhost"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "not an IP") {
		t.Errorf("host name as bind address: %v", err)
	}
}
