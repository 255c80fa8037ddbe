package schedule

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// interval is an ISO 8601 repeating interval, R[n]/start/period, as Chronos
// takes it. Its runs are start + k×period for k = 0, 1, ..., count-1: the
// k-th run is computed from the start, never by adding the period k times,
// so a month-end start does not drift (see run).
type interval struct {
	count     int64 // runs in all; unlimited when negative
	start     time.Time
	startText string // the start as given, in canonical form
	// wall is the clock reading in loc the calendar part of the period
	// moves: the start's reading, or as written when the start has no
	// offset (so a start in a gap runs later, but the runs after it keep
	// the written time of day).
	wall   time.Time
	period period
	loc    *time.Location
}

func (r *interval) String() string {
	n := ""
	if r.count >= 0 {
		n = strconv.FormatInt(r.count, 10)
	}
	return "R" + n + "/" + r.startText + "/" + r.period.String()
}

// Next is the first run strictly after t: the start when t is before it,
// else the first start + k×period after t, found by estimating k from the
// period's average length and correcting the guess by a bounded search
// (a few evaluations, however far t is from the start).
func (r *interval) Next(t time.Time) (time.Time, bool) {
	if r.count == 0 {
		return time.Time{}, false
	}
	if r.start.After(t) {
		return r.start, true
	}
	if r.count == 1 || r.period.zero() {
		return time.Time{}, false
	}
	k := r.firstAfter(t)
	if r.count > 0 && k >= r.count {
		return time.Time{}, false
	}
	return r.run(k)
}

// firstAfter is the least k ≥ 1 whose run is after t, given that the start
// (run 0) is not. Runs never decrease with k, which the search relies on; a
// run past what time.Time holds counts as after every t.
func (r *interval) firstAfter(t time.Time) int64 {
	const maxK = 1 << 50
	after := func(k int64) bool {
		v, ok := r.run(k)
		return !ok || v.After(t)
	}
	est := float64(t.Unix()-r.start.Unix()) / r.period.approxSeconds()
	guess := int64(1)
	switch {
	case est >= maxK:
		guess = maxK
	case est > 1:
		guess = int64(est)
	}
	// Bracket the answer: run(lo) ≤ t < run(hi), galloping from the guess.
	var lo, hi int64
	if after(guess) {
		lo, hi = 0, guess
		for step := int64(1); hi-step > lo; step *= 2 {
			if c := hi - step; after(c) {
				hi = c
			} else {
				lo = c
				break
			}
		}
	} else {
		lo = guess
		for step := int64(1); ; step *= 2 {
			if c := lo + step; after(c) {
				hi = c
				break
			} else {
				lo = c
			}
		}
	}
	for hi-lo > 1 {
		m := lo + (hi-lo)/2
		if after(m) {
			hi = m
		} else {
			lo = m
		}
	}
	return hi
}

// Runs after the year maxYear are treated as never coming (ok false): far
// beyond any real schedule, near enough that the arithmetic cannot overflow.
// The other limits only keep the arithmetic in range on the way there.
const (
	maxYear       = 200_000
	maxRunMonths  = 12 * maxYear
	maxRunDays    = 366 * maxYear
	maxRunSeconds = 366 * 86_400 * maxYear
)

// run is the k-th run, start + k×period, in the schedule's zone; ok is false
// when it lies beyond the year maxYear.
//
// The calendar part is applied first, to the start's clock reading in the
// zone (as written, for a start without an offset): years and months move
// the month, keeping the day of the month but clamping it to the month's
// last day (a start on Jan 31 runs Feb 28 or 29, Mar 31, Apr 30, ...: k×P1M
// from Jan 31, not P1M added k times, so the 31st comes back); weeks and
// days then move the date. The reading is resolved to
// an instant as resolve says (a skipped reading moves later by the gap; a
// repeated one takes the earlier instant). The time part is then added as
// elapsed time, k times its length. This is Joda-Time's order of fields for
// DateTime.plus(Period), scaled by k.
func (r *interval) run(k int64) (time.Time, bool) {
	if k == 0 {
		return r.start, true
	}
	i := r.start
	p := r.period
	if p.calendar() {
		months, ok1 := mul(k, 12*p.years+p.months)
		days, ok2 := mul(k, 7*p.weeks+p.days)
		if !ok1 || !ok2 || months > maxRunMonths || days > maxRunDays {
			return time.Time{}, false
		}
		w := r.wall
		y, mo, d := w.Date()
		h, mi, s := w.Clock()
		months += int64(y)*12 + int64(mo-1) // the start's year is 0 to 9999
		ny, nm := int(months/12), time.Month(months%12+1)
		d = min(d, daysIn(ny, nm))
		i = resolve(time.Date(ny, nm, d+int(days), h, mi, s, w.Nanosecond(), time.UTC), r.loc)
	}
	if e := p.exact(); e > 0 {
		hi, lo := bits.Mul64(uint64(k), uint64(e))
		if hi >= uint64(time.Second) {
			return time.Time{}, false
		}
		sec, ns := bits.Div64(hi, lo, uint64(time.Second))
		if sec > maxRunSeconds {
			return time.Time{}, false
		}
		i = time.Unix(i.Unix()+int64(sec), int64(i.Nanosecond())+int64(ns))
	}
	if i.Year() > maxYear {
		return time.Time{}, false
	}
	return i.In(r.loc), true
}

