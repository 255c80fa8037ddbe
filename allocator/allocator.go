// Package allocator decides who gets what: it shares the cluster's agents among frameworks
// by hierarchical weighted Dominant Resource Fairness over roles and frameworks, within each
// role's quota limit (SetQuota) and honouring reservations of an agent's resources for a
// role (Agent.Reserved, Reserve, Unreserve); it makes resource offers and keeps their
// filters (refuse, suppress, offer timeout, Pause after a leader change, agents the
// operator deactivated), and validates the accepts that turn offers into tasks and
// reservations (Accept, AcceptOperations), so that no resource is ever offered twice or
// committed beyond an agent's total.
//
// Allocate keeps roles and frameworks in DRF order incrementally (sorted by cached dominant
// share, moved when what they hold changes), so a cycle costs about O(agents × log
// frameworks), not O(agents × frameworks): see BenchmarkAllocateCycle10kAgents1kFrameworks.
//
// It is the pure core of two-level scheduling, run on the Raft leader and driven by the
// node: it must not do I/O, read the clock (every method that needs the time takes now),
// use randomness or start goroutines, and it imports no other clusterd package (it owns
// its input types; the node translates). The same sequence of calls always gives the same
// results, so it is tested alone, step by step.
package allocator

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// AgentID names an agent (a machine that runs tasks).
type AgentID string

// FrameworkID names a framework (a scheduler that accepts offers and launches tasks).
type FrameworkID string

// OfferID names an offer; ids are unique across leader terms (see Config.OfferIDPrefix).
type OfferID string

// Agent is a machine's capacity as the allocator sees it.
type Agent struct {
	ID       AgentID
	Hostname string
	Total    Resources
	// Attributes are handed out with every offer of this agent: treat them as read-only.
	Attributes map[string]string
	// Reserved is the agent's static reservations: role → resources carved out of Total
	// (an agent's --resources "cpus(analytics):4"). Reserved resources are offered only to
	// frameworks of their role and count toward its share and quota once allocated or
	// offered. Their sum must fit in Total; "" and "*" are not roles one reserves for.
	// Dynamic reservations (Reserve) come on top and are kept apart: see Reserve.
	// UpdateAgent replaces the static reservations with its argument's, so pass them on
	// every update.
	Reserved map[string]Resources
}

// Framework is a registered scheduler.
type Framework struct {
	ID   FrameworkID
	Name string
	Role string // "*" is the default role; empty means "*"
}

// DefaultRole is the role of frameworks that name none.
const DefaultRole = "*"

// Config is the allocator's tuning. Start from DefaultConfig and change a few fields.
type Config struct {
	// DefaultRefuse is how long resources declined (or left unused by an accept) are not
	// re-offered to that framework on that agent (Mesos default 5s).
	DefaultRefuse time.Duration
	// OfferTimeout rescinds offers older than this in Expire; 0 disables.
	OfferTimeout time.Duration
	// MinCPUs and MinMem are the minimum allocatable: an agent's free resources are offered
	// only if they hold at least MinCPUs CPUs or at least MinMem MiB of memory (Mesos: cpus
	// 0.01 or mem 32), so crumbs too small for any task are not offered around.
	MinCPUs float64
	MinMem  float64
	// OfferIDPrefix makes offer ids unique across leader terms (the node passes e.g. the raft
	// term). Offer ids are OfferIDPrefix + "-" + counter; an empty prefix means "O".
	OfferIDPrefix string
}

// DefaultConfig is Mesos's defaults: refuse 5s, no offer timeout, minimum allocatable cpus
// 0.01 or mem 32 MiB, offer ids "O-1", "O-2", ...
func DefaultConfig() Config {
	return Config{DefaultRefuse: 5 * time.Second, MinCPUs: 0.01, MinMem: 32, OfferIDPrefix: "O"}
}

// Validate reports a setting New would have to guess about. New does not call it (it cannot
// fail); the node should, once, at start.
func (c Config) Validate() error {
	switch {
	case c.DefaultRefuse < 0:
		return fmt.Errorf("allocator config: DefaultRefuse %v is negative; use 0 for no filter", c.DefaultRefuse)
	case c.OfferTimeout < 0:
		return fmt.Errorf("allocator config: OfferTimeout %v is negative; use 0 to disable", c.OfferTimeout)
	case !(c.MinCPUs >= 0) || !(c.MinMem >= 0):
		return fmt.Errorf("allocator config: MinCPUs %v and MinMem %v must be non-negative", c.MinCPUs, c.MinMem)
	}
	return nil
}

