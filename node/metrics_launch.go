package node

import (
	"sync"
	"time"

	"github.com/clusterd/clusterd/raftfsm"
)

// launchTimerMax bounds the launches waiting for their TASK_RUNNING: a
// leader that launched more than this many tasks none of which ran yet
// measures only the first ones.
const launchTimerMax = 100_000

// launchTimer measures launch latency on the leader: from the commit of a
// task's LaunchTasks to the commit of its first TASK_RUNNING, both seen by
// Node.applyAt (every write of the leader goes through it). It is soft
// state: a new leader measures only the tasks it launched itself, and it
// uses the real clock, not Config.Clock (a test's clock schedules, it does
// not time).
type launchTimer struct {
	mu      sync.Mutex
	started map[string]time.Time
	observe func(seconds float64)
}

// applied takes the result of a command this node committed as leader.
func (lt *launchTimer) applied(cmd raftfsm.Command, res *raftfsm.Result, now time.Time) {
	if res == nil {
		return
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	switch c := cmd.(type) {
	case *raftfsm.LaunchTasks:
		if lt.started == nil {
			lt.started = map[string]time.Time{}
		}
		for _, t := range res.Launched {
			if len(lt.started) < launchTimerMax {
				lt.started[t.ID] = now
			}
		}
	case *raftfsm.TaskStatusBatch:
		for _, u := range c.Updates {
			if u.State != raftfsm.TaskRunning {
				continue
			}
			if at, ok := lt.started[u.TaskID]; ok {
				delete(lt.started, u.TaskID)
				if lt.observe != nil {
					lt.observe(now.Sub(at).Seconds())
				}
			}
		}
	}
	for _, t := range res.Ended { // ended without running
		delete(lt.started, t.ID)
	}
}

// reset forgets every launch: called when this node starts leading, so
// launches of an earlier term whose RUNNING another leader committed are
// not measured against this term's.
func (lt *launchTimer) reset() {
	lt.mu.Lock()
	lt.started = nil
	lt.mu.Unlock()
}
