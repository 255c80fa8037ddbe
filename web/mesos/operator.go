package mesos

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// The types below follow include/mesos/v1/master/master.proto (the v1
// operator API, POST /api/v1) and the parts of mesos.proto and
// quota.proto it carries, in the same JSON mapping as scheduler.go.

// ---- mesos.proto: agents, tasks, roles, versions ----

// AgentInfoCapability is AgentInfo.Capability.
type AgentInfoCapability struct {
	Type string `json:"type"` // MULTI_ROLE, HIERARCHICAL_ROLE, RESERVATION_REFINEMENT, ...
}

// AgentInfo describes an agent. Port defaults to 5051 in Mesos (and Mesos
// writes the default when unset).
type AgentInfo struct {
	Hostname   string      `json:"hostname"`
	Port       *int32      `json:"port,omitempty"`
	Resources  []Resource  `json:"resources,omitempty"`
	Attributes []Attribute `json:"attributes,omitempty"`
	ID         *AgentID    `json:"id,omitempty"`
	Domain     *DomainInfo `json:"domain,omitempty"`
}

// Task is mesos.proto's Task: a task as the master knows it.
// StatusUpdateState and StatusUpdateUUID describe the latest status update
// forwarded to the framework (both set or both unset).
type Task struct {
	Name              string            `json:"name"`
	TaskID            TaskID            `json:"task_id"`
	FrameworkID       FrameworkID       `json:"framework_id"`
	ExecutorID        *ExecutorID       `json:"executor_id,omitempty"`
	AgentID           AgentID           `json:"agent_id"`
	State             string            `json:"state"`
	Resources         []Resource        `json:"resources,omitempty"`
	Statuses          []TaskStatus      `json:"statuses,omitempty"`
	StatusUpdateState *string           `json:"status_update_state,omitempty"`
	StatusUpdateUUID  []byte            `json:"status_update_uuid,omitempty"`
	Labels            *Labels           `json:"labels,omitempty"`
	Discovery         *DiscoveryInfo    `json:"discovery,omitempty"`
	Container         json.RawMessage   `json:"container,omitempty"`
	HealthCheck       json.RawMessage   `json:"health_check,omitempty"`
	KillPolicy        *KillPolicy       `json:"kill_policy,omitempty"`
	User              *string           `json:"user,omitempty"`
	Limits            map[string]Scalar `json:"limits,omitempty"`
}

// Role is mesos.proto's Role as GET_ROLES returns it. Weight is required
// (Mesos's default weight is 1). The proto has no quota, allocated,
// offered or reserved fields: those are in the v0 /roles endpoint only
// (see V0Role).
//
// clusterd adds what v0 /master/roles shows, so one call tells an operator
// everything about a role: Allocated, Offered and Reserved, and Quota.
type Role struct {
	Name       string        `json:"name"`
	Weight     float64       `json:"weight"`
	Frameworks []FrameworkID `json:"frameworks,omitempty"`
	Resources  []Resource    `json:"resources,omitempty"`
	Allocated  []Resource    `json:"allocated,omitempty"`
	Offered    []Resource    `json:"offered,omitempty"`
	Reserved   []Resource    `json:"reserved,omitempty"`
	Quota      *RoleQuota    `json:"quota,omitempty"`
}

// RoleQuota is a role's quota and what counts against it, by resource
// name (clusterd enforces limits; it has no guarantees).
type RoleQuota struct {
	Role     string            `json:"role"`
	Limits   map[string]Scalar `json:"limits,omitempty"`
	Consumed map[string]Scalar `json:"consumed,omitempty"`
}

// WeightInfo is a role's weight.
type WeightInfo struct {
	Weight float64 `json:"weight"`
	Role   string  `json:"role,omitempty"`
}

// VersionInfo is the version of a component.
type VersionInfo struct {
	Version   string   `json:"version"`
	BuildDate *string  `json:"build_date,omitempty"`
	BuildTime *float64 `json:"build_time,omitempty"`
	BuildUser *string  `json:"build_user,omitempty"`
	GitSHA    *string  `json:"git_sha,omitempty"`
	GitBranch *string  `json:"git_branch,omitempty"`
	GitTag    *string  `json:"git_tag,omitempty"`
}

