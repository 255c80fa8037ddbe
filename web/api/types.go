package api

import "time"

// Mesos task state names, used verbatim on the wire.
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

// TaskStateTerminal reports whether a task in this state will never run again.
func TaskStateTerminal(state string) bool {
	switch state {
	case TaskFinished, TaskFailed, TaskKilled, TaskLost, TaskError:
		return true
	}
	return false
}

// Job states as reported by the built-in jobs framework.
const (
	JobStateRunning   = "running"   // a service with every instance at its latest version, serving; a batch or cron job's run in progress
	JobStateDeploying = "deploying" // a service rolling out its latest version (or short of instances)
	JobStateSuspended = "suspended" // a service scaled to 0
	JobStateComplete  = "complete"  // a batch job whose latest run succeeded
	JobStateFailed    = "failed"    // a batch or cron job whose latest run failed
	JobStateScheduled = "scheduled" // a cron job between runs
	JobStateWaiting   = "waiting"   // a dependent job whose parents have not all succeeded yet
	JobStateDead      = "dead"      // a job that was deleted (kept while its tasks stop)
)

// Run states (Run.State).
const (
	RunRunning    = "running"
	RunSucceeded  = "succeeded"
	RunFailed     = "failed"
	RunSkipped    = "skipped"    // a scheduled run not started: missed by more than epsilon, or forbidden beside the running one
	RunSuperseded = "superseded" // a newer version or a replacing run took over
)

