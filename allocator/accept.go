package allocator

import (
	"fmt"
	"slices"
	"time"
)

// Operation is one operation of an AcceptOperations, applied in order to what is left of
// the accepted offers. Set exactly one of its fields.
type Operation struct {
	// Reserve reserves these resources of the offers' unreserved part for the offers' role,
	// dynamically (Mesos RESERVE): the agent's bookkeeping changes exactly as by Reserve,
	// later launches of the same accept may use them, and afterwards they are offered only
	// to the role.
	Reserve *Resources
	// Unreserve returns these resources of the offers' dynamically reserved part (their
	// Offer.Dynamic, plus what an earlier Reserve of the accept reserved, less what earlier
	// launches took) to unreserved (Mesos UNRESERVE). Static reservations, and resources
	// not in the offers, cannot be unreserved.
	Unreserve *Resources
	// Launch launches tasks (Mesos LAUNCH), each validated on its own against what is left
	// of the offers: see AcceptOperations.
	Launch []Launch
}

// OperationResult says what happened to one operation of an AcceptOperations (Index into
// its ops) or to one task of a Launch operation (Task set).
type OperationResult struct {
	Index int
	Task  string // for launches: the task id; empty for reserve and unreserve
	// Err is nil when the operation was applied or the task launched; otherwise an
	// *OfferError wrapping a sentinel (ErrOverCommit, ErrQuotaExceeded,
	// ErrInvalidResources, ErrInvalidRole, ErrTaskExists, ErrEmptyID, ErrInvalidOperation)
	// whose Detail says what was wrong.
	Err error
}

// Accept consumes offers of one agent held by fw and launches tasks on them, all or none.
//
// The request is valid when: at least one offer is given, each is outstanding, held by fw
// and listed once, all are on the same agent; every launch has a task id not used in the
// call nor by an existing task; every launch's resources are non-negative with cpus or mem
// above zero, and no launch lists a port twice; and all launches together fit in the offers'
// resources (ports inside the offered ranges, no port used by two launches).
//
// On success the launches become tasks allocated to fw (each taking what it can from the
// offers' reserved part first, static before dynamic), and what is left of the offers
// returns to the free pool with a refuse filter for fw on the agent, covering that rest,
// of refuse: 0 means Config.DefaultRefuse, negative means no filter. As in Mesos,
// accepting less than offered is declining the rest. An accept is also rejected
// (ErrQuotaExceeded) when the launches would take fw's role beyond its quota, which
// happens only if the quota was lowered after the offers were made.
//
// Otherwise nothing is launched, the offers fw holds among those given are consumed anyway
// (their resources return to the pool, with no filter) and the error, an *OfferError,
// says what was wrong. (An unknown framework consumes nothing.) AcceptOperations is the
// same accept validated task by task, with reservations.
func (a *Allocator) Accept(now time.Time, fw FrameworkID, offers []OfferID, launches []Launch, refuse time.Duration) error {
	var c acceptance
	named := make(map[string]bool, len(launches)) // apart from c, so that it stays on the stack
	if err := a.takeOffers(&c, fw, offers); err != nil {
		return err
	}
	// Validate every launch against what the ones before it leave, then launch them all.
	left := c.left()
	var want scalars
	for _, l := range launches {
		if err := a.checkLaunch(&c, offers, named, left, l); err != nil {
			return err
		}
		left = left.Sub(l.Resources)
		want = want.plus(scalarsOf(l.Resources))
	}
	if why, ok := a.withinQuota(c.f.info.Role, want); !ok {
		return offerErr("accept", offers, "", ErrQuotaExceeded, "the launches need %s (the quota was lowered after the offer); launch less", why)
	}
	for _, l := range launches {
		a.launch(&c, l)
	}
	a.finishAccept(now, &c, refuse)
	return nil
}

