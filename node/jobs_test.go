package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// startJobsNode is a one-node cluster that allocates often, for the
// built-in framework's tests.
func startJobsNode(t *testing.T, change func(*Config)) (*Node, *backend) {
	t.Helper()
	n := startNodeWith(t, func(c *Config) {
		c.AllocationInterval = 50 * time.Millisecond
		if change != nil {
			change(c)
		}
	})
	return n, &backend{n: n}
}

// submitJob submits spec with the API's defaults filled in.
func submitJob(t *testing.T, b *backend, spec api.JobSpec) error {
	t.Helper()
	spec.ApplyDefaults()
	if err := spec.Validate(); err != nil {
		t.Fatalf("job %s: %v", spec.ID, err)
	}
	_, err := b.SubmitJob(context.Background(), spec)
	return err
}

// tasksIn counts a job's tasks in state.
func tasksIn(n *Node, job, state string) int {
	c := 0
	for _, t := range n.fsm.View().TasksOfJob(job) {
		if t.State == state {
			c++
		}
	}
	return c
}

func TestConstraintsMatchTheNodesAttributesAndPendingSaysWhy(t *testing.T) {
	n, b := startJobsNode(t, func(c *Config) { c.Attributes = map[string]string{"zone": "eu-1a"} })
	unique := api.JobSpec{ID: "web", Type: api.JobService, Cmd: "sleep 60", Instances: 2, CPUs: 0.1, Mem: 16,
		Constraints: []api.Constraint{{Field: "hostname", Operator: "UNIQUE"}}}
	if err := submitJob(t, b, unique); err != nil {
		t.Fatal(err)
	}
	inZone := api.JobSpec{ID: "zoned", Type: api.JobService, Cmd: "sleep 60", Instances: 1, CPUs: 0.1, Mem: 16,
		Constraints: []api.Constraint{{Field: "zone", Operator: "LIKE", Value: "eu-.*"}}}
	if err := submitJob(t, b, inZone); err != nil {
		t.Fatal(err)
	}
	elsewhere := api.JobSpec{ID: "elsewhere", Type: api.JobService, Cmd: "sleep 60", Instances: 1, CPUs: 0.1, Mem: 16,
		Constraints: []api.Constraint{{Field: "zone", Operator: "IS", Value: "us-2b"}}}
	if err := submitJob(t, b, elsewhere); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "one web task and the zoned task running", 10*time.Second, func() bool {
		return tasksIn(n, "web", raftfsm.TaskRunning) == 1 && tasksIn(n, "zoned", raftfsm.TaskRunning) == 1
	})
	var web, other api.Job
	waitFor(t, "pending reasons", 5*time.Second, func() bool {
		web, _ = b.Job(context.Background(), "web")
		other, _ = b.Job(context.Background(), "elsewhere")
		return web.Pending != nil && other.Pending != nil
	})
	if web.Pending.Unplaceable || web.Pending.Instances != 1 || !strings.Contains(web.Pending.Message, "constraint hostname UNIQUE on 1 of 1 nodes") {
		t.Errorf("web pending = %+v, want the second instance waiting on the UNIQUE constraint", web.Pending)
	}
	if !other.Pending.Unplaceable || !strings.Contains(other.Pending.Message, "constraint zone IS us-2b on 1 of 1 nodes") {
		t.Errorf("elsewhere pending = %+v, want it unplaceable because no node is in us-2b", other.Pending)
	}
	if n := len(n.fsm.View().TasksOfJob("elsewhere")); n != 0 {
		t.Errorf("elsewhere has %d tasks, want none launched", n)
	}
}

func TestABadConstraintIsRefusedAtSubmission(t *testing.T) {
	_, b := startJobsNode(t, nil)
	spec := api.JobSpec{ID: "web", Type: api.JobService, Cmd: "sleep 60", Instances: 1, CPUs: 0.1, Mem: 16,
		Constraints: []api.Constraint{{Field: "zone", Operator: "LIKE", Value: "eu-(1"}}}
	spec.ApplyDefaults()
	_, err := b.SubmitJob(context.Background(), spec)
	var ve *api.ValidationError
	if !errors.As(err, &ve) || ve.Field != "constraints[0]" || !strings.Contains(ve.Message, "regular expression") {
		t.Fatalf("submit: %v, want a validation error on constraints[0] about the regular expression", err)
	}
}
