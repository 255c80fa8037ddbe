package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusterd/clusterd/node/join"
	"github.com/clusterd/clusterd/node/pki"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web"
	"github.com/clusterd/clusterd/web/api"
)

// Node-to-node endpoints. They live beside the public API on the HTTP port
// and are served by node, not web: they speak the log schema (raftfsm types)
// and exist for agents and joining nodes, not for users.
//
//	POST /v1/internal/commands   an encoded command an agent wants committed
//	GET  /v1/internal/tasks      blocking query: an agent's active tasks after an index
//	GET  /v1/internal/tasks/ID   200 when the cluster still lists the task, else 404
//	POST /v1/internal/leave      the leader takes a node out of the cluster
//	POST /v1/internal/authenticate  what an API token grants, for a node without a replica
//	POST /v1/agent/leave         this node leaves the cluster and exits
func (n *Node) internalHandler(public http.Handler, auth web.Authenticator) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/internal/commands", n.nodesOnly(n.handleCommand))
	mux.Handle("GET /v1/internal/tasks", n.nodesOnly(n.handleTaskWatch))
	mux.Handle("POST /v1/internal/leave", n.nodesOnly(n.handleRemoveNode))
	mux.Handle("POST /v1/internal/usage", n.nodesOnly(n.handleUsage))
	mux.Handle("POST /v1/internal/authenticate", n.nodesOnly(n.handleAuthenticate))
	mux.Handle("GET /v1/internal/tasks/{id}", n.nodesOnly(n.handleTaskKnown))
	mux.Handle("GET /v1/internal/gossip-keys", n.nodesOnly(n.handleGossipKeys))
	// The join exchange is open to machines without a token of the API:
	// it authenticates with join tokens and certificates itself.
	jh := join.NewHandler(n.joinAuth, join.Options{CertLifetime: n.cfg.CertLifetime, Logger: n.log.With("component", "join")})
	mux.Handle("POST "+join.PathJoin, n.relayJoinWithoutReplica(jh))
	mux.Handle("POST "+join.PathRenew, jh)
	// Making a node leave is an operator's change: it needs a write token.
	mux.Handle("POST /v1/agent/leave", web.Guard(auth, web.ScopeWrite, http.HandlerFunc(n.handleLeave)))
	mux.Handle("/", public)
	return mux
}

// nodesOnly serves a node-to-node route only to nodes of this cluster: in a
// cluster on certificates, a request must come over TLS with a valid node
// certificate (the API's TLS side checks the chain and revocation of any
// certificate presented). A node may ask to remove only itself.
func (n *Node) nodesOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !n.secureCluster() {
			h(w, r)
			return
		}
		id, ok := pki.PeerIdentity(r.TLS)
		if !ok {
			writeRPCStatus(w, http.StatusForbidden, api.ErrorBody{Error: r.URL.Path + " is for the cluster's nodes: it needs HTTPS with a node certificate of this cluster"})
			return
		}
		if r.URL.Path == "/v1/internal/leave" && r.URL.Query().Get("node") != id.NodeID {
			writeRPCStatus(w, http.StatusForbidden, api.ErrorBody{Error: "a node may take only itself out of the cluster; operators use 'clusterd leave'"})
			return
		}
		h(w, r)
	})
}

// agentCommands are the commands another node may ask the leader to commit.
func agentCommand(c raftfsm.Command) bool {
	switch c.(type) {
	case *raftfsm.RegisterNode, *raftfsm.TaskStatusBatch:
		return true
	}
	return false
}

func (n *Node) handleCommand(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		writeRPCError(w, r, &api.ValidationError{Message: "read command: " + err.Error()})
		return
	}
	cmd, err := raftfsm.Decode(data)
	if err != nil || !agentCommand(cmd) {
		writeRPCError(w, r, &api.ValidationError{Message: fmt.Sprintf("not a command agents may send: %v", err)})
		return
	}
	_, index, err := n.applyAt(cmd)
	if err != nil {
		writeRPCError(w, r, err)
		return
	}
	writeRPC(w, map[string]uint64{"index": index})
}

