package mesos

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The types below marshal to the JSON of Mesos's v0 master endpoints
// GET /master/state (src/master/readonly_handler.cpp, the `json` and
// `model` functions of src/common/http.cpp) and GET /master/roles, for the
// fields tools such as marathon-lb, Mesos-DNS and dashboards read. Unlike
// the v1 types these are not protobuf JSON: IDs are plain strings, times
// are float seconds since the epoch, resources are {"cpus": 1.5, ...}
// objects, attributes {"name": value} objects and labels plain arrays.
// Lists Mesos always writes are written as [] when empty, never null.

// V0Resources returns amounts as Mesos's v0 endpoints write a resource
// set: "cpus", "mem", "disk" and "gpus" always (0 when absent) and "ports"
// as a ranges string ("[31000-32000, 33000-33000]") when there are any.
func V0Resources(a Amounts) map[string]any {
	m := map[string]any{
		ResourceCPUs: a.CPUs,
		ResourceMem:  a.Mem,
		ResourceDisk: a.Disk,
		ResourceGPUs: float64(a.GPUs),
	}
	if len(a.Ports) > 0 {
		m[ResourcePorts] = RangesString(a.Ports)
	}
	return m
}

// V0Amounts is Amounts in the v0 JSON form of V0Resources. It decodes
// that form too (other names are ignored).
type V0Amounts Amounts

// MarshalJSON writes V0Resources(a).
func (a V0Amounts) MarshalJSON() ([]byte, error) {
	return json.Marshal(V0Resources(Amounts(a)))
}

// UnmarshalJSON reads {"cpus": 1, "mem": 128, "ports": "[1-2]", ...}.
func (a *V0Amounts) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	var out Amounts
	num := func(name string) (float64, error) {
		raw, ok := m[name]
		if !ok {
			return 0, nil
		}
		var v float64
		if err := json.Unmarshal(raw, &v); err != nil {
			return 0, fmt.Errorf("v0 resources: %q: %v", name, err)
		}
		return v, nil
	}
	var err error
	if out.CPUs, err = num(ResourceCPUs); err != nil {
		return err
	}
	if out.Mem, err = num(ResourceMem); err != nil {
		return err
	}
	if out.Disk, err = num(ResourceDisk); err != nil {
		return err
	}
	g, err := num(ResourceGPUs)
	if err != nil {
		return err
	}
	out.GPUs = int(g)
	if raw, ok := m[ResourcePorts]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("v0 resources: %q: %v", ResourcePorts, err)
		}
		rs, err := ParseRangesString(s)
		if err != nil {
			return err
		}
		out.Ports = mergeRanges(rs)
	}
	*a = V0Amounts(out)
	return nil
}

// V0Attributes returns attributes as the v0 endpoints write them: name ->
// number (SCALAR), string (TEXT), "[a-b, c-d]" (RANGES) or "{a, b}" (SET).
func V0Attributes(attrs []Attribute) map[string]any {
	m := make(map[string]any, len(attrs))
	for _, a := range attrs {
		switch a.Type {
		case ValueScalar:
			if a.Scalar != nil {
				m[a.Name] = a.Scalar.Value
			}
		case ValueText:
			if a.Text != nil {
				m[a.Name] = a.Text.Value
			}
		case ValueRanges:
			if a.Ranges != nil {
				m[a.Name] = RangesString(a.Ranges.Range)
			} else {
				m[a.Name] = "[]"
			}
		case ValueSet:
			var items []string
			if a.Set != nil {
				items = a.Set.Item
			}
			m[a.Name] = "{" + strings.Join(items, ", ") + "}"
		}
	}
	return m
}

// V0Seconds converts a TimeInfo to the v0 float seconds.
func V0Seconds(t TimeInfo) float64 { return float64(t.Nanoseconds) / 1e9 }

// V0MasterInfo is the v0 "leader_info" object.
type V0MasterInfo struct {
	ID       string      `json:"id"`
	PID      string      `json:"pid"`
	Port     uint32      `json:"port"`
	Hostname string      `json:"hostname"`
	Domain   *DomainInfo `json:"domain,omitempty"`
}

