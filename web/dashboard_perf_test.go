package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clusterd/clusterd/web/api"
)

// firstLoadBudget is what the dashboard may transfer to show a cluster of
// 1,000 nodes and 10,000 tasks (issue 7).
const firstLoadBudget = 500 << 10

// bigCluster fills f with 1,000 nodes in 3 zones, 100 services and 10,000
// tasks, 100 per job, spread over the nodes.
func bigCluster(f *fakeBackend) {
	now := time.Now().Add(-time.Hour).Truncate(time.Second)
	f.status = api.Status{ClusterID: "c-big", NodeID: "n-0000", NodeName: "node-0000", Leader: "n-0000", LeaderAddr: "10.0.0.1:5050",
		RaftState: "Leader", Voters: []string{"n-0000", "n-0001", "n-0002"}, Nodes: map[string]int{"ready": 1000}, Jobs: 100,
		Tasks: map[string]int{api.TaskRunning: 10000}, Capacity: api.Resources{CPUs: 16000, Mem: 64000 * 1024}, Allocated: api.Resources{CPUs: 5000, Mem: 2500 * 1024}}
	f.util = sampleUtilization()
	for i := range 1000 {
		id := fmt.Sprintf("n-%04d", i)
		f.nodes = append(f.nodes, api.Node{ID: id, Name: fmt.Sprintf("node-%04d", i), Address: fmt.Sprintf("10.0.%d.%d:5050", i/250, i%250),
			State: "ready", Leader: i == 0, Isolator: "systemd", Total: api.Resources{CPUs: 16, Mem: 65536, Disk: 500000},
			Allocated: api.Resources{CPUs: 5, Mem: 2560}, Used: &api.Usage{CPUs: 2.5, Mem: 1800, At: now},
			Attributes: map[string]string{"zone": fmt.Sprintf("us-east-1%c", 'a'+i%3)}, Tasks: 10, RegisteredAt: now})
	}
	for j := range 100 {
		job := fmt.Sprintf("svc-%03d", j)
		f.jobs[job] = api.Job{JobSpec: api.JobSpec{ID: job, Type: api.JobService, Cmd: "./serve --port $PORT0", Instances: 100, CPUs: 0.5, Mem: 256, Ports: 1},
			Version: 1, State: api.JobStateRunning, CreatedAt: now, UpdatedAt: now, Tasks: map[string]int{api.TaskRunning: 100}}
		for k := range 100 {
			n := (j*100 + k) % 1000
			id := fmt.Sprintf("%s.%d.%04x", job, k, j*100+k)
			f.tasks[id] = api.Task{ID: id, Job: job, JobVersion: 1, Instance: k, Framework: "clusterd-jobs", Node: fmt.Sprintf("n-%04d", n),
				NodeName: fmt.Sprintf("node-%04d", n), State: api.TaskRunning, Cmd: "./serve --port $PORT0",
				Resources: api.Resources{CPUs: 0.5, Mem: 256, Ports: []api.PortRange{{Begin: uint16(31000 + k), End: uint16(31000 + k)}}},
				Used:      &api.Usage{CPUs: 0.25, Mem: 180, At: now}, CreatedAt: now, UpdatedAt: now}
		}
	}
}

// countingHandler counts the bytes of the response bodies it serves (what
// went on the wire, after any compression inside h).
type countingHandler struct {
	h     http.Handler
	bytes atomic.Int64
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// Unwrap lets http.ResponseController flush the event stream.
func (w countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.h.ServeHTTP(countingWriter{w, &c.bytes}, r)
}

// loadBigDashboard opens the dashboard on bigCluster and returns the bytes
// served until the task list shows, and how long that took.
func loadBigDashboard(t testing.TB) (int64, time.Duration) {
	fb := newFakeBackend()
	bigCluster(fb)
	ch := &countingHandler{h: NewHandler(Config{Backend: fb})}
	srv := httptest.NewServer(ch)
	t.Cleanup(srv.Close)
	tt, ok := t.(*testing.T)
	if !ok {
		t.Fatal("loadBigDashboard needs a *testing.T for the browser")
	}
	ctx := newBrowser(tt)
	// A blank page first, so the browser's own start is not timed.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	start := time.Now()
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		waitText("#page-info", "of 10,000"),
		waitText("#nodes-count", "1000"),
		waitText("#ov-util-note", "360 samples"),
	)
	if err != nil {
		t.Fatalf("render 1,000 nodes and 10,000 tasks: %v", err)
	}
	took := time.Since(start)
	// Both lists are paged: the page holds a few hundred rows, not 11,000.
	if rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#nodes-table tbody tr").length`)); err != nil || rows != 100 {
		t.Errorf("the nodes table has %d rows (%v), want a page of 100", rows, err)
	}
	if info, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#node-page-info"))); err != nil || info != "1–100 of 1,000" {
		t.Errorf("the nodes pager reads %q (%v)", info, err)
	}
	return ch.bytes.Load(), took
}

func TestDashboardFirstLoadOfALargeClusterFitsTheBudget(t *testing.T) {
	n, took := loadBigDashboard(t)
	t.Logf("first load of 1,000 nodes / 10,000 tasks: %d bytes (%.0f KiB) served, rendered in %v", n, float64(n)/1024, took.Round(time.Millisecond))
	if n > firstLoadBudget {
		t.Errorf("the first load transferred %d bytes, over the budget of %d", n, firstLoadBudget)
	}
}
