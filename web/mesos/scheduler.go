package mesos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// The types below follow the JSON mapping of mesos/v1/mesos.proto and
// mesos/v1/scheduler/scheduler.proto: snake_case field names, enums as
// their names, bytes as standard base64, optional fields omitted when
// unset. Unknown fields are ignored on decode, as Mesos does.

// Uint64 is a proto uint64. It encodes as a JSON number, as Mesos does,
// and decodes from a number or a quoted decimal string (proto3 JSON).
type Uint64 uint64

// UnmarshalJSON accepts 42 and "42".
func (u *Uint64) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("invalid uint64 %s", b)
	}
	*u = Uint64(v)
	return nil
}

// Int64 is a proto int64. It encodes as a JSON number, as Mesos does,
// and decodes from a number or a quoted decimal string (proto3 JSON).
type Int64 int64

// UnmarshalJSON accepts -42 and "-42".
func (i *Int64) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("invalid int64 %s", b)
	}
	*i = Int64(v)
	return nil
}

// present reports whether a raw JSON field was given a non-null value
// (stout, Mesos's JSON parser, treats null as unset).
func present(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null"))
}

// ---- IDs ----

// FrameworkID identifies a framework.
type FrameworkID struct {
	Value string `json:"value"`
}

// OfferID identifies an offer.
type OfferID struct {
	Value string `json:"value"`
}

// AgentID identifies an agent.
type AgentID struct {
	Value string `json:"value"`
}

// TaskID identifies a task.
type TaskID struct {
	Value string `json:"value"`
}

// ExecutorID identifies an executor.
type ExecutorID struct {
	Value string `json:"value"`
}

// ResourceProviderID identifies a resource provider (clusterd has none;
// resources carrying one are rejected).
type ResourceProviderID struct {
	Value string `json:"value"`
}

// ContainerID identifies a container; Parent is set for nested ones.
type ContainerID struct {
	Value  string       `json:"value"`
	Parent *ContainerID `json:"parent,omitempty"`
}

// ---- mesos.proto ----

// Label is a key/value pair.
type Label struct {
	Key   string  `json:"key"`
	Value *string `json:"value,omitempty"`
}

// Labels is a list of labels.
type Labels struct {
	Labels []Label `json:"labels,omitempty"`
}

// FrameworkInfoCapability is FrameworkInfo.Capability.
type FrameworkInfoCapability struct {
	Type string `json:"type"` // MULTI_ROLE, PARTITION_AWARE, GPU_RESOURCES, ...
}

// Framework capability types used by clusterd.
const (
	CapabilityMultiRole      = "MULTI_ROLE"
	CapabilityPartitionAware = "PARTITION_AWARE"
	CapabilityGPUResources   = "GPU_RESOURCES"
	CapabilityRevocable      = "REVOCABLE_RESOURCES"
	CapabilityTaskKilling    = "TASK_KILLING_STATE"
	CapabilityReservationRef = "RESERVATION_REFINEMENT"
)

// FrameworkInfo describes a framework.
type FrameworkInfo struct {
	User            string                    `json:"user"`
	Name            string                    `json:"name"`
	ID              *FrameworkID              `json:"id,omitempty"`
	FailoverTimeout *float64                  `json:"failover_timeout,omitempty"`
	Checkpoint      *bool                     `json:"checkpoint,omitempty"`
	Role            *string                   `json:"role,omitempty"`
	Roles           []string                  `json:"roles,omitempty"`
	Hostname        *string                   `json:"hostname,omitempty"`
	Principal       *string                   `json:"principal,omitempty"`
	WebuiURL        *string                   `json:"webui_url,omitempty"`
	Capabilities    []FrameworkInfoCapability `json:"capabilities,omitempty"`
	Labels          *Labels                   `json:"labels,omitempty"`
}

// HasCapability reports whether the framework declares capability t.
func (f *FrameworkInfo) HasCapability(t string) bool {
	for _, c := range f.Capabilities {
		if c.Type == t {
			return true
		}
	}
	return false
}

// Value types (Value.Type).
const (
	ValueScalar = "SCALAR"
	ValueRanges = "RANGES"
	ValueSet    = "SET"
	ValueText   = "TEXT"
)

// Scalar is Value.Scalar.
type Scalar struct {
	Value float64 `json:"value"`
}

// Range is Value.Range (inclusive).
type Range struct {
	Begin Uint64 `json:"begin"`
	End   Uint64 `json:"end"`
}

// Ranges is Value.Ranges.
type Ranges struct {
	Range []Range `json:"range,omitempty"`
}

// Set is Value.Set.
type Set struct {
	Item []string `json:"item,omitempty"`
}

// Text is Value.Text.
type Text struct {
	Value string `json:"value"`
}