// V0TaskStatus is one entry of a v0 task's "statuses".
type V0TaskStatus struct {
	State           string             `json:"state"`
	Timestamp       float64            `json:"timestamp"`
	Labels          []Label            `json:"labels,omitempty"`
	ContainerStatus *V0ContainerStatus `json:"container_status,omitempty"`
	Healthy         *bool              `json:"healthy,omitempty"`
}

// V0NetworkInfo is a network of a v0 container status. Unlike the v1
// NetworkInfo, labels are a plain array.
type V0NetworkInfo struct {
	Groups       []string             `json:"groups,omitempty"`
	Labels       []Label              `json:"labels,omitempty"`
	IPAddresses  []NetworkIPAddress   `json:"ip_addresses,omitempty"`
	Name         *string              `json:"name,omitempty"`
	PortMappings []NetworkPortMapping `json:"port_mappings,omitempty"`
}

// V0ContainerStatus is a v0 task status's "container_status"; Mesos-DNS
// reads network_infos[].ip_addresses[].ip_address from it.
type V0ContainerStatus struct {
	ContainerID  *ContainerID    `json:"container_id,omitempty"`
	NetworkInfos []V0NetworkInfo `json:"network_infos,omitempty"`
	CgroupInfo   json.RawMessage `json:"cgroup_info,omitempty"`
}

// NewV0TaskStatus converts a v1 TaskStatus to its v0 form.
func NewV0TaskStatus(s TaskStatus) V0TaskStatus {
	out := V0TaskStatus{State: s.State, Healthy: s.Healthy}
	if s.Timestamp != nil {
		out.Timestamp = *s.Timestamp
	}
	if s.Labels != nil {
		out.Labels = s.Labels.Labels
	}
	if cs := s.ContainerStatus; cs != nil {
		v0 := &V0ContainerStatus{ContainerID: cs.ContainerID, CgroupInfo: cs.CgroupInfo}
		for _, ni := range cs.NetworkInfos {
			n := V0NetworkInfo{Groups: ni.Groups, IPAddresses: ni.IPAddresses, Name: ni.Name, PortMappings: ni.PortMappings}
			if ni.Labels != nil {
				n.Labels = ni.Labels.Labels
			}
			v0.NetworkInfos = append(v0.NetworkInfos, n)
		}
		out.ContainerStatus = v0
	}
	return out
}

// V0Task is a task in v0 state. ExecutorID is "" for command tasks (Mesos
// writes it always); Role is the task's allocation role.
type V0Task struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	FrameworkID string          `json:"framework_id"`
	ExecutorID  string          `json:"executor_id"`
	SlaveID     string          `json:"slave_id"`
	State       string          `json:"state"`
	Resources   V0Amounts       `json:"resources"`
	Role        string          `json:"role"`
	Statuses    []V0TaskStatus  `json:"statuses"`
	User        string          `json:"user,omitempty"`
	Labels      []Label         `json:"labels,omitempty"`
	Discovery   *DiscoveryInfo  `json:"discovery,omitempty"`
	Container   json.RawMessage `json:"container,omitempty"`
	HealthCheck json.RawMessage `json:"health_check,omitempty"`
}

// MarshalJSON writes statuses as [] when there are none.
func (t V0Task) MarshalJSON() ([]byte, error) {
	type plain V0Task
	if t.Statuses == nil {
		t.Statuses = []V0TaskStatus{}
	}
	return json.Marshal(plain(t))
}

// V0Offer is an outstanding offer in v0 state.
type V0Offer struct {
	ID             string         `json:"id"`
	FrameworkID    string         `json:"framework_id"`
	AllocationInfo AllocationInfo `json:"allocation_info"`
	SlaveID        string         `json:"slave_id"`
	Resources      V0Amounts      `json:"resources"`
}

// V0CommandURI is a URI of a v0 executor command.
type V0CommandURI struct {
	Value      string `json:"value"`
	Executable bool   `json:"executable"`
}

// V0Command is a v0 executor's "command".
type V0Command struct {
	Shell       *bool          `json:"shell,omitempty"`
	Value       *string        `json:"value,omitempty"`
	Argv        []string       `json:"argv"`
	Environment *Environment   `json:"environment,omitempty"`
	URIs        []V0CommandURI `json:"uris"`
}

