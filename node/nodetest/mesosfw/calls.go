package mesosfw

import "encoding/base64"

// Builders for the scheduler Call bodies of include/mesos/v1/scheduler/
// scheduler.proto and the pieces of include/mesos/v1/mesos.proto they carry.
// Each returns a fresh map that the test may modify before sending.
// Scheduler.Call fills in "framework_id" when a call lacks it.

// ID builds the {"value": v} object that every Mesos *ID message
// (FrameworkID, OfferID, AgentID, TaskID, ExecutorID, ...) maps to.
func ID(v string) map[string]any { return map[string]any{"value": v} }

// FrameworkInfo builds a minimal FrameworkInfo: user and name, and, when
// roles are given, "roles" plus the MULTI_ROLE capability that makes Mesos
// honour them.
func FrameworkInfo(user, name string, roles ...string) map[string]any {
	fi := map[string]any{"user": user, "name": name}
	if len(roles) > 0 {
		fi["roles"] = strs(roles)
		fi["capabilities"] = []any{map[string]any{"type": "MULTI_ROLE"}}
	}
	return fi
}

// SubscribeCall builds a SUBSCRIBE call for frameworkInfo, optionally with
// initially suppressed roles (Call.Subscribe.suppressed_roles). To
// resubscribe, set frameworkInfo["id"] = ID(frameworkID) first.
func SubscribeCall(frameworkInfo map[string]any, suppressedRoles ...string) map[string]any {
	sub := map[string]any{"framework_info": frameworkInfo}
	if len(suppressedRoles) > 0 {
		sub["suppressed_roles"] = strs(suppressedRoles)
	}
	return map[string]any{"type": "SUBSCRIBE", "subscribe": sub}
}

// Teardown builds a TEARDOWN call.
func Teardown() map[string]any { return map[string]any{"type": "TEARDOWN"} }

// Accept builds an ACCEPT call for offerIDs performing operations in order.
// Add filters with WithRefuseSeconds.
func Accept(offerIDs []string, operations ...map[string]any) map[string]any {
	return map[string]any{
		"type": "ACCEPT",
		"accept": map[string]any{
			"offer_ids":  ids(offerIDs),
			"operations": objs(operations),
		},
	}
}

// Decline builds a DECLINE call for offerIDs. Add filters with
// WithRefuseSeconds.
func Decline(offerIDs []string) map[string]any {
	return map[string]any{
		"type":    "DECLINE",
		"decline": map[string]any{"offer_ids": ids(offerIDs)},
	}
}

// WithRefuseSeconds sets "filters": {"refuse_seconds": s} on an ACCEPT,
// DECLINE, ACCEPT_INVERSE_OFFERS or DECLINE_INVERSE_OFFERS call built by
// this package and returns the same call.
func WithRefuseSeconds(call map[string]any, s float64) map[string]any {
	for _, k := range []string{"accept", "decline", "accept_inverse_offers", "decline_inverse_offers"} {
		if sub, ok := call[k].(map[string]any); ok {
			sub["filters"] = map[string]any{"refuse_seconds": s}
		}
	}
	return call
}

// Launch builds an Offer.Operation of type LAUNCH.
func Launch(taskInfos ...map[string]any) map[string]any {
	return map[string]any{
		"type":   "LAUNCH",
		"launch": map[string]any{"task_infos": objs(taskInfos)},
	}
}

// TaskInfo builds a TaskInfo running cmd through the shell with the default
// command executor ("command": {"shell": true, "value": cmd}).
func TaskInfo(name, taskID, agentID, cmd string, resources ...map[string]any) map[string]any {
	return map[string]any{
		"name":      name,
		"task_id":   ID(taskID),
		"agent_id":  ID(agentID),
		"command":   map[string]any{"shell": true, "value": cmd},
		"resources": objs(resources),
	}
}

// Scalar builds a SCALAR Resource, e.g. Scalar("cpus", 0.5).
func Scalar(name string, v float64) map[string]any {
	return map[string]any{"name": name, "type": "SCALAR", "scalar": map[string]any{"value": v}}
}

// Ranges builds a RANGES Resource; each range is [begin, end], inclusive.
func Ranges(name string, ranges ...[2]uint64) map[string]any {
	rs := make([]any, 0, len(ranges))
	for _, r := range ranges {
		rs = append(rs, map[string]any{"begin": r[0], "end": r[1]})
	}
	return map[string]any{"name": name, "type": "RANGES", "ranges": map[string]any{"range": rs}}
}

// Ports builds the "ports" RANGES Resource.
func Ports(ranges ...[2]uint64) map[string]any { return Ranges("ports", ranges...) }

// Set builds a SET Resource.
func Set(name string, items ...string) map[string]any {
	return map[string]any{"name": name, "type": "SET", "set": map[string]any{"item": strs(items)}}
}

