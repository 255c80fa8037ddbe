package placement

import (
	"math"
	"regexp"
	"slices"
)

// class is the tasks that are placed alike: same group, resources, exclusivity and
// constraints. Place works out per class what tasks of it share (compiled constraints,
// GROUP_BY's values, the explanation of a failure) instead of per task.
type class struct {
	group     int32
	need      amount
	exclusive bool
	invalid   string
	hard      []*bound
	soft      []*bound
	plain     bool    // no hard constraint and not exclusive: only resources and others' exclusive holds filter
	weights   float64 // the score's denominator: the terms' weights and the soft constraints'
	// failedAt is the group's epoch when a task of the class last failed to be placed (-1:
	// none did): until the group places another task no host can have become acceptable,
	// as other groups' placements only take resources and hosts.
	failedAt int
	why      *explanation
	size     int      // tasks in the class
	gone     []uint64 // bit set of the hosts that rejected it for good in this call; nil when not kept
}

// compiled is a constraint ready to evaluate, shared by the classes that have it.
type compiled struct {
	c       Constraint // the operator in upper case
	op      Operator
	static  bool
	field   int
	n       int            // GROUP_BY's assumed number of values, MAX_PER's limit
	re      *regexp.Regexp // LIKE, UNLIKE
	target  int32          // IS, CLUSTER with a value: the value's id, -1 if no host has it
	match   []int8         // LIKE, UNLIKE: per value id, 0 not yet known, 1 matches, 2 does not
	reason  int            // the reason of a host it rejects
	missing int            // the reason of a host without the field
}

// bound is a compiled constraint of one class, with the group state it reads.
type bound struct {
	k       *compiled
	ofHost  []int32   // the field's value per host (k's field's ofHost)
	counts  []int32   // the group's tasks per value of the field (UNIQUE, MAX_PER, GROUP_BY)
	cluster *int32    // CLUSTER without a value: the value the group is held to, -1 none yet
	even    *evenness // GROUP_BY
}

// classify puts each task in its class, compiling constraints once per distinct one.
func (p *placer) classify() {
	p.classOf = make([]*class, len(p.tasks))
	byKey := map[string]*class{}
	compiledByKey := map[string]*compiled{}
	var key []byte
	var last *Task
	for i := range p.tasks {
		t := &p.tasks[i]
		if last != nil && sameClass(last, t) {
			p.classOf[i] = p.classOf[i-1]
			p.classOf[i].size++
			last = t
			continue
		}
		last = t
		key = classKey(key[:0], t)
		c := byKey[string(key)]
		if c == nil {
			c = p.newClass(t, compiledByKey)
			byKey[string(key)] = c
		}
		p.classOf[i] = c
		c.size++
	}
}

func sameClass(a, b *Task) bool {
	ra, rb := &a.Resources, &b.Resources
	return a.Group == b.Group && ra.CPUs == rb.CPUs && ra.Mem == rb.Mem && ra.Disk == rb.Disk && ra.GPUs == rb.GPUs &&
		a.Ports == b.Ports && a.Exclusive == b.Exclusive && slices.Equal(a.Constraints, b.Constraints)
}

func classKey(key []byte, t *Task) []byte {
	key = append(key, t.Group...)
	key = append(key, 0)
	for _, v := range []float64{t.Resources.CPUs, t.Resources.Mem, t.Resources.Disk} {
		bits := math.Float64bits(v)
		for s := 0; s < 64; s += 8 {
			key = append(key, byte(bits>>s))
		}
	}
	for _, v := range []int{t.Resources.GPUs, t.Ports} {
		for s := 0; s < 64; s += 8 {
			key = append(key, byte(uint64(v)>>s))
		}
	}
	if t.Exclusive {
		key = append(key, 1)
	} else {
		key = append(key, 0)
	}
	for _, c := range t.Constraints {
		key = appendConstraint(key, c)
	}
	return key
}

func appendConstraint(key []byte, c Constraint) []byte {
	key = append(key, c.Field...)
	key = append(key, 0)
	key = append(key, c.Operator...)
	key = append(key, 0)
	key = append(key, c.Value...)
	if c.Soft {
		return append(key, 0, 1)
	}
	return append(key, 0, 0)
}

