package placement

// Why says why a task was not placed.
//
// Every host given is considered and counted once, under the first reason that rejects
// it, checking what the host is before what is on it now:
//
//  1. each hard constraint in its order, on the host's attributes: "missing attribute F"
//     if the host lacks the constraint's field F (for any operator but UNLIKE), or
//     "constraint F OP [V]" (see Constraint.String) if it is a LIKE, UNLIKE, IS or
//     CLUSTER with a value that the host's value fails;
//  2. the host's Total: ReasonTooSmallCPUs, ReasonTooSmallMem, ReasonTooSmallDisk,
//     ReasonTooSmallGPUs, ReasonTooSmallPorts, in that order;
//  3. exclusivity: ReasonHeld, then ReasonNotAlone;
//  4. each hard constraint in its order, on where the group's tasks are: "constraint F OP
//     [V]" for a UNIQUE, MAX_PER, GROUP_BY or CLUSTER without a value that fails;
//  5. what is free now: ReasonCPUs, ReasonMem, ReasonDisk, ReasonGPUs, ReasonPorts, in
//     that order.
//
// Reasons of steps 1 and 2 are permanent: the host can never take the task, whatever ends
// or is freed (only a change of its attributes or size would). Those of steps 3 to 5 are
// for now: they change as tasks end and resources are freed. A host counted under a reason
// of step 5 passes every constraint: only resources in use are in the way. When every host
// is rejected for a permanent reason, Unplaceable is set: more hosts like those present
// would not help, which is what an autoscaler needs to know.
//
// Some reasons for now are not cured by more hosts of the kinds present either, only by
// the group's tasks ending: a UNIQUE or MAX_PER on an attribute whose values are all used
// up, and a GROUP_BY counting on more values (its count) than the hosts have.
type Why struct {
	// Reasons counts the hosts rejected for each reason; the counts add up to Hosts. Treat
	// the map as read-only: tasks that failed alike may share it.
	Reasons map[string]int
	// Hosts is how many hosts were considered: all those given (one per ID).
	Hosts int
	// Permanent is how many of them were rejected for a permanent reason (steps 1 and 2).
	Permanent int
	// Unplaceable is true when no host given can ever take the task: there are hosts and
	// every one was rejected for a permanent reason, or the task is invalid. More hosts of
	// the kinds present would not help; a bigger host, or one with other attributes, might.
	Unplaceable bool
	// Invalid, when not empty, says what is wrong with the task itself (a constraint that
	// does not parse, a negative resource): it was checked against no host.
	Invalid string
}

// The reasons a host is rejected for, besides those naming a constraint.
const (
	ReasonCPUs  = "insufficient cpus" // not enough free now
	ReasonMem   = "insufficient mem"
	ReasonDisk  = "insufficient disk"
	ReasonGPUs  = "insufficient gpus"
	ReasonPorts = "insufficient ports"

	ReasonTooSmallCPUs  = "host too small: cpus" // not enough in the host's Total
	ReasonTooSmallMem   = "host too small: mem"
	ReasonTooSmallDisk  = "host too small: disk"
	ReasonTooSmallGPUs  = "host too small: gpus"
	ReasonTooSmallPorts = "host too small: ports"

	// ReasonHeld: an exclusive task of another group holds the host.
	ReasonHeld = "host held by another group's exclusive task"
	// ReasonNotAlone: the task is exclusive and tasks of other groups run on the host.
	ReasonNotAlone = "exclusive: host runs other groups' tasks"
)

// Reason ids of the fixed reasons, in the table's order (0 is "fits").
const (
	reasonCPUs = 1 + iota
	reasonMem
	reasonDisk
	reasonGPUs
	reasonPorts
	reasonTooSmallCPUs
	reasonTooSmallMem
	reasonTooSmallDisk
	reasonTooSmallGPUs
	reasonTooSmallPorts
	reasonHeld
	reasonNotAlone
)

// reasons interns reason texts.
type reasons struct {
	text      []string
	permanent []bool
	ids       map[string]int
}

