package schedule_test

import (
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/jobs/schedule"
)

func TestIntervalReadsEveryForm(t *testing.T) {
	for _, c := range []struct {
		name, spec, zone, normal string
		want                     []string // the first runs after 2025-12-01; all of them for Rn
	}{
		{"unlimited daily", "R/2026-01-01T02:00:00Z/P1D", "", "R/2026-01-01T02:00:00Z/P1D",
			[]string{"2026-01-01T02:00:00Z", "2026-01-02T02:00:00Z", "2026-01-03T02:00:00Z"}},
		{"any case", "r/2026-01-01t02:00:00z/p1d", "", "R/2026-01-01T02:00:00Z/P1D",
			[]string{"2026-01-01T02:00:00Z"}},
		{"Chronos's R-1 is R", "R-1/2026-01-01T02:00:00Z/P1D", "", "R/2026-01-01T02:00:00Z/P1D",
			[]string{"2026-01-01T02:00:00Z"}},
		{"count with an offset", "R5/2026-01-01T02:00:00+01:00/PT30M", "", "R5/2026-01-01T02:00:00+01:00/PT30M",
			[]string{"2026-01-01T01:00:00Z", "2026-01-01T01:30:00Z", "2026-01-01T02:00:00Z", "2026-01-01T02:30:00Z", "2026-01-01T03:00:00Z"}},
		{"leading zeros in the count", "R05/2026-01-01T02:00:00Z/PT1H", "", "R5/2026-01-01T02:00:00Z/PT1H",
			[]string{"2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z", "2026-01-01T05:00:00Z", "2026-01-01T06:00:00Z"}},
		{"zero fraction of a second", "R/2026-01-01T02:00:00.000Z/PT2H", "", "R/2026-01-01T02:00:00Z/PT2H",
			[]string{"2026-01-01T02:00:00Z", "2026-01-01T04:00:00Z"}},
		{"fractions of a second", "R/2026-01-01T02:00:00.250Z/PT0.5S", "", "R/2026-01-01T02:00:00.25Z/PT0.5S",
			[]string{"2026-01-01T02:00:00.25Z", "2026-01-01T02:00:00.75Z", "2026-01-01T02:00:01.25Z"}},
		{"decimal commas", "R/2026-01-01T02:00:00,5Z/PT1,5S", "", "R/2026-01-01T02:00:00.5Z/PT1.5S",
			[]string{"2026-01-01T02:00:00.5Z", "2026-01-01T02:00:02Z"}},
		{"+00:00 is Z", "R/2026-01-01T02:00:00+00:00/P1W", "", "R/2026-01-01T02:00:00Z/P1W",
			[]string{"2026-01-01T02:00:00Z", "2026-01-08T02:00:00Z"}},
		{"offset without a colon", "R/2026-01-01T02:00:00+0530/P1D", "", "R/2026-01-01T02:00:00+05:30/P1D",
			[]string{"2025-12-31T20:30:00Z"}},
		{"offset in hours", "R/2026-01-01T02:00:00-05/PT1H", "", "R/2026-01-01T02:00:00-05:00/PT1H",
			[]string{"2026-01-01T07:00:00Z"}},
		{"time without seconds", "R/2026-01-01T02:00/P1Y", "", "R/2026-01-01T02:00:00/P1Y",
			[]string{"2026-01-01T02:00:00Z", "2027-01-01T02:00:00Z"}},
		{"date alone is midnight", "R/2026-01-01/P1M", "", "R/2026-01-01T00:00:00/P1M",
			[]string{"2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"}},
		{"start without offset is in the schedule's zone", "R/2026-01-01T02:00:00/P1D", "Europe/Berlin", "R/2026-01-01T02:00:00/P1D",
			[]string{"2026-01-01T02:00:00+01:00", "2026-01-02T02:00:00+01:00"}},
		{"start with offset is that instant, shown in the schedule's zone", "R/2026-01-01T02:00:00Z/P1D", "America/New_York", "R/2026-01-01T02:00:00Z/P1D",
			[]string{"2025-12-31T21:00:00-05:00"}},
		{"zero amounts are dropped", "R/2026-01-01T02:00:00Z/P0Y1M0DT0H", "", "R/2026-01-01T02:00:00Z/P1M",
			[]string{"2026-01-01T02:00:00Z", "2026-02-01T02:00:00Z"}},
		{"every unit", "R2/2026-01-01T00:00:00Z/P1Y2M3W4DT5H6M7.5S", "", "R2/2026-01-01T00:00:00Z/P1Y2M3W4DT5H6M7.5S",
			// 2026-01-01 + 1Y2M = 2027-03-01, + 25 days = 03-26, + 05:06:07.5.
			[]string{"2026-01-01T00:00:00Z", "2027-03-26T05:06:07.5Z"}},
		{"R1 runs once", "R1/2026-01-01T02:00:00Z/P1D", "", "R1/2026-01-01T02:00:00Z/P1D",
			[]string{"2026-01-01T02:00:00Z"}},
		{"R1 may have a zero period", "R1/2026-01-01T02:00:00Z/PT0S", "", "R1/2026-01-01T02:00:00Z/PT0S",
			[]string{"2026-01-01T02:00:00Z"}},
		{"R0 never runs", "R0/2026-01-01T02:00:00Z/P0D", "", "R0/2026-01-01T02:00:00Z/PT0S", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.spec, c.zone)
			if s.String() != c.normal {
				t.Errorf("String() = %q, want %q", s.String(), c.normal)
			}
			if again := mustParse(t, s.String(), c.zone); again.String() != s.String() {
				t.Errorf("String() does not read back: %q becomes %q", s.String(), again.String())
			}
			n := len(c.want)
			if c.normal[1] != '/' { // Rn: all n runs, and no more
				n = 10
			}
			sameRuns(t, c.spec, runs(t, s, at(t, "2025-12-01T00:00:00Z"), n), c.want)
		})
	}
}

