package allocator

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Offer is an agent's free resources, lent to one framework until it accepts, declines, or
// the offer is rescinded. No resource is in two outstanding offers.
type Offer struct {
	ID        OfferID
	Framework FrameworkID
	Agent     AgentID
	Hostname  string
	// Resources is all that is offered: the agent's unreserved resources and those reserved
	// for Role, together.
	Resources Resources
	// Role is the role the resources are allocated to: the framework's role. Reserved is
	// the part of Resources that is reserved for Role on the agent (zero when none); the
	// rest is unreserved. Tasks launched on the offer use the reserved part first, its
	// static part before its dynamic one.
	Role     string
	Reserved Resources
	// Dynamic is the part of Reserved that is dynamically reserved (Reserve, or a RESERVE
	// of AcceptOperations): what an UNRESERVE may take back. The rest of Reserved is the
	// agent's static reservation (Agent.Reserved).
	//
	// How the two split when the role has both kinds on the agent: a port is static or
	// dynamic by its number, so Dynamic's ports are exactly the dynamically reserved ports
	// of Reserved. Of each scalar, the static reservation is used first, by tasks and
	// offers alike, and the dynamic one only beyond it: Dynamic holds what Reserved holds
	// beyond the static reservation that the role's tasks and other outstanding offers on
	// the agent do not hold when the offer is made. With cpus 2 static and 3 dynamic and a
	// task holding 1 of them, an offer of the free 4 has Dynamic cpus 3; after the task
	// ends, the next offer of its cpu has Dynamic 0.
	Dynamic Resources
	// Attributes is the agent's attribute map, shared: treat it as read-only.
	Attributes map[string]string
	CreatedAt  time.Time
}

// Launch is one task placed by a framework on an accepted offer.
type Launch struct {
	TaskID    string
	Resources Resources // ports named individually, e.g. []PortRange{{31005, 31005}}
}

// Errors of Accept, AcceptOperations and Decline; they arrive wrapped in an *OfferError.
var (
	ErrNoOffers       = errors.New("no offers given")
	ErrUnknownOffer   = errors.New("offer not outstanding")
	ErrNotYourOffer   = errors.New("offer made to another framework")
	ErrDuplicateOffer = errors.New("offer listed twice")
	ErrMixedAgents    = errors.New("offers on different agents")
	// ErrInvalidOperation: an Operation of AcceptOperations sets none or more than one of
	// Reserve, Unreserve and Launch.
	ErrInvalidOperation = errors.New("invalid operation")
)

// OfferError is why an Accept or Decline was refused, or an operation or task of
// AcceptOperations rejected, in terms a framework developer can act on. Err is one of the
// Err... sentinels (errors.Is works through it).
type OfferError struct {
	Op     string    // "accept" or "decline"
	Offers []OfferID // the offers of the call
	Task   string    // the launch at fault, if any
	Err    error
	Detail string // what was wrong and what to do, e.g. `task "web.1" wants cpus:2 but the offers have cpus:1.5 left`
}

func (e *OfferError) Error() string {
	ids := make([]string, len(e.Offers))
	for i, id := range e.Offers {
		ids[i] = string(id)
	}
	switch len(ids) {
	case 0:
		return e.Op + ": " + e.Detail
	case 1:
		return e.Op + " offer " + ids[0] + ": " + e.Detail
	}
	return e.Op + " offers " + strings.Join(ids, ",") + ": " + e.Detail
}

func (e *OfferError) Unwrap() error { return e.Err }

type offerState struct {
	Offer
	seq uint64 // creation order; ids sort by it
}

// unreserved is the offer's unreserved part: Resources minus Reserved.
func (o *offerState) unreserved() Resources {
	if o.Reserved.IsZero() {
		return o.Resources
	}
	return o.Resources.Sub(o.Reserved)
}

