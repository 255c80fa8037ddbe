package mesos

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// A /master/state excerpt written by hand after the example in Mesos's
// STATE_HELP and the fields marathon-lb and Mesos-DNS read (slaves'
// hostnames and ports, tasks' state, statuses' container IPs, discovery).
const v0StateJSON = `{
  "version": "1.11.0",
  "git_sha": "9d5889b5a265849886a533965f4aefefd1fbd103",
  "build_date": "2016-02-15 10:00:28",
  "start_time": 1455643643.42422,
  "elected_time": 1455643643.43457,
  "id": "b5eac2c5-609b-4ca1-a352-61941702fc9e",
  "pid": "master@127.0.0.1:5050",
  "hostname": "localhost",
  "activated_slaves": 1,
  "deactivated_slaves": 0,
  "unreachable_slaves": 0,
  "leader": "master@127.0.0.1:5050",
  "leader_info": {"id": "b5eac2c5-609b-4ca1-a352-61941702fc9e", "pid": "master@127.0.0.1:5050", "port": 5050, "hostname": "localhost"},
  "log_dir": "/var/log",
  "flags": {"authenticate": "false", "work_dir": "/var/lib/mesos"},
  "slaves": [{
    "id": "S0", "pid": "slave(1)@10.0.0.5:5051", "hostname": "agent1", "port": 5051,
    "attributes": {"rack": "r1", "cores": 8, "spots": "[1-3]"},
    "registered_time": 1455643650.5,
    "resources": {"cpus": 4, "mem": 7681, "disk": 35164, "gpus": 0, "ports": "[31000-32000, 33000-33000]"},
    "used_resources": {"cpus": 0.1, "mem": 32, "disk": 0, "gpus": 0, "ports": "[31000-31000]"},
    "offered_resources": {"cpus": 0, "mem": 0, "disk": 0, "gpus": 0},
    "reserved_resources": {"eng": {"cpus": 1, "mem": 0, "disk": 0, "gpus": 0}},
    "unreserved_resources": {"cpus": 3, "mem": 7681, "disk": 35164, "gpus": 0, "ports": "[31000-32000, 33000-33000]"},
    "active": true, "deactivated": false, "version": "1.11.0", "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE"]
  }],
  "frameworks": [{
    "id": "f1", "name": "marathon", "hostname": "m1", "webui_url": "http://m1:8080", "user": "root",
    "role": "*", "active": true, "connected": true, "recovered": false, "checkpoint": true, "failover_timeout": 604800,
    "registered_time": 1455643660, "unregistered_time": 0, "capabilities": ["PARTITION_AWARE"],
    "resources": {"cpus": 0.1, "mem": 32, "disk": 0, "gpus": 0, "ports": "[31000-31000]"},
    "used_resources": {"cpus": 0.1, "mem": 32, "disk": 0, "gpus": 0, "ports": "[31000-31000]"},
    "offered_resources": {"cpus": 0, "mem": 0, "disk": 0, "gpus": 0},
    "tasks": [{
      "id": "web.1", "name": "web", "framework_id": "f1", "executor_id": "", "slave_id": "S0", "state": "TASK_RUNNING",
      "resources": {"cpus": 0.1, "mem": 32, "disk": 0, "gpus": 0, "ports": "[31000-31000]"}, "role": "*",
      "statuses": [{"state": "TASK_RUNNING", "timestamp": 1455643670.1,
        "container_status": {"network_infos": [{"ip_addresses": [{"protocol": "IPv4", "ip_address": "10.0.0.5"}]}]}}],
      "labels": [{"key": "HAPROXY_GROUP", "value": "external"}],
      "discovery": {"visibility": "FRAMEWORK", "name": "web", "ports": {"ports": [{"number": 31000, "name": "http", "protocol": "tcp"}]}}
    }],
    "unreachable_tasks": [], "completed_tasks": [], "offers": [], "executors": []
  }],
  "completed_frameworks": [],
  "orphan_tasks": [],
  "unregistered_frameworks": []
}`