// Agent drain states (DrainState).
const (
	DrainStateDraining = "DRAINING"
	DrainStateDrained  = "DRAINED"
)

// DrainConfig is how an agent is drained.
type DrainConfig struct {
	MaxGracePeriod *DurationInfo `json:"max_grace_period,omitempty"`
	MarkGone       *bool         `json:"mark_gone,omitempty"`
}

// DrainInfo is an agent's drain state and configuration.
type DrainInfo struct {
	State  string      `json:"state"` // DRAINING or DRAINED
	Config DrainConfig `json:"config"`
}

// ---- quota.proto ----

// QuotaConfig is a role's quota: guarantees and limits by resource name
// (quota.proto's map<string, Value.Scalar>). A config with neither resets
// the role to the default (no guarantees, no limits).
type QuotaConfig struct {
	Role       string            `json:"role"`
	Guarantees map[string]Scalar `json:"guarantees,omitempty"`
	Limits     map[string]Scalar `json:"limits,omitempty"`
}

// ---- master.proto: Call ----

// Operator call types (master.proto Call.Type) that clusterd serves.
const (
	OperatorGetHealth          = "GET_HEALTH"
	OperatorGetVersion         = "GET_VERSION"
	OperatorGetMaster          = "GET_MASTER"
	OperatorGetState           = "GET_STATE"
	OperatorGetAgents          = "GET_AGENTS"
	OperatorGetFrameworks      = "GET_FRAMEWORKS"
	OperatorGetTasks           = "GET_TASKS"
	OperatorGetRoles           = "GET_ROLES"
	OperatorUpdateWeights      = "UPDATE_WEIGHTS"
	OperatorUpdateQuota        = "UPDATE_QUOTA"
	OperatorReserveResources   = "RESERVE_RESOURCES"
	OperatorUnreserveResources = "UNRESERVE_RESOURCES"
	OperatorDrainAgent         = "DRAIN_AGENT"
	OperatorDeactivateAgent    = "DEACTIVATE_AGENT"
	OperatorReactivateAgent    = "REACTIVATE_AGENT"
	OperatorSubscribe          = "SUBSCRIBE"
	OperatorTeardown           = "TEARDOWN"
)

// servedOperatorCalls are the call types above.
var servedOperatorCalls = map[string]bool{
	OperatorGetHealth: true, OperatorGetVersion: true, OperatorGetMaster: true,
	OperatorGetState: true, OperatorGetAgents: true, OperatorGetFrameworks: true,
	OperatorGetTasks: true, OperatorGetRoles: true, OperatorUpdateWeights: true,
	OperatorUpdateQuota: true, OperatorReserveResources: true, OperatorUnreserveResources: true,
	OperatorDrainAgent: true, OperatorDeactivateAgent: true, OperatorReactivateAgent: true,
	OperatorSubscribe: true, OperatorTeardown: true,
}

// otherOperatorCalls are the rest of master.proto's call types: Mesos
// knows them, clusterd does not serve them.
var otherOperatorCalls = map[string]bool{
	"UNKNOWN": true, "GET_FLAGS": true, "GET_METRICS": true, "GET_LOGGING_LEVEL": true,
	"SET_LOGGING_LEVEL": true, "LIST_FILES": true, "READ_FILE": true, "GET_EXECUTORS": true,
	"GET_OPERATIONS": true, "GET_WEIGHTS": true, "CREATE_VOLUMES": true, "DESTROY_VOLUMES": true,
	"GROW_VOLUME": true, "SHRINK_VOLUME": true, "GET_MAINTENANCE_STATUS": true,
	"GET_MAINTENANCE_SCHEDULE": true, "UPDATE_MAINTENANCE_SCHEDULE": true,
	"START_MAINTENANCE": true, "STOP_MAINTENANCE": true, "GET_QUOTA": true,
	"SET_QUOTA": true, "REMOVE_QUOTA": true, "MARK_AGENT_GONE": true,
}

// ErrUnsupportedCall marks (errors.Is) the OperatorCall.Validate error for
// a call type that Mesos knows but clusterd does not serve; Mesos answers
// UNKNOWN with 501 Not Implemented, which fits these too.
var ErrUnsupportedCall = errors.New("call type not supported")

type unsupported struct{ typ string }