// AllocationInfo is Resource.AllocationInfo / Offer's allocation_info.
type AllocationInfo struct {
	Role *string `json:"role,omitempty"`
}

// Reservation types (Resource.ReservationInfo.Type).
const (
	ReservationStatic  = "STATIC"
	ReservationDynamic = "DYNAMIC"
)

// ReservationInfo is Resource.ReservationInfo.
type ReservationInfo struct {
	Type      string  `json:"type,omitempty"` // STATIC or DYNAMIC
	Role      *string `json:"role,omitempty"`
	Principal *string `json:"principal,omitempty"`
	Labels    *Labels `json:"labels,omitempty"`
}

// Resource is a named quantity of an agent's resources. ParseResources
// turns a list of them into amounts; FormatResources writes them.
//
// ProviderID, Disk, Revocable and Shared are kept only so that
// ParseResources can refuse them: clusterd has no resource providers,
// persistent volumes, disk sources, revocable or shared resources.
type Resource struct {
	ProviderID     *ResourceProviderID `json:"provider_id,omitempty"`
	Name           string              `json:"name"`
	Type           string              `json:"type"` // SCALAR, RANGES, SET
	Scalar         *Scalar             `json:"scalar,omitempty"`
	Ranges         *Ranges             `json:"ranges,omitempty"`
	Set            *Set                `json:"set,omitempty"`
	Role           *string             `json:"role,omitempty"` // deprecated in Mesos, still accepted
	AllocationInfo *AllocationInfo     `json:"allocation_info,omitempty"`
	Reservation    *ReservationInfo    `json:"reservation,omitempty"` // deprecated pre-refinement format
	Reservations   []ReservationInfo   `json:"reservations,omitempty"`
	Disk           json.RawMessage     `json:"disk,omitempty"`      // Resource.DiskInfo
	Revocable      json.RawMessage     `json:"revocable,omitempty"` // Resource.RevocableInfo ({})
	Shared         json.RawMessage     `json:"shared,omitempty"`    // Resource.SharedInfo ({})
}

// Attribute is an agent attribute.
type Attribute struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"`
	Scalar *Scalar `json:"scalar,omitempty"`
	Ranges *Ranges `json:"ranges,omitempty"`
	Set    *Set    `json:"set,omitempty"`
	Text   *Text   `json:"text,omitempty"`
}

// Offer is a set of resources on one agent offered to one framework.
type Offer struct {
	ID             OfferID         `json:"id"`
	FrameworkID    FrameworkID     `json:"framework_id"`
	AgentID        AgentID         `json:"agent_id"`
	Hostname       string          `json:"hostname"`
	URL            *URL            `json:"url,omitempty"`
	Domain         *DomainInfo     `json:"domain,omitempty"`
	Resources      []Resource      `json:"resources,omitempty"`
	Attributes     []Attribute     `json:"attributes,omitempty"`
	ExecutorIDs    []ExecutorID    `json:"executor_ids,omitempty"`
	AllocationInfo *AllocationInfo `json:"allocation_info,omitempty"`
}

// Address is a network address.
type Address struct {
	Hostname *string `json:"hostname,omitempty"`
	IP       *string `json:"ip,omitempty"`
	Port     int32   `json:"port"`
}

// URL is a Mesos URL.
type URL struct {
	Scheme   string  `json:"scheme"`
	Address  Address `json:"address"`
	Path     *string `json:"path,omitempty"`
	Fragment *string `json:"fragment,omitempty"`
}

// DomainInfoFaultDomain is DomainInfo.FaultDomain: a region and a zone.
type DomainInfoFaultDomain struct {
	Region struct {
		Name string `json:"name"`
	} `json:"region"`
	Zone struct {
		Name string `json:"name"`
	} `json:"zone"`
}

// DomainInfo is the fault domain of a master or an agent.
type DomainInfo struct {
	FaultDomain *DomainInfoFaultDomain `json:"fault_domain,omitempty"`
}

// MasterInfoCapability is MasterInfo.Capability.
type MasterInfoCapability struct {
	Type string `json:"type"` // AGENT_UPDATE, AGENT_DRAINING, QUOTA_V2
}

// MasterInfo describes the (leading) master. IP is the IPv4 address packed
// in network order (deprecated in Mesos in favour of Address).
type MasterInfo struct {
	ID           string                 `json:"id"`
	IP           uint32                 `json:"ip"`
	Port         uint32                 `json:"port"`
	PID          *string                `json:"pid,omitempty"`
	Hostname     *string                `json:"hostname,omitempty"`
	Version      *string                `json:"version,omitempty"`
	Address      *Address               `json:"address,omitempty"`
	Domain       *DomainInfo            `json:"domain,omitempty"`
	Capabilities []MasterInfoCapability `json:"capabilities,omitempty"`
}