// mul is a×b for a, b ≥ 0, and false when it overflows.
func mul(a, b int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > 1<<63-1 {
		return 0, false
	}
	return int64(lo), true
}

// looksLikeInterval says whether spec is meant as an ISO 8601 interval (so
// that its errors are about intervals, not cron fields): it starts with R
// and a digit, - or /, or it is one word holding a / and a P part.
func looksLikeInterval(spec string) bool {
	s := strings.ToUpper(spec)
	if len(s) >= 2 && s[0] == 'R' && (s[1] == '/' || s[1] == '-' || (s[1] >= '0' && s[1] <= '9')) {
		return true
	}
	if strings.ContainsAny(s, " \t") {
		return false
	}
	return s[0] == 'P' || (strings.Contains(s, "/") && strings.Contains(s, "P"))
}

// parseInterval reads spec, which looksLikeInterval accepted.
func parseInterval(spec string, loc *time.Location) (*interval, error) {
	s := strings.ToUpper(spec)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("repeating interval %q: "+format, append([]any{spec}, args...)...)
	}
	const example = "R/2026-01-01T02:00:00Z/P1D"
	parts := strings.Split(s, "/")
	given := strings.Split(spec, "/") // for messages, as typed
	if parts[0] == "" || parts[0][0] != 'R' {
		if s[0] == 'P' && len(parts) == 1 {
			return nil, fmt.Errorf("schedule %q is a period without a start or repetitions; write R/<start>/%s, as in R/2026-01-01T02:00:00Z/%s", spec, s, s)
		}
		return nil, fail("must start with R (repeat without end) or Rn (n runs in all); write R/%s", s)
	}
	if len(parts) != 3 {
		return nil, fail("has %d parts; want three, R<n>/<start>/<period>, as in %s", len(parts), example)
	}
	r := &interval{loc: loc}
	switch rep := parts[0][1:]; {
	case rep == "" || rep == "-1": // Chronos takes R-1 for R
		r.count = -1
	case strings.Trim(rep, "0123456789") == "":
		n, err := strconv.ParseInt(rep, 10, 64)
		if err != nil {
			return nil, fail("repetitions %q: too many; write R for no limit", given[0])
		}
		r.count = n
	default:
		return nil, fail("repetitions %q: write R for no limit or Rn for n runs in all, as in R5", given[0])
	}
	startText, periodText := parts[1], parts[2]
	switch {
	case startText == "":
		return nil, fail("start is missing; write the first run time, as in %s (an empty start means \"now\" to Chronos, which a stored schedule cannot mean)", example)
	case startText[0] == 'P':
		return nil, fail("gives a period before an end; clusterd takes only R<n>/<start>/<period>, as in %s", example)
	case periodText != "" && periodText[0] != 'P':
		return nil, fail("gives a start and an end; clusterd takes only R<n>/<start>/<period>, as in %s", example)
	}
	start, wall, canon, err := parseStart(startText, loc)
	if err != nil {
		return nil, fail("start %q: %v", given[1], err)
	}
	r.start, r.wall, r.startText = start, wall, canon
	p, err := parsePeriod(periodText)
	if err != nil {
		return nil, fail("period %q: %v", given[2], err)
	}
	r.period = p
	if p.zero() && (r.count < 0 || r.count > 1) {
		return nil, fail("period %q is zero but the job repeats; give a period such as PT1M, or write R1 to run once", given[2])
	}
	return r, nil
}

