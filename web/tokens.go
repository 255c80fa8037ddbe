package web

import (
	"net/http"
	"time"

	"github.com/clusterd/clusterd/web/api"
)

func (s *server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.backend.Tokens(r.Context())
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	if ts == nil {
		ts = []api.Token{}
	}
	writeJSON(w, r, http.StatusOK, ts)
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request) {
	var req api.TokenRequest
	if err := decodeStrict(r, &req); err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	if err := validateTokenRequest(req); err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	tok, err := s.backend.CreateToken(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	w.Header().Set("Location", "/v1/tokens/"+tok.ID)
	writeJSON(w, r, http.StatusCreated, tok)
}

// validateTokenRequest checks what a backend relies on.
func validateTokenRequest(req api.TokenRequest) error {
	if _, ok := ParseScope(req.Scope); !ok {
		return &api.ValidationError{Field: "scope", Message: "must be read, write or admin"}
	}
	if len(req.Name) > 128 {
		return &api.ValidationError{Field: "name", Message: "must be at most 128 characters"}
	}
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			return &api.ValidationError{Field: "ttl", Message: "must be a positive duration such as 720h"}
		}
	}
	return nil
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.backend.RevokeToken(r.Context(), id); err != nil {
		s.writeError(w, r, err, object{"token", id})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) rotateJoinToken(w http.ResponseWriter, r *http.Request) {
	role := r.PathValue("role")
	if role != "server" && role != "agent" {
		s.writeError(w, r, &api.ValidationError{Field: "role", Message: "must be server or agent"}, object{})
		return
	}
	tok, err := s.backend.RotateJoinToken(r.Context(), role)
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	writeJSON(w, r, http.StatusCreated, tok)
}

func (s *server) gossipStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.backend.GossipStatus(r.Context())
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	writeJSON(w, r, http.StatusOK, st)
}

func (s *server) rotateGossipKey(w http.ResponseWriter, r *http.Request) {
	st, err := s.backend.RotateGossipKey(r.Context())
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	writeJSON(w, r, http.StatusAccepted, st)
}