// EnvironmentVariable is Environment.Variable.
type EnvironmentVariable struct {
	Name  string  `json:"name"`
	Type  *string `json:"type,omitempty"` // VALUE or SECRET
	Value *string `json:"value,omitempty"`
}

// Environment is a list of environment variables.
type Environment struct {
	Variables []EnvironmentVariable `json:"variables,omitempty"`
}

// CommandURI is CommandInfo.URI.
type CommandURI struct {
	Value      string  `json:"value"`
	Executable *bool   `json:"executable,omitempty"`
	Extract    *bool   `json:"extract,omitempty"`
	Cache      *bool   `json:"cache,omitempty"`
	OutputFile *string `json:"output_file,omitempty"`
}

// CommandInfo is the command a task runs. Shell defaults to true when
// absent: Value is run with /bin/sh -c; otherwise Value is the executable
// and Arguments its argv.
type CommandInfo struct {
	URIs        []CommandURI `json:"uris,omitempty"`
	Environment *Environment `json:"environment,omitempty"`
	Shell       *bool        `json:"shell,omitempty"`
	Value       *string      `json:"value,omitempty"`
	Arguments   []string     `json:"arguments,omitempty"`
	User        *string      `json:"user,omitempty"`
}

// IsShell reports the effective shell flag (proto default true).
func (c *CommandInfo) IsShell() bool { return c.Shell == nil || *c.Shell }

// DiscoveryPort is Port: a named port for service discovery.
type DiscoveryPort struct {
	Number     uint32  `json:"number"`
	Name       *string `json:"name,omitempty"`
	Protocol   *string `json:"protocol,omitempty"`
	Visibility *string `json:"visibility,omitempty"` // FRAMEWORK, CLUSTER, EXTERNAL
	Labels     *Labels `json:"labels,omitempty"`
}

// DiscoveryPorts is Ports.
type DiscoveryPorts struct {
	Ports []DiscoveryPort `json:"ports,omitempty"`
}

// DiscoveryInfo is a task's service discovery information; Mesos does not
// interpret it, tools such as Mesos-DNS read it from the master's state.
type DiscoveryInfo struct {
	Visibility  string          `json:"visibility"` // FRAMEWORK, CLUSTER, EXTERNAL
	Name        *string         `json:"name,omitempty"`
	Environment *string         `json:"environment,omitempty"`
	Location    *string         `json:"location,omitempty"`
	Version     *string         `json:"version,omitempty"`
	Ports       *DiscoveryPorts `json:"ports,omitempty"`
	Labels      *Labels         `json:"labels,omitempty"`
}

// TaskInfo describes a task to launch. Container, executor, checks and
// health checks are kept raw: clusterd passes them through or rejects them.
type TaskInfo struct {
	Name              string            `json:"name"`
	TaskID            TaskID            `json:"task_id"`
	AgentID           AgentID           `json:"agent_id"`
	Resources         []Resource        `json:"resources,omitempty"`
	Executor          json.RawMessage   `json:"executor,omitempty"`
	Command           *CommandInfo      `json:"command,omitempty"`
	Container         json.RawMessage   `json:"container,omitempty"`
	HealthCheck       json.RawMessage   `json:"health_check,omitempty"`
	Check             json.RawMessage   `json:"check,omitempty"`
	KillPolicy        *KillPolicy       `json:"kill_policy,omitempty"`
	Data              []byte            `json:"data,omitempty"`
	Labels            *Labels           `json:"labels,omitempty"`
	Discovery         *DiscoveryInfo    `json:"discovery,omitempty"`
	MaxCompletionTime *DurationInfo     `json:"max_completion_time,omitempty"`
	Limits            map[string]Scalar `json:"limits,omitempty"` // cpus, mem limits above the request
}

// DurationInfo is a duration in nanoseconds.
type DurationInfo struct {
	Nanoseconds Int64 `json:"nanoseconds"`
}

// TimeInfo is a time since the epoch in nanoseconds.
type TimeInfo struct {
	Nanoseconds Int64 `json:"nanoseconds"`
}

// KillPolicy is a task's kill policy.
type KillPolicy struct {
	GracePeriod *DurationInfo `json:"grace_period,omitempty"`
}

// Task states (TaskState).
const (
	TaskStaging     = "TASK_STAGING"
	TaskStarting    = "TASK_STARTING"
	TaskRunning     = "TASK_RUNNING"
	TaskKilling     = "TASK_KILLING"
	TaskFinished    = "TASK_FINISHED"
	TaskFailed      = "TASK_FAILED"
	TaskKilled      = "TASK_KILLED"
	TaskError       = "TASK_ERROR"
	TaskLost        = "TASK_LOST"
	TaskDropped     = "TASK_DROPPED"
	TaskUnreachable = "TASK_UNREACHABLE"
	TaskGone        = "TASK_GONE"
	TaskGoneByOp    = "TASK_GONE_BY_OPERATOR"
	TaskUnknown     = "TASK_UNKNOWN"
)

