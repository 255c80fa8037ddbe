package allocator

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// model is what the test itself knows happened, to hold the allocator to.
type model struct {
	a          *Allocator
	now        time.Time
	agents     []AgentID
	frameworks []FrameworkID
	suppressed map[FrameworkID]bool
	roles      map[FrameworkID]string
	tasks      map[string]modelTask // launched and not ended
	nextID     int
	paused     bool
	inactive   map[AgentID]bool                 // deactivated agents
	dynamic    map[AgentID]map[string]Resources // dynamic reservations made (Reserve, RESERVE)
	ceiling    map[string]Resources             // per role: what it may consume beyond its quota (see checkQuota)
}

type modelTask struct {
	agent AgentID
	role  string
	res   Resources
}

var modelRoles = []string{"*", "web", "batch"}

// TestAllocatorNeverOverCommits drives random sequences of calls and checks after every step
// that no agent is committed beyond its total, that no resource is in two places (two
// offers, or an offer and a task), that the allocator's sums match the tasks launched, and
// that Accept succeeds exactly when its launches fit the offers and the role's quota,
// launching nothing otherwise. With quotas, reservations (static and dynamic), pauses,
// declines and agent deactivation in the mix it also checks that a role's quota is never
// exceeded (only AddTask of a committed task and lowering a quota take a role beyond it,
// and then it only comes down), that reserved resources are offered only to their role and
// the dynamic part of an offer is within the dynamic reservation, that each agent's
// reserved and unreserved parts add up to its total, that a deactivated agent is in no
// offer, that declined resources go to another framework at once when one may have them,
// and that AcceptOperations applies or rejects each operation and task exactly as
// predicted from the offers alone.
func TestAllocatorNeverOverCommits(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cfg := DefaultConfig()
		cfg.OfferTimeout = time.Duration(rapid.IntRange(0, 60).Draw(rt, "offerTimeout")) * time.Second
		m := &model{a: New(cfg), now: t0, suppressed: map[FrameworkID]bool{}, roles: map[FrameworkID]string{}, tasks: map[string]modelTask{},
			inactive: map[AgentID]bool{}, dynamic: map[AgentID]map[string]Resources{}, ceiling: map[string]Resources{}}
		rt.Repeat(map[string]func(*rapid.T){
			"":                m.check,
			"acceptOps":       m.acceptOps,
			"deactivate":      m.deactivate,
			"activate":        m.activate,
			"addAgent":        m.addAgent,
			"growAgent":       m.growAgent,
			"addFramework":    m.addFramework,
			"removeFramework": m.removeFramework,
			"suppress":        m.suppressOrRevive,
			"allocate":        m.allocate,
			"accept":          m.accept,
			"addTask":         m.addTask,
			"decline":         m.decline,
			"removeTask":      m.removeTask,
			"removeAgent":     m.removeAgent,
			"expire":          m.expire,
			"setQuota":        m.setQuota,
			"reserve":         m.reserve,
			"unreserve":       m.unreserve,
			"pause": func(t *rapid.T) {
				if m.paused = rapid.Bool().Draw(t, "pause"); m.paused {
					m.a.Pause()
				} else {
					m.a.Resume()
				}
			},
			"tick": func(t *rapid.T) {
				m.now = m.now.Add(time.Duration(rapid.IntRange(0, 10_000).Draw(t, "ms")) * time.Millisecond)
			},
		})
	})
}

func genResources(t *rapid.T, label string) Resources {
	r := Resources{
		CPUs: float64(rapid.IntRange(0, 80).Draw(t, label+".decicpus")) / 10,
		Mem:  float64(rapid.IntRange(0, 64).Draw(t, label+".mem") * 64),
		Disk: float64(rapid.IntRange(0, 3).Draw(t, label+".disk") * 100),
		GPUs: rapid.IntRange(0, 2).Draw(t, label+".gpus"),
	}
	for range rapid.IntRange(0, 3).Draw(t, label+".ranges") {
		lo := rapid.IntRange(31000, 31030).Draw(t, label+".lo")
		hi := lo + rapid.IntRange(0, 5).Draw(t, label+".len")
		r.Ports = append(r.Ports, PortRange{uint16(lo), uint16(hi)})
	}
	return r.normalized()
}

func (m *model) addAgent(t *rapid.T) {
	id := AgentID(fmt.Sprintf("a%d", m.nextID))
	m.nextID++
	total := genResources(t, "total")
	var reserved map[string]Resources
	if rapid.Bool().Draw(t, "static") {
		reserved = map[string]Resources{rapid.SampledFrom(modelRoles[1:]).Draw(t, "reservedRole"): part(t, total, "reserved")}
	}
	if err := m.a.AddAgent(Agent{ID: id, Total: total, Reserved: reserved}); err != nil {
		t.Fatal(err)
	}
	m.agents = append(m.agents, id)
}

// part is a random fraction of r: some of each scalar and a few of its lowest ports.
func part(t *rapid.T, r Resources, label string) Resources {
	pct := float64(rapid.IntRange(0, 10).Draw(t, label+".tenths")) / 10
	p := Resources{CPUs: float64(int(r.CPUs*pct*10)) / 10, Mem: float64(int(r.Mem * pct)), Disk: float64(int(r.Disk * pct)), GPUs: int(float64(r.GPUs) * pct)}
	if ps, ok := r.TakePorts(min(r.NumPorts(), rapid.IntRange(0, 3).Draw(t, label+".ports"))); ok {
		p.Ports = normalizePorts(ps)
	}
	return p
}

func (m *model) setQuota(t *rapid.T) {
	role := rapid.SampledFrom(modelRoles[1:]).Draw(t, "role")
	limit := Resources{CPUs: float64(rapid.IntRange(0, 80).Draw(t, "quota.decicpus")) / 10, Mem: float64(rapid.IntRange(0, 16).Draw(t, "quota.mem") * 256)}
	if err := m.a.SetQuota(role, limit); err != nil {
		t.Fatal(err)
	}
	m.ceiling[role] = m.a.RoleConsumed(role) // lowering a quota takes nothing away
}

