package web

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clusterd/clusterd/web/api"
)

// sampleUtilization is an hour's history every 10 s ending now: CPU
// allocation climbing from 0 to half the capacity.
func sampleUtilization() api.Utilization {
	end := time.Now().Truncate(10 * time.Second)
	u := api.Utilization{IntervalSeconds: 10}
	for i := 0; i < 360; i++ {
		u.Samples = append(u.Samples, api.UtilizationSample{
			Time:      end.Add(time.Duration(i-359) * 10 * time.Second),
			Capacity:  api.Resources{CPUs: 16, Mem: 32768},
			Allocated: api.Resources{CPUs: 8 * float64(i) / 359, Mem: 768},
			Used:      api.Usage{CPUs: 4 * float64(i) / 359, Mem: 300},
			Tasks:     2,
		})
	}
	return u
}

// The overview plots the last hour with the vendored uPlot (a canvas, its
// legend naming the series) and lists the Raft voters by name with the
// leader marked, under the page's CSP (a violation fails newBrowser).
func TestDashboardPlotsUtilizationAndListsVoters(t *testing.T) {
	fb := newFakeBackend()
	sampleCluster(fb)
	fb.util = sampleUtilization()
	srv := httptest.NewServer(NewHandler(Config{Backend: fb}))
	t.Cleanup(srv.Close)
	ctx := newBrowser(t)

	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		waitText("#ov-util-note", "360 samples"),
		chromedp.WaitVisible(chromedp.CSS("#ov-util .uplot canvas")),
	)
	if err != nil {
		t.Fatalf("render the utilization plot: %v", err)
	}
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector("#ov-util canvas").width`))
	if err != nil || width < 200 {
		t.Errorf("the plot's canvas is %d px wide (%v), want a drawn plot", width, err)
	}
	// The legend is upper-cased by CSS; compare its words.
	legend := strings.ToLower(text(ctx, t, "#ov-util .u-legend"))
	for _, want := range []string{"cpu allocated", "cpu used", "memory allocated", "memory used"} {
		if !strings.Contains(legend, want) {
			t.Errorf("the plot's legend lacks %q: %q", want, legend)
		}
	}
	voters := strings.Join(strings.Fields(text(ctx, t, "#ov-voters")), " ")
	if !strings.Contains(voters, "ip-10-0-1-5 leader") || !strings.Contains(voters, "ip-10-0-2-9") {
		t.Errorf("voters show %q, want both nodes by name and the leader marked", voters)
	}
}

// The dashboard of a follower shows the leader's answers: its fetches
// carry X-Clusterd-Proxy, so the follower passes them on instead of
// answering 307, which a page cannot follow; only its status is its own.
func TestDashboardOnAFollowerShowsTheLeadersState(t *testing.T) {
	leader := newFakeBackend()
	sampleCluster(leader)
	leader.util = sampleUtilization()
	leaderSrv := httptest.NewServer(NewHandler(Config{Backend: leader}))
	t.Cleanup(leaderSrv.Close)

	follower := newFakeBackend() // knows no jobs: what shows came from the leader
	follower.status.ClusterID, follower.status.NodeName, follower.status.RaftState = "c-7f3a", "ip-10-0-2-9", "Follower"
	follower.leaderAddr = strings.TrimPrefix(leaderSrv.URL, "http://")
	followerSrv := httptest.NewServer(NewHandler(Config{Backend: follower}))
	t.Cleanup(followerSrv.Close)
	ctx := newBrowser(t)

	err := chromedp.Do(ctx,
		chromedp.Navigate(followerSrv.URL+"/"),
		waitText("#jobs-table tbody", "bigbatch"),
		waitText("#ov-util-note", "360 samples"),
		chromedp.Click(chromedp.CSS(`#tasks-table tr[data-id="web.0.a1"]`)),
		waitText("#log", "Serving HTTP on 0.0.0.0 port 31000"),
	)
	if err != nil {
		t.Fatalf("the follower's dashboard does not show the leader's state: %v", err)
	}
	if h := text(ctx, t, "#h-cluster"); h != "c-7f3a" {
		t.Errorf("the follower's dashboard shows cluster %q, want c-7f3a", h)
	}
	// The status is the follower's own: "this node" is the one serving the page.
	if h := text(ctx, t, "#h-self"); h != "ip-10-0-2-9 · Follower" {
		t.Errorf("the follower's dashboard says this node is %q, want ip-10-0-2-9 · Follower", h)
	}
}

// With autoscaling on, the overview lists each group's size and the last
// decisions with their reasons (a failed one marked); off, nothing shows.
func TestDashboardShowsAutoscalingDecisions(t *testing.T) {
	fb := newFakeBackend()
	sampleCluster(fb)
	now := time.Now()
	fb.autoscale = &api.AutoscaleStatus{Enabled: true, Attribute: "asg", IntervalSeconds: 10,
		Groups: []api.AutoscaleGroup{{Name: "web-asg", Actuator: "command /bin/scale", Ready: 3, Booting: 2, Shortfall: 2,
			Rules: api.AutoscaleRules{MinSize: 1, MaxSize: 10}}},
		Decisions: []api.AutoscaleDecision{
			{At: now.Add(-time.Minute), Group: "web-asg", Kind: "scale_up", Count: 2, Reason: "4 tasks need 8 cpus that no host has: 2 more hosts"},
			{At: now, Group: "web-asg", Kind: "terminate", Count: 1, Hosts: []string{"ip-10-0-3-3"}, Reason: "drained: no tasks left", Error: "command exited 3"},
		}}
	srv := httptest.NewServer(NewHandler(Config{Backend: fb}))
	t.Cleanup(srv.Close)
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), waitText("#ov-as-decisions", "no host has")); err != nil {
		t.Fatalf("the autoscaling decisions did not show: %v", err)
	}
	groups := strings.Join(strings.Fields(text(ctx, t, "#ov-as-groups")), " ")
	if !strings.Contains(groups, "web-asg") || !strings.Contains(groups, "web-asg: 5 of 1..10") || !strings.Contains(groups, "2 booting") {
		t.Errorf("groups show %q", groups)
	}
	rows := text(ctx, t, "#ov-as-decisions")
	// Newest first; the failed terminate names its host and its error.
	if i, j := strings.Index(rows, "terminate"), strings.Index(rows, "scale_up 2"); i < 0 || j < 0 || i > j ||
		!strings.Contains(rows, "ip-10-0-3-3") || !strings.Contains(rows, "failed: command exited 3") {
		t.Errorf("decisions show %q", rows)
	}
}
