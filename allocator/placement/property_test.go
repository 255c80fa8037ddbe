package placement

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/clusterd/clusterd/allocator"
	"pgregory.net/rapid"
)

// world is a generated cluster: hosts, running tasks, pending tasks and a configuration.
type world struct {
	cfg     Config
	hosts   []Host
	running []Running
	tasks   []Task
}

var (
	zones  = []string{"a", "b", "c"}
	racks  = []string{"r1", "r2", "r3"}
	groups = []string{"g0", "g1", "g2"}
)

func genPorts(t *rapid.T, label string, max int) []allocator.PortRange {
	var ps []allocator.PortRange
	for i := range rapid.IntRange(0, 2).Draw(t, label+"Ranges") {
		b := uint16(31000 + 10*i + rapid.IntRange(0, 4).Draw(t, label+"Begin"))
		ps = append(ps, allocator.PortRange{Begin: b, End: b + uint16(rapid.IntRange(0, max).Draw(t, label+"Len"))})
	}
	return ps
}

func genWorld(t *rapid.T) world {
	var w world
	for i := range rapid.IntRange(0, 10).Draw(t, "hosts") {
		h := Host{ID: fmt.Sprintf("h%02d", i), Attributes: map[string]string{}}
		if rapid.Bool().Draw(t, "named") {
			h.Hostname = h.ID + ".example"
		}
		if z := rapid.IntRange(0, 3).Draw(t, "zone"); z < 3 {
			h.Attributes["zone"] = zones[z]
		}
		if r := rapid.IntRange(0, 3).Draw(t, "rack"); r < 3 {
			h.Attributes["rack"] = racks[r]
		}
		half := func(label string, hi int) float64 { return float64(rapid.IntRange(0, 2*hi).Draw(t, label)) / 2 }
		h.Total = allocator.Resources{CPUs: 2 + half("cpus", 6), Mem: 1000 * (2 + half("mem", 6)), Disk: half("disk", 2), GPUs: rapid.IntRange(0, 2).Draw(t, "gpus"), Ports: genPorts(t, "totalPorts", 6)}
		frac := func(v float64) float64 { return v * float64(4-rapid.IntRange(0, 4).Draw(t, "frac")) / 4 }
		h.Free = allocator.Resources{CPUs: frac(h.Total.CPUs), Mem: frac(h.Total.Mem), Disk: frac(h.Total.Disk), GPUs: rapid.IntRange(0, h.Total.GPUs).Draw(t, "freeGPUs"), Ports: genPorts(t, "freePorts", 4)}
		if rapid.IntRange(0, 9).Draw(t, "freeAboveTotal") == 0 {
			h.Free.CPUs = h.Total.CPUs + 1
		}
		w.hosts = append(w.hosts, h)
	}
	order := rapid.Permutation(w.hosts).Draw(t, "hostOrder")
	w.hosts = order
	for range rapid.IntRange(0, 8).Draw(t, "running") {
		r := Running{Group: rapid.SampledFrom(groups).Draw(t, "group"), Host: fmt.Sprintf("h%02d", rapid.IntRange(0, 10).Draw(t, "host")),
			Exclusive: rapid.IntRange(0, 9).Draw(t, "exclusive") == 9}
		w.running = append(w.running, r)
	}
	// Replicas of a task make classes of many tasks, as jobs are, which Place handles
	// differently (it remembers the hosts that rejected a class for good).
	replicas := rapid.SampledFrom([]int{1, 1, 2, 10}).Draw(t, "replicas")
	for i := range rapid.IntRange(0, 14/min(replicas, 2)).Draw(t, "tasks") {
		rare := func(label string) int { // mostly 0
			if rapid.IntRange(0, 5).Draw(t, label) == 0 {
				return 1
			}
			return 0
		}
		task := Task{Group: rapid.SampledFrom(groups).Draw(t, "group"),
			Resources: allocator.Resources{CPUs: float64(rapid.IntRange(0, 6).Draw(t, "cpus")) / 2, Mem: float64(rapid.IntRange(0, 3).Draw(t, "mem")) * 1000,
				Disk: float64(rare("disk")), GPUs: rare("gpus")},
			Ports: rapid.IntRange(0, 2).Draw(t, "ports"), Exclusive: rapid.IntRange(0, 9).Draw(t, "exclusive") == 9,
			Priority: rapid.IntRange(0, 2).Draw(t, "priority"), PendingSince: t0.Add(time.Duration(rapid.IntRange(0, 2).Draw(t, "since")) * time.Second)}
		for range rapid.IntRange(0, 2).Draw(t, "constraints") {
			task.Constraints = append(task.Constraints, genConstraint(t))
		}
		for k := range replicas {
			task.ID = fmt.Sprintf("t%02d.%d", i, k)
			w.tasks = append(w.tasks, task)
		}
	}
	all := []Fitness{BinPackCPU{}, BinPackMem{}, BinPackPorts{}, BinPackCPUMem{}, Spread{}}
	for range rapid.IntRange(0, 2).Draw(t, "fitness") {
		w.cfg.Fitness = append(w.cfg.Fitness, Weighted{rapid.SampledFrom(all).Draw(t, "fit"), float64(rapid.IntRange(0, 4).Draw(t, "weight")) / 2})
	}
	w.cfg.GoodEnough = rapid.SampledFrom([]float64{0, 0.2, 0.5, 0.9, 1}).Draw(t, "goodEnough")
	w.cfg.SoftWeight = rapid.SampledFrom([]float64{0, 0.5, 2}).Draw(t, "softWeight")
	return w
}

