package placement

import "github.com/clusterd/clusterd/allocator"

// field is a constraint field with its values interned: ofHost[h] is host h's value, -1
// when the host has no such attribute.
type field struct {
	name   string
	ids    map[string]int32
	values []string
	ofHost []int32
}

func (f *field) id(v string) int32 {
	if id, ok := f.ids[v]; ok {
		return id
	}
	return -1
}

// group is the state of one Task.Group (or Running.Group) during a Place call.
type group struct {
	// counted are the fields whose values the group's tasks are counted by, with counts[v]
	// the number of the group's tasks on hosts with value v.
	counted []counted
	// cluster is, per field (index into placer.fields), the value CLUSTER without a value holds the
	// group to; -1 until set.
	cluster map[int]*int32
	onHost  []int32     // tasks of the group per host; nil unless the placer counts them
	spreads []*evenness // GROUP_BY states to keep up to date as the group's tasks are placed
	epoch   int         // placements of the group so far in this call
}

type counted struct {
	field  int
	counts []int32
}

func (g *group) countsOf(f int) []int32 {
	for _, c := range g.counted {
		if c.field == f {
			return c.counts
		}
	}
	return nil
}

// groupID interns a group name.
func (p *placer) groupID(name string) int32 {
	if g, ok := p.groupIx[name]; ok {
		return g
	}
	g := int32(len(p.groups))
	p.groupIx[name] = g
	p.groups = append(p.groups, &group{cluster: map[int]*int32{}})
	return g
}

// fieldID interns a constraint field; its values are read from the hosts by bindFields.
func (p *placer) fieldID(name string) int {
	if f, ok := p.fieldIx[name]; ok {
		return f
	}
	f := len(p.fields)
	p.fieldIx[name] = f
	p.fields = append(p.fields, &field{name: name, ids: map[string]int32{}})
	return f
}

// bindFields reads each field's values from the hosts, then gives each constraint what it
// needs of them and each group the counts its constraints read.
func (p *placer) bindFields() {
	for _, f := range p.fields {
		f.ofHost = make([]int32, len(p.hostAt))
		for h := range p.hostAt {
			host := p.host(int32(h))
			v, ok := host.Attributes[f.name]
			if f.name == "hostname" {
				v, ok = host.Hostname, true
				if v == "" {
					v = host.ID
				}
			}
			if !ok {
				f.ofHost[h] = -1
				continue
			}
			id, seen := f.ids[v]
			if !seen {
				id = int32(len(f.values))
				f.ids[v] = id
				f.values = append(f.values, v)
			}
			f.ofHost[h] = id
		}
	}
	counting := p.cfg.needsSum
	anyExclusive := false
	for _, c := range p.classes() {
		g := p.groups[c.group]
		for _, b := range append(c.hard, c.soft...) {
			b.bind(p, g)
		}
		if c.exclusive {
			anyExclusive, counting = true, true
		}
	}
	if anyExclusive {
		p.markExclusive()
	}
	if counting {
		p.countTasks()
	}
}

func (p *placer) markExclusive() {
	if p.heldBy == nil {
		p.heldBy = make([]int32, len(p.hostAt))
		for h := range p.heldBy {
			p.heldBy[h] = -1
		}
	}
}

// countTasks makes the placer count tasks per host, in all and per pending group.
func (p *placer) countTasks() {
	p.tasksOn = make([]int32, len(p.hostAt))
	for _, c := range p.classes() {
		if g := p.groups[c.group]; g.onHost == nil {
			g.onHost = make([]int32, len(p.hostAt))
		}
	}
}

// addRunning counts the running tasks where something reads them: the groups' counts per
// value, the tasks per host, exclusive holds.
func (p *placer) addRunning(running []Running) {
	needed := p.tasksOn != nil
	for _, g := range p.groups {
		needed = needed || len(g.counted) > 0 || len(g.cluster) > 0
	}
	for i := range running {
		if running[i].Exclusive {
			needed = true
			p.markExclusive()
			break
		}
	}
	if !needed || len(running) == 0 {
		return
	}
	ix := p.hostIndex()
	for i := range running {
		r := &running[i]
		h, ok := ix[r.Host]
		if !ok {
			continue
		}
		g := int32(-1)
		if id, ok := p.groupIx[r.Group]; ok {
			g = id
		}
		if r.Exclusive {
			if g < 0 {
				g = p.groupID(r.Group)
			}
			p.hold(h, g)
		}
		if p.tasksOn != nil {
			p.tasksOn[h]++
		}
		if g >= 0 {
			p.count(p.groups[g], h)
		}
	}
	// CLUSTER without a value holds a group where most of its running tasks are.
	for _, g := range p.groups {
		for f, cv := range g.cluster {
			counts := g.countsOf(f)
			best := int32(-1)
			for v, n := range counts {
				if n > 0 && (best < 0 || n > counts[best] || n == counts[best] && p.fields[f].values[v] < p.fields[f].values[best]) {
					best = int32(v)
				}
			}
			*cv = best
		}
	}
}

// hold marks host h as held exclusively by group g.
func (p *placer) hold(h, g int32) {
	switch p.heldBy[h] {
	case -1:
		p.heldBy[h] = g
	case g, -2:
	default:
		p.heldBy[h] = -2
	}
}

// count adds one task of group g on host h to the group's counts.
func (p *placer) count(g *group, h int32) {
	if g.onHost != nil {
		g.onHost[h]++
	}
	for _, c := range g.counted {
		v := p.fields[c.field].ofHost[h]
		if v < 0 {
			continue
		}
		before := c.counts[v]
		c.counts[v]++
		for _, e := range g.spreads {
			if e.field == c.field {
				e.counted(v, before)
			}
		}
	}
}

// assign places a task of class c on host h: it takes the resources and ports and counts the
// task.
func (p *placer) assign(i int32, c *class, h int32, score float64) {
	t := &p.tasks[i]
	var ports []allocator.PortRange
	if c.need.ports > 0 {
		free := allocator.Resources{Ports: p.freePorts(h)}
		ports, _ = free.TakePorts(int(c.need.ports))
		p.ports[h] = free.Sub(allocator.Resources{Ports: ports}).Ports
	}
	before := p.free[h].of(p.cfg.by)
	f := &p.free[h]
	f.cpus = max(f.cpus-c.need.cpus, 0)
	f.mem = max(f.mem-c.need.mem, 0)
	f.disk = max(f.disk-c.need.disk, 0)
	f.gpus -= c.need.gpus
	f.ports -= c.need.ports
	p.order.moved(h, before)
	g := p.groups[c.group]
	if p.tasksOn != nil {
		p.tasksOn[h]++
	}
	if c.exclusive {
		p.hold(h, c.group)
	}
	p.count(g, h)
	for fi, cv := range g.cluster {
		if *cv < 0 {
			*cv = p.fields[fi].ofHost[h]
		}
	}
	g.epoch++
	p.changed = append(p.changed, h)
	p.result.Assignments = append(p.result.Assignments, Assignment{Task: t.ID, Host: p.host(h).ID, Ports: ports, Score: score})
}
