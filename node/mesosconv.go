package node

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/isolate"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/mesos"
)

// Translations between the Mesos wire schema (web/mesos) and clusterd's
// own: task infos into tasks, resources both ways, offers.

func amountsToAlloc(a mesos.Amounts) allocator.Resources {
	out := allocator.Resources{CPUs: a.CPUs, Mem: a.Mem, Disk: a.Disk, GPUs: a.GPUs}
	for _, r := range a.Ports {
		out.Ports = append(out.Ports, allocator.PortRange{Begin: uint16(r.Begin), End: uint16(r.End)})
	}
	return out
}

func allocToAmounts(r allocator.Resources) mesos.Amounts {
	out := mesos.Amounts{CPUs: r.CPUs, Mem: r.Mem, Disk: r.Disk, GPUs: r.GPUs}
	for _, p := range r.Ports {
		out.Ports = append(out.Ports, mesos.Range{Begin: mesos.Uint64(p.Begin), End: mesos.Uint64(p.End)})
	}
	return out
}

func fsmToAmounts(r raftfsm.Resources) mesos.Amounts { return allocToAmounts(toAlloc(r)) }

func allocToFSM(r allocator.Resources) raftfsm.Resources {
	out := raftfsm.Resources{CPUs: r.CPUs, Mem: r.Mem, Disk: r.Disk, GPUs: r.GPUs}
	for _, p := range r.Ports {
		out.Ports = append(out.Ports, raftfsm.PortRange{Begin: p.Begin, End: p.End})
	}
	return out
}

// taskFromInfo turns a LAUNCH's TaskInfo, on offers of role on agent, into
// the task to commit and the resources it takes. Errors say what is wrong
// with the task (the framework gets them as TASK_ERROR).
func taskFromInfo(c *fwConn, role string, agent allocator.AgentID, ti *mesos.TaskInfo, field string) (raftfsm.Task, allocator.Resources, error) {
	var none raftfsm.Task
	id := ti.TaskID.Value
	if err := isolate.ValidateTaskID(id); err != nil {
		return none, allocator.Resources{}, fmt.Errorf("%s.task_id: %v", field, err)
	}
	if agent != "" && ti.AgentID.Value != string(agent) {
		return none, allocator.Resources{}, fmt.Errorf("%s.agent_id %q is not the agent of the offers (%q)", field, ti.AgentID.Value, agent)
	}
	if len(ti.Executor) > 0 && string(ti.Executor) != "null" {
		return none, allocator.Resources{}, fmt.Errorf("%s.executor: custom executors are not supported; give the task a command (clusterd runs it in its own unit)", field)
	}
	if err := checkContainer(field, ti.Container); err != nil {
		return none, allocator.Resources{}, err
	}
	if len(ti.HealthCheck) > 0 && string(ti.HealthCheck) != "null" {
		return none, allocator.Resources{}, fmt.Errorf("%s.health_check: health checks of Mesos API tasks are not supported; check health in the framework", field)
	}
	cmd := ti.Command
	if cmd == nil {
		return none, allocator.Resources{}, fmt.Errorf("%s.command: a task needs a command", field)
	}
	if len(cmd.URIs) > 0 {
		return none, allocator.Resources{}, fmt.Errorf("%s.command.uris: fetching URIs is not supported; download them in the command", field)
	}
	line, err := commandLine(field, cmd)
	if err != nil {
		return none, allocator.Resources{}, err
	}
	env := map[string]string{"MESOS_TASK_ID": id, "MESOS_FRAMEWORK_ID": c.id}
	if cmd.Environment != nil {
		for i, v := range cmd.Environment.Variables {
			switch {
			case v.Type != nil && *v.Type != "VALUE":
				return none, allocator.Resources{}, fmt.Errorf("%s.command.environment.variables[%d]: type %s is not supported; pass the value", field, i, *v.Type)
			case v.Name == "":
				return none, allocator.Resources{}, fmt.Errorf("%s.command.environment.variables[%d]: empty name", field, i)
			}
			val := ""
			if v.Value != nil {
				val = *v.Value
			}
			env[v.Name] = val
		}
	}
	parsed, err := mesos.ParseResources(field+".resources", ti.Resources)
	if err != nil {
		return none, allocator.Resources{}, err
	}
	if parsed.AllocationRole != "" && parsed.AllocationRole != role {
		return none, allocator.Resources{}, fmt.Errorf("%s.resources are allocated to role %q but the offers to role %q", field, parsed.AllocationRole, role)
	}
	for _, r := range slices.Sorted(maps.Keys(parsed.Static)) {
		if r != role {
			return none, allocator.Resources{}, fmt.Errorf("%s.resources include resources reserved for role %q; the offers are for role %q", field, r, role)
		}
	}
	for _, r := range slices.Sorted(maps.Keys(parsed.Dynamic)) {
		if r != role {
			return none, allocator.Resources{}, fmt.Errorf("%s.resources include resources reserved for role %q; the offers are for role %q", field, r, role)
		}
	}
	res := amountsToAlloc(parsed.Total())
	t := raftfsm.Task{ID: id, Framework: c.id, Role: role, Name: ti.Name, Node: string(agent), Resources: allocToFSM(res), Cmd: line, Env: env}
	if cmd.User != nil {
		t.User = *cmd.User
	}
	if ti.KillPolicy != nil && ti.KillPolicy.GracePeriod != nil {
		t.KillGraceSeconds = max(float64(ti.KillPolicy.GracePeriod.Nanoseconds)/1e9, minGrace)
	}
	return t, res, nil
}