// parseStart reads the start of an interval: a date, 2026-01-01, optionally
// followed by a time, T02:00, T02:00:00 or T02:00:00.5, and a zone offset,
// Z, +01:00, +0100 or +01. Without an offset the clock reading is taken in
// loc (see resolve). wall is the reading in loc: as written when there is
// no offset. canon is the start in canonical form: seconds always, a
// fraction only when not zero, the offset as given (Z for zero).
func parseStart(s string, loc *time.Location) (t, wall time.Time, canon string, err error) {
	const forms = "write a date and time such as 2026-01-01T02:00:00Z, 2026-01-01T02:00:00+01:00, or 2026-01-01T02:00:00 for the schedule's time zone"
	pos := 0
	num := func(n int, what string) (int, error) {
		if pos+n > len(s) || strings.Trim(s[pos:pos+n], "0123456789") != "" {
			return 0, fmt.Errorf("want %d digits for the %s at %q; %s", n, what, s[min(pos, len(s)):], forms)
		}
		v, _ := strconv.Atoi(s[pos : pos+n])
		pos += n
		return v, nil
	}
	sep := func(c byte, what string) error {
		if pos >= len(s) || s[pos] != c {
			return fmt.Errorf("want %q before the %s at %q; %s", c, what, s[min(pos, len(s)):], forms)
		}
		pos++
		return nil
	}
	var y, mo, d, h, mi, sec, ns int
	if y, err = num(4, "year"); err != nil {
		return
	}
	if err = sep('-', "month"); err != nil {
		return
	}
	if mo, err = num(2, "month"); err != nil {
		return
	}
	if err = sep('-', "day"); err != nil {
		return
	}
	if d, err = num(2, "day"); err != nil {
		return
	}
	if mo < 1 || mo > 12 {
		return t, wall, "", fmt.Errorf("month %d is out of range 1-12", mo)
	}
	if n := daysIn(y, time.Month(mo)); d < 1 || d > n {
		return t, wall, "", fmt.Errorf("day %d is out of range 1-%d for %s %d", d, n, time.Month(mo), y)
	}
	if pos < len(s) && s[pos] == ' ' {
		return t, wall, "", fmt.Errorf("has a space between the date and the time; join them with T, as in 2026-01-01T02:00:00Z")
	}
	if pos < len(s) && s[pos] == 'T' {
		pos++
		if h, err = num(2, "hour"); err != nil {
			return
		}
		if err = sep(':', "minute"); err != nil {
			return
		}
		if mi, err = num(2, "minute"); err != nil {
			return
		}
		if pos < len(s) && s[pos] == ':' {
			pos++
			if sec, err = num(2, "second"); err != nil {
				return
			}
			if pos < len(s) && (s[pos] == '.' || s[pos] == ',') {
				pos++
				n := 0
				for pos+n < len(s) && s[pos+n] >= '0' && s[pos+n] <= '9' {
					n++
				}
				if n == 0 || n > 9 {
					return t, wall, "", fmt.Errorf("want 1 to 9 digits of fraction after the seconds; %s", forms)
				}
				ns, _ = strconv.Atoi((s[pos:pos+n] + "00000000")[:9])
				pos += n
			}
		}
		switch {
		case h == 24:
			return t, wall, "", fmt.Errorf("hour 24 is out of range 0-23; write 00:00 of the next day")
		case h > 23:
			return t, wall, "", fmt.Errorf("hour %d is out of range 0-23", h)
		case mi > 59:
			return t, wall, "", fmt.Errorf("minute %d is out of range 0-59", mi)
		case sec > 59:
			return t, wall, "", fmt.Errorf("second %d is out of range 0-59 (leap seconds are not supported)", sec)
		}
	}
	wall = time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	const layout = "2006-01-02T15:04:05.999999999"
	if pos == len(s) {
		return resolve(wall, loc), wall, wall.Format(layout), nil
	}
	// A zone offset.
	var off int
	switch s[pos] {
	case 'Z':
		pos++
	case '+', '-':
		from := pos
		sign := 1
		if s[pos] == '-' {
			sign = -1
		}
		pos++
		var oh, om int
		if oh, err = num(2, "offset hours"); err != nil {
			return
		}
		if pos < len(s) {
			if s[pos] == ':' {
				pos++
			}
			if om, err = num(2, "offset minutes"); err != nil {
				return
			}
		}
		if oh > 23 || om > 59 {
			return t, wall, "", fmt.Errorf("offset %s is out of range; offsets go from -23:59 to +23:59", s[from:pos])
		}
		off = sign * (oh*3600 + om*60)
	default:
		return t, wall, "", fmt.Errorf("%q after the time is not a zone offset; end with Z, an offset such as +01:00, or nothing for the schedule's time zone", s[pos:])
	}
	if pos != len(s) {
		return t, wall, "", fmt.Errorf("%q follows the zone offset; %s", s[pos:], forms)
	}
	at := instantOf(wall, off)
	return at.In(loc), wallIn(at, loc), at.In(time.FixedZone("", off)).Format(layout + "Z07:00"), nil
}
