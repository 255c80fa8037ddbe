package node

import (
	"maps"
	"slices"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/node/jobs"
	"github.com/clusterd/clusterd/web/api"
)

// roles is GET /v1/roles: every role the replicated state or the allocator
// knows, with its weight and quota, what it holds, its weighted dominant
// share, and its frameworks in DRF order (the allocator's Shares).
func (l *leaderLoop) roles() []api.Role {
	v := l.n.fsm.View()
	l.mu.Lock()
	defer l.mu.Unlock()
	names := map[string]bool{allocator.DefaultRole: true}
	for _, r := range v.Roles() {
		names[r.Name] = true
	}
	for _, r := range l.alloc.Roles() {
		names[r] = true
	}
	tasks := map[allocator.FrameworkID]int{}
	for _, t := range v.ActiveTasks() {
		role := t.Role
		if role == "" {
			role = allocator.DefaultRole
		}
		tasks[clientID(t.Framework, role)]++
	}
	byRole := map[string][]api.FrameworkShare{}
	share := map[string]float64{}
	for _, s := range l.alloc.Shares() {
		fw, role := splitClient(s.Framework)
		share[role] = s.RoleDominant
		name, connected := fw, l.sched.connected(fw)
		if fw == jobs.FrameworkID {
			name, connected = "clusterd jobs", true
		} else if rec := v.Framework(fw); rec != nil {
			name = rec.Name
		}
		byRole[role] = append(byRole[role], api.FrameworkShare{ID: fw, Name: name, Connected: connected, DominantShare: s.Dominant,
			Allocated: allocToAPI(s.Allocated), Offered: allocToAPI(s.Offered), Offers: len(l.alloc.FrameworkOffers(s.Framework)),
			Tasks: tasks[s.Framework]})
	}
	out := make([]api.Role, 0, len(names))
	for _, name := range slices.Sorted(maps.Keys(names)) {
		conf := v.Role(name)
		r := api.Role{Name: name, Weight: conf.EffectiveWeight(), Allocated: allocToAPI(l.alloc.RoleAllocated(name)),
			Offered: allocToAPI(l.alloc.RoleOffered(name)), DominantShare: share[name], Frameworks: byRole[name]}
		if name != allocator.DefaultRole {
			r.Reserved = allocToAPI(l.alloc.RoleReserved(name))
		}
		if conf != nil && !toAlloc(conf.Quota).IsZero() {
			q := fsmToAPI(conf.Quota)
			r.Quota = &q
		}
		if r.Frameworks == nil {
			r.Frameworks = []api.FrameworkShare{}
		}
		out = append(out, r)
	}
	return out
}
