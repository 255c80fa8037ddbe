package web

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// ProxyHeader, sent with any value, asks a node that is not the leader to
// serve an API request by passing it to the leader and its answer back,
// instead of answering 307. The dashboard sends it: a browser cannot follow
// a redirect to another origin, so the page works on every node this way.
// The CLI and other clients follow redirects and do not need it.
const ProxyHeader = "X-Clusterd-Proxy"

// proxiedHeader marks a request already passed on once, so that two nodes
// that each think the other leads answer 307 or 503 rather than loop.
const proxiedHeader = "X-Clusterd-Proxied"

// followLeader passes requests that ask for it (ProxyHeader) to the leader.
// The event stream stays local: every replica has the state it signals. So
// does /v1/status, which says which node answers ("this node" on the
// dashboard), its Raft state and the leader it follows.
func (s *server) followLeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		api := strings.HasPrefix(path, "/v1/") || path == "/api/v1" || path == "/master/api/v1"
		if r.Header.Get(ProxyHeader) == "" || r.Header.Get(proxiedHeader) != "" || !api || path == "/v1/events" || path == "/v1/status" {
			next.ServeHTTP(w, r)
			return
		}
		addr, self := s.backend.Leader()
		if self || addr == "" {
			next.ServeHTTP(w, r) // the leader, or none known: answer here
			return
		}
		if !strings.Contains(addr, "://") {
			scheme := "http://"
			if s.proxyScheme != nil {
				scheme = s.proxyScheme()
			}
			addr = scheme + addr
		}
		target, err := url.Parse(addr)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		proxy := &httputil.ReverseProxy{
			Transport: s.proxyTransport,
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.SetXForwarded()
				pr.Out.Header.Set(proxiedHeader, "1")
			},
			FlushInterval: -1, // log follows stream
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				writeErrorBody(w, r, http.StatusBadGateway, "pass the request to the leader at "+target.Host+": "+err.Error(), "")
			},
		}
		proxy.ServeHTTP(w, r)
	})
}
