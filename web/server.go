package web

import (
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MaxRequestBytes bounds every request body. Job documents are further
// limited to api.MaxJobSpecBytes by api.DecodeJobSpec.
const MaxRequestBytes = 1 << 20

// Config is what NewHandler needs. Only Backend is required.
type Config struct {
	// Backend answers every /v1 request; see its doc for the error contract.
	Backend Backend
	// Gatherer is served at GET /metrics. When nil, /metrics answers 404.
	Gatherer prometheus.Gatherer
	// Registerer receives the HTTP request metrics
	// (clusterd_http_requests_total, clusterd_http_request_duration_seconds).
	// When nil, requests are not measured.
	Registerer prometheus.Registerer
	// Logger receives 500s and failures inside streams. Nil discards.
	Logger *slog.Logger
	// Mesos serves the Mesos-compatible endpoints (/api/v1/scheduler,
	// /api/v1, /master/state, /master/redirect). When nil they answer 404.
	Mesos MesosMaster
	// Auth checks every request's credentials against the scope its route
	// needs (see requiredScope). When nil, nothing is checked: only for a
	// node that listens on loopback alone (--dev).
	Auth Authenticator
	// TLSRequired, when it returns true, refuses plain HTTP from other
	// machines (anything but a loopback address): credentials and the
	// state travel only over TLS. The dashboard's page redirects to
	// https. Nil: plain HTTP is served to anyone.
	TLSRequired func() bool
	// ProxyTransport and ProxyScheme are how a follower passes the
	// dashboard's requests to the leader (see ProxyHeader): nil is plain
	// HTTP; a node on certificates gives its mutual TLS client and
	// "https://".
	ProxyTransport http.RoundTripper
	ProxyScheme    func() string
}

// server holds the handlers' shared state. Tests in this package build one
// with newServer to shorten intervals.
type server struct {
	backend Backend
	mesos   MesosMaster
	log     *slog.Logger
	// pingInterval is how often the event stream sends a keep-alive comment.
	pingInterval time.Duration
	// pollInterval is how often a followed log is read again.
	pollInterval time.Duration
	// bodyStall is how long a request body may send nothing, and bodyTotal
	// how long a body (other than a snapshot's) may take in all, before
	// the connection is cut: a client trickling a body must not hold a
	// connection and a goroutine for ever (slowloris).
	bodyStall, bodyTotal time.Duration
	// auth checks credentials (nil: every request is let in, as in --dev).
	auth Authenticator
	// patterns are the mux's patterns, as registered.
	patterns []string
	// failures limits how many refused credentials a client may try.
	failures FailureLimiter
	// now is the clock of the failure limiter (tests set it).
	now func() time.Time
	// tlsRequired, proxyTransport, proxyScheme: see Config.
	tlsRequired    func() bool
	proxyTransport http.RoundTripper
	proxyScheme    func() string
}

func newServer(cfg Config) *server {
	if cfg.Backend == nil {
		panic("web: Config.Backend is nil")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &server{
		backend:        cfg.Backend,
		mesos:          cfg.Mesos,
		auth:           cfg.Auth,
		log:            log,
		pingInterval:   15 * time.Second,
		pollInterval:   200 * time.Millisecond,
		bodyStall:      30 * time.Second,
		bodyTotal:      2 * time.Minute,
		now:            time.Now,
		tlsRequired:    cfg.TLSRequired,
		proxyTransport: cfg.ProxyTransport,
		proxyScheme:    cfg.ProxyScheme,
	}
}

// NewHandler returns clusterd's HTTP surface: the /v1 API, /v1/events,
// the Mesos-compatible endpoints, /metrics, /health and the dashboard at /.
// It panics if cfg.Backend is nil.
func NewHandler(cfg Config) http.Handler {
	return newServer(cfg).handler(cfg)
}

func (s *server) handler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	// Every pattern is recorded (s.patterns), so that a test can walk them
	// all, as the authentication test does.
	handle := func(pattern string, h http.Handler) {
		mux.Handle(pattern, h)
		s.patterns = append(s.patterns, pattern)
	}
	handleFunc := func(pattern string, h http.HandlerFunc) { handle(pattern, h) }

	// Each API path lists its methods, so that any other method gets a 405
	// JSON answer with an Allow header instead of ServeMux's plain-text one.
	api := []struct {
		path    string
		methods map[string]http.HandlerFunc
	}{
		{"/v1/status", map[string]http.HandlerFunc{"GET": s.getStatus}},
		{"/v1/status/digest", map[string]http.HandlerFunc{"GET": s.getStateDigest}},
		{"/v1/nodes", map[string]http.HandlerFunc{"GET": s.listNodes}},
		{"/v1/roles", map[string]http.HandlerFunc{"GET": s.listRoles}},
		{"/v1/utilization", map[string]http.HandlerFunc{"GET": s.getUtilization}},
		{"/v1/autoscale", map[string]http.HandlerFunc{"GET": s.getAutoscale}},
		{"/v1/snapshot", map[string]http.HandlerFunc{"GET": s.getSnapshot, "POST": s.restoreSnapshot}},
		{"/v1/jobs", map[string]http.HandlerFunc{"GET": s.listJobs, "POST": s.submitJob}},
		{"/v1/jobs/{id}", map[string]http.HandlerFunc{"GET": s.getJob, "DELETE": s.deleteJob}},
		{"/v1/jobs/{id}/scale", map[string]http.HandlerFunc{"POST": s.scaleJob}},
		{"/v1/jobs/{id}/runs", map[string]http.HandlerFunc{"POST": s.startRun}},
		{"/v1/tasks", map[string]http.HandlerFunc{"GET": s.listTasks}},
		{"/v1/tasks/{id}", map[string]http.HandlerFunc{"GET": s.getTask}},
		{"/v1/tasks/{id}/kill", map[string]http.HandlerFunc{"POST": s.killTask}},
		{"/v1/tasks/{id}/logs", map[string]http.HandlerFunc{"GET": s.taskLogs}},
		{"/v1/events", map[string]http.HandlerFunc{"GET": s.events}},
		{"/v1/login", map[string]http.HandlerFunc{"POST": s.login}},
		{"/v1/logout", map[string]http.HandlerFunc{"POST": s.logout}},
		{"/v1/whoami", map[string]http.HandlerFunc{"GET": s.whoami}},
		{"/v1/tokens", map[string]http.HandlerFunc{"GET": s.listTokens, "POST": s.createToken}},
		{"/v1/tokens/{id}", map[string]http.HandlerFunc{"DELETE": s.revokeToken}},
		{"/v1/join-tokens/{role}", map[string]http.HandlerFunc{"POST": s.rotateJoinToken}},
		{"/v1/gossip", map[string]http.HandlerFunc{"GET": s.gossipStatus}},
		{"/v1/gossip/rotate", map[string]http.HandlerFunc{"POST": s.rotateGossipKey}},
	}
	for _, route := range api {
		allowed := make([]string, 0, len(route.methods)+1)
		for method, h := range route.methods {
			handleFunc(method+" "+route.path, h)
			allowed = append(allowed, method)
			if method == "GET" {
				allowed = append(allowed, "HEAD")
			}
		}
		slices.Sort(allowed)
		handleFunc(route.path, methodNotAllowed(allowed))
	}
	handleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeErrorBody(w, r, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path, "")
	})

	if s.mesos != nil {
		// Mesos clients use both the short paths and the /master/ ones.
		for _, prefix := range []string{"", "/master"} {
			handleFunc(prefix+"/api/v1/scheduler", s.scheduler)
			handleFunc(prefix+"/api/v1", s.operator)
		}
		handleFunc("GET /master/state", s.masterState)
		handleFunc("GET /master/state.json", s.masterState)
		handleFunc("GET /master/redirect", s.masterRedirect)
		handleFunc("GET /master/redirect/", s.masterRedirect)
	}

	handleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	if cfg.Gatherer != nil {
		handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError),
		}))
	} else {
		handleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			writeErrorBody(w, r, http.StatusNotFound, "metrics are not enabled on this node", "")
		})
	}
	// "/" takes every method: a "GET /" pattern would conflict with "/v1/".
	handle("/", dashboardHandler())

	var h http.Handler = mux
	h = compressDashboard(h)
	h = s.followLeader(h)
	h = s.authenticate(h)
	h = s.requireTLS(h)
	h = s.limitBody(h)
	if cfg.Registerer != nil {
		h = newHTTPMetrics(cfg.Registerer).wrap(h)
	}
	return h
}

