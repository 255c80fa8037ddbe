// Package allocator decides who gets what: it shares the cluster's agents among frameworks
// by hierarchical weighted Dominant Resource Fairness over roles and frameworks, makes
// resource offers and keeps their filters (refuse, suppress, offer timeout), and validates
// the accepts that turn offers into tasks, so that no resource is ever offered twice or
// committed beyond an agent's total.
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
	// dirty holds every agent whose free resources may be worth offering: an agent enters it
	// whenever its free resources grow and leaves it when Allocate offers them or finds them
	// below the minimum allocatable. Allocate looks at these agents only; one that no
	// framework may be offered (filters, suppression) stays for the next call.
	dirty        map[AgentID]struct{}
	total        scalars // the sum of all agents' totals
	offerSeq     uint64
	unsuppressed int // registered frameworks that are not suppressed
}

type agentState struct {
	info      Agent
	allocated Resources // sum of its tasks
	offered   Resources // sum of its outstanding offers
	tasks     map[string]struct{}
	offers    map[OfferID]struct{}
}

type frameworkState struct {
	info       Framework
	used       *usage
	offered    scalars // sum of its outstanding offers
	offers     map[OfferID]struct{}
	suppressed bool
	refused    map[AgentID]time.Time // refuse filters: no offers on that agent before then
}

type roleState struct {
	frameworks []*frameworkState // sorted by id
}

type task struct {
	fw    FrameworkID
	agent AgentID
	res   Resources
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
		dirty:      map[AgentID]struct{}{},
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
	// ErrOverCommit: the resources asked for are not free (AddTask) or not in the offers
	// (Accept). The allocator never commits more than an agent has.
	ErrOverCommit = errors.New("resources not available")
)

// AddAgent starts offering ag's resources. It fails if the id is taken or the total is
// not a valid amount.
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
	a.addAgent(ag)
	return nil
}

func (a *Allocator) addAgent(ag Agent) {
	ag.Total = cloneResources(ag.Total)
	ag.Attributes = maps.Clone(ag.Attributes)
	a.agents[ag.ID] = &agentState{info: ag, tasks: map[string]struct{}{}, offers: map[OfferID]struct{}{}}
	a.total = a.total.plus(scalarsOf(ag.Total))
	a.dirty[ag.ID] = struct{}{}
}

// UpdateAgent replaces an agent's total and attributes and rescinds its outstanding offers,
// which described the old agent; they are returned so the node can tell their frameworks.
// An unknown agent is added (an empty id is ignored). Its tasks stay: if the new total is
// smaller than what they hold, nothing more is offered there until enough of them end. An
// invalid total (negative or NaN amounts, a port range ending before it begins) is cleaned:
// such amounts count as zero and such ranges are dropped.
func (a *Allocator) UpdateAgent(ag Agent) []Offer {
	if ag.ID == "" {
		return nil
	}
	ag.Total = sanitize(ag.Total)
	st, ok := a.agents[ag.ID]
	if !ok {
		a.addAgent(ag)
		return nil
	}
	rescinded := a.removeOffers(slices.Collect(maps.Keys(st.offers)))
	a.total = a.total.minus(scalarsOf(st.info.Total)).plus(scalarsOf(ag.Total))
	ag.Total = cloneResources(ag.Total)
	ag.Attributes = maps.Clone(ag.Attributes)
	st.info = ag
	a.dirty[ag.ID] = struct{}{}
	return rescinded
}

// RemoveAgent forgets an agent. Its outstanding offers are rescinded and returned; its tasks
// are forgotten and their resources vanish with it (the node marks the tasks lost).
func (a *Allocator) RemoveAgent(id AgentID) []Offer {
	st, ok := a.agents[id]
	if !ok {
		return nil
	}
	rescinded := a.removeOffers(slices.Collect(maps.Keys(st.offers)))
	for _, tid := range slices.Sorted(maps.Keys(st.tasks)) {
		a.removeTask(tid)
	}
	for _, f := range a.frameworks {
		delete(f.refused, id)
	}
	delete(a.agents, id)
	delete(a.dirty, id)
	if len(a.agents) == 0 {
		a.total = scalars{} // no float drift left behind
	} else {
		a.total = a.total.minus(scalarsOf(st.info.Total))
	}
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
	f := &frameworkState{info: fw, used: u, offers: map[OfferID]struct{}{}, refused: map[AgentID]time.Time{}}
	a.frameworks[fw.ID] = f
	a.unsuppressed++
	r := a.roles[fw.Role]
	if r == nil {
		r = &roleState{}
		a.roles[fw.Role] = r
		a.roleNames = insertSorted(a.roleNames, fw.Role)
	}
	i, _ := slices.BinarySearchFunc(r.frameworks, fw.ID, byID)
	r.frameworks = slices.Insert(r.frameworks, i, f)
	return nil
}

