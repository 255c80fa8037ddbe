package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// period is an ISO 8601 duration, PnYnMnWnDTnHnMnS. Years, months, weeks and
// days are calendar amounts: they move the clock reading in the schedule's
// time zone. Hours, minutes and seconds are exact: they add elapsed time.
type period struct {
	years, months, weeks, days int64
	hours, minutes, seconds    int64
	nanos                      int64 // the fraction of the seconds, in nanoseconds
}

// Bounds on each amount, so that the arithmetic on them cannot overflow and
// a typo (P100000Y) is caught rather than silently never run.
const (
	maxCalendarAmount = 100_000
	maxExact          = time.Duration(1<<63 - 1)
)

// calendar says whether p has a calendar part.
func (p period) calendar() bool {
	return p.years != 0 || p.months != 0 || p.weeks != 0 || p.days != 0
}

// exact is p's time part as elapsed time; parsePeriod guarantees it fits.
func (p period) exact() time.Duration {
	return time.Duration(p.hours)*time.Hour + time.Duration(p.minutes)*time.Minute +
		time.Duration(p.seconds)*time.Second + time.Duration(p.nanos)
}

func (p period) zero() bool { return !p.calendar() && p.exact() == 0 }

// approxSeconds is p's length on average (Gregorian years and months, days
// of 24 hours): the starting guess of the search for a run, never the answer.
func (p period) approxSeconds() float64 {
	return float64(p.years)*31_556_952 + float64(p.months)*2_629_746 +
		float64(p.weeks)*604_800 + float64(p.days)*86_400 + p.exact().Seconds()
}

// String is p in canonical form: the amounts that are not zero, in the
// order Y M W D T H M S, with the fraction of a second trimmed; PT0S when all
// are zero.
func (p period) String() string {
	if p.zero() {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteByte('P')
	for _, a := range []struct {
		n    int64
		unit byte
	}{{p.years, 'Y'}, {p.months, 'M'}, {p.weeks, 'W'}, {p.days, 'D'}} {
		if a.n != 0 {
			fmt.Fprintf(&b, "%d%c", a.n, a.unit)
		}
	}
	if p.hours != 0 || p.minutes != 0 || p.seconds != 0 || p.nanos != 0 {
		b.WriteByte('T')
		if p.hours != 0 {
			fmt.Fprintf(&b, "%dH", p.hours)
		}
		if p.minutes != 0 {
			fmt.Fprintf(&b, "%dM", p.minutes)
		}
		if p.seconds != 0 || p.nanos != 0 {
			fmt.Fprintf(&b, "%d", p.seconds)
			if p.nanos != 0 {
				b.WriteString(strings.TrimRight(fmt.Sprintf(".%09d", p.nanos), "0"))
			}
			b.WriteByte('S')
		}
	}
	return b.String()
}

// parsePeriod reads an ISO 8601 duration in upper case, as Joda-Time's
// standard ISO format takes it: whole amounts of Y, M, W, D, then after T of
// H, M and S, in that order, each at most once; only the seconds may have a
// fraction (with . or ,). The error does not repeat the text.
func parsePeriod(s string) (period, error) {
	var p period
	if s == "" {
		return p, fmt.Errorf("is missing; write one such as P1D, PT1H or P1M")
	}
	if s[0] != 'P' {
		return p, fmt.Errorf("must start with P, as in P1D or PT30M")
	}
	const dateUnits, timeUnits = "YMWD", "HMS"
	rest := s[1:]
	inTime, seen := false, false
	last := -1 // index of the last unit read in the current section
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return p, fmt.Errorf("has a second T; write one T before the hours, minutes and seconds, as in P1DT12H")
			}
			inTime, last = true, -1
			rest = rest[1:]
			if rest == "" {
				return p, fmt.Errorf("ends in T; follow it with hours, minutes or seconds, as in PT12H")
			}
			continue
		}
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		whole := rest[:n]
		frac := ""
		if n < len(rest) && (rest[n] == '.' || rest[n] == ',') {
			m := n + 1
			for m < len(rest) && rest[m] >= '0' && rest[m] <= '9' {
				m++
			}
			frac, n = rest[n+1:m], m
			if frac == "" || whole == "" {
				return p, fmt.Errorf("has a malformed fraction %q; write it as 1.5, with digits on both sides", rest[:n])
			}
		}
		if whole == "" {
			if rest[0] == '-' {
				return p, fmt.Errorf("has a negative amount; schedules only move forward")
			}
			return p, fmt.Errorf("has %q where an amount was expected; write amounts before their units, as in P1D or PT30M", rest[:1])
		}
		amount := rest[:n]
		if n == len(rest) {
			return p, fmt.Errorf("ends in the amount %s without a unit; write P%sD for days or PT%sH for hours", amount, amount, amount)
		}
		unit := rest[n]
		rest = rest[n+1:]
		units := dateUnits
		if inTime {
			units = timeUnits
		}
		idx := strings.IndexByte(units, unit)
		switch {
		case idx < 0 && !inTime && strings.IndexByte(timeUnits, unit) >= 0:
			return p, fmt.Errorf("has %s%c before T; hours, minutes and seconds follow T: write PT%s%c", amount, unit, amount, unit)
		case idx < 0 && inTime && strings.IndexByte(dateUnits, unit) >= 0:
			return p, fmt.Errorf("has %s%c after T; years, months, weeks and days come before T: write P%s%c", amount, unit, amount, unit)
		case idx < 0:
			return p, fmt.Errorf("has %q, which is not a unit; use Y, M, W, D before T and H, M, S after it", string(unit))
		case idx <= last:
			return p, fmt.Errorf("has %c out of order or twice; write each unit once, in the order Y M W D T H M S", unit)
		}
		last = idx
		if frac != "" && !(inTime && unit == 'S') {
			return p, fmt.Errorf("has the fraction %s%c; only seconds may have one: use a smaller unit, as in PT90M for PT1.5H", amount, unit)
		}
		v, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || (!inTime && v > maxCalendarAmount) {
			return p, fmt.Errorf("has %s%c, which is too large", amount, unit)
		}
		seen = true
		switch {
		case !inTime && unit == 'Y':
			p.years = v
		case !inTime && unit == 'M':
			p.months = v
		case unit == 'W':
			p.weeks = v
		case unit == 'D':
			p.days = v
		case unit == 'H':
			p.hours = v
		case unit == 'M':
			p.minutes = v
		default: // S
			p.seconds = v
			if len(frac) > 9 {
				return p, fmt.Errorf("has the fraction %s; at most 9 digits (nanoseconds) are kept", frac)
			}
			ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
			p.nanos = ns
		}
	}
	if !seen {
		return p, fmt.Errorf("has no amount; write one such as P1D, PT1H or P1M")
	}
	// The time part must fit in a time.Duration (about 292 years).
	total := float64(p.hours)*3600 + float64(p.minutes)*60 + float64(p.seconds)
	if total >= float64(maxExact/time.Second) {
		return p, fmt.Errorf("has a time part longer than 292 years; use years (Y) instead")
	}
	return p, nil
}