// Allocate makes new offers of free, un-offered resources and returns them. Nothing is
// offered while paused (see Pause), nor on deactivated agents (DeactivateAgent). It
// visits, in id order, only the agents whose free resources changed since they were last
// offered. Roles are taken in hierarchical weighted
// DRF order (lowest weighted dominant share first, then name) and, within a role, its
// unsuppressed frameworks likewise (dominant share, then id): an agent's free unreserved
// resources plus the free part of its reservation for the role, cut down to the role's
// quota headroom, go in one offer to the first framework of the first role for which they
// hold at least the minimum allocatable and which no refuse filter of that framework on that
// agent covers (see Decline). While something allocatable is left on the agent (another
// role's reservation, what a quota held back), the next role in order is tried; each role
// gets at most one offer per agent per call. Outstanding offers count toward shares, so one
// round spreads agents over frameworks instead of handing all to one. An agent left with
// something nobody may be offered now (filters, suppression, quota) stays pending and is
// looked at again next call.
func (a *Allocator) Allocate(now time.Time) []Offer {
	if a.paused || len(a.dirty) == 0 || a.unsuppressed == 0 {
		return nil
	}
	a.refreshOrder()
	agents := make([]*agentState, 0, len(a.dirty))
	for _, st := range a.dirty {
		agents = append(agents, st)
	}
	slices.SortFunc(agents, func(x, y *agentState) int { return strings.Compare(string(x.info.ID), string(y.info.ID)) })
	out := make([]Offer, 0, len(agents))
	for _, st := range agents {
		out = a.allocateAgent(now, st, out)
	}
	return out
}

// allocateAgent offers st's free resources as Allocate says and appends the offers to out.
func (a *Allocator) allocateAgent(now time.Time, st *agentState, out []Offer) []Offer {
	a.visit++
	unres := st.unres.free()
	for a.allocatable(unres) || st.reserved != nil {
		var f *frameworkState
		var res, reserved Resources
		for _, r := range a.roleOrder {
			if r.visit == a.visit || len(r.order) == 0 {
				continue
			}
			res, reserved = a.offerable(st, r.name, unres)
			if !a.allocatable(res) {
				continue
			}
			if f = r.first(st.info.ID, res, now); f != nil {
				r.visit = a.visit
				break
			}
		}
		if f == nil {
			break
		}
		out = append(out, a.makeOffer(now, f, st, res, reserved))
		unres = st.unres.free()
	}
	if !a.allocatable(unres) && !a.reservationsPending(st) {
		delete(a.dirty, st.info.ID)
	}
	return out
}

// offerable is what a framework of role may be offered on st, given st's free unreserved
// resources unres: the free part of the role's reservation first, then unres, both cut to
// the role's quota headroom. reserved is the part from the reservation.
func (a *Allocator) offerable(st *agentState, role string, unres Resources) (res, reserved Resources) {
	_, limited := a.quotas[role]
	var room scalars
	if limited {
		room = a.headroom(role)
	}
	if p := st.reserved[role]; p != nil {
		reserved = p.free()
		if limited {
			reserved = capTo(reserved, &room)
		}
	}
	res = unres
	if limited {
		res = capTo(unres, &room)
	}
	if !reserved.IsZero() {
		res = res.Add(reserved)
	}
	return res, reserved
}

// reservationsPending reports whether st has a free reservation worth offering for a role
// that has frameworks; reservations of roles without frameworks wait for AddFramework.
func (a *Allocator) reservationsPending(st *agentState) bool {
	for role, p := range st.reserved {
		if a.roles[role] != nil && a.allocatable(p.free()) {
			return true
		}
	}
	return false
}

// first is r's first framework in DRF order that no refuse filter stops from being offered
// res on agent at now.
func (r *roleState) first(agent AgentID, res Resources, now time.Time) *frameworkState {
	for _, f := range r.order {
		if len(f.refused) == 0 || !f.filtered(agent, res, now) {
			return f
		}
	}
	return nil
}

