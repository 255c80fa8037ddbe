package web

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clusterd/clusterd/web/api"
)

// dashboardWithOperator serves fb with its Mesos operator API (where nodes
// are drained) and opens the dashboard on it.
func dashboardWithOperator(t *testing.T, fb *fakeBackend) (context.Context, *dialogs) {
	t.Helper()
	srv := httptest.NewServer(NewHandler(Config{Backend: fb, Mesos: fakeOperator{fb}}))
	t.Cleanup(srv.Close)
	ctx, d := newBrowserDialogs(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), waitText("#jobs-table tbody", "bigbatch"), waitText("#conn", "live")); err != nil {
		t.Fatalf("render the dashboard: %v", err)
	}
	return ctx, d
}

// evalInt runs a JavaScript expression that yields a number.
func evalInt(ctx context.Context, t *testing.T, js string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return n
}

func lastDialog(d *dialogs) string {
	seen := d.seen()
	if len(seen) == 0 {
		return ""
	}
	return seen[len(seen)-1]
}

// A node is drained from its row, after a confirmation that says what
// happens; declining sends nothing. The row then shows it draining and
// offers to reactivate it. Each resource shows total, allocated and used.
func TestDashboardDrainsAndReactivatesANode(t *testing.T) {
	fb := newFakeBackend()
	sampleCluster(fb)
	ctx, d := dashboardWithOperator(t, fb)
	row := `#nodes-table tr[data-node="n-1"]`

	// Capacity vs allocated vs used: the bar's fill is the allocation
	// (1 of 8 cores), its inner bar the measured use (0.4 of 8).
	if w := evalInt(ctx, t, `Math.round(parseFloat(document.querySelector('`+row+` td:nth-child(5) .bar.cap .fill').style.width))`); w != 13 {
		t.Errorf("n-1's CPU allocation bar is %d%% wide, want 13 (1 of 8 cores)", w)
	}
	if w := evalInt(ctx, t, `Math.round(parseFloat(document.querySelector('`+row+` td:nth-child(5) .bar.cap .used').style.width))`); w != 5 {
		t.Errorf("n-1's CPU use bar is %d%% wide, want 5 (0.4 of 8 cores)", w)
	}
	if cell := text(ctx, t, row+" td:nth-child(6)"); !strings.Contains(cell, "512 MiB / 16 GiB") || !strings.Contains(cell, "used 300 MiB") {
		t.Errorf("n-1's memory cell is %q, want allocated / total and used", cell)
	}
	if n := evalInt(ctx, t, `document.querySelectorAll('#nodes-table tr[data-node="n-2"] .bar.cap .used').length`); n != 0 {
		t.Errorf("n-2 reports no use but shows %d use bars", n)
	}
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#dag-wrap").hidden`)); err != nil || !hidden {
		t.Errorf("the dependency graph shows (%v) though no job has parents", err)
	}

	d.declineNext()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[aria-label="Drain node ip-10-0-1-5"]`))); err != nil {
		t.Fatalf("click drain: %v", err)
	}
	if msg := lastDialog(d); !strings.Contains(msg, "Drain node ip-10-0-1-5?") || !strings.Contains(msg, "2 tasks will be killed") {
		t.Errorf("the drain asked %q, want a confirmation naming the node and its tasks", msg)
	}
	if calls := fb.operatorCallsSeen(); len(calls) != 0 {
		t.Fatalf("a declined drain reached the backend: %v", calls)
	}

	err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="Drain node ip-10-0-1-5"]`)),
		waitText(row+" td:nth-child(3)", "draining"),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Reactivate node ip-10-0-1-5"]`)),
	)
	if err != nil {
		t.Fatalf("drain n-1: %v", err)
	}
	if calls := fb.operatorCallsSeen(); !slices.Equal(calls, []string{"DRAIN_AGENT n-1"}) {
		t.Errorf("the backend got %v, want one DRAIN_AGENT of n-1", calls)
	}
	if n := evalInt(ctx, t, `document.querySelectorAll('button[aria-label="Drain node ip-10-0-1-5"]').length`); n != 0 {
		t.Errorf("a draining node still offers to drain it")
	}

	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="Reactivate node ip-10-0-1-5"]`)),
		waitText(row+" td:nth-child(3)", "ready"),
	)
	if err != nil {
		t.Fatalf("reactivate n-1: %v", err)
	}
	if msg := lastDialog(d); !strings.Contains(msg, "Put node ip-10-0-1-5 back in service?") {
		t.Errorf("the reactivation asked %q", msg)
	}
	if got := fb.nodeState("n-1"); got != "ready" {
		t.Errorf("after reactivating, n-1 is %q in the backend", got)
	}

	// A refusal of the leader is shown as it words it.
	fb.mu.Lock()
	fb.nodes[1].ID = "n-gone" // the page still knows it as n-2
	fb.mu.Unlock()
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="Reactivate node ip-10-0-2-9"]`)),
		waitText("#toast.bad", "No agent found with specified ID 'n-2'"),
	)
	if err != nil {
		t.Fatalf("a refused reactivation: %v", err)
	}

	// The filter narrows the list (by state, zone, name).
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#node-filter"), "us-east-1b"),
		waitText("#node-page-info", "1–1 of 1 (of 2)"),
	)
	if err != nil {
		t.Fatalf("filter the nodes: %v", err)
	}
	if rows := text(ctx, t, "#nodes-table tbody"); strings.Contains(rows, "ip-10-0-1-5") || !strings.Contains(rows, "ip-10-0-2-9") {
		t.Errorf("filtering by zone us-east-1b shows %q", rows)
	}
}

