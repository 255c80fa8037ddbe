package autoscale

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Decider makes the scaling decisions for a set of groups, one evaluation at a time. It
// keeps, per group, since when a need to grow or shrink has lasted and when the group's
// last action was, which is what hysteresis and cool-down need; everything else comes in
// the Snapshot. It is not safe for concurrent use: the leader's autoscaling loop owns it.
// After a leader change a new Decider starts with no history, so it waits the delays out
// again before acting, which errs on the side of doing nothing.
type Decider struct {
	attr   string
	rules  []Rules
	groups map[string]*history
}

// history is what a Decider remembers of a group between evaluations.
type history struct {
	upSince, downSince time.Time // when the current need began; zero: none
	lastAction         time.Time // zero: never
}

// NewDecider returns a Decider for groups of hosts told apart by the host attribute attr
// (DefaultGroupAttribute when empty), each with its rules. The order of rules is the
// order of preference: a pending task that more hosts of several groups would place is
// counted for the first of them only, so two groups do not grow for the same task.
func NewDecider(attr string, rules []Rules) (*Decider, error) {
	if attr == "" {
		attr = DefaultGroupAttribute
	}
	d := &Decider{attr: attr, rules: slices.Clone(rules), groups: map[string]*history{}}
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("new autoscale decider: %w", err)
		}
		if d.groups[r.Name] != nil {
			return nil, fmt.Errorf("new autoscale decider: group %q configured twice", r.Name)
		}
		d.groups[r.Name] = &history{}
	}
	return d, nil
}

// Evaluate decides, for every configured group in the order of the rules, what to do now:
// first Terminate for drained hosts, if any, then one of ScaleUp, Drain or None. Call it
// periodically (every few seconds to a minute) with the time of the snapshot; the delays
// and the cool-down are measured between those times.
func (d *Decider) Evaluate(now time.Time, s Snapshot) []Decision {
	byGroup := map[string][]*Host{}
	for i := range s.Hosts {
		h := &s.Hosts[i]
		if g, ok := h.Attributes[d.attr]; ok {
			byGroup[g] = append(byGroup[g], h)
		}
	}
	// Each pending task goes to the first group whose hosts could take it.
	assigned := make([][]*Pending, len(d.rules))
	skipped := make([]map[string]int, len(d.rules))
	attrs := make([]map[string][]string, len(d.rules))
	for gi, r := range d.rules {
		attrs[gi] = groupAttributes(&r, byGroup[r.Name])
		skipped[gi] = map[string]int{}
	}
	for i := range s.Pending {
		p := &s.Pending[i]
		for gi, r := range d.rules {
			ok, why := fixableBy(p, r.Shape, attrs[gi])
			if ok {
				assigned[gi] = append(assigned[gi], p)
				break
			}
			skipped[gi][why]++
		}
	}
	var out []Decision
	for gi := range d.rules {
		r := &d.rules[gi]
		sf := shortfallOf(r.Shape, assigned[gi])
		sf.Skipped = skipped[gi]
		out = append(out, d.evaluate(now, r, byGroup[r.Name], s.Booting[r.Name], sf)...)
	}
	return out
}

// groupAttributes are the attribute values the group's hosts carry or a new one may carry.
func groupAttributes(r *Rules, hosts []*Host) map[string][]string {
	out := map[string][]string{}
	add := func(k, v string) {
		if !slices.Contains(out[k], v) {
			out[k] = append(out[k], v)
		}
	}
	for k, vs := range r.Attributes {
		for _, v := range vs {
			add(k, v)
		}
	}
	for _, h := range hosts {
		for k, v := range h.Attributes {
			add(k, v)
		}
		if h.Zone != "" {
			add("zone", h.Zone)
		}
	}
	return out
}