func (u *unsupported) Error() string {
	return fmt.Sprintf("Call type '%s' is not supported by clusterd", u.typ)
}
func (u *unsupported) Is(target error) bool { return target == ErrUnsupportedCall }

// OperatorUpdateWeightsInfo is Call.UpdateWeights.
type OperatorUpdateWeightsInfo struct {
	WeightInfos []WeightInfo `json:"weight_infos,omitempty"`
}

// OperatorUpdateQuotaInfo is Call.UpdateQuota. Force skips the capacity
// check (guarantees above the cluster's capacity).
type OperatorUpdateQuotaInfo struct {
	Force        *bool         `json:"force,omitempty"`
	QuotaConfigs []QuotaConfig `json:"quota_configs,omitempty"`
}

// OperatorReserveResourcesInfo is Call.ReserveResources. Source, when set,
// makes it a reservation update: the resources as they are reserved now.
type OperatorReserveResourcesInfo struct {
	AgentID   AgentID    `json:"agent_id"`
	Source    []Resource `json:"source,omitempty"`
	Resources []Resource `json:"resources,omitempty"`
}

// OperatorUnreserveResourcesInfo is Call.UnreserveResources.
type OperatorUnreserveResourcesInfo struct {
	AgentID   AgentID    `json:"agent_id"`
	Resources []Resource `json:"resources,omitempty"`
}

// OperatorDrainAgentInfo is Call.DrainAgent. MaxGracePeriod caps the
// tasks' kill grace periods; MarkGone removes the agent for good once
// drained (tasks then end TASK_GONE_BY_OPERATOR).
type OperatorDrainAgentInfo struct {
	AgentID        AgentID       `json:"agent_id"`
	MaxGracePeriod *DurationInfo `json:"max_grace_period,omitempty"`
	MarkGone       *bool         `json:"mark_gone,omitempty"`
}

// OperatorAgentRef is the payload of DEACTIVATE_AGENT and REACTIVATE_AGENT.
type OperatorAgentRef struct {
	AgentID AgentID `json:"agent_id"`
}

// OperatorTeardownInfo is Call.Teardown: remove a framework and kill its
// tasks.
type OperatorTeardownInfo struct {
	FrameworkID FrameworkID `json:"framework_id"`
}

// OperatorCall is a v1 operator API call (master.proto Call).
type OperatorCall struct {
	Type               string                          `json:"type"`
	Teardown           *OperatorTeardownInfo           `json:"teardown,omitempty"`
	UpdateWeights      *OperatorUpdateWeightsInfo      `json:"update_weights,omitempty"`
	ReserveResources   *OperatorReserveResourcesInfo   `json:"reserve_resources,omitempty"`
	UnreserveResources *OperatorUnreserveResourcesInfo `json:"unreserve_resources,omitempty"`
	DrainAgent         *OperatorDrainAgentInfo         `json:"drain_agent,omitempty"`
	DeactivateAgent    *OperatorAgentRef               `json:"deactivate_agent,omitempty"`
	ReactivateAgent    *OperatorAgentRef               `json:"reactivate_agent,omitempty"`
	UpdateQuota        *OperatorUpdateQuotaInfo        `json:"update_quota,omitempty"`
}

