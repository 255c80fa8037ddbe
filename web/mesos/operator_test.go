package mesos

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The calls and responses below are written by hand after the examples of
// docs/operator-http-api.md and master.proto, not produced by these types.

const reserveResourcesJSON = `{
  "type": "RESERVE_RESOURCES",
  "reserve_resources": {
    "agent_id": {"value": "1557de7d-547c-48db-b5d3-6bef9c9640ef-S0"},
    "resources": [
      {"type": "SCALAR", "name": "cpus", "reservation": {"principal": "my-principal"}, "role": "role", "scalar": {"value": 1.0}},
      {"type": "SCALAR", "name": "mem", "reservation": {"principal": "my-principal"}, "role": "role", "scalar": {"value": 512.0}}
    ]
  }
}`

const updateQuotaJSON = `{
  "type": "UPDATE_QUOTA",
  "update_quota": {
    "force": false,
    "quota_configs": [
      {"role": "dev", "guarantees": {"cpus": {"value": 10}, "mem": {"value": 2048}},
       "limits": {"cpus": {"value": 20}, "mem": {"value": 4096}, "gpus": {"value": 1}}},
      {"role": "test"}
    ]
  }
}`

const drainAgentJSON = `{
  "type": "DRAIN_AGENT",
  "drain_agent": {
    "agent_id": {"value": "S1"},
    "max_grace_period": {"nanoseconds": "10000000000"},
    "mark_gone": true,
    "some_new_field": 1
  }
}`

