package schedule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/jobs/schedule"
)

func TestDueListsRunsAfterTheLastKnownUpToUntil(t *testing.T) {
	s := mustParse(t, "0 * * * *", "")
	after, until := at(t, "2026-01-01T10:00:00Z"), at(t, "2026-01-01T15:00:00Z")
	var got []string
	for _, d := range schedule.Due(s, after, until, 100) {
		got = append(got, d.Format(time.RFC3339))
	}
	// after is excluded (it already ran), until is included (it is due now).
	sameRuns(t, "hourly in (10:00, 15:00]", got,
		[]string{"2026-01-01T11:00:00Z", "2026-01-01T12:00:00Z", "2026-01-01T13:00:00Z", "2026-01-01T14:00:00Z", "2026-01-01T15:00:00Z"})
}

func TestDueKeepsTheEarliestMaxRuns(t *testing.T) {
	s := mustParse(t, "* * * * *", "")
	after := at(t, "2026-01-01T00:00:00Z")
	due := schedule.Due(s, after, after.AddDate(1, 0, 0), 3) // a year late: 525600 runs missed
	if len(due) != 3 || !due[0].Equal(after.Add(time.Minute)) || !due[2].Equal(after.Add(3*time.Minute)) {
		t.Fatalf("Due = %v; want the three minutes after %v", due, after)
	}
	if next, ok := s.Next(due[2]); !ok || !next.Equal(after.Add(4*time.Minute)) {
		t.Errorf("Next after the last due = %v, %v: the caller cannot tell more are due", next, ok)
	}
}

func TestDueIsEmptyForAnEmptyWindowOrNoMax(t *testing.T) {
	s := mustParse(t, "* * * * *", "")
	t0 := at(t, "2026-01-01T00:00:00Z")
	for _, c := range []struct {
		name         string
		after, until time.Time
		max          int
	}{
		{"until equals after", t0, t0, 10},
		{"until before after", t0, t0.Add(-time.Hour), 10},
		{"window shorter than the period", t0, t0.Add(59 * time.Second), 10},
		{"max zero", t0, t0.Add(time.Hour), 0},
		{"max negative", t0, t0.Add(time.Hour), -1},
	} {
		if due := schedule.Due(s, c.after, c.until, c.max); len(due) != 0 {
			t.Errorf("%s: Due = %v; want none", c.name, due)
		}
	}
}

func TestDueStopsWhenRepetitionsRunOut(t *testing.T) {
	s := mustParse(t, "R3/2026-01-01T00:00:00Z/P1D", "")
	due := schedule.Due(s, at(t, "2025-01-01T00:00:00Z"), at(t, "2030-01-01T00:00:00Z"), 100)
	if len(due) != 3 {
		t.Errorf("R3: Due = %v; want 3 runs", due)
	}
}

// stuck is a Schedule whose Next does not advance.
type stuck struct{ back time.Duration }

func (s stuck) Next(t time.Time) (time.Time, bool) { return t.Add(-s.back), true }
func (s stuck) String() string                     { return "stuck" }

func TestDueStopsOnAScheduleThatDoesNotAdvance(t *testing.T) {
	t0 := at(t, "2026-01-01T00:00:00Z")
	for _, back := range []time.Duration{0, time.Second} {
		if due := schedule.Due(stuck{back}, t0, t0.Add(time.Hour), 1000); len(due) != 0 {
			t.Errorf("Due over a Next that goes back %v = %v; want none", back, due)
		}
	}
}

func TestParseLoadsTheNamedZoneOnce(t *testing.T) {
	if _, err := schedule.Parse("0 2 * * *", "Europe/Berln"); err == nil ||
		err.Error() != `time zone "Europe/Berln" is unknown; name an IANA zone such as "Europe/Berlin" or "America/New_York", or leave it empty for UTC` {
		t.Errorf("unknown zone: %v", err)
	}
	if _, err := schedule.Parse("0 2 * * *", "Local"); err == nil ||
		err.Error() != `time zone "Local" depends on the machine; name an IANA zone such as "Europe/Berlin", or leave it empty for UTC` {
		t.Errorf("Local: %v", err)
	}
	s := mustParse(t, "0 2 * * *", "")
	if next, _ := s.Next(at(t, newYear)); next.Location() != time.UTC {
		t.Errorf("empty zone: Next is in %v, want UTC", next.Location())
	}
	nilLoc, err := schedule.ParseInLocation("0 2 * * *", nil)
	if err != nil {
		t.Fatal(err)
	}
	if next, _ := nilLoc.Next(at(t, newYear)); next.Location() != time.UTC {
		t.Errorf("nil location: Next is in %v, want UTC", next.Location())
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	s, err = schedule.ParseInLocation("0 2 * * *", tokyo) // 09:00 in Tokyo at newYear
	if err != nil {
		t.Fatal(err)
	}
	if next, _ := s.Next(at(t, newYear)); next.Format(time.RFC3339) != "2026-01-02T02:00:00+09:00" {
		t.Errorf("Tokyo: Next = %v", next)
	}
}

func TestStringReadsBackAsTheSameSchedule(t *testing.T) {
	from := at(t, "2026-03-01T00:00:00Z")
	for _, spec := range []string{
		"*/15 9-17 * * MON-FRI", "0 0 1,15 * 7", "@ANNUALLY", "@midnight",
		"r3/2026-03-28t02:30:00/p1dt1h", "R/2026-01-01T00:00:00.100+01:00/PT1.5S",
	} {
		s := mustParse(t, spec, "Europe/Berlin")
		again := mustParse(t, s.String(), "Europe/Berlin")
		a, b := runs(t, s, from, 20), runs(t, again, from, 20)
		if strings.Join(a, " ") != strings.Join(b, " ") {
			t.Errorf("%q reads back from %q as a different schedule", spec, s.String())
		}
	}
}

func BenchmarkNext(b *testing.B) {
	from := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct{ spec, zone string }{
		{"*/5 * * * *", "Europe/Berlin"},
		{"30 2 * * *", "Europe/Berlin"},
		{"0 0 29 2 *", "Europe/Berlin"},
		{"R/2000-01-31T02:30:00/P1M", "Europe/Berlin"},
		{"R/2000-01-01T00:00:00Z/PT1S", ""},
	} {
		s, err := schedule.Parse(c.spec, c.zone)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.spec, func(b *testing.B) {
			for b.Loop() {
				s.Next(from)
			}
		})
	}
}