// commandLine is the shell command a CommandInfo runs: its value when
// shell is true (the default), else its value exec'd with its arguments
// (arguments[0] is argv[0], which a shell cannot set: it is skipped).
func commandLine(field string, cmd *mesos.CommandInfo) (string, error) {
	value := ""
	if cmd.Value != nil {
		value = *cmd.Value
	}
	if value == "" {
		return "", fmt.Errorf("%s.command.value: empty command", field)
	}
	if cmd.IsShell() {
		return value, nil
	}
	words := []string{"exec", shellQuote(value)}
	if len(cmd.Arguments) > 1 {
		for _, a := range cmd.Arguments[1:] {
			words = append(words, shellQuote(a))
		}
	}
	return strings.Join(words, " "), nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// checkContainer accepts a container only when it asks for nothing
// clusterd cannot do: no image, no Docker, no volumes.
func checkContainer(field string, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var c struct {
		Type    string          `json:"type"`
		Docker  json.RawMessage `json:"docker"`
		Mesos   *struct{ Image json.RawMessage }
		Volumes []json.RawMessage `json:"volumes"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("%s.container: %v", field, err)
	}
	switch {
	case c.Type != "" && c.Type != "MESOS":
		return fmt.Errorf("%s.container: type %s is not supported; clusterd runs commands in systemd units (leave the container out)", field, c.Type)
	case len(c.Docker) > 0 || (c.Mesos != nil && len(c.Mesos.Image) > 0):
		return fmt.Errorf("%s.container: container images are not supported; run a command on the host", field)
	case len(c.Volumes) > 0:
		return fmt.Errorf("%s.container.volumes: volumes are not supported", field)
	}
	return nil
}

// reservationOf reads the resources of a RESERVE or UNRESERVE operation:
// dynamic reservations for the offers' role, nothing else.
func reservationOf(field string, rs []mesos.Resource, role string) (allocator.Resources, error) {
	p, err := mesos.ParseResources(field, rs)
	if err != nil {
		return allocator.Resources{}, err
	}
	if !p.Unreserved.IsZero() || len(p.Static) > 0 {
		return allocator.Resources{}, fmt.Errorf("%s: every resource must carry a dynamic reservation", field)
	}
	for r := range p.Dynamic {
		if r != role {
			return allocator.Resources{}, fmt.Errorf("%s: reservation for role %q, but the offers are for role %q", field, r, role)
		}
	}
	res := amountsToAlloc(p.Dynamic[role])
	if res.IsZero() {
		return allocator.Resources{}, fmt.Errorf("%s: no resources", field)
	}
	return res, nil
}

// mesosOffer is an allocator offer as the framework of c sees it.
func (l *leaderLoop) mesosOffer(c *fwConn, o allocator.Offer) mesos.Offer {
	fw, role := splitClient(o.Framework)
	p := mesos.ParsedResources{Unreserved: allocToAmounts(o.Resources.Sub(o.Reserved))}
	if !o.Reserved.IsZero() {
		if static := o.Reserved.Sub(o.Dynamic); !static.IsZero() {
			p.Static = map[string]mesos.Amounts{role: allocToAmounts(static)}
		}
		if !o.Dynamic.IsZero() {
			p.Dynamic = map[string]mesos.Amounts{role: allocToAmounts(o.Dynamic)}
		}
	}
	f := mesos.ResourceFormat{Refinement: c.info.HasCapability(mesos.CapabilityReservationRef)}
	if c.multiRole() {
		f.AllocationRole = role
	}
	out := mesos.Offer{ID: mesos.OfferID{Value: string(o.ID)}, FrameworkID: mesos.FrameworkID{Value: fw},
		AgentID: mesos.AgentID{Value: string(o.Agent)}, Hostname: o.Hostname, Resources: mesos.FormatResources(p, f),
		Attributes: attributesOf(o.Attributes)}
	if c.multiRole() {
		out.AllocationInfo = &mesos.AllocationInfo{Role: &role}
	}
	return out
}

// attributesOf is a node's attributes as Mesos TEXT attributes, by name.
func attributesOf(attrs map[string]string) []mesos.Attribute {
	var out []mesos.Attribute
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		out = append(out, mesos.Attribute{Name: k, Type: mesos.ValueText, Text: &mesos.Text{Value: attrs[k]}})
	}
	return out
}

// randomUUID is a random version 4 UUID in its usual text form (stream ids).
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
