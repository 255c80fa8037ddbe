package schedule_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/clusterd/clusterd/node/jobs/schedule"
)

// cronModel is what a generated cron spec means, worked out by the
// generator from the parts it drew, not by the package: the oracle the
// properties compare Next with.
type cronModel struct {
	minute, hour, dom, month, dow uint64 // one bit per value; dow 7 folded into 0
	domStar, dowStar              bool   // the field begins with * (Vixie)
	fixed                         bool   // neither minute nor hour begins with *
	loc                           *time.Location
}

// drawField draws one field's text and the set of values it stands for.
func drawField(t *rapid.T, label string, lo, hi int, names []string) (string, uint64) {
	val := func(what string) (int, string) {
		v := rapid.IntRange(lo, hi).Draw(t, label+" "+what)
		if names != nil && v-lo < len(names) && rapid.Bool().Draw(t, label+" "+what+" as a name") {
			name := names[v-lo]
			if rapid.Bool().Draw(t, label+" "+what+" in upper case") {
				name = strings.ToUpper(name)
			}
			return v, name
		}
		return v, strconv.Itoa(v)
	}
	n := rapid.IntRange(1, 3).Draw(t, label+" items")
	var items []string
	var set uint64
	add := func(a, b, step int) {
		for v := a; v <= b; v += step {
			set |= 1 << v
		}
	}
	for range n {
		switch rapid.IntRange(0, 4).Draw(t, label+" form") {
		case 0:
			items = append(items, "*")
			add(lo, hi, 1)
		case 1:
			step := rapid.IntRange(1, hi-lo+1).Draw(t, label+" step")
			items = append(items, fmt.Sprintf("*/%d", step))
			add(lo, hi, step)
		case 2:
			v, text := val("value")
			items = append(items, text)
			add(v, v, 1)
		case 3, 4:
			a, at := val("from")
			b, bt := val("to")
			if a > b {
				a, b, at, bt = b, a, bt, at
			}
			item := at + "-" + bt
			step := 1
			if rapid.Bool().Draw(t, label+" stepped range") {
				step = rapid.IntRange(1, hi-lo+1).Draw(t, label+" range step")
				item += fmt.Sprintf("/%d", step)
			}
			items = append(items, item)
			add(a, b, step)
		}
	}
	return strings.Join(items, ","), set
}