func methodNotAllowed(allowed []string) http.HandlerFunc {
	allow := strings.Join(allowed, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeErrorBody(w, r, http.StatusMethodNotAllowed,
			"method "+r.Method+" is not allowed on "+r.URL.Path+"; use "+allow, "")
	}
}

// limitBody caps every request body at MaxRequestBytes (a snapshot's at
// MaxSnapshotBytes), cuts off bodies that stall or take too long, and sets
// the headers every response shares.
func (s *server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.Method == http.MethodPost && r.URL.Path == "/v1/snapshot" {
			// A restore's body is a whole state, bounded on its own; it
			// may take long over a slow link, but may not stall.
			r.Body = s.timedBody(w, http.MaxBytesReader(w, r.Body, MaxSnapshotBytes), time.Time{})
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > MaxRequestBytes {
			writeErrorBody(w, r, http.StatusRequestEntityTooLarge,
				"request body is larger than 1 MiB", "")
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = s.timedBody(w, http.MaxBytesReader(w, r.Body, MaxRequestBytes), time.Now().Add(s.bodyTotal))
		}
		next.ServeHTTP(w, r)
	})
}

// timedBody sets the connection's read deadline before each read of body:
// bodyStall from now, but never past end (zero: no end). Once the body is
// read the deadline is cleared, so that a handler that answers
// for long after, such as a Mesos subscription's stream, is not cut.
func (s *server) timedBody(w http.ResponseWriter, body io.ReadCloser, end time.Time) io.ReadCloser {
	return &deadlineBody{ReadCloser: body, rc: http.NewResponseController(w), stall: s.bodyStall, end: end}
}

type deadlineBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration
	end   time.Time
	done  bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	d := time.Now().Add(b.stall)
	if !b.end.IsZero() && b.end.Before(d) {
		d = b.end
	}
	// A writer that cannot set deadlines (a test's recorder) is not a
	// connection a client can hold open.
	_ = b.rc.SetReadDeadline(d)
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	// Any other error leaves the deadline as it is: the connection is
	// done for, and the server's own read of what is left of the body
	// must not wait on a client that stopped sending.
	return n, err
}