// Allocator holds the leader's soft state of who holds what: agents, frameworks, the
// resources committed to tasks, outstanding offers and their filters. It is not safe for
// concurrent use: the node calls it from one goroutine.
type Allocator struct {
	cfg        Config
	agents     map[AgentID]*agentState
	frameworks map[FrameworkID]*frameworkState
	roles      map[string]*roleState
	roleNames  []string // sorted keys of roles
	weights    map[string]float64
	usage      map[FrameworkID]*usage // by framework, registered or not
	tasks      map[string]*task
	offers     map[OfferID]*offerState
	// dirty holds every active agent whose free resources may be worth offering: an agent
	// enters it (markDirty) whenever its free resources grow and leaves it when Allocate
	// offers them or finds them below the minimum allocatable. Allocate looks at these agents
	// only; one that no framework may be offered (filters, suppression, quota) stays for the
	// next call. Free reservations of a role without frameworks do not keep an agent here:
	// AddFramework brings the agent back (see reservedAgents). A deactivated agent is never
	// here: DeactivateAgent takes it out, markDirty leaves it out, ActivateAgent puts it back.
	dirty        map[AgentID]*agentState
	total        scalars // the sum of all agents' totals
	offerSeq     uint64
	unsuppressed int // registered frameworks that are not suppressed

	// roleOrder is the roles with registered frameworks in DRF order (weighted share, then
	// name); each role keeps its unsuppressed frameworks in DRF order too. Keys are cached
	// and moved incrementally when a framework's holdings change, so Allocate does not scan
	// every framework per agent. stale means the cluster total or a weight changed, which
	// changes every key: the order is rebuilt before it is next used.
	roleOrder []*roleState
	stale     bool
	visit     uint64 // Allocate's agent visit counter (see roleState.visit)

	quotas   map[string]scalars  // role → limit; a zero kind is unlimited
	consumed map[string]*roleUse // role → what its tasks and offers hold, registered or not
	// reservedAgents indexes the agents holding reservations for a role, so that they are
	// looked at again when the role's first framework registers.
	reservedAgents map[string]map[AgentID]struct{}
	paused         bool
}

type agentState struct {
	info     Agent                   // info.Reserved holds the static reservations
	unres    pool                    // the resources not reserved for any role
	reserved map[string]*reservation // role → its reservations (static and dynamic); nil when none
	tasks    map[string]struct{}     // nil until the first task
	offers   []OfferID               // outstanding, in no particular order (few per agent)
	inactive bool                    // deactivated (DeactivateAgent): not offered, not in dirty
}

// pool is one part of an agent: its unreserved resources, or those reserved for one role.
// Every resource of the part is in exactly one of allocated, offered or free.
type pool struct {
	total, allocated, offered Resources
}

func (p *pool) free() Resources {
	if p.allocated.IsZero() && p.offered.IsZero() {
		return p.total
	}
	return p.total.Sub(p.allocated).Sub(p.offered)
}

// reservation is a role's reserved part of an agent: a pool whose total is the role's static
// reservation there (Agent.Reserved) plus its dynamic one (Reserve), kept apart so that
// offers say which is which (Offer.Dynamic) and only dynamic resources are unreserved.
//
// A port is static or dynamic by its number. Scalars are not told apart by identity, so
// their split is a convention: the static reservation is used first and the dynamic one
// only beyond it. Offers record their dynamic part when made (dynOffered sums them); what
// tasks hold of the dynamic reservation is derived: of each scalar, what they hold beyond
// the static reservation not in offers (see freeDynamic). Hence the static part offered,
// offered − dynOffered, never exceeds the static reservation, and dynOffered never exceeds
// dynamic.
type reservation struct {
	pool
	dynamic    Resources // the part of total reserved by Reserve
	dynOffered Resources // the dynamic part of offered: the sum of its offers' Dynamic
}

// freeDynamic is the part of the dynamic reservation that neither tasks nor offers hold:
// what may be unreserved now.
func (r *reservation) freeDynamic() Resources {
	if r.dynamic.IsZero() {
		return Resources{}
	}
	// The static reservation not in offers is what tasks use first; they hold dynamic
	// scalars only beyond it, and dynamic ports by number.
	staticLeft := r.total.Sub(r.dynamic).Sub(r.offered.Sub(r.dynOffered))
	tasks := r.allocated.Sub(intersect(r.allocated, staticLeft))
	return r.dynamic.Sub(r.dynOffered).Sub(tasks)
}