// reserve reserves part of an agent's free unreserved resources, sometimes more than is free.
func (m *model) reserve(t *rapid.T) {
	if len(m.agents) == 0 {
		t.Skip("no agents")
	}
	id := rapid.SampledFrom(m.agents).Draw(t, "agent")
	role := rapid.SampledFrom(modelRoles[1:]).Draw(t, "role")
	st := m.a.agents[id]
	free := st.unres.free()
	res := part(t, free, "reserve")
	if rapid.IntRange(0, 4).Draw(t, "tooMuch") == 0 {
		res.CPUs += 1
	}
	err := m.a.Reserve(id, role, res)
	if fits := free.Contains(res); fits != (err == nil) {
		t.Fatalf("Reserve(%v) with %v free and unreserved = %v", res, free, err)
	}
	if err == nil {
		m.addDynamic(id, role, res)
	}
}

func (m *model) addDynamic(id AgentID, role string, res Resources) {
	if res.IsZero() {
		return
	}
	if m.dynamic[id] == nil {
		m.dynamic[id] = map[string]Resources{}
	}
	m.dynamic[id][role] = m.dynamic[id][role].Add(res)
}

func (m *model) subDynamic(id AgentID, role string, res Resources) {
	if res.IsZero() {
		return
	}
	if d := m.dynamic[id][role].Sub(res); d.IsZero() {
		delete(m.dynamic[id], role)
	} else {
		m.dynamic[id][role] = d
	}
}

// freeDynamic is what of role's dynamic reservation on agent id neither tasks nor offers
// hold, by Offer.Dynamic's rule: offers hold their Dynamic; tasks hold dynamic ports by
// number and, of each scalar, what they hold beyond the static reservation not in offers.
func (m *model) freeDynamic(id AgentID, role string) Resources {
	st := m.a.agents[id]
	r := st.reserved[role]
	dyn := m.dynamic[id][role]
	if r == nil || dyn.IsZero() {
		return Resources{}
	}
	static := r.total.Sub(dyn)
	var dynOffered, staticOffered Resources
	for _, o := range m.a.Offers() {
		if o.Agent == id && o.Role == role {
			dynOffered = dynOffered.Add(o.Dynamic)
			staticOffered = staticOffered.Add(o.Reserved.Sub(o.Dynamic))
		}
	}
	room := static.Sub(staticOffered)
	tasks := Resources{
		CPUs: max(r.allocated.CPUs-room.CPUs, 0), Mem: max(r.allocated.Mem-room.Mem, 0),
		Disk: max(r.allocated.Disk-room.Disk, 0), GPUs: max(r.allocated.GPUs-room.GPUs, 0),
	}
	for _, p := range r.allocated.Ports {
		for port := int(p.Begin); port <= int(p.End); port++ {
			if portsContain(dyn.Ports, []PortRange{{uint16(port), uint16(port)}}) {
				tasks.Ports = append(tasks.Ports, PortRange{uint16(port), uint16(port)})
			}
		}
	}
	return dyn.Sub(dynOffered).Sub(tasks.normalized())
}

// unreserve gives back part of a dynamic reservation, sometimes of what is in use.
func (m *model) unreserve(t *rapid.T) {
	if len(m.agents) == 0 {
		t.Skip("no agents")
	}
	id := rapid.SampledFrom(m.agents).Draw(t, "agent")
	role := rapid.SampledFrom(modelRoles[1:]).Draw(t, "role")
	dyn := m.dynamic[id][role]
	res := part(t, dyn, "unreserve")
	if rapid.IntRange(0, 4).Draw(t, "static") == 0 {
		res = part(t, m.a.agents[id].info.Reserved[role], "unreserveStatic")
	}
	free := m.freeDynamic(id, role)
	err := m.a.Unreserve(id, role, res)
	if ok := dyn.Contains(res) && free.Contains(res); ok != (err == nil) {
		t.Fatalf("Unreserve(%v) of dynamic %v with %v of it free = %v", res, dyn, free, err)
	}
	if err == nil {
		m.subDynamic(id, role, res)
	}
}

func (m *model) growAgent(t *rapid.T) {
	if len(m.agents) == 0 {
		t.Skip("no agents")
	}
	id := rapid.SampledFrom(m.agents).Draw(t, "agent")
	total := m.a.agents[id].info.Total.Add(genResources(t, "more"))
	for _, o := range m.a.UpdateAgent(Agent{ID: id, Total: total}) {
		if o.Agent != id {
			t.Fatalf("updating %s rescinded %s's offer", id, o.Agent)
		}
	}
	if n := len(m.a.agents[id].offers); n != 0 {
		t.Fatalf("%s kept %d offers across an update", id, n)
	}
	if m.a.AgentActive(id) == m.inactive[id] {
		t.Fatalf("UpdateAgent(%s) changed its activation: active %v", id, m.a.AgentActive(id))
	}
}

// deactivate deactivates an agent: its offers, and only they, are rescinded.
func (m *model) deactivate(t *rapid.T) {
	if len(m.agents) == 0 {
		t.Skip("no agents")
	}
	id := rapid.SampledFrom(m.agents).Draw(t, "agent")
	var want []OfferID
	for _, o := range m.a.Offers() {
		if o.Agent == id {
			want = append(want, o.ID)
		}
	}
	got := offerIDs(m.a.DeactivateAgent(id))
	if m.inactive[id] && len(got) != 0 {
		t.Fatalf("deactivating deactivated %s rescinded %v", id, got)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("DeactivateAgent(%s) rescinded %v, want its offers %v in id order", id, got, want)
	}
	m.inactive[id] = true
}

