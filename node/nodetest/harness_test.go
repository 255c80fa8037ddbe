package nodetest

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
)

func TestMain(m *testing.M) { Main(m) }

// runningTasks returns the ids of job's running tasks as node i lists them,
// sorted; nil when the node does not answer.
func runningTasks(c *Cluster, i int, job string) []string {
	tasks, err := c.Tasks(i)
	if err != nil {
		return nil
	}
	var ids []string
	for _, task := range tasks {
		if task.Job == job && task.State == api.TaskRunning {
			ids = append(ids, task.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// The harness itself, on what the single-node binary does today: start,
// leader, submit, processes found, SIGKILL and restart with re-adoption,
// no duplicates, convergence, and a cleanup that leaves no task behind.
func TestSingleNodeClusterStartsAndStops(t *testing.T) {
	c := Start(t, Options{N: 1, Form: FormInitOnly})

	if l := c.Leader(t); l.Index != 0 {
		t.Fatalf("leader is node %d, want 0", l.Index)
	}
	c.Submit(t, 0, `{"id":"s","type":"service","cmd":"sleep 300","instances":2,"cpus":0.1,"mem":16}`)
	var before []string
	c.Eventually(t, "2 tasks of s running", 20*time.Second, func() bool {
		before = runningTasks(c, 0, "s")
		return len(before) == 2
	})

	// Each task has live processes, all in one process group.
	c.Eventually(t, "both tasks have processes", 10*time.Second, func() bool {
		procs := TaskProcesses()
		return len(procs[before[0]]) > 0 && len(procs[before[1]]) > 0
	})
	procs := c.TaskProcesses()
	if len(procs) != 2 {
		t.Fatalf("the cluster's task processes: %v, want those of %v", procs, before)
	}
	for _, p := range c.taskProcs() {
		if p.pgid != p.pid && !slices.ContainsFunc(c.taskProcs(), func(q taskProc) bool { return q.pid == p.pgid }) {
			t.Errorf("task %s: process %d is in group %d, which is no process of the task", p.taskID, p.pid, p.pgid)
		}
	}
	c.AssertNoTaskRunsTwice(t)

	// A crash: the node dies, its tasks do not; a restart re-adopts them.
	c.Kill(t, 0)
	if procs := c.TaskProcesses(); len(procs) != 2 {
		t.Fatalf("after SIGKILL of the node its tasks should still run: %v", procs)
	}
	c.Restart(t, 0)
	c.Eventually(t, "the same tasks running again", 20*time.Second, func() bool {
		return slices.Equal(runningTasks(c, 0, "s"), before)
	})
	c.AssertNoTaskRunsTwice(t)
	c.CheckConvergence(t)

	if out, err := c.CLI(t, 0, "status"); err != nil {
		t.Fatalf("clusterd status: %v\n%s", err, out)
	}

	c.Close()
	c.Close() // idempotent
	if left := TaskProcesses(); len(left[before[0]])+len(left[before[1]]) > 0 {
		t.Fatalf("task processes left after Close: %v", left)
	}
	if left := c.TaskProcesses(); len(left) > 0 {
		t.Fatalf("task processes of the cluster left after Close: %v", left)
	}
}

func TestPortsAndCommandLines(t *testing.T) {
	base, err := pickPorts([]string{nodeIP(0), nodeIP(1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := portsFree([]string{nodeIP(0), nodeIP(1)}, base); err != nil {
		t.Fatalf("picked ports %d-%d are not free: %v", base, base+2, err)
	}
	c := &Cluster{opts: Options{LogLevel: "info", ExtraArgs: []string{"--voters", "5"}}, base: base, dir: t.TempDir()}
	n := c.newNode(t, 1)
	args := c.nodeArgs(n, "join", "127.0.0.10:1")
	if args[0] != "join" || args[len(args)-1] != "127.0.0.10:1" || args[len(args)-3] != "--voters" {
		t.Fatalf("join args: flags must precede the peers: %v", args)
	}
	if n.IP != "127.0.0.11" || n.Addr != "http://127.0.0.11:"+strconv.Itoa(base) {
		t.Fatalf("node 1: %+v", n)
	}
}
