package gossip

import (
	"math"
	"time"

	"github.com/hashicorp/memberlist"
)

// The functions here restate memberlist v0.6.0's failure detector (SWIM with
// Lifeguard's suspicion) as arithmetic, so that the numbers in the package
// documentation, the node's grace periods and the tests come from one place.
// They describe a healthy prober: Lifeguard's awareness may stretch a
// struggling node's probe interval up to AwarenessMaxMultiplier (8) times.

// detectionCapIntervals bounds the wait for the first probe of a stopped node
// in MaxTimeToDeclareDead. Each of the other n-1 members probes one member per
// ProbeInterval, so a given member escapes all of them for j intervals with
// probability about e^-j: 10 intervals is exceeded about once in 20,000.
const detectionCapIntervals = 10

// SuspicionTimeout is how long a suspect node has to refute the suspicion
// before it is declared dead in a cluster of n nodes (memberlist's
// suspicionTimeout and suspectNode): min = SuspicionMult ×
// max(1, log10(n)) × ProbeInterval. In clusters of at least SuspicionMult
// nodes the timer starts at max = SuspicionMaxTimeoutMult × min and shrinks
// toward min as SuspicionMult-2 other members independently confirm the
// suspicion; in smaller ones no confirmation is expected and it is min.
func SuspicionTimeout(cfg Config, n int) (lo, hi time.Duration) {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	// memberlist keeps three decimals of the scale; so do we, to match it.
	lo = time.Duration(cfg.SuspicionMult) * time.Duration(scale*1000) * cfg.ProbeInterval / 1000
	k := cfg.SuspicionMult - 2
	if n-2 < k {
		k = 0
	}
	if k < 1 {
		return lo, lo
	}
	return lo, time.Duration(suspicionMaxTimeoutMult()) * lo
}

// MinTimeToDeclareDead is the earliest a node that stops answering can be
// declared dead: a probe starts the moment it stops, the probe fails at the
// end of its ProbeInterval (direct ping for ProbeTimeout, then indirect pings
// and a TCP ping until the interval ends) and the node becomes suspect, then
// the minimum suspicion timeout runs out. A node that pauses for less than
// this minus the time its refutation takes to gossip back is never declared
// dead.
func MinTimeToDeclareDead(cfg Config, n int) time.Duration {
	lo, _ := SuspicionTimeout(cfg, n)
	return cfg.ProbeInterval + lo
}

// ExpectedTimeToDeclareDead is the mean time from a crash to the dead
// declaration: the wait for the first probe (each of the n-1 others probes
// it with probability about 1/(n-1) per interval), one interval for the probe
// to fail, then the minimum suspicion timeout. memberlist sets the number of
// confirmations it waits for (SuspicionMult-2) so that, at about one probe of
// the dead node per interval, they arrive before the minimum runs out.
func ExpectedTimeToDeclareDead(cfg Config, n int) time.Duration {
	lo, _ := SuspicionTimeout(cfg, n)
	if n < 2 {
		return 0
	}
	others := float64(n - 1)
	p := 1 - math.Pow(1-1/others, others) // some member probes it in a given interval
	wait := 1/p - 0.5                     // the crash falls mid-interval on average
	return time.Duration((wait+1)*float64(cfg.ProbeInterval)) + lo
}

// MaxTimeToDeclareDead bounds, for a healthy cluster, how long a crashed
// node stays listed alive: the first probe of it comes within
// min(2(n-1)-1, 10) intervals (the round-robin guarantee of one prober, or
// the all-probers bound that fails about once in 20,000), one more interval
// for the probe to fail, then the maximum suspicion timeout (no
// confirmations arrived).
func MaxTimeToDeclareDead(cfg Config, n int) time.Duration {
	if n < 2 {
		return 0
	}
	_, hi := SuspicionTimeout(cfg, n)
	wait := min(2*(n-1)-1, detectionCapIntervals)
	return time.Duration(wait+1)*cfg.ProbeInterval + hi
}

// suspicionMaxTimeoutMult is memberlist's LAN value, which New keeps.
func suspicionMaxTimeoutMult() int {
	return memberlist.DefaultLANConfig().SuspicionMaxTimeoutMult
}