// evaluate decides for one group.
func (d *Decider) evaluate(now time.Time, r *Rules, hosts []*Host, booting int, sf Shortfall) []Decision {
	hist := d.groups[r.Name]
	var out []Decision
	ready, draining, down, idle := 0, 0, 0, booting
	for _, h := range hosts {
		switch h.State {
		case Ready:
			ready++
			if h.idle() {
				idle++
			}
		case Draining:
			draining++
		default:
			down++
		}
	}
	size := ready + booting
	base := Decision{Group: r.Name, At: now, Size: size, Idle: idle}
	newShortfall := max(sf.Hosts-booting, 0) // booting hosts join empty: they take pending tasks first
	base.Shortfall = newShortfall

	if t := terminable(r, hosts, now); t.Count > 0 {
		t.Group, t.At, t.Size, t.Idle, t.Shortfall = r.Name, now, size, idle, newShortfall
		out = append(out, t)
	}
	room := r.MaxSize - size - draining - down // instances that exist count against MaxSize

	// Below the minimum: repair at once, it is a broken bound, not a trend.
	if size < r.MinSize {
		n := min(r.MinSize-size, max(room, 0))
		if n > 0 {
			hist.upSince, hist.downSince, hist.lastAction = time.Time{}, time.Time{}, now
			dec := base
			dec.Kind, dec.Count = ScaleUp, n
			dec.Reason = fmt.Sprintf("%d hosts, below min size %d: %s", size, r.MinSize, moreHosts(n, r.Shape))
			return append(out, dec)
		}
	}

	// Scale up by the larger of the two strategies.
	byThreshold := max(r.MinIdle-idle, 0)
	up := max(byThreshold, newShortfall)
	var why []string
	if newShortfall > 0 {
		why = append(why, fmt.Sprintf("%s %s that no host has: %s", tasks(sf.Tasks), needVerb(sf.Tasks, sf.Need), moreHosts(newShortfall, r.Shape)))
	}
	if byThreshold > 0 {
		why = append(why, fmt.Sprintf("%s, want at least %d: %s", idleHosts(idle), r.MinIdle, moreHosts(byThreshold, r.Shape)))
	}
	if booting > 0 && up > 0 {
		why = append(why, fmt.Sprintf("%d booting", booting))
	}
	if up > 0 {
		hist.downSince = time.Time{}
		reason := strings.Join(why, "; ")
		if room <= 0 {
			hist.upSince = time.Time{}
			dec := base
			dec.Kind, dec.Reason = None, fmt.Sprintf("at max size %d: %s", r.MaxSize, reason)
			return append(out, dec)
		}
		capped := ""
		if up > room {
			up, capped = room, fmt.Sprintf(" (capped at max size %d: %d more)", r.MaxSize, room)
		}
		return append(out, d.act(now, hist, &hist.upSince, r.ScaleUpDelay, r.Cooldown, base, ScaleUp, up, nil, reason+capped, "scale-up"))
	}
	hist.upSince = time.Time{}

	// Scale down: idle hosts above MaxIdle, and lightly used ones when consolidating. Not
	// while hosts boot (they were asked for a reason) nor while counted tasks wait.
	if booting == 0 && sf.Tasks == 0 {
		plan := chooseDrain(r, hosts, idle-r.MaxIdle, size-r.MinSize)
		if len(plan.hosts) > 0 {
			ids := make([]string, len(plan.hosts))
			for i, h := range plan.hosts {
				ids[i] = h.ID
			}
			var parts []string
			if plan.idle > 0 {
				parts = append(parts, fmt.Sprintf("%s, want at most %d: draining %d", idleHosts(idle), r.MaxIdle, plan.idle))
			}
			if plan.consolidated > 0 {
				parts = append(parts, fmt.Sprintf("packing onto fewer hosts: draining %d used below %g%% whose services fit on other hosts", plan.consolidated, r.ConsolidateBelow*100))
			}
			reason := strings.Join(parts, "; ") + " (" + zonesOf(plan.hosts) + ")"
			if size-len(plan.hosts) == r.MinSize {
				reason += fmt.Sprintf(", down to min size %d", r.MinSize)
			}
			return append(out, d.act(now, hist, &hist.downSince, r.ScaleDownDelay, r.Cooldown, base, Drain, len(plan.hosts), ids, reason, "scale-down"))
		}
	}
	hist.downSince = time.Time{}
	dec := base
	dec.Kind = None
	dec.Reason = fmt.Sprintf("%d hosts, %s within %d..%d, no shortfall", size, idleHosts(idle), r.MinIdle, r.MaxIdle)
	if booting > 0 {
		dec.Reason += fmt.Sprintf(", %d booting", booting)
	}
	if n := sumCounts(sf.Skipped); n > 0 {
		dec.Reason += fmt.Sprintf("; %s not counted: %s", tasks(n), countsText(sf.Skipped))
	}
	return append(out, dec)
}