func decodeOperatorCall(t *testing.T, s string) *OperatorCall {
	t.Helper()
	c, err := DecodeOperatorCall([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return c
}

func TestOperatorCallsDecode(t *testing.T) {
	for _, typ := range []string{"GET_HEALTH", "GET_VERSION", "GET_MASTER", "GET_STATE", "GET_AGENTS",
		"GET_FRAMEWORKS", "GET_TASKS", "GET_ROLES", "SUBSCRIBE"} {
		c := decodeOperatorCall(t, `{"type":"`+typ+`"}`)
		if c.Type != typ {
			t.Errorf("type %q", c.Type)
		}
	}

	c := decodeOperatorCall(t, `{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"weight":2.0,"role":"role1"},{"weight":0.5,"role":" eng/web "}]}}`)
	if w := c.UpdateWeights.WeightInfos; len(w) != 2 || w[0].Role != "role1" || w[0].Weight != 2 || w[1].Weight != 0.5 {
		t.Fatalf("weights %+v", w)
	}

	c = decodeOperatorCall(t, reserveResourcesJSON)
	rr := c.ReserveResources
	if rr.AgentID.Value != "1557de7d-547c-48db-b5d3-6bef9c9640ef-S0" || len(rr.Resources) != 2 || *rr.Resources[0].Reservation.Principal != "my-principal" {
		t.Fatalf("reserve %+v", rr)
	}
	p, err := ParseResources("reserve_resources.resources", rr.Resources)
	if err != nil || !reflect.DeepEqual(p.Dynamic, map[string]Amounts{"role": {CPUs: 1, Mem: 512}}) {
		t.Fatalf("parsed %+v %v", p, err)
	}
	m := reencode(t, c)
	eq(t, at(t, m, "reserve_resources", "agent_id", "value"), "1557de7d-547c-48db-b5d3-6bef9c9640ef-S0")
	eq(t, at(t, m, "reserve_resources", "resources", 1, "scalar", "value"), "512")
	eq(t, at(t, m, "reserve_resources", "resources", 1, "reservation", "principal"), "my-principal")

	c = decodeOperatorCall(t, `{"type":"UNRESERVE_RESOURCES","unreserve_resources":{"agent_id":{"value":"S0"},
	  "resources":[{"type":"SCALAR","name":"cpus","reservations":[{"type":"DYNAMIC","role":"role","principal":"p"}],"scalar":{"value":1}}]}}`)
	if c.UnreserveResources.AgentID.Value != "S0" || len(c.UnreserveResources.Resources) != 1 {
		t.Fatalf("unreserve %+v", c.UnreserveResources)
	}

	c = decodeOperatorCall(t, updateQuotaJSON)
	uq := c.UpdateQuota
	if *uq.Force || len(uq.QuotaConfigs) != 2 || uq.QuotaConfigs[0].Guarantees["mem"].Value != 2048 ||
		uq.QuotaConfigs[0].Limits["gpus"].Value != 1 || uq.QuotaConfigs[1].Role != "test" || uq.QuotaConfigs[1].Limits != nil {
		t.Fatalf("quota %+v", uq)
	}
	m = reencode(t, c)
	eq(t, at(t, m, "update_quota", "quota_configs", 0, "limits", "cpus", "value"), "20")
	eq(t, at(t, m, "update_quota", "force"), false)

	c = decodeOperatorCall(t, drainAgentJSON)
	if d := c.DrainAgent; d.AgentID.Value != "S1" || d.MaxGracePeriod.Nanoseconds != 10e9 || !*d.MarkGone {
		t.Fatalf("drain %+v", d)
	}
	m = reencode(t, c)
	eq(t, at(t, m, "drain_agent", "max_grace_period", "nanoseconds"), "10000000000")
	if _, ok := at(t, m, "drain_agent", "max_grace_period", "nanoseconds").(json.Number); !ok {
		t.Error("nanoseconds should be written as a number")
	}

	c = decodeOperatorCall(t, `{"type":"DEACTIVATE_AGENT","deactivate_agent":{"agent_id":{"value":"S2"}}}`)
	if c.DeactivateAgent.AgentID.Value != "S2" {
		t.Fatal(c.DeactivateAgent)
	}
	c = decodeOperatorCall(t, `{"type":"REACTIVATE_AGENT","reactivate_agent":{"agent_id":{"value":"S3"}}}`)
	if c.ReactivateAgent.AgentID.Value != "S3" {
		t.Fatal(c.ReactivateAgent)
	}
}

func TestOperatorCallValidateErrors(t *testing.T) {
	agent := `"agent_id":{"value":"S0"}`
	dyn := func(role string) string {
		return `{"type":"SCALAR","name":"cpus","scalar":{"value":1},"role":"` + role + `","reservation":{}}`
	}
	cases := []struct{ in, want string }{
		{`{}`, "Expecting 'type' to be present"},
		{`{"type":"BOGUS"}`, "Unknown call type 'BOGUS'"},
		{`{"type":"UPDATE_WEIGHTS"}`, "Expecting 'update_weights' to be present"},
		{`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"weight":1,"role":"a"},{"weight":0,"role":"b"}]}}`,
			"update_weights.weight_infos[1]: Invalid weight '0' for role 'b': Weights must be positive"},
		{`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"weight":-2,"role":"b"}]}}`,
			"update_weights.weight_infos[0]: Invalid weight '-2' for role 'b': Weights must be positive"},
		{`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"weight":1}]}}`,
			"update_weights.weight_infos[0]: Invalid role '': Role names cannot be the empty string"},
		{`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"weight":1,"role":"a/"}]}}`,
			"update_weights.weight_infos[0]: Invalid role 'a/': Role 'a/' cannot end with a slash"},
		{`{"type":"UPDATE_QUOTA"}`, "Expecting 'update_quota' to be present"},
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"limits":{"cpus":{"value":1}}}]}}`,
			"update_quota.quota_configs[0]: Invalid QuotaConfig: 'QuotaConfig.role' must be set"},
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":".."}]}}`,
			"update_quota.quota_configs[0]: Invalid QuotaConfig: Invalid 'QuotaConfig.role': Role '..' cannot include '..' as a component"},
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"a/b"}]}}`,
			"update_quota.quota_configs[0]: Invalid QuotaConfig: Updating quota on nested role 'a/b' is not supported yet"},
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"dev","limits":{"cpus":{"value":1},"foo":{"value":1}}}]}}`,
			"update_quota.quota_configs[0]: Invalid QuotaConfig: Invalid 'QuotaConfig.limits': unknown resource 'foo' (quota applies to cpus, mem, disk, gpus)"},
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"dev","guarantees":{"ports":{"value":10}}}]}}`,
			"update_quota.quota_configs[0]: Invalid QuotaConfig: Invalid 'QuotaConfig.guarantees': unknown resource 'ports' (quota applies to cpus, mem, disk, gpus)"},
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"dev","limits":{"mem":{"value":-1}}}]}}`,
			"update_quota.quota_configs[0]: Invalid QuotaConfig: Invalid limit configuration {'mem': -1}: Negative values not supported"},
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"dev","guarantees":{"cpus":{"value":4},"mem":{"value":1}},"limits":{"cpus":{"value":2}}}]}}`,
			"update_quota.quota_configs[0]: Invalid QuotaConfig: 'QuotaConfig.guarantees' cpus:4; mem:1 is not contained within the 'QuotaConfig.limits' cpus:2"},
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"dev"},{"role":"dev"}]}}`,
			"update_quota.quota_configs[1]: Invalid QuotaConfig: role 'dev' is also in update_quota.quota_configs[0]"},
		{`{"type":"RESERVE_RESOURCES"}`, "Expecting 'reserve_resources' to be present"},
		{`{"type":"RESERVE_RESOURCES","reserve_resources":{"resources":[` + dyn("r") + `]}}`, "Expecting 'reserve_resources.agent_id' to be present"},
		{`{"type":"RESERVE_RESOURCES","reserve_resources":{` + agent + `}}`, "Expecting 'reserve_resources.resources' to be present"},
		{`{"type":"RESERVE_RESOURCES","reserve_resources":{` + agent + `,"resources":[` + dyn("r") + `,{"type":"SCALAR","name":"mem","scalar":{"value":1},"role":"r"}]}}`,
			"reserve_resources.resources[1]: Resource mem(r):1 is not dynamically reserved"},
		{`{"type":"RESERVE_RESOURCES","reserve_resources":{` + agent + `,"resources":[{"type":"SCALAR","name":"cpu","scalar":{"value":1},"role":"r","reservation":{}}]}}`,
			`reserve_resources.resources[0]: unknown resource "cpu" (clusterd knows cpus, mem, disk, gpus, ports)`},
		{`{"type":"RESERVE_RESOURCES","reserve_resources":{` + agent + `,"source":[{"type":"SCALAR","name":"cpus","scalar":{"value":2},"role":"a","reservation":{}}],"resources":[` + dyn("r") + `]}}`,
			"Invalid RESERVE operation: Source and target resources should refer to identical resource quantities: cpus:2 vs. cpus:1"},
		{`{"type":"UNRESERVE_RESOURCES","unreserve_resources":{"resources":[` + dyn("r") + `]}}`, "Expecting 'unreserve_resources.agent_id' to be present"},
		{`{"type":"UNRESERVE_RESOURCES","unreserve_resources":{` + agent + `,"resources":[{"type":"SCALAR","name":"cpus","scalar":{"value":1}}]}}`,
			"unreserve_resources.resources[0]: Resource cpus(*):1 is not dynamically reserved"},
		{`{"type":"DRAIN_AGENT"}`, "Expecting 'drain_agent' to be present"},
		{`{"type":"DRAIN_AGENT","drain_agent":{}}`, "Expecting 'drain_agent.agent_id' to be present"},
		{`{"type":"DRAIN_AGENT","drain_agent":{` + agent + `,"max_grace_period":{"nanoseconds":-1}}}`, "'drain_agent.max_grace_period' must be non-negative"},
		{`{"type":"DEACTIVATE_AGENT"}`, "Expecting 'deactivate_agent' to be present"},
		{`{"type":"DEACTIVATE_AGENT","deactivate_agent":{}}`, "Expecting 'deactivate_agent.agent_id' to be present"},
		{`{"type":"REACTIVATE_AGENT","reactivate_agent":{"agent_id":{"value":""}}}`, "Expecting 'reactivate_agent.agent_id' to be present"},
		{`{"type":"TEARDOWN"}`, "Expecting 'teardown' to be present"},
		{`{"type":"TEARDOWN","teardown":{"framework_id":{"value":""}}}`, "Expecting 'teardown.framework_id' to be present"},
	}
	for _, tc := range cases {
		c, err := DecodeOperatorCall([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: decode: %v", tc.in, err)
			continue
		}
		err = c.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.in, err, tc.want)
		}
		if errors.Is(err, ErrUnsupportedCall) {
			t.Errorf("%s: not an unsupported call", tc.in)
		}
	}

	// Calls Mesos has and clusterd does not serve.
	for _, typ := range []string{"GET_FLAGS", "GET_WEIGHTS", "MARK_AGENT_GONE", "GET_QUOTA", "UNKNOWN"} {
		c, _ := DecodeOperatorCall([]byte(`{"type":"` + typ + `"}`))
		err := c.Validate()
		if !errors.Is(err, ErrUnsupportedCall) || err.Error() != "Call type '"+typ+"' is not supported by clusterd" {
			t.Errorf("%s: %v", typ, err)
		}
	}

	if _, err := DecodeOperatorCall([]byte(`{"type":"GET_STATE"`)); err == nil || !strings.HasPrefix(err.Error(), "Failed to parse body into JSON: ") {
		t.Errorf("truncated body: %v", err)
	}
	if _, err := DecodeOperatorCall([]byte(`{"type":"DRAIN_AGENT","drain_agent":{"agent_id":"S1"}}`)); err == nil ||
		!strings.HasPrefix(err.Error(), "Failed to convert JSON into Call protobuf: ") {
		t.Errorf("wrong shape: %v", err)
	}
}