// Job is a job as the API reports it: the submitted spec plus what the
// cluster made of it.
type Job struct {
	JobSpec
	Version   uint64    `json:"version"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Tasks counts the job's current tasks by Mesos state name.
	Tasks map[string]int `json:"tasks"`
	// Pending lists, for instances the scheduler could not place, why.
	Pending *PendingReason `json:"pending,omitempty"`
	// Deployment is a service's roll-out of its latest version while it
	// runs (and how far it is).
	Deployment *Deployment `json:"deployment,omitempty"`
	// Deployments are the latest versions rolled out, oldest first.
	Deployments []DeploymentRecord `json:"deployments,omitempty"`
	// Runs are a batch or cron job's latest runs, oldest first.
	Runs []Run `json:"runs,omitempty"`
	// NextRun is when a cron job runs next (zero when it never will).
	NextRun time.Time `json:"next_run,omitzero"`
}

// Deployment is how far a service's roll-out to Version is: of Instances
// wanted, Updated run the new version, Healthy of those pass their checks,
// Old tasks of earlier versions still run.
type Deployment struct {
	Version   uint64    `json:"version"`
	Instances int       `json:"instances"`
	Updated   int       `json:"updated"`
	Healthy   int       `json:"healthy"`
	Old       int       `json:"old"`
	StartedAt time.Time `json:"started_at"`
}

// DeploymentRecord is one version's roll-out: running, succeeded or
// superseded.
type DeploymentRecord struct {
	Version    uint64    `json:"version"`
	State      string    `json:"state"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Run is one run of a batch or cron job: its trigger (submit, schedule,
// parents, manual), state (running, succeeded, failed, skipped,
// superseded) and times.
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

// PendingReason says why some of a job's instances are not placed: how many
// instances wait, and how many hosts were rejected for each reason
// ("insufficient cpus", "insufficient mem", ...). Unplaceable is true when no
// host in the cluster could ever fit one instance (the job is bigger than
// every node), as opposed to waiting for resources to free up.
type PendingReason struct {
	Instances   int            `json:"instances"`
	Unplaceable bool           `json:"unplaceable"`
	Message     string         `json:"message"`
	Hosts       map[string]int `json:"hosts,omitempty"`
}

// TaskStatus is one state transition of a task.
type TaskStatus struct {
	State    string    `json:"state"`
	Time     time.Time `json:"time"`
	Message  string    `json:"message,omitempty"`
	Reason   string    `json:"reason,omitempty"` // Mesos reason, e.g. REASON_CONTAINER_LIMITATION_MEMORY
	ExitCode *int      `json:"exit_code,omitempty"`
	Healthy  *bool     `json:"healthy,omitempty"`
	// UUID is the id of the status update its framework was sent for this
	// transition (base64, as in the Mesos API); absent for tasks of jobs.
	UUID []byte `json:"uuid,omitempty"`
}

// Task is one run of one instance of a job (or a task of an external
// framework).
type Task struct {
	ID            string            `json:"id"`
	Job           string            `json:"job"`
	JobVersion    uint64            `json:"job_version"`
	Instance      int               `json:"instance"`
	Framework     string            `json:"framework"`
	Node          string            `json:"node"`
	NodeName      string            `json:"node_name,omitempty"`
	State         string            `json:"state"`
	Message       string            `json:"message,omitempty"`
	Reason        string            `json:"reason,omitempty"`
	ExitCode      *int              `json:"exit_code,omitempty"`
	Cmd           string            `json:"cmd"`
	Env           map[string]string `json:"env,omitempty"`
	Resources     Resources         `json:"resources"`
	KillRequested bool              `json:"kill_requested,omitempty"`
	// KillReason says why the cluster killed it ("scaled down", "replaced
	// by a newer version", "unhealthy", ...); empty for a user's kill.
	KillReason string `json:"kill_reason,omitempty"`
	// Healthy is what the task's health checks last found (absent without
	// checks, or before their first result).
	Healthy *bool `json:"healthy,omitempty"`
	// Run is the run of a batch or cron job the task belongs to.
	Run int `json:"run,omitempty"`
	// Used is the task's measured use while it runs (from the leader).
	Used      *Usage       `json:"used,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
	History   []TaskStatus `json:"history,omitempty"`
}

// TaskFilter narrows GET /v1/tasks. Empty fields match everything.
type TaskFilter struct {
	Job   string `json:"job,omitempty"`
	Node  string `json:"node,omitempty"`
	State string `json:"state,omitempty"`
	// Active limits the list to tasks that are not terminal.
	Active bool `json:"active,omitempty"`
}

// Node is a machine in the cluster.
type Node struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Address      string            `json:"address"` // host:port of its HTTP API
	State        string            `json:"state"`   // ready, draining, down, left
	Leader       bool              `json:"leader"`
	Isolator     string            `json:"isolator"`
	Total        Resources         `json:"total"`
	Allocated    Resources         `json:"allocated"`
	Used         *Usage            `json:"used,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
	Tasks        int               `json:"tasks"` // active tasks on the node
	RegisteredAt time.Time         `json:"registered_at"`
}

// Usage is what tasks (of a node, or one task) actually consume, as measured
// by the isolator and reported by the agent every few seconds.
type Usage struct {
	CPUs    float64   `json:"cpus"`               // cores in use, averaged over the last sample interval
	Mem     float64   `json:"mem"`                // MiB resident
	MemPeak float64   `json:"mem_peak,omitempty"` // MiB, highest seen, where the isolator knows it
	At      time.Time `json:"at"`                 // when it was sampled
}

// StateDigest is the answer of GET /v1/status/digest: a server's replica
// of the cluster state at one applied index, as a SHA-256 digest. Two
// servers at the same index must report the same digest; the fault suite
// checks that they do.
type StateDigest struct {
	NodeID       string `json:"node_id"`
	AppliedIndex uint64 `json:"applied_index"`
	Digest       string `json:"state_digest"`
}

// Status is the answer of GET /v1/status: the cluster at a glance.
type Status struct {
	ClusterID    string `json:"cluster_id"`
	Version      string `json:"version"`
	NodeID       string `json:"node_id"`
	NodeName     string `json:"node_name"`
	Leader       string `json:"leader"`      // node id of the leader
	LeaderAddr   string `json:"leader_addr"` // its HTTP address
	RaftState    string `json:"raft_state"`  // Leader, Follower, Candidate
	AppliedIndex uint64 `json:"applied_index"`
	// LogVersion is the replicated log's version: features of a newer one
	// are refused until every server is upgraded (OPERATIONS.md).
	LogVersion int `json:"log_version,omitempty"`
	// CAFingerprint is the SHA-256 of the cluster CA's certificate (hex),
	// which join tokens pin; empty until the first leader has made it.
	CAFingerprint string         `json:"ca_fingerprint,omitempty"`
	Voters        []string       `json:"voters"`
	Nodes         map[string]int `json:"nodes"` // by node state
	Jobs          int            `json:"jobs"`
	Tasks         map[string]int `json:"tasks"` // active + recent tasks by state
	Capacity      Resources      `json:"capacity"`
	Allocated     Resources      `json:"allocated"`
	Uptime        float64        `json:"uptime_seconds"`
}

// Event is a change notification on the server-sent event stream
// GET /v1/events. Kind is "state" when replicated state changed (Index is
// the Raft index that changed it); clients re-read what they show.
type Event struct {
	Kind  string `json:"kind"`
	Index uint64 `json:"index"`
}

// Utilization is the answer of GET /v1/utilization: the cluster's capacity,
// allocation and measured use over the last hour, sampled by the leader
// (soft state: a new leader starts a new history).
type Utilization struct {
	IntervalSeconds float64             `json:"interval_seconds"`
	Samples         []UtilizationSample `json:"samples"` // oldest first
}

// UtilizationSample is the cluster at one moment: Capacity of the nodes
// ready or draining, Allocated to active tasks, Used as measured on the
// nodes (CPUs in cores, Mem in MiB; Disk and GPUs as allocated).
type UtilizationSample struct {
	Time      time.Time `json:"time"`
	Capacity  Resources `json:"capacity"`
	Allocated Resources `json:"allocated"`
	Used      Usage     `json:"used"`
	Tasks     int       `json:"tasks"` // active tasks
	Pending   int       `json:"pending"`
}

// Role is one allocation role as GET /v1/roles reports it: its weight and
// quota (replicated), and from the leader's allocator what it holds, its
// weighted dominant share and its frameworks in DRF order.
type Role struct {
	Name      string     `json:"name"`
	Weight    float64    `json:"weight"`
	Quota     *Resources `json:"quota,omitempty"`
	Allocated Resources  `json:"allocated"`
	Offered   Resources  `json:"offered"`
	Reserved  Resources  `json:"reserved"`
	// DominantShare is the role's dominant share divided by its weight:
	// the role with the lowest is offered resources first.
	DominantShare float64          `json:"dominant_share"`
	Frameworks    []FrameworkShare `json:"frameworks"`
}

// FrameworkShare is a framework's standing in one role.
type FrameworkShare struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Connected     bool      `json:"connected"`
	DominantShare float64   `json:"dominant_share"`
	Allocated     Resources `json:"allocated"`
	Offered       Resources `json:"offered"`
	Offers        int       `json:"offers"` // outstanding
	Tasks         int       `json:"tasks"`  // active, in this role
}

// SnapshotSummary describes a backup of the replicated state (GET and POST
// /v1/snapshot): whose, from which Raft index, and how much is in it.
type SnapshotSummary struct {
	ClusterID  string `json:"cluster_id"`
	Index      uint64 `json:"index"`
	LogVersion int    `json:"log_version"`
	Nodes      int    `json:"nodes"`
	Jobs       int    `json:"jobs"`
	Tasks      int    `json:"tasks"`
	Frameworks int    `json:"frameworks"`
	SHA256     string `json:"sha256,omitempty"`
	Bytes      int64  `json:"bytes,omitempty"`
}

// AutoscaleStatus is the answer of GET /v1/autoscale: the leader's
// autoscaler, its groups and its last decisions (soft state: a new leader
// starts with none and waits the delays out again).
type AutoscaleStatus struct {
	// Enabled is false when the leader was given no --autoscale file.
	Enabled         bool                `json:"enabled"`
	DryRun          bool                `json:"dry_run"`
	Attribute       string              `json:"attribute,omitempty"`
	IntervalSeconds float64             `json:"interval_seconds,omitempty"`
	Groups          []AutoscaleGroup    `json:"groups"`
	Decisions       []AutoscaleDecision `json:"decisions"` // oldest first, the last 100 that did something
}

// AutoscaleGroup is one group of hosts: its rules, what it has now and the
// last decision taken for it.
type AutoscaleGroup struct {
	Name     string         `json:"name"`
	Actuator string         `json:"actuator"`
	Rules    AutoscaleRules `json:"rules"`
	// Ready, Booting, Draining and Down count the group's hosts; Idle the
	// ready ones running nothing (booting ones count as idle).
	Ready    int `json:"ready"`
	Booting  int `json:"booting"`
	Draining int `json:"draining"`
	Down     int `json:"down"`
	Idle     int `json:"idle"`
	// Shortfall is how many more hosts the pending backlog needs.
	Shortfall int               `json:"shortfall"`
	Last      AutoscaleDecision `json:"last"`
}

// AutoscaleRules are a group's rules as configured.
type AutoscaleRules struct {
	MinSize          int                 `json:"min_size"`
	MaxSize          int                 `json:"max_size"`
	MinIdle          int                 `json:"min_idle"`
	MaxIdle          int                 `json:"max_idle"`
	CooldownSeconds  float64             `json:"cooldown_seconds"`
	ScaleUpDelay     float64             `json:"scale_up_delay_seconds"`
	ScaleDownDelay   float64             `json:"scale_down_delay_seconds"`
	BatchDeadline    float64             `json:"batch_deadline_seconds"`
	ConsolidateBelow float64             `json:"consolidate_below,omitempty"`
	Shape            Resources           `json:"shape"`
	Attributes       map[string][]string `json:"attributes,omitempty"`
}

// AutoscaleDecision is one decision: what, for which group, why, and what
// came of it.
type AutoscaleDecision struct {
	At    time.Time `json:"at"`
	Group string    `json:"group"`
	// Kind is none, scale_up, drain or terminate.
	Kind   string   `json:"kind"`
	Count  int      `json:"count,omitempty"`
	Hosts  []string `json:"hosts,omitempty"` // node names
	Reason string   `json:"reason"`
	// Size and Idle are the group's before the decision; Shortfall what
	// the backlog needed.
	Size      int `json:"size"`
	Idle      int `json:"idle"`
	Shortfall int `json:"shortfall"`
	// DryRun: reported only, nothing was done. Error: the actuator (or the
	// drain) failed, and the next evaluation decides again.
	DryRun bool   `json:"dry_run,omitempty"`
	Error  string `json:"error,omitempty"`
}
