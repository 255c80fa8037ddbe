package schedule_test

import (
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/jobs/schedule"
)

// 2026-01-01 is a Thursday; from midnight, in UTC.
const newYear = "2026-01-01T00:00:00Z"

func TestCronReadsEverySyntaxForm(t *testing.T) {
	for _, c := range []struct {
		name, spec, normal string
		want               []string // the first runs after newYear
	}{
		{"every minute, strictly after the start", "* * * * *", "* * * * *",
			[]string{"2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z", "2026-01-01T00:03:00Z"}},
		{"step over the whole field", "*/15 * * * *", "*/15 * * * *",
			[]string{"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:00:00Z"}},
		{"step over a range", "10-50/10 * * * *", "10-50/10 * * * *",
			[]string{"2026-01-01T00:10:00Z", "2026-01-01T00:20:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:40:00Z", "2026-01-01T00:50:00Z", "2026-01-01T01:10:00Z"}},
		{"step that does not divide the range", "0-5/2 0 * * *", "0-5/2 0 * * *",
			[]string{"2026-01-01T00:02:00Z", "2026-01-01T00:04:00Z", "2026-01-02T00:00:00Z"}},
		{"list", "1,15 3 * * *", "1,15 3 * * *",
			[]string{"2026-01-01T03:01:00Z", "2026-01-01T03:15:00Z", "2026-01-02T03:01:00Z"}},
		{"range of hours", "0 9-11 * * *", "0 9-11 * * *",
			[]string{"2026-01-01T09:00:00Z", "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z", "2026-01-02T09:00:00Z"}},
		{"range of day names", "0 0 * * mon-fri", "0 0 * * mon-fri",
			[]string{"2026-01-02T00:00:00Z", "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"}},
		{"day names in any case", "0 0 * * MON,Wed", "0 0 * * mon,wed",
			[]string{"2026-01-05T00:00:00Z", "2026-01-07T00:00:00Z", "2026-01-12T00:00:00Z"}},
		{"7 is Sunday", "0 0 * * 7", "0 0 * * 7",
			[]string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"0 is Sunday", "0 0 * * 0", "0 0 * * 0",
			[]string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"range up to 7", "0 0 * * 5-7", "0 0 * * 5-7",
			[]string{"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"}},
		{"step over days of the week", "0 0 * * */2", "0 0 * * */2", // Sun, Tue, Thu, Sat
			[]string{"2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-06T00:00:00Z", "2026-01-08T00:00:00Z"}},
		{"range of month names", "0 0 1 jan-mar *", "0 0 1 jan-mar *",
			[]string{"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"step over months", "0 12 1 */4 *", "0 12 1 */4 *",
			[]string{"2026-01-01T12:00:00Z", "2026-05-01T12:00:00Z", "2026-09-01T12:00:00Z", "2027-01-01T12:00:00Z"}},
		{"the 31st skips short months", "0 0 31 * *", "0 0 31 * *",
			[]string{"2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"}},
		{"last minute of the year", "59 23 31 12 *", "59 23 31 12 *",
			[]string{"2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"}},
		{"spaces are normalised", "  0   12  *\t*  *  ", "0 12 * * *",
			[]string{"2026-01-01T12:00:00Z"}},
		{"@yearly", "@yearly", "@yearly", []string{"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"}},
		{"@annually is @yearly", "@annually", "@yearly", []string{"2027-01-01T00:00:00Z"}},
		{"@monthly", "@monthly", "@monthly", []string{"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}},
		{"@weekly runs on Sundays", "@weekly", "@weekly", []string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"@daily", "@daily", "@daily", []string{"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"}},
		{"@midnight is @daily", "@MIDNIGHT", "@daily", []string{"2026-01-02T00:00:00Z"}},
		{"@hourly", "@hourly", "@hourly", []string{"2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.spec, "")
			if s.String() != c.normal {
				t.Errorf("String() = %q, want %q", s.String(), c.normal)
			}
			sameRuns(t, c.spec, runs(t, s, at(t, newYear), len(c.want)), c.want)
		})
	}
}

func TestCronDayOfMonthOrDayOfWeekWhenBothAreRestricted(t *testing.T) {
	for _, c := range []struct {
		name, spec string
		want       []string
	}{
		// Fridays in January 2026: 2, 9, 16, 23, 30.
		{"the 13th or a Friday", "0 0 13 * fri",
			[]string{"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z"}},
		{"the 1st, the 15th or a Monday", "0 0 1,15 * 1",
			[]string{"2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z", "2026-01-15T00:00:00Z", "2026-01-19T00:00:00Z"}},
		{"a day of the month no month has, or a Monday", "0 0 31 2 mon",
			[]string{"2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"}},
		// Vixie counts a field beginning with * as unrestricted, so both
		// must match: odd days that are Fridays.
		{"a stepped * day of the month means both must match", "0 0 */2 * fri",
			[]string{"2026-01-09T00:00:00Z", "2026-01-23T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-27T00:00:00Z"}},
		{"* day of the week means the day of the month alone", "0 0 13 * *",
			[]string{"2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"}},
		{"* day of the month means the day of the week alone", "0 0 * * fri",
			[]string{"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sameRuns(t, c.spec, runs(t, mustParse(t, c.spec, ""), at(t, newYear), len(c.want)), c.want)
		})
	}
}

func TestCronFeb29RunsInLeapYearsOnly(t *testing.T) {
	s := mustParse(t, "0 0 29 2 *", "")
	sameRuns(t, "from 2026", runs(t, s, at(t, newYear), 2),
		[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"})
	// 2100 is not a leap year: eight years between runs.
	sameRuns(t, "across 2100", runs(t, s, at(t, "2096-03-01T00:00:00Z"), 1),
		[]string{"2104-02-29T00:00:00Z"})
}

func TestCronNextIsStrictlyAfter(t *testing.T) {
	s := mustParse(t, "30 2 * * *", "")
	for _, c := range []struct{ from, want string }{
		{"2026-01-01T02:30:00Z", "2026-01-02T02:30:00Z"},           // exactly a run
		{"2026-01-01T02:29:59.999999999Z", "2026-01-01T02:30:00Z"}, // just before
		{"2026-01-01T02:30:00.000000001Z", "2026-01-02T02:30:00Z"}, // just after
		{"2026-01-01T02:30:30Z", "2026-01-02T02:30:00Z"},           // inside the run's minute
	} {
		got, ok := s.Next(at(t, c.from))
		if !ok || !got.Equal(at(t, c.want)) {
			t.Errorf("Next(%s) = %v, %v; want %s", c.from, got, ok, c.want)
		}
	}
}

func TestCronEvaluatesInTheScheduleZone(t *testing.T) {
	s := mustParse(t, "0 9 * * mon", "America/New_York")
	got, ok := s.Next(at(t, newYear))
	if !ok || got.Format(time.RFC3339) != "2026-01-05T09:00:00-05:00" {
		t.Fatalf("Next = %v, %v; want 09:00 EST on Monday 5 January", got, ok)
	}
	if got.Location().String() != "America/New_York" {
		t.Errorf("Next is in %v, want the schedule's zone", got.Location())
	}
	// Monday 09:00 in New York is Monday 14:00 UTC, not a UTC Monday 09:00.
	if got.UTC().Format(time.RFC3339) != "2026-01-05T14:00:00Z" {
		t.Errorf("Next = %v UTC", got.UTC())
	}
}

// Clocks in Berlin go from 02:00 CET to 03:00 CEST on 2026-03-29 and from
// 03:00 CEST back to 02:00 CET on 2026-10-25; in New York from 02:00 EST to
// 03:00 EDT on 2026-03-08 and from 02:00 EDT back to 01:00 EST on 2026-11-01.
func TestCronAcrossDaylightSavingChangesFollowsVixieCron(t *testing.T) {
	for _, c := range []struct {
		name, spec, zone, from string
		want                   []string
	}{
		{"fixed time in the spring gap runs once at the end of the gap", "30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"fixed time in the spring gap, New York", "30 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00",
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"}},
		{"several fixed times in the gap run once", "0,30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00"}},
		{"a catch-up and a match at the end of the gap run once", "0,30 2-3 * * *", "Europe/Berlin", "2026-03-29T00:00:00+01:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00", "2026-03-30T02:00:00+02:00"}},
		{"wildcard minute skips the gap", "*/30 * * * *", "Europe/Berlin", "2026-03-29T00:45:00+01:00",
			[]string{"2026-03-29T01:00:00+01:00", "2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00"}},
		{"wildcard hour runs every elapsed hour in spring", "30 * * * *", "Europe/Berlin", "2026-03-29T01:00:00+01:00",
			[]string{"2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00"}},
		{"wildcard minute in a fixed hour has no run on the day the hour is skipped", "*/30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-30T02:00:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"fixed time in the repeated hour runs once, at the first", "30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00+02:00",
			[]string{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
		{"fixed 01:30 on the New York fall-back day runs once", "30 1 * * *", "America/New_York", "2026-10-31T12:00:00-04:00",
			[]string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"fixed time asked during the second pass waits for the next day", "30 1 * * *", "America/New_York", "2026-11-01T01:10:00-05:00",
			[]string{"2026-11-02T01:30:00-05:00"}},
		{"wildcard hour runs in both passes", "30 * * * *", "America/New_York", "2026-11-01T00:00:00-04:00",
			[]string{"2026-11-01T00:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00"}},
		{"wildcard hour asked late in the first pass finds the repeated hour", "0 * * * *", "America/New_York", "2026-11-01T01:45:00-04:00",
			[]string{"2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"}},
		{"wildcard minute in a fixed hour runs in both passes", "*/30 2 * * *", "Europe/Berlin", "2026-10-25T00:00:00+02:00",
			[]string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00", "2026-10-26T02:00:00+01:00"}},
		{"@daily where midnight is skipped runs at 01:00", "@daily", "America/Sao_Paulo", "2018-11-03T12:00:00-03:00",
			[]string{"2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"}},
		{"a whole skipped day is caught up at its end", "0 9 * * *", "Pacific/Apia", "2011-12-29T00:00:00-10:00",
			[]string{"2011-12-29T09:00:00-10:00", "2011-12-31T00:00:00+14:00", "2011-12-31T09:00:00+14:00"}},
		{"a year served by the zone's rule, where Go's ZoneBounds misreports (golang/go#81583)", "* 0 * 1 *", "Europe/Berlin", "2040-03-25T03:00:00+02:00",
			[]string{"2041-01-01T00:00:00+01:00", "2041-01-01T00:01:00+01:00"}},
		{"half-hour daylight saving", "30 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00+11:00",
			[]string{"2026-04-05T01:30:00+11:00", "2026-04-06T01:30:00+10:30"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.spec, c.zone)
			sameRuns(t, c.spec+" in "+c.zone, runs(t, s, at(t, c.from), len(c.want)), c.want)
		})
	}
}

func TestCronRejectsMalformedSpecsNamingTheField(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"61 * * * *", `cron field "minute": 61 is out of range 0-59`},
		{"0 25 * * *", `cron field "hour": 25 is out of range 0-23`},
		{"0 0 0 * *", `cron field "day-of-month": 0 is out of range 1-31`},
		{"0 0 32 * *", `cron field "day-of-month": 32 is out of range 1-31`},
		{"0 0 * 13 *", `cron field "month": 13 is out of range 1-12`},
		{"0 0 * * 8", `cron field "day-of-week": 8 is out of range 0-7`},
		{"0 99999999999999999999 * * *", `cron field "hour": 99999999999999999999 is out of range 0-23`},
		{"0 0 * foo *", `cron field "month": "foo" is not a number or a month name (jan-dec)`},
		{"0 0 * * funday", `cron field "day-of-week": "funday" is not a number or a day name (sun-sat)`},
		{"mon 0 * * *", `cron field "minute": "mon" is not a number`},
		{"0 0 L * *", `cron field "day-of-month": "l" is not a number`},
		{"-5 * * * *", `cron field "minute": a range or step is missing a value; write ranges as 1-5 and steps as */15`},
		{"5/15 * * * *", `cron field "minute": "5/15" steps from a single value; write the range it steps over, as in 5-59/15`},
		{"*/0 * * * *", `cron field "minute": step 0 in "*/0" never advances; a step is at least 1`},
		{"*/x * * * *", `cron field "minute": step "x" in "*/x" is not a number; write a step such as */15`},
		{"5-1 * * * *", `cron field "minute": range "5-1" runs backwards; write the smaller value first, or a list such as 5-59,0-1 to wrap around`},
		{"0 0 * * fri-mon", `cron field "day-of-week": range "fri-mon" runs backwards; write the smaller value first, or a list such as 5-7,0-1 to wrap around`},
		{"*-5 * * * *", `cron field "minute": * cannot be part of a range; write * alone, or a range such as 1-5`},
		{"1,,2 * * * *", `cron field "minute": "1,,2" has an empty list item; separate values with single commas, as in 1,15`},
		{"0 0 ? * *", `cron field "day-of-month": "?" is Quartz syntax; write *`},
		{"0 0 * *", `cron spec "0 0 * *" has 4 fields; want 5: minute hour day-of-month month day-of-week, as in "30 2 * * *"`},
		{"0 0 0 * * *", `cron spec "0 0 0 * * *" has 6 fields; want 5: minute hour day-of-month month day-of-week, as in "30 2 * * *" (clusterd has no seconds or year field, as Quartz and Spring do; drop it)`},
		{"0 0 30 2 *", `cron spec "0 0 30 2 *" never runs: no month in "2" has a day in "30"; name days that exist in those months (feb has 29 in leap years)`},
		{"0 0 31 apr,jun *", `cron spec "0 0 31 apr,jun *" never runs: no month in "apr,jun" has a day in "31"; name days that exist in those months (feb has 29 in leap years)`},
		{"@fortnightly", `cron macro "@fortnightly" is unknown; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly`},
		{"@daily 5", `cron macro @daily takes nothing after it; remove "5"`},
		{"@reboot", `cron macro "@reboot" is not a time schedule; clusterd runs cron jobs at times only (for a job that runs once, use R1/<start>/PT0S)`},
		{"@every 5m", `cron macro "@every" is not supported; for a fixed interval write a repeating interval, as in R/2026-01-01T00:00:00Z/PT5M`},
		{"", `schedule is empty; write a cron spec such as "30 2 * * *" or a repeating interval such as "R/2026-01-01T02:00:00Z/P1D"`},
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
}