// IsTerminalState reports whether s is a terminal task state.
func IsTerminalState(s string) bool {
	switch s {
	case TaskFinished, TaskFailed, TaskKilled, TaskError, TaskLost, TaskDropped, TaskGone, TaskGoneByOp:
		return true
	}
	return false
}

// Status sources (TaskStatus.Source).
const (
	SourceMaster   = "SOURCE_MASTER"
	SourceAgent    = "SOURCE_AGENT"
	SourceExecutor = "SOURCE_EXECUTOR"
)

// A few status reasons (TaskStatus.Reason) clusterd emits.
const (
	ReasonReconciliation       = "REASON_RECONCILIATION"
	ReasonAgentRemoved         = "REASON_AGENT_REMOVED"
	ReasonAgentUnknown         = "REASON_AGENT_UNKNOWN"
	ReasonTaskUnknown          = "REASON_TASK_UNKNOWN"
	ReasonTaskInvalid          = "REASON_TASK_INVALID"
	ReasonInvalidOffers        = "REASON_INVALID_OFFERS"
	ReasonFrameworkRemoved     = "REASON_FRAMEWORK_REMOVED"
	ReasonCommandExecutorFail  = "REASON_COMMAND_EXECUTOR_FAILED"
	ReasonExecutorTerminated   = "REASON_EXECUTOR_TERMINATED"
	ReasonTaskKilledDuringLnch = "REASON_TASK_KILLED_DURING_LAUNCH"
	ReasonAgentDisconnected    = "REASON_AGENT_DISCONNECTED"
	ReasonAgentDraining        = "REASON_AGENT_DRAINING"
	ReasonTaskUnauthorized     = "REASON_TASK_UNAUTHORIZED"
	ReasonTaskGroupInvalid     = "REASON_TASK_GROUP_INVALID"
)

// NetworkIPAddress is NetworkInfo.IPAddress.
type NetworkIPAddress struct {
	Protocol  *string `json:"protocol,omitempty"` // IPv4 (default) or IPv6
	IPAddress *string `json:"ip_address,omitempty"`
}

// NetworkPortMapping is NetworkInfo.PortMapping.
type NetworkPortMapping struct {
	HostPort      uint32  `json:"host_port"`
	ContainerPort uint32  `json:"container_port"`
	Protocol      *string `json:"protocol,omitempty"`
}

// NetworkInfo describes a container's network (in a TaskStatus: the
// addresses the container got).
type NetworkInfo struct {
	IPAddresses  []NetworkIPAddress   `json:"ip_addresses,omitempty"`
	Name         *string              `json:"name,omitempty"`
	Groups       []string             `json:"groups,omitempty"`
	Labels       *Labels              `json:"labels,omitempty"`
	PortMappings []NetworkPortMapping `json:"port_mappings,omitempty"`
}

// ContainerStatus is the container information resolved at launch and
// reported in task statuses (network addresses, cgroup, executor pid).
type ContainerStatus struct {
	ContainerID  *ContainerID    `json:"container_id,omitempty"`
	NetworkInfos []NetworkInfo   `json:"network_infos,omitempty"`
	CgroupInfo   json.RawMessage `json:"cgroup_info,omitempty"`
	ExecutorPID  *uint32         `json:"executor_pid,omitempty"`
}

// TaskStatus is a task's state as reported to the framework. UUID is
// bytes: base64 in JSON. Updates carrying a UUID must be acknowledged;
// Mesos's master-generated updates (reconciliation answers, TASK_ERROR,
// TASK_DROPPED/TASK_LOST for invalid launches) carry none.
type TaskStatus struct {
	TaskID          TaskID           `json:"task_id"`
	State           string           `json:"state"`
	Message         *string          `json:"message,omitempty"`
	Source          *string          `json:"source,omitempty"`
	Reason          *string          `json:"reason,omitempty"`
	Data            []byte           `json:"data,omitempty"`
	AgentID         *AgentID         `json:"agent_id,omitempty"`
	ExecutorID      *ExecutorID      `json:"executor_id,omitempty"`
	Timestamp       *float64         `json:"timestamp,omitempty"` // seconds since the epoch
	UUID            []byte           `json:"uuid,omitempty"`
	Healthy         *bool            `json:"healthy,omitempty"`
	CheckStatus     json.RawMessage  `json:"check_status,omitempty"`
	Labels          *Labels          `json:"labels,omitempty"`
	ContainerStatus *ContainerStatus `json:"container_status,omitempty"`
	UnreachableTime *TimeInfo        `json:"unreachable_time,omitempty"`
	Limitation      json.RawMessage  `json:"limitation,omitempty"`
}

