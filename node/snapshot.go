package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// Backups are the replicated state in the format Raft snapshots have
// (raftfsm.WriteSnapshot), taken on the leader after a barrier, so a backup
// holds everything committed when it was asked for. A restore hands one to
// raft.Restore on the leader: Raft installs it as a snapshot on every
// server (followers get it by InstallSnapshot) and compacts the log, so the
// restored state is what every server has from then on.

// restoreTimeout bounds raft.Restore: it waits for the snapshot to be
// applied and for the entry that fences it to commit.
const restoreTimeout = 2 * time.Minute

func (b *backend) Snapshot(ctx context.Context, w io.Writer) (api.SnapshotSummary, error) {
	if _, err := b.leading(); err != nil {
		return api.SnapshotSummary{}, err
	}
	if err := b.n.raft.raft.Barrier(applyTimeout).Error(); err != nil {
		return api.SnapshotSummary{}, fmt.Errorf("snapshot: wait for committed entries to apply: %w", err)
	}
	v := b.n.fsm.View()
	if err := raftfsm.WriteSnapshot(v, w); err != nil {
		return api.SnapshotSummary{}, fmt.Errorf("snapshot: %w", err)
	}
	return api.SnapshotSummary{ClusterID: v.ClusterID(), Index: v.Index(), LogVersion: v.LogVersion(), Nodes: len(v.Nodes()),
		Jobs: len(v.Jobs()), Tasks: len(v.Tasks()), Frameworks: len(v.Frameworks())}, nil
}

func (b *backend) RestoreSnapshot(ctx context.Context, r io.Reader, force bool) (api.SnapshotSummary, error) {
	if _, err := b.leading(); err != nil {
		return api.SnapshotSummary{}, err
	}
	// Spool it to disk: raft.Restore needs a reader it can read once, and
	// the snapshot must be checked whole before anything is replaced.
	dir := filepath.Join(b.n.cfg.DataDir, "raft")
	f, err := os.CreateTemp(dir, "restore-*.snap")
	if err != nil {
		return api.SnapshotSummary{}, fmt.Errorf("restore: spool the snapshot: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), r); err != nil {
		return api.SnapshotSummary{}, fmt.Errorf("restore: receive the snapshot: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return api.SnapshotSummary{}, err
	}
	read, err := raftfsm.ReadSnapshot(f)
	sum := summaryToAPI(read)
	sum.SHA256, sum.Bytes = hex.EncodeToString(h.Sum(nil)), size(f)
	if err != nil {
		return api.SnapshotSummary{}, &api.ValidationError{Field: "snapshot", Message: fmt.Sprintf("not a clusterd snapshot this version can restore: %v", err)}
	}
	if cur := b.n.fsm.View().ClusterID(); sum.ClusterID != cur && !force {
		return api.SnapshotSummary{}, fmt.Errorf("the snapshot is of cluster %s, this is cluster %s: restore it with force to replace this cluster's state with another's: %w",
			sum.ClusterID, cur, api.ErrConflict)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return api.SnapshotSummary{}, err
	}
	b.n.log.Warn("restoring the replicated state from a snapshot", "cluster", sum.ClusterID, "index", sum.Index,
		"jobs", sum.Jobs, "tasks", sum.Tasks, "sha256", sum.SHA256)
	if err := b.n.raft.raft.Restore(&raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: sum.Bytes}, f, restoreTimeout); err != nil {
		return api.SnapshotSummary{}, fmt.Errorf("restore: %w", err)
	}
	// The restored state carries the backup's index, lower than what
	// agents and watchers have seen; the next entry moves it past them.
	if _, err := b.n.apply(&raftfsm.SetLogVersion{Version: raftfsm.LogVersion}); err != nil {
		return sum, fmt.Errorf("restore: the state was restored, but the entry after it failed (it is written with the next change): %w", err)
	}
	// The leader's soft state (allocator, offers, framework streams) was
	// built from the old state: start the leader loop over.
	select {
	case b.n.restartLeader <- struct{}{}:
	default:
	}
	return sum, nil
}

func summaryToAPI(s raftfsm.SnapshotSummary) api.SnapshotSummary {
	return api.SnapshotSummary{ClusterID: s.ClusterID, Index: s.Index, LogVersion: s.LogVersion, Nodes: s.Nodes, Jobs: s.Jobs, Tasks: s.Tasks, Frameworks: s.Frameworks}
}

func size(f *os.File) int64 {
	if st, err := f.Stat(); err == nil {
		return st.Size()
	}
	return 0
}