func (n *Node) handleTaskKnown(w http.ResponseWriter, r *http.Request) {
	if !n.hasReplica() {
		writeRPCError(w, r, n.notLeader())
		return
	}
	if n.fsm.View().Task(r.PathValue("id")) == nil {
		writeRPCStatus(w, http.StatusNotFound, api.ErrorBody{Error: "task not found"})
		return
	}
	writeRPC(w, map[string]bool{"known": true})
}

func (n *Node) handleTaskWatch(w http.ResponseWriter, r *http.Request) {
	node := r.URL.Query().Get("node")
	after, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	if node == "" {
		writeRPCError(w, r, &api.ValidationError{Field: "node", Message: "is required"})
		return
	}
	if !n.hasReplica() {
		writeRPCError(w, r, n.notLeader())
		return
	}
	writeRPC(w, n.localTaskWatch(r.Context(), node, after, watchTimeout))
}

// handleRemoveNode runs on the leader: the node leaves the pool (its tasks
// are lost and replaced) and the Raft configuration.
func (n *Node) handleRemoveNode(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("node")
	if id == "" {
		writeRPCError(w, r, &api.ValidationError{Field: "node", Message: "is required"})
		return
	}
	if err := n.removeNode(id); err != nil {
		writeRPCError(w, r, err)
		return
	}
	writeRPC(w, map[string]string{"removed": id})
}

func (n *Node) removeNode(id string) error {
	if n.raft.raft.State() != raft.Leader {
		return n.notLeader()
	}
	if nd := n.fsm.View().Node(id); nd != nil && nd.State != raftfsm.NodeLeft {
		if _, err := n.apply(&raftfsm.SetNodeState{ID: id, State: raftfsm.NodeLeft, Reason: fmt.Sprintf("node %s left the cluster", nd.Name), At: time.Now()}); err != nil {
			return err
		}
	}
	f := n.raft.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("read raft configuration: %w", err)
	}
	servers := f.Configuration().Servers
	voters := 0
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	for _, s := range servers {
		if s.ID == raft.ServerID(id) {
			if s.Suffrage == raft.Voter && voters <= 1 {
				return fmt.Errorf("node %s is the cluster's only Raft voter; removing it would destroy the cluster", id)
			}
			if err := n.raft.raft.RemoveServer(s.ID, 0, applyTimeout).Error(); err != nil {
				return fmt.Errorf("remove %s from the raft configuration: %w", id, err)
			}
		}
	}
	return nil
}

func (n *Node) handleLeave(w http.ResponseWriter, r *http.Request) {
	select {
	case n.leaveRequests <- struct{}{}:
	default:
	}
	writeRPCStatus(w, http.StatusAccepted, map[string]string{"leaving": n.id})
}

// handleUsage takes an agent's usage report; leader only, soft state.
func (n *Node) handleUsage(w http.ResponseWriter, r *http.Request) {
	var rep usageReport
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&rep); err != nil || rep.Node == "" {
		writeRPCError(w, r, &api.ValidationError{Message: fmt.Sprintf("bad usage report: %v", err)})
		return
	}
	n.leaderMu.Lock()
	l := n.leader
	n.leaderMu.Unlock()
	if l == nil {
		writeRPCError(w, r, n.notLeader())
		return
	}
	l.recordUsage(&rep)
	writeRPC(w, map[string]bool{"ok": true})
}

func jsonBytes(v any) ([]byte, error) { return json.Marshal(v) }

func writeRPC(w http.ResponseWriter, v any) { writeRPCStatus(w, http.StatusOK, v) }

func writeRPCStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeRPCError(w http.ResponseWriter, r *http.Request, err error) {
	var nl *api.NotLeaderError
	var ve *api.ValidationError
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &nl) && nl.LeaderAddr != "":
		scheme := "http://"
		if r.TLS != nil {
			scheme = "https://"
		}
		http.Redirect(w, r, scheme+nl.LeaderAddr+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		return
	case errors.As(err, &nl):
		status = http.StatusServiceUnavailable
	case errors.As(err, &ve):
		status = http.StatusBadRequest
	case errors.Is(err, context.Canceled):
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: err.Error()})
}
