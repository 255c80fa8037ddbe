package autoscale

import "testing"

func TestPackScorePrefersFullerHosts(t *testing.T) {
	ask := Amount{CPUs: 1, Mem: gib}
	empty := HostLoad{Total: shape}
	half := HostLoad{Total: shape, Allocated: Amount{CPUs: 2, Mem: 8 * gib}, Long: 1}
	full := HostLoad{Total: shape, Allocated: Amount{CPUs: 3.5, Mem: 8 * gib}, Long: 1}
	e, ok1 := PackScore(empty, ask, Unknown)
	h, ok2 := PackScore(half, ask, Unknown)
	if !ok1 || !ok2 || !(h > e) {
		t.Fatalf("empty %v (%v), half-full %v (%v): the fuller host should win", e, ok1, h, ok2)
	}
	if s, ok := PackScore(full, ask, Unknown); ok || s != 0 {
		t.Fatalf("a host without room scored %v, ok %v", s, ok)
	}
	// Full to the brim with the task: the best score there is.
	brim := HostLoad{Total: shape, Allocated: Amount{CPUs: 3, Mem: 15 * gib}}
	if s, _ := PackScore(brim, ask, Unknown); s != 1 {
		t.Fatalf("a host the task fills scores %v, want 1", s)
	}
}

func TestPackScoreKeepsLifetimesApart(t *testing.T) {
	ask := Amount{CPUs: 1, Mem: gib}
	used := Amount{CPUs: 2, Mem: 4 * gib}
	services := HostLoad{Total: shape, Allocated: used, Long: 3}
	batches := HostLoad{Total: shape, Allocated: used, Short: 3}
	// A somewhat fuller host of the other class still loses.
	fullerServices := HostLoad{Total: shape, Allocated: Amount{CPUs: 2.5, Mem: 6 * gib}, Long: 3}
	for _, tc := range []struct {
		hint        Lifetime
		same, other HostLoad
	}{
		{Short, batches, services},
		{Short, batches, fullerServices},
		{Long, services, batches},
	} {
		s, _ := PackScore(tc.same, ask, tc.hint)
		o, _ := PackScore(tc.other, ask, tc.hint)
		if !(s > o) {
			t.Errorf("hint %s: host of the same class scored %v, other class %v", tc.hint, s, o)
		}
	}
	// Without a hint only packing counts: the two equally full hosts tie.
	a, _ := PackScore(services, ask, Unknown)
	b, _ := PackScore(batches, ask, Unknown)
	if a != b {
		t.Errorf("no hint: %v vs %v, want a tie", a, b)
	}
	// Scores stay within 0..1.
	for _, h := range []HostLoad{{Total: shape}, services, batches} {
		for _, hint := range []Lifetime{Unknown, Long, Short} {
			if s, _ := PackScore(h, ask, hint); s < 0 || s > 1 {
				t.Errorf("score %v out of 0..1", s)
			}
		}
	}
}