func genConstraint(t *rapid.T) Constraint {
	field := rapid.SampledFrom([]string{"hostname", "zone", "rack"}).Draw(t, "field")
	values := map[string][]string{"hostname": {"h01", "h02.example", "h03"}, "zone": zones, "rack": racks}[field]
	c := Constraint{Field: field, Soft: rapid.IntRange(0, 2).Draw(t, "soft") == 0}
	switch rapid.IntRange(0, 7).Draw(t, "op") {
	case 0:
		c.Operator = Unique
	case 1:
		c.Operator = Cluster
		if rapid.Bool().Draw(t, "clusterValue") {
			c.Value = rapid.SampledFrom(values).Draw(t, "value")
		}
	case 2:
		c.Operator = "group_by"
		if n := rapid.IntRange(0, 4).Draw(t, "n"); n > 0 {
			c.Value = strconv.Itoa(n)
		}
	case 3:
		c.Operator = Like
		c.Value = rapid.SampledFrom([]string{"a|b", "r[12]", ".*", "h0[0-4].*", "h0"}).Draw(t, "regex")
	case 4:
		c.Operator = Unlike
		c.Value = rapid.SampledFrom([]string{"a", "r[23]", ".*", "h0[5-9]"}).Draw(t, "regex")
	case 5:
		c.Operator = MaxPer
		c.Value = strconv.Itoa(rapid.IntRange(1, 2).Draw(t, "n"))
	case 6:
		c.Operator = Is
		c.Value = rapid.SampledFrom(values).Draw(t, "value")
	case 7:
		c.Operator = rapid.SampledFrom([]Operator{"NEAR", Like}).Draw(t, "bad")
		c.Value = "("
	}
	return c
}

// oracle replays a Place call step by step with plain data structures, to hold the result
// to the documented semantics.
type oracle struct {
	w       world
	hosts   []*ohost                     // by ID
	cluster map[string]map[string]string // group → field → value held to
	placed  map[string]bool              // groups placed in this call
}

type ohost struct {
	Host
	free, total allocator.Resources
	freePorts   []uint16 // sorted
	totalPorts  int
	tasks       map[string]int  // running and placed tasks per group
	held        map[string]bool // groups holding the host exclusively
}

