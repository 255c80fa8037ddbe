// Package web owns clusterd's HTTP surface: the native /v1 API handlers, the
// server-sent event stream, /metrics, and the embedded dashboard.
//
// It reaches the rest of the node only through the Backend interface, so the
// handlers are tested against a fake and the node can change freely behind it.
package web

import (
	"context"
	"io"

	"github.com/clusterd/clusterd/web/api"
)

// Backend is what the HTTP layer needs from a node. Errors are the api
// package's: api.ErrNotFound (404), *api.ValidationError (400),
// api.ErrConflict (409), *api.NotLeaderError (307 to the leader, or 503 while
// none is known); anything else is a 500.
type Backend interface {
	Status(ctx context.Context) (api.Status, error)
	// StateDigest digests this server's own replica (never the leader's).
	StateDigest(ctx context.Context) (api.StateDigest, error)
	Nodes(ctx context.Context) ([]api.Node, error)
	// Roles and Utilization are the leader's (its allocator, its samples):
	// elsewhere they return *api.NotLeaderError.
	Roles(ctx context.Context) ([]api.Role, error)
	Utilization(ctx context.Context) (api.Utilization, error)
	// Autoscale is the leader's autoscaler: its groups and last decisions.
	Autoscale(ctx context.Context) (api.AutoscaleStatus, error)
	// Leader is the leader's HTTP address, and whether this node is it
	// ("" when no leader is known).
	Leader() (addr string, self bool)

	// Snapshot writes a backup of the replicated state (on the leader,
	// after a barrier); RestoreSnapshot replaces the state with one, after
	// checking it whole (a snapshot of another cluster only with force).
	Snapshot(ctx context.Context, w io.Writer) (api.SnapshotSummary, error)
	RestoreSnapshot(ctx context.Context, r io.Reader, force bool) (api.SnapshotSummary, error)

	Jobs(ctx context.Context) ([]api.Job, error)
	Job(ctx context.Context, id string) (api.Job, error)
	// Linearize returns nil once what this node reads next reflects every
	// write acknowledged before the call (the leader, confirmed by a
	// quorum): the ?consistent reads. Elsewhere *api.NotLeaderError.
	Linearize(ctx context.Context) error
	// SubmitJob creates the job, or updates it when the id exists. The spec
	// is already decoded, validated and defaulted.
	SubmitJob(ctx context.Context, spec api.JobSpec) (api.Job, error)
	// DeleteJob kills the job's tasks and removes the job.
	DeleteJob(ctx context.Context, id string) error
	// ScaleJob sets a service's instance count, keeping its version (no
	// rolling update: instances are added or the newest removed).
	ScaleJob(ctx context.Context, id string, instances int) (api.Job, error)
	// StartRun starts a run of a batch or cron job now, whatever its
	// schedule or parents (Chronos's manual start); api.ErrConflict when
	// its concurrency policy forbids a run beside the running one.
	StartRun(ctx context.Context, id string) (api.Job, error)

	Tasks(ctx context.Context, filter api.TaskFilter) ([]api.Task, error)
	Task(ctx context.Context, id string) (api.Task, error)
	KillTask(ctx context.Context, id string) error
	// TaskLog opens a task's "stdout" or "stderr" at byte offset. The
	// reader returns io.EOF at the current end of the log; a follower reads
	// again later from where it stopped.
	TaskLog(ctx context.Context, id, stream string, offset int64) (io.ReadCloser, error)

	// Subscribe returns a channel that receives an event whenever the
	// replicated state changes (coalesced: a slow reader sees the latest
	// index, not every one), until ctx is done.
	Subscribe(ctx context.Context) <-chan api.Event

	// Tokens lists the API tokens (never their secrets); CreateToken makes
	// one and returns it with its secret, the only time it is shown;
	// RevokeToken deletes one: it stops working at once.
	Tokens(ctx context.Context) ([]api.Token, error)
	CreateToken(ctx context.Context, req api.TokenRequest) (api.Token, error)
	RevokeToken(ctx context.Context, id string) error
	// RotateJoinToken makes a new join token for "server" or "agent",
	// shown this once; the role's previous one stops working.
	RotateJoinToken(ctx context.Context, role string) (api.JoinToken, error)
	// GossipStatus says how gossip is encrypted and where a key rotation
	// is; RotateGossipKey starts one (api.ErrConflict when one runs, or
	// gossip is not encrypted).
	GossipStatus(ctx context.Context) (api.GossipStatus, error)
	RotateGossipKey(ctx context.Context) (api.GossipStatus, error)
}