// MarshalJSON writes argv and uris as [] when empty, as Mesos does.
func (c V0Command) MarshalJSON() ([]byte, error) {
	type plain V0Command
	if c.Argv == nil {
		c.Argv = []string{}
	}
	if c.URIs == nil {
		c.URIs = []V0CommandURI{}
	}
	return json.Marshal(plain(c))
}

// V0Executor is a (custom) executor in v0 state.
type V0Executor struct {
	ExecutorID  string    `json:"executor_id"`
	Name        string    `json:"name"`
	FrameworkID string    `json:"framework_id"`
	Command     V0Command `json:"command"`
	Resources   V0Amounts `json:"resources"`
	Role        string    `json:"role,omitempty"`
	Labels      []Label   `json:"labels,omitempty"`
	Type        string    `json:"type,omitempty"` // DEFAULT or CUSTOM
	SlaveID     string    `json:"slave_id"`
}

// V0Framework is a framework in v0 state. Role is written for frameworks
// without the MULTI_ROLE capability, Roles for those with it (Mesos writes
// exactly one of the two). Capabilities are type names ("MULTI_ROLE").
// Resources is used + offered. ReregisteredTime is written only when it
// differs from RegisteredTime.
type V0Framework struct {
	ID               string       `json:"id"`
	Name             string       `json:"name"`
	PID              string       `json:"pid,omitempty"` // only for driver (non-HTTP) frameworks
	UsedResources    V0Amounts    `json:"used_resources"`
	OfferedResources V0Amounts    `json:"offered_resources"`
	Capabilities     []string     `json:"capabilities"`
	Hostname         string       `json:"hostname"`
	WebuiURL         string       `json:"webui_url"`
	Active           bool         `json:"active"`
	Connected        bool         `json:"connected"`
	Recovered        bool         `json:"recovered"`
	User             string       `json:"user"`
	FailoverTimeout  float64      `json:"failover_timeout"`
	Checkpoint       bool         `json:"checkpoint"`
	RegisteredTime   float64      `json:"registered_time"`
	UnregisteredTime float64      `json:"unregistered_time"`
	Principal        string       `json:"principal,omitempty"`
	Resources        V0Amounts    `json:"resources"`
	ReregisteredTime *float64     `json:"reregistered_time,omitempty"`
	Role             *string      `json:"role,omitempty"`
	Roles            []string     `json:"roles,omitempty"`
	Tasks            []V0Task     `json:"tasks"`
	UnreachableTasks []V0Task     `json:"unreachable_tasks"`
	CompletedTasks   []V0Task     `json:"completed_tasks"`
	Offers           []V0Offer    `json:"offers"`
	Executors        []V0Executor `json:"executors"`
	Labels           []Label      `json:"labels,omitempty"`
}

// MarshalJSON writes the always-present lists as [] when empty.
func (f V0Framework) MarshalJSON() ([]byte, error) {
	type plain V0Framework
	if f.Capabilities == nil {
		f.Capabilities = []string{}
	}
	if f.Tasks == nil {
		f.Tasks = []V0Task{}
	}
	if f.UnreachableTasks == nil {
		f.UnreachableTasks = []V0Task{}
	}
	if f.CompletedTasks == nil {
		f.CompletedTasks = []V0Task{}
	}
	if f.Offers == nil {
		f.Offers = []V0Offer{}
	}
	if f.Executors == nil {
		f.Executors = []V0Executor{}
	}
	return json.Marshal(plain(f))
}

