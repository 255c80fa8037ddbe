package raftfsm

import (
	"encoding/json"
	"time"
)

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

// Node states. Only ready nodes are offered to frameworks; an inactive
// node keeps its tasks running (Mesos's DEACTIVATE_AGENT), a draining one
// has its tasks killed and replaced elsewhere (DRAIN_AGENT).
const (
	NodeReady    = "ready"
	NodeInactive = "inactive"
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
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	HTTPAddr string    `json:"http_addr"`
	RaftAddr string    `json:"raft_addr,omitempty"`
	Isolator string    `json:"isolator"`
	Version  string    `json:"version,omitempty"`
	Total    Resources `json:"total"`
	// Reserved is the node's static reservations: role → resources carved
	// out of Total (its --resources "cpus(analytics):4"), set by the agent.
	Reserved map[string]Resources `json:"reserved,omitempty"`
	// Dynamic is the reservations made by RESERVE operations, by role; the
	// agent's re-registration keeps them while they fit beside Reserved.
	Dynamic      map[string]Resources `json:"dynamic,omitempty"`
	Attributes   map[string]string    `json:"attributes,omitempty"`
	State        string               `json:"state"`
	RegisteredAt time.Time            `json:"registered_at"`
	UpdatedAt    time.Time            `json:"updated_at"`
}

// Job types.
const (
	JobService = "service"
	JobBatch   = "batch"
	JobCron    = "cron"
)

// JobSpec is a built-in framework job as stored in the log. It mirrors the
// API's job document but is versioned with the log, not with the API: the
// API fills in every default before writing it, so a job keeps behaving as
// it was submitted when defaults change later.
type JobSpec struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Cmd  string `json:"cmd"`
	// Args, when set, is the command as argv (exec'd, no shell); Cmd is empty then.
	Args             []string          `json:"args,omitempty"`
	Instances        int               `json:"instances"`
	Resources        Resources         `json:"resources"`
	Ports            int               `json:"ports,omitempty"`
	Env              map[string]string `json:"env,omitempty"`
	Retries          int               `json:"retries,omitempty"`
	KillGraceSeconds float64           `json:"kill_grace_seconds,omitempty"`
	Role             string            `json:"role,omitempty"`
	Profile          string            `json:"profile,omitempty"`
	User             string            `json:"user,omitempty"`

	Constraints  []Constraint  `json:"constraints,omitempty"`
	HealthChecks []HealthCheck `json:"health_checks,omitempty"`
	// Priority orders pending tasks of different jobs: higher first.
	Priority int `json:"priority,omitempty"`
	// Lifetime is the placement hint "long", "short" or "".
	Lifetime string `json:"lifetime,omitempty"`

	// Restart backoff of a failing service instance: BackoffSeconds, times
	// BackoffFactor per consecutive failure, at most MaxLaunchDelaySeconds.
	BackoffSeconds        float64 `json:"backoff_seconds,omitempty"`
	BackoffFactor         float64 `json:"backoff_factor,omitempty"`
	MaxLaunchDelaySeconds float64 `json:"max_launch_delay_seconds,omitempty"`
	// Rolling updates of a service: the share of instances kept healthy,
	// and the share that may run beyond the instance count (Marathon's
	// upgradeStrategy).
	MinHealthCapacity float64 `json:"min_health_capacity,omitempty"`
	MaxOverCapacity   float64 `json:"max_over_capacity,omitempty"`

	// MaxCompletionSeconds kills a batch or cron task that runs longer
	// (counted as a failure); 0: no limit.
	MaxCompletionSeconds float64 `json:"max_completion_seconds,omitempty"`
	// RetentionSeconds is how long the records, exit codes and output of
	// ended tasks are kept; 0: the cluster's default.
	RetentionSeconds float64 `json:"retention_seconds,omitempty"`

	// Cron jobs: Schedule (ISO 8601 repeating interval or 5-field cron) in
	// TimeZone; a missed run still starts within EpsilonSeconds of its
	// time; ConcurrencyPolicy says what a run due while the previous one
	// runs does: "allow", "forbid" (skipped) or "replace".
	Schedule          string  `json:"schedule,omitempty"`
	TimeZone          string  `json:"time_zone,omitempty"`
	EpsilonSeconds    float64 `json:"epsilon_seconds,omitempty"`
	ConcurrencyPolicy string  `json:"concurrency_policy,omitempty"`
	// Parents make a batch job dependent: it runs each time the latest runs
	// of all its parents succeeded.
	Parents []string `json:"parents,omitempty"`
}

