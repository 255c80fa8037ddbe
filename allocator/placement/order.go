package placement

import (
	"cmp"
	"slices"
)

// searchOrder keeps the hosts sorted by their free amount of one resource, then by index
// (ID), so a task's search starts at the first host with enough of it and, for bin packing,
// meets the fullest hosts that fit first. Visiting most free first (desc), it walks the
// order backwards, so idx has equal amounts by index descending: among equals the lowest
// index is visited first either way. A placement only lowers one host's amount, which
// mostly moves it a short way (among hosts of equal amount the first visited is placed on
// first).
type searchOrder struct {
	by   resource
	desc bool
	free []amount // the placer's, read for the keys
	idx  []int32
}

func (o *searchOrder) init(p *placer, by resource, desc bool) {
	o.by, o.desc, o.free = by, desc, p.free
	type entry struct {
		key float64
		h   int32
	}
	es := make([]entry, len(p.free))
	for h := range es {
		es[h] = entry{p.free[h].of(by), int32(h)}
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return o.tie(a.h, b.h)
	})
	o.idx = make([]int32, len(es))
	for i, e := range es {
		o.idx[i] = e.h
	}
}

func (o *searchOrder) key(h int32) float64 { return o.free[h].of(o.by) }

// tie orders hosts of equal amount.
func (o *searchOrder) tie(a, b int32) int {
	if o.desc {
		return cmp.Compare(b, a)
	}
	return cmp.Compare(a, b)
}

// moved puts host h back in order after its amount changed from before.
func (o *searchOrder) moved(h int32, before float64) {
	after := o.key(h)
	if after == before {
		return
	}
	// Find h by its old key: compare the others by their (unchanged) keys.
	i, _ := slices.BinarySearchFunc(o.idx, h, func(x, h int32) int {
		kx := o.key(x)
		if x == h {
			kx = before
		}
		if c := cmp.Compare(kx, before); c != 0 {
			return c
		}
		return o.tie(x, h)
	})
	// Find where it goes among the others, then shift only the hosts in between.
	if after < before {
		j := o.positionIn(o.idx[:i], after, h)
		copy(o.idx[j+1:i+1], o.idx[j:i])
		o.idx[j] = h
		return
	}
	j := i + 1 + o.positionIn(o.idx[i+1:], after, h)
	copy(o.idx[i:j-1], o.idx[i+1:j])
	o.idx[j-1] = h
}

// positionIn is where host h with amount key would sit in the sorted part idx.
func (o *searchOrder) positionIn(idx []int32, key float64, h int32) int {
	i, _ := slices.BinarySearchFunc(idx, h, func(x, h int32) int {
		if c := cmp.Compare(o.key(x), key); c != 0 {
			return c
		}
		return o.tie(x, h)
	})
	return i
}

// from is the position of the first host with at least need free.
func (o *searchOrder) from(need float64) int {
	i, _ := slices.BinarySearchFunc(o.idx, need-eps, func(x int32, need float64) int {
		if o.key(x) < need {
			return -1
		}
		return 1
	})
	return i
}