// V0Slave is an agent in v0 state. Attributes is V0Attributes' form;
// ReservedResources maps each role with reservations to them;
// Capabilities are type names ("MULTI_ROLE").
type V0Slave struct {
	ID                     string               `json:"id"`
	Hostname               string               `json:"hostname"`
	Port                   int32                `json:"port"`
	Attributes             map[string]any       `json:"attributes"`
	Domain                 *DomainInfo          `json:"domain,omitempty"`
	PID                    string               `json:"pid"`
	RegisteredTime         float64              `json:"registered_time"`
	ReregisteredTime       *float64             `json:"reregistered_time,omitempty"`
	Resources              V0Amounts            `json:"resources"`
	UsedResources          V0Amounts            `json:"used_resources"`
	OfferedResources       V0Amounts            `json:"offered_resources"`
	ReservedResources      map[string]V0Amounts `json:"reserved_resources"`
	UnreservedResources    V0Amounts            `json:"unreserved_resources"`
	Active                 bool                 `json:"active"`
	Deactivated            bool                 `json:"deactivated"`
	Version                string               `json:"version"`
	Capabilities           []string             `json:"capabilities"`
	DrainInfo              *DrainInfo           `json:"drain_info,omitempty"`
	EstimatedDrainStartSec *float64             `json:"estimated_drain_start_time_seconds,omitempty"`
}

// MarshalJSON writes attributes, reserved_resources and capabilities as
// {} / [] when empty.
func (s V0Slave) MarshalJSON() ([]byte, error) {
	type plain V0Slave
	if s.Attributes == nil {
		s.Attributes = map[string]any{}
	}
	if s.ReservedResources == nil {
		s.ReservedResources = map[string]V0Amounts{}
	}
	if s.Capabilities == nil {
		s.Capabilities = []string{}
	}
	return json.Marshal(plain(s))
}

// V0ReservedResources converts ParsedResources' reservations to the v0
// "reserved_resources" map (static and dynamic together per role).
func V0ReservedResources(p ParsedResources) map[string]V0Amounts {
	m := map[string]V0Amounts{}
	for _, role := range p.Roles() {
		m[role] = V0Amounts(p.Reserved(role))
	}
	return m
}

// V0RecoveredSlave is an agent known from the registry that has not
// reregistered yet (v0 "recovered_slaves").
type V0RecoveredSlave struct {
	ID         string         `json:"id"`
	Hostname   string         `json:"hostname"`
	Port       int32          `json:"port"`
	Attributes map[string]any `json:"attributes"`
	Domain     *DomainInfo    `json:"domain,omitempty"`
}

// MarshalJSON writes attributes as {} when empty.
func (s V0RecoveredSlave) MarshalJSON() ([]byte, error) {
	type plain V0RecoveredSlave
	if s.Attributes == nil {
		s.Attributes = map[string]any{}
	}
	return json.Marshal(plain(s))
}

// V0State is the body of GET /master/state. StartTime and ElectedTime are
// float seconds since the epoch; Leader is the leading master's pid
// ("master@10.0.0.1:5050"). Flags are the master's flags as strings. The
// slave counts are numbers. OrphanTasks and UnregisteredFrameworks are
// always empty in Mesos (kept for old readers).
type V0State struct {
	Version                string             `json:"version"`
	GitSHA                 string             `json:"git_sha,omitempty"`
	GitBranch              string             `json:"git_branch,omitempty"`
	GitTag                 string             `json:"git_tag,omitempty"`
	BuildDate              string             `json:"build_date,omitempty"`
	BuildTime              float64            `json:"build_time,omitempty"`
	BuildUser              string             `json:"build_user,omitempty"`
	StartTime              float64            `json:"start_time"`
	ElectedTime            *float64           `json:"elected_time,omitempty"`
	ID                     string             `json:"id"`
	PID                    string             `json:"pid"`
	Hostname               string             `json:"hostname"`
	Capabilities           []string           `json:"capabilities"`
	ActivatedSlaves        int                `json:"activated_slaves"`
	DeactivatedSlaves      int                `json:"deactivated_slaves"`
	UnreachableSlaves      int                `json:"unreachable_slaves"`
	Domain                 *DomainInfo        `json:"domain,omitempty"`
	Leader                 string             `json:"leader,omitempty"`
	LeaderInfo             *V0MasterInfo      `json:"leader_info,omitempty"`
	Cluster                string             `json:"cluster,omitempty"`
	LogDir                 string             `json:"log_dir,omitempty"`
	ExternalLogFile        string             `json:"external_log_file,omitempty"`
	Flags                  map[string]string  `json:"flags,omitempty"`
	Slaves                 []V0Slave          `json:"slaves"`
	RecoveredSlaves        []V0RecoveredSlave `json:"recovered_slaves"`
	Frameworks             []V0Framework      `json:"frameworks"`
	CompletedFrameworks    []V0Framework      `json:"completed_frameworks"`
	OrphanTasks            []V0Task           `json:"orphan_tasks"`
	UnregisteredFrameworks []string           `json:"unregistered_frameworks"`
}

