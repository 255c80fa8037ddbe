package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/chaos/check"
	"github.com/clusterd/clusterd/node/nodetest"
	"github.com/clusterd/clusterd/web/api"
)

// registryKeys is how many job ids the registry clients share: few enough
// that they contend for the same registers.
const registryKeys = 5

// clientTimeout bounds one client call: long enough for an election, short
// enough that a call to a paused node ends as unknown, not never.
const clientTimeout = 4 * time.Second

// registryClient submits, deletes and reads jobs with ids the clients
// choose (reg-0 ... reg-4), each value naming the write ("c2w17"), on a
// random node each time, until ctx ends. Reads are ?consistent: the
// promise checked is that such reads are linearizable.
func registryClient(ctx context.Context, c *nodetest.Cluster, client int, seed int64, rec *recorder) {
	rng := rand.New(rand.NewSource(seed))
	hc := c.HTTPClient(clientTimeout)
	for seq := 0; ctx.Err() == nil; seq++ {
		key := fmt.Sprintf("reg-%d", rng.Intn(registryKeys))
		base := c.Node(rng.Intn(len(c.Nodes()))).Addr
		op := check.Operation{Client: client, Key: key, Invoke: time.Now()}
		var a answer
		switch r := rng.Intn(100); {
		case r < 45:
			op.Kind, op.Input = check.KindSubmit, fmt.Sprintf("c%dw%d", client, seq)
			a = call(ctx, hc, http.MethodPost, base+"/v1/jobs", map[string]any{
				"id": key, "type": "service", "instances": 0, "cmd": "sleep 600", "cpus": 0.01, "mem": 4,
				"env": map[string]string{"CHAOS_VALUE": op.Input},
			})
		case r < 60:
			op.Kind = check.KindDelete
			a = call(ctx, hc, http.MethodDelete, base+"/v1/jobs/"+key, nil)
		default:
			op.Kind = check.KindRead
			a = call(ctx, hc, http.MethodGet, base+"/v1/jobs/"+key+"?consistent", nil)
		}
		op.Complete = time.Now()
		if ctx.Err() != nil && a.err != nil {
			op.Outcome, op.Error = check.OutcomeUnknown, "the run ended during the call"
		} else {
			op.Outcome, op.Found, op.Error = a.outcome()
		}
		if op.Kind == check.KindRead && op.Outcome == check.OutcomeOK && op.Found {
			var job api.Job
			if err := json.Unmarshal(a.body, &job); err != nil {
				op.Outcome, op.Error = check.OutcomeUnknown, "undecodable job: "+err.Error()
			} else {
				op.Output = job.Env["CHAOS_VALUE"]
			}
		}
		if op.Kind == check.KindSubmit {
			op.Found = false // a submit creates or replaces: no answer about the state
		}
		rec.add(op)
		if !sleepCtx(ctx, time.Duration(10+rng.Intn(90))*time.Millisecond) {
			return
		}
	}
}

// serviceJob is the long-running service of the workload: its tasks are
// what at-most-one-copy and the leak check watch across agent faults.
const serviceJob = "chaos-svc"

