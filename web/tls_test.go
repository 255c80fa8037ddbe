package web

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/web/api"
)

// A node on certificates takes requests from other machines only over TLS:
// API calls over plain HTTP are refused before their token is looked at,
// the dashboard's page is sent to https, /health stays open; the CLI on
// the machine itself (loopback) and any TLS client are served.
func TestPlainHTTPFromAnotherMachineIsRefusedWhenTLSIsRequired(t *testing.T) {
	fb := newFakeBackend()
	sampleCluster(fb)
	required := true
	cfg := Config{Backend: fb, Auth: tokenAuth{"r": ScopeRead}, TLSRequired: func() bool { return required }}
	h := NewHandler(cfg)
	send := func(method, path, remote string, overTLS bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://10.0.1.5:5050"+path, nil)
		req.RemoteAddr = remote
		req.Header.Set("Authorization", "Bearer r")
		if overTLS {
			req.TLS = &tls.ConnectionState{}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, path := range []string{"/v1/jobs", "/v1/status", "/api/v1/scheduler", "/metrics"} {
		method := "GET"
		if strings.HasPrefix(path, "/api/") {
			method = "POST"
		}
		rec := send(method, path, "10.0.1.9:40000", false)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "https://10.0.1.5:5050") || !strings.Contains(rec.Body.String(), "ca-fingerprint") {
			t.Errorf("%s %s over plain HTTP from another machine: %d %s; want 403 naming https and the CA", method, path, rec.Code, rec.Body.String())
		}
	}
	if rec := send("GET", "/", "10.0.1.9:40000", false); rec.Code != http.StatusPermanentRedirect || rec.Header().Get("Location") != "https://10.0.1.5:5050/" {
		t.Errorf("the dashboard over plain HTTP: %d Location %q; want 308 to https", rec.Code, rec.Header().Get("Location"))
	}
	if rec := send("GET", "/health", "10.0.1.9:40000", false); rec.Code != http.StatusOK {
		t.Errorf("/health over plain HTTP: %d; want 200", rec.Code)
	}
	if rec := send("GET", "/v1/jobs", "127.0.0.1:40000", false); rec.Code != http.StatusOK {
		t.Errorf("from loopback over plain HTTP: %d; want 200", rec.Code)
	}
	// From the node's own address to itself: the CLI on the machine.
	req := httptest.NewRequest("GET", "http://10.0.1.5:5050/v1/jobs", nil)
	req.RemoteAddr = "10.0.1.5:40000"
	req.Header.Set("Authorization", "Bearer r")
	req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.ParseIP("10.0.1.5"), Port: 5050}))
	own := httptest.NewRecorder()
	h.ServeHTTP(own, req)
	if own.Code != http.StatusOK {
		t.Errorf("from the node's own address over plain HTTP: %d; want 200", own.Code)
	}
	rec := send("GET", "/v1/jobs", "10.0.1.9:40000", true)
	var jobs []api.Job
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &jobs) != nil || len(jobs) == 0 {
		t.Errorf("over TLS from another machine: %d %s; want the jobs", rec.Code, rec.Body.String())
	}
	required = false // a cluster without certificates
	if rec := send("GET", "/v1/jobs", "10.0.1.9:40000", false); rec.Code != http.StatusOK {
		t.Errorf("plain HTTP when TLS is not required: %d; want 200", rec.Code)
	}
}

// A follower passes the dashboard's requests to the leader the way the
// node says: here over TLS, with the transport it gives.
func TestAFollowerPassesRequestsToTheLeaderOverTheTransportItIsGiven(t *testing.T) {
	leader, follower := newFakeBackend(), newFakeBackend()
	leader.roles = []api.Role{{Name: "from-leader"}}
	ls := httptest.NewTLSServer(NewHandler(Config{Backend: leader}))
	t.Cleanup(ls.Close)
	follower.leaderAddr = strings.TrimPrefix(ls.URL, "https://")
	fs := httptest.NewServer(NewHandler(Config{Backend: follower, ProxyTransport: ls.Client().Transport,
		ProxyScheme: func() string { return "https://" }}))
	t.Cleanup(fs.Close)
	req, _ := http.NewRequest("GET", fs.URL+"/v1/roles", nil)
	req.Header.Set(ProxyHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var roles []api.Role
	if err := json.NewDecoder(resp.Body).Decode(&roles); err != nil || len(roles) != 1 || roles[0].Name != "from-leader" {
		t.Fatalf("roles through the follower: %v %v; want the TLS leader's", roles, err)
	}
}