func (r *reasons) init() {
	r.ids = map[string]int{}
	r.add("", false)
	for _, s := range []string{ReasonCPUs, ReasonMem, ReasonDisk, ReasonGPUs, ReasonPorts} {
		r.add(s, false)
	}
	for _, s := range []string{ReasonTooSmallCPUs, ReasonTooSmallMem, ReasonTooSmallDisk, ReasonTooSmallGPUs, ReasonTooSmallPorts} {
		r.add(s, true)
	}
	r.add(ReasonHeld, false)
	r.add(ReasonNotAlone, false)
}

func (r *reasons) add(s string, permanent bool) int {
	if id, ok := r.ids[s]; ok {
		return id
	}
	id := len(r.text)
	r.ids[s] = id
	r.text = append(r.text, s)
	r.permanent = append(r.permanent, permanent)
	return id
}

// staticReason is the permanent reason for host h to reject a task of class c by its
// attributes (step 1), or 0.
func (p *placer) staticReason(c *class, h int32) int {
	for _, b := range c.hard {
		k := b.k
		f := p.fields[k.field]
		v := f.ofHost[h]
		switch {
		case v < 0 && k.op != Unlike:
			return k.missing
		case v >= 0 && k.static && !k.matches(f, v):
			return k.reason
		}
	}
	return 0
}

// firstReason is the first reason host h rejects a task of class c for (see Why), or 0.
func (p *placer) firstReason(c *class, h int32) int {
	if r := p.staticReason(c, h); r != 0 {
		return r
	}
	if r := shortOf(&p.total[h], &c.need); r != 0 {
		return r + reasonTooSmallCPUs - reasonCPUs
	}
	if r := p.exclusiveReason(c, h); r != 0 {
		return r
	}
	for _, b := range c.hard {
		if v := p.fields[b.k.field].ofHost[h]; !b.k.static && !b.holds(v) {
			return b.k.reason
		}
	}
	return shortOf(&p.free[h], &c.need)
}

// shortOf is the first resource n does not fit in a for, as reasonCPUs..reasonPorts, or 0.
func shortOf(a, n *amount) int {
	switch {
	case a.cpus+eps < n.cpus:
		return reasonCPUs
	case a.mem+eps < n.mem:
		return reasonMem
	case a.disk+eps < n.disk:
		return reasonDisk
	case a.gpus < n.gpus:
		return reasonGPUs
	case a.ports < n.ports:
		return reasonPorts
	}
	return 0
}

// explanation is a class's last Why with each host's reason, kept up to date cheaply: until
// the group places a task, a host's reason changes only if a placement changed the host.
type explanation struct {
	epoch   int     // the group's epoch it is for
	seen    int     // how much of placer.changed it has taken in
	perHost []int32 // reason per host
	counts  []int   // hosts per reason id
	why     Why
}

// explain says why no host takes a task of class c now.
func (p *placer) explain(c *class) Why {
	n := len(p.hostAt)
	if n == 0 {
		return Why{Reasons: map[string]int{}}
	}
	g := p.groups[c.group]
	e := c.why
	if e == nil || e.epoch != g.epoch || len(p.changed)-e.seen > n {
		if e == nil {
			e = &explanation{perHost: make([]int32, n)}
			c.why = e
		}
		e.counts = make([]int, len(p.reasons.text))
		for h := range n {
			r := p.firstReason(c, int32(h))
			e.perHost[h] = int32(r)
			e.counts[r]++
		}
		e.epoch, e.seen = g.epoch, len(p.changed)
		e.why = p.why(e.counts)
		return e.why
	}
	changed := false
	for _, h := range p.changed[e.seen:] {
		if r := int32(p.firstReason(c, h)); r != e.perHost[h] {
			e.counts[e.perHost[h]]--
			e.counts[r]++
			e.perHost[h] = r
			changed = true
		}
	}
	e.seen = len(p.changed)
	if changed {
		e.why = p.why(e.counts)
	}
	return e.why
}

func (p *placer) why(counts []int) Why {
	w := Why{Reasons: map[string]int{}}
	for r, n := range counts {
		if n == 0 {
			continue
		}
		w.Reasons[p.reasons.text[r]] = n
		w.Hosts += n
		if p.reasons.permanent[r] {
			w.Permanent += n
		}
	}
	w.Unplaceable = w.Hosts > 0 && w.Permanent == w.Hosts
	return w
}