func newOracle(w world) *oracle {
	o := &oracle{w: w, cluster: map[string]map[string]string{}, placed: map[string]bool{}}
	byID := map[string]*ohost{}
	for _, h := range w.hosts {
		oh := &ohost{Host: h, tasks: map[string]int{}, held: map[string]bool{}}
		for _, r := range h.Free.Ports {
			for p := int(r.Begin); p <= int(r.End); p++ {
				oh.freePorts = append(oh.freePorts, uint16(p))
			}
		}
		slices.Sort(oh.freePorts)
		oh.freePorts = slices.Compact(oh.freePorts)
		total := map[int]bool{}
		for _, r := range h.Total.Ports {
			for p := int(r.Begin); p <= int(r.End); p++ {
				total[p] = true
			}
		}
		oh.totalPorts = max(len(total), len(oh.freePorts))
		oh.free = allocator.Resources{CPUs: h.Free.CPUs, Mem: h.Free.Mem, Disk: h.Free.Disk, GPUs: h.Free.GPUs}
		oh.total = allocator.Resources{CPUs: max(h.Total.CPUs, h.Free.CPUs), Mem: max(h.Total.Mem, h.Free.Mem), Disk: max(h.Total.Disk, h.Free.Disk), GPUs: max(h.Total.GPUs, h.Free.GPUs)}
		byID[h.ID] = oh
		o.hosts = append(o.hosts, oh)
	}
	slices.SortFunc(o.hosts, func(a, b *ohost) int { return cmp.Compare(a.ID, b.ID) })
	for _, r := range w.running {
		if h := byID[r.Host]; h != nil {
			h.tasks[r.Group]++
			if r.Exclusive {
				h.held[r.Group] = true
			}
		}
	}
	return o
}

func (h *ohost) value(field string) (string, bool) {
	if field == "hostname" {
		if h.Hostname == "" {
			return h.ID, true
		}
		return h.Hostname, true
	}
	v, ok := h.Attributes[field]
	return v, ok
}

// count is how many tasks of group g run or were placed on hosts whose field is v.
func (o *oracle) count(g, field, v string) int {
	n := 0
	for _, h := range o.hosts {
		if hv, ok := h.value(field); ok && hv == v {
			n += h.tasks[g]
		}
	}
	return n
}

func matchesRegexp(re, v string) bool { return regexp.MustCompile("^(?:" + re + ")$").MatchString(v) }

// attributeReason is step 1 of Why for host h and task t.
func (o *oracle) attributeReason(t *Task, h *ohost) string {
	for _, c := range t.Constraints {
		if c.Soft {
			continue
		}
		op := Operator(fmt.Sprint(c.op()))
		v, ok := h.value(c.Field)
		if !ok {
			if op != Unlike {
				return "missing attribute " + c.Field
			}
			continue
		}
		fails := op == Like && !matchesRegexp(c.Value, v) || op == Unlike && matchesRegexp(c.Value, v) ||
			op == Is && v != c.Value || op == Cluster && c.Value != "" && v != c.Value
		if fails {
			return "constraint " + c.String()
		}
	}
	return ""
}

func short(have allocator.Resources, havePorts int, t *Task) int {
	switch {
	case have.CPUs+1e-9 < t.Resources.CPUs:
		return 0
	case have.Mem+1e-9 < t.Resources.Mem:
		return 1
	case have.Disk+1e-9 < t.Resources.Disk:
		return 2
	case have.GPUs < t.Resources.GPUs:
		return 3
	case havePorts < t.Ports:
		return 4
	}
	return -1
}

// groupByMin is the fewest tasks of t's group on a value of field among the hosts that pass
// steps 1 and 2 for t (0 when the constraint assumes more values than there are).
func (o *oracle) groupByMin(t *Task, c Constraint) int {
	values := map[string]bool{}
	for _, h := range o.hosts {
		if v, ok := h.value(c.Field); ok && o.attributeReason(t, h) == "" && short(h.total, h.totalPorts, t) < 0 {
			values[v] = true
		}
	}
	if n, _ := strconv.Atoi(c.Value); n > len(values) {
		return 0
	}
	least := math.MaxInt
	for v := range values {
		least = min(least, o.count(t.Group, c.Field, v))
	}
	return least
}