func TestV0StateDecode(t *testing.T) {
	var s V0State
	if err := json.Unmarshal([]byte(v0StateJSON), &s); err != nil {
		t.Fatal(err)
	}
	sl := s.Slaves[0]
	if sl.Hostname != "agent1" || sl.Port != 5051 || sl.Resources.CPUs != 4 ||
		!reflect.DeepEqual(sl.Resources.Ports, []Range{{31000, 32000}, {33000, 33000}}) ||
		sl.ReservedResources["eng"].CPUs != 1 || sl.Attributes["cores"] != float64(8) {
		t.Fatalf("slave %+v", sl)
	}
	task := s.Frameworks[0].Tasks[0]
	if task.State != TaskRunning || *task.Statuses[0].ContainerStatus.NetworkInfos[0].IPAddresses[0].IPAddress != "10.0.0.5" ||
		task.Discovery.Ports.Ports[0].Number != 31000 || task.Labels[0].Key != "HAPROXY_GROUP" || *s.Frameworks[0].Role != "*" {
		t.Fatalf("task %+v", task)
	}
	if s.LeaderInfo.Port != 5050 || s.Flags["work_dir"] != "/var/lib/mesos" || *s.ElectedTime != 1455643643.43457 {
		t.Fatalf("state %+v", s)
	}
	// Decoding and encoding again keeps what the tools read.
	m := reencode(t, &s)
	eq(t, at(t, m, "slaves", 0, "resources", "ports"), "[31000-32000, 33000-33000]")
	eq(t, at(t, m, "slaves", 0, "attributes", "spots"), "[1-3]")
	eq(t, at(t, m, "frameworks", 0, "tasks", 0, "statuses", 0, "container_status", "network_infos", 0, "ip_addresses", 0, "ip_address"), "10.0.0.5")
	eq(t, at(t, m, "frameworks", 0, "tasks", 0, "discovery", "ports", "ports", 0, "name"), "http")
}

