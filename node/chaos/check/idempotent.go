package check

import (
	"fmt"
	"sort"
)

// Submitted is what the cluster holds, after the quiet period, of a job the
// workload submitted (and resubmitted, unchanged, after an unknown
// outcome): its version and how many runs it started.
type Submitted struct {
	Version uint64
	Runs    int
}

// Idempotent checks that submissions are idempotent: a job submitted again
// with the same id and the same document (a client retrying a call whose
// answer it never got) is one job, version 1, that ran once, however many
// of the attempts the cluster applied. submissions are the workload's
// submits of such jobs; jobs what the cluster reported for each id it
// holds. A job whose every attempt failed must not exist.
func Idempotent(submissions []Operation, jobs map[string]Submitted) Result {
	const name = "idempotent submissions"
	attempts := map[string][]Operation{}
	for _, o := range submissions {
		if o.Kind == KindSubmit {
			attempts[o.Key] = append(attempts[o.Key], o)
		}
	}
	ids := make([]string, 0, len(attempts))
	for id := range attempts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var violations []string
	for _, id := range ids {
		ops := attempts[id]
		j, held := jobs[id]
		mayExist := false
		for _, o := range ops {
			mayExist = mayExist || o.Outcome != OutcomeFailed
		}
		switch {
		case !held && !mayExist:
		case !held:
			// Deleted or not: the workload never deletes these, so an
			// acknowledged one must be there.
			for _, o := range ops {
				if o.Outcome == OutcomeOK {
					violations = append(violations, fmt.Sprintf("job %q: submission acknowledged but the job is gone: %s", id, o))
					break
				}
			}
		case !mayExist:
			violations = append(violations, fmt.Sprintf("job %q exists though all %d submissions failed: %s", id, len(ops), ops[0]))
		case j.Version != 1 || j.Runs > 1:
			violations = append(violations, fmt.Sprintf("job %q: %d identical submissions made version %d with %d runs, want version 1 run once: %s",
				id, len(ops), j.Version, j.Runs, ops[len(ops)-1]))
		}
	}
	return result(name, len(ids), violations)
}
