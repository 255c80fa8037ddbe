package placement

import "math"

// Config is how Place scores and searches. The zero Config is valid: it is DefaultConfig.
type Config struct {
	// Fitness is the weighted average that scores each host that passes a task's filters;
	// calculators whose weight is not positive and finite are left out, and with none left
	// Place uses BinPackCPUMem alone.
	Fitness []Weighted
	// GoodEnough ends the search for a task's host at the first host scoring at least this
	// (Fenzo's "fitness good enough" function), trading packing quality for speed. Zero, or
	// anything not below 1, searches every host that fits and takes the best one (the first
	// visited among equals); that search still stops at a host scoring 1, or once the
	// order of the hosts proves no later one can score higher (see Place).
	GoodEnough float64
	// SoftWeight is the weight of each soft constraint of a task in the weighted average,
	// next to the Fitness weights; zero means 1.
	SoftWeight float64
}

// DefaultConfig is CPU and memory bin packing (BinPackCPUMem), a full search, and soft
// constraints weighing as much as the fitness.
func DefaultConfig() Config {
	return Config{Fitness: []Weighted{{Fitness: BinPackCPUMem{}, Weight: 1}}, SoftWeight: 1}
}

// resolved is a Config with its defaults filled in and the search order chosen.
type resolved struct {
	terms    []term
	weights  float64 // sum of the terms' weights
	stop     float64 // a host scoring at least this ends the search
	soft     float64
	by       resource // hosts are visited by their free amount of this resource,
	desc     bool     // most free first when desc, else least free first
	bounded  bool     // some term bounds its score along that order
	needsSum bool     // some term reads HostState's task counts
}

func resolve(cfg Config) resolved {
	var r resolved
	for _, w := range cfg.Fitness {
		if w.Fitness != nil && weightOK(w.Weight) {
			t := term{f: w.Fitness, weight: w.Weight, fast: builtinOf(w.Fitness)}
			r.terms = append(r.terms, t)
			r.weights += w.Weight
		}
	}
	if len(r.terms) == 0 {
		r.terms = []term{{f: BinPackCPUMem{}, fast: BinPackCPUMem{}, weight: 1}}
		r.weights = 1
	}
	r.stop = 1
	if g := cfg.GoodEnough; g > 0 && g < 1 {
		r.stop = g
	}
	r.soft = 1
	if weightOK(cfg.SoftWeight) {
		r.soft = cfg.SoftWeight
	}
	// The heaviest built-in calculator chooses the order (the first among equals); with
	// none, hosts are visited by free CPUs, least first.
	heaviest := math.Inf(-1)
	for _, t := range r.terms {
		if t.fast == nil {
			r.needsSum = true
			continue
		}
		if _, ok := t.fast.(Spread); ok {
			r.needsSum = true
		}
		if t.weight > heaviest {
			heaviest = t.weight
			r.by, r.desc = t.fast.order()
		}
	}
	if !r.desc {
		for _, t := range r.terms {
			// A calculator bounds its scores along the order if the bound drops below 1
			// for a host with all of the resource free.
			if t.fast != nil && t.fast.bound(r.by, 1, 1, &class{}) < 1 {
				r.bounded = true
			}
		}
	}
	return r
}

// builtinOf is f as one of this package's calculators, or nil for any other type (also one
// that embeds a built-in calculator: it may score differently).
func builtinOf(f Fitness) builtin {
	switch f := f.(type) {
	case BinPackCPU, BinPackMem, BinPackPorts, BinPackCPUMem, Spread:
		return f.(builtin)
	case *BinPackCPU:
		return BinPackCPU{}
	case *BinPackMem:
		return BinPackMem{}
	case *BinPackPorts:
		return BinPackPorts{}
	case *BinPackCPUMem:
		return BinPackCPUMem{}
	case *Spread:
		return Spread{}
	}
	return nil
}