// dynamicPart is the dynamic part of x, free resources of r, taken static first.
func (r *reservation) dynamicPart(x Resources) Resources {
	if r.dynamic.IsZero() {
		return Resources{}
	}
	freeStatic := r.free().Sub(r.freeDynamic())
	return x.Sub(intersect(x, freeStatic))
}

type frameworkState struct {
	info       Framework
	role       *roleState
	key        float64 // dominant share when last placed in role.order
	used       *usage
	offered    scalars // sum of its outstanding offers
	offers     int     // how many outstanding offers it holds
	suppressed bool
	// refused holds refuse filters by agent: no offer on that agent that is contained in a
	// filter's resources before its time runs out.
	refused map[AgentID][]refusal
}

type refusal struct {
	res   Resources
	until time.Time
}

type roleState struct {
	name       string
	frameworks []*frameworkState // all registered, sorted by id
	order      []*frameworkState // unsuppressed, by (key, id)
	held       scalars           // the sum of its frameworks' held()
	key        float64           // weighted dominant share when last placed in roleOrder
	visit      uint64            // the agent visit in which this role was last offered
}

// roleUse is what a role's tasks and what its outstanding offers hold (together, its quota
// consumption).
type roleUse struct {
	tasks, offers tally
}

func (u *roleUse) sum() scalars { return u.tasks.sum.plus(u.offers.sum) }

// tally is a sum of n amounts, reset to an exact zero when the last one goes.
type tally struct {
	sum scalars
	n   int
}

func (t *tally) change(s scalars, add bool) {
	switch {
	case add:
		t.sum = t.sum.plus(s)
		t.n++
	case t.n <= 1:
		*t = tally{}
	default:
		t.sum = t.sum.minus(s)
		t.n--
	}
}

type task struct {
	fw       FrameworkID
	role     string
	agent    AgentID
	res      Resources
	reserved Resources // the part of res taken from the role's reservation on the agent
}

// New returns an empty allocator.
func New(cfg Config) *Allocator {
	if cfg.OfferIDPrefix == "" {
		cfg.OfferIDPrefix = "O"
	}
	return &Allocator{
		cfg:        cfg,
		agents:     map[AgentID]*agentState{},
		frameworks: map[FrameworkID]*frameworkState{},
		roles:      map[string]*roleState{},
		weights:    map[string]float64{},
		usage:      map[FrameworkID]*usage{},
		tasks:      map[string]*task{},
		offers:     map[OfferID]*offerState{},
		dirty:      map[AgentID]*agentState{},

		quotas:         map[string]scalars{},
		consumed:       map[string]*roleUse{},
		reservedAgents: map[string]map[AgentID]struct{}{},
	}
}

// Errors callers branch on. Returned errors wrap them (use errors.Is) and add what was wrong.
var (
	ErrAgentExists      = errors.New("agent already exists")
	ErrUnknownAgent     = errors.New("unknown agent")
	ErrFrameworkExists  = errors.New("framework already exists")
	ErrUnknownFramework = errors.New("unknown framework")
	ErrTaskExists       = errors.New("task id already in use")
	ErrEmptyID          = errors.New("empty id")
	ErrInvalidWeight    = errors.New("invalid role weight")
	ErrInvalidResources = errors.New("invalid resources")
	ErrInvalidRole      = errors.New("invalid role")
	// ErrQuotaExceeded: the launch would take its role beyond its quota limit.
	ErrQuotaExceeded = errors.New("quota exceeded")
	// ErrOverCommit: the resources asked for are not free (AddTask, Reserve), not in the
	// offers (Accept, AcceptOperations), or not a free dynamic reservation (Unreserve).
	// The allocator never commits more than an agent has.
	ErrOverCommit = errors.New("resources not available")
)

