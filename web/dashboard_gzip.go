package web

import (
	"compress/gzip"
	"net/http"
	"strings"
	"sync"
)

// compressDashboard gzips what the dashboard reads, when the browser
// accepts it: its own files, and the /v1 JSON reads it sends with
// ProxyHeader. JSON of a large cluster shrinks about tenfold, which is what
// keeps the first load of 1,000 nodes and 10,000 tasks under 500 KB
// (docs/BENCHMARKS.md). Streams (events, logs) and snapshots pass as they
// are: they must flush as they go, or are binary already. It sits inside
// followLeader, so a follower passes the leader's compressed answer on
// instead of compressing twice.
func compressDashboard(next http.Handler) http.Handler {
	pool := sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !compressible(r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Accept-Encoding")
		gw := &gzipWriter{ResponseWriter: w, pool: &pool}
		defer gw.close()
		next.ServeHTTP(gw, r)
	})
}

// compressible reports whether r is a dashboard read whose answer may be
// gzipped.
func compressible(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if !acceptsGzip(r.Header.Values("Accept-Encoding")) {
		return false
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1/"):
		// Only the dashboard's reads: other clients keep the answers
		// they always had.
		return r.Header.Get(ProxyHeader) != "" && p != "/v1/events" && p != "/v1/snapshot" && !strings.HasSuffix(p, "/logs")
	case strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/master/") || p == "/metrics" || p == "/health":
		return false
	}
	return true // the dashboard's files
}

func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
				return true
			}
		}
	}
	return false
}

// gzipWriter compresses a response body once its status allows one.
type gzipWriter struct {
	http.ResponseWriter
	pool    *sync.Pool
	gz      *gzip.Writer
	decided bool // WriteHeader was called
	on      bool // the body is gzipped
}

func (w *gzipWriter) WriteHeader(code int) {
	if w.decided {
		return
	}
	w.decided = true
	// 1xx, 204 and 304 have no body; a Content-Encoding set elsewhere
	// (a proxied answer) is kept as it is.
	if code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified && w.Header().Get("Content-Encoding") == "" {
		w.on = true
		h := w.Header()
		h.Set("Content-Encoding", "gzip")
		h.Del("Content-Length")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *gzipWriter) Write(p []byte) (int, error) {
	if !w.decided {
		w.WriteHeader(http.StatusOK)
	}
	if !w.on {
		return w.ResponseWriter.Write(p)
	}
	if w.gz == nil {
		w.gz = w.pool.Get().(*gzip.Writer)
		w.gz.Reset(w.ResponseWriter)
	}
	return w.gz.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *gzipWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// close ends the gzip stream (an empty one when nothing was written).
func (w *gzipWriter) close() {
	if !w.on {
		return
	}
	if w.gz == nil {
		w.gz = w.pool.Get().(*gzip.Writer)
		w.gz.Reset(w.ResponseWriter)
	}
	_ = w.gz.Close() // the client went away: nothing to tell it
	w.gz.Reset(nil)
	w.pool.Put(w.gz)
	w.gz = nil
}