// DecodeOperatorCall parses a JSON operator call. Unknown fields are
// ignored, as Mesos ignores them; errors are worded as DecodeCall's.
func DecodeOperatorCall(b []byte) (*OperatorCall, error) {
	var c OperatorCall
	if err := decodeJSON(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks what each served call type needs, with messages worded
// as Mesos words them ("Expecting 'update_weights' to be present"). Mesos
// answers such errors with 400 Bad Request ("Failed to validate
// master::Call: " + message for the presence checks). A type Mesos knows
// but clusterd does not serve gives an error matching ErrUnsupportedCall.
// It does not check state (whether the agent or the reservations exist).
func (c *OperatorCall) Validate() error {
	if c.Type == "" {
		return missing("type")
	}
	if !servedOperatorCalls[c.Type] {
		if otherOperatorCalls[c.Type] {
			return &unsupported{c.Type}
		}
		return fmt.Errorf("Unknown call type '%s'", c.Type)
	}
	switch c.Type {
	case OperatorUpdateWeights:
		if c.UpdateWeights == nil {
			return missing("update_weights")
		}
		for i, w := range c.UpdateWeights.WeightInfos {
			f := fmt.Sprintf("update_weights.weight_infos[%d]", i)
			role := strings.TrimSpace(w.Role)
			if err := ValidateRole(role); err != nil {
				return fmt.Errorf("%s: Invalid role '%s': %v", f, role, err)
			}
			if math.IsNaN(w.Weight) || math.IsInf(w.Weight, 0) || w.Weight <= 0 {
				return fmt.Errorf("%s: Invalid weight '%v' for role '%s': Weights must be positive", f, w.Weight, role)
			}
		}
	case OperatorUpdateQuota:
		if c.UpdateQuota == nil {
			return missing("update_quota")
		}
		seen := map[string]int{}
		for i := range c.UpdateQuota.QuotaConfigs {
			f := fmt.Sprintf("update_quota.quota_configs[%d]", i)
			qc := &c.UpdateQuota.QuotaConfigs[i]
			if err := validateQuotaConfig(qc); err != nil {
				return fmt.Errorf("%s: Invalid QuotaConfig: %v", f, err)
			}
			if j, ok := seen[qc.Role]; ok {
				return fmt.Errorf("%s: Invalid QuotaConfig: role '%s' is also in update_quota.quota_configs[%d]", f, qc.Role, j)
			}
			seen[qc.Role] = i
		}
	case OperatorReserveResources:
		rr := c.ReserveResources
		if rr == nil {
			return missing("reserve_resources")
		}
		if rr.AgentID.Value == "" {
			return missing("reserve_resources.agent_id")
		}
		if len(rr.Resources) == 0 {
			return missing("reserve_resources.resources")
		}
		target, err := parseDynamic("reserve_resources.resources", rr.Resources)
		if err != nil {
			return err
		}
		if len(rr.Source) > 0 {
			source, err := ParseResources("reserve_resources.source", rr.Source)
			if err != nil {
				return err
			}
			if s, t := source.Total(), target.Total(); !s.Contains(t) || !t.Contains(s) {
				return fmt.Errorf("Invalid RESERVE operation: Source and target resources should refer to identical resource quantities: %v vs. %v", s, t)
			}
		}
	case OperatorUnreserveResources:
		ur := c.UnreserveResources
		if ur == nil {
			return missing("unreserve_resources")
		}
		if ur.AgentID.Value == "" {
			return missing("unreserve_resources.agent_id")
		}
		if len(ur.Resources) == 0 {
			return missing("unreserve_resources.resources")
		}
		if _, err := parseDynamic("unreserve_resources.resources", ur.Resources); err != nil {
			return err
		}
	case OperatorDrainAgent:
		d := c.DrainAgent
		if d == nil {
			return missing("drain_agent")
		}
		if d.AgentID.Value == "" {
			return missing("drain_agent.agent_id")
		}
		if d.MaxGracePeriod != nil && d.MaxGracePeriod.Nanoseconds < 0 {
			return errors.New("'drain_agent.max_grace_period' must be non-negative")
		}
	case OperatorTeardown:
		if c.Teardown == nil {
			return missing("teardown")
		}
		if c.Teardown.FrameworkID.Value == "" {
			return missing("teardown.framework_id")
		}
	case OperatorDeactivateAgent:
		if c.DeactivateAgent == nil {
			return missing("deactivate_agent")
		}
		if c.DeactivateAgent.AgentID.Value == "" {
			return missing("deactivate_agent.agent_id")
		}
	case OperatorReactivateAgent:
		if c.ReactivateAgent == nil {
			return missing("reactivate_agent")
		}
		if c.ReactivateAgent.AgentID.Value == "" {
			return missing("reactivate_agent.agent_id")
		}
	}
	return nil
}

// parseDynamic parses resources that must all be dynamically reserved (a
// RESERVE target or an UNRESERVE list), with Mesos's message otherwise.
func parseDynamic(field string, rs []Resource) (ParsedResources, error) {
	for i := range rs {
		f := fmt.Sprintf("%s[%d]", field, i)
		pr, err := parseResource(f, &rs[i])
		if err != nil {
			return ParsedResources{}, err
		}
		if pr.kind != dynamicReservation {
			return ParsedResources{}, fmt.Errorf("%s: Resource %s is not dynamically reserved", f, describeResource(&rs[i]))
		}
	}
	return ParseResources(field, rs)
}

// describeResource writes r roughly as Mesos writes a resource in its
// messages: name(reservations):value.
func describeResource(r *Resource) string {
	role := "*"
	if r.Role != nil {
		role = *r.Role
	}
	if len(r.Reservations) > 0 && r.Reservations[0].Role != nil {
		role = *r.Reservations[0].Role
	}
	v := ""
	switch {
	case r.Scalar != nil:
		v = fmt.Sprint(r.Scalar.Value)
	case r.Ranges != nil:
		v = RangesString(r.Ranges.Range)
	}
	return fmt.Sprintf("%s(%s):%s", r.Name, role, v)
}

// quotaResources are the names a quota may name.
var quotaResources = map[string]bool{ResourceCPUs: true, ResourceMem: true, ResourceDisk: true, ResourceGPUs: true}

// validateQuotaConfig follows Mesos's quota::validate(QuotaConfig), plus
// clusterd's restriction to the resource kinds it knows.
func validateQuotaConfig(qc *QuotaConfig) error {
	if qc.Role == "" {
		return errors.New("'QuotaConfig.role' must be set")
	}
	if err := ValidateRole(qc.Role); err != nil {
		return fmt.Errorf("Invalid 'QuotaConfig.role': %v", err)
	}
	if qc.Role == "*" {
		return errors.New("Invalid 'QuotaConfig.role': quota cannot be set for the default role '*'")
	}
	if strings.Contains(qc.Role, "/") {
		return fmt.Errorf("Updating quota on nested role '%s' is not supported yet", qc.Role)
	}
	check := func(what, field string, m map[string]Scalar) error {
		for _, name := range sortedKeys(m) {
			v := m[name].Value
			if !quotaResources[name] {
				return fmt.Errorf("Invalid 'QuotaConfig.%s': unknown resource '%s' (quota applies to cpus, mem, disk, gpus)", field, name)
			}
			var msg string
			switch {
			case math.IsInf(v, 0):
				msg = "Infinite values not supported"
			case math.IsNaN(v):
				msg = "NaN not supported"
			case v < 0:
				msg = "Negative values not supported"
			}
			if msg != "" {
				return fmt.Errorf("Invalid %s configuration {'%s': %v}: %s", what, name, v, msg)
			}
		}
		return nil
	}
	if err := check("guarantee", "guarantees", qc.Guarantees); err != nil {
		return err
	}
	if err := check("limit", "limits", qc.Limits); err != nil {
		return err
	}
	for _, name := range sortedKeys(qc.Guarantees) {
		if l, ok := qc.Limits[name]; ok && qc.Guarantees[name].Value > l.Value {
			return fmt.Errorf("'QuotaConfig.guarantees' %s is not contained within the 'QuotaConfig.limits' %s",
				scalarMapString(qc.Guarantees), scalarMapString(qc.Limits))
		}
	}
	return nil
}

func sortedKeys(m map[string]Scalar) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// scalarMapString writes quantities as Mesos does: "cpus:1; mem:1024".
func scalarMapString(m map[string]Scalar) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s:%v", k, m[k].Value))
	}
	return strings.Join(parts, "; ")
}

