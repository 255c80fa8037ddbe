package isolate_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/isolate"
	"github.com/clusterd/clusterd/isolate/isolatetest"
)

// cgroupLines is /proc/PID/cgroup (or a command's own) as a sorted set of
// lines, without the hierarchies clusterd does not place tasks in.
func cgroupLines(t *testing.T, content string, version int) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(content), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		keep := version == 2 && parts[1] == ""
		for _, c := range strings.Split(parts[1], ",") {
			keep = keep || (version == 1 && slices.Contains([]string{"cpu", "cpuacct", "memory", "pids"}, c))
		}
		if keep {
			out = append(out, parts[1]+":"+parts[2])
		}
	}
	slices.Sort(out)
	return out
}

func TestCgroupfsExecRunsInTheTasksCgroup(t *testing.T) {
	h := startCgroupfs(t, 0)
	r := h.launch("cg", "exec sleep 60", isolate.Limits{MemMiB: 64}, nil)
	code, out := execIn(t, h.c, "cg", "cat /proc/self/cgroup")
	if code != 0 {
		t.Fatalf("Exec = code %d, %q", code, out)
	}
	v := h.c.CgroupVersion()
	got := cgroupLines(t, out, v)
	want := cgroupLines(t, readTrim(t, "/proc/"+strconv.Itoa(r.PID)+"/cgroup"), v)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("Exec ran in cgroups %q; want the task's %q", got, want)
	}
	for _, line := range want {
		if !strings.HasSuffix(line, "/cg") {
			t.Errorf("the task's cgroup %q is not its own", line)
		}
	}
}

func TestCgroupfsExecCountsAgainstTheTasksPidsMax(t *testing.T) {
	const limit = 16
	h := startCgroupfs(t, limit)
	h.launch("pids", "exec sleep 60", isolate.Limits{}, nil)
	if h.c.CgroupVersion() != 1 {
		t.Skip("counted through the v1 pids cgroup")
	}
	events := h.file("pids", "pids", "pids.events")
	if ev := readTrim(t, events); ev != "max 0" {
		t.Fatalf("pids.events = %q before the Exec", ev)
	}
	// Bounded: 40 sleeps of 30 s at most, were the limit not there; Exec
	// kills those that started when the command's shell exits.
	code, out := execIn(t, h.c, "pids", `i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done 2>/dev/null; exit 0`)
	t.Logf("Exec of 40 sleeps under pids.max %d: code %d, %q", limit, code, out)
	if ev := readTrim(t, events); ev == "max 0" {
		t.Errorf("pids.events = %q after 40 forks in the Exec; want forks refused at the task's pids.max %d", ev, limit)
	}
}

func TestCgroupfsExecEndsWithTheTask(t *testing.T) {
	h := startCgroupfs(t, 0)
	h.launch("ends", "exec sleep 60", isolate.Limits{}, nil)
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := make(chan struct{})
	go func() {
		close(started)
		code, _, err := h.c.Exec(ctx, "ends", "sleep 30")
		res <- result{code, err}
	}()
	<-started
	// The Exec's sleep is in the task's cgroup once it runs.
	isolatetest.Eventually(t, 10*time.Second, "the Exec to run in the task's cgroup", func() bool {
		return len(cgroupPids(strings.TrimSuffix(h.file("ends", "pids", "x"), "/x"))) >= 2
	})
	if err := h.c.Kill(context.Background(), "ends", 100*time.Millisecond); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	select {
	case r := <-res:
		if r.err != nil || r.code == 0 {
			t.Errorf("Exec in a task that was killed = code %d, %v; want a command killed with it", r.code, r.err)
		}
		t.Logf("Exec in a killed task: code %d", r.code)
	case <-time.After(15 * time.Second):
		t.Fatal("Exec still runs 15s after its task was killed")
	}
	if e := h.recv(); e.Reason != isolate.Killed {
		t.Errorf("got %+v; want killed", e)
	}
	h.expectCgroupGone("ends")
}