// MasterState is V0State under the name the server code uses for the
// /master/state document.
type MasterState = V0State

// MarshalJSON writes the always-present lists as [] when empty.
func (s V0State) MarshalJSON() ([]byte, error) {
	type plain V0State
	if s.Capabilities == nil {
		s.Capabilities = []string{}
	}
	if s.Slaves == nil {
		s.Slaves = []V0Slave{}
	}
	if s.RecoveredSlaves == nil {
		s.RecoveredSlaves = []V0RecoveredSlave{}
	}
	if s.Frameworks == nil {
		s.Frameworks = []V0Framework{}
	}
	if s.CompletedFrameworks == nil {
		s.CompletedFrameworks = []V0Framework{}
	}
	if s.OrphanTasks == nil {
		s.OrphanTasks = []V0Task{}
	}
	if s.UnregisteredFrameworks == nil {
		s.UnregisteredFrameworks = []string{}
	}
	return json.Marshal(plain(s))
}

// V0Quantities is a v0 resource quantity object {"cpus": 1, "mem": 128};
// unlike V0Resources it holds only the names that are set.
type V0Quantities map[string]float64

// V0RoleQuota is a v0 role's "quota". Guarantee and Limit are singular, as
// Mesos kept them for compatibility with the pre-1.9 QuotaInfo.
type V0RoleQuota struct {
	Role      string       `json:"role"`
	Guarantee V0Quantities `json:"guarantee"`
	Limit     V0Quantities `json:"limit"`
	Consumed  V0Quantities `json:"consumed"`
}

// V0Role is a role of GET /master/roles ({"roles": [...]}). Resources is
// allocated + offered (deprecated in Mesos in favour of the split ones);
// Frameworks are framework ID strings.
type V0Role struct {
	Name       string       `json:"name"`
	Weight     float64      `json:"weight"`
	Quota      V0RoleQuota  `json:"quota"`
	Resources  V0Quantities `json:"resources"`
	Allocated  V0Quantities `json:"allocated"`
	Offered    V0Quantities `json:"offered"`
	Reserved   V0Quantities `json:"reserved"`
	Frameworks []string     `json:"frameworks"`
}

// MarshalJSON writes the quantity objects as {} and frameworks as [] when
// empty.
func (r V0Role) MarshalJSON() ([]byte, error) {
	type plain V0Role
	fix := func(q *V0Quantities) {
		if *q == nil {
			*q = V0Quantities{}
		}
	}
	fix(&r.Quota.Guarantee)
	fix(&r.Quota.Limit)
	fix(&r.Quota.Consumed)
	fix(&r.Resources)
	fix(&r.Allocated)
	fix(&r.Offered)
	fix(&r.Reserved)
	if r.Frameworks == nil {
		r.Frameworks = []string{}
	}
	return json.Marshal(plain(r))
}

// V0QuantitiesOf returns the non-zero scalar amounts of a as quantities
// (ports count as their number of ports, as Mesos's ResourceQuantities do).
func V0QuantitiesOf(a Amounts) V0Quantities {
	q := V0Quantities{}
	set := func(name string, v float64) {
		if v != 0 {
			q[name] = v
		}
	}
	set(ResourceCPUs, a.CPUs)
	set(ResourceMem, a.Mem)
	set(ResourceDisk, a.Disk)
	set(ResourceGPUs, float64(a.GPUs))
	var n uint64
	for _, r := range a.Ports {
		n += uint64(r.End-r.Begin) + 1
	}
	set(ResourcePorts, float64(n))
	return q
}

// V0PID formats a libprocess pid as the v0 endpoints write them:
// "master@10.0.0.1:5050".
func V0PID(id, host string, port int) string {
	return id + "@" + host + ":" + strconv.Itoa(port)
}