func TestV0StateEncode(t *testing.T) {
	elected := 1455643643.5
	healthy := true
	ip := "10.0.0.5"
	ts := 1455643670.25
	role := "*"
	slaveRes := ParsedResources{
		Unreserved: Amounts{CPUs: 3, Mem: 7680, Disk: 1000, Ports: []Range{{31000, 32000}, {33000, 33000}}},
		Dynamic:    map[string]Amounts{"eng": {CPUs: 1, Mem: 512}},
		Static:     map[string]Amounts{"eng": {GPUs: 1}, "ops": {Disk: 10}},
	}
	s := V0State{
		Version: "1.11.0", StartTime: 1455643643.25, ElectedTime: &elected,
		ID: "m1", PID: V0PID("master", "10.0.0.1", 5050), Hostname: "master1",
		ActivatedSlaves: 1, Leader: "master@10.0.0.1:5050",
		LeaderInfo: &V0MasterInfo{ID: "m1", PID: "master@10.0.0.1:5050", Port: 5050, Hostname: "master1"},
		Flags:      map[string]string{"roles": "eng,ops"},
		Slaves: []V0Slave{{
			ID: "S0", PID: "slave(1)@10.0.0.5:5051", Hostname: "agent1", Port: 5051,
			Attributes: V0Attributes([]Attribute{
				{Name: "rack", Type: ValueText, Text: &Text{"r1"}},
				{Name: "cores", Type: ValueScalar, Scalar: &Scalar{8}},
				{Name: "spots", Type: ValueRanges, Ranges: &Ranges{Range: []Range{{1, 3}, {5, 5}}}},
				{Name: "zones", Type: ValueSet, Set: &Set{Item: []string{"a", "b"}}},
			}),
			RegisteredTime:      1455643650.5,
			Resources:           V0Amounts(slaveRes.Total()),
			UsedResources:       V0Amounts{CPUs: 0.1, Mem: 32, Ports: []Range{{31000, 31000}}},
			ReservedResources:   V0ReservedResources(slaveRes),
			UnreservedResources: V0Amounts(slaveRes.Unreserved),
			Active:              true, Version: "1.11.0", Capabilities: []string{"MULTI_ROLE"},
		}},
		Frameworks: []V0Framework{{
			ID: "f1", Name: "marathon", User: "root", Role: &role, Active: true, Connected: true,
			FailoverTimeout: 604800, Checkpoint: true, RegisteredTime: 1455643660,
			Capabilities: []string{"PARTITION_AWARE"},
			Tasks: []V0Task{{
				ID: "web.1", Name: "web", FrameworkID: "f1", SlaveID: "S0", State: TaskRunning, Role: "*",
				Resources: V0Amounts{CPUs: 0.1, Mem: 32, Ports: []Range{{31000, 31000}}},
				Statuses: []V0TaskStatus{NewV0TaskStatus(TaskStatus{TaskID: TaskID{"web.1"}, State: TaskRunning, Timestamp: &ts, Healthy: &healthy,
					Labels: &Labels{[]Label{{Key: "k"}}},
					ContainerStatus: &ContainerStatus{NetworkInfos: []NetworkInfo{{
						IPAddresses: []NetworkIPAddress{{IPAddress: &ip}}, Labels: &Labels{[]Label{{Key: "net"}}}}}}})},
			}},
		}},
	}
	m := reencode(t, &s)

	// Top level.
	for k, want := range map[string]any{"version": "1.11.0", "start_time": "1455643643.25", "elected_time": "1455643643.5",
		"id": "m1", "pid": "master@10.0.0.1:5050", "hostname": "master1", "activated_slaves": "1",
		"deactivated_slaves": "0", "unreachable_slaves": "0", "leader": "master@10.0.0.1:5050"} {
		eq(t, at(t, m, k), want)
	}
	eq(t, at(t, m, "leader_info", "port"), "5050")
	eq(t, at(t, m, "flags", "roles"), "eng,ops")
	for _, k := range []string{"completed_frameworks", "orphan_tasks", "unregistered_frameworks", "recovered_slaves", "capabilities"} {
		eq(t, at(t, m, k), []any{})
	}

	// The agent: v0 resources objects with the ports string.
	sl := at(t, m, "slaves", 0)
	eq(t, at(t, sl, "resources"), map[string]any{"cpus": json.Number("4"), "mem": json.Number("8192"),
		"disk": json.Number("1010"), "gpus": json.Number("1"), "ports": "[31000-32000, 33000-33000]"})
	eq(t, at(t, sl, "offered_resources"), map[string]any{"cpus": json.Number("0"), "mem": json.Number("0"),
		"disk": json.Number("0"), "gpus": json.Number("0")})
	eq(t, at(t, sl, "used_resources", "ports"), "[31000-31000]")
	eq(t, at(t, sl, "reserved_resources", "eng", "cpus"), "1")
	eq(t, at(t, sl, "reserved_resources", "eng", "mem"), "512")
	eq(t, at(t, sl, "reserved_resources", "eng", "gpus"), "1")
	eq(t, at(t, sl, "reserved_resources", "ops", "disk"), "10")
	eq(t, at(t, sl, "unreserved_resources", "cpus"), "3")
	eq(t, at(t, sl, "attributes"), map[string]any{"rack": "r1", "cores": json.Number("8"), "spots": "[1-3, 5-5]", "zones": "{a, b}"})
	eq(t, at(t, sl, "registered_time"), "1455643650.5")
	eq(t, at(t, sl, "active"), true)
	eq(t, at(t, sl, "deactivated"), false)
	eq(t, at(t, sl, "capabilities", 0), "MULTI_ROLE")
	if _, ok := sl.(map[string]any)["reregistered_time"]; ok {
		t.Error("unset reregistered_time written")
	}

	// The framework and its task.
	fw := at(t, m, "frameworks", 0)
	eq(t, at(t, fw, "role"), "*")
	eq(t, at(t, fw, "failover_timeout"), "604800")
	eq(t, at(t, fw, "webui_url"), "")
	eq(t, at(t, fw, "capabilities", 0), "PARTITION_AWARE")
	for _, k := range []string{"unreachable_tasks", "completed_tasks", "offers", "executors"} {
		eq(t, at(t, fw, k), []any{})
	}
	for _, k := range []string{"roles", "pid", "principal"} {
		if _, ok := fw.(map[string]any)[k]; ok {
			t.Errorf("framework: unset %q written", k)
		}
	}
	task := at(t, fw, "tasks", 0)
	eq(t, at(t, task, "id"), "web.1")
	eq(t, at(t, task, "executor_id"), "")
	eq(t, at(t, task, "slave_id"), "S0")
	eq(t, at(t, task, "role"), "*")
	eq(t, at(t, task, "resources", "ports"), "[31000-31000]")
	eq(t, at(t, task, "resources", "cpus"), "0.1")
	st := at(t, task, "statuses", 0)
	eq(t, at(t, st, "state"), "TASK_RUNNING")
	eq(t, at(t, st, "timestamp"), "1455643670.25")
	eq(t, at(t, st, "healthy"), true)
	eq(t, at(t, st, "labels", 0, "key"), "k") // a plain array in v0
	eq(t, at(t, st, "container_status", "network_infos", 0, "ip_addresses", 0, "ip_address"), "10.0.0.5")
	eq(t, at(t, st, "container_status", "network_infos", 0, "labels", 0, "key"), "net")

	// A task without statuses still has "statuses": [].
	b, _ := json.Marshal(V0Task{ID: "t"})
	if !strings.Contains(string(b), `"statuses":[]`) || !strings.Contains(string(b), `"executor_id":""`) {
		t.Errorf("empty task: %s", b)
	}
}