// clusterValue is the value CLUSTER without a value holds t's group to on field, if any.
func (o *oracle) clusterValue(g, field string) (string, bool) {
	if v, ok := o.cluster[g][field]; ok {
		return v, true
	}
	counts := map[string]int{}
	for _, r := range o.w.running {
		for _, h := range o.hosts {
			if v, ok := h.value(field); ok && h.ID == r.Host && r.Group == g {
				counts[v]++
			}
		}
	}
	best, bestN := "", 0
	for _, v := range slices.Sorted(maps.Keys(counts)) {
		if counts[v] > bestN {
			best, bestN = v, counts[v]
		}
	}
	return best, bestN > 0
}

// layoutHolds reports whether the group's layout allows t on h under the dynamic constraint c.
func (o *oracle) layoutHolds(t *Task, c Constraint, h *ohost) bool {
	v, _ := h.value(c.Field)
	switch c.op() {
	case Unique:
		return o.count(t.Group, c.Field, v) == 0
	case MaxPer:
		n, _ := strconv.Atoi(c.Value)
		return o.count(t.Group, c.Field, v) < n
	case GroupBy:
		return o.count(t.Group, c.Field, v) == o.groupByMin(t, c)
	case Cluster:
		cv, ok := o.clusterValue(t.Group, c.Field)
		return !ok || cv == v
	}
	return true
}

// reason is the first reason host h rejects t for, "" if it accepts it, and whether that
// reason is permanent.
func (o *oracle) reason(t *Task, h *ohost) (string, bool) {
	if r := o.attributeReason(t, h); r != "" {
		return r, true
	}
	if s := short(h.total, h.totalPorts, t); s >= 0 {
		return []string{ReasonTooSmallCPUs, ReasonTooSmallMem, ReasonTooSmallDisk, ReasonTooSmallGPUs, ReasonTooSmallPorts}[s], true
	}
	for g := range h.held {
		if g != t.Group {
			return ReasonHeld, false
		}
	}
	if t.Exclusive {
		for g, n := range h.tasks {
			if g != t.Group && n > 0 {
				return ReasonNotAlone, false
			}
		}
	}
	for _, c := range t.Constraints {
		if !c.Soft && !c.static() && !o.layoutHolds(t, c, h) {
			return "constraint " + c.String(), false
		}
	}
	if s := short(h.free, len(h.freePorts), t); s >= 0 {
		return []string{ReasonCPUs, ReasonMem, ReasonDisk, ReasonGPUs, ReasonPorts}[s], false
	}
	return "", false
}

// softScore is the documented score of soft constraint c for t on h.
func (o *oracle) softScore(t *Task, c Constraint, h *ohost) float64 {
	v, ok := h.value(c.Field)
	if !ok {
		if c.op() == Unlike {
			return 1
		}
		return 0
	}
	switch c.op() {
	case Unique:
		return 1 / (1 + float64(o.count(t.Group, c.Field, v)))
	case GroupBy:
		return 1 / (1 + float64(o.count(t.Group, c.Field, v)-o.groupByMin(t, c)))
	}
	hc := c
	hc.Soft = false
	if c.static() {
		if o.attributeReason(&Task{Constraints: []Constraint{hc}}, h) == "" {
			return 1
		}
		return 0
	}
	if o.layoutHolds(t, c, h) {
		return 1
	}
	return 0
}

func (o *oracle) state(t *Task, h *ohost) *HostState {
	var ranges []allocator.PortRange
	for _, p := range h.freePorts {
		if n := len(ranges); n > 0 && ranges[n-1].End+1 == p {
			ranges[n-1].End = p
		} else {
			ranges = append(ranges, allocator.PortRange{Begin: p, End: p})
		}
	}
	total := h.total
	totalPorts := allocator.Resources{Ports: h.Host.Total.Ports}.Add(allocator.Resources{}).Ports
	if (allocator.Resources{Ports: totalPorts}).NumPorts() < h.totalPorts {
		totalPorts = allocator.Resources{Ports: h.Host.Free.Ports}.Add(allocator.Resources{}).Ports
	}
	total.Ports = totalPorts
	free := h.free
	free.Ports = ranges
	all := 0
	for _, n := range h.tasks {
		all += n
	}
	return &HostState{ID: h.ID, Total: total, Free: free, Tasks: all, GroupTasks: h.tasks[t.Group]}
}