func TestIntervalCountsRepetitionsFromTheStart(t *testing.T) {
	s := mustParse(t, "R5/2026-01-01T00:00:00Z/PT1H", "")
	for _, c := range []struct {
		from, want string // want "" for none
	}{
		{"2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"}, // before the start: the start
		{"2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"}, // at the start: the second run
		{"2026-01-01T03:59:59Z", "2026-01-01T04:00:00Z"}, // before the fifth
		{"2026-01-01T04:00:00Z", ""},                     // at the fifth: that was the last
		{"2030-01-01T00:00:00Z", ""},                     // long after
	} {
		got, ok := s.Next(at(t, c.from))
		switch {
		case c.want == "" && ok:
			t.Errorf("Next(%s) = %v; want none: R5 has run five times", c.from, got)
		case c.want != "" && (!ok || !got.Equal(at(t, c.want))):
			t.Errorf("Next(%s) = %v, %v; want %s", c.from, got, ok, c.want)
		}
	}
	if n := len(schedule.Due(s, at(t, "2000-01-01T00:00:00Z"), at(t, "2100-01-01T00:00:00Z"), 100)); n != 5 {
		t.Errorf("R5 runs %d times, want 5", n)
	}
	once := mustParse(t, "R1/2026-01-01T00:00:00Z/P1D", "")
	if got, ok := once.Next(at(t, "2026-01-01T00:00:00Z")); ok {
		t.Errorf("R1: Next(start) = %v; want none", got)
	}
	never := mustParse(t, "R0/2026-01-01T00:00:00Z/P1D", "")
	if got, ok := never.Next(at(t, "2000-01-01T00:00:00Z")); ok {
		t.Errorf("R0: Next = %v; want none", got)
	}
}

