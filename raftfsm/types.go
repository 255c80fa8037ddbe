package raftfsm

import "time"

// Task states, the Mesos names.
const (
	TaskStaging  = "TASK_STAGING"
	TaskStarting = "TASK_STARTING"
	TaskRunning  = "TASK_RUNNING"
	TaskKilling  = "TASK_KILLING"
	TaskFinished = "TASK_FINISHED"
	TaskFailed   = "TASK_FAILED"
	TaskKilled   = "TASK_KILLED"
	TaskLost     = "TASK_LOST"
	TaskError    = "TASK_ERROR"
)

// Terminal reports whether a task in this state will never change again.
func Terminal(state string) bool {
	switch state {
	case TaskFinished, TaskFailed, TaskKilled, TaskLost, TaskError:
		return true
	}
	return false
}

// stateRank orders the non-terminal states so that a late, out-of-order
// update (RUNNING arriving after FINISHED was applied, or STARTING after
// RUNNING) never moves a task backwards.
func stateRank(state string) int {
	switch state {
	case TaskStaging:
		return 0
	case TaskStarting:
		return 1
	case TaskRunning:
		return 2
	case TaskKilling:
		return 3
	}
	if Terminal(state) {
		return 4
	}
	return -1
}

// Node states.
const (
	NodeReady    = "ready"
	NodeDraining = "draining"
	NodeDown     = "down"
	NodeLeft     = "left"
)

// PortRange is an inclusive range of ports.
type PortRange struct {
	Begin uint16 `json:"begin"`
	End   uint16 `json:"end"`
}

// Resources is an amount of schedulable resources (Mem, Disk in MiB).
type Resources struct {
	CPUs  float64     `json:"cpus,omitempty"`
	Mem   float64     `json:"mem,omitempty"`
	Disk  float64     `json:"disk,omitempty"`
	GPUs  int         `json:"gpus,omitempty"`
	Ports []PortRange `json:"ports,omitempty"`
}

// Node is a machine that registered as an agent.
type Node struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	HTTPAddr     string            `json:"http_addr"`
	RaftAddr     string            `json:"raft_addr,omitempty"`
	Isolator     string            `json:"isolator"`
	Version      string            `json:"version,omitempty"`
	Total        Resources         `json:"total"`
	Attributes   map[string]string `json:"attributes,omitempty"`
	State        string            `json:"state"`
	RegisteredAt time.Time         `json:"registered_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

// JobSpec is a built-in framework job as stored in the log. It mirrors the
// API's job document but is versioned with the log, not with the API.
type JobSpec struct {
	ID               string            `json:"id"`
	Type             string            `json:"type"`
	Cmd              string            `json:"cmd"`
	Instances        int               `json:"instances"`
	Resources        Resources         `json:"resources"`
	Ports            int               `json:"ports,omitempty"`
	Env              map[string]string `json:"env,omitempty"`
	Retries          int               `json:"retries,omitempty"`
	KillGraceSeconds float64           `json:"kill_grace_seconds,omitempty"`
	Role             string            `json:"role,omitempty"`
	Profile          string            `json:"profile,omitempty"`
	User             string            `json:"user,omitempty"`
}

// Job is a submitted job and its version history counter.
type Job struct {
	Spec      JobSpec   `json:"spec"`
	Version   uint64    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ID is the job's id (the memdb primary key).
func (j *Job) ID() string { return j.Spec.ID }

// TaskStatus is one transition of a task.
type TaskStatus struct {
	State    string    `json:"state"`
	Time     time.Time `json:"time"`
	Message  string    `json:"message,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	ExitCode *int      `json:"exit_code,omitempty"`
}

// Reasons a task ended, the Mesos TaskStatus.Reason names.
const (
	ReasonMemoryLimit = "REASON_CONTAINER_LIMITATION_MEMORY"
	ReasonAgentLost   = "REASON_AGENT_REMOVED"
)

// maxHistory bounds a task's status history so a flapping task cannot grow
// a log entry or snapshot without limit.
const maxHistory = 16

// Task is one launched task. Tasks of the built-in jobs framework carry Job,
// JobVersion, Instance and Attempt; external frameworks' tasks leave them
// empty.
type Task struct {
	ID               string            `json:"id"`
	Framework        string            `json:"framework"`
	Job              string            `json:"job,omitempty"`
	JobVersion       uint64            `json:"job_version,omitempty"`
	Instance         int               `json:"instance"`
	Attempt          int               `json:"attempt"`
	Failures         int               `json:"failures,omitempty"` // consecutive failures of this instance before this attempt
	Node             string            `json:"node"`
	Resources        Resources         `json:"resources"`
	Cmd              string            `json:"cmd"`
	Env              map[string]string `json:"env,omitempty"`
	KillGraceSeconds float64           `json:"kill_grace_seconds,omitempty"`
	Profile          string            `json:"profile,omitempty"`
	User             string            `json:"user,omitempty"`

	State         string       `json:"state"`
	Message       string       `json:"message,omitempty"`
	Reason        string       `json:"reason,omitempty"`
	ExitCode      *int         `json:"exit_code,omitempty"`
	KillRequested bool         `json:"kill_requested,omitempty"`
	CreatedAt     time.Time    `json:"created_at"`
	UpdatedAt     time.Time    `json:"updated_at"`
	History       []TaskStatus `json:"history,omitempty"`
}

// Active reports whether the task still holds resources.
func (t *Task) Active() bool { return !Terminal(t.State) }

// RunningSince is when the task last became RUNNING, or zero.
func (t *Task) RunningSince() time.Time {
	for i := len(t.History) - 1; i >= 0; i-- {
		if t.History[i].State == TaskRunning {
			return t.History[i].Time
		}
	}
	return time.Time{}
}

// meta is the single row holding cluster-wide scalars.
type meta struct {
	Key       string `json:"key"`
	ClusterID string `json:"cluster_id"`
	Index     uint64 `json:"index"` // last applied Raft index
}
