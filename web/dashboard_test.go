package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/clusterd/clusterd/web/api"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// screenshotEnv names a file to which TestDashboardRendersClusterState
// writes a full-page screenshot, for looking at the dashboard by eye.
const screenshotEnv = "CLUSTERD_DASHBOARD_SCREENSHOT"

// newBrowser starts a headless chromium with a fresh profile and returns a
// context for driving one tab, bounded to 90 s. JavaScript exceptions in the
// page fail the test. The page's confirm() dialogs are accepted.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	ctx, _ := newBrowserDialogs(t)
	return ctx
}

// dialogs answers the page's dialogs (every action that changes the
// cluster asks confirm() first) and keeps their messages. It accepts them,
// but the next one after declineNext.
type dialogs struct {
	mu       sync.Mutex
	messages []string
	decline  bool
}

func (d *dialogs) seen() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.messages...)
}

func (d *dialogs) declineNext() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.decline = true
}

// newBrowserDialogs is newBrowser, with the page's dialogs to look at.
func newBrowserDialogs(t *testing.T) (context.Context, *dialogs) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the dashboard test needs a browser at %s: install Debian's chromium (apt-get install -y chromium; scripts/test does this): %v", chromiumPath, err)
	}
	// A bound, not a target: warm, a test takes about 2 s; a cold first
	// start of Chromium beside the rest of the suite on 2 cores took over 25.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)

	// Collect the page's uncaught exceptions and console errors (a CSP
	// violation is one) and fail the test with them at the end.
	var mu sync.Mutex
	var jsErrors []string
	console := chromedp.Console(tabCtx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range console {
			if err != nil {
				return
			}
			// The browser logs every 4xx as a network error; the form test
			// causes one on purpose.
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				mu.Lock()
				jsErrors = append(jsErrors, m.String())
				mu.Unlock()
			}
		}
	}()
	// A dialog blocks the page, and the action that opened it, until it is
	// answered: answer from another goroutine.
	d := &dialogs{}
	opened := chromedp.Events(tabCtx, page.JavascriptDialogOpening)
	dialogsDone := make(chan struct{})
	go func() {
		defer close(dialogsDone)
		for ev, err := range opened {
			if err != nil {
				return
			}
			d.mu.Lock()
			d.messages = append(d.messages, ev.Message)
			accept := !d.decline
			d.decline = false
			d.mu.Unlock()
			if _, err := chromedp.Call(tabCtx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept}); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancelTab()
		<-done
		<-dialogsDone
		mu.Lock()
		defer mu.Unlock()
		for _, e := range jsErrors {
			t.Errorf("dashboard JavaScript error: %s", e)
		}
	})
	return tabCtx, d
}

// waitText waits until the element's text contains want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, want)
	return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond))
}

// text reads the visible text of the first element that matches sel.
func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

func TestDashboardRendersClusterState(t *testing.T) {
	start := time.Now()
	fb := newFakeBackend()
	sampleCluster(fb)
	srv := httptest.NewServer(NewHandler(Config{Backend: fb}))
	t.Cleanup(srv.Close)
	ctx := newBrowser(t) // closes before srv, which waits for the event stream

	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		waitText("#jobs-table tbody", "bigbatch"),
		waitText("#conn", "live"),
	)
	if err != nil {
		t.Fatalf("render the dashboard: %v", err)
	}
	header := text(ctx, t, "header")
	nodes := text(ctx, t, "#nodes-table tbody")
	jobs := text(ctx, t, "#jobs-table tbody")
	tasks := text(ctx, t, "#tasks-table tbody")
	unplaceable := text(ctx, t, "tr.pending-row.unplaceable")
	for _, want := range []string{"c-7f3a", "ip-10-0-1-5"} {
		if !strings.Contains(header, want) {
			t.Errorf("header %q lacks %q", header, want)
		}
	}
	for _, want := range []string{"ip-10-0-1-5", "ip-10-0-2-9", "us-east-1a", "systemd"} {
		if !strings.Contains(nodes, want) {
			t.Errorf("nodes table lacks %q:\n%s", want, nodes)
		}
	}
	for _, want := range []string{"web", "bigbatch"} {
		if !strings.Contains(jobs, want) {
			t.Errorf("jobs table lacks %q:\n%s", want, jobs)
		}
	}
	for _, want := range []string{"no node has 64 cpus: the largest has 8", "insufficient cpus", "2 hosts"} {
		if !strings.Contains(unplaceable, want) {
			t.Errorf("the unplaceable reason row lacks %q: %q", want, unplaceable)
		}
	}
	for _, want := range []string{"web.0.a1", "web.1.b2", "hello.0.c3"} {
		if !strings.Contains(tasks, want) {
			t.Errorf("tasks table lacks %q:\n%s", want, tasks)
		}
	}

	// A bad spec is answered inline, naming the field, and never submitted.
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#run-spec"), `{"id":"x","type":"batch","cmd":"echo hi","instances":1,"cpus":0,"mem":32}`),
		chromedp.Click(chromedp.CSS("#run-submit")),
		chromedp.WaitVisible(chromedp.CSS("#run-result.bad .field")),
	)
	if err != nil {
		t.Fatalf("submit a bad spec: %v", err)
	}
	result := text(ctx, t, "#run-result")
	if !strings.Contains(result, "cpus") || !strings.Contains(result, "must be more than 0") {
		t.Errorf("run form shows %q, want the cpus error", result)
	}
	if n := fb.submittedCount(); n != 0 {
		t.Errorf("a bad spec reached the backend")
	}

	// A state change announced on the event stream shows without a reload.
	fb.mu.Lock()
	fb.jobs["late-arrival"] = api.Job{JobSpec: api.JobSpec{ID: "late-arrival", Type: api.JobBatch, Cmd: "true", Instances: 1, CPUs: 1, Mem: 1}, Version: 1, State: api.JobStateRunning}
	fb.mu.Unlock()
	fb.emit(api.Event{Kind: "state", Index: 99})
	if err := chromedp.Do(ctx, waitText("#jobs-table tbody", "late-arrival")); err != nil {
		t.Fatalf("the dashboard did not refresh on an event: %v", err)
	}

	// Clicking a task opens its history and the tail of its log.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#tasks-table tr[data-id="web.0.a1"]`)),
		waitText("#log", "Serving HTTP on 0.0.0.0 port 31000"),
		waitText("#panel-history tbody", "staging"),
	)
	if err != nil {
		t.Fatalf("open a task: %v", err)
	}
	// Newest first, each with the time since the one before.
	if running := text(ctx, t, `#panel-history tr[data-state="TASK_RUNNING"]`); !strings.Contains(running, "+2s") || !strings.Contains(running, "unit clusterd-web.0.a1.service active") {
		t.Errorf("the RUNNING status in the history reads %q, want +2s after staging and its message", running)
	}
	fb.appendLog("web.0.a1", "stdout", "a line written later\n")
	if err := chromedp.Do(ctx, waitText("#log", "a line written later")); err != nil {
		t.Fatalf("the log tail does not follow: %v", err)
	}

	if path := os.Getenv(screenshotEnv); path != "" {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void]("window.scrollTo(0, 0)")); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond))
}