// AddAgent starts offering ag's resources. It fails if the id is taken, the total is not a
// valid amount, or the static reservations name "" or "*" or do not fit in the total.
func (a *Allocator) AddAgent(ag Agent) error {
	if ag.ID == "" {
		return fmt.Errorf("add agent: %w", ErrEmptyID)
	}
	if _, ok := a.agents[ag.ID]; ok {
		return fmt.Errorf("add agent %q: %w", ag.ID, ErrAgentExists)
	}
	if err := ag.Total.check(); err != nil {
		return fmt.Errorf("add agent %q: total %w: %w", ag.ID, err, ErrInvalidResources)
	}
	var sum Resources
	for _, role := range slices.Sorted(maps.Keys(ag.Reserved)) {
		res := ag.Reserved[role]
		if err := checkRole(role); err != nil {
			return fmt.Errorf("add agent %q: reservation: %w", ag.ID, err)
		}
		if err := res.check(); err != nil {
			return fmt.Errorf("add agent %q: reservation for role %q: %w: %w", ag.ID, role, err, ErrInvalidResources)
		}
		sum = sum.Add(res)
	}
	if !ag.Total.Contains(sum) {
		return fmt.Errorf("add agent %q: reservations %v do not fit in the total %v: %w", ag.ID, sum, ag.Total, ErrInvalidResources)
	}
	a.addAgent(ag)
	return nil
}

func checkRole(role string) error {
	if role == "" || role == DefaultRole {
		return fmt.Errorf("role %q: resources are reserved for a named role, not the default role: %w", role, ErrInvalidRole)
	}
	return nil
}

func (a *Allocator) addAgent(ag Agent) {
	st := &agentState{}
	a.agents[ag.ID] = st
	a.setInfo(st, ag)
	a.total = a.total.plus(scalarsOf(ag.Total))
	a.stale = true
	a.markDirty(st)
}

// markDirty notes that st's free resources may be worth offering, unless st is deactivated.
func (a *Allocator) markDirty(st *agentState) {
	if !st.inactive {
		a.dirty[st.info.ID] = st
	}
}

// setInfo installs ag (a valid agent) as st's description and rebuilds st's pools: static
// reservations from ag, dynamic ones kept while they still fit (in role order), and the
// tasks' resources counted again in the pools they came from (what of a task's reserved
// part its role's reservation no longer holds counts as unreserved). st has no outstanding
// offers; its activation is kept.
func (a *Allocator) setInfo(st *agentState, ag Agent) {
	ag.Total = cloneResources(ag.Total).normalized()
	ag.Attributes = maps.Clone(ag.Attributes)
	static := map[string]Resources{}
	for role, res := range ag.Reserved {
		if !res.IsZero() {
			static[role] = cloneResources(res).normalized()
		}
	}
	ag.Reserved = nil
	if len(static) > 0 {
		ag.Reserved = static
	}
	var dynamic map[string]Resources
	for role, r := range st.reserved {
		if !r.dynamic.IsZero() {
			if dynamic == nil {
				dynamic = map[string]Resources{}
			}
			dynamic[role] = r.dynamic
		}
		a.unindexReservation(role, ag.ID)
	}
	st.info = ag
	st.reserved = nil
	left := ag.Total
	for _, role := range slices.Sorted(maps.Keys(static)) {
		a.reservedPool(st, role).total = static[role]
		left = left.Sub(static[role])
	}
	for _, role := range slices.Sorted(maps.Keys(dynamic)) {
		res := dynamic[role]
		if !left.Contains(res) {
			continue // dropped
		}
		r := a.reservedPool(st, role)
		r.total = r.total.Add(res)
		r.dynamic = res
		left = left.Sub(res)
	}
	st.unres = pool{total: left}
	for _, id := range slices.Sorted(maps.Keys(st.tasks)) {
		t := a.tasks[id]
		// What is left of the task's reservation keeps it; the rest becomes unreserved.
		if p := st.reserved[t.role]; p != nil && !t.reserved.IsZero() {
			t.reserved = intersect(t.reserved, p.total.Sub(p.allocated))
			p.allocated = p.allocated.Add(t.reserved)
		} else {
			t.reserved = Resources{}
		}
		st.unres.allocated = st.unres.allocated.Add(t.res.Sub(t.reserved))
	}
}

// reservedPool returns st's reservation for role, creating it (and indexing it) if needed.
func (a *Allocator) reservedPool(st *agentState, role string) *reservation {
	if p := st.reserved[role]; p != nil {
		return p
	}
	if st.reserved == nil {
		st.reserved = map[string]*reservation{}
	}
	p := &reservation{}
	st.reserved[role] = p
	idx := a.reservedAgents[role]
	if idx == nil {
		idx = map[AgentID]struct{}{}
		a.reservedAgents[role] = idx
	}
	idx[st.info.ID] = struct{}{}
	return p
}