func TestIntervalNextFarAfterTheStartIsComputedNotIterated(t *testing.T) {
	// 500 years of seconds is 1.6e10 periods: stepping through them would
	// not finish.
	s := mustParse(t, "R/2026-01-01T00:00:00Z/PT1S", "")
	got, ok := s.Next(at(t, "2526-01-01T00:00:00.5Z"))
	if !ok || !got.Equal(at(t, "2526-01-01T00:00:01Z")) {
		t.Errorf("PT1S: Next = %v, %v", got, ok)
	}
	// The millionth second is the last of R1000000.
	s = mustParse(t, "R1000000/2026-01-01T00:00:00Z/PT1S", "")
	last := at(t, "2026-01-12T13:46:39Z") // start + 999999 s
	if got, ok := s.Next(last.Add(-time.Nanosecond)); !ok || !got.Equal(last) {
		t.Errorf("R1000000: Next before the last = %v, %v; want %v", got, ok, last)
	}
	if got, ok := s.Next(last); ok {
		t.Errorf("R1000000: Next(last) = %v; want none", got)
	}
	// Calendar periods far out.
	s = mustParse(t, "R/2026-01-31T00:00:00Z/P1M", "")
	if got, ok := s.Next(at(t, "9999-01-01T00:00:00Z")); !ok || !got.Equal(at(t, "9999-01-31T00:00:00Z")) {
		t.Errorf("P1M in 9999: Next = %v, %v", got, ok)
	}
	s = mustParse(t, "R1200/2026-01-31T00:00:00Z/P1M", "") // the last run is 1199 months on
	if got, ok := s.Next(at(t, "2125-12-01T00:00:00Z")); !ok || !got.Equal(at(t, "2125-12-31T00:00:00Z")) {
		t.Errorf("R1200 P1M: Next before the last = %v, %v", got, ok)
	}
	if got, ok := s.Next(at(t, "2125-12-31T00:00:00Z")); ok {
		t.Errorf("R1200 P1M: Next(last) = %v; want none", got)
	}
	// Past what time.Time holds sensibly: none, not a wrapped time.
	s = mustParse(t, "R/2026-01-01T00:00:00Z/P100000Y", "")
	if got, ok := s.Next(at(t, "2027-01-01T00:00:00Z")); !ok || got.Year() != 102026 {
		t.Errorf("P100000Y: Next = %v, %v; want the year 102026", got, ok)
	}
	if got, ok := s.Next(time.Date(150000, 1, 1, 0, 0, 0, 0, time.UTC)); ok {
		t.Errorf("P100000Y: Next past the year 200000 = %v; want none", got)
	}
}

func TestIntervalMonthEndsClampWithoutDrifting(t *testing.T) {
	for _, c := range []struct {
		name, spec string
		want       []string
	}{
		{"Jan 31 monthly: last day of short months, back to the 31st", "R/2026-01-31T10:00:00Z/P1M",
			[]string{"2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z", "2026-03-31T10:00:00Z", "2026-04-30T10:00:00Z", "2026-05-31T10:00:00Z"}},
		{"Jan 31 monthly in a leap year", "R/2028-01-31T10:00:00Z/P1M",
			[]string{"2028-01-31T10:00:00Z", "2028-02-29T10:00:00Z", "2028-03-31T10:00:00Z"}},
		{"Mar 31 every two months", "R/2026-03-31T00:00:00Z/P2M",
			[]string{"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-09-30T00:00:00Z", "2026-11-30T00:00:00Z", "2027-01-31T00:00:00Z"}},
		{"Feb 29 yearly: Feb 28 in common years", "R/2028-02-29T00:00:00Z/P1Y",
			[]string{"2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z", "2030-02-28T00:00:00Z", "2031-02-28T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"month then days: Jan 31 + P1M1D is Mar 1", "R/2026-01-31T00:00:00Z/P1M1D",
			[]string{"2026-01-31T00:00:00Z", "2026-03-01T00:00:00Z", "2026-04-02T00:00:00Z"}},
		{"days cross month ends plainly", "R/2026-01-30T00:00:00Z/P1D",
			[]string{"2026-01-30T00:00:00Z", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.spec, "")
			sameRuns(t, c.spec, runs(t, s, at(t, "2000-01-01T00:00:00Z"), len(c.want)), c.want)
		})
	}
}

