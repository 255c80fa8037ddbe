package schedule

import "time"

// A wall-clock reading (the date and time a clock in some zone shows, with no
// zone attached) is carried here as a time.Time in UTC whose fields are the
// reading, so that time's calendar arithmetic applies to it. Such values are
// named wall or w; instants are named t, at or i.

// offsetAt is the UTC offset, in seconds, in force in loc at instant i.
func offsetAt(i time.Time, loc *time.Location) int {
	_, off := i.In(loc).Zone()
	return off
}

// wallOf is the reading of a clock offset seconds east of UTC at instant i.
func wallOf(i time.Time, offset int) time.Time {
	return i.UTC().Add(time.Duration(offset) * time.Second)
}

// wallIn is the reading of a clock in loc at instant i.
func wallIn(i time.Time, loc *time.Location) time.Time {
	return wallOf(i, offsetAt(i, loc))
}

// instantOf is the instant at which a clock offset seconds east of UTC reads
// wall.
func instantOf(wall time.Time, offset int) time.Time {
	return wall.Add(-time.Duration(offset) * time.Second)
}

// changeSpacing is the least time between two changes of a zone's offset
// that this package relies on: it looks for changes by probing offsets this
// far apart (and near a reading, this far either side of it). Every zone in
// the tz database since 1970 keeps changes further apart than this.
//
// The package finds changes from offsets alone, not from Time.ZoneBounds:
// ZoneBounds reports bounds that do not contain the instant asked about in
// years served by a zone's POSIX TZ rule (golang/go#81583, #70633).
const changeSpacing = 26 * time.Hour

// resolve is the instant at which clocks in loc read wall. A reading that
// occurs twice (clocks set back) resolves to the earlier instant. A reading
// that never occurs (clocks set forward over it) resolves to the instant it
// would have been had the clocks not moved, which the clocks then read as
// wall plus the length of the gap: 02:30 on a day Berlin skips from 02:00 to
// 03:00 resolves to 03:30. Both rules are Joda-Time's and java.time's.
//
// time.Date leaves both cases unspecified ("correct in one of the two zones
// involved in the transition"), which is why this exists.
func resolve(wall time.Time, loc *time.Location) time.Time {
	// The instants that can read wall lie within a day of wall read as UTC,
	// where at most one change happens: the offsets in force there are
	// those at either end.
	before := offsetAt(wall.Add(-changeSpacing), loc)
	after := offsetAt(wall.Add(changeSpacing), loc)
	var best time.Time
	found := false
	for _, off := range []int{before, after} {
		i := instantOf(wall, off)
		if offsetAt(i, loc) == off && (!found || i.Before(best)) {
			best, found = i, true
		}
	}
	if found {
		return best.In(loc)
	}
	// In a gap: the offset in force before it.
	return instantOf(wall, before).In(loc)
}

// firstChange is the first instant in (after, until] at which loc's offset
// is not off, given that it is off just after after; false if there is
// none.
func firstChange(after, until time.Time, off int, loc *time.Location) (time.Time, bool) {
	lo := after // offset off just after lo
	for lo.Before(until) {
		hi := lo.Add(changeSpacing)
		if hi.After(until) {
			hi = until
		}
		if offsetAt(hi, loc) == off {
			lo = hi
			continue
		}
		// One change in (lo, hi]: bisect for it.
		for hi.Sub(lo) > time.Nanosecond {
			mid := lo.Add(hi.Sub(lo) / 2)
			if offsetAt(mid, loc) == off {
				lo = mid
			} else {
				hi = mid
			}
		}
		return hi, true
	}
	return time.Time{}, false
}

// daysIn is the number of days in month m of year y.
func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
