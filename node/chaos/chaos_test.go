package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/nodetest"
)

// TestMain builds the failpoints binary every run uses (unless
// CLUSTERD_BIN names one: scripts/chaos builds it once for many runs).
func TestMain(m *testing.M) {
	if os.Getenv("CLUSTERD_BIN") == "" {
		dir, err := os.MkdirTemp("", "clusterd-chaos-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		bin := filepath.Join(dir, "clusterd")
		out, err := exec.Command("go", "build", "-tags", "failpoints", "-o", bin, "github.com/clusterd/clusterd").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go build -tags failpoints: %v\n%s", err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		os.Setenv("CLUSTERD_BIN", bin)
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	nodetest.Main(m)
}

// env reads the long-run settings scripts/chaos passes; CI uses the
// defaults.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func durationEnv(t *testing.T, name, def string) time.Duration {
	d, err := time.ParseDuration(env(name, def))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// seeds are CHAOS_SEED, CHAOS_SEED+1, ... CHAOS_RUNS of them.
func seeds(t *testing.T, defSeed, defRuns string) []int64 {
	first, err := strconv.ParseInt(env("CHAOS_SEED", defSeed), 10, 64)
	if err != nil {
		t.Fatalf("CHAOS_SEED: %v", err)
	}
	runs, err := strconv.Atoi(env("CHAOS_RUNS", defRuns))
	if err != nil || runs < 1 {
		t.Fatalf("CHAOS_RUNS: want a count, got %q", os.Getenv("CHAOS_RUNS"))
	}
	out := make([]int64, runs)
	for i := range out {
		out[i] = first + int64(i)
	}
	return out
}

func runSuite(t *testing.T, kinds []FaultKind, defSeed, defRuns, defLength string) {
	length := durationEnv(t, "CHAOS_LENGTH", defLength)
	quiet := durationEnv(t, "CHAOS_QUIET", "20s")
	for _, seed := range seeds(t, defSeed, defRuns) {
		t.Run("seed="+strconv.FormatInt(seed, 10), func(t *testing.T) {
			r := Run(t, Config{Seed: seed, Length: length, Quiet: quiet, Kinds: kinds, Artifacts: os.Getenv("CHAOS_ARTIFACTS")})
			t.Logf("\n%s\nfaults:\n%s", r.Summary(), r.FaultLog)
			if !r.OK() {
				t.Errorf("seed %d broke a promise; the seed, fault log, history, node logs and explanation are in %s", seed, r.Dir)
			}
		})
	}
}

// TestChaos: every kind of fault, one every 10 s, under the whole
// workload; every checker must pass.
func TestChaos(t *testing.T) {
	if k := os.Getenv("CHAOS_KINDS"); k == "partitions" {
		runSuite(t, PartitionFaults, "1", "3", "40s")
		return
	}
	runSuite(t, AllFaults, "1", "3", "40s")
}

// TestChaosPartitions: network faults only, so every run exercises
// isolation, splits, one-way and per-layer cuts.
func TestChaosPartitions(t *testing.T) {
	if os.Getenv("CHAOS_RUNS") != "" {
		t.Skip("scripts/chaos runs TestChaos with its own settings")
	}
	runSuite(t, PartitionFaults, "101", "1", "40s")
}

func TestScheduleIsDeterministicAndCoversTheKinds(t *testing.T) {
	a := Schedule(7, 5, 30*time.Minute, 10*time.Second, AllFaults)
	b := Schedule(7, 5, 30*time.Minute, 10*time.Second, AllFaults)
	if len(a) != 179 || len(a) != len(b) {
		t.Fatalf("30 minutes at one fault per 10 s: %d and %d faults, want 179", len(a), len(b))
	}
	seen := map[FaultKind]bool{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("fault %d differs between two schedules of one seed: %v vs %v", i, a[i], b[i])
		}
		seen[a[i].Kind] = true
		if a[i].Node == a[i].Peer || a[i].Node < 0 || a[i].Node >= 5 {
			t.Fatalf("fault %d: node %d peer %d", i, a[i].Node, a[i].Peer)
		}
		switch a[i].Kind {
		case KillLeader, KillNode:
			if a[i].Hold >= 5*time.Second {
				t.Fatalf("a restart after %v, want under 5 s", a[i].Hold)
			}
		case PauseNode, PauseLeader:
			if a[i].Hold < time.Second || a[i].Hold >= 8*time.Second {
				t.Fatalf("a pause of %v, want 1-8 s", a[i].Hold)
			}
		}
	}
	if len(seen) != len(AllFaults) {
		t.Fatalf("kinds drawn: %v, want all %d", seen, len(AllFaults))
	}
	if c := Schedule(8, 5, 30*time.Minute, 10*time.Second, AllFaults); c[0] == a[0] && c[1] == a[1] && c[2] == a[2] {
		t.Fatal("two seeds gave the same schedule")
	}
}

// The partition rules cut exactly the pairs and ports asked.
func TestPartitionRules(t *testing.T) {
	n := &Net{table: "t", httpPort: 100, raftPort: 101, gossip: 102}
	got := n.rules([]Cut{{From: "127.0.0.10", To: "127.0.0.11", Layer: LayerRaft}, {From: "127.0.0.11", To: "127.0.0.12", Layer: LayerAll}})
	want := strings.Join([]string{
		"add rule inet t out ip saddr 127.0.0.10 ip daddr 127.0.0.11 tcp dport { 101 } counter drop",
		"add rule inet t out ip saddr 127.0.0.10 ip daddr 127.0.0.11 tcp sport { 101 } counter drop",
		"add rule inet t out ip saddr 127.0.0.11 ip daddr 127.0.0.12 tcp dport { 100, 101, 102 } counter drop",
		"add rule inet t out ip saddr 127.0.0.11 ip daddr 127.0.0.12 tcp sport { 100, 101, 102 } counter drop",
		"add rule inet t out ip saddr 127.0.0.11 ip daddr 127.0.0.12 udp dport { 102 } counter drop",
		"add rule inet t out ip saddr 127.0.0.11 ip daddr 127.0.0.12 udp sport { 102 } counter drop",
	}, "\n") + "\n"
	if got != want {
		t.Fatalf("rules:\n%s\nwant:\n%s", got, want)
	}
}
