package allocator

import (
	"cmp"
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

// eligible reports whether f may be offered resources on agent at now.
func (f *frameworkState) eligible(agent AgentID, now time.Time) bool {
	if f.suppressed {
		return false
	}
	until, ok := f.refused[agent]
	return !ok || !now.Before(until)
}

func (a *Allocator) weight(role string) float64 {
	if w, ok := a.weights[role]; ok {
		return w
	}
	return 1
}

// pick chooses who is offered agent's free resources by hierarchical weighted DRF: the role
// with the lowest weighted dominant share among roles with an eligible framework, then that
// role's eligible framework with the lowest dominant share. Ties go to the lower role name,
// then the lower framework id. It is one pass over the frameworks, and returns nil when no
// framework may be offered this agent.
func (a *Allocator) pick(agent AgentID, now time.Time) *frameworkState {
	var best *frameworkState
	bestRole := 0.0
	for _, name := range a.roleNames {
		r := a.roles[name]
		var sum scalars
		var cand *frameworkState
		candShare := 0.0
		for _, f := range r.frameworks {
			h := f.held()
			sum = sum.plus(h)
			if !f.eligible(agent, now) {
				continue
			}
			if s := h.dominant(a.total); cand == nil || s < candShare {
				cand, candShare = f, s
			}
		}
		if cand == nil {
			continue
		}
		if rs := sum.dominant(a.total) / a.weight(name); best == nil || rs < bestRole {
			best, bestRole = cand, rs
		}
	}
	return best
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
