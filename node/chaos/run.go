package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/chaos/check"
	"github.com/clusterd/clusterd/node/nodetest"
	"github.com/clusterd/clusterd/web/api"
)

// stopped ends when the harness is asked to stop (SIGINT, SIGTERM): the
// run then fails at once, through its cleanups, so no node, task or
// nftables rule it made outlives it.
var stopped, _ = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)

// pause waits d, or fails the run when the harness is stopped.
func pause(t *testing.T, d time.Duration) {
	t.Helper()
	if d > 0 && !sleepCtx(stopped, d) {
		t.Fatal("interrupted (SIGINT or SIGTERM): the run stops; its nodes, tasks and partitions are removed")
	}
}

// Config is one chaos run.
type Config struct {
	Seed   int64
	Length time.Duration // faults are injected for this long
	// Every is the fault interval (default 10 s).
	Every time.Duration
	// Kinds are the faults drawn from (default AllFaults).
	Kinds []FaultKind
	// Quiet is how long the healed cluster runs before the checks (default
	// 30 s): the framework acknowledges everything then, and the cluster
	// settles what the faults left.
	Quiet time.Duration
	// Artifacts is where a failed run's directory is made (default the
	// system temp dir); a run that passed leaves nothing.
	Artifacts string
	// Clients is the number of registry clients (default 3).
	Clients int
	// Binary is the clusterd to run; CrashPoint faults need one built
	// with -tags failpoints (BuildWithFailpoints).
	Binary string
}

func (c *Config) defaults() {
	if c.Every <= 0 {
		c.Every = 10 * time.Second
	}
	if len(c.Kinds) == 0 {
		c.Kinds = AllFaults
	}
	if c.Quiet <= 0 {
		c.Quiet = 30 * time.Second
	}
	if c.Clients <= 0 {
		c.Clients = 3
	}
	if c.Artifacts == "" {
		c.Artifacts = os.TempDir()
	}
}

// Report is what a run found.
type Report struct {
	Seed       int64
	Faults     int
	Operations int
	Results    []check.Result
	// Dir holds a failed run's artifacts ("" when every check passed).
	Dir string
	// FaultLog is what the nemesis did, with timestamps.
	FaultLog string
}

// OK says whether every checker passed.
func (r Report) OK() bool {
	for _, res := range r.Results {
		if !res.OK {
			return false
		}
	}
	return len(r.Results) > 0
}

// Summary is one line per checker.
func (r Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %d faults, %d operations\n", r.Seed, r.Faults, r.Operations)
	for _, res := range r.Results {
		b.WriteString(res.String())
	}
	return b.String()
}

const nodes = 5

// faultLog is the run's timestamped log of what the nemesis did.
type faultLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *faultLog) printf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, time.Now().UTC().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *faultLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + "\n"
}