func (a *Allocator) allocatable(free Resources) bool {
	return (free.CPUs > epsilon && free.CPUs+epsilon >= a.cfg.MinCPUs) ||
		(free.Mem > epsilon && free.Mem+epsilon >= a.cfg.MinMem)
}

func (a *Allocator) makeOffer(now time.Time, f *frameworkState, st *agentState, res, reserved Resources) Offer {
	a.offerSeq++
	role := f.info.Role
	o := Offer{
		ID:         OfferID(a.cfg.OfferIDPrefix + "-" + strconv.FormatUint(a.offerSeq, 10)),
		Framework:  f.info.ID,
		Agent:      st.info.ID,
		Hostname:   st.info.Hostname,
		Resources:  res,
		Role:       role,
		Attributes: st.info.Attributes,
		CreatedAt:  now,
	}
	unreserved := res
	if !reserved.IsZero() {
		r := st.reserved[role]
		o.Reserved = reserved
		o.Dynamic = r.dynamicPart(reserved)
		unreserved = res.Sub(reserved)
		r.offered = r.offered.Add(reserved)
		r.dynOffered = r.dynOffered.Add(o.Dynamic)
	}
	st.unres.offered = st.unres.offered.Add(unreserved)
	a.offers[o.ID] = &offerState{Offer: o, seq: a.offerSeq}
	st.offers = append(st.offers, o.ID)
	f.offers++
	s := scalarsOf(res)
	f.offered = f.offered.plus(s)
	a.consume(role, s, true, true)
	a.changeHeld(f, s, true)
	return o
}

// removeOffers takes offers back (their resources return to the free pool) and returns them
// in id order.
func (a *Allocator) removeOffers(ids []OfferID) []Offer {
	if len(ids) == 0 {
		return nil
	}
	out := make([]Offer, 0, len(ids))
	for _, id := range ids {
		out = append(out, a.removeOffer(id).Offer)
	}
	sortOffers(out)
	return out
}

func (a *Allocator) removeOffer(id OfferID) *offerState {
	o := a.offers[id]
	delete(a.offers, id)
	st := a.agents[o.Agent]
	if i := slices.Index(st.offers, id); i >= 0 {
		st.offers = slices.Delete(st.offers, i, i+1)
	}
	if len(st.offers) == 0 { // no float drift left behind
		st.unres.offered = Resources{}
		for _, r := range st.reserved {
			r.offered, r.dynOffered = Resources{}, Resources{}
		}
	} else {
		st.unres.offered = st.unres.offered.Sub(o.unreserved())
		if !o.Reserved.IsZero() {
			r := st.reserved[o.Role]
			r.offered = r.offered.Sub(o.Reserved)
			r.dynOffered = r.dynOffered.Sub(o.Dynamic)
		}
	}
	a.markDirty(st)
	s := scalarsOf(o.Resources)
	a.consume(o.Role, s, false, true)
	f := a.frameworks[o.Framework]
	f.offers--
	if f.offers == 0 {
		f.offered = scalars{}
	} else {
		f.offered = f.offered.minus(s)
	}
	a.changeHeld(f, s, false)
	return o
}

// offersOf lists f's outstanding offers (in no particular order).
func (a *Allocator) offersOf(f *frameworkState) []OfferID {
	if f.offers == 0 {
		return nil
	}
	ids := make([]OfferID, 0, f.offers)
	for id, o := range a.offers {
		if o.Framework == f.info.ID {
			ids = append(ids, id)
		}
	}
	return ids
}

// sortOffers orders offers by id: by prefix, then numerically by counter, so "O-9" comes
// before "O-10".
func sortOffers(os []Offer) {
	slices.SortFunc(os, func(x, y Offer) int { return compareOfferIDs(x.ID, y.ID) })
}

func compareOfferIDs(x, y OfferID) int {
	xp, xn := splitOfferID(x)
	yp, yn := splitOfferID(y)
	if xp != yp {
		return strings.Compare(xp, yp)
	}
	switch {
	case xn < yn:
		return -1
	case xn > yn:
		return 1
	}
	return strings.Compare(string(x), string(y))
}