// GET_AGENTS as the docs show it, with the Mesos 1.9+ draining fields.
// The nanoseconds do not fit a float64 exactly: they must survive.
const getAgentsJSON = `{
  "type": "GET_AGENTS",
  "get_agents": {
    "agents": [{
      "active": true,
      "deactivated": false,
      "agent_info": {
        "hostname": "myhost",
        "id": {"value": "628984d0-4213-4140-bcb0-99d7ef46b1df-S0"},
        "port": 5051,
        "resources": [
          {"name": "cpus", "role": "*", "scalar": {"value": 24.0}, "type": "SCALAR"},
          {"name": "ports", "ranges": {"range": [{"begin": 31000, "end": 32000}]}, "role": "*", "type": "RANGES"}
        ],
        "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": "r1"}}]
      },
      "pid": "slave(3)@127.0.1.1:34626",
      "registered_time": {"nanoseconds": 1470820172046531840},
      "total_resources": [{"name": "cpus", "role": "*", "scalar": {"value": 24.0}, "type": "SCALAR"}],
      "version": "1.1.0",
      "capabilities": [{"type": "MULTI_ROLE"}, {"type": "AGENT_DRAINING"}],
      "drain_info": {"state": "DRAINING", "config": {"max_grace_period": {"nanoseconds": 1000}, "mark_gone": false}},
      "estimated_drain_start_time": {"nanoseconds": "1470820172046531841"}
    }],
    "recovered_agents": [{"hostname": "old", "port": 5051, "id": {"value": "S9"}}]
  }
}`

