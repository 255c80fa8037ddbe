// Package schedule reads the schedules of cron jobs and says when they run.
// It owns the two forms users of Chronos and of cron know: ISO 8601
// repeating intervals and five-field cron specs (with @ macros).
//
// It is pure: no clock (every function takes the times it needs), no I/O
// beyond loading a time zone once in Parse, no randomness, no goroutines.
// It does not decide what to do about missed runs; Due lists them and the
// caller decides.
//
// # Repeating intervals
//
// R<n>/<start>/<period>, as Chronos takes it. R (or Chronos's R-1) repeats
// without end; Rn runs n times in all, counted from the start: R5 runs at
// start, start+P, ..., start+4P and never again, however late Next is
// asked; R1 runs once, at start; R0 never runs. The start is a date and
// time, with an offset (Z, +01:00) or without one, in which case it is read
// in the schedule's time zone; seconds may carry a fraction. The period is
// PnYnMnWnDTnHnMnS with whole amounts, except that the seconds may carry a
// fraction. A zero period is refused unless the interval runs at most once.
// An empty start (Chronos's "now") and the start/end and period/end forms are
// refused.
//
// The k-th run is start + k×period, computed from the start, not by adding
// the period k times. The calendar part (Y, M, W, D) moves the clock reading
// in the schedule's time zone, so P1D at 02:30 Europe/Berlin stays at 02:30
// local across DST changes; the time part (H, M, S) is elapsed time, so
// PT24H moves to 03:30 local after the spring change. A date the month
// lacks is clamped to its last day: from Jan 31, P1M runs Feb 28 (29 in leap
// years), Mar 31, Apr 30; from Feb 29, P1Y runs Feb 28 in common years and
// Feb 29 again in leap ones. (Chronos adds the period to the previous run,
// so its Jan 31 schedule drifts to the 28th for good; Go's AddDate would run
// Mar 3. Neither is what "monthly on the 31st" means.) A clock reading the
// zone skips is moved later by the length of the gap (02:30 on the spring
// change day in Berlin runs at 03:30); a reading that occurs twice runs at
// the earlier instant. Those two rules are Joda-Time's, which Chronos uses,
// and java.time's. They apply to a start without an offset too, and the runs
// after it keep the time of day as written: a daily 02:30 that starts on the
// spring change day runs at 03:30 once, then at 02:30. Calendar arithmetic
// always uses the schedule's zone, even when the start gives an offset: the
// offset only fixes the start's instant.
//
// # Cron
//
// minute hour day-of-month month day-of-week, as Vixie (ISC) cron reads
// them: * , - and /, month and day names (jan-dec, sun-sat, any case),
// 0 or 7 for Sunday. A step needs a range or *: 10-50/10, */15, not 5/15.
// When the day-of-month and day-of-week fields are both restricted, a day
// matches if either matches; Vixie counts a field as unrestricted when it
// begins with *, so "*/2" in day-of-month makes both fields have to match,
// exactly as Vixie cron and cronie do. A spec that must match days of the
// month none of its months has (0 0 30 2 *) is refused: it would never run.
// (0 0 30 2 mon is valid: it runs on Mondays in February.)
//
// The fields are matched against the clock in the schedule's time zone.
// Where the clocks change, the package follows Vixie cron 4.1 (cron.c), so a
// crontab moved from a Linux host behaves as it did there. A spec is
// "fixed-time" when neither its minute nor its hour field begins with *
// (Vixie's MIN_STAR and HR_STAR), and "wildcard" otherwise:
//
//   - Spring forward: a fixed-time spec with a match in the skipped
//     readings runs once, at the first instant after the gap (30 2 * * *
//     runs at 03:00 in Berlin), together with a match at that instant
//     itself. A wildcard spec has no runs in the gap (*/15 * * * * runs at
//     01:45 and then 03:00).
//   - Fall back: a fixed-time spec runs only at the first occurrence of a
//     repeated reading (30 1 * * * runs once in New York, at 01:30 EDT). A
//     wildcard spec runs at both (0 * * * * runs every elapsed hour, twice
//     at 01:00 local).
//
// Vixie's rules rather than systemd timers' were chosen because crontab
// syntax brings crontab expectations: an hourly job keeps running every
// elapsed hour, and a daily one runs exactly once every day.
package schedule