// AcceptOperations consumes offers of one agent held by fw and applies ops to them in
// order, as Mesos processes an ACCEPT with operations.
//
// First the offers are validated as a whole, as by Accept: at least one, each outstanding,
// held by fw and listed once, all on one agent. If that fails, the offers fw holds among
// those given are consumed (returned to the pool, with no filter), nothing else happens,
// and the error (an *OfferError) says why; results is nil. An unknown framework consumes
// nothing.
//
// Otherwise each operation is applied, or rejected alone, against what is left of the
// offers after the ones before it:
//   - Reserve: the resources must be within the offers' unreserved part left, and the
//     framework's role not "*"; they become a dynamic reservation for the role on the
//     agent, exactly as by Reserve.
//   - Unreserve: the resources must be within the offers' dynamically reserved part left;
//     asking for static reservations (or anything not in the offers) is rejected.
//   - Launch: each task on its own, as Accept validates launches, plus the quota: an empty
//     id, an id already named by an earlier launch of this accept (launched or not) or in
//     use by a task, resources that are invalid, have no cpus and no mem or list a port
//     twice, more than is left of the offers, or more than the role's quota headroom
//     (ErrQuotaExceeded) reject the task; the other tasks are launched. A task takes from
//     the reserved part first, static before dynamic, then from the unreserved part.
//   - An operation that sets none or several of the three is rejected (ErrInvalidOperation).
//
// What is left at the end returns to the pool with a refuse filter as with Accept. The
// results hold one entry per Reserve, Unreserve or invalid operation and one per task of
// each Launch, in order; an entry's Err is nil when it was applied.
func (a *Allocator) AcceptOperations(now time.Time, fw FrameworkID, offers []OfferID, ops []Operation, refuse time.Duration) ([]OperationResult, error) {
	n := 0
	for _, op := range ops {
		n += max(len(op.Launch), 1)
	}
	var c acceptance
	named := make(map[string]bool, n)
	if err := a.takeOffers(&c, fw, offers); err != nil {
		return nil, err
	}
	results := make([]OperationResult, 0, n)
	for i, op := range ops {
		set := 0
		for _, b := range []bool{op.Reserve != nil, op.Unreserve != nil, len(op.Launch) > 0} {
			if b {
				set++
			}
		}
		switch {
		case set != 1:
			what := "none"
			if set > 1 {
				what = "more than one"
			}
			results = append(results, OperationResult{Index: i, Err: offerErr("accept", offers, "", ErrInvalidOperation,
				"operation %d sets %s of Reserve, Unreserve and Launch; set exactly one", i, what)})
		case op.Reserve != nil:
			results = append(results, OperationResult{Index: i, Err: asError(a.acceptReserve(&c, offers, i, *op.Reserve))})
		case op.Unreserve != nil:
			results = append(results, OperationResult{Index: i, Err: asError(a.acceptUnreserve(&c, offers, i, *op.Unreserve))})
		default:
			for _, l := range op.Launch {
				err := a.checkLaunch(&c, offers, named, c.left(), l)
				if err == nil {
					if why, ok := a.withinQuota(c.f.info.Role, scalarsOf(l.Resources)); !ok {
						err = offerErr("accept", offers, l.TaskID, ErrQuotaExceeded, "task %q needs %s (the quota was lowered after the offer); launch less", l.TaskID, why)
					}
				}
				if err == nil {
					a.launch(&c, l)
				}
				results = append(results, OperationResult{Index: i, Task: l.TaskID, Err: asError(err)})
			}
		}
	}
	a.finishAccept(now, &c, refuse)
	return results, nil
}

// asError turns a nil *OfferError into a nil error (not a non-nil interface holding nil).
func asError(e *OfferError) error {
	if e == nil {
		return nil
	}
	return e
}

// acceptance is an accept in progress: its framework and agent, and what its offers, already
// taken back into the agent's free resources, held and the accept has not used yet, by
// part. (The offer ids are passed beside it: held here they would escape with it.) The
// parts are within the agent's free resources of the same kind: unres within the free
// unreserved resources, static and dynamic within the free static and dynamic parts of
// the role's reservation (see reservation).
type acceptance struct {
	f       *frameworkState
	st      *agentState
	offered Resources // the offers' resources together
	// What is left: unreserved, statically and dynamically reserved for the role.
	unres, static, dynamic Resources
}

func (c *acceptance) left() Resources {
	left := c.unres
	if !c.static.IsZero() {
		left = left.Add(c.static)
	}
	if !c.dynamic.IsZero() {
		left = left.Add(c.dynamic)
	}
	return left
}

// take uses r, which fits in what is left, and returns the part of it taken from the
// reservation: the static part first, then the dynamic part, then the unreserved one.
func (c *acceptance) take(r Resources) Resources {
	if c.static.IsZero() && c.dynamic.IsZero() {
		c.unres = c.unres.Sub(r)
		return Resources{}
	}
	s := intersect(r, c.static)
	c.static = c.static.Sub(s)
	rest := r.Sub(s)
	d := intersect(rest, c.dynamic)
	c.dynamic = c.dynamic.Sub(d)
	c.unres = c.unres.Sub(rest.Sub(d))
	return s.Add(d)
}

