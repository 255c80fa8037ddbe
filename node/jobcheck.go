package node

import (
	"fmt"
	"slices"
	"strings"

	"github.com/clusterd/clusterd/node/jobs"
	"github.com/clusterd/clusterd/node/jobs/schedule"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// checkJob checks what a job's spec cannot say alone: its parents exist,
// can run (batch or cron) and do not make a cycle; a job other jobs depend
// on stays one they can depend on; and the log is recent enough for what
// it uses.
func (b *backend) checkJob(v *raftfsm.View, spec raftfsm.JobSpec) error {
	if v.LogVersion() < 2 && usesVersion2(spec) {
		return fmt.Errorf("this job uses features (constraints, health checks, cron, parents, args...) that need every server upgraded (the log is at version %d): %w", v.LogVersion(), api.ErrConflict)
	}
	for i, p := range spec.Parents {
		pj := v.Job(p)
		switch {
		case pj == nil:
			return &api.ValidationError{Field: fmt.Sprintf("parents[%d]", i), Message: fmt.Sprintf("job %q does not exist; submit it first", p)}
		case pj.Spec.Type == raftfsm.JobService:
			return &api.ValidationError{Field: fmt.Sprintf("parents[%d]", i), Message: fmt.Sprintf("job %q is a service: it never completes a run; parents are batch or cron jobs", p)}
		}
	}
	if cycle := parentCycle(v, spec); cycle != nil {
		return &api.ValidationError{Field: "parents", Message: "would make a cycle: " + strings.Join(cycle, " → ")}
	}
	if spec.Type == raftfsm.JobService {
		if children := childrenOf(v, spec.ID); len(children) > 0 {
			return &api.ValidationError{Field: "type", Message: fmt.Sprintf("jobs %s run after %s: it must stay a batch or cron job", strings.Join(children, ", "), spec.ID)}
		}
	}
	return nil
}

// usesVersion2 reports whether a spec needs log version 2.
func usesVersion2(s raftfsm.JobSpec) bool {
	return s.Type == raftfsm.JobCron || len(s.Args) > 0 || len(s.Constraints) > 0 || len(s.HealthChecks) > 0 ||
		len(s.Parents) > 0 || s.Priority != 0 || s.Lifetime != "" || s.MaxCompletionSeconds > 0 || s.Instances == 0
}

// parentCycle returns the cycle spec's parents would close, as the path
// from spec's job back to itself, or nil.
func parentCycle(v *raftfsm.View, spec raftfsm.JobSpec) []string {
	parents := func(id string) []string {
		if id == spec.ID {
			return spec.Parents
		}
		if j := v.Job(id); j != nil {
			return j.Spec.Parents
		}
		return nil
	}
	var path []string
	seen := map[string]bool{}
	var walk func(id string) bool
	walk = func(id string) bool {
		path = append(path, id)
		for _, p := range parents(id) {
			if p == spec.ID {
				path = append(path, p)
				return true
			}
			if !seen[p] {
				seen[p] = true
				if walk(p) {
					return true
				}
			}
		}
		path = path[:len(path)-1]
		return false
	}
	if walk(spec.ID) {
		return path
	}
	return nil
}

// childrenOf lists the jobs that name id as a parent.
func childrenOf(v *raftfsm.View, id string) []string {
	var out []string
	for _, j := range v.Jobs() {
		if slices.Contains(j.Spec.Parents, id) {
			out = append(out, j.Spec.ID)
		}
	}
	return out
}

// checkSpecDetails checks what needs the placement and schedule libraries:
// constraints and the cron schedule.
func checkSpecDetails(s raftfsm.JobSpec) error {
	if s.Type == raftfsm.JobCron {
		if _, err := schedule.Parse(s.Schedule, s.TimeZone); err != nil {
			return &api.ValidationError{Field: "schedule", Message: err.Error()}
		}
	}
	for i, c := range jobs.Constraints(s) {
		if err := c.Validate(); err != nil {
			return &api.ValidationError{Field: fmt.Sprintf("constraints[%d]", i), Message: err.Error()}
		}
	}
	return nil
}