func (a *Allocator) unindexReservation(role string, id AgentID) {
	if idx := a.reservedAgents[role]; idx != nil {
		delete(idx, id)
		if len(idx) == 0 {
			delete(a.reservedAgents, role)
		}
	}
}

// UpdateAgent replaces an agent's total, attributes and static reservations and rescinds
// its outstanding offers, which described the old agent; they are returned so the node can
// tell their frameworks. An unknown agent is added (an empty id is ignored). Its tasks
// stay: if the new total is smaller than what they hold, nothing more is offered there
// until enough of them end. Dynamic reservations (Reserve) stay while they fit beside the
// static ones; one that no longer fits is dropped. An invalid total (negative or NaN
// amounts, a port range ending before it begins) is cleaned: such amounts count as zero and
// such ranges are dropped; so are reservations for "" or "*" and static reservations that
// do not fit (in role order).
func (a *Allocator) UpdateAgent(ag Agent) []Offer {
	if ag.ID == "" {
		return nil
	}
	ag.Total = sanitize(ag.Total)
	var reserved map[string]Resources
	left := ag.Total
	for _, role := range slices.Sorted(maps.Keys(ag.Reserved)) {
		res := sanitize(ag.Reserved[role])
		if checkRole(role) != nil || !left.Contains(res) {
			continue
		}
		if reserved == nil {
			reserved = map[string]Resources{}
		}
		reserved[role] = res
		left = left.Sub(res)
	}
	ag.Reserved = reserved
	st, ok := a.agents[ag.ID]
	if !ok {
		a.addAgent(ag)
		return nil
	}
	rescinded := a.removeOffers(slices.Clone(st.offers))
	a.total = a.total.minus(scalarsOf(st.info.Total)).plus(scalarsOf(ag.Total))
	a.stale = true
	a.setInfo(st, ag)
	a.markDirty(st)
	return rescinded
}

// DeactivateAgent stops offering an agent's resources (Mesos DEACTIVATE_AGENT, and
// DRAIN_AGENT while its tasks are killed): its outstanding offers are rescinded and
// returned, sorted by id, so the node can tell their frameworks; its tasks stay allocated
// and keep counting toward shares and quota; Allocate skips the agent until ActivateAgent.
// Everything else works on it as usual: RemoveTask, AddTask, Reserve, Unreserve, and
// UpdateAgent, which keeps it deactivated. An unknown agent, or one already deactivated,
// gives nil and nothing changes.
func (a *Allocator) DeactivateAgent(id AgentID) []Offer {
	st, ok := a.agents[id]
	if !ok || st.inactive {
		return nil
	}
	st.inactive = true
	rescinded := a.removeOffers(slices.Clone(st.offers))
	delete(a.dirty, id)
	return rescinded
}

// ActivateAgent offers a deactivated agent's free resources again from the next Allocate
// (Mesos REACTIVATE_AGENT). An unknown or active agent is left as it is.
func (a *Allocator) ActivateAgent(id AgentID) {
	if st, ok := a.agents[id]; ok && st.inactive {
		st.inactive = false
		a.markDirty(st)
	}
}

// AgentActive reports whether an agent is known and not deactivated.
func (a *Allocator) AgentActive(id AgentID) bool {
	st, ok := a.agents[id]
	return ok && !st.inactive
}

// RemoveAgent forgets an agent. Its outstanding offers are rescinded and returned; its tasks
// are forgotten and their resources vanish with it (the node marks the tasks lost), and so
// do its reservations.
func (a *Allocator) RemoveAgent(id AgentID) []Offer {
	st, ok := a.agents[id]
	if !ok {
		return nil
	}
	rescinded := a.removeOffers(slices.Clone(st.offers))
	for _, tid := range slices.Sorted(maps.Keys(st.tasks)) {
		a.removeTask(tid)
	}
	for _, f := range a.frameworks {
		delete(f.refused, id)
	}
	for role := range st.reserved {
		a.unindexReservation(role, id)
	}
	delete(a.agents, id)
	delete(a.dirty, id)
	if len(a.agents) == 0 {
		a.total = scalars{} // no float drift left behind
	} else {
		a.total = a.total.minus(scalarsOf(st.info.Total))
	}
	a.stale = true
	return rescinded
}