func TestGetAgentsResponse(t *testing.T) {
	var r OperatorResponse
	if err := json.Unmarshal([]byte(getAgentsJSON), &r); err != nil {
		t.Fatal(err)
	}
	a := r.GetAgents.Agents[0]
	if !a.Active || *a.Deactivated || a.AgentInfo.Hostname != "myhost" || *a.AgentInfo.Port != 5051 ||
		a.RegisteredTime.Nanoseconds != 1470820172046531840 || a.EstimatedDrainStartTime.Nanoseconds != 1470820172046531841 ||
		a.DrainInfo.State != DrainStateDraining || a.Capabilities[1].Type != "AGENT_DRAINING" || r.GetAgents.RecoveredAgents[0].ID.Value != "S9" {
		t.Fatalf("decoded %+v", a)
	}
	m := reencode(t, &r)
	ag := at(t, m, "get_agents", "agents", 0)
	eq(t, at(t, m, "type"), "GET_AGENTS")
	eq(t, at(t, ag, "agent_info", "id", "value"), "628984d0-4213-4140-bcb0-99d7ef46b1df-S0")
	eq(t, at(t, ag, "agent_info", "resources", 1, "ranges", "range", 0, "end"), "32000")
	eq(t, at(t, ag, "agent_info", "attributes", 0, "text", "value"), "r1")
	eq(t, at(t, ag, "registered_time", "nanoseconds"), "1470820172046531840")
	eq(t, at(t, ag, "estimated_drain_start_time", "nanoseconds"), "1470820172046531841")
	eq(t, at(t, ag, "drain_info", "config", "max_grace_period", "nanoseconds"), "1000")
	eq(t, at(t, ag, "drain_info", "config", "mark_gone"), false)
	eq(t, at(t, ag, "version"), "1.1.0")
	eq(t, at(t, ag, "pid"), "slave(3)@127.0.1.1:34626")
	eq(t, at(t, m, "get_agents", "recovered_agents", 0, "hostname"), "old")

	// Required fields are written even when false/empty.
	m = reencode(t, &OperatorAgent{AgentInfo: AgentInfo{Hostname: "h"}})
	for _, k := range []string{"agent_info", "active", "version"} {
		if _, ok := m[k]; !ok {
			t.Errorf("agent: %q missing in %v", k, m)
		}
	}
	for _, k := range []string{"deactivated", "pid", "drain_info", "total_resources"} {
		if _, ok := m[k]; ok {
			t.Errorf("agent: unset %q written", k)
		}
	}
}