// score is the documented weighted average for t on h.
func (o *oracle) score(t *Task, h *ohost) float64 {
	sum, weights := 0.0, 0.0
	for _, f := range o.w.cfg.Fitness {
		if f.Fitness != nil && f.Weight > 0 && !math.IsInf(f.Weight, 0) {
			sum += f.Weight * clamp(f.Fitness.Score(t, o.state(t, h)))
			weights += f.Weight
		}
	}
	if weights == 0 {
		sum, weights = BinPackCPUMem{}.Score(t, o.state(t, h)), 1
	}
	sw := o.w.cfg.SoftWeight
	if sw == 0 {
		sw = 1
	}
	for _, c := range t.Constraints {
		if c.Soft {
			sum += sw * o.softScore(t, c, h)
			weights += sw
		}
	}
	return sum / weights
}

func invalid(t *Task) bool {
	for _, c := range t.Constraints {
		if c.Validate() != nil {
			return true
		}
	}
	return false
}

// check replays the result and fails t on the first difference from the semantics.
func (o *oracle) check(rt *rapid.T, r Result) {
	tasks := slices.Clone(o.w.tasks)
	slices.SortFunc(tasks, func(a, b Task) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.PendingSince.Compare(b.PendingSince), cmp.Compare(a.ID, b.ID))
	})
	if len(r.Assignments)+len(r.Unplaced) != len(tasks) {
		rt.Fatalf("%d assignments and %d unplaced for %d tasks", len(r.Assignments), len(r.Unplaced), len(tasks))
	}
	next := 0
	for i := range tasks {
		t := &tasks[i]
		if invalid(t) {
			if w, ok := r.Unplaced[t.ID]; !ok || w.Invalid == "" || !w.Unplaceable {
				rt.Fatalf("%s has an invalid constraint: want it unplaced as invalid, got %+v", t.ID, w)
			}
			continue
		}
		reasons, permanent := map[string]int{}, 0
		var ok []*ohost
		for _, h := range o.hosts {
			why, perm := o.reason(t, h)
			if why == "" {
				ok = append(ok, h)
				continue
			}
			reasons[why]++
			if perm {
				permanent++
			}
		}
		if next < len(r.Assignments) && r.Assignments[next].Task == t.ID {
			a := r.Assignments[next]
			next++
			o.checkAssignment(rt, t, a, ok)
			continue
		}
		w, found := r.Unplaced[t.ID]
		if !found {
			rt.Fatalf("%s is neither placed (in urgency order) nor unplaced", t.ID)
		}
		if len(ok) > 0 {
			rt.Fatalf("%s unplaced, but %s accepts it; why %+v", t.ID, ok[0].ID, w)
		}
		want := Why{Reasons: reasons, Hosts: len(o.hosts), Permanent: permanent, Unplaceable: len(o.hosts) > 0 && permanent == len(o.hosts)}
		if !maps.Equal(w.Reasons, want.Reasons) || w.Hosts != want.Hosts || w.Permanent != want.Permanent || w.Unplaceable != want.Unplaceable || w.Invalid != "" {
			rt.Fatalf("%s: why %+v, want %+v", t.ID, w, want)
		}
	}
}