// The frameworks and roles card shows each role's weight, quota and
// weighted dominant share as a bar, and each framework's share, tasks and
// outstanding offers, from GET /v1/roles.
func TestDashboardShowsRolesAndFrameworkShares(t *testing.T) {
	fb := newFakeBackend()
	sampleCluster(fb)
	fb.roles = []api.Role{
		{Name: "*", Weight: 1, Allocated: api.Resources{CPUs: 4, Mem: 2048}, Offered: api.Resources{CPUs: 2, Mem: 1024}, DominantShare: 0.25,
			Frameworks: []api.FrameworkShare{{ID: "fw-jobs", Name: "clusterd-jobs", Connected: true, DominantShare: 0.25,
				Allocated: api.Resources{CPUs: 4, Mem: 2048}, Offered: api.Resources{CPUs: 2, Mem: 1024}, Offers: 2, Tasks: 3}}},
		{Name: "analytics", Weight: 2, Quota: &api.Resources{CPUs: 8, Mem: 16384}, Allocated: api.Resources{CPUs: 1.6, Mem: 512}, DominantShare: 0.05,
			Frameworks: []api.FrameworkShare{{ID: "fw-spark", Name: "spark", DominantShare: 0.1, Allocated: api.Resources{CPUs: 1.6, Mem: 512}, Tasks: 1}}},
	}
	ctx, _ := dashboardWithOperator(t, fb)
	if err := chromedp.Do(ctx, waitText("#frameworks-table tbody", "spark")); err != nil {
		t.Fatalf("render the roles: %v", err)
	}
	expect := func(sel string, want ...string) {
		t.Helper()
		got := strings.Join(strings.Fields(text(ctx, t, sel)), " ")
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q: %q", sel, w, got)
			}
		}
	}
	expect(`#roles-table tr[data-role="*"]`, "25%", "none", "4 cpu, 2 GiB", "2 cpu, 1 GiB")
	expect(`#roles-table tr[data-role="analytics"]`, "analytics 2", "8 cpu, 16 GiB", "5%", "1.6 cpu, 512 MiB")
	expect(`#frameworks-table tr[data-framework="fw-jobs"]`, "clusterd-jobs", "connected", "25% 3 2 2 cpu, 1 GiB")
	expect(`#frameworks-table tr[data-framework="fw-spark"]`, "spark", "analytics", "disconnected", "10% 1 0")
	if w := evalInt(ctx, t, `Math.round(parseFloat(document.querySelector('#roles-table tr[data-role="*"] .bar .fill').style.width))`); w != 25 {
		t.Errorf("the * role's share bar is %d%% wide, want 25", w)
	}
}