// Filters are applied to declined/accepted offers' remaining resources.
type Filters struct {
	RefuseSeconds *float64 `json:"refuse_seconds,omitempty"` // default 5
}

// DefaultRefuseSeconds is the proto default of Filters.refuse_seconds.
const DefaultRefuseSeconds = 5.0

// Refuse returns the effective refuse_seconds of f (which may be nil).
func (f *Filters) Refuse() float64 {
	if f == nil || f.RefuseSeconds == nil {
		return DefaultRefuseSeconds
	}
	return *f.RefuseSeconds
}

// Offer operation types (Offer.Operation.Type).
const (
	OperationLaunch    = "LAUNCH"
	OperationReserve   = "RESERVE"
	OperationUnreserve = "UNRESERVE"
)

// OperationLaunchInfo is Offer.Operation.Launch.
type OperationLaunchInfo struct {
	TaskInfos []TaskInfo `json:"task_infos,omitempty"`
}

// OperationReserveInfo is Offer.Operation.Reserve.
type OperationReserveInfo struct {
	Source    []Resource `json:"source,omitempty"`
	Resources []Resource `json:"resources,omitempty"`
}

// OperationUnreserveInfo is Offer.Operation.Unreserve.
type OperationUnreserveInfo struct {
	Resources []Resource `json:"resources,omitempty"`
}

// OperationID identifies an offer operation.
type OperationID struct {
	Value string `json:"value"`
}

// Operation is Offer.Operation.
type Operation struct {
	Type      string                  `json:"type"`
	ID        *OperationID            `json:"id,omitempty"`
	Launch    *OperationLaunchInfo    `json:"launch,omitempty"`
	Reserve   *OperationReserveInfo   `json:"reserve,omitempty"`
	Unreserve *OperationUnreserveInfo `json:"unreserve,omitempty"`
}

// ---- scheduler.proto: Call ----

// Call types (Call.Type).
const (
	CallSubscribe       = "SUBSCRIBE"
	CallTeardown        = "TEARDOWN"
	CallAccept          = "ACCEPT"
	CallDecline         = "DECLINE"
	CallRevive          = "REVIVE"
	CallSuppress        = "SUPPRESS"
	CallKill            = "KILL"
	CallShutdown        = "SHUTDOWN"
	CallAcknowledge     = "ACKNOWLEDGE"
	CallReconcile       = "RECONCILE"
	CallMessage         = "MESSAGE"
	CallRequest         = "REQUEST"
	CallUpdateFramework = "UPDATE_FRAMEWORK"
)

// CallSubscribeInfo is Call.Subscribe.
type CallSubscribeInfo struct {
	FrameworkInfo   FrameworkInfo `json:"framework_info"`
	SuppressedRoles []string      `json:"suppressed_roles,omitempty"`
}

// CallAcceptInfo is Call.Accept.
type CallAcceptInfo struct {
	OfferIDs   []OfferID   `json:"offer_ids,omitempty"`
	Operations []Operation `json:"operations,omitempty"`
	Filters    *Filters    `json:"filters,omitempty"`
}

// CallDeclineInfo is Call.Decline.
type CallDeclineInfo struct {
	OfferIDs []OfferID `json:"offer_ids,omitempty"`
	Filters  *Filters  `json:"filters,omitempty"`
}

// CallReviveInfo is Call.Revive (no roles: all the framework's roles).
type CallReviveInfo struct {
	Roles []string `json:"roles,omitempty"`
}

// CallSuppressInfo is Call.Suppress (no roles: all the framework's roles).
type CallSuppressInfo struct {
	Roles []string `json:"roles,omitempty"`
}

// CallKillInfo is Call.Kill.
type CallKillInfo struct {
	TaskID     TaskID      `json:"task_id"`
	AgentID    *AgentID    `json:"agent_id,omitempty"`
	KillPolicy *KillPolicy `json:"kill_policy,omitempty"`
}

// CallShutdownInfo is Call.Shutdown.
type CallShutdownInfo struct {
	ExecutorID ExecutorID `json:"executor_id"`
	AgentID    AgentID    `json:"agent_id"`
}

// CallAcknowledgeInfo is Call.Acknowledge.
type CallAcknowledgeInfo struct {
	AgentID AgentID `json:"agent_id"`
	TaskID  TaskID  `json:"task_id"`
	UUID    []byte  `json:"uuid"`
}

// CallReconcileTask is Call.Reconcile.Task.
type CallReconcileTask struct {
	TaskID  TaskID   `json:"task_id"`
	AgentID *AgentID `json:"agent_id,omitempty"`
}

// CallReconcileInfo is Call.Reconcile; no tasks means implicit
// reconciliation (all the framework's known tasks).
type CallReconcileInfo struct {
	Tasks []CallReconcileTask `json:"tasks,omitempty"`
}