// takeOffers validates the offers of an accept as a whole and takes back those fw holds
// among them (whether they are valid or not; none if fw is unknown): their resources
// return to the agent's free pool, and c is set to hold what they offered.
func (a *Allocator) takeOffers(c *acceptance, fw FrameworkID, ids []OfferID) error {
	f := a.frameworks[fw]
	if f == nil {
		return offerErr("accept", ids, "", ErrUnknownFramework, "framework %q is not registered; subscribe first", fw)
	}
	if len(ids) == 0 {
		return offerErr("accept", ids, "", ErrNoOffers, "no offer ids given; name the offers you accept")
	}
	held, err := a.heldOffers("accept", fw, ids)
	if err == nil {
		err = a.sameAgent(ids, held)
	}
	c.f = f
	for i, o := range held {
		if i == 0 {
			c.offered = o.Resources
		} else {
			c.offered = c.offered.Add(o.Resources)
		}
		if o.Reserved.IsZero() {
			c.unres = c.unres.Add(o.Resources)
		} else {
			c.unres = c.unres.Add(o.unreserved())
			c.static = c.static.Add(o.Reserved.Sub(o.Dynamic))
			c.dynamic = c.dynamic.Add(o.Dynamic)
		}
		a.removeOffer(o.ID)
	}
	if err != nil {
		return err
	}
	c.st = a.agents[held[0].Agent]
	return nil
}

// launch starts l, which checkLaunch passed, as a task of c's framework on what is left.
func (a *Allocator) launch(c *acceptance, l Launch) {
	res := l.Resources.normalized()
	a.addTask(l.TaskID, c.f, c.st, res, c.take(res))
}

// finishAccept leaves what is left of the accept's offers in the free pool, filtered for
// its framework for refuse.
func (a *Allocator) finishAccept(now time.Time, c *acceptance, refuse time.Duration) {
	if left := c.left(); !left.IsZero() {
		a.refuse(now, c.f, c.st.info.ID, left, refuse)
	}
}

// acceptReserve applies a Reserve operation (the i-th) to c, or says why it cannot.
func (a *Allocator) acceptReserve(c *acceptance, ids []OfferID, i int, res Resources) *OfferError {
	role := c.f.info.Role
	bad := func(sentinel error, format string, args ...any) *OfferError {
		return offerErr("accept", ids, "", sentinel, "operation %d (reserve) "+format, append([]any{i}, args...)...)
	}
	if checkRole(role) != nil {
		return bad(ErrInvalidRole, "by framework %q of role %q: resources are reserved for a named role, not the default role; subscribe with a role", c.f.info.ID, role)
	}
	if err := res.check(); err != nil {
		return bad(ErrInvalidResources, "of %v: %v", res, err)
	}
	res = cloneResources(res).normalized()
	if !c.unres.Contains(res) {
		return bad(ErrOverCommit, "wants %v but the offers' unreserved resources left are %v; reserve unreserved resources of the offers", res, c.unres)
	}
	if res.IsZero() {
		return nil
	}
	c.unres = c.unres.Sub(res)
	c.dynamic = c.dynamic.Add(res)
	a.reserve(c.st, role, res)
	return nil
}

// acceptUnreserve applies an Unreserve operation (the i-th) to c, or says why it cannot.
func (a *Allocator) acceptUnreserve(c *acceptance, ids []OfferID, i int, res Resources) *OfferError {
	role := c.f.info.Role
	bad := func(sentinel error, format string, args ...any) *OfferError {
		return offerErr("accept", ids, "", sentinel, "operation %d (unreserve) "+format, append([]any{i}, args...)...)
	}
	if checkRole(role) != nil {
		return bad(ErrInvalidRole, "by framework %q of role %q: nothing is reserved for the default role", c.f.info.ID, role)
	}
	if err := res.check(); err != nil {
		return bad(ErrInvalidResources, "of %v: %v", res, err)
	}
	res = cloneResources(res).normalized()
	if !c.dynamic.Contains(res) {
		if c.static.Add(c.dynamic).Contains(res) {
			return bad(ErrOverCommit, "wants %v but only %v of the offers' reservation for role %q left is dynamic; the rest is statically reserved (the agent's configuration) and cannot be unreserved", res, c.dynamic, role)
		}
		return bad(ErrOverCommit, "wants %v but the offers hold %v dynamically reserved for role %q that this accept has not used; unreserve dynamically reserved resources of the offers", res, c.dynamic, role)
	}
	if res.IsZero() {
		return nil
	}
	c.dynamic = c.dynamic.Sub(res)
	c.unres = c.unres.Add(res)
	a.unreserve(c.st, role, res)
	return nil
}