func TestGetStateResponse(t *testing.T) {
	uuid := []byte{0xc9, 0xc2, 0xd3, 0x44, 0x1a, 0x3c, 0x4e, 0x32, 0x85, 0x4e, 0xb8, 0x78, 0xbe, 0xc0, 0x44, 0x46}
	ts := 1470820172.32565
	running := TaskRunning
	user := "root"
	res := FormatResources(ParsedResources{Unreserved: Amounts{CPUs: 0.1, Mem: 32}}, ResourceFormat{AllocationRole: "eng"})
	r := OperatorResponse{Type: OperatorGetState, GetState: &GetStateResponse{
		GetTasks: &GetTasksResponse{Tasks: []Task{{
			Name: "test", TaskID: TaskID{"1"}, FrameworkID: FrameworkID{"f1"}, ExecutorID: &ExecutorID{"default"},
			AgentID: AgentID{"S0"}, State: TaskRunning, Resources: res,
			Statuses:          []TaskStatus{{TaskID: TaskID{"1"}, State: TaskRunning, Timestamp: &ts, UUID: uuid}},
			StatusUpdateState: &running, StatusUpdateUUID: uuid, User: &user,
		}}},
		GetExecutors: &GetExecutorsResponse{Executors: []OperatorExecutor{{
			ExecutorInfo: json.RawMessage(`{"executor_id":{"value":"default"},"command":{"value":"x"}}`), AgentID: AgentID{"S0"}}}},
		GetFrameworks: &GetFrameworksResponse{Frameworks: []OperatorFramework{{
			FrameworkInfo: FrameworkInfo{User: "root", Name: "default", ID: &FrameworkID{"f1"}},
			Active:        true, Connected: true, Recovered: false,
			RegisteredTime:     &TimeInfo{1470820171393392896},
			AllocatedResources: res,
		}}},
		GetAgents: &GetAgentsResponse{Agents: []OperatorAgent{{AgentInfo: AgentInfo{Hostname: "myhost"}, Version: "1.11.0"}}},
	}}
	m := reencode(t, &r)
	eq(t, at(t, m, "type"), "GET_STATE")
	task := at(t, m, "get_state", "get_tasks", "tasks", 0)
	eq(t, at(t, task, "task_id", "value"), "1")
	eq(t, at(t, task, "framework_id", "value"), "f1")
	eq(t, at(t, task, "executor_id", "value"), "default")
	eq(t, at(t, task, "agent_id", "value"), "S0")
	eq(t, at(t, task, "state"), "TASK_RUNNING")
	eq(t, at(t, task, "status_update_state"), "TASK_RUNNING")
	eq(t, at(t, task, "status_update_uuid"), "ycLTRBo8TjKFTrh4vsBERg==")
	eq(t, at(t, task, "statuses", 0, "uuid"), "ycLTRBo8TjKFTrh4vsBERg==")
	eq(t, at(t, task, "statuses", 0, "timestamp"), "1470820172.32565")
	eq(t, at(t, task, "resources", 0, "allocation_info", "role"), "eng")
	eq(t, at(t, task, "resources", 1, "name"), "mem")
	eq(t, at(t, task, "user"), "root")
	eq(t, at(t, m, "get_state", "get_executors", "executors", 0, "executor_info", "executor_id", "value"), "default")
	eq(t, at(t, m, "get_state", "get_executors", "executors", 0, "agent_id", "value"), "S0")
	fw := at(t, m, "get_state", "get_frameworks", "frameworks", 0)
	eq(t, at(t, fw, "framework_info", "name"), "default")
	eq(t, at(t, fw, "active"), true)
	eq(t, at(t, fw, "connected"), true)
	eq(t, at(t, fw, "recovered"), false)
	eq(t, at(t, fw, "registered_time", "nanoseconds"), "1470820171393392896")
	eq(t, at(t, fw, "allocated_resources", 0, "scalar", "value"), "0.1")
	eq(t, at(t, m, "get_state", "get_agents", "agents", 0, "agent_info", "hostname"), "myhost")
	eq(t, at(t, m, "get_state", "get_agents", "agents", 0, "active"), false)
	if _, ok := at(t, fw, "framework_info").(map[string]any)["role"]; ok {
		t.Error("unset role written")
	}
}