func (p *placer) newClass(t *Task, compiledByKey map[string]*compiled) *class {
	c := &class{group: p.groupID(t.Group), exclusive: t.Exclusive, failedAt: -1}
	r := t.Resources
	switch {
	case !nonNegative(r.CPUs) || !nonNegative(r.Mem) || !nonNegative(r.Disk) || r.GPUs < 0 || t.Ports < 0:
		c.invalid = "resources must be non-negative and finite, got " + r.String() + " and " + itoa(t.Ports) + " ports"
		return c
	case t.Ports > math.MaxInt32:
		c.invalid = "too many ports: " + itoa(t.Ports)
		return c
	}
	c.need = toAmount(&r)
	c.need.gpus = int32(min(r.GPUs, math.MaxInt32))
	c.need.ports = int32(t.Ports)
	for _, con := range t.Constraints {
		key := string(appendConstraint(nil, Constraint{Field: con.Field, Operator: con.op(), Value: con.Value}))
		k := compiledByKey[key]
		if k == nil {
			n, re, err := con.parse()
			if err != nil {
				c.invalid = err.Error()
				c.hard, c.soft = nil, nil
				return c
			}
			hard := con
			hard.Operator, hard.Soft = con.op(), false
			k = &compiled{c: hard, op: hard.Operator, static: hard.static(), field: p.fieldID(con.Field), n: n, re: re, target: -1}
			k.reason = p.reasons.add("constraint "+hard.String(), k.static)
			k.missing = p.reasons.add("missing attribute "+con.Field, true)
			compiledByKey[key] = k
		}
		if con.Soft {
			c.soft = append(c.soft, &bound{k: k})
		} else {
			c.hard = append(c.hard, &bound{k: k})
		}
	}
	c.plain = len(c.hard) == 0 && !c.exclusive
	c.weights = p.cfg.weights + float64(len(c.soft))*p.cfg.soft
	return c
}

func nonNegative(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }

// bind gives b the group state it reads and, for IS and CLUSTER with a value, the value's id.
func (b *bound) bind(p *placer, g *group) {
	k := b.k
	f := p.fields[k.field]
	b.ofHost = f.ofHost
	switch k.op {
	case Is:
		k.target = f.id(k.c.Value)
	case Cluster:
		if k.c.Value != "" {
			k.target = f.id(k.c.Value)
			return
		}
		cv := g.cluster[k.field]
		if cv == nil {
			cv = new(int32)
			*cv = -1
			g.cluster[k.field] = cv
		}
		b.cluster = cv
		p.countBy(g, k.field) // to find where the running tasks are
	case Like, Unlike:
		if k.match == nil {
			k.match = make([]int8, len(f.values))
		}
	case Unique, MaxPer, GroupBy:
		b.counts = p.countBy(g, k.field)
	}
}

// countBy makes group g count its tasks by the values of field f.
func (p *placer) countBy(g *group, f int) []int32 {
	if c := g.countsOf(f); c != nil {
		return c
	}
	c := make([]int32, len(p.fields[f].values))
	g.counted = append(g.counted, counted{field: f, counts: c})
	return c
}

// matches reports whether value v (not -1) satisfies the static constraint k.
func (k *compiled) matches(f *field, v int32) bool {
	switch k.op {
	case Is, Cluster:
		return v == k.target
	}
	m := k.match[v]
	if m == 0 {
		m = 2
		if k.re.MatchString(f.values[v]) {
			m = 1
		}
		k.match[v] = m
	}
	return (m == 1) == (k.op == Like)
}

// evenness is a GROUP_BY constraint's view of its group: which values count (those of the
// hosts that could ever take the class's tasks) and the fewest tasks on any of them.
type evenness struct {
	field    int
	eligible []bool // per value id
	phantom  bool   // the constraint assumes more values than there are: the fewest is 0 for good
	min      int32
	atMin    int32 // how many eligible values hold min tasks
	counts   []int32
}

// evenness returns b's GROUP_BY state for class c, working it out on first use.
func (p *placer) evenness(c *class, b *bound) *evenness {
	if b.even != nil {
		return b.even
	}
	f := p.fields[b.k.field]
	e := &evenness{field: b.k.field, eligible: make([]bool, len(f.values)), counts: b.counts}
	distinct := 0
	for h := range p.hostAt {
		v := f.ofHost[h]
		if v < 0 || e.eligible[v] || p.staticReason(c, int32(h)) != 0 || !p.total[h].fits(&c.need) {
			continue
		}
		e.eligible[v] = true
		distinct++
	}
	e.phantom = b.k.n > distinct
	e.recount()
	g := p.groups[c.group]
	g.spreads = append(g.spreads, e)
	b.even = e
	return e
}

func (e *evenness) recount() {
	e.min, e.atMin = math.MaxInt32, 0
	if e.phantom {
		e.min = 0
		return
	}
	for v, ok := range e.eligible {
		switch n := e.counts[v]; {
		case !ok:
		case n < e.min:
			e.min, e.atMin = n, 1
		case n == e.min:
			e.atMin++
		}
	}
}

// counted updates e after a task of the group was counted on value v, which held before.
func (e *evenness) counted(v, before int32) {
	if e.phantom || !e.eligible[v] || before != e.min {
		return
	}
	if e.atMin--; e.atMin == 0 {
		e.recount()
	}
}
