package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/web/api"
)

// twoNodes serves a leader and a follower that names it, each from its own
// fake backend, so an answer says which node gave it.
func twoNodes(t *testing.T) (leader, follower *fakeBackend, followerURL string) {
	leader, follower = newFakeBackend(), newFakeBackend()
	leader.status.ClusterID, follower.status.ClusterID = "from-leader", "from-follower"
	leader.roles = []api.Role{{Name: "from-leader"}}
	follower.roles = []api.Role{{Name: "from-follower"}}
	ls := httptest.NewServer(NewHandler(Config{Backend: leader}))
	t.Cleanup(ls.Close)
	follower.leaderAddr = strings.TrimPrefix(ls.URL, "http://")
	fs := httptest.NewServer(NewHandler(Config{Backend: follower}))
	t.Cleanup(fs.Close)
	return leader, follower, fs.URL
}

func TestAFollowerPassesTheDashboardsRequestsToTheLeader(t *testing.T) {
	leader, follower, url := twoNodes(t)
	send := func(method, path, body string, proxy bool) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		if proxy {
			req.Header.Set(ProxyHeader, "1")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	var roles []api.Role
	expectJSON(t, send("GET", "/v1/roles", "", true), 200, &roles)
	if len(roles) != 1 || roles[0].Name != "from-leader" {
		t.Errorf("roles through the follower came from %+v, want the leader", roles)
	}
	expectJSON(t, send("GET", "/v1/roles", "", false), 200, &roles)
	if len(roles) != 1 || roles[0].Name != "from-follower" {
		t.Errorf("without the header the follower answered with %+v, want its own", roles)
	}
	// The status says which node answers: the dashboard's "this node".
	var st api.Status
	expectJSON(t, send("GET", "/v1/status", "", true), 200, &st)
	if st.ClusterID != "from-follower" {
		t.Errorf("status with the header came from %q, want the follower itself", st.ClusterID)
	}
	// A write with its body reaches the leader, not the follower.
	resp := send("POST", "/v1/jobs", `{"id":"web","type":"service","cmd":"sleep 1","instances":1,"cpus":0.1,"mem":16}`, true)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit through the follower: status %d, want 201", resp.StatusCode)
	}
	if leader.submittedCount() != 1 || follower.submittedCount() != 0 {
		t.Errorf("submits: leader %d, follower %d; want the leader's only", leader.submittedCount(), follower.submittedCount())
	}
}

func TestTwoNodesThatEachNameTheOtherDoNotLoop(t *testing.T) {
	leader, _, url := twoNodes(t)
	leader.leaderAddr = strings.TrimPrefix(url, "http://") // it thinks the follower leads
	req, _ := http.NewRequest("GET", url+"/v1/roles", nil)
	req.Header.Set(ProxyHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var roles []api.Role
	expectJSON(t, resp, 200, &roles)
	if len(roles) != 1 || roles[0].Name != "from-leader" {
		t.Errorf("answered with %+v, want the node the request was passed to, once", roles)
	}
}

func TestALeaderThatDoesNotAnswerIsABadGateway(t *testing.T) {
	follower := newFakeBackend()
	follower.leaderAddr = "127.0.0.1:1" // nothing listens
	fs := httptest.NewServer(NewHandler(Config{Backend: follower}))
	t.Cleanup(fs.Close)
	req, _ := http.NewRequest("GET", fs.URL+"/v1/jobs", nil)
	req.Header.Set(ProxyHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	expectError(t, resp, http.StatusBadGateway, "", "pass the request to the leader at 127.0.0.1:1")
}

// A ?consistent read is answered only by the leader: a follower, whose
// replica may lag, sends it there (307), and a plain read it answers
// itself.
func TestAConsistentReadGoesToTheLeader(t *testing.T) {
	leader, follower, url := twoNodes(t)
	leader.jobs["j"] = api.Job{JobSpec: api.JobSpec{ID: "j", Cmd: "new"}}
	follower.jobs["j"] = api.Job{JobSpec: api.JobSpec{ID: "j", Cmd: "old"}}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/v1/jobs/j?consistent", "/v1/jobs?consistent"} {
		resp, err := noFollow.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(resp.Header.Get("Location"), follower.leaderAddr) {
			t.Fatalf("GET %s on a follower: %d to %q, want 307 to the leader %s", path, resp.StatusCode, resp.Header.Get("Location"), follower.leaderAddr)
		}
	}
	resp, err := http.Get(url + "/v1/jobs/j?consistent")
	if err != nil {
		t.Fatal(err)
	}
	var job api.Job
	expectJSON(t, resp, http.StatusOK, &job)
	if job.Cmd != "new" {
		t.Fatalf("a consistent read, followed to the leader, returned cmd %q, want the leader's %q", job.Cmd, "new")
	}
	resp, err = noFollow.Get(url + "/v1/jobs/j")
	if err != nil {
		t.Fatal(err)
	}
	expectJSON(t, resp, http.StatusOK, &job)
	if job.Cmd != "old" {
		t.Fatalf("a plain read on a follower returned cmd %q, want its own replica's %q", job.Cmd, "old")
	}
}
