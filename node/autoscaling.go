package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clusterd/clusterd/allocator/autoscale"
	"github.com/clusterd/clusterd/node/actuate"
	"github.com/clusterd/clusterd/node/jobs"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/api"
)

// Autoscaling (issue 9): the leader evaluates the groups of --autoscale
// every interval with package autoscale's Decider, over a snapshot of the
// replicated state and of why jobs are pending, and carries the decisions
// out: a scale-up through the group's actuator, a drain by marking nodes
// draining (the job planner then moves their services by their
// rolling-update rules and lets batch tasks finish), a terminate through
// the actuator once a drained node runs nothing that must keep running.
// Everything it remembers (history for the delays, hosts booting, the last
// decisions) is soft state of the leadership.

// autoscaleFile is the --autoscale file.
type autoscaleFile struct {
	// Attribute names a node's group (default "asg").
	Attribute string `json:"attribute"`
	// Interval is how often the groups are evaluated (default 10s).
	Interval actuate.Duration `json:"interval"`
	// BootTimeout is how long hosts asked for count as booting before the
	// autoscaler stops waiting for them (default 10m).
	BootTimeout actuate.Duration     `json:"boot_timeout"`
	DryRun      bool                 `json:"dry_run"`
	Groups      []autoscaleGroupFile `json:"groups"`
}

type autoscaleGroupFile struct {
	Name             string              `json:"name"`
	MinSize          int                 `json:"min_size"`
	MaxSize          int                 `json:"max_size"`
	MinIdle          int                 `json:"min_idle"`
	MaxIdle          int                 `json:"max_idle"`
	Cooldown         actuate.Duration    `json:"cooldown"`
	ScaleUpDelay     actuate.Duration    `json:"scale_up_delay"`
	ScaleDownDelay   actuate.Duration    `json:"scale_down_delay"`
	BatchDeadline    actuate.Duration    `json:"batch_deadline"`
	ConsolidateBelow float64             `json:"consolidate_below"`
	Shape            hostShape           `json:"shape"`
	Attributes       map[string][]string `json:"attributes"`
	Actuator         actuate.Config      `json:"actuator"`
}

type hostShape struct {
	CPUs  float64 `json:"cpus"`
	Mem   float64 `json:"mem"`
	Disk  float64 `json:"disk"`
	GPUs  int     `json:"gpus"`
	Ports int     `json:"ports"`
}

// autoscaleConfig is a validated --autoscale file.
type autoscaleConfig struct {
	attribute   string
	interval    time.Duration
	bootTimeout time.Duration
	dryRun      bool
	rules       []autoscale.Rules
	actuators   []actuate.Config
}

// loadAutoscaleConfig reads and checks the file; a mistake is an error
// naming the field, at start, not at the first evaluation.
func loadAutoscaleConfig(path string, dryRun bool) (*autoscaleConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("autoscale config: %w", err)
	}
	var f autoscaleFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("autoscale config %s: %w", path, err)
	}
	c := &autoscaleConfig{attribute: f.Attribute, interval: time.Duration(f.Interval), bootTimeout: time.Duration(f.BootTimeout), dryRun: f.DryRun || dryRun}
	if c.attribute == "" {
		c.attribute = autoscale.DefaultGroupAttribute
	}
	if c.interval == 0 {
		c.interval = 10 * time.Second
	}
	if c.bootTimeout == 0 {
		c.bootTimeout = 10 * time.Minute
	}
	if c.interval < 100*time.Millisecond || c.bootTimeout < 0 {
		return nil, fmt.Errorf("autoscale config %s: interval %v must be at least 100ms and boot_timeout not negative", path, c.interval)
	}
	if len(f.Groups) == 0 {
		return nil, fmt.Errorf("autoscale config %s: no groups", path)
	}
	for _, g := range f.Groups {
		r := autoscale.Rules{Name: g.Name, MinSize: g.MinSize, MaxSize: g.MaxSize, MinIdle: g.MinIdle, MaxIdle: g.MaxIdle,
			Cooldown: time.Duration(g.Cooldown), ScaleUpDelay: time.Duration(g.ScaleUpDelay), ScaleDownDelay: time.Duration(g.ScaleDownDelay),
			BatchDeadline: time.Duration(g.BatchDeadline), ConsolidateBelow: g.ConsolidateBelow,
			Shape:      autoscale.Amount{CPUs: g.Shape.CPUs, Mem: g.Shape.Mem, Disk: g.Shape.Disk, GPUs: g.Shape.GPUs, Ports: g.Shape.Ports},
			Attributes: g.Attributes}
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("autoscale config %s: %w", path, err)
		}
		if err := g.Actuator.Validate(); err != nil {
			return nil, fmt.Errorf("autoscale config %s: group %q: actuator: %w", path, g.Name, err)
		}
		c.rules = append(c.rules, r)
		c.actuators = append(c.actuators, g.Actuator)
	}
	if _, err := autoscale.NewDecider(c.attribute, c.rules); err != nil {
		return nil, fmt.Errorf("autoscale config %s: %w", path, err)
	}
	return c, nil
}

