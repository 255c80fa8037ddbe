package nodetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
)

// jobOf is job id as node i answers, or nil.
func jobOf(c *Cluster, i int, id string) *api.Job {
	jobs, err := c.Jobs(i)
	if err != nil {
		return nil
	}
	for k := range jobs {
		if jobs[k].ID == id {
			return &jobs[k]
		}
	}
	return nil
}

func TestCronJobRunsEachScheduledTimeOnceAcrossLeaderFailovers(t *testing.T) {
	c := Start(t, Options{N: 3, ExtraArgs: []string{"--voter-replace-after", "60s"}})
	c.Eventually(t, "3 voters", 30*time.Second, func() bool { return len(voters(c, c.Leader(t).Index)) == 3 })
	first := time.Now().UTC().Truncate(time.Second).Add(2 * time.Second)
	c.Submit(t, 0, fmt.Sprintf(`{"id":"tick","type":"cron","schedule":"R/%s/PT1S","cmd":"true","instances":1,"cpus":0.01,"mem":1,"concurrency_policy":"allow","epsilon_seconds":30}`,
		first.Format(time.RFC3339)))

	runs := func(i int) int {
		if j := jobOf(c, i, "tick"); j != nil {
			return len(j.Runs)
		}
		return 0
	}
	c.Eventually(t, "the first scheduled runs", 20*time.Second, func() bool { return runs(0) >= 2 })
	for round := 0; round < 2; round++ {
		leader := c.Leader(t)
		other := (leader.Index + 1) % 3
		before := runs(other)
		c.Kill(t, leader.Index)
		start := time.Now()
		c.Eventually(t, fmt.Sprintf("round %d: a run started by the new leader", round), 30*time.Second, func() bool { return runs(other) > before+1 })
		t.Logf("round %d: leader SIGKILL -> next scheduled run started: %v", round, time.Since(start).Round(10*time.Millisecond))
		c.Restart(t, leader.Index)
	}

	j := jobOf(c, c.Leader(t).Index, "tick")
	if j == nil {
		t.Fatal("job tick is gone")
	}
	seen := map[time.Time]int{}
	var last time.Time
	for _, r := range j.Runs {
		if r.Trigger != "schedule" {
			t.Errorf("run %d triggered by %q, want schedule", r.Number, r.Trigger)
		}
		if seen[r.ScheduledFor]++; seen[r.ScheduledFor] > 1 {
			t.Errorf("scheduled time %s has %d runs, want one: a new leader ran it again", r.ScheduledFor.Format(time.RFC3339), seen[r.ScheduledFor])
		}
		if !r.ScheduledFor.After(last) {
			t.Errorf("run %d scheduled for %s, not after the previous run's %s", r.Number, r.ScheduledFor.Format(time.RFC3339), last.Format(time.RFC3339))
		}
		last = r.ScheduledFor
		if r.State == "skipped" {
			t.Logf("run %d skipped: %s", r.Number, r.Message)
		}
		if !r.ScheduledFor.Equal(r.ScheduledFor.Truncate(time.Second)) || r.ScheduledFor.Before(first) {
			t.Errorf("run %d scheduled for %s: not one of the schedule's times (every second from %s)", r.Number, r.ScheduledFor, first.Format(time.RFC3339))
		}
	}
	c.AssertNoTaskRunsTwice(t)
}