// act returns the decision to act on a need that began at *since, once it has lasted
// delay and the group is out of its cool-down; until then, a None saying what it waits for.
func (d *Decider) act(now time.Time, hist *history, since *time.Time, delay, cooldown time.Duration,
	base Decision, kind Kind, count int, hosts []string, reason, what string) Decision {
	if since.IsZero() {
		*since = now
	}
	dec := base
	dec.Kind = None
	if lasted := now.Sub(*since); lasted < delay {
		dec.Reason = fmt.Sprintf("%s for %s of %s (%s delay)", reason, lasted, delay, what)
		return dec
	}
	if !hist.lastAction.IsZero() {
		if ago := now.Sub(hist.lastAction); ago < cooldown {
			dec.Reason = fmt.Sprintf("%s; cooling down: last action %s ago, cool-down %s", reason, ago, cooldown)
			return dec
		}
	}
	*since = time.Time{}
	hist.lastAction = now
	dec.Kind, dec.Count, dec.Hosts, dec.Reason = kind, count, hosts, reason
	return dec
}

// terminable is the Terminate decision for the group's drained hosts: those running no
// long-lived task and no short-lived one either, or whose batch deadline has passed.
func terminable(r *Rules, hosts []*Host, now time.Time) Decision {
	var ids, empty, late []string
	for _, h := range hosts {
		if h.State != Draining || h.longLived() > 0 {
			continue
		}
		switch {
		case len(h.Tasks) == 0:
			empty = append(empty, h.ID)
		case r.BatchDeadline > 0 && !h.DrainStarted.IsZero() && now.Sub(h.DrainStarted) >= r.BatchDeadline:
			late = append(late, fmt.Sprintf("%s (%s left)", h.ID, tasks(len(h.Tasks))))
		default:
			continue
		}
		ids = append(ids, h.ID)
	}
	if len(ids) == 0 {
		return Decision{}
	}
	var parts []string
	if len(empty) > 0 {
		parts = append(parts, strings.Join(empty, ", ")+" drained: no tasks left")
	}
	if len(late) > 0 {
		parts = append(parts, fmt.Sprintf("batch deadline %s passed on %s", r.BatchDeadline, strings.Join(late, ", ")))
	}
	return Decision{Kind: Terminate, Count: len(ids), Hosts: ids, Reason: strings.Join(parts, "; ")}
}

func moreHosts(n int, shape Amount) string {
	if n == 1 {
		return "1 more host of shape " + shape.String()
	}
	return fmt.Sprintf("%d more hosts of shape %s", n, shape)
}

func tasks(n int) string {
	if n == 1 {
		return "1 task"
	}
	return fmt.Sprintf("%d tasks", n)
}

func needVerb(n int, need Amount) string {
	if n == 1 {
		return "needs " + need.and()
	}
	return "need " + need.and()
}

func idleHosts(n int) string {
	if n == 1 {
		return "1 idle host"
	}
	return fmt.Sprintf("%d idle hosts", n)
}

// zonesOf lists hosts by zone: "zone a: h1, h3; zone b: h2".
func zonesOf(hosts []*Host) string {
	by := map[string][]string{}
	var zones []string
	for _, h := range hosts {
		if by[h.Zone] == nil {
			zones = append(zones, h.Zone)
		}
		by[h.Zone] = append(by[h.Zone], h.ID)
	}
	slices.Sort(zones)
	parts := make([]string, len(zones))
	for i, z := range zones {
		name := z
		if name == "" {
			name = "no zone"
		} else {
			name = "zone " + name
		}
		parts[i] = name + ": " + strings.Join(by[z], ", ")
	}
	return strings.Join(parts, "; ")
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// countsText is "2 larger than the host shape, 1 constraint ...", by reason.
func countsText(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}
