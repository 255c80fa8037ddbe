package schedule

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// cron is a five-field cron spec, read and evaluated as Vixie (ISC) cron
// does; see the package comment for the rules.
type cron struct {
	spec string // normalised
	// One bit per value: minute 0-59, hour 0-23, dom 1-31, month 1-12,
	// dow 0-6 (Sunday 0; a 7 in the spec sets bit 0).
	minute, hour, dom, month, dow uint64
	// domStar and dowStar are Vixie's DOM_STAR and DOW_STAR: the field
	// begins with *. When either does, a day must match both fields; when
	// neither does, either field matching is enough.
	domStar, dowStar bool
	// fixed is true when neither the minute nor the hour field begins with
	// * (Vixie's MIN_STAR and HR_STAR both clear). Fixed-time specs are the
	// ones the DST rules catch up and do not repeat.
	fixed bool
	loc   *time.Location
}

func (c *cron) String() string { return c.spec }

// cronField describes one of the five fields.
type cronField struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i; nil if none
	kind     string   // what the names are, for errors
}

func cronFields() [5]cronField {
	return [5]cronField{
		{name: "minute", min: 0, max: 59},
		{name: "hour", min: 0, max: 23},
		{name: "day-of-month", min: 1, max: 31},
		{name: "month", min: 1, max: 12, kind: "a month name (jan-dec)",
			names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
		{name: "day-of-week", min: 0, max: 7, kind: "a day name (sun-sat)",
			names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
	}
}

// macro gives an @ macro's five fields and the name String gives it (its
// synonyms are normalised to one name).
func macro(name string) (canon, fields string, ok bool) {
	switch name {
	case "@yearly", "@annually":
		return "@yearly", "0 0 1 1 *", true
	case "@monthly":
		return "@monthly", "0 0 1 * *", true
	case "@weekly":
		return "@weekly", "0 0 * * 0", true
	case "@daily", "@midnight":
		return "@daily", "0 0 * * *", true
	case "@hourly":
		return "@hourly", "0 * * * *", true
	}
	return "", "", false
}

// parseCron reads a five-field spec or an @ macro, in any case.
func parseCron(spec string, loc *time.Location) (*cron, error) {
	words := strings.Fields(strings.ToLower(spec))
	canon := strings.Join(words, " ")
	if strings.HasPrefix(canon, "@") {
		name, fields, ok := macro(words[0])
		switch {
		case words[0] == "@reboot":
			return nil, fmt.Errorf("cron macro \"@reboot\" is not a time schedule; clusterd runs cron jobs at times only (for a job that runs once, use R1/<start>/PT0S)")
		case words[0] == "@every":
			return nil, fmt.Errorf("cron macro \"@every\" is not supported; for a fixed interval write a repeating interval, as in R/2026-01-01T00:00:00Z/PT5M")
		case !ok:
			return nil, fmt.Errorf("cron macro %q is unknown; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly", words[0])
		case len(words) > 1:
			return nil, fmt.Errorf("cron macro %s takes nothing after it; remove %q", words[0], strings.Join(words[1:], " "))
		}
		c, err := parseCron(fields, loc)
		if err != nil {
			return nil, err // not reached: the macros are valid
		}
		c.spec = name
		return c, nil
	}
	if len(words) != 5 {
		hint := ""
		switch len(words) {
		case 6, 7:
			hint = " (clusterd has no seconds or year field, as Quartz and Spring do; drop it)"
		}
		return nil, fmt.Errorf("cron spec %q has %d fields; want 5: minute hour day-of-month month day-of-week, as in \"30 2 * * *\"%s", canon, len(words), hint)
	}
	c := &cron{spec: canon, loc: loc}
	fields := cronFields()
	sets := [5]*uint64{&c.minute, &c.hour, &c.dom, &c.month, &c.dow}
	for i, f := range fields {
		set, err := f.parse(words[i])
		if err != nil {
			return nil, fmt.Errorf("cron field %q: %v", f.name, err)
		}
		*sets[i] = set
	}
	if c.dow&(1<<7) != 0 {
		c.dow = c.dow&^(1<<7) | 1
	}
	c.domStar = strings.HasPrefix(words[2], "*")
	c.dowStar = strings.HasPrefix(words[4], "*")
	c.fixed = !strings.HasPrefix(words[0], "*") && !strings.HasPrefix(words[1], "*")
	if c.domStar || c.dowStar {
		// Both fields must match; a day of the month that no month named
		// has would never run. Every date falls on every weekday in some
		// year, so the day-of-week field cannot make it impossible.
		possible := false
		for m := 1; m <= 12; m++ {
			if c.month&(1<<m) != 0 && c.dom&(1<<(daysIn(2000, time.Month(m))+1)-1) != 0 {
				possible = true
			}
		}
		if !possible {
			return nil, fmt.Errorf("cron spec %q never runs: no month in %q has a day in %q; name days that exist in those months (feb has 29 in leap years)", canon, words[3], words[2])
		}
	}
	return c, nil
}

// parse reads one field: a list of items separated by commas, each *, a
// value, or a range a-b, the last two with an optional step /n. Values are
// numbers or, for month and day-of-week, names.
func (f cronField) parse(text string) (uint64, error) {
	var set uint64
	for _, item := range strings.Split(text, ",") {
		if item == "" {
			return 0, fmt.Errorf("%q has an empty list item; separate values with single commas, as in 1,15", text)
		}
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || strings.Trim(stepText, "0123456789") != "" {
				return 0, fmt.Errorf("step %q in %q is not a number; write a step such as */15", stepText, item)
			}
			if n < 1 {
				return 0, fmt.Errorf("step 0 in %q never advances; a step is at least 1", item)
			}
			step = n
		}
		var lo, hi int
		switch a, b, isRange := strings.Cut(rng, "-"); {
		case rng == "*":
			lo, hi = f.min, f.max
		case isRange:
			var err error
			if lo, err = f.value(a); err != nil {
				return 0, err
			}
			if hi, err = f.value(b); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %q runs backwards; write the smaller value first, or a list such as %d-%d,%d-%d to wrap around", rng, lo, f.max, f.min, hi)
			}
		default:
			v, err := f.value(rng)
			if err != nil {
				return 0, err
			}
			if hasStep {
				return 0, fmt.Errorf("%q steps from a single value; write the range it steps over, as in %d-%d/%d", item, v, f.max, step)
			}
			lo, hi = v, v
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

// value reads a number or a name of f.
func (f cronField) value(s string) (int, error) {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < f.min || n > f.max {
			return 0, fmt.Errorf("%s is out of range %d-%d", s, f.min, f.max)
		}
		return n, nil
	}
	for i, name := range f.names {
		if s == name {
			return f.min + i, nil
		}
	}
	switch {
	case s == "":
		return 0, fmt.Errorf("a range or step is missing a value; write ranges as 1-5 and steps as */15")
	case s == "?":
		return 0, fmt.Errorf("\"?\" is Quartz syntax; write *")
	case s == "*":
		return 0, fmt.Errorf("* cannot be part of a range; write * alone, or a range such as 1-5")
	case f.names != nil:
		return 0, fmt.Errorf("%q is not a number or %s", s, f.kind)
	default:
		return 0, fmt.Errorf("%q is not a number", s)
	}
}

// dayMatches applies Vixie's rule to the day of a wall-clock reading.
func (c *cron) dayMatches(w time.Time) bool {
	if c.month&(1<<w.Month()) == 0 {
		return false
	}
	dom := c.dom&(1<<w.Day()) != 0
	dow := c.dow&(1<<w.Weekday()) != 0
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow
}

// nextBit is the least value ≥ v in set, or -1.
func nextBit(set uint64, v int) int {
	rest := set >> v << v
	if rest == 0 {
		return -1
	}
	return bits.TrailingZeros64(rest)
}

// searchYears bounds every search: a valid spec matches at least once in
// any 8 years (Feb 29 alone, across a century year that is not leap).
const searchYears = 10

// nextWall is the first wall-clock minute w that the fields match with
// lo < w < hi (hi zero: no bound), or false if there is none within
// searchYears of lo.
func (c *cron) nextWall(lo, hi time.Time) (time.Time, bool) {
	if limit := lo.AddDate(searchYears, 0, 0); hi.IsZero() || hi.After(limit) {
		hi = limit
	}
	w := lo.Truncate(time.Minute).Add(time.Minute)
	for w.Before(hi) {
		y, mo, d := w.Date()
		if c.month&(1<<mo) == 0 {
			w = time.Date(y, mo+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !c.dayMatches(w) {
			w = time.Date(y, mo, d+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		h, m := w.Hour(), w.Minute()
		nh := nextBit(c.hour, h)
		if nh < 0 {
			w = time.Date(y, mo, d+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if nh != h {
			w = time.Date(y, mo, d, nh, 0, 0, 0, time.UTC)
			continue
		}
		nm := nextBit(c.minute, m)
		if nm < 0 {
			w = time.Date(y, mo, d, h+1, 0, 0, 0, time.UTC)
			continue
		}
		w = time.Date(y, mo, d, h, nm, 0, 0, time.UTC)
		if w.Before(hi) {
			return w, true
		}
	}
	return time.Time{}, false
}

// Next finds the first matching clock reading after t as if the zone's
// offset stayed as it is just after t, then checks that it did: if the
// offset changes first, it applies the DST rules at the change (where clocks
// go forward, a fixed-time spec with a match among the skipped readings runs
// at the change) and searches again from there with the new offset. A
// fixed-time match on a reading that clocks already showed before they went
// back is passed over.
func (c *cron) Next(t time.Time) (time.Time, bool) {
	limit := t.AddDate(searchYears, 0, 0)
	excl := t                                      // runs are after excl
	off := offsetAt(t.Add(time.Nanosecond), c.loc) // the offset just after excl
	for range 100_000 {
		w, ok := c.nextWall(wallOf(excl, off), time.Time{})
		if !ok {
			break
		}
		cand := instantOf(w, off)
		if cand.After(limit) {
			break
		}
		if ch, changed := firstChange(excl, cand, off, c.loc); changed {
			next := offsetAt(ch, c.loc)
			if c.fixed && next > off {
				// Clocks go forward at ch, skipping the readings
				// [wallOf(ch, off), wallOf(ch, next)).
				if _, ok := c.nextWall(wallOf(ch, off).Add(-time.Nanosecond), wallOf(ch, next)); ok {
					return ch.In(c.loc), true
				}
			}
			excl, off = ch.Add(-time.Nanosecond), next
			continue
		}
		if c.fixed && c.shownBefore(w, cand, off) {
			excl = cand
			continue
		}
		return cand.In(c.loc), true
	}
	return time.Time{}, false
}

// shownBefore says whether clocks read w before cand, the instant they read
// it with offset off: true in the hour after clocks go back, which readings
// of the hour before repeat.
func (c *cron) shownBefore(w, cand time.Time, off int) bool {
	prev := offsetAt(cand.Add(-changeSpacing), c.loc)
	if prev <= off {
		return false
	}
	return offsetAt(instantOf(w, prev), c.loc) == prev
}