// Constraint limits where a job's tasks go (Marathon's operators, on
// "hostname" or an attribute); a soft one only prefers.
type Constraint struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    string `json:"value,omitempty"`
	Soft     bool   `json:"soft,omitempty"`
}

// HealthCheck is how an agent checks a service task's health.
type HealthCheck struct {
	Protocol               string  `json:"protocol"` // HTTP, TCP or COMMAND
	Path                   string  `json:"path,omitempty"`
	PortIndex              int     `json:"port_index,omitempty"`
	Command                string  `json:"command,omitempty"`
	GracePeriodSeconds     float64 `json:"grace_period_seconds,omitempty"`
	IntervalSeconds        float64 `json:"interval_seconds,omitempty"`
	TimeoutSeconds         float64 `json:"timeout_seconds,omitempty"`
	MaxConsecutiveFailures int     `json:"max_consecutive_failures,omitempty"`
}

// Job is a submitted job: its spec, its version (bumped by every change
// but a scale), the deployments of its versions and the runs of a batch or
// cron job.
type Job struct {
	Spec      JobSpec   `json:"spec"`
	Version   uint64    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Deployments are the latest versions rolled out, oldest first.
	Deployments []Deployment `json:"deployments,omitempty"`
	// Runs are the latest runs of a batch or cron job, oldest first.
	Runs []Run `json:"runs,omitempty"`
	// LastScheduled is the latest schedule time of a cron job a run was
	// started or skipped for: a time at or before it never runs again, so
	// a leader failover never runs a scheduled run twice.
	LastScheduled time.Time `json:"last_scheduled,omitzero"`
}

// Deployment states.
const (
	DeploymentRunning    = "running"
	DeploymentSucceeded  = "succeeded"
	DeploymentSuperseded = "superseded"
)

// Deployment is the roll-out of one version of a service.
type Deployment struct {
	Version    uint64    `json:"version"`
	State      string    `json:"state"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Run states and triggers.
const (
	RunRunning    = "running"
	RunSucceeded  = "succeeded"
	RunFailed     = "failed"
	RunSkipped    = "skipped"
	RunSuperseded = "superseded" // a newer version or a replacing run took over

	TriggerSubmit   = "submit"
	TriggerSchedule = "schedule"
	TriggerParents  = "parents"
	TriggerManual   = "manual"
)

// Run is one execution of a batch or cron job: its instances run to
// completion.
type Run struct {
	Number       int       `json:"number"`
	Version      uint64    `json:"version"`
	Trigger      string    `json:"trigger"`
	ScheduledFor time.Time `json:"scheduled_for,omitzero"`
	State        string    `json:"state"`
	Message      string    `json:"message,omitempty"`
	StartedAt    time.Time `json:"started_at"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
}

// CurrentRun is the job's latest run, or nil.
func (j *Job) CurrentRun() *Run {
	if len(j.Runs) == 0 {
		return nil
	}
	return &j.Runs[len(j.Runs)-1]
}

// RunNumber finds a run by number, or nil.
func (j *Job) RunNumber(n int) *Run {
	for i := range j.Runs {
		if j.Runs[i].Number == n {
			return &j.Runs[i]
		}
	}
	return nil
}

// Bounds on a job's records, so an hourly cron job does not grow its entry
// without limit.
const (
	maxDeployments = 10
	maxRuns        = 50
)

// ID is the job's id (the memdb primary key).
func (j *Job) ID() string { return j.Spec.ID }

