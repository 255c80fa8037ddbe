package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// events serves GET /v1/events as server-sent events: one
// "data: {api.Event}" message per Backend.Subscribe event, and a ": ping"
// comment every pingInterval so idle proxies keep the connection open.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	// An event stream lasts as long as the client; lift any write timeout.
	_ = rc.SetWriteDeadline(time.Time{})

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The retry hint makes browsers reconnect quickly after a failover.
	if _, err := fmt.Fprint(w, "retry: 2000\n: connected\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		s.log.Warn("event stream cannot flush", "err", err)
		return
	}

	events := s.backend.Subscribe(ctx)
	ping := time.NewTicker(s.pingInterval)
	defer ping.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			var data []byte
			data, err = json.Marshal(ev)
			if err == nil {
				_, err = fmt.Fprintf(w, "data: %s\n\n", data)
			}
		case <-ping.C:
			_, err = fmt.Fprint(w, ": ping\n\n")
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}