// drawCron draws a spec; when change is not zero, it may put the hour
// field on the readings that clocks skip or repeat there.
func drawCron(t *rapid.T, loc *time.Location, change time.Time) (string, cronModel) {
	m := cronModel{loc: loc}
	var fields [5]string
	fields[0], m.minute = drawField(t, "minute", 0, 59, nil)
	fields[1], m.hour = drawField(t, "hour", 0, 23, nil)
	if !change.IsZero() && rapid.Bool().Draw(t, "hour of the clock change") {
		_, before := change.Add(-time.Nanosecond).In(loc).Zone()
		_, after := change.In(loc).Zone()
		h := m.reading(change, min(before, after)).Hour()
		fields[1], m.hour = strconv.Itoa(h), 1<<h
	}
	fields[2], m.dom = "*", 0xfffffffe
	if rapid.Bool().Draw(t, "restrict day-of-month") {
		fields[2], m.dom = drawField(t, "day-of-month", 1, 31, nil)
	}
	fields[3], m.month = "*", 0x1ffe
	if rapid.Bool().Draw(t, "restrict month") {
		fields[3], m.month = drawField(t, "month", 1, 12,
			[]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"})
	}
	fields[4], m.dow = "*", 0x7f
	if rapid.Bool().Draw(t, "restrict day-of-week") {
		fields[4], m.dow = drawField(t, "day-of-week", 0, 7, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"})
	}
	if m.dow&(1<<7) != 0 {
		m.dow = m.dow&^(1<<7) | 1
	}
	m.domStar = strings.HasPrefix(fields[2], "*")
	m.dowStar = strings.HasPrefix(fields[4], "*")
	m.fixed = !strings.HasPrefix(fields[0], "*") && !strings.HasPrefix(fields[1], "*")
	return strings.Join(fields[:], " "), m
}

// matches says whether the fields match a clock reading (a time whose
// fields are the reading).
func (m cronModel) matches(r time.Time) bool {
	if m.minute&(1<<r.Minute()) == 0 || m.hour&(1<<r.Hour()) == 0 || m.month&(1<<r.Month()) == 0 {
		return false
	}
	dom, dow := m.dom&(1<<r.Day()) != 0, m.dow&(1<<r.Weekday()) != 0
	if m.domStar || m.dowStar {
		return dom && dow
	}
	return dom || dow
}

// reading is the clock reading in m's zone at instant u, as a UTC time.
func (m cronModel) reading(u time.Time, offset int) time.Time {
	return u.UTC().Add(time.Duration(offset) * time.Second)
}

func sameMinute(a, b time.Time) bool {
	return a.Year() == b.Year() && a.YearDay() == b.YearDay() && a.Hour() == b.Hour() && a.Minute() == b.Minute()
}

// gapRun says whether u is the end of a spring-forward gap at which a
// fixed-time spec catches up a match among the skipped readings.
func (m cronModel) gapRun(u time.Time) bool {
	if !m.fixed {
		return false
	}
	_, before := u.Add(-time.Nanosecond).In(m.loc).Zone()
	_, after := u.In(m.loc).Zone()
	if after <= before {
		return false
	}
	for r := m.reading(u, before); r.Before(m.reading(u, after)); r = r.Add(time.Minute) {
		if m.matches(r) {
			return true
		}
	}
	return false
}

// runsAt is the documented behaviour, brute force, for a minute-aligned
// instant u.
func (m cronModel) runsAt(u time.Time) bool {
	local := u.In(m.loc)
	if m.matches(local) {
		if !m.fixed {
			return true
		}
		repeated := false // the same reading was shown earlier (clocks went back)
		for d := 15 * time.Minute; d <= 3*time.Hour; d += 15 * time.Minute {
			e := u.Add(-d).In(m.loc)
			if sameMinute(e, local) {
				repeated = true
			}
		}
		if !repeated {
			return true
		}
	}
	return m.gapRun(u)
}

// oracleNext scans minute by minute for the first run after t within
// window.
func (m cronModel) oracleNext(t time.Time, window time.Duration) (time.Time, bool) {
	end := t.Add(window)
	for u := t.Truncate(time.Minute).Add(time.Minute); !u.After(end); u = u.Add(time.Minute) {
		if m.runsAt(u) {
			return u, true
		}
	}
	return time.Time{}, false
}

// drawTime draws a time, often near a clock change, which it returns too
// (zero if not near one).
func drawTime(t *rapid.T, loc *time.Location) (at, change time.Time) {
	lo := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	at = time.Unix(rapid.Int64Range(lo, hi).Draw(t, "time"), 0)
	if rapid.Bool().Draw(t, "near a clock change") {
		// The next change within a year, found by scanning days and then
		// minutes (changes fall on whole minutes in these zones).
		_, off := at.In(loc).Zone()
		for d := at; d.Before(at.AddDate(1, 0, 0)); d = d.Add(24 * time.Hour) {
			if _, o := d.In(loc).Zone(); o != off {
				for change = d.Add(-24 * time.Hour).Truncate(time.Minute); ; change = change.Add(time.Minute) {
					if _, o := change.In(loc).Zone(); o != off {
						break
					}
				}
				break
			}
		}
		if !change.IsZero() {
			at = change.Add(time.Duration(rapid.IntRange(-36*60, 6*60).Draw(t, "minutes from the change")) * time.Minute)
		}
	}
	switch rapid.IntRange(0, 2).Draw(t, "alignment") {
	case 0:
		at = at.Truncate(time.Minute) // on a minute: a run there must not be returned
	case 1:
		at = at.Add(time.Duration(rapid.Int64Range(1, int64(time.Second)-1).Draw(t, "nanoseconds")))
	}
	return at, change
}

func TestCronNextProperties(t *testing.T) {
	const window = 3 * 24 * time.Hour
	// Zones with daylight saving, half-hour offsets and half-hour changes,
	// changes at midnight (São Paulo until 2019), and none.
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
		"America/Sao_Paulo", "Asia/Kolkata", "Pacific/Apia"}
	rapid.Check(t, func(t *rapid.T) {
		zone := rapid.SampledFrom(zones).Draw(t, "zone")
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		from, change := drawTime(t, loc)
		spec, m := drawCron(t, loc, change)
		s, err := schedule.Parse(spec, zone)
		if err != nil {
			// Only a day of the month that none of the months has may be
			// refused, and then only when both fields must match.
			possible := !(m.domStar || m.dowStar)
			for mo := 1; mo <= 12; mo++ {
				last := time.Date(2000, time.Month(mo)+1, 0, 0, 0, 0, 0, time.UTC).Day()
				if m.month&(1<<mo) != 0 && m.dom&(1<<(last+1)-1) != 0 {
					possible = true
				}
			}
			if possible || !strings.Contains(err.Error(), "never runs") {
				t.Fatalf("Parse(%q): %v", spec, err)
			}
			return
		}
		next, ok := s.Next(from)
		if !ok {
			t.Fatalf("Next(%v) found no run", from)
		}
		if !next.After(from) {
			t.Fatalf("Next(%v) = %v, not after it", from, next)
		}
		if next.Location().String() != zone {
			t.Fatalf("Next is in %v, want %s", next.Location(), zone)
		}
		if !m.matches(next.In(loc)) && !m.gapRun(next) {
			t.Fatalf("Next(%v) = %v matches neither the fields nor a skipped time", from, next)
		}
		want, found := m.oracleNext(from, window)
		switch {
		case found && !next.Equal(want):
			t.Fatalf("Next(%v) = %v; the first run is %v", from, next, want)
		case !found && !next.After(from.Add(window)):
			t.Fatalf("Next(%v) = %v, which is not a run: none in the %v after it", from, next, window)
		}
		// Between from and the run, Next gives the same run.
		between := from.Add(time.Duration(rapid.Float64Range(0, 1).Draw(t, "between") * float64(next.Sub(from))))
		if between.Before(next) {
			if again, _ := s.Next(between); !again.Equal(next) {
				t.Fatalf("Next(%v) = %v but Next(%v) = %v", from, next, between, again)
			}
		}
		// Non-decreasing.
		later := from.Add(time.Duration(rapid.Int64Range(0, int64(5*24*time.Hour)).Draw(t, "later by")))
		if n2, ok := s.Next(later); !ok || n2.Before(next) {
			t.Fatalf("Next(%v) = %v, before Next(%v) = %v", later, n2, from, next)
		}
	})
}

// isoModel computes the k-th run of a UTC repeating interval straight from
// the documented rule, by its own arithmetic.
type isoModel struct {
	start                      time.Time
	years, months, weeks, days int
	exact                      time.Duration
	count                      int // -1: unlimited
}

func (m isoModel) run(k int) time.Time {
	first := time.Date(m.start.Year(), m.start.Month()+time.Month(k*(12*m.years+m.months)), 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(first.Year(), first.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	day := min(m.start.Day(), last)
	h, mi, s := m.start.Clock()
	return time.Date(first.Year(), first.Month(), day+k*(7*m.weeks+m.days), h, mi, s, m.start.Nanosecond(), time.UTC).
		Add(time.Duration(k) * m.exact)
}

func TestIntervalNextProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		small := func(label string, hi int) int {
			if rapid.Bool().Draw(t, label+" used") {
				return rapid.IntRange(0, hi).Draw(t, label)
			}
			return 0
		}
		m := isoModel{
			years: small("years", 2), months: small("months", 13), weeks: small("weeks", 3), days: small("days", 40),
			count: -1,
		}
		h, mi := small("hours", 30), small("minutes", 90)
		sec, ms := small("seconds", 90), small("milliseconds", 999)
		m.exact = time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute +
			time.Duration(sec)*time.Second + time.Duration(ms)*time.Millisecond
		if m.years+m.months+m.weeks+m.days == 0 && m.exact == 0 {
			m.days = 1
		}
		if rapid.Bool().Draw(t, "limited") {
			m.count = rapid.IntRange(0, 400).Draw(t, "count")
		}
		lo := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
		hi := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
		m.start = time.Unix(rapid.Int64Range(lo, hi).Draw(t, "start"), 0).UTC().
			Add(time.Duration(small("start milliseconds", 999)) * time.Millisecond)

		period := fmt.Sprintf("P%dY%dM%dW%dDT%dH%dM%d.%03dS", m.years, m.months, m.weeks, m.days, h, mi, sec, ms)
		reps := "R"
		if m.count >= 0 {
			reps += strconv.Itoa(m.count)
		}
		spec := reps + "/" + m.start.Format("2006-01-02T15:04:05.000Z07:00") + "/" + period
		s, err := schedule.Parse(spec, "")
		if err != nil {
			t.Fatalf("Parse(%q): %v", spec, err)
		}
		span := m.run(300).Sub(m.start)
		from := m.start.Add(time.Duration(rapid.Float64Range(-0.05, 1).Draw(t, "from") * float64(span)))
		if rapid.Bool().Draw(t, "exactly on a run") {
			from = m.run(rapid.IntRange(0, 299).Draw(t, "run"))
		}
		var want time.Time
		found := false
		for k := 0; k <= 301 && (m.count < 0 || k < m.count); k++ {
			if r := m.run(k); r.After(from) {
				want, found = r, true
				break
			}
		}
		got, ok := s.Next(from)
		switch {
		case ok != found:
			t.Fatalf("Next(%v) = %v, %v; want found %v (%v)", from, got, ok, found, want)
		case ok && !got.Equal(want):
			t.Fatalf("Next(%v) = %v; want %v", from, got, want)
		}
	})
}
