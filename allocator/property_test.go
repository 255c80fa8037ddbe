package allocator

import (
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
}

type modelTask struct {
	agent AgentID
	role  string
	res   Resources
}

var modelRoles = []string{"*", "web", "batch"}

// TestAllocatorNeverOverCommits drives random sequences of calls and checks after every step
// that no agent is committed beyond its total, that no resource is in two places, that the
// allocator's sums match the tasks launched, and that Accept succeeds exactly when its
// launches fit the offers and the role's quota, launching nothing otherwise. With quotas,
// reservations (static and dynamic), pauses and declines in the mix it also checks that
// Allocate never takes a role beyond its quota, that reserved resources are offered only to
// their role, that each agent's reserved and unreserved parts add up to its total, and that
// declined resources go to another framework at once when one may have them.
func TestAllocatorNeverOverCommits(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cfg := DefaultConfig()
		cfg.OfferTimeout = time.Duration(rapid.IntRange(0, 60).Draw(rt, "offerTimeout")) * time.Second
		m := &model{a: New(cfg), now: t0, suppressed: map[FrameworkID]bool{}, roles: map[FrameworkID]string{}, tasks: map[string]modelTask{}}
		rt.Repeat(map[string]func(*rapid.T){
			"":                m.check,
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
}

// unreserve gives back part of a dynamic reservation, sometimes of what is in use.
func (m *model) unreserve(t *rapid.T) {
	if len(m.agents) == 0 {
		t.Skip("no agents")
	}
	id := rapid.SampledFrom(m.agents).Draw(t, "agent")
	role := rapid.SampledFrom(modelRoles[1:]).Draw(t, "role")
	st := m.a.agents[id]
	dyn := st.dynamic[role]
	res := part(t, dyn, "unreserve")
	var free Resources
	if p := st.reserved[role]; p != nil {
		free = p.free()
	}
	err := m.a.Unreserve(id, role, res)
	if ok := dyn.Contains(res) && free.Contains(res); ok != (err == nil) {
		t.Fatalf("Unreserve(%v) of dynamic %v with %v of the reservation free = %v", res, dyn, free, err)
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
			t.Fatalf("agent %s: free %v + used %v != total %v (unreserved %+v, reserved %v, dynamic %v)", id, free, sum, total, m.a.agents[id].unres, m.a.AgentReserved(id), m.a.agents[id].dynamic)
		}
	}
	if len(m.a.tasks) != len(m.tasks) {
		t.Fatalf("allocator tracks %d tasks, %d are running", len(m.a.tasks), len(m.tasks))
	}
	m.checkReservations(t, byAgent)
	m.checkConsumption(t, offers)
	m.checkOrder(t)
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
			parts[role] = p
		}
		if !sameAmount(sum, st.info.Total) || nports != sum.NumPorts() {
			t.Fatalf("agent %s: unreserved %v and reservations %v add up to %v, not the total %v", id, st.unres.total, m.a.AgentReserved(id), sum, st.info.Total)
		}
		offered := map[string]Resources{}
		for _, o := range byAgent[id] {
			if o.Role != m.roles[o.Framework] {
				t.Fatalf("offer %s to %s of role %q is allocated to role %q", o.ID, o.Framework, m.roles[o.Framework], o.Role)
			}
			if !o.Resources.Contains(o.Reserved) {
				t.Fatalf("offer %s: reserved part %v not within %v", o.ID, o.Reserved, o.Resources)
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
