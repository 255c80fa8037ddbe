package web

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clusterd/clusterd/web/api"
)

// The dashboard's reads come gzipped and decode to the same JSON; other
// clients and the event stream get plain bodies as before.
func TestDashboardReadsAreGzippedAndOthersAreNot(t *testing.T) {
	fb := newFakeBackend()
	sampleCluster(fb)
	srv := httptest.NewServer(NewHandler(Config{Backend: fb}))
	t.Cleanup(srv.Close)
	get := func(path string, dashboard bool) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Set by hand, so the client hands the body over undecoded.
		req.Header.Set("Accept-Encoding", "gzip")
		if dashboard {
			req.Header.Set(ProxyHeader, "1")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	resp := get("/v1/nodes", true)
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
		t.Fatalf("the dashboard's GET /v1/nodes has Content-Encoding %q, want gzip", ce)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatalf("the body is not gzip: %v", err)
	}
	var nodes []api.Node
	if err := json.NewDecoder(zr).Decode(&nodes); err != nil || len(nodes) != 2 {
		t.Fatalf("the gzipped nodes decode to %d nodes (%v), want 2", len(nodes), err)
	}
	if ce := get("/app.js", false).Header.Get("Content-Encoding"); ce != "gzip" {
		t.Errorf("app.js has Content-Encoding %q, want gzip", ce)
	}
	if ce := get("/v1/nodes", false).Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("a plain client's GET /v1/nodes has Content-Encoding %q, want none", ce)
	}
	logs := get("/v1/tasks/web.0.a1/logs?stream=stdout", true)
	body, _ := io.ReadAll(logs.Body)
	if ce := logs.Header.Get("Content-Encoding"); ce != "" || string(body) != "Serving HTTP on 0.0.0.0 port 31000 ...\n" {
		t.Errorf("a log read has Content-Encoding %q and body %q, want the plain log", ce, body)
	}
}