func (m *model) activate(t *rapid.T) {
	if len(m.agents) == 0 {
		t.Skip("no agents")
	}
	id := rapid.SampledFrom(m.agents).Draw(t, "agent")
	m.a.ActivateAgent(id)
	if _, ok := m.a.dirty[id]; m.inactive[id] && !ok {
		t.Fatalf("activated %s is not looked at by the next Allocate", id)
	}
	delete(m.inactive, id)
}

func (m *model) addFramework(t *rapid.T) {
	id := FrameworkID(fmt.Sprintf("f%d", m.nextID))
	m.nextID++
	role := rapid.SampledFrom(modelRoles).Draw(t, "role")
	if err := m.a.AddFramework(Framework{ID: id, Role: role}); err != nil {
		t.Fatal(err)
	}
	if rapid.Bool().Draw(t, "reweight") {
		if err := m.a.SetRoleWeight(role, float64(rapid.IntRange(1, 4).Draw(t, "weight"))); err != nil {
			t.Fatal(err)
		}
	}
	m.frameworks = append(m.frameworks, id)
	m.roles[id] = role
}

func (m *model) removeFramework(t *rapid.T) {
	if len(m.frameworks) == 0 {
		t.Skip("no frameworks")
	}
	id := rapid.SampledFrom(m.frameworks).Draw(t, "framework")
	for _, o := range m.a.RemoveFramework(id) {
		if o.Framework != id {
			t.Fatalf("removing %s rescinded %s's offer", id, o.Framework)
		}
	}
	m.frameworks = slices.DeleteFunc(m.frameworks, func(f FrameworkID) bool { return f == id })
	delete(m.suppressed, id)
}

func (m *model) suppressOrRevive(t *rapid.T) {
	if len(m.frameworks) == 0 {
		t.Skip("no frameworks")
	}
	id := rapid.SampledFrom(m.frameworks).Draw(t, "framework")
	if rapid.Bool().Draw(t, "suppress") {
		m.a.Suppress(id)
		m.suppressed[id] = true
	} else {
		m.a.Revive(id)
		delete(m.suppressed, id)
	}
}

func (m *model) allocate(t *rapid.T) {
	before := map[string]Resources{}
	for _, role := range modelRoles {
		before[role] = m.a.RoleConsumed(role)
	}
	offers := m.a.Allocate(m.now)
	if m.paused && len(offers) > 0 {
		t.Fatalf("paused allocator made offers %v", offers)
	}
	for _, role := range modelRoles {
		q, ok := m.a.Quota(role)
		if !ok {
			continue
		}
		b, c := before[role], m.a.RoleConsumed(role)
		for _, k := range [][3]float64{{q.CPUs, b.CPUs, c.CPUs}, {q.Mem, b.Mem, c.Mem}} {
			if k[0] > 0 && k[2] > max(k[0], k[1])+1e-6 {
				t.Fatalf("Allocate took role %s to %v, beyond its quota %v (it held %v)", role, c, q, b)
			}
		}
	}
	for _, o := range offers {
		if m.suppressed[o.Framework] {
			t.Fatalf("offer %s to suppressed framework %s", o.ID, o.Framework)
		}
		if !m.a.allocatable(o.Resources) {
			t.Fatalf("offer %s of %s is below the minimum allocatable", o.ID, o.Resources)
		}
	}
}

// accept picks offers of one framework on one agent (sometimes a stranger's or a stale id)
// and launches random tasks on them that may or may not fit, predicting the outcome.
func (m *model) accept(t *rapid.T) {
	offers := m.a.Offers()
	if len(offers) == 0 {
		t.Skip("no offers")
	}
	first := rapid.SampledFrom(offers).Draw(t, "offer")
	fw := first.Framework
	ids := []OfferID{first.ID}
	have := first.Resources
	for _, o := range offers {
		if o.ID != first.ID && o.Agent == first.Agent && o.Framework == fw && rapid.Bool().Draw(t, "alsoAccept") {
			ids = append(ids, o.ID)
			have = have.Add(o.Resources)
		}
	}
	valid := true
	switch rapid.IntRange(0, 9).Draw(t, "mischief") {
	case 0: // a stale offer id
		ids = append(ids, "O-0")
		valid = false
	case 1: // another framework's name
		fw = FrameworkID("stranger")
		valid = false
	}
	var launches []Launch
	left := have
	for range rapid.IntRange(0, 3).Draw(t, "launches") {
		l := Launch{TaskID: fmt.Sprintf("t%d", m.nextID)}
		m.nextID++
		if len(m.tasks) > 0 && rapid.IntRange(0, 9).Draw(t, "reuseID") == 0 {
			l.TaskID = rapid.SampledFrom(slices.Sorted(mapsKeys(m.tasks))).Draw(t, "existingID")
		}
		// Scale the offer by 0-120%: sometimes more than is there.
		pct := float64(rapid.IntRange(0, 12).Draw(t, "tenths")) / 10
		l.Resources = Resources{CPUs: float64(int(have.CPUs*pct*10)) / 10, Mem: float64(int(have.Mem * pct)), GPUs: int(float64(have.GPUs) * pct)}
		if n := rapid.IntRange(0, 2).Draw(t, "ports"); n > 0 {
			if ps, ok := have.TakePorts(have.NumPorts()); ok && len(ps) > 0 {
				for range n {
					l.Resources.Ports = append(l.Resources.Ports, rapid.SampledFrom(ps).Draw(t, "port"))
				}
			}
			if rapid.IntRange(0, 4).Draw(t, "foreignPort") == 0 {
				l.Resources.Ports = append(l.Resources.Ports, PortRange{8080, 8080})
			}
		}
		_, running := m.tasks[l.TaskID]
		dupInCall := slices.ContainsFunc(launches, func(p Launch) bool { return p.TaskID == l.TaskID })
		portsOnce := l.Resources.NumPorts() == Resources{Ports: normalizePorts(l.Resources.Ports)}.NumPorts()
		if running || dupInCall || !portsOnce || !(l.Resources.CPUs > 0 || l.Resources.Mem > 0) || !left.Contains(l.Resources) {
			valid = false
		} else {
			left = left.Sub(l.Resources)
		}
		launches = append(launches, l)
	}

	if valid {
		if q, ok := m.a.Quota(m.roles[fw]); ok {
			// Without the offers, the role holds used; the launches must fit in what
			// is left under the limit (a role already over it may launch nothing).
			used := m.a.RoleConsumed(m.roles[fw])
			var want Resources
			for _, l := range launches {
				want.CPUs += l.Resources.CPUs
				want.Mem += l.Resources.Mem
			}
			over := func(limit, used, have, want float64) bool {
				return limit > 0 && want > max(limit-(used-have), 0)+1e-6
			}
			if over(q.CPUs, used.CPUs, have.CPUs, want.CPUs) || over(q.Mem, used.Mem, have.Mem, want.Mem) {
				valid = false // the quota was lowered after the offers were made
			}
		}
	}
	tasksBefore := len(m.a.tasks)
	allocatedBefore := m.a.AgentAllocated(first.Agent)
	err := m.a.Accept(m.now, fw, ids, launches, time.Duration(rapid.IntRange(-1, 3).Draw(t, "refuseSec"))*time.Second)
	if valid != (err == nil) {
		t.Fatalf("Accept(%s, %v, %v) = %v; the launches fit: %v", fw, ids, launches, err, valid)
	}
	if err != nil {
		if len(m.a.tasks) != tasksBefore || m.a.AgentAllocated(first.Agent).String() != allocatedBefore.String() {
			t.Fatalf("rejected accept (%v) changed tasks: %d → %d, allocated %v → %v",
				err, tasksBefore, len(m.a.tasks), allocatedBefore, m.a.AgentAllocated(first.Agent))
		}
		if fw == first.Framework {
			for _, id := range ids {
				if _, ok := m.a.offers[id]; ok {
					t.Fatalf("rejected accept left its offer %s outstanding", id)
				}
			}
		}
		return
	}
	for _, l := range launches {
		m.tasks[l.TaskID] = modelTask{agent: first.Agent, role: m.roles[fw], res: l.Resources}
	}
}

