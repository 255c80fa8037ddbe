package health

import "time"

// Clock is where a Monitor reads the time and waits. SystemClock is the
// real one; healthtest.Clock is a fake that tests advance by hand.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once, d from now (at once when d
	// is not positive).
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer of a Clock.
type Timer interface {
	// C delivers the time once, when the timer fires.
	C() <-chan time.Time
	// Stop keeps the timer from firing; it reports whether it stopped it
	// (false: it had fired or was stopped already).
	Stop() bool
}

// SystemClock is the machine's clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Stop() bool          { return t.t.Stop() }
