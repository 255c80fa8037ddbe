package web

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// visible waits until the element with id is shown.
func visible(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`(() => { const e = document.getElementById(` + jsonQuote(id) + `); return !!e && !e.hidden; })()`)
}

func evalBool(ctx context.Context, t *testing.T, js string) bool {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func signIn(ctx context.Context, t *testing.T, token string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#login-token"), token),
		chromedp.Click(chromedp.CSS("#login-submit")),
	)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
}

// A dashboard on a cluster that checks tokens shows nothing until it is
// given one, refuses a wrong one with the server's reason, keeps the token
// out of the page's reach (an HttpOnly cookie), shows what the token may
// do, refuses what a read token may not, and signs out.
func TestDashboardAsksForATokenAndSignsInAndOut(t *testing.T) {
	fb := newFakeBackend()
	sampleCluster(fb)
	srv := httptest.NewServer(NewHandler(Config{Backend: fb, Auth: tokenAuth{"cdk1-reader": ScopeRead, "cdk1-admin": ScopeAdmin}}))
	t.Cleanup(srv.Close)
	ctx, _ := newBrowserDialogs(t)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), visible("login")); err != nil {
		t.Fatalf("the dashboard did not ask for a token: %v", err)
	}
	if jobs := text(ctx, t, "#jobs-table tbody"); strings.Contains(jobs, "bigbatch") {
		t.Fatalf("jobs shown before signing in: %q", jobs)
	}

	signIn(ctx, t, "cdk1-wrong")
	if err := chromedp.Do(ctx, visible("login-error"), waitText("#login-error", "sign-in refused")); err != nil {
		t.Fatalf("a wrong token: no refusal shown: %v", err)
	}

	signIn(ctx, t, "cdk1-reader")
	err := chromedp.Do(ctx,
		waitText("#jobs-table tbody", "bigbatch"),
		waitText("#conn", "live"),
		visible("who"),
		waitText("#who", "read"),
	)
	if err != nil {
		t.Fatalf("after signing in: %v", err)
	}
	if evalBool(ctx, t, `!document.getElementById("login").hidden`) {
		t.Error("the sign-in form is still shown after signing in")
	}
	if evalBool(ctx, t, `document.cookie.includes("cdk1-")`) {
		t.Error("the page's scripts can read the token from document.cookie")
	}

	// A read token cannot kill a task: the dashboard says why.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#tasks-table tr[data-id="web.0.a1"]`)),
		visible("panel-kill"),
		chromedp.Click(chromedp.CSS("#panel-kill")),
		waitText("#toast", "needs a write token"),
	)
	if err != nil {
		t.Fatalf("kill with a read token: %v", err)
	}
	fb.mu.Lock()
	killed := len(fb.killed)
	fb.mu.Unlock()
	if killed != 0 {
		t.Fatalf("a read token killed %d tasks", killed)
	}

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#logout")), visible("login")); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	// Signed out means signed out: a reload asks again.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), visible("login")); err != nil {
		t.Fatalf("after signing out and reloading: %v", err)
	}
}
