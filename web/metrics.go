package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics counts and times requests by route pattern (never the raw
// path, which would give one series per task id) and status code. The
// route always starts with the method: most patterns name theirs
// ("GET /v1/jobs/{id}"); for those that take any method (the Mesos API,
// the dashboard, the 405 fallbacks) the request's is put in front
// ("POST /api/v1/scheduler").
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clusterd_http_requests_total",
			Help: "HTTP requests answered, by route (method and pattern) and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "clusterd_http_request_duration_seconds",
			Help: "Time to answer HTTP requests, by route (method and pattern) and status code. Streams (events, followed logs) count their whole life.",
			// Default buckets plus longer ones for streams.
			Buckets: slices.Concat(prometheus.DefBuckets, []float64{30, 120, 600}),
		}, []string{"route", "code"}),
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	return m
}

// register registers c, or returns the collector already registered under
// its name, so that two handlers may share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("web: register HTTP metrics: " + err.Error())
	}
	return c
}

func (m *httpMetrics) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		// ServeMux sets r.Pattern on this same request when it routes it.
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		code := sw.status
		if code == 0 {
			code = http.StatusOK
		}
		labels := prometheus.Labels{"route": routeLabel(r.Method, route), "code": strconv.Itoa(code)}
		m.requests.With(labels).Inc()
		m.duration.With(labels).Observe(time.Since(start).Seconds())
	})
}

// routeLabel puts the method in front of a pattern that has none. Methods
// other than the standard ones are "OTHER": a client may send any token as
// its method, and each would be a new series.
func routeLabel(method, pattern string) string {
	if pattern == "unmatched" || strings.Contains(pattern, " ") {
		return pattern
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
	default:
		method = "OTHER"
	}
	return method + " " + pattern
}

// statusWriter records the status code. Unwrap lets http.ResponseController
// reach the underlying writer's Flush and deadlines.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