// CallMessageInfo is Call.Message.
type CallMessageInfo struct {
	AgentID    AgentID    `json:"agent_id"`
	ExecutorID ExecutorID `json:"executor_id"`
	Data       []byte     `json:"data"`
}

// Request is a resource request (Call.Request; accepted and ignored).
type Request struct {
	AgentID   *AgentID   `json:"agent_id,omitempty"`
	Resources []Resource `json:"resources,omitempty"`
}

// CallRequestInfo is Call.Request.
type CallRequestInfo struct {
	Requests []Request `json:"requests,omitempty"`
}

// CallUpdateFrameworkInfo is Call.UpdateFramework.
type CallUpdateFrameworkInfo struct {
	FrameworkInfo   FrameworkInfo `json:"framework_info"`
	SuppressedRoles []string      `json:"suppressed_roles,omitempty"`
}

// Call is a scheduler call: POST /api/v1/scheduler.
type Call struct {
	FrameworkID     *FrameworkID             `json:"framework_id,omitempty"`
	Type            string                   `json:"type"`
	Subscribe       *CallSubscribeInfo       `json:"subscribe,omitempty"`
	Accept          *CallAcceptInfo          `json:"accept,omitempty"`
	Decline         *CallDeclineInfo         `json:"decline,omitempty"`
	Revive          *CallReviveInfo          `json:"revive,omitempty"`
	Kill            *CallKillInfo            `json:"kill,omitempty"`
	Shutdown        *CallShutdownInfo        `json:"shutdown,omitempty"`
	Acknowledge     *CallAcknowledgeInfo     `json:"acknowledge,omitempty"`
	Reconcile       *CallReconcileInfo       `json:"reconcile,omitempty"`
	Message         *CallMessageInfo         `json:"message,omitempty"`
	Request         *CallRequestInfo         `json:"request,omitempty"`
	Suppress        *CallSuppressInfo        `json:"suppress,omitempty"`
	UpdateFramework *CallUpdateFrameworkInfo `json:"update_framework,omitempty"`
}

