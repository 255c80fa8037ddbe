package autoscale

// LifetimeWeight is the share of PackScore given to keeping lifetimes apart when a task has
// a lifetime hint; the rest is bin packing. A third lets a host running only the same class
// win over a somewhat fuller mixed one, while packing still decides among hosts alike.
const LifetimeWeight = 1.0 / 3

// HostLoad is a host as PackScore sees it: its size, what is held on it, and how many of
// its tasks are long-lived and short-lived.
type HostLoad struct {
	Total, Allocated Amount
	Long, Short      int // tasks of each class (Unknown counts as Long)
}

// PackScore scores placing a task asking ask, with lifetime hint hint, on host h, from 0
// to 1, higher is better, for a placement that lets hosts empty so the autoscaler can
// remove them; ok is false when the task does not fit in what h has free.
//
// Bin packing: the mean over CPUs and memory of how full the host would be with the task
// ((allocated + ask) / total), so the fullest host that fits wins and tasks gather on few
// hosts (Fenzo's cpuMemBinPacker). With a hint (Long or Short), LifetimeWeight of the
// score is the share of the host's tasks of the same class (an empty host counts half), so
// long- and short-lived tasks keep to hosts of their own (as Mantis does): hosts that run
// only batch tasks empty together when the batch ends, instead of each keeping one service
// that pins it.
//
// PackScore is pure and deterministic, as placement's fitness calculators must be.
func PackScore(h HostLoad, ask Amount, hint Lifetime) (score float64, ok bool) {
	free := h.Total.Sub(h.Allocated)
	if !free.Fits(ask) {
		return 0, false
	}
	full := func(alloc, want, total float64) float64 {
		if total <= eps {
			return 0
		}
		return min((alloc+want)/total, 1)
	}
	pack := (full(h.Allocated.CPUs, ask.CPUs, h.Total.CPUs) + full(h.Allocated.Mem, ask.Mem, h.Total.Mem)) / 2
	if hint == Unknown {
		return pack, true
	}
	same, n := 0.5, h.Long+h.Short
	if n > 0 {
		if hint == Long {
			same = float64(h.Long) / float64(n)
		} else {
			same = float64(h.Short) / float64(n)
		}
	}
	return (1-LifetimeWeight)*pack + LifetimeWeight*same, true
}