// checkLaunch says why l cannot be launched on left, what is left of c's offers ids (nil
// when it can), without changing anything but noting l's id in named, the task ids of the
// accept's launches so far.
func (a *Allocator) checkLaunch(c *acceptance, ids []OfferID, named map[string]bool, left Resources, l Launch) *OfferError {
	bad := func(sentinel error, format string, args ...any) *OfferError {
		return offerErr("accept", ids, l.TaskID, sentinel, format, args...)
	}
	r := l.Resources
	switch {
	case l.TaskID == "":
		return bad(ErrEmptyID, "a launch has an empty task id; give every task an id")
	case named[l.TaskID]:
		return bad(ErrTaskExists, "task id %q is used twice in this accept; task ids must be unique", l.TaskID)
	case a.tasks[l.TaskID] != nil:
		return bad(ErrTaskExists, "task id %q is already in use by a running task; task ids must be unique", l.TaskID)
	}
	named[l.TaskID] = true
	if err := r.check(); err != nil {
		return bad(ErrInvalidResources, "task %q: %v", l.TaskID, err)
	}
	if !(r.CPUs > 0) && !(r.Mem > 0) {
		return bad(ErrInvalidResources, "task %q asks for no cpus and no mem; give it cpus or mem above 0", l.TaskID)
	}
	if n := normalizePorts(r.Ports); (Resources{Ports: n}).NumPorts() != r.NumPorts() {
		return bad(ErrInvalidResources, "task %q lists a port twice (ports [%s]); name each port once", l.TaskID, portsString(r.Ports))
	}
	if !left.Contains(r) {
		return bad(ErrOverCommit, "task %q %s", l.TaskID, shortfall(c.offered, left, r))
	}
	return nil
}

// heldOffers returns the given offers that fw holds, and an error if any of them is
// unknown, listed twice or someone else's.
func (a *Allocator) heldOffers(op string, fw FrameworkID, ids []OfferID) ([]*offerState, error) {
	var held []*offerState
	var first *OfferError
	seen := make(map[OfferID]bool, len(ids))
	for _, id := range ids {
		var err *OfferError
		o := a.offers[id]
		switch {
		case seen[id]:
			err = offerErr(op, ids, "", ErrDuplicateOffer, "offer %s is listed twice; list each offer once", id)
		case o == nil:
			err = offerErr(op, ids, "", ErrUnknownOffer, "offer %s is not outstanding (already accepted, declined or rescinded, or never made); wait for a new offer", id)
		case o.Framework != fw:
			err = offerErr(op, ids, "", ErrNotYourOffer, "offer %s was made to framework %q, not %q", id, o.Framework, fw)
		default:
			held = append(held, o)
		}
		seen[id] = true
		if first == nil {
			first = err
		}
	}
	if first != nil {
		return held, first
	}
	return held, nil
}

func offerErr(op string, ids []OfferID, task string, sentinel error, format string, args ...any) *OfferError {
	return &OfferError{Op: op, Offers: slices.Clone(ids), Task: task, Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

func (a *Allocator) sameAgent(ids []OfferID, held []*offerState) error {
	for _, o := range held[1:] {
		if o.Agent != held[0].Agent {
			return offerErr("accept", ids, "", ErrMixedAgents, "offer %s is on agent %q but offer %s is on agent %q; accept offers of one agent at a time",
				held[0].ID, held[0].Agent, o.ID, o.Agent)
		}
	}
	return nil
}

// shortfall says what of want is not in left, the offers' resources not yet used by earlier
// launches of the same accept.
func shortfall(offered, left, want Resources) string {
	for _, s := range []struct {
		name       string
		want, have float64
	}{{"cpus", want.CPUs, left.CPUs}, {"mem", want.Mem, left.Mem}, {"disk", want.Disk, left.Disk}, {"gpus", float64(want.GPUs), float64(left.GPUs)}} {
		if s.have+epsilon < s.want {
			return fmt.Sprintf("wants %s:%s but the offers have %s:%s left", s.name, fmtAmount(s.want), s.name, fmtAmount(s.have))
		}
	}
	port, _ := firstMissingPort(left.Ports, want.Ports)
	if portsContain(offered.Ports, []PortRange{{port, port}}) {
		return fmt.Sprintf("wants port %d but an earlier task of this accept already uses it", port)
	}
	return fmt.Sprintf("wants port %d but the offers' ports are [%s]; use ports from the offers", port, portsString(offered.Ports))
}