// AddFramework registers a framework; it is offered resources from the next Allocate. Tasks
// it already had (it was removed and came back) count toward its share again.
func (a *Allocator) AddFramework(fw Framework) error {
	if fw.ID == "" {
		return fmt.Errorf("add framework: %w", ErrEmptyID)
	}
	if _, ok := a.frameworks[fw.ID]; ok {
		return fmt.Errorf("add framework %q: %w", fw.ID, ErrFrameworkExists)
	}
	if fw.Role == "" {
		fw.Role = DefaultRole
	}
	u := a.usage[fw.ID]
	if u == nil {
		u = &usage{}
		a.usage[fw.ID] = u
	}
	r := a.roles[fw.Role]
	if r == nil {
		r = &roleState{name: fw.Role}
		a.roles[fw.Role] = r
		a.roleNames = insertSorted(a.roleNames, fw.Role)
		r.key = a.roleKey(r)
		a.insertRole(r)
		// Agents holding reservations for the role left the pending set when nobody could
		// use them: look at them again.
		for id := range a.reservedAgents[fw.Role] {
			a.markDirty(a.agents[id])
		}
	}
	f := &frameworkState{info: fw, role: r, used: u, refused: map[AgentID][]refusal{}}
	a.frameworks[fw.ID] = f
	a.unsuppressed++
	i, _ := slices.BinarySearchFunc(r.frameworks, fw.ID, byID)
	r.frameworks = slices.Insert(r.frameworks, i, f)
	f.key = a.frameworkKey(f)
	r.insert(f, a.stale)
	a.changeHeld(f, u.sum, true)
	return nil
}

// RemoveFramework unregisters a framework and rescinds (returns) its outstanding offers. Its
// tasks' resources stay allocated until RemoveTask.
func (a *Allocator) RemoveFramework(id FrameworkID) []Offer {
	f, ok := a.frameworks[id]
	if !ok {
		return nil
	}
	rescinded := a.removeOffers(a.offersOf(f))
	if !f.suppressed {
		a.unsuppressed--
		f.role.remove(f, a.stale)
		f.suppressed = true // out of the order for good: changeHeld must not put it back
	}
	a.changeHeld(f, f.used.sum, false)
	delete(a.frameworks, id)
	if f.used.tasks == 0 {
		delete(a.usage, id)
	}
	r := f.role
	if i, found := slices.BinarySearchFunc(r.frameworks, id, byID); found {
		r.frameworks = slices.Delete(r.frameworks, i, i+1)
	}
	if len(r.frameworks) == 0 {
		a.removeRole(r)
		delete(a.roles, r.name)
		a.roleNames = removeSorted(a.roleNames, r.name)
	}
	return rescinded
}

// FrameworkRole returns a registered framework's role ("*" when it named none), and false
// for a framework that is not registered.
func (a *Allocator) FrameworkRole(id FrameworkID) (string, bool) {
	if f := a.frameworks[id]; f != nil {
		return f.info.Role, true
	}
	return "", false
}

// SetRoleWeight sets a role's weight (default 1): a role of weight 2 gets about twice the
// dominant share of a role of weight 1 when both want more. The weight must be > 0.
func (a *Allocator) SetRoleWeight(role string, weight float64) error {
	if !(weight > 0) || math.IsInf(weight, 0) {
		return fmt.Errorf("set weight of role %q: %v is not a positive number: %w", role, weight, ErrInvalidWeight)
	}
	if role == "" {
		role = DefaultRole
	}
	a.weights[role] = weight
	a.stale = true
	return nil
}

// Suppress stops offers to a framework until Revive (it has nothing to launch). Its
// outstanding offers stay.
func (a *Allocator) Suppress(fw FrameworkID) {
	if f, ok := a.frameworks[fw]; ok && !f.suppressed {
		f.suppressed = true
		a.unsuppressed--
		f.role.remove(f, a.stale)
	}
}

// Revive clears a framework's suppression and all its refuse filters: it wants offers again
// from the next Allocate.
func (a *Allocator) Revive(fw FrameworkID) {
	f, ok := a.frameworks[fw]
	if !ok {
		return
	}
	if f.suppressed {
		f.suppressed = false
		a.unsuppressed++
		f.key = a.frameworkKey(f)
		f.role.insert(f, a.stale)
	}
	clear(f.refused)
}

