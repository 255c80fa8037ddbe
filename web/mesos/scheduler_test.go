package mesos

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The documents below are written by hand after the examples of the Mesos
// scheduler HTTP API documentation, not produced by these types.

const subscribeJSON = `{
  "type": "SUBSCRIBE",
  "subscribe": {
    "framework_info": {
      "user": "foo",
      "name": "Example HTTP Framework",
      "roles": ["test"],
      "capabilities": [{"type": "MULTI_ROLE"}],
      "failover_timeout": 3600.0,
      "checkpoint": true,
      "some_future_field": {"x": 1}
    }
  },
  "another_unknown": 7
}`

const acceptJSON = `{
  "framework_id": {"value": "12220-3440-12532-2345"},
  "type": "ACCEPT",
  "accept": {
    "offer_ids": [{"value": "12220-3440-12532-O12"}],
    "operations": [{
      "type": "LAUNCH",
      "launch": {"task_infos": [{
        "name": "My Task",
        "task_id": {"value": "12220-3440-12532-my-task"},
        "agent_id": {"value": "12220-3440-12532-S1233"},
        "command": {
          "shell": true,
          "value": "sleep 1000",
          "environment": {"variables": [{"name": "FOO", "value": "bar"}]}
        },
        "resources": [
          {"allocation_info": {"role": "engineering"}, "name": "cpus", "role": "*", "type": "SCALAR", "scalar": {"value": 1.0}},
          {"allocation_info": {"role": "engineering"}, "name": "mem", "role": "*", "type": "SCALAR", "scalar": {"value": 128.0}},
          {"allocation_info": {"role": "engineering"}, "name": "ports", "type": "RANGES",
           "ranges": {"range": [{"begin": 31000, "end": 31001}, {"begin": "31005", "end": "31005"}]}}
        ]
      }]}
    }],
    "filters": {"refuse_seconds": 5.0}
  }
}`

const declineJSON = `{
  "framework_id": {"value": "12220-3440-12532-2345"},
  "type": "DECLINE",
  "decline": {
    "offer_ids": [{"value": "12220-3440-12532-O12"}, {"value": "12220-3440-12532-O13"}],
    "filters": {"refuse_seconds": 120.5}
  }
}`

// uuid is the 16 bytes 0x00..0x0f in standard base64.
const acknowledgeJSON = `{
  "framework_id": {"value": "12220-3440-12532-2345"},
  "type": "ACKNOWLEDGE",
  "acknowledge": {
    "agent_id": {"value": "12220-3440-12532-S1233"},
    "task_id": {"value": "12220-3440-12532-my-task"},
    "uuid": "AAECAwQFBgcICQoLDA0ODw=="
  }
}`

const subscribedJSON = `{
  "type": "SUBSCRIBED",
  "subscribed": {
    "framework_id": {"value": "12220-3440-12532-2345"},
    "heartbeat_interval_seconds": 15,
    "master_info": {
      "id": "master-1", "ip": 16842879, "port": 5050, "hostname": "leader.example.com",
      "version": "1.11.0",
      "address": {"hostname": "leader.example.com", "ip": "127.0.1.1", "port": 5050}
    }
  }
}`

const offersJSON = `{
  "type": "OFFERS",
  "offers": {
    "offers": [{
      "allocation_info": {"role": "engineering"},
      "id": {"value": "12214-23523-O235235"},
      "framework_id": {"value": "12124-235325-32425"},
      "agent_id": {"value": "12325-23523-S23523"},
      "hostname": "agent.host",
      "resources": [
        {"allocation_info": {"role": "engineering"}, "name": "cpus", "role": "*", "type": "SCALAR", "scalar": {"value": 2.0}},
        {"allocation_info": {"role": "engineering"}, "name": "mem", "role": "*", "type": "SCALAR", "scalar": {"value": 8192.0}},
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]},
         "reservations": [{"type": "STATIC", "role": "engineering"}]}
      ],
      "attributes": [
        {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
        {"name": "zone_weight", "type": "SCALAR", "scalar": {"value": 3}}
      ],
      "executor_ids": []
    }]
  }
}`

func decodeCall(t *testing.T, s string) *Call {
	t.Helper()
	c, err := DecodeCall([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return c
}

// reencode marshals v and decodes it into a generic map so the test looks
// at the JSON a framework would see, not at the Go structs.
func reencode(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// at walks a generic JSON value along a path of keys and indices.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("path %v: not an object at %q", path, k)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("path %v: no key %q in %v", path, k, m)
			}
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("path %v: no index %d", path, k)
			}
			v = a[k]
		}
	}
	return v
}

