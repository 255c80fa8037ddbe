package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// A task runs as root only where its agent allows root: a named user, or
// the relaxed profile, which runs without the sandbox as root.
func TestRootTasksNeedTheAgentsPermission(t *testing.T) {
	failedWith := func(n *Node, job string) string {
		for _, tk := range n.fsm.View().TasksOfJob(job) {
			if tk.State == raftfsm.TaskFailed {
				return tk.Message
			}
		}
		return ""
	}
	batch := func(id string, change func(*api.JobSpec)) api.JobSpec {
		s := api.JobSpec{ID: id, Type: api.JobBatch, Cmd: "true", Instances: 1, CPUs: 0.1, Mem: 16, Retries: new(int)}
		change(&s)
		return s
	}
	n, b := startJobsNode(t, nil)
	for _, c := range []struct {
		job  string
		spec api.JobSpec
		want string
	}{
		{"as-root", batch("as-root", func(s *api.JobSpec) { s.User = "root" }), "--allow-user root"},
		{"relaxed", batch("relaxed", func(s *api.JobSpec) { s.Profile = "relaxed" }), "relaxed profile runs a task as root"},
	} {
		if err := submitJob(t, b, c.spec); err != nil {
			t.Fatal(err)
		}
		var msg string
		waitFor(t, c.job+" refused by the agent", 10*time.Second, func() bool { msg = failedWith(n, c.job); return msg != "" })
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s failed with %q; want it to say %q", c.job, msg, c.want)
		}
	}

	allowed, b2 := startJobsNode(t, func(c *Config) { c.AllowUsers = []string{"root"} })
	if err := submitJob(t, b2, batch("relaxed", func(s *api.JobSpec) { s.Profile = "relaxed" })); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relaxed task finished where root is allowed", 10*time.Second, func() bool {
		return tasksIn(allowed, "relaxed", raftfsm.TaskFinished) == 1
	})
}

// A data dir clusterd creates can be traversed, not listed, by others: a
// hardened task's dynamic uid must reach its sandbox below it. The Raft
// state beneath stays the owner's alone.
func TestTheDataDirLetsHardenedTasksReachTheirSandboxes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	startNodeWith(t, func(c *Config) { c.DataDir = dir })
	for path, want := range map[string]os.FileMode{dir: 0o711, filepath.Join(dir, "raft"): 0o700} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %o; want %o", path, got, want)
		}
	}
}