// Pause stops Allocate from making offers until Resume; everything else works as usual
// (accepts, declines, tasks, expiry). The node pauses after a leader change until most
// agents have re-registered or a timeout passes, so nothing is offered against a
// half-rebuilt state. Agents whose resources free up meanwhile are offered after Resume.
func (a *Allocator) Pause() { a.paused = true }

// Resume lets Allocate make offers again.
func (a *Allocator) Resume() { a.paused = false }

// Paused reports whether offers are paused.
func (a *Allocator) Paused() bool { return a.paused }

// AddTask records resources already committed to a task: when a new leader rebuilds from
// replicated state, and inside Accept. It fails if the agent or framework is unknown, the
// task id is in use, or the agent's free resources the framework may use (its role's free
// reservation, taken first, plus the free unreserved resources) do not contain res: the
// allocator never over-commits, so the node must rescind offers before re-adding tasks that
// would need their resources.
//
// Quota is not checked: a committed task exists, so it is recorded even when it takes its
// role beyond its limit (the quota was lowered, or the tasks came from an older leader);
// the role is then offered nothing until it is back under its limit.
func (a *Allocator) AddTask(taskID string, fw FrameworkID, agent AgentID, res Resources) error {
	st, ok := a.agents[agent]
	f := a.frameworks[fw]
	switch {
	case taskID == "":
		return fmt.Errorf("add task: %w", ErrEmptyID)
	case !ok:
		return fmt.Errorf("add task %q: agent %q: %w", taskID, agent, ErrUnknownAgent)
	case f == nil:
		return fmt.Errorf("add task %q: framework %q: %w", taskID, fw, ErrUnknownFramework)
	case a.tasks[taskID] != nil:
		return fmt.Errorf("add task %q: %w", taskID, ErrTaskExists)
	}
	if err := res.check(); err != nil {
		return fmt.Errorf("add task %q: %w: %w", taskID, err, ErrInvalidResources)
	}
	res = res.normalized()
	var fromReserved Resources
	if p := st.reserved[f.info.Role]; p != nil {
		fromReserved = intersect(res, p.free())
	}
	if rest := res.Sub(fromReserved); !st.unres.free().Contains(rest) {
		return fmt.Errorf("add task %q on agent %q: it needs %v but only %v is free for role %q: %w",
			taskID, agent, res, a.freeFor(st, f.info.Role), f.info.Role, ErrOverCommit)
	}
	a.addTask(taskID, f, st, res, fromReserved)
	return nil
}

// freeFor is what of st a framework of role may use: the free unreserved resources and the
// free part of the role's reservation.
func (a *Allocator) freeFor(st *agentState, role string) Resources {
	free := st.unres.free()
	if p := st.reserved[role]; p != nil {
		free = free.Add(p.free())
	}
	return free
}

// addTask records a task of f on st whose part fromReserved comes from f's role's
// reservation and the rest from the unreserved resources.
func (a *Allocator) addTask(id string, f *frameworkState, st *agentState, res, fromReserved Resources) {
	res = cloneResources(res).normalized()
	role := f.info.Role
	t := &task{fw: f.info.ID, role: role, agent: st.info.ID, res: res}
	if fromReserved.IsZero() {
		st.unres.allocated = st.unres.allocated.Add(res)
	} else {
		t.reserved = fromReserved
		p := st.reserved[role]
		p.allocated = p.allocated.Add(fromReserved)
		st.unres.allocated = st.unres.allocated.Add(res.Sub(fromReserved))
	}
	a.tasks[id] = t
	if st.tasks == nil {
		st.tasks = map[string]struct{}{}
	}
	st.tasks[id] = struct{}{}
	s := scalarsOf(res)
	u := f.used
	u.sum = u.sum.plus(s)
	u.tasks++
	a.consume(role, s, true, false)
	a.changeHeld(f, s, true)
}

// RemoveTask frees a task's resources (it ended) and reports whether the task was known. The
// freed resources are offered at the next Allocate.
func (a *Allocator) RemoveTask(taskID string) bool {
	t, ok := a.tasks[taskID]
	if !ok {
		return false
	}
	a.removeTask(taskID)
	a.markDirty(a.agents[t.agent])
	return true
}

