package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/clusterd/clusterd/web/api"
)

// writeJSON answers with v as JSON, indented when the query has ?pretty.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	if r.URL.Query().Has("pretty") {
		enc.SetIndent("", "  ")
	}
	// An encoding error here means the client went away mid-body; the
	// status line is already sent, so there is nothing left to tell it.
	_ = enc.Encode(v)
}

func writeErrorBody(w http.ResponseWriter, r *http.Request, status int, msg, field string) {
	writeJSON(w, r, status, api.ErrorBody{Error: msg, Field: field})
}

// object names what a request addressed, for 404 messages: kind "job", id "web".
type object struct{ kind, id string }

// writeError maps a Backend error to its HTTP answer (see Backend's contract).
// what names the addressed object, if any, so a 404 says what is missing.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error, what object) {
	var (
		validation *api.ValidationError
		notLeader  *api.NotLeaderError
		tooLarge   *http.MaxBytesError
	)
	switch {
	case errors.As(err, &validation):
		writeErrorBody(w, r, http.StatusBadRequest, validation.Error(), validation.Field)
	case errors.Is(err, api.ErrNotFound):
		msg := err.Error()
		if what.kind != "" {
			msg = fmt.Sprintf("%s %q not found", what.kind, what.id)
		}
		writeErrorBody(w, r, http.StatusNotFound, msg, "")
	case errors.Is(err, api.ErrConflict):
		writeErrorBody(w, r, http.StatusConflict, err.Error(), "")
	case errors.As(err, &notLeader):
		if notLeader.LeaderAddr == "" {
			w.Header().Set("Retry-After", "2")
			writeErrorBody(w, r, http.StatusServiceUnavailable, notLeader.Error(), "")
			return
		}
		w.Header().Set("Location", leaderURL(notLeader.LeaderAddr, r))
		writeErrorBody(w, r, http.StatusTemporaryRedirect, notLeader.Error(), "")
	case errors.As(err, &tooLarge):
		writeErrorBody(w, r, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body is larger than %d KiB", tooLarge.Limit>>10), "")
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The body stalled or took too long (server.limitBody).
		writeErrorBody(w, r, http.StatusRequestTimeout, "the request body stopped arriving; send it whole, without pauses", "")
	case r.Context().Err() != nil && errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeErrorBody(w, r, http.StatusInternalServerError, err.Error(), "")
	}
}

// leaderURL is the request's path and query on the leader. A leader address
// without a scheme gets the request's: https for a request over TLS.
func leaderURL(addr string, r *http.Request) string {
	if !strings.Contains(addr, "://") {
		addr = schemeOf(r) + addr
	}
	return strings.TrimSuffix(addr, "/") + r.URL.RequestURI()
}

// schemeOf is the scheme the request came with, as a URL prefix.
func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https://"
	}
	return "http://"
}