// AllocatedTo sets "allocation_info": {"role": role} on each resource (what
// a MULTI_ROLE framework must echo from the offer) and returns them.
func AllocatedTo(role string, resources ...map[string]any) []map[string]any {
	for _, r := range resources {
		r["allocation_info"] = map[string]any{"role": role}
	}
	return resources
}

// Revive builds a REVIVE call; with no roles it revives all subscribed
// roles (Call.Revive.roles, repeated string).
func Revive(roles ...string) map[string]any {
	c := map[string]any{"type": "REVIVE"}
	if len(roles) > 0 {
		c["revive"] = map[string]any{"roles": strs(roles)}
	}
	return c
}

// Suppress builds a SUPPRESS call; with no roles it suppresses all
// subscribed roles (Call.Suppress.roles, repeated string).
func Suppress(roles ...string) map[string]any {
	c := map[string]any{"type": "SUPPRESS"}
	if len(roles) > 0 {
		c["suppress"] = map[string]any{"roles": strs(roles)}
	}
	return c
}

// Kill builds a KILL call. agentID may be "" (Call.Kill.agent_id is
// optional).
func Kill(taskID, agentID string) map[string]any {
	k := map[string]any{"task_id": ID(taskID)}
	if agentID != "" {
		k["agent_id"] = ID(agentID)
	}
	return map[string]any{"type": "KILL", "kill": k}
}

// Shutdown builds a SHUTDOWN call for a custom executor.
func Shutdown(executorID, agentID string) map[string]any {
	return map[string]any{
		"type":     "SHUTDOWN",
		"shutdown": map[string]any{"executor_id": ID(executorID), "agent_id": ID(agentID)},
	}
}

// Acknowledge builds an ACKNOWLEDGE call. uuidBase64 is the status's "uuid"
// exactly as received (bytes, base64 encoded).
func Acknowledge(agentID, taskID, uuidBase64 string) map[string]any {
	return map[string]any{
		"type": "ACKNOWLEDGE",
		"acknowledge": map[string]any{
			"agent_id": ID(agentID),
			"task_id":  ID(taskID),
			"uuid":     uuidBase64,
		},
	}
}

// AcknowledgeStatus builds the ACKNOWLEDGE for a Status read by UpdateStatus.
func AcknowledgeStatus(st Status) map[string]any {
	return Acknowledge(st.AgentID, st.TaskID, st.UUID)
}

// Reconcile builds a RECONCILE call; each task is {taskID, agentID} with
// agentID optional (""). No tasks means implicit reconciliation
// ("tasks": []).
func Reconcile(tasks ...[2]string) map[string]any {
	ts := make([]any, 0, len(tasks))
	for _, t := range tasks {
		e := map[string]any{"task_id": ID(t[0])}
		if t[1] != "" {
			e["agent_id"] = ID(t[1])
		}
		ts = append(ts, e)
	}
	return map[string]any{"type": "RECONCILE", "reconcile": map[string]any{"tasks": ts}}
}

// Message builds a MESSAGE call; data is sent base64 encoded.
func Message(agentID, executorID string, data []byte) map[string]any {
	return map[string]any{
		"type": "MESSAGE",
		"message": map[string]any{
			"agent_id":    ID(agentID),
			"executor_id": ID(executorID),
			"data":        base64.StdEncoding.EncodeToString(data),
		},
	}
}

// ResourceRequest builds one mesos.v1.Request (agent_id optional).
func ResourceRequest(agentID string, resources ...map[string]any) map[string]any {
	r := map[string]any{"resources": objs(resources)}
	if agentID != "" {
		r["agent_id"] = ID(agentID)
	}
	return r
}

// Request builds a REQUEST call: "request": {"requests": [...]} as in
// Call.Request (the prose of scheduler-http-api.md puts "requests" at the
// top level; the proto does not).
func Request(requests ...map[string]any) map[string]any {
	return map[string]any{"type": "REQUEST", "request": map[string]any{"requests": objs(requests)}}
}

// UpdateFramework builds an UPDATE_FRAMEWORK call. frameworkInfo must carry
// "id" (set frameworkInfo["id"] = ID(s.FrameworkID())).
func UpdateFramework(frameworkInfo map[string]any, suppressedRoles ...string) map[string]any {
	u := map[string]any{"framework_info": frameworkInfo}
	if len(suppressedRoles) > 0 {
		u["suppressed_roles"] = strs(suppressedRoles)
	}
	return map[string]any{"type": "UPDATE_FRAMEWORK", "update_framework": u}
}

func ids(vs []string) []any {
	out := make([]any, 0, len(vs))
	for _, v := range vs {
		out = append(out, ID(v))
	}
	return out
}

func strs(vs []string) []any {
	out := make([]any, 0, len(vs))
	for _, v := range vs {
		out = append(out, v)
	}
	return out
}

func objs(ms []map[string]any) []any {
	out := make([]any, 0, len(ms))
	for _, m := range ms {
		out = append(out, m)
	}
	return out
}