func (a *Allocator) removeTask(id string) {
	t := a.tasks[id]
	delete(a.tasks, id)
	st := a.agents[t.agent]
	delete(st.tasks, id)
	if len(st.tasks) == 0 { // no float drift left behind
		st.unres.allocated = Resources{}
		for _, p := range st.reserved {
			p.allocated = Resources{}
		}
	} else if t.reserved.IsZero() {
		st.unres.allocated = st.unres.allocated.Sub(t.res)
	} else {
		p := st.reserved[t.role]
		p.allocated = p.allocated.Sub(t.reserved)
		st.unres.allocated = st.unres.allocated.Sub(t.res.Sub(t.reserved))
	}
	s := scalarsOf(t.res)
	a.consume(t.role, s, false, false)
	u := a.usage[t.fw]
	u.tasks--
	f := a.frameworks[t.fw]
	switch {
	case u.tasks > 0:
		u.sum = u.sum.minus(s)
	case f != nil:
		u.sum = scalars{}
	default:
		delete(a.usage, t.fw)
	}
	if f != nil {
		a.changeHeld(f, s, false)
	}
}

// free is what an agent has neither committed to tasks nor offered, reserved or not.
func (a *Allocator) free(st *agentState) Resources {
	free := st.unres.free()
	for _, role := range slices.Sorted(maps.Keys(st.reserved)) {
		free = free.Add(st.reserved[role].free())
	}
	return free
}

// AgentAllocated is what an agent's tasks hold (zero for an unknown agent).
func (a *Allocator) AgentAllocated(id AgentID) Resources {
	st, ok := a.agents[id]
	if !ok {
		return Resources{}
	}
	sum := st.unres.allocated
	for _, role := range slices.Sorted(maps.Keys(st.reserved)) {
		sum = sum.Add(st.reserved[role].allocated)
	}
	return sum
}

// AgentOffered is what an agent's outstanding offers hold.
func (a *Allocator) AgentOffered(id AgentID) Resources {
	st, ok := a.agents[id]
	if !ok {
		return Resources{}
	}
	sum := st.unres.offered
	for _, role := range slices.Sorted(maps.Keys(st.reserved)) {
		sum = sum.Add(st.reserved[role].offered)
	}
	return sum
}

// AgentFree is what an agent holds that is neither allocated nor offered.
func (a *Allocator) AgentFree(id AgentID) Resources {
	if st, ok := a.agents[id]; ok {
		return a.free(st)
	}
	return Resources{}
}

func cloneResources(r Resources) Resources {
	r.Ports = slices.Clone(r.Ports)
	return r
}

// intersect is what x and y have in common: the smaller of each scalar and the ports in both.
func intersect(x, y Resources) Resources {
	out := Resources{CPUs: min(x.CPUs, y.CPUs), Mem: min(x.Mem, y.Mem), Disk: min(x.Disk, y.Disk), GPUs: min(x.GPUs, y.GPUs)}
	if len(x.Ports) > 0 && len(y.Ports) > 0 {
		out.Ports = subtractPorts(x.Ports, subtractPorts(x.Ports, y.Ports))
	}
	out.CPUs, out.Mem, out.Disk = max(out.CPUs, 0), max(out.Mem, 0), max(out.Disk, 0)
	return out
}

// sanitize makes r a valid amount: negative or NaN amounts become zero, infinite ones and
// invalid port ranges are dropped.
func sanitize(r Resources) Resources {
	clean := func(v float64) float64 {
		if !(v > 0) || math.IsInf(v, 0) {
			return 0
		}
		return v
	}
	r.CPUs, r.Mem, r.Disk, r.GPUs = clean(r.CPUs), clean(r.Mem), clean(r.Disk), max(r.GPUs, 0)
	r.Ports = normalizePorts(r.Ports)
	return r
}

func byID(f *frameworkState, id FrameworkID) int { return cmp.Compare(f.info.ID, id) }

func insertSorted[T cmp.Ordered](s []T, v T) []T {
	i, found := slices.BinarySearch(s, v)
	if found {
		return s
	}
	return slices.Insert(s, i, v)
}

func removeSorted[T cmp.Ordered](s []T, v T) []T {
	if i, found := slices.BinarySearch(s, v); found {
		return slices.Delete(s, i, i+1)
	}
	return s
}

// DefaultRefuse is how long a decline without a duration filters what was
// declined (Config.DefaultRefuse).
func (a *Allocator) DefaultRefuse() time.Duration { return a.cfg.DefaultRefuse }