// What a user sees of the job features and drives from the page: a
// service's roll-out, task health, a cron job's runs and next run, the
// constraints and health checks in a job's detail, scaling a service and
// starting a run, with the server's refusals shown.
func TestDashboardShowsJobProgressAndScalesAndStartsRuns(t *testing.T) {
	fb := newFakeBackend()
	sampleCluster(fb)
	now := time.Now()
	secs := func(f float64) *float64 { return &f }
	healthy, sick, three := true, false, 3
	fb.mu.Lock()
	web := fb.jobs["web"]
	web.Instances, web.State = 3, api.JobStateDeploying
	web.Constraints = []api.Constraint{{Field: "hostname", Operator: "UNIQUE"}, {Field: "zone", Operator: "GROUP_BY", Value: "3", Soft: true}}
	web.HealthChecks = []api.HealthCheck{{Protocol: "HTTP", Path: "/health", IntervalSeconds: secs(10), TimeoutSeconds: secs(5), GracePeriodSeconds: secs(30), MaxConsecutiveFailures: &three}}
	web.Deployment = &api.Deployment{Version: 3, Instances: 3, Updated: 2, Healthy: 1, Old: 1, StartedAt: now.Add(-time.Minute)}
	web.Deployments = []api.DeploymentRecord{
		{Version: 2, State: "succeeded", StartedAt: now.Add(-3 * time.Hour), FinishedAt: now.Add(-3*time.Hour + 40*time.Second)},
		{Version: 3, State: "running", StartedAt: now.Add(-time.Minute)},
	}
	fb.jobs["web"] = web
	for id, h := range map[string]*bool{"web.0.a1": &healthy, "web.1.b2": &sick} {
		task := fb.tasks[id]
		task.Healthy = h
		fb.tasks[id] = task
	}
	fb.jobs["nightly"] = api.Job{JobSpec: api.JobSpec{ID: "nightly", Type: api.JobCron, Cmd: "backup", Instances: 1, CPUs: 0.1, Mem: 32,
		Schedule: "0 2 * * *", TimeZone: "Europe/Berlin", ConcurrencyPolicy: "forbid"},
		Version: 1, State: "scheduled", CreatedAt: now, UpdatedAt: now, NextRun: now.Add(5*time.Hour + 30*time.Minute),
		Runs: []api.Run{
			{Number: 1, Trigger: "schedule", State: "succeeded", StartedAt: now.Add(-26 * time.Hour), FinishedAt: now.Add(-26*time.Hour + time.Minute)},
			{Number: 2, Trigger: "manual", State: "failed", Message: "instance 0 failed after 2 retries: failed: exit code 3",
				StartedAt: now.Add(-2 * time.Hour), FinishedAt: now.Add(-2*time.Hour + 42*time.Second)},
		}}
	fb.mu.Unlock()
	srv := httptest.NewServer(NewHandler(Config{Backend: fb}))
	t.Cleanup(srv.Close)
	ctx, dialogs := newBrowserDialogs(t)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), waitText("#jobs-table tbody", "nightly"), waitText("#conn", "live")); err != nil {
		t.Fatalf("render the dashboard: %v", err)
	}
	jobRow := func(id string) string { return text(ctx, t, `#jobs-table tr[data-job="`+id+`"]`) }
	expect := func(what, got string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q: %q", what, w, got)
			}
		}
	}
	expect("the web row", jobRow("web"), "deploying", "2/3 updated, 1 healthy, 1 old")
	expect("the nightly row", jobRow("nightly"), "scheduled", "run 2", "failed", "next run in 5h")
	expect("task web.0.a1", text(ctx, t, `#tasks-table tr[data-id="web.0.a1"]`), "healthy")
	expect("task web.1.b2", text(ctx, t, `#tasks-table tr[data-id="web.1.b2"]`), "unhealthy")
	if title, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("tr.pending-row.unplaceable .pending-msg"), "title")); err != nil || !strings.Contains(title.Value, "insufficient cpus on 2 hosts") {
		t.Errorf("hovering the pending message shows %q (%v), want the host reasons", title.Value, err)
	}

	// Opening a job shows its settings and its latest roll-outs or runs.
	err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#jobs-table tr[data-job="web"] td:first-child`)),
		waitText(`tr[data-detail="web"]`, "hostname UNIQUE"),
		chromedp.Click(chromedp.CSS(`#jobs-table tr[data-job="nightly"] td:first-child`)),
		waitText(`tr[data-detail="nightly"]`, "0 2 * * *"),
	)
	if err != nil {
		t.Fatalf("open the jobs' details: %v", err)
	}
	expect("web's detail", text(ctx, t, `tr[data-detail="web"]`), "hostname UNIQUE\nzone GROUP_BY 3 (soft)",
		"HTTP :PORT0/health every 10s, timeout 5s, grace 30s, 3 failures in a row", "version 3: 2/3 updated, 1 healthy, 1 old", "succeeded")
	expect("nightly's detail", text(ctx, t, `tr[data-detail="nightly"]`), "Europe/Berlin", "forbid",
		"instance 0 failed after 2 retries: failed: exit code 3", "manual")

	// Scaling sends the count typed, and the answer shows.
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#scale-web"), ""),
		chromedp.SendKeys(chromedp.CSS("#scale-web"), "5"),
		chromedp.Click(chromedp.CSS("#scale-submit-web")),
		waitText("#note-web", "Scaled web to 5 instances"),
		waitText(`#jobs-table tr[data-job="web"] td:nth-child(3)`, "5"),
	)
	if err != nil {
		t.Fatalf("scale web: %v", err)
	}
	instances := func() int {
		fb.mu.Lock()
		defer fb.mu.Unlock()
		return fb.jobs["web"].Instances
	}
	if n := instances(); n != 5 {
		t.Fatalf("after scaling to 5 the backend has %d instances", n)
	}
	asked := dialogs.seen()
	if len(asked) != 1 || asked[0] != "Scale service web from 3 to 5 instances?" {
		t.Errorf("scaling asked %q, want one confirmation from 3 to 5", asked)
	}
	// A declined confirmation scales nothing.
	dialogs.declineNext()
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#scale-web"), "0"),
		chromedp.Click(chromedp.CSS("#scale-submit-web")),
		waitText("#note-web", "Not scaled."),
	)
	if err != nil {
		t.Fatalf("decline a scale: %v", err)
	}
	if msg := dialogs.seen()[1]; !strings.Contains(msg, "0 suspends it") {
		t.Errorf("scaling to 0 asked %q, want it to say the service is suspended", msg)
	}
	if n := instances(); n != 5 {
		t.Fatalf("a declined scale changed the backend to %d instances", n)
	}
	// A count the server refuses is shown with the field it names.
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#scale-web"), "10001"),
		chromedp.Click(chromedp.CSS("#scale-submit-web")),
		waitText("#note-web.bad", "must be between 0 and 10000"),
	)
	if err != nil {
		t.Fatalf("scale web beyond the limit: %v", err)
	}
	expect("the refusal", text(ctx, t, "#note-web .field"), "instances")
	if n := instances(); n != 5 {
		t.Fatalf("a refused scale changed the backend to %d instances", n)
	}

	// Starting a run of a cron job from its row.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="Start a run of job nightly"]`)),
		waitText("#note-nightly", "Started run 3 of nightly"),
		waitText(`tr[data-detail="nightly"] table.runs tbody tr:first-child`, "running"),
	)
	if err != nil {
		t.Fatalf("start a run of nightly: %v", err)
	}
	if asked := dialogs.seen(); !strings.HasPrefix(asked[len(asked)-1], "Start a run of nightly now") {
		t.Errorf("starting a run asked %q", asked[len(asked)-1])
	}
	// A start the server refuses (the job was deleted meanwhile) says why.
	fb.mu.Lock()
	delete(fb.jobs, "nightly")
	fb.mu.Unlock()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#start-nightly")), waitText("#toast.bad", `job "nightly" not found`)); err != nil {
		t.Fatalf("start a run of a deleted job: %v", err)
	}
}
