package api

import "errors"

// ErrNotFound is returned for a job, task or node id that does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a request is valid but cannot be done in the
// current state (for example killing a task that already finished).
var ErrConflict = errors.New("conflict")

// NotLeaderError is returned by a node that is not the leader for a request
// only the leader can serve. LeaderAddr is the leader's HTTP address, or
// empty while no leader is known.
type NotLeaderError struct {
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderAddr == "" {
		return "no leader is elected yet; retry in a few seconds"
	}
	return "not the leader; the leader is at " + e.LeaderAddr
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}