// RemoveFramework unregisters a framework and rescinds (returns) its outstanding offers. Its
// tasks' resources stay allocated until RemoveTask.
func (a *Allocator) RemoveFramework(id FrameworkID) []Offer {
	f, ok := a.frameworks[id]
	if !ok {
		return nil
	}
	rescinded := a.removeOffers(slices.Collect(maps.Keys(f.offers)))
	if !f.suppressed {
		a.unsuppressed--
	}
	delete(a.frameworks, id)
	if f.used.tasks == 0 {
		delete(a.usage, id)
	}
	role := f.info.Role
	r := a.roles[role]
	if i, found := slices.BinarySearchFunc(r.frameworks, id, byID); found {
		r.frameworks = slices.Delete(r.frameworks, i, i+1)
	}
	if len(r.frameworks) == 0 {
		delete(a.roles, role)
		a.roleNames = removeSorted(a.roleNames, role)
	}
	return rescinded
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
	return nil
}

// Suppress stops offers to a framework until Revive (it has nothing to launch). Its
// outstanding offers stay.
func (a *Allocator) Suppress(fw FrameworkID) {
	if f, ok := a.frameworks[fw]; ok && !f.suppressed {
		f.suppressed = true
		a.unsuppressed--
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
	}
	clear(f.refused)
}

// AddTask records resources already committed to a task: when a new leader rebuilds from
// replicated state, and inside Accept. It fails if the agent or framework is unknown, the
// task id is in use, or the agent's free resources (total minus allocated minus offered)
// do not contain res: the allocator never over-commits, so the node must rescind offers
// before re-adding tasks that would need their resources.
func (a *Allocator) AddTask(taskID string, fw FrameworkID, agent AgentID, res Resources) error {
	st, ok := a.agents[agent]
	switch {
	case taskID == "":
		return fmt.Errorf("add task: %w", ErrEmptyID)
	case !ok:
		return fmt.Errorf("add task %q: agent %q: %w", taskID, agent, ErrUnknownAgent)
	case a.frameworks[fw] == nil:
		return fmt.Errorf("add task %q: framework %q: %w", taskID, fw, ErrUnknownFramework)
	case a.tasks[taskID] != nil:
		return fmt.Errorf("add task %q: %w", taskID, ErrTaskExists)
	}
	if err := res.check(); err != nil {
		return fmt.Errorf("add task %q: %w: %w", taskID, err, ErrInvalidResources)
	}
	if free := a.free(st); !free.Contains(res) {
		return fmt.Errorf("add task %q on agent %q: it needs %v but only %v is free: %w", taskID, agent, res, free, ErrOverCommit)
	}
	a.addTask(taskID, fw, st, res)
	return nil
}

func (a *Allocator) addTask(id string, fw FrameworkID, st *agentState, res Resources) {
	res = cloneResources(res).normalized()
	a.tasks[id] = &task{fw: fw, agent: st.info.ID, res: res}
	st.tasks[id] = struct{}{}
	st.allocated = st.allocated.Add(res)
	u := a.usage[fw]
	u.sum = u.sum.plus(scalarsOf(res))
	u.tasks++
}

// RemoveTask frees a task's resources (it ended) and reports whether the task was known. The
// freed resources are offered at the next Allocate.
func (a *Allocator) RemoveTask(taskID string) bool {
	t, ok := a.tasks[taskID]
	if !ok {
		return false
	}
	a.removeTask(taskID)
	a.dirty[t.agent] = struct{}{}
	return true
}

func (a *Allocator) removeTask(id string) {
	t := a.tasks[id]
	delete(a.tasks, id)
	st := a.agents[t.agent]
	delete(st.tasks, id)
	if len(st.tasks) == 0 {
		st.allocated = Resources{} // no float drift left behind
	} else {
		st.allocated = st.allocated.Sub(t.res)
	}
	u := a.usage[t.fw]
	u.tasks--
	switch {
	case u.tasks > 0:
		u.sum = u.sum.minus(scalarsOf(t.res))
	case a.frameworks[t.fw] != nil:
		u.sum = scalars{}
	default:
		delete(a.usage, t.fw)
	}
}

// free is what an agent has neither committed to tasks nor offered.
func (a *Allocator) free(st *agentState) Resources {
	return st.info.Total.Sub(st.allocated).Sub(st.offered)
}

// AgentAllocated is what an agent's tasks hold (zero for an unknown agent).
func (a *Allocator) AgentAllocated(id AgentID) Resources {
	if st, ok := a.agents[id]; ok {
		return st.allocated
	}
	return Resources{}
}

// AgentOffered is what an agent's outstanding offers hold.
func (a *Allocator) AgentOffered(id AgentID) Resources {
	if st, ok := a.agents[id]; ok {
		return st.offered
	}
	return Resources{}
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
