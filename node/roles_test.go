package node

import (
	"context"
	"testing"
	"time"

	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

func TestRolesAndUtilizationComeFromTheLeadersAllocator(t *testing.T) {
	n, b := startJobsNode(t, func(c *Config) { c.UtilizationInterval = 100 * time.Millisecond })
	ctx := context.Background()
	if err := submitJob(t, b, api.JobSpec{ID: "web", Type: api.JobService, Cmd: "sleep 600", Instances: 2, CPUs: 0.5, Mem: 64}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 running", 10*time.Second, func() bool { return tasksIn(n, "web", raftfsm.TaskRunning) == 2 })

	roles, err := b.Roles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var jobsRole *api.Role
	for i := range roles {
		if roles[i].Name == "jobs" {
			jobsRole = &roles[i]
		}
	}
	if jobsRole == nil {
		t.Fatalf("roles %+v lack the built-in framework's role", roles)
	}
	if jobsRole.Allocated.CPUs != 1 || jobsRole.Weight != 1 || jobsRole.DominantShare <= 0 {
		t.Errorf("role jobs = %+v, want 1 cpu allocated, weight 1 and a dominant share", jobsRole)
	}
	if fws := jobsRole.Frameworks; len(fws) != 1 || fws[0].ID != "clusterd-jobs" || fws[0].Tasks != 2 || !fws[0].Connected {
		t.Errorf("frameworks of role jobs = %+v, want clusterd-jobs with its 2 tasks", fws)
	}

	var u api.Utilization
	waitFor(t, "a utilization sample with the tasks", 15*time.Second, func() bool {
		u, err = b.Utilization(ctx)
		return err == nil && len(u.Samples) > 0 && u.Samples[len(u.Samples)-1].Tasks == 2
	})
	last := u.Samples[len(u.Samples)-1]
	total := n.fsm.View().Node(n.id).Total
	if u.IntervalSeconds != 0.1 || last.Capacity.CPUs != total.CPUs || last.Allocated.CPUs != 1 || last.Allocated.Mem != 128 {
		t.Errorf("sample %+v (interval %v), want the node's %v cpus of capacity, 1 cpu and 128 MiB allocated", last, u.IntervalSeconds, total.CPUs)
	}
}
