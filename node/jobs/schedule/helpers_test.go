package schedule_test

import (
	"strings"
	"testing"
	"time"

	// The tests name zones; embed the database so they do not depend on
	// the machine's copy.
	_ "time/tzdata"

	"github.com/clusterd/clusterd/node/jobs/schedule"
)

func mustParse(t testing.TB, spec, zone string) schedule.Schedule {
	t.Helper()
	s, err := schedule.Parse(spec, zone)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", spec, zone, err)
	}
	return s
}

// at reads an RFC 3339 time.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return v
}

// runs is the first n runs after from, as RFC 3339 in the schedule's zone.
func runs(t testing.TB, s schedule.Schedule, from time.Time, n int) []string {
	t.Helper()
	var out []string
	cur := from
	for len(out) < n {
		next, ok := s.Next(cur)
		if !ok {
			break
		}
		if !next.After(cur) {
			t.Fatalf("%v: Next(%v) = %v, not after it", s, cur, next)
		}
		out = append(out, next.Format(time.RFC3339Nano))
		cur = next
	}
	return out
}

func sameRuns(t testing.TB, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s:\n got  %s\n want %s", what, strings.Join(got, " "), strings.Join(want, " "))
	}
}