// Jobs with parents are drawn as a layered graph: one box per job (and per
// parent that is no job), one edge per dependency, each job in the layer
// after its deepest parent, colored by its state; a click opens the job.
func TestDashboardDrawsTheDAGOfDependentJobs(t *testing.T) {
	fb := newFakeBackend()
	sampleCluster(fb)
	batch := func(id, state string, parents ...string) api.Job {
		return api.Job{JobSpec: api.JobSpec{ID: id, Type: api.JobBatch, Cmd: "./" + id, Instances: 1, CPUs: 0.1, Mem: 32, Parents: parents},
			Version: 1, State: state, Tasks: map[string]int{}}
	}
	fb.mu.Lock()
	for _, j := range []api.Job{
		batch("extract", api.JobStateComplete),
		batch("transform", api.JobStateRunning, "extract"),
		batch("load", api.JobStateWaiting, "transform"),
		batch("report", api.JobStateWaiting, "transform", "extract"),
		batch("cleanup", api.JobStateWaiting, "ghost"), // a parent that was deleted
	} {
		fb.jobs[j.ID] = j
	}
	fb.mu.Unlock()
	ctx, _ := dashboardWithOperator(t, fb)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#jobs-dag g.dag-node[data-job="report"]`))); err != nil {
		t.Fatalf("draw the graph: %v", err)
	}
	if n := evalInt(ctx, t, `document.querySelectorAll("#jobs-dag g.dag-node").length`); n != 6 {
		t.Errorf("the graph has %d nodes, want 6 (5 jobs and the missing parent)", n)
	}
	if n := evalInt(ctx, t, `document.querySelectorAll("#jobs-dag path.dag-edge").length`); n != 5 {
		t.Errorf("the graph has %d edges, want 5", n)
	}
	if n := evalInt(ctx, t, `document.querySelectorAll('#jobs-dag path.dag-edge[data-from="extract"][data-to="report"]').length`); n != 1 {
		t.Errorf("no edge from extract to report")
	}
	x := func(id string) int {
		return evalInt(ctx, t, `document.querySelector('#jobs-dag g.dag-node[data-job="`+id+`"]').getCTM().e`)
	}
	if e, tr, l, r := x("extract"), x("transform"), x("load"), x("report"); !(e < tr && tr < l && l == r) {
		t.Errorf("layers by x: extract %d, transform %d, load %d, report %d; want extract < transform < load = report", e, tr, l, r)
	}
	if x("ghost") != x("extract") || x("cleanup") != x("transform") {
		t.Errorf("the missing parent and its child are not in the first two layers")
	}
	classOf := func(id string) string {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#jobs-dag g.dag-node[data-job="`+id+`"]').getAttribute("class")`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if c := classOf("extract"); !strings.Contains(c, "js-complete") {
		t.Errorf("extract's box has class %q, want its state js-complete", c)
	}
	if c := classOf("ghost"); !strings.Contains(c, "missing") {
		t.Errorf("ghost's box has class %q, want missing", c)
	}
	// Jobs without dependencies (web, bigbatch) stay out of the graph.
	if n := evalInt(ctx, t, `document.querySelectorAll('#jobs-dag g.dag-node[data-job="web"]').length`); n != 0 {
		t.Errorf("web, which has no parents or children, is in the graph")
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#jobs-dag g.dag-node[data-job="load"]`)), waitText(`tr[data-detail="load"]`, "transform")); err != nil {
		t.Fatalf("clicking a job in the graph does not open it: %v", err)
	}

	// A state change recolors the graph without a reload.
	fb.mu.Lock()
	j := fb.jobs["load"]
	j.State = api.JobStateFailed
	fb.jobs["load"] = j
	fb.mu.Unlock()
	fb.emit(api.Event{Kind: "state", Index: 7})
	poll := chromedp.Poll[chromedp.Void](`document.querySelector('#jobs-dag g.dag-node[data-job="load"]').classList.contains("js-failed")`,
		chromedp.WithPollingInterval(50*time.Millisecond))
	if err := chromedp.Do(ctx, poll); err != nil {
		t.Fatalf("the graph does not follow a job's state: %v", err)
	}
}