// ---- master.proto: Response ----

// GetHealthResponse is Response.GetHealth.
type GetHealthResponse struct {
	Healthy bool `json:"healthy"`
}

// GetVersionResponse is Response.GetVersion.
type GetVersionResponse struct {
	VersionInfo VersionInfo `json:"version_info"`
}

// GetMasterResponse is Response.GetMaster. StartTime and ElectedTime are
// seconds since the epoch (proto doubles, not TimeInfo).
type GetMasterResponse struct {
	MasterInfo  *MasterInfo `json:"master_info,omitempty"`
	StartTime   *float64    `json:"start_time,omitempty"`
	ElectedTime *float64    `json:"elected_time,omitempty"`
}

// OperatorAgent is Response.GetAgents.Agent. Active, Version and AgentInfo
// are required and always written.
type OperatorAgent struct {
	AgentInfo               AgentInfo             `json:"agent_info"`
	Active                  bool                  `json:"active"`
	Deactivated             *bool                 `json:"deactivated,omitempty"`
	Version                 string                `json:"version"`
	PID                     *string               `json:"pid,omitempty"`
	RegisteredTime          *TimeInfo             `json:"registered_time,omitempty"`
	ReregisteredTime        *TimeInfo             `json:"reregistered_time,omitempty"`
	TotalResources          []Resource            `json:"total_resources,omitempty"`
	AllocatedResources      []Resource            `json:"allocated_resources,omitempty"`
	OfferedResources        []Resource            `json:"offered_resources,omitempty"`
	Capabilities            []AgentInfoCapability `json:"capabilities,omitempty"`
	DrainInfo               *DrainInfo            `json:"drain_info,omitempty"`
	EstimatedDrainStartTime *TimeInfo             `json:"estimated_drain_start_time,omitempty"`
}

