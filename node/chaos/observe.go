package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clusterd/clusterd/node/chaos/check"
	"github.com/clusterd/clusterd/node/nodetest"
	"github.com/clusterd/clusterd/web/api"
)

// observer samples, once a second, the cluster's committed view of tasks
// (a ?consistent listing), what really runs on each agent (its task
// processes in /proc), and every agent's allocation; every 5 s each node's
// goroutine count.
type observer struct {
	c     *nodetest.Cluster
	rng   *rand.Rand
	incar func(i int) string

	mu         sync.Mutex
	obs        []check.Observation
	running    []check.RunningSample
	units      []check.UnitSample
	resources  []check.AgentResources
	goroutines []check.GoroutineSample
	// committed are the status updates (with uuids) seen in task
	// histories, per task, in commit order.
	committed map[string][]check.Update
	uuids     map[string]bool
	fwOf      map[string]string // task -> framework
}

func newObserver(c *nodetest.Cluster, seed int64, incarnation func(i int) string) *observer {
	return &observer{c: c, rng: rand.New(rand.NewSource(seed)), incar: incarnation,
		committed: map[string][]check.Update{}, uuids: map[string]bool{}, fwOf: map[string]string{}}
}

func (o *observer) run(ctx context.Context) {
	hc := o.c.HTTPClient(clientTimeout)
	for tick := 0; sleepCtx(ctx, time.Second); tick++ {
		o.sample(ctx, hc)
		if tick%5 == 0 {
			o.sampleGoroutines(ctx)
		}
	}
}

// liveNode is a random node that runs and is not paused, or -1.
func (o *observer) liveNode() int {
	var live []int
	for i := range o.c.Nodes() {
		if o.c.Running(i) && !o.c.Paused(i) {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return -1
	}
	return live[o.rng.Intn(len(live))]
}

// tasks is one ?consistent listing through node i, recorded as
// observations; nil when it failed.
func (o *observer) tasks(ctx context.Context, hc *http.Client, i int) []api.Task {
	invoke := time.Now()
	a := call(ctx, hc, http.MethodGet, o.c.Node(i).Addr+"/v1/tasks?consistent", nil)
	var tasks []api.Task
	if a.err != nil || a.status != http.StatusOK || json.Unmarshal(a.body, &tasks) != nil {
		return nil
	}
	at := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	src := fmt.Sprintf("GET /v1/tasks?consistent via node %d", i)
	for _, t := range tasks {
		o.obs = append(o.obs, check.Observation{Task: t.ID, State: t.State, Invoke: invoke, At: at, Source: src})
		if t.Framework == "" {
			continue
		}
		o.fwOf[t.ID] = t.Framework
		for _, h := range t.History {
			if len(h.UUID) == 0 {
				continue
			}
			u := base64.StdEncoding.EncodeToString(h.UUID)
			if !o.uuids[u] {
				o.uuids[u] = true
				o.committed[t.ID] = append(o.committed[t.ID], check.Update{UUID: u, State: h.State})
			}
		}
	}
	return tasks
}

func (o *observer) sample(ctx context.Context, hc *http.Client) {
	procs := o.c.RunningByNode()
	now := time.Now()
	i := o.liveNode()
	if i < 0 {
		return
	}
	tasks := o.tasks(ctx, hc, i)
	after := o.c.RunningByNode()
	var nodes []api.Node
	a := call(ctx, hc, http.MethodGet, o.c.Node(i).Addr+"/v1/nodes", nil)
	nodesOK := a.err == nil && a.status == http.StatusOK && json.Unmarshal(a.body, &nodes) == nil
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, n := range o.c.Nodes() {
		o.running = append(o.running, check.RunningSample{At: now, Agent: n.Name, Tasks: procs[n.Name]})
	}
	if tasks != nil {
		// A unit sample compares processes with the listing taken between
		// the two /proc scans: a unit in both scans, and a RUNNING task.
		for _, n := range o.c.Nodes() {
			var running []string
			for _, t := range tasks {
				if t.NodeName == n.Name && t.State == "TASK_RUNNING" {
					running = append(running, t.ID)
				}
			}
			o.units = append(o.units, check.UnitSample{At: now, Agent: n.Name, Units: intersect(procs[n.Name], after[n.Name]), Running: running})
		}
	}
	if nodesOK {
		for _, n := range nodes {
			o.resources = append(o.resources, check.AgentResources{At: now, Agent: n.Name, Total: amounts(n.Total), Allocated: amounts(n.Allocated)})
		}
	}
}

func intersect(a, b []string) []string {
	in := map[string]int{}
	for _, x := range b {
		in[x]++
	}
	var out []string
	for _, x := range a {
		if in[x] > 0 {
			in[x]--
			out = append(out, x)
		}
	}
	return out
}

func amounts(r api.Resources) map[string]float64 {
	ports := 0.0
	for _, p := range r.Ports {
		ports += float64(p.End) - float64(p.Begin) + 1
	}
	return map[string]float64{"cpus": r.CPUs, "mem": r.Mem, "disk": r.Disk, "gpus": float64(r.GPUs), "ports": ports}
}

// sampleGoroutines reads go_goroutines from every live node's /metrics.
func (o *observer) sampleGoroutines(ctx context.Context) {
	hc := o.c.HTTPClient(2 * time.Second)
	for i, n := range o.c.Nodes() {
		if !o.c.Running(i) || o.c.Paused(i) {
			continue
		}
		a := call(ctx, hc, http.MethodGet, n.Addr+"/metrics", nil)
		if a.err != nil || a.status != http.StatusOK {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(a.body))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
				if count, err := strconv.ParseFloat(v, 64); err == nil {
					o.mu.Lock()
					o.goroutines = append(o.goroutines, check.GoroutineSample{At: time.Now(), Node: n.Name, Incarnation: o.incar(i), Count: int(count)})
					o.mu.Unlock()
				}
			}
		}
	}
}

// frameworkUpdates are the committed updates of framework fw's tasks.
func (o *observer) frameworkUpdates(fw string) map[string][]check.Update {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string][]check.Update{}
	for task, us := range o.committed {
		if o.fwOf[task] == fw {
			out[task] = append([]check.Update(nil), us...)
		}
	}
	return out
}