// maxAutoscaleDecisions is how many decisions that did something the
// status keeps.
const maxAutoscaleDecisions = 100

// autoscaler is one leadership's autoscaling.
type autoscaler struct {
	n         *Node
	cfg       *autoscaleConfig
	decider   *autoscale.Decider
	actuators map[string]actuate.Actuator
	actErrs   map[string]error // actuators that could not be made

	// booting is, per group, the hosts asked for and not joined yet.
	booting map[string]*bootWait
	// terminated are nodes handed to an actuator, and when: they are not
	// terminated again while they go away.
	terminated map[string]time.Time

	mu        sync.Mutex // guards what the status reads
	groups    []api.AutoscaleGroup
	decisions []api.AutoscaleDecision
}

type bootWait struct {
	known    map[string]bool // the group's nodes when the first host was asked for
	want     int
	deadline time.Time
}

func newAutoscaler(ctx context.Context, n *Node, cfg *autoscaleConfig) (*autoscaler, error) {
	d, err := autoscale.NewDecider(cfg.attribute, cfg.rules)
	if err != nil {
		return nil, err
	}
	a := &autoscaler{n: n, cfg: cfg, decider: d, actuators: map[string]actuate.Actuator{}, actErrs: map[string]error{},
		booting: map[string]*bootWait{}, terminated: map[string]time.Time{}}
	for i, r := range cfg.rules {
		act, err := actuate.New(ctx, cfg.actuators[i], r.Name)
		if err != nil {
			a.actErrs[r.Name] = err
			n.log.Error("autoscale: the group's actuator cannot be made; its decisions are reported only", "group", r.Name, "err", err)
			continue
		}
		a.actuators[r.Name] = act
	}
	return a, nil
}

// groupOf is a node's group, "" for none.
func (a *autoscaler) groupOf(nd *raftfsm.Node) string { return nd.Attributes[a.cfg.attribute] }