// DecodeCall parses a JSON call. Unknown fields are ignored. The error
// texts follow Mesos's: "Failed to parse body into JSON: ..." for a body
// that is not JSON and "Failed to convert JSON into Call protobuf: ..."
// for JSON that does not fit the Call message; Mesos answers both with
// 400 Bad Request.
func DecodeCall(b []byte) (*Call, error) {
	var c Call
	if err := decodeJSON(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// decodeJSON decodes b into v with Mesos's error wording.
func decodeJSON(b []byte, v any) error {
	if !json.Valid(b) {
		var x any
		err := json.Unmarshal(b, &x)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return fmt.Errorf("Failed to parse body into JSON: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("Failed to convert JSON into Call protobuf: %v", err)
	}
	return nil
}

func missing(field string) error {
	return fmt.Errorf("Expecting '%s' to be present", field)
}

// ErrSubscriptionRefused marks (errors.Is) the Call.Validate errors that
// Mesos does not answer with 400 Bad Request: it checks FrameworkInfo's
// roles when it processes the subscription, after it has answered
// 200 OK and opened the stream, and reports a failure as an ERROR event
// ({"type":"ERROR","error":{"message":...}}) before closing the stream.
var ErrSubscriptionRefused = errors.New("subscription refused")

type refusal struct{ msg string }

func (r *refusal) Error() string        { return r.msg }
func (r *refusal) Is(target error) bool { return target == ErrSubscriptionRefused }

func refuse(format string, args ...any) error {
	return &refusal{fmt.Sprintf(format, args...)}
}

// ValidateFrameworkInfo checks FrameworkInfo's roles as Mesos does when a
// framework subscribes (validation::framework::internal::validateRoles):
// with the MULTI_ROLE capability only 'roles' may be set, without it only
// 'role'; roles must be valid (ValidateRole) and not repeated; and
// failover_timeout must fit Mesos's Duration (int64 nanoseconds). Its errors
// match ErrSubscriptionRefused. The required 'user' and 'name' are
// checked by Call.Validate (Mesos rejects a call without them with 400).
func ValidateFrameworkInfo(fi *FrameworkInfo) error {
	multiRole := fi.HasCapability(CapabilityMultiRole)
	if multiRole && fi.Role != nil {
		return refuse("'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable")
	}
	if !multiRole && len(fi.Roles) > 0 {
		return refuse("'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable")
	}
	if multiRole {
		seen := make(map[string]bool, len(fi.Roles))
		for _, r := range fi.Roles {
			if seen[r] {
				return refuse("'FrameworkInfo.roles' contains duplicate items: '%s'", r)
			}
			seen[r] = true
			if err := ValidateRole(r); err != nil {
				return refuse("'FrameworkInfo.roles' contains invalid role: %v", err)
			}
		}
	} else if fi.Role != nil {
		if err := ValidateRole(*fi.Role); err != nil {
			return refuse("'FrameworkInfo.role' is not a valid role: %v", err)
		}
	}
	if fi.FailoverTimeout != nil {
		// Mesos refuses only what its Duration cannot hold (negative
		// timeouts are accepted and mean no failover time).
		if t := *fi.FailoverTimeout; math.IsNaN(t) || math.Abs(t) > maxFailoverTimeout {
			return refuse("The framework failover_timeout (%v) is invalid", t)
		}
	}
	return nil
}

// maxFailoverTimeout is the largest failover_timeout Mesos's Duration can
// hold (int64 nanoseconds), in seconds.
const maxFailoverTimeout = float64(math.MaxInt64) / 1e9

func validFrameworkInfo(prefix string, fi *FrameworkInfo) error {
	if fi.User == "" {
		return missing(prefix + ".user")
	}
	if fi.Name == "" {
		return missing(prefix + ".name")
	}
	// UPDATE_FRAMEWORK is answered synchronously: Mesos reports an invalid
	// FrameworkInfo there as 400 Bad Request, not as an ERROR event.
	if err := ValidateFrameworkInfo(fi); err != nil {
		return errors.New(err.Error())
	}
	return nil
}

// Validate checks the minimum a server needs for each call type, with
// messages worded as Mesos words them. It does not check state (whether
// the offers, tasks or framework exist). Mesos answers these errors with
// 400 Bad Request, except those matching ErrSubscriptionRefused (see
// there). Note that Mesos accepts (202) an ACCEPT or DECLINE without
// offer_ids: an ACCEPT then fails its launches with TASK_LOST (TASK_DROPPED
// for PARTITION_AWARE frameworks) "Task launched with invalid offers: No
// offers specified", so this does not check offer_ids.
func (c *Call) Validate() error {
	if c.Type == "" {
		return missing("type")
	}
	if c.Type == CallSubscribe {
		if c.Subscribe == nil {
			return missing("subscribe")
		}
		fi := &c.Subscribe.FrameworkInfo
		if fi.User == "" {
			return missing("subscribe.framework_info.user")
		}
		if fi.Name == "" {
			return missing("subscribe.framework_info.name")
		}
		var a, b string
		if c.FrameworkID != nil {
			a = c.FrameworkID.Value
		}
		if fi.ID != nil {
			b = fi.ID.Value
		}
		if a != b {
			return errors.New("'framework_id' differs from 'subscribe.framework_info.id'")
		}
		return ValidateFrameworkInfo(fi)
	}
	switch c.Type {
	case CallTeardown, CallAccept, CallDecline, CallRevive, CallSuppress, CallKill,
		CallShutdown, CallAcknowledge, CallReconcile, CallMessage, CallRequest, CallUpdateFramework:
	default:
		return fmt.Errorf("Unknown call type '%s'", c.Type)
	}
	if c.FrameworkID == nil || c.FrameworkID.Value == "" {
		return missing("framework_id")
	}
	switch c.Type {
	case CallAccept:
		if c.Accept == nil {
			return missing("accept")
		}
		for i, op := range c.Accept.Operations {
			if err := validOperation(fmt.Sprintf("accept.operations[%d]", i), &op); err != nil {
				return err
			}
		}
	case CallDecline:
		if c.Decline == nil {
			return missing("decline")
		}
	case CallKill:
		if c.Kill == nil {
			return missing("kill")
		}
		if c.Kill.TaskID.Value == "" {
			return missing("kill.task_id")
		}
	case CallShutdown:
		if c.Shutdown == nil {
			return missing("shutdown")
		}
		if c.Shutdown.ExecutorID.Value == "" {
			return missing("shutdown.executor_id")
		}
		if c.Shutdown.AgentID.Value == "" {
			return missing("shutdown.agent_id")
		}
	case CallAcknowledge:
		if c.Acknowledge == nil {
			return missing("acknowledge")
		}
		if c.Acknowledge.AgentID.Value == "" {
			return missing("acknowledge.agent_id")
		}
		if c.Acknowledge.TaskID.Value == "" {
			return missing("acknowledge.task_id")
		}
		if len(c.Acknowledge.UUID) == 0 {
			return missing("acknowledge.uuid")
		}
		if len(c.Acknowledge.UUID) != 16 {
			return fmt.Errorf("Not a valid UUID: 'acknowledge.uuid' must be 16 bytes, got %d", len(c.Acknowledge.UUID))
		}
	case CallReconcile:
		if c.Reconcile == nil {
			return missing("reconcile")
		}
		for i, t := range c.Reconcile.Tasks {
			if t.TaskID.Value == "" {
				return missing(fmt.Sprintf("reconcile.tasks[%d].task_id", i))
			}
		}
	case CallMessage:
		if c.Message == nil {
			return missing("message")
		}
		if c.Message.AgentID.Value == "" {
			return missing("message.agent_id")
		}
		if c.Message.ExecutorID.Value == "" {
			return missing("message.executor_id")
		}
	case CallRequest:
		if c.Request == nil {
			return missing("request")
		}
	case CallUpdateFramework:
		if c.UpdateFramework == nil {
			return missing("update_framework")
		}
		fi := &c.UpdateFramework.FrameworkInfo
		if fi.ID == nil || fi.ID.Value != c.FrameworkID.Value {
			return errors.New("'framework_id' differs from 'update_framework.framework_info.id'")
		}
		if err := validFrameworkInfo("update_framework.framework_info", fi); err != nil {
			return err
		}
	}
	return nil
}

func validOperation(prefix string, op *Operation) error {
	switch op.Type {
	case "":
		return missing(prefix + ".type")
	case OperationLaunch:
		if op.Launch == nil {
			return missing(prefix + ".launch")
		}
		for i, t := range op.Launch.TaskInfos {
			p := fmt.Sprintf("%s.launch.task_infos[%d]", prefix, i)
			if t.Name == "" {
				return missing(p + ".name")
			}
			if t.TaskID.Value == "" {
				return missing(p + ".task_id")
			}
			if t.AgentID.Value == "" {
				return missing(p + ".agent_id")
			}
		}
	case OperationReserve:
		if op.Reserve == nil {
			return missing(prefix + ".reserve")
		}
	case OperationUnreserve:
		if op.Unreserve == nil {
			return missing(prefix + ".unreserve")
		}
	}
	return nil
}

// ---- scheduler.proto: Event ----

// Event types (Event.Type).
const (
	EventSubscribed = "SUBSCRIBED"
	EventOffers     = "OFFERS"
	EventRescind    = "RESCIND"
	EventUpdate     = "UPDATE"
	EventMessage    = "MESSAGE"
	EventFailure    = "FAILURE"
	EventError      = "ERROR"
	EventHeartbeat  = "HEARTBEAT"
)

// EventSubscribedInfo is Event.Subscribed.
type EventSubscribedInfo struct {
	FrameworkID              FrameworkID `json:"framework_id"`
	HeartbeatIntervalSeconds *float64    `json:"heartbeat_interval_seconds,omitempty"`
	MasterInfo               *MasterInfo `json:"master_info,omitempty"`
}

// EventOffersInfo is Event.Offers.
type EventOffersInfo struct {
	Offers []Offer `json:"offers,omitempty"`
}

// EventRescindInfo is Event.Rescind.
type EventRescindInfo struct {
	OfferID OfferID `json:"offer_id"`
}

// EventUpdateInfo is Event.Update.
type EventUpdateInfo struct {
	Status TaskStatus `json:"status"`
}

// EventMessageInfo is Event.Message.
type EventMessageInfo struct {
	AgentID    AgentID    `json:"agent_id"`
	ExecutorID ExecutorID `json:"executor_id"`
	Data       []byte     `json:"data"`
}

// EventFailureInfo is Event.Failure (agent lost, or executor exited).
type EventFailureInfo struct {
	AgentID    *AgentID    `json:"agent_id,omitempty"`
	ExecutorID *ExecutorID `json:"executor_id,omitempty"`
	Status     *int32      `json:"status,omitempty"`
}

// EventErrorInfo is Event.Error.
type EventErrorInfo struct {
	Message string `json:"message"`
}

// Event is one record of the SUBSCRIBE stream.
type Event struct {
	Type       string               `json:"type"`
	Subscribed *EventSubscribedInfo `json:"subscribed,omitempty"`
	Offers     *EventOffersInfo     `json:"offers,omitempty"`
	Rescind    *EventRescindInfo    `json:"rescind,omitempty"`
	Update     *EventUpdateInfo     `json:"update,omitempty"`
	Message    *EventMessageInfo    `json:"message,omitempty"`
	Failure    *EventFailureInfo    `json:"failure,omitempty"`
	Error      *EventErrorInfo      `json:"error,omitempty"`
}

// WriteJSON encodes v (an Event, an OperatorEvent) as JSON and writes it as
// one RecordIO record.
func (w *Writer) WriteJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.WriteRecord(b)
}

// ReadJSON reads one RecordIO record and decodes it into v.
func (r *Reader) ReadJSON(v any) error {
	b, err := r.ReadRecord()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding %T record: %w", v, err)
	}
	return nil
}

// ReadEvent reads and decodes one scheduler event.
func (r *Reader) ReadEvent() (*Event, error) {
	var e Event
	if err := r.ReadJSON(&e); err != nil {
		return nil, err
	}
	return &e, nil
}