func TestV0ResourcesAndRoles(t *testing.T) {
	if got := V0Resources(Amounts{CPUs: 1.5, Mem: 1024, Ports: []Range{{31000, 32000}, {33000, 33000}}}); !reflect.DeepEqual(got,
		map[string]any{"cpus": 1.5, "mem": 1024.0, "disk": 0.0, "gpus": 0.0, "ports": "[31000-32000, 33000-33000]"}) {
		t.Errorf("V0Resources %v", got)
	}
	var a V0Amounts
	if err := json.Unmarshal([]byte(`{"cpus":1,"mem":2,"ports":"[1-2, 4-4]","cpus_revocable":3}`), &a); err != nil ||
		!reflect.DeepEqual(Amounts(a), Amounts{CPUs: 1, Mem: 2, Ports: []Range{{1, 2}, {4, 4}}}) {
		t.Errorf("decode %+v %v", a, err)
	}
	if err := json.Unmarshal([]byte(`{"ports":"31000-32000"}`), &a); err == nil {
		t.Error("bad ports string accepted")
	}

	// GET /master/roles: the quota fields live here, not in v1 Role.
	r := V0Role{Name: "dev", Weight: 1, Quota: V0RoleQuota{Role: "dev", Guarantee: V0Quantities{"cpus": 1}},
		Allocated: V0QuantitiesOf(Amounts{CPUs: 0.5, Ports: []Range{{31000, 31009}}}), Frameworks: []string{"f1"}}
	m := reencode(t, map[string]any{"roles": []V0Role{r, {Name: "*", Weight: 1}}})
	dev := at(t, m, "roles", 0)
	eq(t, at(t, dev, "quota", "role"), "dev")
	eq(t, at(t, dev, "quota", "guarantee", "cpus"), "1")
	eq(t, at(t, dev, "quota", "limit"), map[string]any{})
	eq(t, at(t, dev, "quota", "consumed"), map[string]any{})
	eq(t, at(t, dev, "allocated", "cpus"), "0.5")
	eq(t, at(t, dev, "allocated", "ports"), "10")
	eq(t, at(t, dev, "frameworks", 0), "f1")
	star := at(t, m, "roles", 1)
	for _, k := range []string{"resources", "allocated", "offered", "reserved"} {
		eq(t, at(t, star, k), map[string]any{})
	}
	eq(t, at(t, star, "frameworks"), []any{})
	if V0Seconds(TimeInfo{1455643650500000000}) != 1455643650.5 {
		t.Error("V0Seconds")
	}
}