// snapshot is the cluster as the Decider sees it.
func (a *autoscaler) snapshot(l *leaderLoop, now time.Time) (autoscale.Snapshot, map[string]*raftfsm.Node) {
	v := a.n.fsm.View()
	s := autoscale.Snapshot{Booting: map[string]int{}}
	nodes := map[string]*raftfsm.Node{}
	members := map[string][]string{}
	for _, nd := range v.Nodes() {
		g := a.groupOf(nd)
		if g == "" || nd.State == raftfsm.NodeLeft {
			continue
		}
		nodes[nd.ID] = nd
		members[g] = append(members[g], nd.ID)
		h := autoscale.Host{ID: nd.ID, Zone: nd.Attributes["zone"], Attributes: nd.Attributes, Total: amountOf(nd.Total, portCount(nd.Total.Ports))}
		switch {
		case !a.terminated[nd.ID].IsZero():
			h.State = autoscale.Down // on its way out
		case nd.State == raftfsm.NodeReady:
			h.State = autoscale.Ready
		case nd.State == raftfsm.NodeDraining:
			h.State, h.DrainStarted = autoscale.Draining, nd.UpdatedAt
		default:
			h.State = autoscale.Down
		}
		for _, t := range v.ActiveTasksOnNode(nd.ID) {
			lt := autoscale.Short
			if j := v.Job(t.Job); j == nil || j.Spec.Type == raftfsm.JobService {
				lt = autoscale.Long // a framework's task, or a service: moved, never killed
			}
			ask := amountOf(t.Resources, portCount(t.Resources.Ports))
			h.Tasks = append(h.Tasks, autoscale.Task{ID: t.ID, Lifetime: lt, Ask: ask})
			h.Allocated = h.Allocated.Add(ask)
		}
		s.Hosts = append(s.Hosts, h)
	}
	for g, b := range a.booting {
		joined := 0
		for _, id := range members[g] {
			if !b.known[id] {
				joined++
			}
		}
		if left := b.want - joined; left > 0 && now.Before(b.deadline) {
			s.Booting[g] = left
		} else {
			delete(a.booting, g)
		}
	}
	l.state.mu.Lock()
	pending := l.state.pending
	l.state.mu.Unlock()
	for id, p := range pending {
		j := v.Job(id)
		if j == nil || p.Why == nil {
			continue // fits what is free: waits only for an offer
		}
		blocked := autoscale.BlockedOf(*p.Why)
		lt := autoscale.Short
		if j.Spec.Type == raftfsm.JobService {
			lt = autoscale.Long
		}
		ask := amountOf(j.Spec.Resources, j.Spec.Ports)
		cons := jobs.Constraints(j.Spec)
		for i := 0; i < p.Instances; i++ {
			s.Pending = append(s.Pending, autoscale.Pending{ID: fmt.Sprintf("%s#%d", id, i), Ask: ask, Lifetime: lt, Constraints: cons, Blocked: blocked})
		}
	}
	return s, nodes
}

func amountOf(r raftfsm.Resources, ports int) autoscale.Amount {
	return autoscale.Amount{CPUs: r.CPUs, Mem: r.Mem, Disk: r.Disk, GPUs: r.GPUs, Ports: ports}
}

func portCount(rs []raftfsm.PortRange) int {
	n := 0
	for _, r := range rs {
		n += int(r.End) - int(r.Begin) + 1
	}
	return n
}

// evaluate decides and acts once.
func (a *autoscaler) evaluate(ctx context.Context, l *leaderLoop) {
	now := a.n.now()
	for id, at := range a.terminated {
		if nd := a.n.fsm.View().Node(id); nd == nil || nd.State == raftfsm.NodeLeft || now.Sub(at) > a.cfg.bootTimeout {
			delete(a.terminated, id)
		}
	}
	snap, nodes := a.snapshot(l, now)
	decisions := a.decider.Evaluate(now, snap)
	last := map[string]api.AutoscaleDecision{}
	for _, d := range decisions {
		rec := a.carryOut(ctx, d, nodes, now)
		last[d.Group] = rec
	}
	a.publish(snap, nodes, last)
}