func TestIntervalCalendarPeriodsKeepLocalTimeExactPeriodsDoNot(t *testing.T) {
	for _, c := range []struct {
		name, spec, zone string
		want             []string
	}{
		{"P1D stays at 02:30 in Berlin; the skipped 02:30 moves on by the gap", "R/2026-03-27T02:30:00/P1D", "Europe/Berlin",
			[]string{"2026-03-27T02:30:00+01:00", "2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"PT24H moves to 03:30 in Berlin after spring", "R/2026-03-27T02:30:00/PT24H", "Europe/Berlin",
			[]string{"2026-03-27T02:30:00+01:00", "2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-30T03:30:00+02:00"}},
		{"P1D takes the first of a repeated 02:30 in Berlin", "R/2026-10-24T02:30:00/P1D", "Europe/Berlin",
			[]string{"2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
		{"PT24H moves to 01:30 in Berlin after autumn", "R/2026-10-24T02:30:00/PT24H", "Europe/Berlin",
			[]string{"2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T01:30:00+01:00"}},
		{"P1D stays at 02:30 in New York", "R/2026-03-07T02:30:00/P1D", "America/New_York",
			[]string{"2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"}},
		{"PT24H moves to 03:30 in New York", "R/2026-03-07T02:30:00/PT24H", "America/New_York",
			[]string{"2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00", "2026-03-09T03:30:00-04:00"}},
		{"P1D takes the first of a repeated 01:30 in New York", "R/2026-10-31T01:30:00/P1D", "America/New_York",
			[]string{"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"PT24H moves to 00:30 in New York after autumn", "R/2026-10-31T01:30:00/PT24H", "America/New_York",
			[]string{"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T00:30:00-05:00"}},
		{"P1W keeps local time", "R/2026-03-22T09:00:00/P1W", "Europe/Berlin",
			[]string{"2026-03-22T09:00:00+01:00", "2026-03-29T09:00:00+02:00", "2026-04-05T09:00:00+02:00"}},
		{"P1M keeps local time", "R/2026-02-15T09:00:00/P1M", "America/New_York",
			[]string{"2026-02-15T09:00:00-05:00", "2026-03-15T09:00:00-04:00"}},
		{"P1DT12H: days on the clock, then 12 elapsed hours, scaled from the start", "R/2026-03-28T00:00:00/P1DT12H", "Europe/Berlin",
			[]string{"2026-03-28T00:00:00+01:00", "2026-03-29T13:00:00+02:00", "2026-03-31T00:00:00+02:00"}},
		{"a zone-less start in the gap moves on by the gap; the runs after keep its time", "R/2026-03-29T02:30:00/P1D", "Europe/Berlin",
			[]string{"2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"a zone-less start in the repeated hour is the first", "R/2026-10-25T02:30:00/P1D", "Europe/Berlin",
			[]string{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
		{"an offset picks the second of a repeated hour", "R/2026-10-25T02:30:00+01:00/P1D", "Europe/Berlin",
			[]string{"2026-10-25T02:30:00+01:00", "2026-10-26T02:30:00+01:00"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.spec, c.zone)
			sameRuns(t, c.spec+" in "+c.zone, runs(t, s, at(t, "2026-01-01T00:00:00Z"), len(c.want)), c.want)
		})
	}
}

func TestIntervalRejectsWhatChronosRejects(t *testing.T) {
	const ok = "R/2026-01-01T00:00:00Z/P1D"
	for _, c := range []struct{ spec, want string }{
		{"2026-01-01T00:00:00Z/P1D", `repeating interval "2026-01-01T00:00:00Z/P1D": must start with R (repeat without end) or Rn (n runs in all); write R/2026-01-01T00:00:00Z/P1D`},
		{"P1D", `schedule "P1D" is a period without a start or repetitions; write R/<start>/P1D, as in R/2026-01-01T02:00:00Z/P1D`},
		{"R/2026-01-01T00:00:00Z", `repeating interval "R/2026-01-01T00:00:00Z": has 2 parts; want three, R<n>/<start>/<period>, as in R/2026-01-01T02:00:00Z/P1D`},
		{"Rx/2026-01-01T00:00:00Z/P1D", `repeating interval "Rx/2026-01-01T00:00:00Z/P1D": repetitions "Rx": write R for no limit or Rn for n runs in all, as in R5`},
		{"R-2/2026-01-01T00:00:00Z/P1D", `repeating interval "R-2/2026-01-01T00:00:00Z/P1D": repetitions "R-2": write R for no limit or Rn for n runs in all, as in R5`},
		{"R99999999999999999999/2026-01-01T00:00:00Z/P1D", `repeating interval "R99999999999999999999/2026-01-01T00:00:00Z/P1D": repetitions "R99999999999999999999": too many; write R for no limit`},
		{"R//P1D", `repeating interval "R//P1D": start is missing; write the first run time, as in R/2026-01-01T02:00:00Z/P1D (an empty start means "now" to Chronos, which a stored schedule cannot mean)`},
		{"R/P1D/2026-01-01T00:00:00Z", `repeating interval "R/P1D/2026-01-01T00:00:00Z": gives a period before an end; clusterd takes only R<n>/<start>/<period>, as in R/2026-01-01T02:00:00Z/P1D`},
		{"R/2026-01-01T00:00:00Z/2026-02-01T00:00:00Z", `repeating interval "R/2026-01-01T00:00:00Z/2026-02-01T00:00:00Z": gives a start and an end; clusterd takes only R<n>/<start>/<period>, as in R/2026-01-01T02:00:00Z/P1D`},
		{"R/26-01-01T00:00:00Z/P1D", `repeating interval "R/26-01-01T00:00:00Z/P1D": start "26-01-01T00:00:00Z": want 4 digits for the year at "26-01-01T00:00:00Z"; write a date and time such as 2026-01-01T02:00:00Z, 2026-01-01T02:00:00+01:00, or 2026-01-01T02:00:00 for the schedule's time zone`},
		{"R/2026-13-01T00:00:00Z/P1D", `repeating interval "R/2026-13-01T00:00:00Z/P1D": start "2026-13-01T00:00:00Z": month 13 is out of range 1-12`},
		{"R/2026-02-29T00:00:00Z/P1D", `repeating interval "R/2026-02-29T00:00:00Z/P1D": start "2026-02-29T00:00:00Z": day 29 is out of range 1-28 for February 2026`},
		{"R/2026-01-01T24:00:00Z/P1D", `repeating interval "R/2026-01-01T24:00:00Z/P1D": start "2026-01-01T24:00:00Z": hour 24 is out of range 0-23; write 00:00 of the next day`},
		{"R/2026-01-01T02:60:00Z/P1D", `repeating interval "R/2026-01-01T02:60:00Z/P1D": start "2026-01-01T02:60:00Z": minute 60 is out of range 0-59`},
		{"R/2026-01-01T02:00:60Z/P1D", `repeating interval "R/2026-01-01T02:00:60Z/P1D": start "2026-01-01T02:00:60Z": second 60 is out of range 0-59 (leap seconds are not supported)`},
		{"R/2026-01-01 02:00:00Z/P1D", `repeating interval "R/2026-01-01 02:00:00Z/P1D": start "2026-01-01 02:00:00Z": has a space between the date and the time; join them with T, as in 2026-01-01T02:00:00Z`},
		{"R/2026-01-01T02:00:00CET/P1D", `repeating interval "R/2026-01-01T02:00:00CET/P1D": start "2026-01-01T02:00:00CET": "CET" after the time is not a zone offset; end with Z, an offset such as +01:00, or nothing for the schedule's time zone`},
		{"R/2026-01-01T02:00:00+25:00/P1D", `repeating interval "R/2026-01-01T02:00:00+25:00/P1D": start "2026-01-01T02:00:00+25:00": offset +25:00 is out of range; offsets go from -23:59 to +23:59`},
		{"R/2026-01-01T00:00:00Z/", `repeating interval "R/2026-01-01T00:00:00Z/": period "": is missing; write one such as P1D, PT1H or P1M`},
		{"R/2026-01-01T00:00:00Z/P", `repeating interval "R/2026-01-01T00:00:00Z/P": period "P": has no amount; write one such as P1D, PT1H or P1M`},
		{"R/2026-01-01T00:00:00Z/PT", `repeating interval "R/2026-01-01T00:00:00Z/PT": period "PT": ends in T; follow it with hours, minutes or seconds, as in PT12H`},
		{"R/2026-01-01T00:00:00Z/P1X", `repeating interval "R/2026-01-01T00:00:00Z/P1X": period "P1X": has "X", which is not a unit; use Y, M, W, D before T and H, M, S after it`},
		{"R/2026-01-01T00:00:00Z/P1H", `repeating interval "R/2026-01-01T00:00:00Z/P1H": period "P1H": has 1H before T; hours, minutes and seconds follow T: write PT1H`},
		{"R/2026-01-01T00:00:00Z/PT1D", `repeating interval "R/2026-01-01T00:00:00Z/PT1D": period "PT1D": has 1D after T; years, months, weeks and days come before T: write P1D`},
		{"R/2026-01-01T00:00:00Z/P1DT1HT1M", `repeating interval "R/2026-01-01T00:00:00Z/P1DT1HT1M": period "P1DT1HT1M": has a second T; write one T before the hours, minutes and seconds, as in P1DT12H`},
		{"R/2026-01-01T00:00:00Z/PT1.5H", `repeating interval "R/2026-01-01T00:00:00Z/PT1.5H": period "PT1.5H": has the fraction 1.5H; only seconds may have one: use a smaller unit, as in PT90M for PT1.5H`},
		{"R/2026-01-01T00:00:00Z/P1.5D", `repeating interval "R/2026-01-01T00:00:00Z/P1.5D": period "P1.5D": has the fraction 1.5D; only seconds may have one: use a smaller unit, as in PT90M for PT1.5H`},
		{"R/2026-01-01T00:00:00Z/PT.5S", `repeating interval "R/2026-01-01T00:00:00Z/PT.5S": period "PT.5S": has a malformed fraction ".5"; write it as 1.5, with digits on both sides`},
		{"R/2026-01-01T00:00:00Z/P-1D", `repeating interval "R/2026-01-01T00:00:00Z/P-1D": period "P-1D": has a negative amount; schedules only move forward`},
		{"R/2026-01-01T00:00:00Z/PT1S1M", `repeating interval "R/2026-01-01T00:00:00Z/PT1S1M": period "PT1S1M": has M out of order or twice; write each unit once, in the order Y M W D T H M S`},
		{"R/2026-01-01T00:00:00Z/P1D1D", `repeating interval "R/2026-01-01T00:00:00Z/P1D1D": period "P1D1D": has D out of order or twice; write each unit once, in the order Y M W D T H M S`},
		{"R/2026-01-01T00:00:00Z/P1", `repeating interval "R/2026-01-01T00:00:00Z/P1": period "P1": ends in the amount 1 without a unit; write P1D for days or PT1H for hours`},
		{"R/2026-01-01T00:00:00Z/PD", `repeating interval "R/2026-01-01T00:00:00Z/PD": period "PD": has "D" where an amount was expected; write amounts before their units, as in P1D or PT30M`},
		{"R/2026-01-01T00:00:00Z/P100001Y", `repeating interval "R/2026-01-01T00:00:00Z/P100001Y": period "P100001Y": has 100001Y, which is too large`},
		{"R/2026-01-01T00:00:00Z/PT9999999999H", `repeating interval "R/2026-01-01T00:00:00Z/PT9999999999H": period "PT9999999999H": has a time part longer than 292 years; use years (Y) instead`},
		{"R/2026-01-01T00:00:00Z/PT0S", `repeating interval "R/2026-01-01T00:00:00Z/PT0S": period "PT0S" is zero but the job repeats; give a period such as PT1M, or write R1 to run once`},
		{"R5/2026-01-01T00:00:00Z/P0D", `repeating interval "R5/2026-01-01T00:00:00Z/P0D": period "P0D" is zero but the job repeats; give a period such as PT1M, or write R1 to run once`},
	} {
		t.Run(c.spec, func(t *testing.T) {
			s, err := schedule.Parse(c.spec, "")
			if err == nil {
				t.Fatalf("Parse accepted it as %q", s)
			}
			if err.Error() != c.want {
				t.Errorf("error:\n got  %s\n want %s", err, c.want)
			}
		})
	}
	if _, err := schedule.Parse(ok, ""); err != nil {
		t.Errorf("the example in the messages is refused: %v", err)
	}
}
