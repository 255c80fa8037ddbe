package schedule

import (
	"fmt"
	"strings"
	"time"
)

// Schedule yields the times a cron job runs. Implementations are immutable
// and safe for concurrent use.
type Schedule interface {
	// Next is the first run time strictly after t, in the schedule's time
	// zone, and false when there is none: an interval's repetitions are
	// used up (or it has none, R0), or its next run would fall past the
	// year 200000. A cron schedule always has a next run. A run at exactly
	// t is not returned; ask Next(t.Add(-1)) for that.
	Next(t time.Time) (time.Time, bool)
	// String is the spec as given, normalised: Parse(s.String(), zone)
	// reads the same schedule back. The time zone is not part of it.
	String() string
}

// Parse reads spec in the IANA time zone named timeZone ("" means UTC),
// which it loads once, here. spec is one of
//
//   - an ISO 8601 repeating interval, as Chronos takes it:
//     R/2026-01-01T02:00:00Z/P1D, R5/2026-01-01T02:00:00+01:00/PT30M;
//   - a five-field cron spec, minute hour day-of-month month day-of-week:
//     30 2 * * 1-5;
//   - a cron macro: @yearly (@annually), @monthly, @weekly, @daily
//     (@midnight), @hourly.
//
// Errors name the part that is wrong and say what to write instead. The
// zone "Local" is refused: it would make the schedule depend on the machine
// that reads it.
func Parse(spec, timeZone string) (Schedule, error) {
	if timeZone == "Local" {
		return nil, fmt.Errorf("time zone \"Local\" depends on the machine; name an IANA zone such as \"Europe/Berlin\", or leave it empty for UTC")
	}
	loc, err := time.LoadLocation(timeZone)
	if err != nil {
		return nil, fmt.Errorf("time zone %q is unknown; name an IANA zone such as \"Europe/Berlin\" or \"America/New_York\", or leave it empty for UTC", timeZone)
	}
	return ParseInLocation(spec, loc)
}

// ParseInLocation is Parse with the time zone already loaded; nil means
// UTC. The schedule keeps loc.
func ParseInLocation(spec string, loc *time.Location) (Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("schedule is empty; write a cron spec such as \"30 2 * * *\" or a repeating interval such as \"R/2026-01-01T02:00:00Z/P1D\"")
	}
	if looksLikeInterval(spec) {
		r, err := parseInterval(spec, loc)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	c, err := parseCron(spec, loc)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Due lists s's run times in (after, until], earliest first and at most max
// of them: what a scheduler that woke late, or took over from a failed
// leader, missed since the last run it knows of (after). When it returns
// max times more may be due; Next of the last one says. It returns nil when
// max < 1 or until is not after after, and stops early should s's Next ever
// fail to advance.
func Due(s Schedule, after, until time.Time, max int) []time.Time {
	var due []time.Time
	for cur := after; len(due) < max; {
		next, ok := s.Next(cur)
		if !ok || next.After(until) || !next.After(cur) {
			break
		}
		due = append(due, next)
		cur = next
	}
	return due
}