// carryOut does what a decision says (unless dry run) and records it.
func (a *autoscaler) carryOut(ctx context.Context, d autoscale.Decision, nodes map[string]*raftfsm.Node, now time.Time) api.AutoscaleDecision {
	rec := api.AutoscaleDecision{At: d.At, Group: d.Group, Kind: string(d.Kind), Count: d.Count, Reason: d.Reason,
		Size: d.Size, Idle: d.Idle, Shortfall: d.Shortfall, DryRun: a.cfg.dryRun}
	for _, id := range d.Hosts {
		name := id
		if nd := nodes[id]; nd != nil {
			name = nd.Name
			// People know nodes by name.
			rec.Reason = strings.ReplaceAll(rec.Reason, id, name)
		}
		rec.Hosts = append(rec.Hosts, name)
	}
	if d.Kind == autoscale.None {
		return rec
	}
	var err error
	if !a.cfg.dryRun {
		switch d.Kind {
		case autoscale.ScaleUp:
			err = a.actuate(ctx, d, nil, nodes)
			if err == nil {
				a.expectHosts(d.Group, d.Count, nodes, now)
			}
		case autoscale.Drain:
			err = a.drain(d, nodes)
		case autoscale.Terminate:
			err = a.terminate(ctx, d, nodes, now)
		}
	}
	if err != nil {
		rec.Error = err.Error()
	}
	log := a.n.log.With("component", "autoscale", "group", d.Group, "decision", d.Kind, "count", d.Count, "reason", rec.Reason)
	outcome := "done"
	switch {
	case a.cfg.dryRun:
		outcome = "dry_run"
	case err != nil:
		outcome = "failed"
	}
	a.n.metrics.autoscaleDecisions.WithLabelValues(d.Group, string(d.Kind), outcome).Inc()
	switch {
	case a.cfg.dryRun:
		log.Info("autoscale decision (dry run: nothing done)", "hosts", strings.Join(rec.Hosts, ","))
	case err != nil:
		log.Warn("autoscale decision failed; the next evaluation decides again", "hosts", strings.Join(rec.Hosts, ","), "err", err)
	default:
		log.Info("autoscale decision", "hosts", strings.Join(rec.Hosts, ","))
	}
	a.mu.Lock()
	a.decisions = append(a.decisions, rec)
	if len(a.decisions) > maxAutoscaleDecisions {
		a.decisions = slices.Delete(a.decisions, 0, len(a.decisions)-maxAutoscaleDecisions)
	}
	a.mu.Unlock()
	return rec
}

func (a *autoscaler) actuate(ctx context.Context, d autoscale.Decision, hosts []actuate.Host, nodes map[string]*raftfsm.Node) error {
	act := a.actuators[d.Group]
	if act == nil {
		return fmt.Errorf("group %s has no actuator: %w", d.Group, a.actErrs[d.Group])
	}
	ad := actuate.Decision{Group: d.Group, Kind: string(d.Kind), Count: d.Count, Hosts: hosts, Reason: d.Reason, At: d.At, Size: d.Size, Cluster: a.n.clusterID()}
	actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := act.Act(actx, ad); err != nil {
		return fmt.Errorf("%s: %w", act, err)
	}
	return nil
}

// expectHosts counts hosts asked for as booting until they join.
func (a *autoscaler) expectHosts(group string, count int, nodes map[string]*raftfsm.Node, now time.Time) {
	b := a.booting[group]
	if b == nil {
		b = &bootWait{known: map[string]bool{}}
		for id, nd := range nodes {
			if a.groupOf(nd) == group {
				b.known[id] = true
			}
		}
		a.booting[group] = b
	}
	b.want += count
	b.deadline = now.Add(a.cfg.bootTimeout)
}

// drain marks the hosts draining: no new tasks; the planner moves their
// services and lets their batch tasks finish.
func (a *autoscaler) drain(d autoscale.Decision, nodes map[string]*raftfsm.Node) error {
	var errs []error
	for _, id := range d.Hosts {
		if _, err := a.n.apply(&raftfsm.SetNodeState{ID: id, State: raftfsm.NodeDraining, Reason: "autoscale: " + d.Reason, At: a.n.now()}); err != nil {
			errs = append(errs, fmt.Errorf("drain %s: %w", nodes[id].Name, err))
		}
	}
	return errors.Join(errs...)
}