// Run starts a five-node cluster, runs the workload under the seeded
// faults for cfg.Length, heals, waits cfg.Quiet, and checks. It fails t
// only when the harness itself cannot go on; the checkers' verdicts are in
// the Report, for the caller to assert.
func Run(t *testing.T, cfg Config) Report {
	cfg.defaults()
	c := nodetest.Start(t, nodetest.Options{N: nodes, Binary: cfg.Binary, ExtraArgs: []string{
		"--voters", "5", "--allocation-interval", "200ms", "--scheduler-heartbeat", "1s",
		"--status-retry-interval", "1s", "--voter-replace-after", "10m",
	}})
	c.Eventually(t, "5 voters", 60*time.Second, func() bool {
		st, err := c.Status(c.Leader(t).Index)
		return err == nil && len(st.Voters) == nodes
	})
	httpPort, raftPort, gossipPort := c.Ports()
	network, err := NewNet(fmt.Sprintf("clusterd_chaos_%d", httpPort), httpPort, raftPort, gossipPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := network.Close(); err != nil {
			t.Errorf("remove the partitions: %v", err)
		}
	})
	log := &faultLog{}
	rec := &recorder{}
	schedule := Schedule(cfg.Seed, nodes, cfg.Length, cfg.Every, cfg.Kinds)
	log.printf("seed %d: %d faults over %v, kinds %v", cfg.Seed, len(schedule), cfg.Length, cfg.Kinds)

	var incarMu sync.Mutex
	incarnations := make([]int, nodes)
	incarnation := func(i int) string {
		incarMu.Lock()
		defer incarMu.Unlock()
		return fmt.Sprintf("%d", incarnations[i])
	}

	rng := rand.New(rand.NewSource(cfg.Seed))
	observe, stopObserving := context.WithCancel(context.Background())
	workload, stopWorkload := context.WithCancel(context.Background())
	fwCtx, stopFramework := context.WithCancel(context.Background())
	var wg, fwg sync.WaitGroup
	defer func() { stopWorkload(); stopFramework(); stopObserving(); wg.Wait(); fwg.Wait() }()
	obs := newObserver(c, rng.Int63(), incarnation)
	wg.Add(1)
	go func() { defer wg.Done(); obs.run(observe) }()
	var clients sync.WaitGroup
	for i := 0; i < cfg.Clients; i++ {
		seed := rng.Int63()
		clients.Add(1)
		go func(i int) { defer clients.Done(); registryClient(workload, c, i, seed, rec) }(i)
	}
	seed := rng.Int63()
	clients.Add(1)
	go func() { defer clients.Done(); taskClient(workload, c, cfg.Clients, seed, rec) }()
	fw := newFramework(c, cfg.Clients+1, rng.Int63(), rec)
	fwg.Add(1)
	go func() { defer fwg.Done(); fw.run(fwCtx) }()

	start := time.Now()
	n := &nemesis{t: t, c: c, net: network, log: log, bump: func(i int) {
		incarMu.Lock()
		incarnations[i]++
		incarMu.Unlock()
	}}
	for _, f := range schedule {
		pause(t, time.Until(start.Add(f.At)))
		n.inject(f)
	}
	pause(t, time.Until(start.Add(cfg.Length)))
	n.healAll()
	stopWorkload()
	clients.Wait()
	fw.steady.Store(true)
	log.printf("healed; clients stopped; %v of quiet", cfg.Quiet)
	pause(t, cfg.Quiet)

	// The final view: a listing every task's last state must match, and
	// the replicas, once they stopped moving.
	hc := c.HTTPClient(clientTimeout)
	c.Eventually(t, "a final consistent task listing", 30*time.Second, func() bool {
		return obs.tasks(context.Background(), hc, c.Leader(t).Index) != nil
	})
	replicas := finalReplicas(c, hc)
	submissions, jobs := finalJobs(t, c, hc, rec.history())
	end := time.Now()
	stopFramework()
	fwg.Wait()
	stopObserving()
	wg.Wait()
	log.printf("checking")

	history := rec.history()
	if err := os.MkdirAll(cfg.Artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(cfg.Artifacts, fmt.Sprintf("clusterd-chaos-seed%d-", cfg.Seed))
	if err != nil {
		t.Fatal(err)
	}
	streamLog := fw.log(obs.frameworkUpdates(fw.frameworkID()), end, true)
	obs.mu.Lock()
	observations := append(append([]check.Observation(nil), obs.obs...), check.ObservationsFromStream(streamLog)...)
	observations = append(observations, fw.toldObservations()...)
	results := []check.Result{
		check.Linearizable(history, check.RegistryConfig{Timeout: 60 * time.Second, VisualizationPath: filepath.Join(dir, "porcupine.html")}),
		check.Lifecycle(observations, history),
		check.Stream(streamLog, check.DefaultStreamConfig()),
		check.Replicas(replicas, nil),
		check.AtMostOneCopy(obs.running, 2*time.Second),
		check.Accounting(obs.resources),
		check.Leaks(obs.units, 30*time.Second),
		check.Goroutines(obs.goroutines, check.DefaultGoroutineConfig()),
		check.Idempotent(submissions, jobs),
	}
	obs.mu.Unlock()
	r := Report{Seed: cfg.Seed, Faults: len(schedule), Operations: len(history), Results: results, FaultLog: log.String()}
	if r.OK() {
		os.RemoveAll(dir)
		return r
	}
	r.Dir = dir
	writeArtifacts(t, c, dir, r, log, history, streamLog)
	return r
}

// finalReplicas asks every node for its digest until all stand at one
// applied index (the leader's background writes may move it), for 20 s at
// most; then returns the last answers.
func finalReplicas(c *nodetest.Cluster, hc *http.Client) map[string]check.Replica {
	var reports map[string]check.Replica
	for try := 0; try < 40; try++ {
		reports = map[string]check.Replica{}
		indexes := map[uint64]bool{}
		for _, n := range c.Nodes() {
			a := call(context.Background(), hc, http.MethodGet, n.Addr+"/v1/status/digest", nil)
			var d api.StateDigest
			if a.err != nil || a.status != http.StatusOK || json.Unmarshal(a.body, &d) != nil {
				continue
			}
			reports[n.Name] = check.Replica{AppliedIndex: d.AppliedIndex, Digest: d.Digest}
			indexes[d.AppliedIndex] = true
		}
		if len(reports) == nodes && len(indexes) == 1 {
			return reports
		}
		time.Sleep(500 * time.Millisecond)
	}
	return reports
}

// writeArtifacts fills a failed run's directory.
func writeArtifacts(t *testing.T, c *nodetest.Cluster, dir string, r Report, log *faultLog, history []check.Operation, stream check.StreamLog) {
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Errorf("chaos artifacts: %v", err)
		}
	}
	write("seed", []byte(fmt.Sprintf("%d\n", r.Seed)))
	write("explanation.txt", []byte(r.Summary()))
	write("faults.log", []byte(log.String()))
	if b, err := json.MarshalIndent(history, "", " "); err == nil {
		write("history.json", b)
	}
	if b, err := json.MarshalIndent(stream, "", " "); err == nil {
		write("stream.json", b)
	}
	for _, n := range c.Nodes() {
		if b, err := os.ReadFile(n.LogPath); err == nil {
			write(n.Name+".log", b)
		}
	}
}
