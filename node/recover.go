package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// Recovery from lost quorum: when most of the Raft servers are gone for
// good, the survivors cannot elect a leader. RecoverAlone rewrites the Raft
// configuration in one stopped server's data dir to that server alone (with
// raft.RecoverCluster: every entry in its log counts as committed), so that
// it starts as a one-server cluster with all the state it had; the other
// servers then join it again. It is the peers.json procedure of Consul and
// Nomad, done by clusterd itself.

// RecoveryResult says what RecoverAlone did.
type RecoveryResult struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	// Removed are the servers the old configuration had besides this one.
	Removed []string `json:"removed"`
	Index   uint64   `json:"index"` // the last log index kept
}

// RecoverAlone makes the stopped node in dataDir the only server of its
// cluster. It fails while a clusterd uses the data dir (the log is locked),
// and for a node that was never a Raft server.
func RecoverAlone(dataDir string) (RecoveryResult, error) {
	var res RecoveryResult
	raw, err := os.ReadFile(filepath.Join(dataDir, "node-id"))
	if err != nil {
		return res, fmt.Errorf("recover: read the node id in %s: %w (is this a clusterd data dir?)", dataDir, err)
	}
	res.NodeID = strings.TrimSpace(string(raw))
	dir := filepath.Join(dataDir, "raft")
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), BoltOptions: &bbolt.Options{Timeout: time.Second}})
	if err != nil {
		return res, fmt.Errorf("recover: open the raft log in %s: %w (stop the clusterd that uses this data dir first)", dir, err)
	}
	defer store.Close()
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: io.Discard})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hl)
	if err != nil {
		return res, fmt.Errorf("recover: open the raft snapshots in %s: %w", dir, err)
	}
	conf, index, err := latestConfiguration(store, snaps)
	if err != nil {
		return res, fmt.Errorf("recover: %w", err)
	}
	res.Index = index
	for _, s := range conf.Servers {
		if string(s.ID) == res.NodeID {
			res.RaftAddr = string(s.Address)
		} else {
			res.Removed = append(res.Removed, fmt.Sprintf("%s (%s)", s.ID, s.Address))
		}
	}
	if res.RaftAddr == "" {
		return res, fmt.Errorf("recover: node %s is not a server of the cluster's last configuration (servers: %s): run recover on a data dir of one of them",
			res.NodeID, strings.Join(res.Removed, ", "))
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(res.RaftAddr))
	alone := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(res.NodeID), Address: raft.ServerAddress(res.RaftAddr)}}}
	if err := raft.RecoverCluster(raftConfig(res.NodeID, DefaultConfig(), hl), raftfsm.New(), store, store, snaps, trans, alone); err != nil {
		return res, fmt.Errorf("recover: rewrite the configuration: %w", err)
	}
	return res, nil
}

// latestConfiguration is the newest Raft configuration in the log, or in
// the latest snapshot when the log has none after it.
func latestConfiguration(store *raftboltdb.BoltStore, snaps raft.SnapshotStore) (raft.Configuration, uint64, error) {
	first, err := store.FirstIndex()
	if err != nil {
		return raft.Configuration{}, 0, err
	}
	last, err := store.LastIndex()
	if err != nil {
		return raft.Configuration{}, 0, err
	}
	for i := last; i >= first && i > 0; i-- {
		var l raft.Log
		if err := store.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				continue
			}
			return raft.Configuration{}, 0, fmt.Errorf("read log entry %d: %w", i, err)
		}
		if l.Type == raft.LogConfiguration {
			return raft.DecodeConfiguration(l.Data), last, nil
		}
	}
	metas, err := snaps.List()
	if err != nil {
		return raft.Configuration{}, 0, fmt.Errorf("list snapshots: %w", err)
	}
	if len(metas) == 0 {
		return raft.Configuration{}, 0, errors.New("the data dir holds no Raft state: nothing to recover")
	}
	return metas[0].Configuration, max(last, metas[0].Index), nil
}

// ReadSnapshot checks a backup taken with GET /v1/snapshot and says what
// is in it, without a cluster.
func ReadSnapshot(r io.Reader) (api.SnapshotSummary, error) {
	s, err := raftfsm.ReadSnapshot(r)
	if err != nil {
		return api.SnapshotSummary{}, err
	}
	return summaryToAPI(s), nil
}