// terminate stops what short-lived tasks are left (their deadline passed)
// and hands the hosts to the actuator.
func (a *autoscaler) terminate(ctx context.Context, d autoscale.Decision, nodes map[string]*raftfsm.Node, now time.Time) error {
	v := a.n.fsm.View()
	var left []string
	var hosts []actuate.Host
	for _, id := range d.Hosts {
		nd := nodes[id]
		for _, t := range v.ActiveTasksOnNode(id) {
			if !t.KillRequested {
				left = append(left, t.ID)
			}
		}
		h := actuate.Host{ID: id, Name: nd.Name, Addr: hostOf(nd.HTTPAddr), Zone: nd.Attributes["zone"], InstanceID: nd.Attributes["instance-id"]}
		if h.InstanceID == "" && strings.HasPrefix(nd.Name, "i-") {
			h.InstanceID = nd.Name
		}
		hosts = append(hosts, h)
	}
	if len(left) > 0 {
		if _, err := a.n.apply(&raftfsm.KillTasks{IDs: left, Reason: "its node is removed by the autoscaler (batch deadline passed)", At: now}); err != nil {
			return fmt.Errorf("kill the tasks left on the hosts: %w", err)
		}
	}
	if err := a.actuate(ctx, d, hosts, nodes); err != nil {
		return err
	}
	for _, id := range d.Hosts {
		a.terminated[id] = now
	}
	return nil
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

// publish keeps what `clusterd autoscale status` shows.
func (a *autoscaler) publish(s autoscale.Snapshot, nodes map[string]*raftfsm.Node, last map[string]api.AutoscaleDecision) {
	var groups []api.AutoscaleGroup
	for i, r := range a.cfg.rules {
		g := api.AutoscaleGroup{Name: r.Name, Rules: rulesToAPI(r), Booting: s.Booting[r.Name], Last: last[r.Name]}
		g.Idle, g.Shortfall = g.Last.Idle, g.Last.Shortfall
		if act := a.actuators[r.Name]; act != nil {
			g.Actuator = act.String()
		} else {
			g.Actuator = fmt.Sprintf("%s (not available: %v)", a.cfg.actuators[i].Type, a.actErrs[r.Name])
		}
		for _, h := range s.Hosts {
			if h.Attributes[a.cfg.attribute] != r.Name {
				continue
			}
			switch h.State {
			case autoscale.Ready:
				g.Ready++
			case autoscale.Draining:
				g.Draining++
			default:
				g.Down++
			}
		}
		groups = append(groups, g)
	}
	a.mu.Lock()
	a.groups = groups
	a.mu.Unlock()
}

func rulesToAPI(r autoscale.Rules) api.AutoscaleRules {
	return api.AutoscaleRules{MinSize: r.MinSize, MaxSize: r.MaxSize, MinIdle: r.MinIdle, MaxIdle: r.MaxIdle,
		CooldownSeconds: r.Cooldown.Seconds(), ScaleUpDelay: r.ScaleUpDelay.Seconds(), ScaleDownDelay: r.ScaleDownDelay.Seconds(),
		BatchDeadline: r.BatchDeadline.Seconds(), ConsolidateBelow: r.ConsolidateBelow,
		Shape:      api.Resources{CPUs: r.Shape.CPUs, Mem: r.Shape.Mem, Disk: r.Shape.Disk, GPUs: r.Shape.GPUs},
		Attributes: r.Attributes}
}

// status is the autoscaler for the API.
func (a *autoscaler) status() api.AutoscaleStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := api.AutoscaleStatus{Enabled: true, DryRun: a.cfg.dryRun, Attribute: a.cfg.attribute, IntervalSeconds: a.cfg.interval.Seconds(),
		Groups: slices.Clone(a.groups), Decisions: slices.Clone(a.decisions)}
	if st.Groups == nil {
		// Not evaluated yet: the rules at least.
		for _, r := range a.cfg.rules {
			st.Groups = append(st.Groups, api.AutoscaleGroup{Name: r.Name, Rules: rulesToAPI(r)})
		}
	}
	if st.Decisions == nil {
		st.Decisions = []api.AutoscaleDecision{}
	}
	return st
}