func (o *oracle) checkAssignment(rt *rapid.T, t *Task, a Assignment, ok []*ohost) {
	i := slices.IndexFunc(ok, func(h *ohost) bool { return h.ID == a.Host })
	if i < 0 {
		var h *ohost
		for _, x := range o.hosts {
			if x.ID == a.Host {
				h = x
			}
		}
		if h == nil {
			rt.Fatalf("%s placed on unknown host %s", t.ID, a.Host)
		}
		why, _ := o.reason(t, h)
		rt.Fatalf("%s placed on %s, which rejects it: %s", t.ID, a.Host, why)
	}
	h := ok[i]
	// Scores: the assignment's is the host's, and it is the best unless good enough.
	want := o.score(t, h)
	if math.Abs(a.Score-want) > 1e-9 {
		rt.Fatalf("%s on %s: score %v, want %v", t.ID, a.Host, a.Score, want)
	}
	best := 0.0
	for _, x := range ok {
		best = max(best, o.score(t, x))
	}
	if g := o.w.cfg.GoodEnough; a.Score < best-1e-9 && (g <= 0 || g >= 1 || a.Score < g-1e-9) {
		rt.Fatalf("%s on %s scores %v; another host scores %v (good enough %v)", t.ID, a.Host, a.Score, best, g)
	}
	// Ports: as many as asked, distinct, free, lowest first.
	if len(a.Ports) != t.Ports {
		rt.Fatalf("%s: %d ports, want %d", t.ID, len(a.Ports), t.Ports)
	}
	for k, p := range a.Ports {
		if p.Begin != p.End || p.Begin != h.freePorts[k] {
			rt.Fatalf("%s: ports %v, want the lowest free of %v", t.ID, a.Ports, h.freePorts)
		}
	}
	h.freePorts = h.freePorts[t.Ports:]
	// Resources: the task fits in what was free.
	if !h.free.Contains(t.Resources) {
		rt.Fatalf("%s does not fit on %s: %v free", t.ID, h.ID, h.free)
	}
	h.free = h.free.Sub(allocator.Resources{CPUs: t.Resources.CPUs, Mem: t.Resources.Mem, Disk: t.Resources.Disk, GPUs: t.Resources.GPUs})
	// The group's layout.
	if !o.placed[t.Group] {
		o.placed[t.Group] = true
		if o.cluster[t.Group] == nil {
			o.cluster[t.Group] = map[string]string{}
		}
	}
	for _, f := range []string{"hostname", "zone", "rack"} {
		if _, set := o.clusterValue(t.Group, f); !set {
			if v, ok := h.value(f); ok {
				o.cluster[t.Group][f] = v
			}
		}
	}
	h.tasks[t.Group]++
	if t.Exclusive {
		h.held[t.Group] = true
	}
}

// TestPlaceHoldsToItsSemanticsOnGeneratedClusters replays every Place call on a generated
// cluster against a plain model of the documented rules: every task is placed or explained;
// each placement is on a host that passes every filter (so hard constraints are never
// violated, given all running and earlier-placed tasks), fits in what was free, takes the
// lowest free ports, and scores as documented and best (or good enough); every Why counts
// each host once, under its first reason in the documented order, with permanent reasons
// and Unplaceable as the model works them out.
func TestPlaceHoldsToItsSemanticsOnGeneratedClusters(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := genWorld(rt)
		r := Place(w.cfg, w.hosts, w.running, w.tasks)
		newOracle(w).check(rt, r)
	})
}

// TestUniqueNeverPutsTwoTasksOfAGroupOnOneValue checks the final layout: with UNIQUE on a
// field, no two tasks of a group (running or placed) share a value, when the running ones
// did not.
func TestUniqueNeverPutsTwoTasksOfAGroupOnOneValue(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := genWorld(rt)
		field := rapid.SampledFrom([]string{"hostname", "zone", "rack"}).Draw(rt, "uniqueField")
		w.running = nil
		for i := range w.tasks {
			w.tasks[i].Constraints = append(w.tasks[i].Constraints, Constraint{Field: field, Operator: Unique})
		}
		r := Place(w.cfg, w.hosts, nil, w.tasks)
		byID := map[string]Host{}
		for _, h := range w.hosts {
			byID[h.ID] = h
		}
		group := map[string]string{}
		for _, t := range w.tasks {
			group[t.ID] = t.Group
		}
		seen := map[string]string{}
		for _, a := range r.Assignments {
			h := byID[a.Host]
			v := h.Attributes[field]
			if field == "hostname" {
				v = cmp.Or(h.Hostname, h.ID)
			}
			k := group[a.Task] + "/" + v
			if other, dup := seen[k]; dup {
				rt.Fatalf("%s and %s of group %s both on %s %s", other, a.Task, group[a.Task], field, v)
			}
			seen[k] = a.Task
		}
	})
}

