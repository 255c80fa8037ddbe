package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/clusterd/clusterd/web/api"
)

// maxTailBytes bounds ?tail=N, which is held in memory.
const maxTailBytes = 4 << 20

// LogOffsetHeader carries the byte offset in the log at which a logs
// response body starts; a client polling a log asks next for
// offset + the body's length in bytes.
const LogOffsetHeader = "X-Log-Offset"

type logRequest struct {
	stream string
	offset int64
	tail   int64 // 0: from offset
	follow bool
}

func parseLogRequest(r *http.Request) (logRequest, error) {
	q := r.URL.Query()
	lr := logRequest{stream: q.Get("stream")}
	switch lr.stream {
	case "":
		lr.stream = "stdout"
	case "stdout", "stderr":
	default:
		return lr, &api.ValidationError{Field: "stream", Message: "must be stdout or stderr, got " + strconv.Quote(lr.stream)}
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return lr, &api.ValidationError{Field: "offset", Message: "must be a byte offset of 0 or more, got " + strconv.Quote(v)}
		}
		lr.offset = n
	}
	if v := q.Get("tail"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > maxTailBytes {
			return lr, &api.ValidationError{Field: "tail", Message: "must be a byte count between 0 and 4194304, got " + strconv.Quote(v)}
		}
		if q.Has("offset") {
			return lr, &api.ValidationError{Field: "tail", Message: "cannot be combined with offset"}
		}
		lr.tail = n
	}
	if v := q.Get("follow"); v != "" {
		f, err := strconv.ParseBool(v)
		if err != nil {
			return lr, &api.ValidationError{Field: "follow", Message: "must be true or false, got " + strconv.Quote(v)}
		}
		lr.follow = f
	}
	return lr, nil
}

// taskLogs serves GET /v1/tasks/{id}/logs: the log from ?offset (or its
// last ?tail bytes) to its current end; with ?follow=true it keeps polling
// for new bytes until the task is terminal or the client goes away.
func (s *server) taskLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	req, err := parseLogRequest(r)
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	ctx := r.Context()
	task, err := s.backend.Task(ctx, id)
	if err != nil {
		s.writeError(w, r, err, object{"task", id})
		return
	}

	var head []byte // the tail, already read
	offset := req.offset
	if r.URL.Query().Has("tail") {
		head, offset, err = s.readTail(ctx, id, req.stream, req.tail)
		if err != nil {
			s.writeError(w, r, err, object{"task", id})
			return
		}
	}
	// Open the first read before the status line, so that a missing log
	// still gets a proper error answer.
	first, err := s.backend.TaskLog(ctx, id, req.stream, offset)
	if err != nil {
		s.writeError(w, r, err, object{"task", id})
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set(LogOffsetHeader, strconv.FormatInt(offset-int64(len(head)), 10))
	rc := http.NewResponseController(w)
	if req.follow {
		h.Set("X-Accel-Buffering", "no")
		_ = rc.SetWriteDeadline(time.Time{}) // a follow lasts as long as the task
	}
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(head); err != nil {
		first.Close()
		return
	}

	n, err := copyLog(w, first)
	offset += n
	if err != nil || !req.follow {
		s.logStreamError(id, err)
		return
	}
	_ = rc.Flush()

	// Follow: after the task turns terminal, read once more for the bytes
	// it wrote last, then end the response.
	done := api.TaskStateTerminal(task.State)
	ticker := time.NewTicker(s.pollInterval)
	defer ticker.Stop()
	for !done {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		t, err := s.backend.Task(ctx, id)
		if err != nil {
			s.logStreamError(id, err)
			return
		}
		done = api.TaskStateTerminal(t.State)
		rd, err := s.backend.TaskLog(ctx, id, req.stream, offset)
		if err != nil {
			s.logStreamError(id, err)
			return
		}
		n, err := copyLog(w, rd)
		offset += n
		if err != nil {
			s.logStreamError(id, err)
			return
		}
		if n > 0 {
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// copyLog copies one read of a log to w and closes it.
func copyLog(w io.Writer, rd io.ReadCloser) (int64, error) {
	defer rd.Close()
	return io.Copy(w, rd)
}

// readTail reads a log to its current end and returns its last n bytes and
// the offset of that end. The Backend cannot seek from the end, so this
// reads the whole log once.
func (s *server) readTail(ctx context.Context, id, stream string, n int64) ([]byte, int64, error) {
	rd, err := s.backend.TaskLog(ctx, id, stream, 0)
	if err != nil {
		return nil, 0, err
	}
	defer rd.Close()
	buf := make([]byte, 0, min(2*n, 64<<10)+32<<10)
	var total int64
	chunk := make([]byte, 32<<10)
	for {
		k, err := rd.Read(chunk)
		total += int64(k)
		buf = append(buf, chunk[:k]...)
		if int64(len(buf)) > 2*n+int64(len(chunk)) {
			buf = append(buf[:0], buf[int64(len(buf))-n:]...)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
	}
	if int64(len(buf)) > n {
		buf = buf[int64(len(buf))-n:]
	}
	return buf, total, nil
}

func (s *server) logStreamError(id string, err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	s.log.Warn("task log stream ended early", "task", id, "err", err)
}
