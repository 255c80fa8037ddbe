package allocator

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"time"
)

// scalars is the part of Resources that dominant shares are computed from. Shares ignore
// ports, and keeping them out makes the per-framework sums cheap to maintain.
type scalars struct{ cpus, mem, disk, gpus float64 }

func scalarsOf(r Resources) scalars {
	return scalars{r.CPUs, r.Mem, r.Disk, float64(r.GPUs)}
}

func (s scalars) plus(o scalars) scalars {
	return scalars{s.cpus + o.cpus, s.mem + o.mem, s.disk + o.disk, s.gpus + o.gpus}
}

func (s scalars) minus(o scalars) scalars {
	return scalars{s.cpus - o.cpus, s.mem - o.mem, s.disk - o.disk, s.gpus - o.gpus}
}

// dropDrift rounds amounts within 1e-9 of zero to zero, so that a role whose frameworks
// gave everything back ties exactly with one that never held anything.
func (s scalars) dropDrift() scalars {
	z := func(v float64) float64 {
		if math.Abs(v) <= epsilon {
			return 0
		}
		return v
	}
	return scalars{z(s.cpus), z(s.mem), z(s.disk), z(s.gpus)}
}

func (s scalars) resources() Resources {
	return Resources{CPUs: s.cpus, Mem: s.mem, Disk: s.disk, GPUs: int(s.gpus + 0.5)}
}

// dominant is the largest fraction of the cluster total that s holds of any kind; kinds the
// cluster has none of are skipped.
func (s scalars) dominant(total scalars) float64 {
	d := 0.0
	for _, k := range [...][2]float64{{s.cpus, total.cpus}, {s.mem, total.mem}, {s.disk, total.disk}, {s.gpus, total.gpus}} {
		if k[1] > 0 {
			d = max(d, k[0]/k[1])
		}
	}
	return d
}

// usage is what a framework's tasks hold. It outlives the framework's registration: tasks of
// a removed framework stay allocated until RemoveTask, and count again if it comes back.
type usage struct {
	sum   scalars
	tasks int
}

// held is what counts toward a framework's share: its tasks and its outstanding offers, so a
// framework that was just offered an agent is not also offered the next one.
func (f *frameworkState) held() scalars {
	return f.used.sum.plus(f.offered)
}

// filtered reports whether one of f's refuse filters on agent, still running at now,
// contains res: as in Mesos, a filter covers only the resources declined, so more
// resources on the agent may be offered to f again at once.
func (f *frameworkState) filtered(agent AgentID, res Resources, now time.Time) bool {
	for _, r := range f.refused[agent] {
		if now.Before(r.until) && r.res.Contains(res) {
			return true
		}
	}
	return false
}

// Weight is a role's weight: what SetRoleWeight set, else 1. "" means the default role.
func (a *Allocator) Weight(role string) float64 {
	if role == "" {
		role = DefaultRole
	}
	return a.weight(role)
}

// Roles lists, sorted, every role the allocator knows of: those with a registered
// framework, a weight set (SetRoleWeight), a quota, a reservation (static or dynamic) on
// some agent, or resources held by its tasks or offers (tasks of a removed framework
// still count).
func (a *Allocator) Roles() []string {
	set := make(map[string]struct{}, len(a.roles)+len(a.weights)+len(a.quotas))
	for role := range a.roles {
		set[role] = struct{}{}
	}
	for role := range a.weights {
		set[role] = struct{}{}
	}
	for role := range a.quotas {
		set[role] = struct{}{}
	}
	for role := range a.reservedAgents {
		set[role] = struct{}{}
	}
	for role := range a.consumed {
		set[role] = struct{}{}
	}
	return slices.Sorted(maps.Keys(set))
}

func (a *Allocator) weight(role string) float64 {
	if w, ok := a.weights[role]; ok {
		return w
	}
	return 1
}

func (a *Allocator) frameworkKey(f *frameworkState) float64 { return f.held().dominant(a.total) }

func (a *Allocator) roleKey(r *roleState) float64 {
	return r.held.dominant(a.total) / a.weight(r.name)
}

// compareFrameworks orders a role's frameworks: lower dominant share first, then lower id.
func compareFrameworks(x, y *frameworkState) int {
	return cmp.Or(cmp.Compare(x.key, y.key), cmp.Compare(x.info.ID, y.info.ID))
}

// compareRoles orders roles: lower weighted dominant share first, then lower name.
func compareRoles(x, y *roleState) int {
	return cmp.Or(cmp.Compare(x.key, y.key), cmp.Compare(x.name, y.name))
}