// TestGroupByZoneKeepsTheSpreadWithinOneOfEven places groups with ["zone","GROUP_BY"] on
// generated hosts: over the zones of the hosts big enough for the group's tasks, the
// group's counts end within one of each other.
func TestGroupByZoneKeepsTheSpreadWithinOneOfEven(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := genWorld(rt)
		w.running = nil
		cpus := float64(rapid.IntRange(0, 4).Draw(rt, "cpus")) / 2
		var tasks []Task
		for _, g := range groups[:2] {
			for i := range rapid.IntRange(0, 12).Draw(rt, "n") {
				tasks = append(tasks, Task{ID: fmt.Sprintf("%s.%02d", g, i), Group: g, Resources: allocator.Resources{CPUs: cpus},
					Constraints: []Constraint{{Field: "zone", Operator: GroupBy}}, PendingSince: t0})
			}
		}
		r := Place(w.cfg, w.hosts, nil, tasks)
		zoneOf := map[string]string{}
		eligible := map[string]bool{}
		for _, h := range w.hosts {
			if z, ok := h.Attributes["zone"]; ok {
				zoneOf[h.ID] = z
				if max(h.Total.CPUs, h.Free.CPUs)+1e-9 >= cpus {
					eligible[z] = true
				}
			}
		}
		for _, g := range groups[:2] {
			counts := map[string]int{}
			for z := range eligible {
				counts[z] = 0
			}
			for _, a := range r.Assignments {
				if a.Task[:2] == g {
					counts[zoneOf[a.Host]]++
				}
			}
			lo, hi := math.MaxInt, 0
			for _, n := range counts {
				lo, hi = min(lo, n), max(hi, n)
			}
			if len(counts) > 0 && hi-lo > 1 {
				rt.Fatalf("group %s: tasks per zone %v, spread by more than one", g, counts)
			}
		}
	})
}

// TestFullSearchFindsTheBestHostOnLargeClusters checks the bounded search on more hosts
// than the generated worlds have: with a full search, each task of a bin-packing placement
// lands on a host scoring the best of all the hosts that fit it at that moment.
func TestFullSearchFindsTheBestHostOnLargeClusters(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var hosts []Host
		for i := range rapid.IntRange(1, 60).Draw(rt, "hosts") {
			total := float64(rapid.SampledFrom([]int{4, 8, 16, 32}).Draw(rt, "total"))
			free := total * float64(rapid.IntRange(0, 8).Draw(rt, "free")) / 8
			r := allocator.Resources{CPUs: total, Mem: total * 1000}
			hosts = append(hosts, Host{ID: fmt.Sprintf("h%02d", i), Total: r, Free: allocator.Resources{CPUs: free, Mem: free * 1000}})
		}
		fit := rapid.SampledFrom([]Fitness{BinPackCPU{}, BinPackMem{}, BinPackCPUMem{}}).Draw(rt, "fit")
		cfg := Config{Fitness: []Weighted{{fit, 1}}}
		var tasks []Task
		for i := range rapid.IntRange(1, 30).Draw(rt, "tasks") {
			c := float64(rapid.IntRange(1, 16).Draw(rt, "cpus")) / 2
			tasks = append(tasks, Task{ID: fmt.Sprintf("t%02d", i), Resources: allocator.Resources{CPUs: c, Mem: c * 1000}})
		}
		w := world{cfg: cfg, hosts: hosts, tasks: tasks}
		newOracle(w).check(rt, Place(cfg, hosts, nil, tasks))
	})
}