// TaskStatus is one transition of a task.
type TaskStatus struct {
	State    string    `json:"state"`
	Time     time.Time `json:"time"`
	Message  string    `json:"message,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	ExitCode *int      `json:"exit_code,omitempty"`
	// Healthy is the task's health as its checks last found it, on the
	// transitions that changed it.
	Healthy *bool `json:"healthy,omitempty"`
	// Source is SourceMaster for transitions the cluster decided (a lost
	// node), empty for those the agent reported.
	Source string `json:"source,omitempty"`
	// UUID identifies a status update a framework must acknowledge: set on
	// the transitions of tasks of subscribed (Mesos API) frameworks.
	UUID []byte `json:"uuid,omitempty"`
}

// SourceMaster marks a task transition the cluster itself decided.
const SourceMaster = "master"

// Reasons a task ended, the Mesos TaskStatus.Reason names.
const (
	ReasonMemoryLimit = "REASON_CONTAINER_LIMITATION_MEMORY"
	ReasonAgentLost   = "REASON_AGENT_REMOVED"
	// ReasonFrameworkRemoved: the task was killed because its framework
	// was torn down or did not come back within its failover timeout.
	ReasonFrameworkRemoved = "REASON_FRAMEWORK_REMOVED"
)

// maxHistory bounds a task's status history so a flapping task cannot grow
// a log entry or snapshot without limit; maxUnacked bounds the updates kept
// for a framework that does not acknowledge them (a task has few
// transitions, so only a misbehaving agent could reach it).
const (
	maxHistory = 16
	maxUnacked = 32
)

// Task is one launched task. Tasks of the built-in jobs framework carry Job,
// JobVersion, Instance and Attempt; external frameworks' tasks leave them
// empty.
type Task struct {
	ID        string `json:"id"`
	Framework string `json:"framework"`
	// Role is the allocation role the task's resources count toward; empty
	// means the default role "*".
	Role             string            `json:"role,omitempty"`
	Name             string            `json:"name,omitempty"`
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
	// HealthChecks are run by the agent while the task runs; it reports
	// the changes of the task's health (Healthy).
	HealthChecks []HealthCheck `json:"health_checks,omitempty"`

	State         string `json:"state"`
	Message       string `json:"message,omitempty"`
	Reason        string `json:"reason,omitempty"`
	ExitCode      *int   `json:"exit_code,omitempty"`
	KillRequested bool   `json:"kill_requested,omitempty"`
	// KillReason says why the cluster asked for the kill ("unhealthy",
	// "timeout", ...): a task killed for a reason of its own making counts
	// as a failure.
	KillReason string `json:"kill_reason,omitempty"`
	// Healthy is nil until the task's health checks first report.
	Healthy *bool `json:"healthy,omitempty"`
	// Run is the run of a batch or cron job the task belongs to.
	Run       int          `json:"run,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
	History   []TaskStatus `json:"history,omitempty"`
	// Unacked are the transitions its framework has not acknowledged yet,
	// oldest first: the first is sent (and resent) until acknowledged, then
	// the next. Only tasks of subscribed frameworks have them.
	Unacked []TaskStatus `json:"unacked,omitempty"`
}

// AllocationRole is the role the task's resources count toward.
func (t *Task) AllocationRole() string {
	if t.Role == "" {
		return "*"
	}
	return t.Role
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

// Framework is a scheduler subscribed through the Mesos scheduler API. The
// built-in jobs framework is not one: it lives in the leader.
type Framework struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	User      string   `json:"user,omitempty"`
	Principal string   `json:"principal,omitempty"`
	Roles     []string `json:"roles"`
	// FailoverTimeout is how long, in seconds, the framework may stay
	// disconnected before it is removed and its tasks killed.
	FailoverTimeout float64  `json:"failover_timeout,omitempty"`
	Capabilities    []string `json:"capabilities,omitempty"`
	// Info is the framework's FrameworkInfo as it last sent it (Mesos wire
	// JSON, opaque here), so the operator API shows what it was given.
	Info           json.RawMessage `json:"info,omitempty"`
	RegisteredAt   time.Time       `json:"registered_at"`
	ReregisteredAt time.Time       `json:"reregistered_at,omitzero"`
	// DisconnectedAt is when its event stream last closed; zero while it
	// was connected when last known.
	DisconnectedAt time.Time `json:"disconnected_at,omitzero"`
	// RemovedAt is set once it was torn down or timed out: the record stays
	// (a bounded number of them) so the id cannot subscribe again.
	RemovedAt     time.Time `json:"removed_at,omitzero"`
	RemovedReason string    `json:"removed_reason,omitempty"`
}

// Removed reports whether the framework was torn down or timed out.
func (f *Framework) Removed() bool { return !f.RemovedAt.IsZero() }

// HasCapability reports whether the framework declared a capability.
func (f *Framework) HasCapability(c string) bool {
	for _, have := range f.Capabilities {
		if have == c {
			return true
		}
	}
	return false
}

// Role is a role's replicated configuration: its weight in DRF and its quota.
type Role struct {
	Name string `json:"name"`
	// Weight is the role's DRF weight; 0 means the default, 1.
	Weight float64 `json:"weight,omitempty"`
	// Quota is the most the role's frameworks may hold together; a zero
	// kind is unlimited.
	Quota     Resources `json:"quota,omitzero"`
	UpdatedAt time.Time `json:"updated_at"`
}

// EffectiveWeight is Weight, or 1 when unset.
func (r *Role) EffectiveWeight() float64 {
	if r == nil || r.Weight == 0 {
		return 1
	}
	return r.Weight
}

// meta is the single row holding cluster-wide scalars.
type meta struct {
	Key        string `json:"key"`
	ClusterID  string `json:"cluster_id"`
	Index      uint64 `json:"index"` // last applied Raft index
	LogVersion int    `json:"log_version,omitempty"`
}
