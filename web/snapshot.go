package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
)

// MaxSnapshotBytes bounds a snapshot posted for a restore.
const MaxSnapshotBytes = 4 << 30

// SnapshotSHA256Trailer is the HTTP trailer of GET /v1/snapshot with the
// SHA-256 of the body: a client that computes the same knows it has it all.
const SnapshotSHA256Trailer = "X-Clusterd-Snapshot-Sha256"

// getSnapshot streams a backup of the replicated state, taken on the leader.
func (s *server) getSnapshot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Trailer", SnapshotSHA256Trailer)
	sw := &startedWriter{w: w, header: func() {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="clusterd.snap"`)
	}}
	h := sha256.New()
	sum, err := s.backend.Snapshot(r.Context(), io.MultiWriter(sw, h))
	if err != nil {
		if !sw.started {
			w.Header().Del("Trailer")
			s.writeError(w, r, err, object{})
			return
		}
		// Half sent: break the connection, so the client sees no trailer
		// and cannot take a truncated snapshot for a whole one.
		s.log.Error("snapshot failed while streaming", "err", err)
		panic(http.ErrAbortHandler)
	}
	w.Header().Set(SnapshotSHA256Trailer, hex.EncodeToString(h.Sum(nil)))
	s.log.Info("snapshot taken", "index", sum.Index, "jobs", sum.Jobs, "tasks", sum.Tasks)
}

// restoreSnapshot replaces the replicated state with a posted backup.
func (s *server) restoreSnapshot(w http.ResponseWriter, r *http.Request) {
	force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
	sum, err := s.backend.RestoreSnapshot(r.Context(), r.Body, force)
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	writeJSON(w, r, http.StatusOK, sum)
}

// startedWriter sets the headers of a successful answer on the first byte.
type startedWriter struct {
	w       io.Writer
	header  func()
	started bool
}

func (s *startedWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		s.header()
	}
	return s.w.Write(p)
}