func eq(t *testing.T, got, want any) {
	t.Helper()
	if n, ok := got.(json.Number); ok {
		got = n.String()
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestSubscribeCall(t *testing.T) {
	c := decodeCall(t, subscribeJSON)
	fi := c.Subscribe.FrameworkInfo
	if c.Type != CallSubscribe || fi.User != "foo" || fi.Name != "Example HTTP Framework" ||
		!reflect.DeepEqual(fi.Roles, []string{"test"}) || !fi.HasCapability(CapabilityMultiRole) ||
		*fi.FailoverTimeout != 3600 || !*fi.Checkpoint || fi.ID != nil || c.FrameworkID != nil {
		t.Fatalf("decoded %+v", c)
	}
	m := reencode(t, c)
	eq(t, at(t, m, "type"), "SUBSCRIBE")
	eq(t, at(t, m, "subscribe", "framework_info", "user"), "foo")
	eq(t, at(t, m, "subscribe", "framework_info", "roles", 0), "test")
	eq(t, at(t, m, "subscribe", "framework_info", "capabilities", 0, "type"), "MULTI_ROLE")
	eq(t, at(t, m, "subscribe", "framework_info", "failover_timeout"), "3600")
	if _, ok := m["framework_id"]; ok {
		t.Error("unset framework_id encoded")
	}
	if _, ok := at(t, m, "subscribe", "framework_info").(map[string]any)["role"]; ok {
		t.Error("unset role encoded")
	}
}

func TestAcceptCall(t *testing.T) {
	c := decodeCall(t, acceptJSON)
	if c.FrameworkID.Value != "12220-3440-12532-2345" || len(c.Accept.OfferIDs) != 1 ||
		c.Accept.Filters.Refuse() != 5 || len(c.Accept.Operations) != 1 {
		t.Fatalf("decoded %+v", c.Accept)
	}
	op := c.Accept.Operations[0]
	if op.Type != OperationLaunch || len(op.Launch.TaskInfos) != 1 {
		t.Fatalf("operation %+v", op)
	}
	ti := op.Launch.TaskInfos[0]
	if ti.Name != "My Task" || ti.TaskID.Value != "12220-3440-12532-my-task" || ti.AgentID.Value != "12220-3440-12532-S1233" ||
		!ti.Command.IsShell() || *ti.Command.Value != "sleep 1000" ||
		ti.Command.Environment.Variables[0].Name != "FOO" || *ti.Command.Environment.Variables[0].Value != "bar" {
		t.Fatalf("task %+v", ti)
	}
	if len(ti.Resources) != 3 || ti.Resources[0].Scalar.Value != 1 || ti.Resources[1].Scalar.Value != 128 ||
		*ti.Resources[0].AllocationInfo.Role != "engineering" || *ti.Resources[0].Role != "*" {
		t.Fatalf("resources %+v", ti.Resources)
	}
	ports := ti.Resources[2]
	if ports.Type != ValueRanges || !reflect.DeepEqual(ports.Ranges.Range, []Range{{31000, 31001}, {31005, 31005}}) {
		t.Fatalf("ports %+v", ports)
	}
	m := reencode(t, c)
	task := at(t, m, "accept", "operations", 0, "launch", "task_infos", 0)
	eq(t, at(t, m, "accept", "offer_ids", 0, "value"), "12220-3440-12532-O12")
	eq(t, at(t, m, "accept", "operations", 0, "type"), "LAUNCH")
	eq(t, at(t, m, "accept", "filters", "refuse_seconds"), "5")
	eq(t, at(t, task, "task_id", "value"), "12220-3440-12532-my-task")
	eq(t, at(t, task, "command", "shell"), true)
	eq(t, at(t, task, "command", "value"), "sleep 1000")
	eq(t, at(t, task, "command", "environment", "variables", 0, "value"), "bar")
	eq(t, at(t, task, "resources", 0, "name"), "cpus")
	eq(t, at(t, task, "resources", 0, "type"), "SCALAR")
	eq(t, at(t, task, "resources", 1, "scalar", "value"), "128")
	eq(t, at(t, task, "resources", 2, "ranges", "range", 1, "begin"), "31005") // number, not string
	eq(t, at(t, task, "resources", 0, "allocation_info", "role"), "engineering")
}

func TestDeclineCall(t *testing.T) {
	c := decodeCall(t, declineJSON)
	if len(c.Decline.OfferIDs) != 2 || c.Decline.OfferIDs[1].Value != "12220-3440-12532-O13" || c.Decline.Filters.Refuse() != 120.5 {
		t.Fatalf("decoded %+v", c.Decline)
	}
	m := reencode(t, c)
	eq(t, at(t, m, "decline", "filters", "refuse_seconds"), "120.5")
	eq(t, at(t, m, "decline", "offer_ids", 1, "value"), "12220-3440-12532-O13")
	var nilFilters *Filters
	if nilFilters.Refuse() != DefaultRefuseSeconds || (&Filters{}).Refuse() != 5 {
		t.Error("default refuse_seconds is 5")
	}
}

func TestAcknowledgeCall(t *testing.T) {
	c := decodeCall(t, acknowledgeJSON)
	want := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	if !bytes.Equal(c.Acknowledge.UUID, want) {
		t.Fatalf("uuid %x", c.Acknowledge.UUID)
	}
	m := reencode(t, c)
	eq(t, at(t, m, "acknowledge", "uuid"), "AAECAwQFBgcICQoLDA0ODw==")
	eq(t, at(t, m, "acknowledge", "agent_id", "value"), "12220-3440-12532-S1233")
}

func TestSubscribedEvent(t *testing.T) {
	var e Event
	if err := json.Unmarshal([]byte(subscribedJSON), &e); err != nil {
		t.Fatal(err)
	}
	if e.Type != EventSubscribed || e.Subscribed.FrameworkID.Value != "12220-3440-12532-2345" ||
		*e.Subscribed.HeartbeatIntervalSeconds != 15 || e.Subscribed.MasterInfo.Port != 5050 ||
		e.Subscribed.MasterInfo.IP != 16842879 || *e.Subscribed.MasterInfo.Address.IP != "127.0.1.1" {
		t.Fatalf("decoded %+v", e.Subscribed)
	}
	m := reencode(t, &e)
	eq(t, at(t, m, "type"), "SUBSCRIBED")
	eq(t, at(t, m, "subscribed", "heartbeat_interval_seconds"), "15")
	eq(t, at(t, m, "subscribed", "framework_id", "value"), "12220-3440-12532-2345")
	eq(t, at(t, m, "subscribed", "master_info", "hostname"), "leader.example.com")
	if len(m) != 2 {
		t.Errorf("only type and subscribed expected, got %v", m)
	}
}

func TestOffersEvent(t *testing.T) {
	var e Event
	if err := json.Unmarshal([]byte(offersJSON), &e); err != nil {
		t.Fatal(err)
	}
	o := e.Offers.Offers[0]
	if o.ID.Value != "12214-23523-O235235" || o.AgentID.Value != "12325-23523-S23523" || o.Hostname != "agent.host" ||
		len(o.Resources) != 3 || o.Resources[1].Scalar.Value != 8192 || o.Resources[2].Ranges.Range[0].End != 32000 ||
		o.Resources[2].Reservations[0].Type != ReservationStatic || o.Attributes[0].Text.Value != "r1" ||
		*o.AllocationInfo.Role != "engineering" {
		t.Fatalf("decoded %+v", o)
	}
	m := reencode(t, &e)
	off := at(t, m, "offers", "offers", 0)
	eq(t, at(t, off, "id", "value"), "12214-23523-O235235")
	eq(t, at(t, off, "framework_id", "value"), "12124-235325-32425")
	eq(t, at(t, off, "resources", 2, "ranges", "range", 0, "end"), "32000")
	eq(t, at(t, off, "resources", 2, "reservations", 0, "role"), "engineering")
	eq(t, at(t, off, "attributes", 0, "text", "value"), "r1")
	eq(t, at(t, off, "attributes", 1, "scalar", "value"), "3")
	eq(t, at(t, off, "allocation_info", "role"), "engineering")
}

func TestUpdateEventStream(t *testing.T) {
	ts := 1700000000.25
	src, healthy := SourceAgent, true
	events := []*Event{
		{Type: EventUpdate, Update: &EventUpdateInfo{Status: TaskStatus{
			TaskID: TaskID{"t1"}, State: TaskRunning, Source: &src, AgentID: &AgentID{"a1"},
			Timestamp: &ts, UUID: []byte{0xff, 0, 1}, Healthy: &healthy}}},
		{Type: EventHeartbeat},
		{Type: EventError, Error: &EventErrorInfo{Message: "Framework has been removed"}},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, e := range events {
		if err := w.WriteJSON(e); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(buf.String(), `"uuid":"/wAB"`) || !strings.Contains(buf.String(), `"timestamp":1700000000.25`) ||
		!strings.Contains(buf.String(), "\n"+`{"type":"HEARTBEAT"}`) {
		t.Fatalf("stream %q", buf.String())
	}
	r := NewReader(&buf, 0)
	for _, want := range events {
		got, err := r.ReadEvent()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v want %+v", got, want)
		}
	}
}

func TestUnknownFieldsTolerated(t *testing.T) {
	c := decodeCall(t, `{"type":"REVIVE","framework_id":{"value":"f","extra":1},"revive":{"roles":["a"],"new":[1,2]},"x":null}`)
	if c.Revive.Roles[0] != "a" || c.FrameworkID.Value != "f" {
		t.Fatalf("%+v", c)
	}
}

func TestValidateErrors(t *testing.T) {
	fid := `"framework_id":{"value":"f1"},`
	cases := []struct{ in, want string }{
		{`{}`, "Expecting 'type' to be present"},
		{`{"type":"SUBSCRIBE"}`, "Expecting 'subscribe' to be present"},
		{`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"n"}}}`, "Expecting 'subscribe.framework_info.user' to be present"},
		{`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u"}}}`, "Expecting 'subscribe.framework_info.name' to be present"},
		{`{"type":"SUBSCRIBE",` + fid + `"subscribe":{"framework_info":{"user":"u","name":"n"}}}`, "'framework_id' differs from 'subscribe.framework_info.id'"},
		{`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","roles":["a"]}}}`,
			"'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"},
		{`{"type":"ACCEPT","accept":{"offer_ids":[{"value":"o"}]}}`, "Expecting 'framework_id' to be present"},
		{`{"type":"ACCEPT",` + fid + `"x":1}`, "Expecting 'accept' to be present"},
		{`{"type":"ACCEPT",` + fid + `"accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"n","task_id":{"value":"t"}}]}}]}}`,
			"Expecting 'accept.operations[0].launch.task_infos[0].agent_id' to be present"},
		{`{"type":"ACCEPT",` + fid + `"accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"LAUNCH"}]}}`, "Expecting 'accept.operations[0].launch' to be present"},
		{`{"type":"DECLINE",` + fid + `"x":1}`, "Expecting 'decline' to be present"},
		{`{"type":"KILL",` + fid + `"kill":{}}`, "Expecting 'kill.task_id' to be present"},
		{`{"type":"KILL",` + fid + `"x":1}`, "Expecting 'kill' to be present"},
		{`{"type":"ACKNOWLEDGE",` + fid + `"acknowledge":{"task_id":{"value":"t"},"uuid":"AAECAwQFBgcICQoLDA0ODw=="}}`, "Expecting 'acknowledge.agent_id' to be present"},
		{`{"type":"ACKNOWLEDGE",` + fid + `"acknowledge":{"agent_id":{"value":"a"},"uuid":"AAECAwQFBgcICQoLDA0ODw=="}}`, "Expecting 'acknowledge.task_id' to be present"},
		{`{"type":"ACKNOWLEDGE",` + fid + `"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"}}}`, "Expecting 'acknowledge.uuid' to be present"},
		{`{"type":"ACKNOWLEDGE",` + fid + `"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAE="}}`, "Not a valid UUID"},
		{`{"type":"RECONCILE",` + fid + `"reconcile":{"tasks":[{"agent_id":{"value":"a"}}]}}`, "Expecting 'reconcile.tasks[0].task_id' to be present"},
		{`{"type":"MESSAGE",` + fid + `"message":{"agent_id":{"value":"a"}}}`, "Expecting 'message.executor_id' to be present"},
		{`{"type":"SHUTDOWN",` + fid + `"shutdown":{"executor_id":{"value":"e"}}}`, "Expecting 'shutdown.agent_id' to be present"},
		{`{"type":"UPDATE_FRAMEWORK",` + fid + `"update_framework":{"framework_info":{"user":"u","name":"n","id":{"value":"f2"}}}}`, "'framework_id' differs"},
		{`{"type":"BOGUS",` + fid + `"x":1}`, "Unknown call type 'BOGUS'"},
	}
	for _, tc := range cases {
		c, err := DecodeCall([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: decode: %v", tc.in, err)
			continue
		}
		err = c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.in, err, tc.want)
		}
	}
	// Calls that need nothing more than framework_id.
	for _, s := range []string{
		`{"type":"TEARDOWN",` + fid + `"x":1}`,
		`{"type":"REVIVE",` + fid + `"x":1}`,
		`{"type":"SUPPRESS",` + fid + `"suppress":{"roles":["r"]}}`,
		`{"type":"RECONCILE",` + fid + `"reconcile":{}}`,
		`{"type":"REQUEST",` + fid + `"request":{"requests":[]}}`,
		// Mesos accepts these (202) and fails the launches with "No offers specified".
		`{"type":"ACCEPT",` + fid + `"accept":{}}`,
		`{"type":"DECLINE",` + fid + `"decline":{}}`,
		`{"type":"SUBSCRIBE",` + fid + `"subscribe":{"framework_info":{"user":"u","name":"n","id":{"value":"f1"}}}}`,
	} {
		c, err := DecodeCall([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := DecodeCall([]byte(`{"type":`)); err == nil || !strings.HasPrefix(err.Error(), "Failed to parse body into JSON: ") {
		t.Errorf("malformed JSON: %v", err)
	}
	if _, err := DecodeCall([]byte(`{"type":["SUBSCRIBE"]}`)); err == nil || !strings.HasPrefix(err.Error(), "Failed to convert JSON into Call protobuf: ") {
		t.Errorf("wrong JSON type: %v", err)
	}
	if _, err := DecodeCall([]byte(`{"type":"ACKNOWLEDGE","acknowledge":{"uuid":"not base64!"}}`)); err == nil {
		t.Error("bad base64 accepted")
	}
}

func TestTerminalStates(t *testing.T) {
	for _, s := range []string{TaskFinished, TaskFailed, TaskKilled, TaskError, TaskLost, TaskDropped, TaskGone} {
		if !IsTerminalState(s) {
			t.Errorf("%s should be terminal", s)
		}
	}
	for _, s := range []string{TaskStaging, TaskStarting, TaskRunning, TaskKilling, TaskUnreachable, TaskUnknown} {
		if IsTerminalState(s) {
			t.Errorf("%s should not be terminal", s)
		}
	}
}

// Mesos checks FrameworkInfo's roles after it has opened the SUBSCRIBE
// stream and reports failures as an ERROR event, not as 400.
func TestSubscriptionRefusals(t *testing.T) {
	cases := []struct{ fi, want string }{
		{`"roles":["a"]`, "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"},
		{`"role":"a","capabilities":[{"type":"MULTI_ROLE"}]`, "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"},
		{`"roles":["a","b","a"],"capabilities":[{"type":"MULTI_ROLE"}]`, "'FrameworkInfo.roles' contains duplicate items: 'a'"},
		{`"roles":["a/.."],"capabilities":[{"type":"MULTI_ROLE"}]`, "'FrameworkInfo.roles' contains invalid role: Role 'a/..' cannot include '..' as a component"},
		{`"role":"-x"`, "'FrameworkInfo.role' is not a valid role: Role component '-x' is invalid because it starts with a dash"},
		{`"failover_timeout":1e300`, "The framework failover_timeout (1e+300) is invalid"},
	}
	for _, tc := range cases {
		c, err := DecodeCall([]byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n",` + tc.fi + `}}}`))
		if err != nil {
			t.Fatal(err)
		}
		err = c.Validate()
		if err == nil || err.Error() != tc.want || !errors.Is(err, ErrSubscriptionRefused) {
			t.Errorf("%s: got %v, want refusal %q", tc.fi, err, tc.want)
		}
	}
	// The same FrameworkInfo in UPDATE_FRAMEWORK is answered 400, not refused.
	c, _ := DecodeCall([]byte(`{"type":"UPDATE_FRAMEWORK","framework_id":{"value":"f"},"update_framework":{"framework_info":{"user":"u","name":"n","id":{"value":"f"},"roles":["a"]}}}`))
	if err := c.Validate(); err == nil || errors.Is(err, ErrSubscriptionRefused) || !strings.Contains(err.Error(), "not MULTI_ROLE capable") {
		t.Errorf("update_framework: %v", err)
	}
	// Missing required fields are plain 400 errors.
	c, _ = DecodeCall([]byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"n"}}}`))
	if err := c.Validate(); err == nil || errors.Is(err, ErrSubscriptionRefused) {
		t.Errorf("missing user: %v", err)
	}
	// Valid multi-role and single-role subscriptions.
	for _, fi := range []string{
		`"roles":["a","eng/web"],"capabilities":[{"type":"MULTI_ROLE"}]`,
		`"role":"*"`, `"role":"dev"`, `"failover_timeout":604800`, `"failover_timeout":-1`,
	} {
		c, _ := DecodeCall([]byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n",` + fi + `}}}`))
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", fi, err)
		}
	}
}