func splitOfferID(id OfferID) (string, uint64) {
	s := string(id)
	i := strings.LastIndexByte(s, '-')
	n, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return s, 0
	}
	return s[:i], n
}

// Offers lists the outstanding offers, sorted by id (prefix, then counter).
func (a *Allocator) Offers() []Offer {
	out := make([]Offer, 0, len(a.offers))
	for _, o := range a.offers {
		out = append(out, o.Offer)
	}
	sortOffers(out)
	return out
}

// Offer returns an outstanding offer, and false if id is not outstanding (accepted,
// declined, rescinded, or never made).
func (a *Allocator) Offer(id OfferID) (Offer, bool) {
	if o := a.offers[id]; o != nil {
		return o.Offer, true
	}
	return Offer{}, false
}

// FrameworkOffers lists a framework's outstanding offers, sorted by id (nil for an unknown
// framework or one that holds none).
func (a *Allocator) FrameworkOffers(fw FrameworkID) []Offer {
	f := a.frameworks[fw]
	if f == nil || f.offers == 0 {
		return nil
	}
	out := make([]Offer, 0, f.offers)
	for _, id := range a.offersOf(f) {
		out = append(out, a.offers[id].Offer)
	}
	sortOffers(out)
	return out
}

// refuse installs a refuse filter: no offers to f on agent that are contained in res before
// now+d (d 0 means DefaultRefuse, negative means no filter). A filter already covering res
// for longer makes it redundant; filters it covers are replaced.
func (a *Allocator) refuse(now time.Time, f *frameworkState, agent AgentID, res Resources, d time.Duration) {
	if d == 0 {
		d = a.cfg.DefaultRefuse
	}
	if d <= 0 {
		return
	}
	until := now.Add(d)
	filters := f.refused[agent]
	for _, r := range filters {
		if !r.until.Before(until) && r.res.Contains(res) {
			return
		}
	}
	filters = slices.DeleteFunc(filters, func(r refusal) bool {
		return !now.Before(r.until) || (!until.Before(r.until) && res.Contains(r.res))
	})
	f.refused[agent] = append(filters, refusal{res: cloneResources(res), until: until})
}

// Decline returns offers fw holds to the free pool, each with a refuse filter for fw on its
// agent covering the offer's resources (refuse 0 means Config.DefaultRefuse, negative means
// no filter). As in Mesos, the filter covers only what was declined: the declined resources
// go to other frameworks at once, and fw itself is offered the agent again before the
// filter runs out if more is free there than it declined. Offers it does not hold (already
// gone, or someone else's) are skipped and reported in the error; the others are declined
// anyway.
func (a *Allocator) Decline(now time.Time, fw FrameworkID, offers []OfferID, refuse time.Duration) error {
	f := a.frameworks[fw]
	if f == nil {
		return offerErr("decline", offers, "", ErrUnknownFramework, "framework %q is not registered; subscribe first", fw)
	}
	held, err := a.heldOffers("decline", fw, offers)
	for _, o := range held {
		a.removeOffer(o.ID)
		a.refuse(now, f, o.Agent, o.Resources, refuse)
	}
	return err
}

// Expire rescinds offers made OfferTimeout or longer before now and returns them (sorted by
// id), and drops refuse filters that have run out.
func (a *Allocator) Expire(now time.Time) []Offer {
	var expired []OfferID
	if t := a.cfg.OfferTimeout; t > 0 {
		for id, o := range a.offers {
			if !now.Before(o.CreatedAt.Add(t)) {
				expired = append(expired, id)
			}
		}
	}
	for _, f := range a.frameworks {
		for agent, filters := range f.refused {
			filters = slices.DeleteFunc(filters, func(r refusal) bool { return !now.Before(r.until) })
			if len(filters) == 0 {
				delete(f.refused, agent)
			} else {
				f.refused[agent] = filters
			}
		}
	}
	return a.removeOffers(expired)
}
