package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/clusterd/clusterd/web/api"
)

func (s *server) getStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.backend.Status(r.Context())
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	writeJSON(w, r, http.StatusOK, st)
}

func (s *server) getStateDigest(w http.ResponseWriter, r *http.Request) {
	d, err := s.backend.StateDigest(r.Context())
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	writeJSON(w, r, http.StatusOK, d)
}

func (s *server) listNodes(w http.ResponseWriter, r *http.Request) {
	nodes, err := s.backend.Nodes(r.Context())
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	writeJSON(w, r, http.StatusOK, nonNil(nodes))
}

func (s *server) listJobs(w http.ResponseWriter, r *http.Request) {
	if !s.consistentRead(w, r) {
		return
	}
	jobs, err := s.backend.Jobs(r.Context())
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	writeJSON(w, r, http.StatusOK, nonNil(jobs))
}

func (s *server) listRoles(w http.ResponseWriter, r *http.Request) {
	roles, err := s.backend.Roles(r.Context())
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	writeJSON(w, r, http.StatusOK, nonNil(roles))
}

func (s *server) getUtilization(w http.ResponseWriter, r *http.Request) {
	u, err := s.backend.Utilization(r.Context())
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	if u.Samples == nil {
		u.Samples = []api.UtilizationSample{}
	}
	writeJSON(w, r, http.StatusOK, u)
}

func (s *server) getAutoscale(w http.ResponseWriter, r *http.Request) {
	st, err := s.backend.Autoscale(r.Context())
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	writeJSON(w, r, http.StatusOK, st)
}

// consistentRead makes a ?consistent read linearizable: it is answered
// only by the leader, after a quorum confirmed it still leads, so it never
// returns a value older than a write acknowledged before it began (a
// deposed leader, a lagging follower). Without it any server answers from
// its replica, which may lag a heartbeat behind. It reports whether the
// read may go on; when not, the answer (307 to the leader, 503) is sent.
func (s *server) consistentRead(w http.ResponseWriter, r *http.Request) bool {
	if !r.URL.Query().Has("consistent") {
		return true
	}
	if err := s.backend.Linearize(r.Context()); err != nil {
		s.writeError(w, r, err, object{})
		return false
	}
	return true
}

func (s *server) getJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.consistentRead(w, r) {
		return
	}
	job, err := s.backend.Job(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err, object{"job", id})
		return
	}
	writeJSON(w, r, http.StatusOK, job)
}

// submitJob creates or updates a job: 201 when the id was new, 200 when it
// replaced an existing job's spec.
func (s *server) submitJob(w http.ResponseWriter, r *http.Request) {
	spec, err := api.DecodeJobSpec(r.Body)
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	// The Backend does not say whether it created or updated; ask first.
	// A race with a concurrent submit only changes 201 into 200.
	_, lookupErr := s.backend.Job(r.Context(), spec.ID)
	created := errors.Is(lookupErr, api.ErrNotFound)

	job, err := s.backend.SubmitJob(r.Context(), spec)
	if err != nil {
		s.writeError(w, r, err, object{"job", spec.ID})
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/jobs/"+job.ID)
	}
	writeJSON(w, r, status, job)
}

func (s *server) scaleJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	instances, err := api.DecodeScale(r.Body)
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	job, err := s.backend.ScaleJob(r.Context(), id, instances)
	if err != nil {
		s.writeError(w, r, err, object{"job", id})
		return
	}
	writeJSON(w, r, http.StatusOK, job)
}

// startRun starts a run now: 201 with the job, its new run last in Runs.
func (s *server) startRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	job, err := s.backend.StartRun(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err, object{"job", id})
		return
	}
	writeJSON(w, r, http.StatusCreated, job)
}

func (s *server) deleteJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.backend.DeleteJob(r.Context(), id); err != nil {
		s.writeError(w, r, err, object{"job", id})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) listTasks(w http.ResponseWriter, r *http.Request) {
	if !s.consistentRead(w, r) {
		return
	}
	filter, err := parseTaskFilter(r)
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	tasks, err := s.backend.Tasks(r.Context(), filter)
	if err != nil {
		s.writeError(w, r, err, object{})
		return
	}
	writeJSON(w, r, http.StatusOK, nonNil(tasks))
}

// parseTaskFilter reads ?job=&node=&state=&active=. The state may be given
// as the Mesos name (TASK_RUNNING) or its short form (running).
func parseTaskFilter(r *http.Request) (api.TaskFilter, error) {
	q := r.URL.Query()
	f := api.TaskFilter{Job: q.Get("job"), Node: q.Get("node")}
	if st := q.Get("state"); st != "" {
		f.State = strings.ToUpper(st)
		if !strings.HasPrefix(f.State, "TASK_") {
			f.State = "TASK_" + f.State
		}
		if !knownTaskState(f.State) {
			return f, &api.ValidationError{Field: "state",
				Message: "unknown task state " + strconv.Quote(st) + "; use one of staging, starting, running, killing, finished, failed, killed, lost, error"}
		}
	}
	if a := q.Get("active"); a != "" {
		active, err := strconv.ParseBool(a)
		if err != nil {
			return f, &api.ValidationError{Field: "active", Message: "must be true or false, got " + strconv.Quote(a)}
		}
		f.Active = active
	}
	return f, nil
}

func knownTaskState(s string) bool {
	switch s {
	case api.TaskStaging, api.TaskStarting, api.TaskRunning, api.TaskKilling,
		api.TaskFinished, api.TaskFailed, api.TaskKilled, api.TaskLost, api.TaskError:
		return true
	}
	return false
}

func (s *server) getTask(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	task, err := s.backend.Task(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err, object{"task", id})
		return
	}
	writeJSON(w, r, http.StatusOK, task)
}

func (s *server) killTask(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.backend.KillTask(r.Context(), id); err != nil {
		s.writeError(w, r, err, object{"task", id})
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}