// addTask re-adds a task as a new leader would, sometimes asking for more than is free.
func (m *model) addTask(t *rapid.T) {
	if len(m.agents) == 0 || len(m.frameworks) == 0 {
		t.Skip("no agents or no frameworks")
	}
	agent := rapid.SampledFrom(m.agents).Draw(t, "agent")
	fw := rapid.SampledFrom(m.frameworks).Draw(t, "framework")
	id := fmt.Sprintf("t%d", m.nextID)
	m.nextID++
	res := genResources(t, "task")
	// Free for the framework: unreserved, or reserved for its role.
	st := m.a.agents[agent]
	free := st.unres.free()
	if p := st.reserved[m.roles[fw]]; p != nil {
		free = free.Add(p.free())
	}
	err := m.a.AddTask(id, fw, agent, res)
	if fits := free.Contains(res); fits != (err == nil) {
		t.Fatalf("AddTask(%v) with %v free for role %q = %v", res, free, m.roles[fw], err)
	}
	if err == nil {
		m.tasks[id] = modelTask{agent: agent, role: m.roles[fw], res: res}
		// A committed task is recorded even beyond its role's quota.
		m.ceiling[m.roles[fw]] = m.a.RoleConsumed(m.roles[fw])
	}
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (m *model) decline(t *rapid.T) {
	offers := m.a.Offers()
	if len(offers) == 0 {
		t.Skip("no offers")
	}
	o := rapid.SampledFrom(offers).Draw(t, "offer")
	refuse := time.Duration(rapid.IntRange(-1, 30).Draw(t, "refuseSec")) * time.Second
	if err := m.a.Decline(m.now, o.Framework, []OfferID{o.ID}, refuse); err != nil {
		t.Fatal(err)
	}
	if refuse <= 0 || !rapid.Bool().Draw(t, "allocateNow") {
		return
	}
	// Another framework of the role, unsuppressed and without filters on the agent, is
	// offered the declined resources at once (or another role takes them first); the
	// decliner is not offered what it declined.
	_, quota := m.a.Quota(o.Role)
	other := !m.paused && !quota && slices.ContainsFunc(m.frameworks, func(g FrameworkID) bool {
		return g != o.Framework && m.roles[g] == o.Role && !m.suppressed[g] && len(m.a.frameworks[g].refused[o.Agent]) == 0
	})
	onAgent := 0
	for _, n := range m.a.Allocate(m.now) {
		if n.Agent != o.Agent {
			continue
		}
		onAgent++
		if n.Framework == o.Framework && o.Resources.Contains(n.Resources) {
			t.Fatalf("declined %v (refuse %v) but offered %v again at once", o.Resources, refuse, n.Resources)
		}
	}
	if other && onAgent == 0 {
		t.Fatalf("declined %v on %s was offered to nobody although another framework of role %q could have it", o.Resources, o.Agent, o.Role)
	}
}

func (m *model) removeTask(t *rapid.T) {
	if len(m.tasks) == 0 {
		t.Skip("no tasks")
	}
	id := rapid.SampledFrom(slices.Sorted(mapsKeys(m.tasks))).Draw(t, "task")
	if !m.a.RemoveTask(id) {
		t.Fatalf("RemoveTask(%s) = false for a running task", id)
	}
	delete(m.tasks, id)
}

func (m *model) removeAgent(t *rapid.T) {
	if len(m.agents) == 0 {
		t.Skip("no agents")
	}
	id := rapid.SampledFrom(m.agents).Draw(t, "agent")
	m.a.RemoveAgent(id)
	m.agents = slices.DeleteFunc(m.agents, func(a AgentID) bool { return a == id })
	delete(m.inactive, id)
	delete(m.dynamic, id)
	for tid, tk := range m.tasks {
		if tk.agent == id {
			delete(m.tasks, tid)
		}
	}
}

func (m *model) expire(t *rapid.T) {
	for _, o := range m.a.Expire(m.now) {
		if m.a.cfg.OfferTimeout == 0 || m.now.Sub(o.CreatedAt) < m.a.cfg.OfferTimeout {
			t.Fatalf("offer %s made at %v expired at %v with timeout %v", o.ID, o.CreatedAt, m.now, m.a.cfg.OfferTimeout)
		}
	}
}

// check holds after every step.
func (m *model) check(t *rapid.T) {
	offers := m.a.Offers()
	byAgent := map[AgentID][]Offer{}
	for _, o := range offers {
		byAgent[o.Agent] = append(byAgent[o.Agent], o)
	}
	tasks := map[AgentID]Resources{}
	for _, tk := range m.tasks {
		tasks[tk.agent] = tasks[tk.agent].Add(tk.res)
	}
	for _, id := range m.agents {
		total := m.a.agents[id].info.Total
		alloc, offered := m.a.AgentAllocated(id), m.a.AgentOffered(id)
		// Every resource is in one place only: tasks, one offer, or free.
		parts := append([]Resources{alloc}, resourcesOf(byAgent[id])...)
		var sum Resources
		ports := 0
		for _, p := range parts {
			sum = sum.Add(p)
			ports += p.NumPorts()
		}
		if !total.Contains(sum) {
			t.Fatalf("agent %s over-committed: total %v, allocated %v, offered %v", id, total, alloc, resourcesOf(byAgent[id]))
		}
		if ports != sum.NumPorts() {
			t.Fatalf("agent %s has a port in two places: allocated %v, offers %v", id, alloc, resourcesOf(byAgent[id]))
		}
		if !sameAmount(tasks[id], alloc) {
			t.Fatalf("agent %s: AgentAllocated %v but its tasks hold %v", id, alloc, tasks[id])
		}
		if !sameAmount(sum.Sub(alloc), offered) {
			t.Fatalf("agent %s: AgentOffered %v but its offers hold %v", id, offered, sum.Sub(alloc))
		}
		if free := m.a.AgentFree(id); !sameAmount(free.Add(sum), total) {
			t.Fatalf("agent %s: free %v + used %v != total %v (unreserved %+v, reserved %v, dynamic %v)", id, free, sum, total, m.a.agents[id].unres, m.a.AgentReserved(id), m.a.AgentDynamicReserved(id))
		}
		_, dirty := m.a.dirty[id]
		switch {
		case m.a.AgentActive(id) == m.inactive[id]:
			t.Fatalf("agent %s: AgentActive %v, deactivated %v", id, m.a.AgentActive(id), m.inactive[id])
		case m.inactive[id] && len(byAgent[id]) > 0:
			t.Fatalf("deactivated agent %s is in offers %v", id, offerIDs(byAgent[id]))
		case m.inactive[id] && dirty:
			t.Fatalf("deactivated agent %s is pending: every Allocate would look at it", id)
		}
	}
	if len(m.a.tasks) != len(m.tasks) {
		t.Fatalf("allocator tracks %d tasks, %d are running", len(m.a.tasks), len(m.tasks))
	}
	m.checkReservations(t, byAgent)
	m.checkConsumption(t, offers)
	m.checkQuota(t)
	m.checkOrder(t)
}

// checkQuota: a role consumes no more than its quota limit allows, except that AddTask
// (committed tasks) and lowering the limit may leave it above; from there it only comes
// down. ceiling is what the role consumed after the previous step, or after such a call.
func (m *model) checkQuota(t *rapid.T) {
	for _, role := range modelRoles {
		c := m.a.RoleConsumed(role)
		if q, ok := m.a.Quota(role); ok {
			b := m.ceiling[role]
			for _, k := range []struct {
				name               string
				limit, before, now float64
			}{{"cpus", q.CPUs, b.CPUs, c.CPUs}, {"mem", q.Mem, b.Mem, c.Mem}} {
				if k.limit > 0 && k.now > max(k.limit, k.before)+1e-6 {
					t.Fatalf("role %s consumes %s:%v, beyond its quota %v (it consumed %v)", role, k.name, k.now, q, b)
				}
			}
		}
		m.ceiling[role] = c
	}
}

// checkOrder: unless it is marked for rebuilding, the incremental DRF order is what sorting
// from scratch would give: every key is the current share, role sums are the sums of their
// frameworks, and each role's order holds exactly its unsuppressed frameworks, sorted.
func (m *model) checkOrder(t *rapid.T) {
	a := m.a
	if a.stale {
		return
	}
	if len(a.roleOrder) != len(a.roles) || !slices.IsSortedFunc(a.roleOrder, compareRoles) {
		t.Fatalf("role order %d roles (of %d), sorted %v", len(a.roleOrder), len(a.roles), slices.IsSortedFunc(a.roleOrder, compareRoles))
	}
	for _, r := range a.roleOrder {
		var sum scalars
		n := 0
		for _, f := range r.frameworks {
			sum = sum.plus(f.held())
			if !f.suppressed {
				n++
				if math.Abs(f.key-a.frameworkKey(f)) > 1e-9 {
					t.Fatalf("framework %s has key %v, share %v", f.info.ID, f.key, a.frameworkKey(f))
				}
			}
		}
		if d := sum.minus(r.held); math.Abs(d.cpus)+math.Abs(d.mem)+math.Abs(d.disk)+math.Abs(d.gpus) > 1e-6 {
			t.Fatalf("role %s holds %v by its sum, %v by its frameworks", r.name, r.held, sum)
		}
		if math.Abs(r.key-a.roleKey(r)) > 1e-9 {
			t.Fatalf("role %s has key %v, share %v", r.name, r.key, a.roleKey(r))
		}
		if len(r.order) != n || !slices.IsSortedFunc(r.order, compareFrameworks) {
			t.Fatalf("role %s order has %d of %d unsuppressed frameworks, sorted %v", r.name, len(r.order), n, slices.IsSortedFunc(r.order, compareFrameworks))
		}
	}
}

// checkReservations: each agent's unreserved and reserved parts add up to its total, each
// part's allocated, offered and free add up to the part, and reserved resources are only in
// offers to their role.
func (m *model) checkReservations(t *rapid.T, byAgent map[AgentID][]Offer) {
	for _, id := range m.agents {
		st := m.a.agents[id]
		sum := st.unres.total
		nports := sum.NumPorts()
		parts := map[string]*pool{"": &st.unres}
		for role, p := range st.reserved {
			sum = sum.Add(p.total)
			nports += p.total.NumPorts()
			parts[role] = &p.pool
		}
		// Static and dynamic reservations are what was configured and reserved.
		if got, want := m.a.AgentDynamicReserved(id), m.dynamic[id]; len(got) != len(want) {
			t.Fatalf("agent %s: dynamic reservations %v, want %v", id, got, want)
		}
		for role, p := range st.reserved {
			dyn, static := m.dynamic[id][role], m.a.AgentStaticReserved(id)[role]
			if got := m.a.AgentDynamicReserved(id)[role]; !sameAmount(got, dyn) || got.NumPorts() != dyn.NumPorts() {
				t.Fatalf("agent %s, role %s: dynamic reservation %v, want %v", id, role, got, dyn)
			}
			if !sameAmount(static.Add(dyn), p.total) || static.NumPorts()+dyn.NumPorts() != p.total.NumPorts() {
				t.Fatalf("agent %s, role %s: static %v and dynamic %v are not the reservation %v", id, role, static, dyn, p.total)
			}
			var offDyn, offStatic Resources
			for _, o := range byAgent[id] {
				if o.Role == role {
					offDyn, offStatic = offDyn.Add(o.Dynamic), offStatic.Add(o.Reserved.Sub(o.Dynamic))
				}
			}
			if !dyn.Contains(offDyn) {
				t.Fatalf("agent %s, role %s: offers hold %v dynamic of the dynamic reservation %v", id, role, offDyn, dyn)
			}
			if !static.Contains(offStatic) {
				t.Fatalf("agent %s, role %s: offers hold %v static of the static reservation %v", id, role, offStatic, static)
			}
			if !sameAmount(offDyn, p.dynOffered) {
				t.Fatalf("agent %s, role %s: offers' Dynamic sum to %v, the reservation counts %v", id, role, offDyn, p.dynOffered)
			}
			if free := m.freeDynamic(id, role); !p.free().Contains(free) {
				t.Fatalf("agent %s, role %s: free dynamic %v is not free (%v)", id, role, free, p.free())
			}
		}
		if !sameAmount(sum, st.info.Total) || nports != sum.NumPorts() {
			t.Fatalf("agent %s: unreserved %v and reservations %v add up to %v, not the total %v", id, st.unres.total, m.a.AgentReserved(id), sum, st.info.Total)
		}
		offered := map[string]Resources{}
		for _, o := range byAgent[id] {
			if o.Role != m.roles[o.Framework] {
				t.Fatalf("offer %s to %s of role %q is allocated to role %q", o.ID, o.Framework, m.roles[o.Framework], o.Role)
			}
			if !o.Resources.Contains(o.Reserved) || !o.Reserved.Contains(o.Dynamic) {
				t.Fatalf("offer %s: reserved part %v not within %v, or dynamic part %v not within it", o.ID, o.Reserved, o.Resources, o.Dynamic)
			}
			if !o.Reserved.IsZero() {
				if st.reserved[o.Role] == nil {
					t.Fatalf("offer %s has reserved %v but the agent has no reservation for %q", o.ID, o.Reserved, o.Role)
				}
				offered[o.Role] = offered[o.Role].Add(o.Reserved)
			}
			offered[""] = offered[""].Add(o.Resources.Sub(o.Reserved))
		}
		for role, p := range parts {
			if !sameAmount(p.offered, offered[role]) {
				t.Fatalf("agent %s, part %q: offered %v but its offers hold %v", id, role, p.offered, offered[role])
			}
			used := p.allocated.Add(p.offered)
			if !p.total.Contains(used) || !sameAmount(p.free().Add(used), p.total) {
				t.Fatalf("agent %s, part %q: allocated %v + offered %v + free %v is not its %v", id, role, p.allocated, p.offered, p.free(), p.total)
			}
		}
		// The unreserved ports offered are unreserved, the reserved ones reserved for the role.
		if !st.unres.total.Contains(Resources{Ports: offered[""].Ports}) {
			t.Fatalf("agent %s: unreserved offers hold ports %v outside the unreserved %v", id, offered[""].Ports, st.unres.total.Ports)
		}
	}
}

// checkConsumption: what each role consumes (its quota use) is what its tasks and offers hold.
func (m *model) checkConsumption(t *rapid.T, offers []Offer) {
	want := map[string]Resources{}
	for _, o := range offers {
		want[o.Role] = want[o.Role].Add(Resources{CPUs: o.Resources.CPUs, Mem: o.Resources.Mem, Disk: o.Resources.Disk, GPUs: o.Resources.GPUs})
	}
	for _, tk := range m.tasks {
		want[tk.role] = want[tk.role].Add(Resources{CPUs: tk.res.CPUs, Mem: tk.res.Mem, Disk: tk.res.Disk, GPUs: tk.res.GPUs})
	}
	for _, role := range modelRoles {
		got := m.a.RoleConsumed(role)
		if math.Abs(got.CPUs-want[role].CPUs) > 1e-6 || math.Abs(got.Mem-want[role].Mem) > 1e-6 || got.GPUs != want[role].GPUs {
			t.Fatalf("role %q consumes %v, its tasks and offers hold %v", role, got, want[role])
		}
	}
}

func resourcesOf(os []Offer) []Resources {
	out := make([]Resources, len(os))
	for i, o := range os {
		out[i] = o.Resources
	}
	return out
}

func sameAmount(x, y Resources) bool { return x.Contains(y) && y.Contains(x) }

// expectedResult is what the model predicts for one entry of AcceptOperations' results.
type expectedResult struct {
	index int
	task  string
	err   error // the sentinel, or nil when applied
}

// acceptOps picks offers of one framework on one agent (sometimes also a stale, repeated,
// foreign or other agent's offer, or under a stranger's name), and random reserve,
// unreserve and launch operations that may or may not fit, and predicts from the offers
// alone what AcceptOperations does with each.
func (m *model) acceptOps(t *rapid.T) {
	offers := m.a.Offers()
	if len(offers) == 0 {
		t.Skip("no offers")
	}
	first := rapid.SampledFrom(offers).Draw(t, "offer")
	fw, agent, role := first.Framework, first.Agent, first.Role
	ids := []OfferID{first.ID}
	held := []Offer{first}
	for _, o := range offers {
		if o.ID != first.ID && o.Agent == agent && o.Framework == fw && rapid.Bool().Draw(t, "alsoAccept") {
			ids = append(ids, o.ID)
			held = append(held, o)
		}
	}
	var wantErr error
	switch rapid.IntRange(0, 14).Draw(t, "mischief") {
	case 0:
		ids, wantErr = append(ids, "O-0"), ErrUnknownOffer
	case 1:
		fw, wantErr = "stranger", ErrUnknownFramework
	case 2:
		ids, wantErr = append(ids, first.ID), ErrDuplicateOffer
	case 3:
		if i := slices.IndexFunc(offers, func(o Offer) bool { return o.Framework != fw }); i >= 0 {
			ids, wantErr = append(ids, offers[i].ID), ErrNotYourOffer
		}
	case 4:
		if i := slices.IndexFunc(offers, func(o Offer) bool { return o.Framework == fw && o.Agent != agent }); i >= 0 {
			ids, wantErr = append(ids, offers[i].ID), ErrMixedAgents
		}
	}

	// What the offers hold, by part, and what the role consumes without them.
	var unres, static, dyn Resources
	used := m.a.RoleConsumed(role)
	for _, o := range held {
		unres = unres.Add(o.Resources.Sub(o.Reserved))
		static = static.Add(o.Reserved.Sub(o.Dynamic))
		dyn = dyn.Add(o.Dynamic)
		used.CPUs -= o.Resources.CPUs
		used.Mem -= o.Resources.Mem
	}
	offered := unres.Add(static).Add(dyn)
	quota, limited := m.a.Quota(role)
	named := map[string]bool{}
	var ops []Operation
	var want []expectedResult
	var launched []Launch
	dynAfter := m.dynamic[agent][role] // the role's dynamic reservation on the agent, op by op
	for i := range rapid.IntRange(0, 4).Draw(t, "ops") {
		switch rapid.IntRange(0, 6).Draw(t, "kind") {
		case 0, 1: // reserve, sometimes more than the offers' unreserved part
			res := part(t, unres, "reserve")
			if rapid.IntRange(0, 4).Draw(t, "tooMuch") == 0 {
				res.CPUs += 1
			}
			ops = append(ops, Operation{Reserve: &res})
			var err error
			switch {
			case role == DefaultRole:
				err = ErrInvalidRole
			case !unres.Contains(res):
				err = ErrOverCommit
			default:
				unres, dyn = unres.Sub(res), dyn.Add(res)
				dynAfter = dynAfter.Add(res)
			}
			want = append(want, expectedResult{index: i, err: err})
		case 2: // unreserve: of the dynamic part, of the static part, or too much
			from := dyn
			switch rapid.IntRange(0, 3).Draw(t, "unreserveFrom") {
			case 0:
				from = static
			case 1:
				from = static.Add(dyn)
			}
			res := part(t, from, "unreserve")
			ops = append(ops, Operation{Unreserve: &res})
			var err error
			switch {
			case role == DefaultRole:
				err = ErrInvalidRole
			case !dyn.Contains(res):
				err = ErrOverCommit
			default:
				dyn, unres = dyn.Sub(res), unres.Add(res)
				dynAfter = dynAfter.Sub(res)
			}
			want = append(want, expectedResult{index: i, err: err})
		case 3: // an operation that sets none, or two, of its fields
			op := Operation{}
			if rapid.Bool().Draw(t, "two") {
				op = Operation{Reserve: &Resources{}, Launch: []Launch{{TaskID: "x", Resources: Resources{CPUs: 0.1}}}}
			}
			ops = append(ops, op)
			want = append(want, expectedResult{index: i, err: ErrInvalidOperation})
		default: // launch 1-3 tasks scaled from the offers (0-120%)
			var op Operation
			for range rapid.IntRange(1, 3).Draw(t, "tasks") {
				l := Launch{TaskID: fmt.Sprintf("t%d", m.nextID)}
				m.nextID++
				switch rapid.IntRange(0, 11).Draw(t, "taskID") {
				case 0:
					if len(m.tasks) > 0 {
						l.TaskID = rapid.SampledFrom(slices.Sorted(mapsKeys(m.tasks))).Draw(t, "existingID")
					}
				case 1:
					if len(named) > 0 {
						l.TaskID = rapid.SampledFrom(slices.Sorted(mapsKeys(named))).Draw(t, "namedID")
					}
				case 2:
					l.TaskID = ""
				}
				pct := float64(rapid.IntRange(0, 12).Draw(t, "tenths")) / 10
				l.Resources = Resources{CPUs: float64(int(offered.CPUs*pct*10)) / 10, Mem: float64(int(offered.Mem * pct)), GPUs: int(float64(offered.GPUs) * pct)}
				if n := rapid.IntRange(0, 2).Draw(t, "ports"); n > 0 {
					if ps, ok := offered.TakePorts(offered.NumPorts()); ok && len(ps) > 0 {
						for range n {
							l.Resources.Ports = append(l.Resources.Ports, rapid.SampledFrom(ps).Draw(t, "port"))
						}
					}
				}
				left := unres.Add(static).Add(dyn)
				_, running := m.tasks[l.TaskID]
				portsOnce := l.Resources.NumPorts() == Resources{Ports: normalizePorts(l.Resources.Ports)}.NumPorts()
				over := func(limit, used, want float64) bool { return limit > 0 && want > max(limit-used, 0)+1e-6 }
				var err error
				switch {
				case l.TaskID == "":
					err = ErrEmptyID
				case running || named[l.TaskID]:
					err = ErrTaskExists
				case !portsOnce || !(l.Resources.CPUs > 0 || l.Resources.Mem > 0):
					err = ErrInvalidResources
				case !left.Contains(l.Resources):
					err = ErrOverCommit
				case limited && (over(quota.CPUs, used.CPUs, l.Resources.CPUs) || over(quota.Mem, used.Mem, l.Resources.Mem)):
					err = ErrQuotaExceeded
				default:
					modelTake(l.Resources.normalized(), &static, &dyn, &unres)
					used.CPUs += l.Resources.CPUs
					used.Mem += l.Resources.Mem
					launched = append(launched, l)
				}
				if l.TaskID != "" && !running {
					named[l.TaskID] = true
				}
				op.Launch = append(op.Launch, l)
				want = append(want, expectedResult{index: i, task: l.TaskID, err: err})
			}
			ops = append(ops, op)
		}
	}

	tasksBefore := len(m.a.tasks)
	results, err := m.a.AcceptOperations(m.now, fw, ids, ops, time.Duration(rapid.IntRange(-1, 3).Draw(t, "refuseSec"))*time.Second)
	if wantErr != nil {
		var oe *OfferError
		if !errors.Is(err, wantErr) || !errors.As(err, &oe) || results != nil {
			t.Fatalf("AcceptOperations(%s, %v) = %v, %v; want no results and %v", fw, ids, results, err, wantErr)
		}
		if len(m.a.tasks) != tasksBefore {
			t.Fatalf("rejected accept (%v) launched tasks", err)
		}
		if fw == first.Framework {
			for _, o := range held {
				if _, ok := m.a.offers[o.ID]; ok {
					t.Fatalf("rejected accept left its offer %s outstanding", o.ID)
				}
			}
		} else if _, ok := m.a.offers[first.ID]; !ok {
			t.Fatalf("a stranger's accept consumed %s's offer %s", first.Framework, first.ID)
		}
		return
	}
	if err != nil {
		t.Fatalf("AcceptOperations(%s, %v, %+v) = %v", fw, ids, ops, err)
	}
	if len(results) != len(want) {
		t.Fatalf("AcceptOperations gave %d results %v, want %d %v", len(results), results, len(want), want)
	}
	for i, r := range results {
		w := want[i]
		var oe *OfferError
		switch {
		case r.Index != w.index || r.Task != w.task:
			t.Fatalf("result %d is of operation %d task %q, want %d %q", i, r.Index, r.Task, w.index, w.task)
		case (w.err == nil) != (r.Err == nil) || (w.err != nil && (!errors.Is(r.Err, w.err) || !errors.As(r.Err, &oe))):
			t.Fatalf("operation %d (%+v) task %q: %v, want %v", r.Index, ops[r.Index], r.Task, r.Err, w.err)
		}
	}
	for _, o := range held {
		if _, ok := m.a.offers[o.ID]; ok {
			t.Fatalf("accepted offer %s is still outstanding", o.ID)
		}
	}
	for _, l := range launched {
		m.tasks[l.TaskID] = modelTask{agent: agent, role: role, res: l.Resources}
	}
	if m.dynamic[agent] == nil {
		m.dynamic[agent] = map[string]Resources{}
	}
	if m.dynamic[agent][role] = dynAfter; dynAfter.IsZero() {
		delete(m.dynamic[agent], role)
	}
}

// modelTake takes r from the parts of an accept as AcceptOperations says: from the static
// reservation first, then the dynamic one, then the unreserved resources; ports by number.
func modelTake(r Resources, static, dyn, unres *Resources) {
	for _, k := range []struct {
		want  float64
		parts [3]*float64
	}{{r.CPUs, [3]*float64{&static.CPUs, &dyn.CPUs, &unres.CPUs}}, {r.Mem, [3]*float64{&static.Mem, &dyn.Mem, &unres.Mem}}, {r.Disk, [3]*float64{&static.Disk, &dyn.Disk, &unres.Disk}}} {
		for _, p := range k.parts {
			x := min(k.want, *p)
			*p -= x
			k.want -= x
		}
	}
	gpus := r.GPUs
	for _, p := range []*int{&static.GPUs, &dyn.GPUs, &unres.GPUs} {
		x := min(gpus, *p)
		*p -= x
		gpus -= x
	}
	for _, pr := range r.Ports {
		for port := int(pr.Begin); port <= int(pr.End); port++ {
			one := Resources{Ports: []PortRange{{uint16(port), uint16(port)}}}
			for _, p := range []*Resources{static, dyn, unres} {
				if p.Contains(Resources{Ports: one.Ports}) {
					p.Ports = subtractPorts(p.Ports, one.Ports)
					break
				}
			}
		}
	}
}