func TestGetRolesAndSmallResponses(t *testing.T) {
	r := OperatorResponse{Type: OperatorGetRoles, GetRoles: &GetRolesResponse{Roles: []Role{
		{Name: "*", Weight: 1},
		{Name: "role1", Weight: 2.5, Frameworks: []FrameworkID{{"74bddcbc-4a02-4d64-b291-aed52032055f-0000"}},
			Resources: FormatResources(ParsedResources{Static: map[string]Amounts{"role1": {CPUs: 0.5, Ports: []Range{{31000, 31001}}}}}, ResourceFormat{})},
	}}}
	m := reencode(t, &r)
	eq(t, at(t, m, "type"), "GET_ROLES")
	eq(t, at(t, m, "get_roles", "roles", 0), map[string]any{"name": "*", "weight": json.Number("1")})
	role1 := at(t, m, "get_roles", "roles", 1)
	eq(t, at(t, role1, "weight"), "2.5")
	eq(t, at(t, role1, "frameworks", 0, "value"), "74bddcbc-4a02-4d64-b291-aed52032055f-0000")
	eq(t, at(t, role1, "resources", 0, "name"), "cpus")
	eq(t, at(t, role1, "resources", 0, "role"), "role1")
	eq(t, at(t, role1, "resources", 1, "ranges", "range", 0, "end"), "31001")

	start, elected := 1470820171.0, 1470820172.5
	host, ver := "localhost", "1.11.0"
	r = OperatorResponse{Type: OperatorGetMaster, GetMaster: &GetMasterResponse{
		MasterInfo: &MasterInfo{ID: "m1", IP: 16842879, Port: 5050, Hostname: &host, Version: &ver,
			Capabilities: []MasterInfoCapability{{"AGENT_DRAINING"}}},
		StartTime: &start, ElectedTime: &elected,
	}}
	m = reencode(t, &r)
	eq(t, at(t, m, "get_master", "master_info", "id"), "m1")
	eq(t, at(t, m, "get_master", "master_info", "capabilities", 0, "type"), "AGENT_DRAINING")
	eq(t, at(t, m, "get_master", "start_time"), "1470820171") // seconds, a double
	eq(t, at(t, m, "get_master", "elected_time"), "1470820172.5")

	date := "2016-08-10 08:29:32"
	m = reencode(t, &OperatorResponse{Type: OperatorGetVersion, GetVersion: &GetVersionResponse{VersionInfo{Version: "1.11.0", BuildDate: &date}}})
	eq(t, at(t, m, "get_version", "version_info", "version"), "1.11.0")
	eq(t, at(t, m, "get_version", "version_info", "build_date"), date)

	m = reencode(t, &OperatorResponse{Type: OperatorGetHealth, GetHealth: &GetHealthResponse{Healthy: false}})
	eq(t, at(t, m, "get_health", "healthy"), false)
	if len(m) != 2 {
		t.Errorf("only type and get_health expected: %v", m)
	}
}

