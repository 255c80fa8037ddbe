package placement

// placeTask places task i on the best host for it, or explains why there is none.
func (p *placer) placeTask(i int32) {
	c := p.classOf[i]
	id := p.tasks[i].ID
	if c.invalid != "" {
		p.result.Unplaced[id] = Why{Invalid: c.invalid, Unplaceable: true}
		return
	}
	g := p.groups[c.group]
	if c.failedAt != g.epoch {
		if h, score := p.search(i, c); h >= 0 {
			p.assign(i, c, h, score)
			return
		}
		c.failedAt = g.epoch
	}
	p.result.Unplaced[id] = p.explain(c)
}

// search returns the best host for task i of class c and its score, or -1.
func (p *placer) search(i int32, c *class) (int32, float64) {
	for _, b := range c.hard {
		if b.k.op == GroupBy {
			p.evenness(c, b)
		}
	}
	for _, b := range c.soft {
		if b.k.op == GroupBy {
			p.evenness(c, b)
		}
	}
	o := &p.order
	lo := o.from(c.need.of(o.by))
	n := len(o.idx) - lo
	best, bestScore := int32(-1), -1.0
	bounded := p.cfg.bounded && len(c.soft) == 0
	filter := !c.plain || p.heldBy != nil // some host may be held by another group
	if filter && c.gone == nil && c.size >= goneMinTasks {
		c.gone = make([]uint64, (len(p.hostAt)+63)/64)
	}
	lastKey, limit := -1.0, 1.0
	for k := 0; k < n; k++ {
		var h int32
		if o.desc {
			h = o.idx[len(o.idx)-1-k]
		} else {
			h = o.idx[lo+k]
		}
		if c.gone != nil && c.gone[h>>6]&(1<<(h&63)) != 0 {
			continue
		}
		if bounded {
			// No host from here on can score above limit: stop once the best reaches it.
			if key := o.key(h); key != lastKey {
				lastKey, limit = key, p.limit(c, key)
				if bestScore >= limit {
					break
				}
			}
		}
		if !p.free[h].fits(&c.need) {
			c.forget(h)
			continue
		}
		if filter {
			if ok, forGood := p.accepts(c, h); !ok {
				if forGood {
					c.forget(h)
				}
				continue
			}
		}
		s := p.score(i, c, h)
		if s > bestScore {
			best, bestScore = h, s
			if s >= p.cfg.stop || bounded && s >= limit {
				break
			}
		}
	}
	return best, bestScore
}

// limit bounds the score of every host of class c's search from the one with key free of
// the ordered resource on.
func (p *placer) limit(c *class, free float64) float64 {
	sum := 0.0
	for _, t := range p.cfg.terms {
		b := 1.0
		if t.fast != nil {
			b = t.fast.bound(p.cfg.by, p.maxKey, free, c)
		}
		sum += t.weight * b
	}
	return sum / c.weights
}

// accepts reports whether host h, which has the resources, passes class c's exclusivity and
// hard constraints, and when it does not, whether it never will in this call.
func (p *placer) accepts(c *class, h int32) (ok, forGood bool) {
	if p.exclusiveReason(c, h) != 0 {
		return false, true
	}
	for _, b := range c.hard {
		v := b.ofHost[h]
		switch {
		case v < 0:
			if b.k.op != Unlike {
				return false, true
			}
		case !b.k.static:
			if !b.holds(v) {
				return false, b.k.op != GroupBy
			}
		case !b.k.matches(p.fields[b.k.field], v):
			return false, true
		}
	}
	return true, false
}

// goneMinTasks is how many tasks a class needs for its search to remember the hosts that
// rejected it for good: below that the memory would cost more than the search saves.
const goneMinTasks = 8

// forget marks host h as one that will never accept a task of c in this call: every reason
// but GROUP_BY only hardens as tasks are placed (free resources shrink, the groups' counts
// grow, exclusive holds are only added, CLUSTER's value once set stays).
func (c *class) forget(h int32) {
	if c.gone != nil {
		c.gone[h>>6] |= 1 << (h & 63)
	}
}

// holds reports whether the group's layout allows one more task on value v (a dynamic
// constraint: UNIQUE, MAX_PER, GROUP_BY, CLUSTER without a value).
func (b *bound) holds(v int32) bool {
	switch b.k.op {
	case Unique:
		return b.counts[v] == 0
	case MaxPer:
		return b.counts[v] < int32(b.k.n)
	case GroupBy:
		return b.counts[v] == b.even.min
	case Cluster:
		return *b.cluster < 0 || *b.cluster == v
	}
	return true
}

// exclusiveReason is why exclusivity keeps a task of class c off host h, or 0.
func (p *placer) exclusiveReason(c *class, h int32) int {
	if p.heldBy != nil {
		if by := p.heldBy[h]; by != -1 && by != c.group {
			return reasonHeld
		}
	}
	if c.exclusive && p.tasksOn[h] > p.groups[c.group].onHost[h] {
		return reasonNotAlone
	}
	return 0
}

// score is host h's weighted average for task i of class c.
func (p *placer) score(i int32, c *class, h int32) float64 {
	terms := p.cfg.terms
	if len(terms) == 1 && len(c.soft) == 0 && terms[0].fast != nil {
		return terms[0].fast.fast(p, c, h)
	}
	sum := 0.0
	for _, t := range terms {
		var s float64
		if t.fast != nil {
			s = t.fast.fast(p, c, h)
		} else {
			s = clamp(t.f.Score(&p.tasks[i], p.state(c, h)))
		}
		sum += t.weight * s
	}
	for _, b := range c.soft {
		sum += p.cfg.soft * b.score(p, h)
	}
	return sum / c.weights
}

// score is how well host h satisfies the soft constraint b, 0 to 1.
func (b *bound) score(p *placer, h int32) float64 {
	k := b.k
	v := p.fields[k.field].ofHost[h]
	if v < 0 {
		if k.op == Unlike {
			return 1
		}
		return 0
	}
	switch {
	case k.static:
		if k.matches(p.fields[k.field], v) {
			return 1
		}
		return 0
	case k.op == Unique:
		return 1 / (1 + float64(b.counts[v]))
	case k.op == GroupBy:
		return 1 / (1 + float64(max(b.counts[v]-b.even.min, 0)))
	}
	if b.holds(v) {
		return 1
	}
	return 0
}
