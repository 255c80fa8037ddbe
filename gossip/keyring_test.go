package gossip

import (
	"bytes"
	"compress/lzw"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"pgregory.net/rapid"
)

// testKey is a distinct valid key per seed.
func testKey(seed byte) []byte { return bytes.Repeat([]byte{seed}, 32) }

// logs keeps every log line a node wrote, to assert on memberlist's own
// reports (a decrypt failure is only visible there).
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logs) WithGroup(string) slog.Handler            { return l }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines = append(l.lines, r.Message)
	l.mu.Unlock()
	return nil
}

// with is the lines that contain any of subs.
func (l *logs) with(subs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		for _, s := range subs {
			if strings.Contains(line, s) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

// decryptErrors are memberlist's log lines for gossip it could not open.
var decryptErrors = []string{"Decrypt packet failed", "no installed keys could decrypt", "remote state is not encrypted", "encryption is not configured"}

// startKeyed starts a member of cluster c1 with keyring keys (none:
// unencrypted), recording its logs.
func startKeyed(t *testing.T, id string, keys ...[]byte) (*node, *logs) {
	t.Helper()
	l := &logs{}
	cfg := testConfig(id, "c1")
	cfg.Keys = keys
	cfg.Logger = slog.New(l)
	return start(t, cfg), l
}

// ids is who n lists, in order.
func ids(n *node) []string {
	var out []string
	for _, m := range n.Members() {
		out = append(out, m.ID)
	}
	return out
}

// allAlive reports whether n lists exactly want, all alive.
func allAlive(n *node, want ...string) bool {
	ms := n.Members()
	if len(ms) != len(want) {
		return false
	}
	for i, m := range ms {
		if m.ID != want[i] || m.State != Alive {
			return false
		}
	}
	return true
}

func TestGossipKeysOfTheWrongSizeAreRefusedAtStart(t *testing.T) {
	for _, size := range []int{0, 10, 31, 33, 64} {
		cfg := testConfig("a", "c1")
		cfg.Keys = [][]byte{testKey(1), bytes.Repeat([]byte{2}, size)}
		_, err := New(cfg)
		if err == nil {
			t.Fatalf("a %d-byte key was accepted", size)
		}
		for _, want := range []string{"gossip key 2 of 2", fmt.Sprintf("is %d bytes", size), "16, 24 or 32 bytes"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%d-byte key: error %q does not say %q", size, err, want)
			}
		}
	}
	for _, size := range []int{16, 24, 32} {
		cfg := testConfig("a", "c1")
		cfg.Keys = [][]byte{bytes.Repeat([]byte{1}, size)}
		m, err := New(cfg)
		if err != nil {
			t.Fatalf("a %d-byte key: %v", size, err)
		}
		if err := m.Shutdown(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOnlyNodesWithTheClustersGossipKeyCanJoin(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	a, _ := startKeyed(t, "a", k1)
	b, _ := startKeyed(t, "b", k1)
	if _, err := b.Join([]string{a.addr()}); err != nil {
		t.Fatalf("a node with the same key could not join: %v", err)
	}
	for _, n := range []*node{a, b} {
		eventually(t, n.LocalID()+" sees a and b", 5*time.Second, func() bool { return allAlive(n, "a", "b") })
	}

	wrong, _ := startKeyed(t, "wrong", k2)
	// Reading the cluster's key is not enough: it must send with it.
	reads, _ := startKeyed(t, "reads", k2, k1)
	none, _ := startKeyed(t, "none")
	for _, tc := range []struct {
		n                     *node
		local, remote         bool
		want                  string
		peer                  *node
		listedBy, notListedBy []*node
	}{
		{n: wrong, local: true, remote: true, want: "different gossip key", peer: a},
		{n: reads, local: true, remote: true, want: "different gossip key", peer: b},
		{n: none, local: false, remote: true, want: "this node has no gossip key", peer: a},
	} {
		_, err := tc.n.Join([]string{tc.peer.addr()})
		var km *KeyMismatchError
		if !errors.As(err, &km) || km.Peer != tc.peer.addr() || km.LocalEncrypts != tc.local || km.RemoteEncrypts != tc.remote {
			t.Fatalf("%s joining: %v (%+v)", tc.n.LocalID(), err, km)
		}
		for _, want := range []string{"peer " + tc.peer.addr() + " refused our gossip", tc.want} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s joining: error %q does not say %q", tc.n.LocalID(), err, want)
			}
		}
	}

	// An encrypted node does not join an unencrypted one either.
	plain, _ := startKeyed(t, "plain")
	_, err := a.Join([]string{plain.addr()})
	var km *KeyMismatchError
	if !errors.As(err, &km) || !km.LocalEncrypts || km.RemoteEncrypts || !strings.Contains(err.Error(), "it gossips unencrypted") {
		t.Fatalf("encrypted a joining unencrypted plain: %v", err)
	}

	// Gossip runs every 100 ms and probes every 500 ms: many rounds for
	// anyone to leak in.
	time.Sleep(time.Second)
	for _, n := range []*node{a, b} {
		if !allAlive(n, "a", "b") {
			t.Errorf("%s lists %v", n.LocalID(), ids(n))
		}
	}
	for _, n := range []*node{wrong, reads, none, plain} {
		if got := ids(n); !slices.Equal(got, []string{n.LocalID()}) {
			t.Errorf("%s, refused, lists %v", n.LocalID(), got)
		}
	}
}

func TestJoinNamesTheKeyRefusalAmongOtherFailures(t *testing.T) {
	a, _ := startKeyed(t, "a", testKey(1))
	c, _ := startKeyed(t, "c", testKey(1))
	n, _ := startKeyed(t, "n", testKey(2))
	_, err := n.Join([]string{a.addr(), c.addr()})
	var km *KeyMismatchError
	if !errors.As(err, &km) {
		t.Fatalf("joining two peers with another key: %v", err)
	}
	for _, want := range []string{a.addr(), c.addr(), "different gossip key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// msgpack writes the few msgpack forms memberlist's messages use, so that a
// test can speak memberlist's plaintext wire format as a stranger would.
type msgpack struct{ bytes.Buffer }

func (w *msgpack) mapHeader(n int) { w.WriteByte(0x80 | byte(n)) }
func (w *msgpack) str(s string) {
	w.WriteByte(0xd9)
	w.WriteByte(byte(len(s)))
	w.WriteString(s)
}
func (w *msgpack) bin(b []byte) {
	w.WriteByte(0xc4)
	w.WriteByte(byte(len(b)))
	w.Write(b)
}
func (w *msgpack) uint(v uint32) {
	w.WriteByte(0xce)
	w.Write([]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
func (w *msgpack) bool(v bool) {
	if v {
		w.WriteByte(0xc3)
	} else {
		w.WriteByte(0xc2)
	}
}

// memberlist v0.6.0's message types (net.go).
const (
	aliveMsgType    = 4
	pushPullMsgType = 6
	compressMsgType = 9
	encryptMsgType  = 10
)

// inTheClear is what a stranger can read of a stream message: the message
// itself, or what it decompresses to when memberlist compressed it (LZW, as
// its compress struct {Algo, Buf} carries it).
func inTheClear(t *testing.T, msg []byte) []byte {
	t.Helper()
	if len(msg) == 0 || msg[0] != compressMsgType {
		return msg
	}
	_, rest, ok := bytes.Cut(msg, []byte("\xa3Buf"))
	if !ok || len(rest) < 3 {
		t.Fatalf("compressed message without a buffer: %q", msg)
	}
	var n int
	switch rest[0] {
	case 0xda, 0xc5: // str16, bin16
		n, rest = int(rest[1])<<8|int(rest[2]), rest[3:]
	case 0xdb, 0xc6: // str32, bin32
		n, rest = int(rest[1])<<24|int(rest[2])<<16|int(rest[3])<<8|int(rest[4]), rest[5:]
	default:
		t.Fatalf("compressed buffer of msgpack type %#x", rest[0])
	}
	if n > len(rest) {
		t.Fatalf("compressed buffer of %d bytes, %d sent", n, len(rest))
	}
	plain, err := io.ReadAll(lzw.NewReader(bytes.NewReader(rest[:n]), lzw.LSB, 8))
	if err != nil {
		t.Fatalf("decompress: %v", err)
	}
	return plain
}

// announce writes the six fields memberlist's alive message and push/pull
// node state share (the name under nameKey), describing a member id that a
// stranger claims exists at a port where nothing listens.
func (w *msgpack) announce(t *testing.T, nameKey, id string) {
	t.Helper()
	meta, err := Meta{NodeID: id, ClusterID: "c1", Server: true}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	w.str(nameKey)
	w.str(id)
	w.str("Addr")
	w.bin(net.IPv4(127, 0, 0, 1).To4())
	w.str("Port")
	w.uint(1)
	w.str("Meta")
	w.bin(meta)
	w.str("Incarnation")
	w.uint(1)
	w.str("Vsn") // protocol min, max, current; delegate min, max, current
	w.bin([]byte{memberlist.ProtocolVersionMin, memberlist.ProtocolVersionMax, 2, 0, 0, 0})
}

// plaintextAlive is a UDP alive message announcing id, as an unencrypted
// memberlist sends it.
func plaintextAlive(t *testing.T, id string) []byte {
	var w msgpack
	w.WriteByte(aliveMsgType)
	w.mapHeader(6)
	w.announce(t, "Node", id)
	return w.Bytes()
}

// plaintextPushPull is a TCP join push/pull announcing id, as an unencrypted
// memberlist sends it.
func plaintextPushPull(t *testing.T, id string) []byte {
	var w msgpack
	w.WriteByte(pushPullMsgType)
	w.mapHeader(3)
	w.str("Nodes")
	w.uint(1)
	w.str("UserStateLen")
	w.uint(0)
	w.str("Join")
	w.bool(true)
	w.mapHeader(7)
	w.announce(t, "Name", id)
	w.str("State")
	w.uint(0) // alive
	return w.Bytes()
}

// sendUDP writes one datagram to n's gossip port.
func sendUDP(t *testing.T, n *node, b []byte) {
	t.Helper()
	c, err := net.Dial("udp", n.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// sendTCP writes b on a fresh connection to n's gossip port and returns what
// n answers before it closes the connection.
func sendTCP(t *testing.T, n *node, b []byte) []byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", n.addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(DefaultConfig().TCPTimeout + time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	reply, _ := io.ReadAll(c) // a reset or the deadline ends it too
	return reply
}

func TestPlaintextGossipFromAStrangerIsDroppedByAnEncryptedNode(t *testing.T) {
	// The control: an unencrypted node takes these very bytes and lists the
	// members they announce, so they are gossip memberlist understands.
	plain, _ := startKeyed(t, "plain")
	sendUDP(t, plain, plaintextAlive(t, "intruder-udp"))
	reply := sendTCP(t, plain, plaintextPushPull(t, "intruder-tcp"))
	for _, id := range []string{"intruder-udp", "intruder-tcp"} {
		eventually(t, "unencrypted plain lists "+id, 5*time.Second, func() bool { return plain.saw(MemberJoin, id, nil) })
	}
	if !bytes.Contains(inTheClear(t, reply), []byte("zone-plain")) {
		t.Fatalf("the unencrypted node's push/pull reply does not show its state in the clear: %q", reply)
	}

	k := testKey(1)
	a, aLogs := startKeyed(t, "a", k)
	b, _ := startKeyed(t, "b", k)
	if _, err := b.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a sees b", 5*time.Second, func() bool { return allAlive(a, "a", "b") })

	sendUDP(t, a, plaintextAlive(t, "intruder-udp"))
	reply = sendTCP(t, a, plaintextPushPull(t, "intruder-tcp"))
	if len(reply) == 0 || reply[0] != encryptMsgType {
		t.Errorf("the encrypted node answered a stranger with something not sealed: %q", reply)
	}
	if clear := inTheClear(t, reply); bytes.Contains(clear, []byte("zone-a")) || bytes.Contains(clear, []byte("zone-b")) {
		t.Errorf("the encrypted node answered a stranger with its state in the clear: %q", clear)
	}
	// Junk of every kind: none of it may crash or wedge the node.
	sendUDP(t, a, []byte("hello"))
	sendUDP(t, a, append([]byte{10}, bytes.Repeat([]byte{0xff}, 200)...)) // "encrypted", garbage
	sendUDP(t, a, nil)
	sendTCP(t, a, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	sendTCP(t, a, append([]byte{10, 0xff, 0xff, 0xff, 0xff}, bytes.Repeat([]byte{1}, 100)...)) // claims 4 GiB
	sendTCP(t, a, []byte{10, 0, 0, 0, 40, 1, 2, 3})                                            // claims 40, sends 3

	eventually(t, "a logs that it could not decrypt the packet and the stream", 5*time.Second, func() bool {
		return len(aLogs.with("Decrypt packet failed")) > 0 && len(aLogs.with("encryption is configured but remote state is not encrypted")) > 0
	})
	// Far more than the control needed to list them.
	time.Sleep(time.Second)
	for _, n := range []*node{a, b} {
		if !allAlive(n, "a", "b") {
			t.Errorf("after a stranger's gossip %s lists %v", n.LocalID(), ids(n))
		}
		for _, id := range []string{"intruder-udp", "intruder-tcp"} {
			if n.saw(MemberJoin, id, nil) {
				t.Errorf("%s took %s from a stranger", n.LocalID(), id)
			}
		}
	}
	// Still serving: a node with the key joins through a.
	c, _ := startKeyed(t, "c", k)
	if _, err := c.Join([]string{a.addr()}); err != nil {
		t.Fatalf("a stopped serving joins after the junk: %v", err)
	}
	eventually(t, "b sees c", 5*time.Second, func() bool { return allAlive(b, "a", "b", "c") })
}

func TestUsingAKeyThePeersLackMakesThemDropThisNodesGossip(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	a, _ := startKeyed(t, "a", k1)
	b, bLogs := startKeyed(t, "b", k1)
	if _, err := b.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a sees b", 5*time.Second, func() bool { return allAlive(a, "a", "b") })
	if got := bLogs.with(decryptErrors...); len(got) > 0 {
		t.Fatalf("b failed to decrypt before any change: %q", got)
	}

	// The step the rotation procedure forbids: use before installing
	// everywhere.
	if err := a.InstallKey(k2); err != nil {
		t.Fatal(err)
	}
	if err := a.UseKey(k2); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b cannot read a's gossip", 5*time.Second, func() bool { return len(bLogs.with("Decrypt packet failed")) > 0 })
	var km *KeyMismatchError
	if _, err := a.Join([]string{b.addr()}); !errors.As(err, &km) {
		t.Fatalf("push/pull from a to b with a key b lacks: %v", err)
	}

	// Undone before the failure detector acts, the two talk again.
	if err := a.UseKey(k1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Join([]string{b.addr()}); err != nil {
		t.Fatalf("push/pull after going back to the shared key: %v", err)
	}
}

func TestKeyRotationKeepsALiveClusterConverged(t *testing.T) {
	old, next := testKey(1), testKey(2)
	names := []string{"a", "b", "c"}
	var nodes []*node
	var nodeLogs []*logs
	for _, id := range names {
		n, l := startKeyed(t, id, old)
		nodes, nodeLogs = append(nodes, n), append(nodeLogs, l)
	}
	for _, n := range nodes[1:] {
		if _, err := n.Join([]string{nodes[0].addr()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		eventually(t, n.LocalID()+" sees everyone", 5*time.Second, func() bool { return allAlive(n, names...) })
	}

	// Sample everyone's view the whole time.
	var samples, bad atomic.Int64
	var firstBad atomic.Value
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, n := range nodes {
				samples.Add(1)
				if !allAlive(n, names...) {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, fmt.Sprintf("%s lists %v", n.LocalID(), n.Members()))
				}
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-sampled
	})

	// One node at a time, with time for probes and gossip in each mixed
	// state, and a push/pull (TCP) to a neighbour after each step.
	round := func(desc string, op func(*node) error) {
		for i, n := range nodes {
			if err := op(n); err != nil {
				t.Fatalf("%s on %s: %v", desc, n.LocalID(), err)
			}
			time.Sleep(250 * time.Millisecond)
			peer := nodes[(i+1)%len(nodes)]
			if _, err := n.Join([]string{peer.addr()}); err != nil {
				t.Fatalf("push/pull from %s to %s after %s: %v", n.LocalID(), peer.LocalID(), desc, err)
			}
		}
	}
	round("install", func(n *node) error { return n.InstallKey(next) })
	round("use", func(n *node) error { return n.UseKey(next) })
	round("remove", func(n *node) error { return n.RemoveKey(old) })
	time.Sleep(time.Second) // probes with the new ring alone
	close(stop)
	<-sampled

	if bad.Load() > 0 {
		t.Errorf("%d of %d samples were not all alive; first: %v", bad.Load(), samples.Load(), firstBad.Load())
	}
	t.Logf("%d samples, all three alive in each", samples.Load())
	for i, n := range nodes {
		if got := nodeLogs[i].with(decryptErrors...); len(got) > 0 {
			t.Errorf("%s could not read some gossip during the rotation: %q", n.LocalID(), got)
		}
		primary, all := n.Keys()
		if !bytes.Equal(primary, next) || len(all) != 1 {
			t.Errorf("%s's ring after the rotation: primary %x, %d keys", n.LocalID(), primary, len(all))
		}
	}

	stale, _ := startKeyed(t, "stale", old)
	var km *KeyMismatchError
	if _, err := stale.Join([]string{nodes[1].addr()}); !errors.As(err, &km) {
		t.Fatalf("a node with only the old key joining: %v", err)
	}
	fresh, _ := startKeyed(t, "fresh", next)
	if _, err := fresh.Join([]string{nodes[2].addr()}); err != nil {
		t.Fatalf("a node with the new key joining: %v", err)
	}
	eventually(t, "a sees fresh and not stale", 5*time.Second, func() bool { return allAlive(nodes[0], "a", "b", "c", "fresh") })
}

func TestKeyOperationsRefuseWhatWouldBreakGossip(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	n, _ := startKeyed(t, "a", k1)

	if err := n.RemoveKey(k1); err == nil || !strings.Contains(err.Error(), "primary key") {
		t.Errorf("removing the primary: %v", err)
	}
	if err := n.UseKey(k2); err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("using a key not installed: %v", err)
	}
	if err := n.InstallKey(k2[:5]); err == nil || !strings.Contains(err.Error(), "is 5 bytes") {
		t.Errorf("installing a 5-byte key: %v", err)
	}
	if err := n.SetKeys(nil); err == nil || !strings.Contains(err.Error(), "cannot switch gossip encryption off") {
		t.Errorf("setting no keys: %v", err)
	}
	if err := n.SetKeys([][]byte{k2, k1[:3]}); err == nil || !strings.Contains(err.Error(), "gossip key 2 of 2 is 3 bytes") {
		t.Errorf("setting a bad key: %v", err)
	}
	if primary, all := n.Keys(); !bytes.Equal(primary, k1) || len(all) != 1 {
		t.Errorf("a refused SetKeys changed the ring: primary %x, %d keys", primary, len(all))
	}
	// Harmless repeats are not errors: the node reconciles repeatedly.
	if err := n.InstallKey(k1); err != nil {
		t.Errorf("installing an installed key: %v", err)
	}
	if err := n.RemoveKey(k2); err != nil {
		t.Errorf("removing a key not installed: %v", err)
	}
	// Keys hands out copies.
	primary, all := n.Keys()
	primary[0], all[0][1] = 9, 9
	if p, _ := n.Keys(); !bytes.Equal(p, k1) {
		t.Errorf("changing what Keys returned changed the ring")
	}

	plain, _ := startKeyed(t, "plain")
	for name, err := range map[string]error{
		"install": plain.InstallKey(k1),
		"use":     plain.UseKey(k1),
		"remove":  plain.RemoveKey(k1),
		"set":     plain.SetKeys([][]byte{k1}),
	} {
		if !errors.Is(err, ErrUnencrypted) {
			t.Errorf("%s on an unencrypted node: %v", name, err)
		}
	}
	if p, all := plain.Keys(); p != nil || all != nil {
		t.Errorf("an unencrypted node reports keys %x, %x", p, all)
	}
}

// distinctKeys draws a non-empty list of distinct keys from pool.
func distinctKeys(pool [][]byte) *rapid.Generator[[][]byte] {
	return rapid.Custom(func(t *rapid.T) [][]byte {
		idx := rapid.SliceOfNDistinct(rapid.IntRange(0, len(pool)-1), 1, len(pool), rapid.ID[int]).Draw(t, "keys")
		out := make([][]byte, len(idx))
		for i, j := range idx {
			out[i] = pool[j]
		}
		return out
	})
}

// sameRing reports whether got is want with the same primary, in any order
// after it.
func sameRing(got, want [][]byte) bool {
	if len(got) != len(want) || !bytes.Equal(got[0], want[0]) {
		return false
	}
	for _, k := range want {
		if !slices.ContainsFunc(got, func(g []byte) bool { return bytes.Equal(g, k) }) {
			return false
		}
	}
	return true
}

func TestSetKeysReachesAnyRingFromAnyRing(t *testing.T) {
	pool := [][]byte{testKey(1), testKey(2), testKey(3), bytes.Repeat([]byte{4}, 16), bytes.Repeat([]byte{5}, 24)}
	n, _ := startKeyed(t, "a", pool[0])
	rapid.Check(t, func(rt *rapid.T) {
		for i, target := range []([][]byte){distinctKeys(pool).Draw(rt, "current"), distinctKeys(pool).Draw(rt, "target")} {
			if err := n.SetKeys(target); err != nil {
				rt.Fatalf("set keys %d: %v", i, err)
			}
			if primary, all := n.Keys(); !bytes.Equal(primary, target[0]) || !sameRing(all, target) {
				rt.Fatalf("after SetKeys(%x) the ring is %x", target, all)
			}
		}
	})
}

func TestKeyChangePlansNeverDropAKeyInUse(t *testing.T) {
	pool := [][]byte{testKey(1), testKey(2), testKey(3), testKey(4)}
	has := func(ring [][]byte, k []byte) bool {
		return slices.ContainsFunc(ring, func(g []byte) bool { return bytes.Equal(g, k) })
	}
	rapid.Check(t, func(rt *rapid.T) {
		current := distinctKeys(pool).Draw(rt, "current")
		target := distinctKeys(pool).Draw(rt, "target")
		steps := planKeyChanges(current, target)
		// Play the plan on a model ring with memberlist's rules.
		ring := slices.Clone(current)
		for i, s := range steps {
			switch s.op {
			case installKeyStep:
				if has(ring, s.key) {
					rt.Fatalf("step %d installs a key already there", i)
				}
				ring = append(ring, s.key)
			case useKeyStep:
				if !has(ring, s.key) {
					rt.Fatalf("step %d uses a key not installed", i)
				}
				ring = append([][]byte{s.key}, slices.DeleteFunc(ring, func(g []byte) bool { return bytes.Equal(g, s.key) })...)
			case removeKeyStep:
				if has(target, s.key) {
					rt.Fatalf("step %d removes %x, which the target keeps", i, s.key)
				}
				if !bytes.Equal(ring[0], target[0]) {
					rt.Fatalf("step %d removes a key before the target's primary is in use", i)
				}
				ring = slices.DeleteFunc(ring, func(g []byte) bool { return bytes.Equal(g, s.key) })
			}
		}
		if !sameRing(ring, target) {
			rt.Fatalf("plan %v turns %x into %x, not %x", steps, current, ring, target)
		}
		if sameRing(current, target) && len(steps) > 0 {
			rt.Fatalf("plan for an unchanged ring has %d steps", len(steps))
		}
	})
}