// The editor finds a JSON syntax error before anything is sent and says
// where (line and column, the line marked beside the text); as the user
// types it re-checks; a field the server refuses is named and its line
// marked.
func TestDashboardEditorShowsErrorsInline(t *testing.T) {
	fb := newFakeBackend()
	sampleCluster(fb)
	ctx, d := dashboardWithOperator(t, fb)

	missingComma := "{\n  \"id\": \"x\",\n  \"type\": \"batch\"\n  \"cmd\": \"true\"\n}"
	err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#run-spec"), missingComma),
		chromedp.Click(chromedp.CSS("#run-submit")),
		waitText("#run-result.bad", "JSON syntax error"),
	)
	if err != nil {
		t.Fatalf("submit malformed JSON: %v", err)
	}
	if got := text(ctx, t, "#run-result"); !strings.Contains(got, "line 4, column 3") || !strings.Contains(got, "expected ',' or '}'") {
		t.Errorf("the syntax error reads %q, want line 4, column 3 and what was expected", got)
	}
	if got := text(ctx, t, "#run-gutter .err"); got != "4" {
		t.Errorf("the gutter marks line %q, want 4", got)
	}
	if len(d.seen()) != 0 || fb.submittedCount() != 0 {
		t.Errorf("malformed JSON was offered for submission (dialogs %v) or sent (%d)", d.seen(), fb.submittedCount())
	}

	// Typing re-checks: a fix clears the error, a new slip shows again.
	input := func(v string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`(() => { const t = document.querySelector("#run-spec"); t.value = ` + jsonQuote(v) + `; t.dispatchEvent(new Event("input")); })()`)
	}
	clear := chromedp.Poll[chromedp.Void](`!document.querySelector("#run-result").classList.contains("bad") && !document.querySelector("#run-gutter .err")`,
		chromedp.WithPollingInterval(50*time.Millisecond))
	err = chromedp.Do(ctx,
		input(strings.Replace(missingComma, `"batch"`, `"batch",`, 1)), clear,
		input(`{"id": "x", 'type': "batch"}`), waitText("#run-result.bad", "line 1, column 13"),
	)
	if err != nil {
		t.Fatalf("live checking: %v", err)
	}
	if got := text(ctx, t, "#run-result"); !strings.Contains(got, "double quotes") {
		t.Errorf("single quotes are reported as %q", got)
	}

	// The server's refusal names the field and marks its line.
	bad := "{\n  \"id\": \"x\",\n  \"type\": \"batch\",\n  \"cmd\": \"true\",\n  \"instances\": 1,\n  \"cpus\": 0,\n  \"mem\": 32\n}"
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#run-spec"), bad),
		chromedp.Click(chromedp.CSS("#run-submit")),
		chromedp.WaitVisible(chromedp.CSS("#run-result.bad .field")),
	)
	if err != nil {
		t.Fatalf("submit a spec the server refuses: %v", err)
	}
	if f, loc := text(ctx, t, "#run-result .field"), text(ctx, t, "#run-result .loc"); f != "cpus" || loc != "line 6" {
		t.Errorf("the refusal names field %q at %q, want cpus at line 6", f, loc)
	}
	if got := text(ctx, t, "#run-gutter .err"); got != "6" {
		t.Errorf("the gutter marks line %q, want 6", got)
	}
	if msg := lastDialog(d); msg != "Submit new job x?" {
		t.Errorf("the submit asked %q", msg)
	}
	sel, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const t = document.querySelector("#run-spec"); return t.value.slice(t.selectionStart, t.selectionEnd); })()`))
	if err != nil || sel != `"cpus"` {
		t.Errorf("the editor selects %q (%v), want the field's name", sel, err)
	}
	if n := fb.submittedCount(); n != 0 {
		t.Errorf("a refused spec reached the backend")
	}
}

// jsonQuote quotes s as a JavaScript string literal.
func jsonQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// An existing job's spec is loaded into the editor (without the status the
// API adds), changed and submitted as an update after a confirmation.
func TestDashboardEditsAnExistingJob(t *testing.T) {
	fb := newFakeBackend()
	sampleCluster(fb)
	ctx, d := dashboardWithOperator(t, fb)

	err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#jobs-table tr[data-job="web"] td:first-child`)),
		chromedp.Click(chromedp.CSS("#edit-web")),
		waitText("#run-title", "Update job web"),
		waitText("#run-submit", "Update"),
	)
	if err != nil {
		t.Fatalf("edit web: %v", err)
	}
	spec, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#run-spec").value`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(spec, `"id": "web"`) || !strings.Contains(spec, `"instances": 2`) {
		t.Errorf("the editor holds %q, want web's spec", spec)
	}
	for _, status := range []string{`"version"`, `"state"`, `"tasks"`, `"created_at"`} {
		if strings.Contains(spec, status) {
			t.Errorf("the editor holds the status field %s, which an update refuses", status)
		}
	}

	changed := strings.Replace(strings.Replace(spec, `"instances": 2`, `"instances": 4`, 1), `"mem": 256`, `"mem": 512`, 1)
	d.declineNext()
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#run-spec"), changed),
		chromedp.Click(chromedp.CSS("#run-submit")),
		waitText("#run-result", "Not submitted"),
	)
	if err != nil {
		t.Fatalf("decline the update: %v", err)
	}
	if msg := lastDialog(d); !strings.Contains(msg, "Update job web (now version 3)?") || !strings.Contains(msg, "rolling update") {
		t.Errorf("the update asked %q", msg)
	}
	if n := fb.submittedCount(); n != 0 {
		t.Fatalf("a declined update reached the backend")
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#run-submit")),
		waitText("#run-result.ok", "Updated job web to version 4"),
		waitText(`#jobs-table tr[data-job="web"] td:nth-child(3)`, "4"),
	)
	if err != nil {
		t.Fatalf("update web: %v", err)
	}
	fb.mu.Lock()
	got := fb.submitted[len(fb.submitted)-1]
	fb.mu.Unlock()
	if got.ID != "web" || got.Instances != 4 || got.Mem != 512 || got.Cmd != "python3 -m http.server $PORT0" || got.Ports != 1 {
		t.Errorf("the backend got %+v, want web with 4 instances of 512 MiB and its command and ports kept", got)
	}
	// Back to a new job: the form says so again.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#run-new")), waitText("#run-title", "Run job"), waitText("#run-submit", "Submit")); err != nil {
		t.Fatalf("leave the update: %v", err)
	}
}