// insert places f in r.order by its key; when the order is stale it only appends (the
// order is sorted again before use).
func (r *roleState) insert(f *frameworkState, stale bool) {
	if stale {
		r.order = append(r.order, f)
		return
	}
	i, _ := slices.BinarySearchFunc(r.order, f, compareFrameworks)
	r.order = slices.Insert(r.order, i, f)
}

func (r *roleState) remove(f *frameworkState, stale bool) {
	i, found := -1, false
	if stale {
		i = slices.Index(r.order, f)
		found = i >= 0
	} else {
		i, found = slices.BinarySearchFunc(r.order, f, compareFrameworks)
	}
	if found {
		r.order = slices.Delete(r.order, i, i+1)
	}
}

func (a *Allocator) insertRole(r *roleState) {
	if a.stale {
		a.roleOrder = append(a.roleOrder, r)
		return
	}
	i, _ := slices.BinarySearchFunc(a.roleOrder, r, compareRoles)
	a.roleOrder = slices.Insert(a.roleOrder, i, r)
}

func (a *Allocator) removeRole(r *roleState) {
	i, found := -1, false
	if a.stale {
		i = slices.Index(a.roleOrder, r)
		found = i >= 0
	} else {
		i, found = slices.BinarySearchFunc(a.roleOrder, r, compareRoles)
	}
	if found {
		a.roleOrder = slices.Delete(a.roleOrder, i, i+1)
	}
}

// changeHeld accounts d more (add) or less held by registered framework f, whose used or
// offered sums the caller has already changed, and moves f and its role to their new places
// in the DRF order.
func (a *Allocator) changeHeld(f *frameworkState, d scalars, add bool) {
	r := f.role
	if add {
		r.held = r.held.plus(d)
	} else {
		r.held = r.held.minus(d).dropDrift()
	}
	if a.stale {
		return
	}
	if !f.suppressed {
		r.remove(f, false)
		f.key = a.frameworkKey(f)
		r.insert(f, false)
	}
	a.removeRole(r)
	r.key = a.roleKey(r)
	a.insertRole(r)
}

// refreshOrder recomputes every key and sorts the DRF order again if the cluster total or a
// weight changed since it was last sorted. Role sums are recomputed from their frameworks,
// which also drops any float drift of the incremental updates.
func (a *Allocator) refreshOrder() {
	if !a.stale {
		return
	}
	a.stale = false
	a.roleOrder = a.roleOrder[:0]
	for _, name := range a.roleNames {
		r := a.roles[name]
		r.held = scalars{}
		r.order = r.order[:0]
		for _, f := range r.frameworks {
			r.held = r.held.plus(f.held())
			f.key = a.frameworkKey(f)
			if !f.suppressed {
				r.order = append(r.order, f)
			}
		}
		slices.SortFunc(r.order, compareFrameworks)
		r.key = a.roleKey(r)
		a.roleOrder = append(a.roleOrder, r)
	}
	slices.SortFunc(a.roleOrder, compareRoles)
}

// Share is one framework's place in the DRF order.
type Share struct {
	Framework FrameworkID
	Role      string
	// Dominant is the framework's dominant share: the largest fraction of any kind of the
	// cluster total held by its tasks and outstanding offers.
	Dominant float64
	// RoleDominant is its role's dominant share (all the role's frameworks together)
	// divided by the role's weight; roles are ordered by it.
	RoleDominant float64
	// Allocated is what its tasks hold and Offered what its outstanding offers hold
	// (scalars only; ports are not part of shares).
	Allocated Resources
	Offered   Resources
}

// Shares lists every registered framework in DRF order: by role share, role name, framework
// share, framework id. The next offer goes to the first eligible one.
func (a *Allocator) Shares() []Share {
	out := make([]Share, 0, len(a.frameworks))
	for _, name := range a.roleNames {
		r := a.roles[name]
		var sum scalars
		for _, f := range r.frameworks {
			sum = sum.plus(f.held())
		}
		rs := sum.dominant(a.total) / a.weight(name)
		for _, f := range r.frameworks {
			out = append(out, Share{
				Framework:    f.info.ID,
				Role:         name,
				Dominant:     f.held().dominant(a.total),
				RoleDominant: rs,
				Allocated:    f.used.sum.resources(),
				Offered:      f.offered.resources(),
			})
		}
	}
	slices.SortStableFunc(out, func(x, y Share) int {
		return cmp.Or(cmp.Compare(x.RoleDominant, y.RoleDominant), cmp.Compare(x.Role, y.Role),
			cmp.Compare(x.Dominant, y.Dominant), cmp.Compare(x.Framework, y.Framework))
	})
	return out
}
