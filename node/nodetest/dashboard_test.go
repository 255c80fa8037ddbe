package nodetest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/clusterd/clusterd/web/api"
)

// dashboardBrowser starts a headless Debian chromium with a fresh profile,
// bounded to 90 s; page exceptions fail the test. It accepts the page's
// confirm() dialogs (every action that changes the cluster asks one).
func dashboardBrowser(t *testing.T) context.Context {
	t.Helper()
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the dashboard test needs a browser at %s: apt-get install -y chromium: %v", chromium, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 1000))
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	console := chromedp.Console(tab)
	done := make(chan struct{})
	var errs []string
	go func() {
		defer close(done)
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() {
				errs = append(errs, m.String())
			}
		}
	}()
	// A dialog blocks the page and the click that opened it until it is
	// answered, so another goroutine answers.
	dialogs := chromedp.Events(tab, page.JavascriptDialogOpening)
	dialogsDone := make(chan struct{})
	go func() {
		defer close(dialogsDone)
		for _, err := range dialogs {
			if err != nil {
				return
			}
			if _, err := chromedp.Call(tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancelTab()
		<-done
		<-dialogsDone
		for _, e := range errs {
			t.Errorf("dashboard JavaScript exception: %s", e)
		}
	})
	return tab
}

// untilText waits until the element's text contains want.
func untilText(sel, want string) chromedp.Action[chromedp.Void] {
	js := `(() => { const e = document.querySelector(` + jsString(sel) + `); return !!e && e.textContent.includes(` + jsString(want) + `); })()`
	return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(100*time.Millisecond))
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// screenshot writes a full-page PNG into $TEST_OUTPUT_DIR (else the test's
// temp dir) and logs its path.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("TEST_OUTPUT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 is PNG; below it, JPEG
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// The dashboard of a follower of a real 3-node cluster follows the leader:
// it lists the three nodes and the leader, a job submitted through its
// form shows its tasks running without a reload, a job bigger than any
// node shows why it is not placed, a task killed from its panel shows
// KILLED there without a reload, dependent jobs are drawn as a graph, and
// a node is drained and reactivated from its row (the operator API,
// passed to the leader).
func TestDashboardOfAFollowerRunsAJobOnARealCluster(t *testing.T) {
	c := Start(t, Options{N: 3})
	leader := c.Leader(t)
	follower := c.Node((leader.Index + 1) % 3)
	ctx := dashboardBrowser(t)

	// The follower's dashboard asks for a token; the admin token signs in
	// (the session cookie then goes with every request, also those the
	// follower passes on to the leader).
	err := chromedp.Do(ctx,
		chromedp.Navigate(follower.Addr+"/"),
		chromedp.Poll[chromedp.Void](`!document.getElementById("login").hidden`),
		chromedp.SetValue(chromedp.CSS("#login-token"), c.Token()),
		chromedp.Click(chromedp.CSS("#login-submit")),
		untilText("#who", "admin"),
		untilText("#conn", "live"),
		untilText("#nodes-count", "3"),
		untilText("#h-leader", leader.Name),
		untilText("#h-self", follower.Name+" · Follower"),
	)
	if err != nil {
		c.dumpLogs(t, 30)
		t.Fatalf("the follower's dashboard does not show the cluster: %v", err)
	}
	nodes, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#nodes-table tbody")))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		if !strings.Contains(nodes, n.Name) {
			t.Errorf("the nodes table lacks %s:\n%s", n.Name, nodes)
		}
	}

	spec := `{"id":"ui-web","type":"service","cmd":"sleep 300","instances":2,"cpus":0.05,"mem":16}`
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#run-spec"), spec),
		chromedp.Click(chromedp.CSS("#run-submit")),
		untilText("#run-result", "Submitted job ui-web"),
		untilText(`#jobs-table tr[data-job="ui-web"]`, "running 2"),
	)
	if err != nil {
		c.dumpLogs(t, 30)
		t.Fatalf("a job submitted through the follower's dashboard: %v", err)
	}
	if got := len(runningTasks(c, leader.Index, "ui-web")); got != 2 {
		t.Errorf("the leader lists %d running tasks of ui-web, want the 2 the page shows", got)
	}

	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#run-spec"), `{"id":"ui-huge","type":"batch","cmd":"true","instances":1,"cpus":1000,"mem":16}`),
		chromedp.Click(chromedp.CSS("#run-submit")),
		untilText("#run-result", "Submitted job ui-huge"),
		untilText("tr.pending-row", "cpus"),
	)
	if err != nil {
		c.dumpLogs(t, 30)
		t.Fatalf("the reason an oversized job waits: %v", err)
	}
	reason, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("tr.pending-row")))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pending reason shown: %q", reason)
	screenshot(t, ctx, "dashboard-follower")

	// Kill one of ui-web's tasks from its panel: the panel follows it to
	// KILLED through the event stream, with no reload.
	victim := runningTasks(c, leader.Index, "ui-web")[0]
	row := `#tasks-table tr[data-id="` + victim + `"]`
	err = chromedp.Do(ctx,
		untilText(row, "running"),
		chromedp.Click(chromedp.CSS(row)),
		untilText("#panel-title", victim),
		untilText("#panel-facts", "running"),
		chromedp.Click(chromedp.CSS("#panel-kill")),
		untilText("#panel-facts", "killed"),
		untilText("#panel-history tbody", "killed"),
	)
	if err != nil {
		c.dumpLogs(t, 30)
		t.Fatalf("kill task %s from its panel: %v", victim, err)
	}
	if st := taskState(c, leader.Index, victim); st != api.TaskKilled {
		t.Errorf("the leader has task %s in %s, want the TASK_KILLED the page shows", victim, st)
	}
	screenshot(t, ctx, "dashboard-task-killed")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#panel-close"))); err != nil {
		t.Fatal(err)
	}

	// Dependent jobs, submitted through the form, are drawn as a graph.
	for _, spec := range []string{
		`{"id":"ui-parent","type":"batch","cmd":"true","instances":1,"cpus":0.05,"mem":16}`,
		`{"id":"ui-child","type":"batch","cmd":"true","instances":1,"cpus":0.05,"mem":16,"parents":["ui-parent"]}`,
	} {
		err = chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS("#run-spec"), spec),
			chromedp.Click(chromedp.CSS("#run-submit")),
			untilText("#run-result", "Submitted job ui-"),
		)
		if err != nil {
			t.Fatalf("submit %s: %v", spec, err)
		}
	}
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`#jobs-dag g.dag-node[data-job="ui-child"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#jobs-dag path.dag-edge[data-from="ui-parent"][data-to="ui-child"]`)),
	)
	if err != nil {
		c.dumpLogs(t, 30)
		t.Fatalf("the graph of ui-parent and ui-child: %v", err)
	}

	// Drain the follower from its row, then put it back in service.
	nodeRow := `#nodes-table tr[data-node="` + follower.ID + `"]`
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="Drain node `+follower.Name+`"]`)),
		untilText(nodeRow+" td:nth-child(3)", "draining"),
	)
	if err != nil {
		c.dumpLogs(t, 30)
		t.Fatalf("drain %s from the dashboard: %v", follower.Name, err)
	}
	if st := nodeState(c, leader.Index, follower.ID); st != "draining" {
		t.Errorf("the leader has %s %q, want the draining the page shows", follower.Name, st)
	}
	screenshot(t, ctx, "dashboard-node-draining")
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="Reactivate node `+follower.Name+`"]`)),
		untilText(nodeRow+" td:nth-child(3)", "ready"),
	)
	if err != nil {
		c.dumpLogs(t, 30)
		t.Fatalf("reactivate %s from the dashboard: %v", follower.Name, err)
	}
}

// taskState is task id's state as node i reports it ("" if unknown).
func taskState(c *Cluster, i int, id string) string {
	tasks, err := c.Tasks(i)
	if err != nil {
		return ""
	}
	for _, task := range tasks {
		if task.ID == id {
			return task.State
		}
	}
	return ""
}

// nodeState is node id's state as node i reports it ("" if unknown).
func nodeState(c *Cluster, i int, id string) string {
	nodes, err := c.APINodes(i)
	if err != nil {
		return ""
	}
	for _, n := range nodes {
		if n.ID == id {
			return n.State
		}
	}
	return ""
}
