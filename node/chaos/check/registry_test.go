package check

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestLinearizableConcurrentHistoryPasses(t *testing.T) {
	h := []Operation{
		write(0, "web", "v1", 0, 10),
		// Two writes overlap; reads during and after them may see either,
		// as long as every later read agrees with one order.
		update(1, "web", "v2", 20, 60),
		update(2, "web", "v3", 30, 50),
		read(3, "web", "v3", 35, 40),
		read(4, "web", "v2", 55, 70),
		read(3, "web", "v2", 80, 90),
		del(1, "web", true, 100, 110),
		readAbsent(2, "web", 120, 130),
		del(0, "web", false, 140, 150), // a second delete finds nothing
		{Client: 1, Kind: KindUpdate, Key: "web", Input: "v4", Invoke: at(160), Complete: at(170), Outcome: OutcomeOK, Found: false},
		// Another job, interleaved; a failed write and an unknown read
		// say nothing.
		write(5, "batch", "b1", 5, 15),
		{Client: 6, Kind: KindUpdate, Key: "batch", Input: "b2", Invoke: at(20), Complete: at(25), Outcome: OutcomeFailed, Error: "400 invalid spec"},
		op(6, KindRead, "batch", 30, -1),
		read(7, "batch", "b1", 40, 45),
		// Launches and kills belong to other checkers.
		op(0, KindLaunch, "task-1", 0, 5),
	}
	r := Linearizable(h, DefaultRegistryConfig())
	wantOK(t, r)
	if r.Checked != 14 {
		t.Errorf("checked %d registry operations, want 14", r.Checked)
	}
}

func TestLinearizableCatchesStaleRead(t *testing.T) {
	h := []Operation{
		write(0, "web", "v1", 0, 10),
		update(1, "web", "v2", 20, 30),
		read(2, "web", "v2", 40, 50),
		// A deposed leader answering from its old state: v1, after v2
		// was acknowledged and read.
		read(3, "web", "v1", 60, 70),
		write(0, "other", "x", 0, 10),
		read(1, "other", "x", 20, 30),
	}
	vis := filepath.Join(t.TempDir(), "registry.html")
	cfg := DefaultRegistryConfig()
	cfg.VisualizationPath = vis
	r := Linearizable(h, cfg)
	wantViolation(t, r, `job "web"`, `client 3 read "web" → "v1" [12:00:00.060, 12:00:00.070]`)
	for _, v := range r.Violations {
		if strings.Contains(v, `job "other"`) {
			t.Errorf("the linearizable job is reported too: %s", v)
		}
	}
	wantViolation(t, r, vis)
	html, err := os.ReadFile(vis)
	if err != nil {
		t.Fatalf("visualization not written: %v", err)
	}
	if !strings.Contains(string(html), "<html") || !strings.Contains(string(html), `read() → \"v1\"`) {
		t.Errorf("visualization does not show the stale read (%d bytes)", len(html))
	}
}

func TestLinearizableCatchesLostUpdate(t *testing.T) {
	h := []Operation{
		write(0, "web", "v1", 0, 10),
		update(1, "web", "v2", 20, 30),
		update(2, "web", "v3", 40, 50), // acknowledged, then lost
		read(3, "web", "v2", 60, 70),
		read(4, "web", "v2", 80, 90),
	}
	wantViolation(t, Linearizable(h, DefaultRegistryConfig()), `job "web"`, `client 2 update "web" := "v3"`)

	// A lost job: submitted, acknowledged, then gone without a delete.
	h = []Operation{
		write(0, "cron", "c1", 0, 10),
		readAbsent(1, "cron", 20, 30),
	}
	wantViolation(t, Linearizable(h, DefaultRegistryConfig()), `job "cron"`, `client 1 read "cron" → not found`)

	// A delete acknowledged as found, of a job that was never there.
	h = []Operation{del(0, "ghost", true, 0, 10)}
	wantViolation(t, Linearizable(h, DefaultRegistryConfig()), `job "ghost"`)
}