// GetAgentsResponse is Response.GetAgents. RecoveredAgents are agents
// known from the registry that have not reregistered yet.
type GetAgentsResponse struct {
	Agents          []OperatorAgent `json:"agents,omitempty"`
	RecoveredAgents []AgentInfo     `json:"recovered_agents,omitempty"`
}

// OperatorFramework is Response.GetFrameworks.Framework. Active, Connected
// and Recovered are required and always written.
type OperatorFramework struct {
	FrameworkInfo      FrameworkInfo     `json:"framework_info"`
	Active             bool              `json:"active"`
	Connected          bool              `json:"connected"`
	Recovered          bool              `json:"recovered"`
	RegisteredTime     *TimeInfo         `json:"registered_time,omitempty"`
	ReregisteredTime   *TimeInfo         `json:"reregistered_time,omitempty"`
	UnregisteredTime   *TimeInfo         `json:"unregistered_time,omitempty"`
	Offers             []Offer           `json:"offers,omitempty"`
	InverseOffers      []json.RawMessage `json:"inverse_offers,omitempty"`
	AllocatedResources []Resource        `json:"allocated_resources,omitempty"`
	OfferedResources   []Resource        `json:"offered_resources,omitempty"`
}

// GetFrameworksResponse is Response.GetFrameworks.
type GetFrameworksResponse struct {
	Frameworks          []OperatorFramework `json:"frameworks,omitempty"`
	CompletedFrameworks []OperatorFramework `json:"completed_frameworks,omitempty"`
}

// OperatorExecutor is Response.GetExecutors.Executor; ExecutorInfo is kept
// raw, as TaskInfo.Executor is.
type OperatorExecutor struct {
	ExecutorInfo json.RawMessage `json:"executor_info"`
	AgentID      AgentID         `json:"agent_id"`
}

// GetExecutorsResponse is Response.GetExecutors.
type GetExecutorsResponse struct {
	Executors []OperatorExecutor `json:"executors,omitempty"`
}

// GetTasksResponse is Response.GetTasks. PendingTasks and OrphanTasks are
// deprecated in Mesos and always empty there.
type GetTasksResponse struct {
	PendingTasks     []Task `json:"pending_tasks,omitempty"`
	Tasks            []Task `json:"tasks,omitempty"`
	UnreachableTasks []Task `json:"unreachable_tasks,omitempty"`
	CompletedTasks   []Task `json:"completed_tasks,omitempty"`
	OrphanTasks      []Task `json:"orphan_tasks,omitempty"`
}

// GetRolesResponse is Response.GetRoles.
type GetRolesResponse struct {
	Roles []Role `json:"roles,omitempty"`
}

// GetStateResponse is Response.GetState: everything GET_TASKS,
// GET_EXECUTORS, GET_FRAMEWORKS and GET_AGENTS return.
type GetStateResponse struct {
	GetTasks      *GetTasksResponse      `json:"get_tasks,omitempty"`
	GetExecutors  *GetExecutorsResponse  `json:"get_executors,omitempty"`
	GetFrameworks *GetFrameworksResponse `json:"get_frameworks,omitempty"`
	GetAgents     *GetAgentsResponse     `json:"get_agents,omitempty"`
}

