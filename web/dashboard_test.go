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

	"github.com/chromedp/chromedp"

	"github.com/clusterd/clusterd/web/api"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// screenshotEnv names a file to which TestDashboardRendersClusterState
// writes a full-page screenshot, for looking at the dashboard by eye.
const screenshotEnv = "CLUSTERD_DASHBOARD_SCREENSHOT"

// newBrowser starts a headless chromium with a fresh profile and returns a
// context for driving one tab, bounded to 30 s. JavaScript exceptions in the
// page fail the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the dashboard test needs a browser at %s: install Debian's chromium (apt-get install -y chromium; scripts/test does this): %v", chromiumPath, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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
	t.Cleanup(func() {
		cancelTab()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, e := range jsErrors {
			t.Errorf("dashboard JavaScript error: %s", e)
		}
	})
	return tabCtx
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