func TestLinearizableUnknownWritesMayOrMayNotTakeEffect(t *testing.T) {
	// Taking effect late: the write timed out, and a read long after its
	// invocation sees it.
	took := []Operation{
		write(0, "web", "v1", 0, 10),
		update(1, "web", "v2", 20, -1),
		read(2, "web", "v1", 30, 40),
		read(2, "web", "v2", 5000, 5010),
	}
	wantOK(t, Linearizable(took, DefaultRegistryConfig()))

	// Never taking effect.
	never := []Operation{
		write(0, "web", "v1", 0, 10),
		update(1, "web", "v2", 20, -1),
		read(2, "web", "v1", 5000, 5010),
	}
	wantOK(t, Linearizable(never, DefaultRegistryConfig()))

	// An unknown submit of a new job, and an unknown delete: either way.
	wantOK(t, Linearizable([]Operation{write(0, "j", "a", 0, -1), readAbsent(1, "j", 10, 20), read(1, "j", "a", 30, 40)}, DefaultRegistryConfig()))
	wantOK(t, Linearizable([]Operation{write(0, "j", "a", 0, 5), del(0, "j", false, 10, -1), read(1, "j", "a", 20, 30), readAbsent(1, "j", 40, 50)}, DefaultRegistryConfig()))

	// But it takes effect once: seen, then unseen again, is a violation.
	flicker := []Operation{
		write(0, "web", "v1", 0, 10),
		update(1, "web", "v2", 20, -1),
		read(2, "web", "v2", 30, 40),
		read(2, "web", "v1", 50, 60),
	}
	wantViolation(t, Linearizable(flicker, DefaultRegistryConfig()), `job "web"`, `client 2 read "web" → "v1"`)

	// A write that definitely failed never becomes visible.
	failed := []Operation{
		write(0, "web", "v1", 0, 10),
		{Client: 1, Kind: KindUpdate, Key: "web", Input: "v2", Found: true, Invoke: at(20), Complete: at(30), Outcome: OutcomeFailed},
		read(2, "web", "v2", 40, 50),
	}
	wantViolation(t, Linearizable(failed, DefaultRegistryConfig()), `job "web"`, `"v2"`)
}

func TestLinearizableRejectsMalformedHistory(t *testing.T) {
	h := []Operation{
		write(0, "web", "v1", 20, 10), // completes before it starts
		{Client: 1, Kind: KindRead, Key: "web", Invoke: at(0), Complete: at(5), Outcome: "maybe"},
	}
	r := Linearizable(h, DefaultRegistryConfig())
	wantViolation(t, r, "history entry 0", "completed before it was invoked")
	wantViolation(t, r, "history entry 1", `unknown outcome "maybe"`)
}

// simulatedHistory is a linearizable history of a run's size: clients
// issue overlapping operations on a few keys, each takes effect at a
// random point inside its interval (or, for the unknown ones, maybe
// never), and reads return what a register would hold at that point.
func simulatedHistory(seed int64, clients, keys, perClient int) []Operation {
	rng := rand.New(rand.NewSource(seed))
	type pending struct {
		op    Operation
		point int // ms at which it takes effect; -1: never
	}
	var all []pending
	for c := range clients {
		now := rng.Intn(20)
		for i := range perClient {
			key := fmt.Sprintf("job-%d", rng.Intn(keys))
			dur := 1 + rng.Intn(40)
			o := op(c, []Kind{KindSubmit, KindUpdate, KindRead, KindRead, KindDelete}[rng.Intn(5)], key, now, now+dur)
			o.Input = fmt.Sprintf("c%d-%d", c, i)
			p := pending{op: o, point: now + rng.Intn(dur+1)}
			if rng.Intn(20) == 0 && o.Kind != KindRead {
				p.op.Outcome = OutcomeUnknown
				if rng.Intn(2) == 0 {
					p.point = -1
				}
			}
			all = append(all, p)
			now += dur + rng.Intn(10)
		}
	}
	order := make([]int, len(all))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return all[order[i]].point < all[order[j]].point })
	state := map[string]*string{}
	for _, i := range order {
		p := &all[i]
		if p.point < 0 {
			continue
		}
		cur := state[p.op.Key]
		switch p.op.Kind {
		case KindSubmit:
			v := p.op.Input
			state[p.op.Key] = &v
		case KindUpdate:
			p.op.Found = cur != nil
			if cur != nil {
				v := p.op.Input
				state[p.op.Key] = &v
			}
		case KindDelete:
			p.op.Found = cur != nil
			state[p.op.Key] = nil
		case KindRead:
			p.op.Found = cur != nil
			if cur != nil {
				p.op.Output = *cur
			}
		}
	}
	h := make([]Operation, len(all))
	for i, p := range all {
		h[i] = p.op
	}
	return h
}

func TestLinearizableRunSizedHistoryIsFastAndDeterministic(t *testing.T) {
	// About what 16 workload clients do in a 3-minute run.
	h := simulatedHistory(1, 16, 40, 250)
	start := time.Now()
	r := Linearizable(h, DefaultRegistryConfig())
	took := time.Since(start)
	wantOK(t, r)
	t.Logf("checked %d operations in %v", r.Checked, took)
	if took > 20*time.Second {
		t.Errorf("checking a run's history took %v", took)
	}

	// The same broken history explains itself the same way every time.
	h[len(h)/2] = read(99, "job-3", "never written", 1000, 1001)
	a, b := Linearizable(h, DefaultRegistryConfig()), Linearizable(h, DefaultRegistryConfig())
	wantViolation(t, a, `job "job-3"`, `"never written"`)
	if a.String() != b.String() {
		t.Errorf("two checks of one history differ:\n%s\n%s", a, b)
	}
}