// taskClient keeps a service of 3 instances and submits short batch jobs
// (client-chosen ids, one every 1.5-3 s), and now and then kills a
// running instance of the service (the cluster replaces it under a new
// id). The kills are recorded for the lifecycle check: an acknowledged
// kill must end terminal.
func taskClient(ctx context.Context, c *nodetest.Cluster, client int, seed int64, rec *recorder) {
	rng := rand.New(rand.NewSource(seed))
	hc := c.HTTPClient(clientTimeout)
	node := func() string { return c.Node(rng.Intn(len(c.Nodes()))).Addr }
	for ctx.Err() == nil {
		a := call(ctx, hc, http.MethodPost, node()+"/v1/jobs", map[string]any{
			"id": serviceJob, "type": "service", "instances": 3, "cmd": "sleep 3600", "cpus": 0.1, "mem": 16,
		})
		if a.err == nil && a.status/100 == 2 {
			break
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	for n := 0; ctx.Err() == nil; n++ {
		if !sleepCtx(ctx, time.Duration(1500+rng.Intn(1500))*time.Millisecond) {
			return
		}
		if rng.Intn(4) == 0 {
			killOne(ctx, hc, node(), client, rng, rec)
			continue
		}
		id := fmt.Sprintf("%s%d", batchPrefix, n)
		job := map[string]any{
			"id": id, "type": "batch", "instances": 1 + rng.Intn(2), "cmd": fmt.Sprintf("sleep %d", 1+rng.Intn(4)),
			"cpus": 0.1, "mem": 16,
		}
		// A call whose answer never came is sent again, unchanged, as a
		// client would: the cluster must run the job once (checked by
		// check.Idempotent).
		for attempt := 0; attempt < 3 && ctx.Err() == nil; attempt++ {
			op := check.Operation{Client: client, Kind: check.KindSubmit, Key: id, Input: "batch", Invoke: time.Now()}
			a := call(ctx, hc, http.MethodPost, node()+"/v1/jobs", job)
			op.Complete = time.Now()
			op.Outcome, _, op.Error = a.outcome()
			rec.add(op)
			if op.Outcome != check.OutcomeUnknown || !sleepCtx(ctx, time.Second) {
				break
			}
		}
	}
}

// batchPrefix starts the ids of the task client's batch jobs.
const batchPrefix = "chaos-batch-"

// finalJobs reads, from the leader, what the cluster holds of every batch
// job the history submitted.
func finalJobs(t *testing.T, c *nodetest.Cluster, hc *http.Client, history []check.Operation) ([]check.Operation, map[string]check.Submitted) {
	var subs []check.Operation
	ids := map[string]bool{}
	for _, o := range history {
		if o.Kind == check.KindSubmit && strings.HasPrefix(o.Key, batchPrefix) {
			subs = append(subs, o)
			ids[o.Key] = true
		}
	}
	jobs := map[string]check.Submitted{}
	for id := range ids {
		c.Eventually(t, "a consistent read of job "+id, 30*time.Second, func() bool {
			a := call(context.Background(), hc, http.MethodGet, c.Node(c.Leader(t).Index).Addr+"/v1/jobs/"+id+"?consistent", nil)
			var job api.Job
			switch {
			case a.err != nil:
				return false
			case a.status == http.StatusNotFound:
				return true
			case a.status != http.StatusOK || json.Unmarshal(a.body, &job) != nil:
				return false
			}
			jobs[id] = check.Submitted{Version: job.Version, Runs: len(job.Runs)}
			return true
		})
	}
	return subs, jobs
}

// killOne kills a random running instance of the service.
func killOne(ctx context.Context, hc *http.Client, base string, client int, rng *rand.Rand, rec *recorder) {
	a := call(ctx, hc, http.MethodGet, base+"/v1/tasks?consistent&job="+serviceJob+"&state=running", nil)
	var tasks []api.Task
	if a.err != nil || a.status != http.StatusOK || json.Unmarshal(a.body, &tasks) != nil || len(tasks) == 0 {
		return
	}
	t := tasks[rng.Intn(len(tasks))]
	op := check.Operation{Client: client, Kind: check.KindKill, Key: t.ID, Invoke: time.Now()}
	a = call(ctx, hc, http.MethodPost, base+"/v1/tasks/"+t.ID+"/kill", nil)
	op.Complete = time.Now()
	op.Outcome, op.Found, op.Error = a.outcome()
	if op.Outcome == check.OutcomeOK && !op.Found {
		op.Outcome = check.OutcomeFailed // gone already: nothing was killed
	}
	if a.status == http.StatusConflict {
		op.Outcome = check.OutcomeFailed // it had ended: nothing to kill
	}
	rec.add(op)
}
