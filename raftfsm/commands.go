package raftfsm

import (
	"encoding/json"
	"fmt"
	"time"
)

// MessageType is the first byte of every log entry clusterd writes. Values
// are only ever appended, never renumbered or reused: old logs and snapshots
// must decode forever (testdata/golden holds one of each).
//
// A type with IgnoreUnknownFlag set may be skipped by a server that does not
// know it (an older binary during a rolling upgrade); any other unknown type
// stops the server rather than let replicas diverge.
type MessageType uint8

const (
	SetClusterIDType MessageType = 1
	RegisterNodeType MessageType = 2
	UpsertJobType    MessageType = 3
	DeleteJobType    MessageType = 4
	LaunchTasksType  MessageType = 5
	TaskStatusType   MessageType = 6
	KillTasksType    MessageType = 7
	ForgetTasksType  MessageType = 8
	SetNodeStateType MessageType = 9
	// Frameworks of the Mesos scheduler API, roles, reservations and
	// acknowledgements.
	SubscribeFrameworkType  MessageType = 10
	DisconnectFrameworkType MessageType = 11
	RemoveFrameworkType     MessageType = 12
	AcknowledgeType         MessageType = 13
	UpdateRolesType         MessageType = 14
	ReserveResourcesType    MessageType = 15
	// Jobs of the built-in frameworks: scaling, runs, deployments.
	ScaleJobType      MessageType = 16
	StartRunType      MessageType = 17
	EndRunType        MessageType = 18
	EndDeploymentType MessageType = 19
	SetLogVersionType MessageType = 20
	// The cluster's CA, gossip keys, join and API tokens (log version 3).
	SetClusterSecretsType MessageType = 21
	PutCredentialType     MessageType = 22
	DeleteCredentialType  MessageType = 23

	// IgnoreUnknownFlag marks a message type that old servers may skip.
	IgnoreUnknownFlag MessageType = 0x80
)

// Command is a typed entry of the Raft log.
type Command interface {
	Type() MessageType
}

// SetClusterID names the cluster; the first entry a bootstrapping node
// writes. Later entries never change it.
type SetClusterID struct {
	ClusterID string `json:"cluster_id"`
}

// RegisterNode adds an agent or updates its resources and addresses.
type RegisterNode struct {
	Node Node      `json:"node"`
	At   time.Time `json:"at"`
}