// The SUBSCRIBE stream, first decoding events written after the docs, then
// through the RecordIO writer and reader.
func TestOperatorEventStream(t *testing.T) {
	const subscribed = `{
	  "type": "SUBSCRIBED",
	  "subscribed": {
	    "get_state": {
	      "get_agents": {"agents": [{"active": true, "agent_info": {"hostname": "h", "id": {"value": "S0"}}, "version": "1.1.0"}]},
	      "get_frameworks": {},
	      "get_tasks": {},
	      "get_executors": {}
	    },
	    "heartbeat_interval_seconds": 15
	  }
	}`
	const taskUpdated = `{
	  "type": "TASK_UPDATED",
	  "task_updated": {
	    "framework_id": {"value": "f1"},
	    "state": "TASK_FINISHED",
	    "status": {"task_id": {"value": "t1"}, "state": "TASK_RUNNING", "agent_id": {"value": "S0"}, "source": "SOURCE_EXECUTOR"}
	  }
	}`
	var sub, upd OperatorEvent
	if err := json.Unmarshal([]byte(subscribed), &sub); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(taskUpdated), &upd); err != nil {
		t.Fatal(err)
	}
	if sub.Subscribed.GetState.GetAgents.Agents[0].AgentInfo.ID.Value != "S0" || *sub.Subscribed.HeartbeatIntervalSeconds != 15 ||
		upd.TaskUpdated.State != TaskFinished || upd.TaskUpdated.Status.State != TaskRunning {
		t.Fatalf("decoded %+v %+v", sub.Subscribed, upd.TaskUpdated)
	}

	events := []*OperatorEvent{
		&sub, &upd,
		{Type: OperatorEventTaskAdded, TaskAdded: &TaskAddedEvent{Task: Task{Name: "n", TaskID: TaskID{"t2"},
			FrameworkID: FrameworkID{"f1"}, AgentID: AgentID{"S0"}, State: TaskStaging}}},
		{Type: OperatorEventAgentAdded, AgentAdded: &AgentAddedEvent{Agent: OperatorAgent{AgentInfo: AgentInfo{Hostname: "h2"}, Version: "1"}}},
		{Type: OperatorEventAgentRemoved, AgentRemoved: &AgentRemovedEvent{AgentID: AgentID{"S0"}}},
		{Type: OperatorEventFrameworkAdded, FrameworkAdded: &FrameworkEvent{Framework: OperatorFramework{
			FrameworkInfo: FrameworkInfo{User: "u", Name: "marathon"}, Active: true}}},
		{Type: OperatorEventFrameworkUpdated, FrameworkUpdated: &FrameworkEvent{Framework: OperatorFramework{
			FrameworkInfo: FrameworkInfo{User: "u", Name: "marathon"}, Connected: true}}},
		{Type: OperatorEventFrameworkRemoved, FrameworkRemoved: &FrameworkRemovedEvent{FrameworkInfo: FrameworkInfo{User: "u", Name: "marathon"}}},
		{Type: OperatorEventHeartbeat},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, e := range events {
		if err := w.WriteJSON(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{`"task_added":{"task":{"name":"n"`, `"agent_removed":{"agent_id":{"value":"S0"}}`,
		`"framework_removed":{"framework_info":{"user":"u","name":"marathon"}}`, "\n" + `{"type":"HEARTBEAT"}`,
		`"heartbeat_interval_seconds":15`, `"task_updated":{"framework_id":{"value":"f1"},"status":{`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("stream lacks %s:\n%s", want, buf.String())
		}
	}
	r := NewReader(&buf, 0)
	for _, want := range events {
		got := &OperatorEvent{}
		if err := r.ReadJSON(got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v want %+v", got, want)
		}
	}
}