// OperatorResponse is a synchronous answer to an operator call
// (master.proto Response). Type is the call type (GET_STATE, ...). Calls
// that change state (UPDATE_WEIGHTS, UPDATE_QUOTA, DRAIN_AGENT,
// DEACTIVATE_AGENT, REACTIVATE_AGENT: 200 OK; RESERVE_RESOURCES,
// UNRESERVE_RESOURCES: 202 Accepted) have no response body in Mesos.
type OperatorResponse struct {
	Type          string                 `json:"type"`
	GetHealth     *GetHealthResponse     `json:"get_health,omitempty"`
	GetVersion    *GetVersionResponse    `json:"get_version,omitempty"`
	GetState      *GetStateResponse      `json:"get_state,omitempty"`
	GetAgents     *GetAgentsResponse     `json:"get_agents,omitempty"`
	GetFrameworks *GetFrameworksResponse `json:"get_frameworks,omitempty"`
	GetExecutors  *GetExecutorsResponse  `json:"get_executors,omitempty"`
	GetTasks      *GetTasksResponse      `json:"get_tasks,omitempty"`
	GetRoles      *GetRolesResponse      `json:"get_roles,omitempty"`
	GetMaster     *GetMasterResponse     `json:"get_master,omitempty"`
}

// ---- master.proto: Event (the SUBSCRIBE stream) ----

// Operator event types (master.proto Event.Type).
const (
	OperatorEventSubscribed       = "SUBSCRIBED"
	OperatorEventTaskAdded        = "TASK_ADDED"
	OperatorEventTaskUpdated      = "TASK_UPDATED"
	OperatorEventAgentAdded       = "AGENT_ADDED"
	OperatorEventAgentRemoved     = "AGENT_REMOVED"
	OperatorEventFrameworkAdded   = "FRAMEWORK_ADDED"
	OperatorEventFrameworkUpdated = "FRAMEWORK_UPDATED"
	OperatorEventFrameworkRemoved = "FRAMEWORK_REMOVED"
	OperatorEventHeartbeat        = "HEARTBEAT"
)

// OperatorSubscribedEvent is Event.Subscribed: the state at subscription.
type OperatorSubscribedEvent struct {
	GetState                 *GetStateResponse `json:"get_state,omitempty"`
	HeartbeatIntervalSeconds *float64          `json:"heartbeat_interval_seconds,omitempty"`
}

// TaskAddedEvent is Event.TaskAdded.
type TaskAddedEvent struct {
	Task Task `json:"task"`
}

// TaskUpdatedEvent is Event.TaskUpdated: Status is the latest status the
// framework acknowledged, State the latest state the agent reported.
type TaskUpdatedEvent struct {
	FrameworkID FrameworkID `json:"framework_id"`
	Status      TaskStatus  `json:"status"`
	State       string      `json:"state"`
}

// AgentAddedEvent is Event.AgentAdded.
type AgentAddedEvent struct {
	Agent OperatorAgent `json:"agent"`
}

// AgentRemovedEvent is Event.AgentRemoved.
type AgentRemovedEvent struct {
	AgentID AgentID `json:"agent_id"`
}

// FrameworkEvent is Event.FrameworkAdded and Event.FrameworkUpdated. Mesos
// never reports offers or allocated/offered resources in events.
type FrameworkEvent struct {
	Framework OperatorFramework `json:"framework"`
}

// FrameworkRemovedEvent is Event.FrameworkRemoved.
type FrameworkRemovedEvent struct {
	FrameworkInfo FrameworkInfo `json:"framework_info"`
}

// OperatorEvent is one record of the operator SUBSCRIBE stream.
type OperatorEvent struct {
	Type             string                   `json:"type"`
	Subscribed       *OperatorSubscribedEvent `json:"subscribed,omitempty"`
	TaskAdded        *TaskAddedEvent          `json:"task_added,omitempty"`
	TaskUpdated      *TaskUpdatedEvent        `json:"task_updated,omitempty"`
	AgentAdded       *AgentAddedEvent         `json:"agent_added,omitempty"`
	AgentRemoved     *AgentRemovedEvent       `json:"agent_removed,omitempty"`
	FrameworkAdded   *FrameworkEvent          `json:"framework_added,omitempty"`
	FrameworkUpdated *FrameworkEvent          `json:"framework_updated,omitempty"`
	FrameworkRemoved *FrameworkRemovedEvent   `json:"framework_removed,omitempty"`
}
