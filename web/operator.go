package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/clusterd/clusterd/web/mesos"
)

// operator serves POST /api/v1, the Mesos v1 operator API: reads answer
// 200 with a JSON Response, changes 202, SUBSCRIBE a RecordIO event stream.
func (s *server) operator(w http.ResponseWriter, r *http.Request) {
	if !checkMesosRequest(w, r) || !checkAccept(w, r) {
		return
	}
	body, ok := readMesosBody(w, r)
	if !ok {
		return
	}
	call, err := mesos.DecodeOperatorCall(body)
	if err != nil {
		writeMesosError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := call.Validate(); err != nil {
		if errors.Is(err, mesos.ErrUnsupportedCall) {
			writeMesosError(w, http.StatusNotImplemented, err.Error())
			return
		}
		writeMesosError(w, http.StatusBadRequest, "Failed to validate master::Call: "+err.Error())
		return
	}
	if call.Type == mesos.OperatorSubscribe {
		s.operatorSubscribe(w, r)
		return
	}
	resp, err := s.mesos.OperatorCall(r.Context(), call)
	if err != nil {
		s.writeMesosBackendError(w, r, err)
		return
	}
	if resp == nil {
		// As Mesos answers: reservations are applied asynchronously (202),
		// the other changes are done when the call returns (200).
		status := http.StatusOK
		if call.Type == mesos.OperatorReserveResources || call.Type == mesos.OperatorUnreserveResources {
			status = http.StatusAccepted
		}
		w.WriteHeader(status)
		return
	}
	writeJSON(w, r, http.StatusOK, resp)
}

func (s *server) operatorSubscribe(w http.ResponseWriter, r *http.Request) {
	sub, err := s.mesos.OperatorSubscribe(r.Context())
	if err != nil {
		s.writeMesosBackendError(w, r, err)
		return
	}
	defer sub.Close()
	stream(w, r, sub.Events, sub.Heartbeat, &mesos.OperatorEvent{Type: mesos.OperatorEventHeartbeat})
}

// masterState serves GET /master/state, the v0 state document tools such
// as Mesos-DNS and marathon-lb read.
func (s *server) masterState(w http.ResponseWriter, r *http.Request) {
	st, err := s.mesos.MasterState(r.Context())
	if err != nil {
		s.writeMesosBackendError(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, st)
}

// masterRedirect serves GET /master/redirect[/PATH]: 307 to PATH on the
// leader (its root when none), as Mesos masters do.
func (s *server) masterRedirect(w http.ResponseWriter, r *http.Request) {
	base, err := s.mesos.LeaderURL(r.Context())
	if err != nil {
		s.writeMesosBackendError(w, r, err)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/master/redirect")
	if rest == "" {
		rest = "/"
	}
	if r.TLS != nil {
		// Over TLS, the leader's address over TLS too.
		base = "https://" + strings.TrimPrefix(base, "http://")
	}
	target := strings.TrimSuffix(base, "/") + rest
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusTemporaryRedirect)
}