// SetNodeState marks a node ready, draining, down or left. A node that goes
// down or leaves takes its active tasks with it: they become TASK_LOST with
// Reason (or a default message).
type SetNodeState struct {
	ID     string    `json:"id"`
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// UpsertJob creates a job or replaces its spec, bumping its version.
type UpsertJob struct {
	Spec JobSpec   `json:"spec"`
	At   time.Time `json:"at"`
}

// DeleteJob removes a job and asks for all its active tasks to be killed.
type DeleteJob struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// LaunchTasks commits tasks placed by a framework on accepted offers. They
// enter TASK_STAGING; the agent on Task.Node starts them.
type LaunchTasks struct {
	Tasks []Task    `json:"tasks"`
	At    time.Time `json:"at"`
}

// StatusUpdate is one task state change reported by an agent.
type StatusUpdate struct {
	TaskID   string `json:"task_id"`
	State    string `json:"state"`
	Message  string `json:"message,omitempty"`
	Reason   string `json:"reason,omitempty"`
	ExitCode *int   `json:"exit_code,omitempty"`
	// Healthy reports a change of the task's health (its state unchanged).
	Healthy *bool     `json:"healthy,omitempty"`
	At      time.Time `json:"at"`
}

// TaskStatusBatch applies many status updates in one log entry: agents
// batch them, because a node finishing 1,000 short tasks must not need 3,000
// Raft round trips.
type TaskStatusBatch struct {
	Updates []StatusUpdate `json:"updates"`
}

// KillTasks asks the agents to kill active tasks.
type KillTasks struct {
	IDs []string `json:"ids"`
	// GraceSeconds, when set, replaces the tasks' kill grace period (a
	// framework's kill policy, an operator's drain deadline).
	GraceSeconds *float64 `json:"grace_seconds,omitempty"`
	// Reason is recorded on the tasks (see Task.KillReason).
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// ForgetTasks removes terminal tasks from the state (garbage collection).
// Active tasks named here are left alone.
type ForgetTasks struct {
	IDs []string `json:"ids"`
}

// SubscribeFramework registers a framework, or re-registers one that
// reconnects (Update false) or changes its info (Update true: the
// framework must exist and its timestamps stay). A removed framework's id is
// refused.
type SubscribeFramework struct {
	Framework Framework `json:"framework"`
	Update    bool      `json:"update,omitempty"`
	At        time.Time `json:"at"`
}

// DisconnectFramework records that a framework's event stream closed: its
// failover timeout runs from At.
type DisconnectFramework struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// RemoveFramework tears a framework down: its active tasks are marked for
// killing, its unacknowledged updates are dropped, and its id can never
// subscribe again.
type RemoveFramework struct {
	ID     string    `json:"id"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Ack acknowledges a task's oldest unacknowledged status update.
type Ack struct {
	Framework string `json:"framework"`
	TaskID    string `json:"task_id"`
	UUID      []byte `json:"uuid"`
}

// Acknowledge applies frameworks' acknowledgements. One that does not match
// the task's oldest unacknowledged update (a duplicate, a late one) is
// skipped.
type Acknowledge struct {
	Acks []Ack `json:"acks"`
}

// RoleUpdate changes a role's weight, its quota, or both (nil: unchanged).
type RoleUpdate struct {
	Role   string     `json:"role"`
	Weight *float64   `json:"weight,omitempty"`
	Quota  *Resources `json:"quota,omitempty"`
}

// UpdateRoles applies role updates, all or none: an invalid weight or quota
// rejects the command.
type UpdateRoles struct {
	Updates []RoleUpdate `json:"updates"`
	At      time.Time    `json:"at"`
}

// ReservationOp reserves resources of a node for a role (a dynamic
// reservation), or returns them (Unreserve).
type ReservationOp struct {
	Node      string    `json:"node"`
	Role      string    `json:"role"`
	Resources Resources `json:"resources"`
	Unreserve bool      `json:"unreserve,omitempty"`
}

// ReserveResources applies reservation operations in order; one that does
// not fit (more than the node has unreserved, or than the role's dynamic
// reservation holds) is skipped and counted in Result.Rejected. The leader
// checks them against what is free before writing them.
type ReserveResources struct {
	Ops []ReservationOp `json:"ops"`
	At  time.Time       `json:"at"`
}

// ScaleJob changes a job's instance count without a new version: its
// running tasks stay (Marathon's scale).
type ScaleJob struct {
	ID        string    `json:"id"`
	Instances int       `json:"instances"`
	At        time.Time `json:"at"`
}

// StartRun starts a run of a batch or cron job (or records one that was
// skipped, with Skip saying why). A scheduled run whose time is not after
// the job's LastScheduled is refused: it was started or skipped already,
// perhaps by an earlier leader.
type StartRun struct {
	Job          string    `json:"job"`
	Trigger      string    `json:"trigger"`
	ScheduledFor time.Time `json:"scheduled_for,omitzero"`
	Skip         string    `json:"skip,omitempty"`
	At           time.Time `json:"at"`
}

// EndRun records how a running run ended.
type EndRun struct {
	Job     string    `json:"job"`
	Number  int       `json:"number"`
	State   string    `json:"state"`
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at"`
}

// EndDeployment records that a service's version is fully rolled out.
type EndDeployment struct {
	Job     string    `json:"job"`
	Version uint64    `json:"version"`
	At      time.Time `json:"at"`
}

func (SetClusterID) Type() MessageType    { return SetClusterIDType }
func (RegisterNode) Type() MessageType    { return RegisterNodeType }
func (SetNodeState) Type() MessageType    { return SetNodeStateType }
func (UpsertJob) Type() MessageType       { return UpsertJobType }
func (DeleteJob) Type() MessageType       { return DeleteJobType }
func (LaunchTasks) Type() MessageType     { return LaunchTasksType }
func (TaskStatusBatch) Type() MessageType { return TaskStatusType }
func (KillTasks) Type() MessageType       { return KillTasksType }
func (ForgetTasks) Type() MessageType     { return ForgetTasksType }

func (SubscribeFramework) Type() MessageType  { return SubscribeFrameworkType }
func (DisconnectFramework) Type() MessageType { return DisconnectFrameworkType }
func (RemoveFramework) Type() MessageType     { return RemoveFrameworkType }
func (Acknowledge) Type() MessageType         { return AcknowledgeType }
func (UpdateRoles) Type() MessageType         { return UpdateRolesType }
func (ReserveResources) Type() MessageType    { return ReserveResourcesType }
func (ScaleJob) Type() MessageType            { return ScaleJobType }
func (StartRun) Type() MessageType            { return StartRunType }
func (EndRun) Type() MessageType              { return EndRunType }
func (EndDeployment) Type() MessageType       { return EndDeploymentType }

// Encode serializes a command as its type byte followed by its JSON.
func Encode(c Command) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", c.Type(), err)
	}
	out := make([]byte, 0, len(body)+1)
	out = append(out, byte(c.Type()))
	return append(out, body...), nil
}

// ErrUnknownCommand wraps a log entry whose type this binary does not know.
type ErrUnknownCommand struct{ Type MessageType }

func (e ErrUnknownCommand) Error() string {
	return fmt.Sprintf("unknown command type %d: this clusterd is older than the log; upgrade it", e.Type)
}

// Decode parses a log entry written by Encode.
func Decode(data []byte) (Command, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("decode command: empty entry")
	}
	t := MessageType(data[0])
	var c Command
	switch t {
	case SetClusterIDType:
		c = &SetClusterID{}
	case RegisterNodeType:
		c = &RegisterNode{}
	case SetNodeStateType:
		c = &SetNodeState{}
	case UpsertJobType:
		c = &UpsertJob{}
	case DeleteJobType:
		c = &DeleteJob{}
	case LaunchTasksType:
		c = &LaunchTasks{}
	case TaskStatusType:
		c = &TaskStatusBatch{}
	case KillTasksType:
		c = &KillTasks{}
	case ForgetTasksType:
		c = &ForgetTasks{}
	case SubscribeFrameworkType:
		c = &SubscribeFramework{}
	case DisconnectFrameworkType:
		c = &DisconnectFramework{}
	case RemoveFrameworkType:
		c = &RemoveFramework{}
	case AcknowledgeType:
		c = &Acknowledge{}
	case UpdateRolesType:
		c = &UpdateRoles{}
	case ReserveResourcesType:
		c = &ReserveResources{}
	case ScaleJobType:
		c = &ScaleJob{}
	case StartRunType:
		c = &StartRun{}
	case EndRunType:
		c = &EndRun{}
	case EndDeploymentType:
		c = &EndDeployment{}
	case SetLogVersionType:
		c = &SetLogVersion{}
	case SetClusterSecretsType:
		c = &SetClusterSecrets{}
	case PutCredentialType:
		c = &PutCredential{}
	case DeleteCredentialType:
		c = &DeleteCredential{}
	default:
		return nil, ErrUnknownCommand{Type: t}
	}
	if err := json.Unmarshal(data[1:], c); err != nil {
		return nil, fmt.Errorf("decode command type %d: %w", t, err)
	}
	return c, nil
}