// A status as an agent sends it after launch, written after the Mesos
// docs: container_status carries the task's IP, 64-bit integers may be
// quoted (proto3 JSON).
func TestTaskStatusContainerStatus(t *testing.T) {
	const update = `{
	  "type": "UPDATE",
	  "update": {"status": {
	    "task_id": {"value": "t1"}, "state": "TASK_RUNNING", "source": "SOURCE_EXECUTOR",
	    "agent_id": {"value": "a1"}, "timestamp": 1470820172.32565,
	    "uuid": "ycLTRBo8TjKFTrh4vsBERg==",
	    "container_status": {
	      "container_id": {"value": "c1", "parent": {"value": "c0"}},
	      "network_infos": [{"ip_addresses": [{"protocol": "IPv4", "ip_address": "10.0.0.7"}], "name": "overlay"}],
	      "executor_pid": 4242
	    },
	    "unreachable_time": {"nanoseconds": "1470820172000000000"},
	    "check_status": {"type": "COMMAND", "command": {"exit_code": 0}}
	  }}
	}`
	var e Event
	if err := json.Unmarshal([]byte(update), &e); err != nil {
		t.Fatal(err)
	}
	st := e.Update.Status
	cs := st.ContainerStatus
	if cs == nil || cs.ContainerID.Parent.Value != "c0" || *cs.NetworkInfos[0].IPAddresses[0].IPAddress != "10.0.0.7" ||
		*cs.ExecutorPID != 4242 || st.UnreachableTime.Nanoseconds != 1470820172000000000 || len(st.UUID) != 16 {
		t.Fatalf("decoded %+v", st)
	}
	m := reencode(t, &e)
	s := at(t, m, "update", "status")
	eq(t, at(t, s, "container_status", "network_infos", 0, "ip_addresses", 0, "ip_address"), "10.0.0.7")
	eq(t, at(t, s, "container_status", "container_id", "parent", "value"), "c0")
	eq(t, at(t, s, "unreachable_time", "nanoseconds"), "1470820172000000000") // written as a number
	eq(t, at(t, s, "check_status", "command", "exit_code"), "0")
	if _, ok := at(t, s, "unreachable_time", "nanoseconds").(json.Number); !ok {
		t.Error("nanoseconds should be a JSON number")
	}
	var d DurationInfo
	if err := json.Unmarshal([]byte(`{"nanoseconds":"-5"}`), &d); err != nil || d.Nanoseconds != -5 {
		t.Errorf("quoted int64: %v %v", d, err)
	}
	if err := json.Unmarshal([]byte(`{"nanoseconds":"x"}`), &d); err == nil {
		t.Error("bad int64 accepted")
	}
}

// Discovery info as Marathon sends it in a TaskInfo.
func TestTaskInfoDiscovery(t *testing.T) {
	c := decodeCall(t, `{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"offer_ids":[{"value":"o"}],
	  "operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"web","task_id":{"value":"web.1"},"agent_id":{"value":"a"},
	  "command":{"value":"true"},
	  "discovery":{"visibility":"FRAMEWORK","name":"web","ports":{"ports":[{"number":31000,"name":"http","protocol":"tcp"}]}},
	  "limits":{"cpus":{"value":2}}}]}}]}}`)
	ti := c.Accept.Operations[0].Launch.TaskInfos[0]
	if ti.Discovery == nil || ti.Discovery.Ports.Ports[0].Number != 31000 || *ti.Discovery.Ports.Ports[0].Name != "http" || ti.Limits["cpus"].Value != 2 {
		t.Fatalf("decoded %+v", ti)
	}
	m := reencode(t, c)
	eq(t, at(t, m, "accept", "operations", 0, "launch", "task_infos", 0, "discovery", "ports", "ports", 0, "protocol"), "tcp")
	eq(t, at(t, m, "accept", "operations", 0, "launch", "task_infos", 0, "limits", "cpus", "value"), "2")
}
