package allocator

import (
	"fmt"
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
	tasks      map[string]modelTask // launched and not ended
	nextID     int
}

type modelTask struct {
	agent AgentID
	res   Resources
}

// TestAllocatorNeverOverCommits drives random sequences of calls and checks after every step
// that no agent is committed beyond its total, that no resource is in two places, that the
// allocator's sums match the tasks launched, and that Accept succeeds exactly when its
// launches fit the offers, launching nothing otherwise.
func TestAllocatorNeverOverCommits(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cfg := DefaultConfig()
		cfg.OfferTimeout = time.Duration(rapid.IntRange(0, 60).Draw(rt, "offerTimeout")) * time.Second
		m := &model{a: New(cfg), now: t0, suppressed: map[FrameworkID]bool{}, tasks: map[string]modelTask{}}
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
	if err := m.a.AddAgent(Agent{ID: id, Total: genResources(t, "total")}); err != nil {
		t.Fatal(err)
	}
	m.agents = append(m.agents, id)
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
	role := rapid.SampledFrom([]string{"*", "web", "batch"}).Draw(t, "role")
	if err := m.a.AddFramework(Framework{ID: id, Role: role}); err != nil {
		t.Fatal(err)
	}
	if rapid.Bool().Draw(t, "reweight") {
		if err := m.a.SetRoleWeight(role, float64(rapid.IntRange(1, 4).Draw(t, "weight"))); err != nil {
			t.Fatal(err)
		}
	}
	m.frameworks = append(m.frameworks, id)
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
	for _, o := range m.a.Allocate(m.now) {
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
		m.tasks[l.TaskID] = modelTask{agent: first.Agent, res: l.Resources}
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
	free := m.a.AgentFree(agent)
	err := m.a.AddTask(id, fw, agent, res)
	if fits := free.Contains(res); fits != (err == nil) {
		t.Fatalf("AddTask(%v) with %v free = %v", res, free, err)
	}
	if err == nil {
		m.tasks[id] = modelTask{agent: agent, res: res}
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
			t.Fatalf("agent %s: free %v + used %v != total %v", id, free, sum, total)
		}
	}
	if len(m.a.tasks) != len(m.tasks) {
		t.Fatalf("allocator tracks %d tasks, %d are running", len(m.a.tasks), len(m.tasks))
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
