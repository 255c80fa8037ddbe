package join

import (
	"math"
	"net"
	"sync"
	"time"
)

// RateLimit bounds failed attempts per source: a token bucket of Burst
// failures, refilled at one per Refill. Only failures keep their token, so
// a cluster joining many machines from one NAT is not slowed; once it is
// empty, every attempt from that source is refused, right or wrong, until
// it refills, so guessing the secret costs Refill per guess.
type RateLimit struct {
	Burst  int
	Refill time.Duration
	// MaxSources bounds the memory the limiter holds. When that many
	// sources are being limited at once, a new source is refused too (fail
	// closed): an attacker with that many addresses cannot buy guesses.
	MaxSources int
}

// DefaultRateLimit allows 5 failures, then one per 10 s.
func DefaultRateLimit() RateLimit {
	return RateLimit{Burst: 5, Refill: 10 * time.Second, MaxSources: 10000}
}

type bucket struct {
	tokens float64
	at     time.Time
}

// limiter is a RateLimit's state. The time is passed in (Authority.Now), so
// tests move it.
type limiter struct {
	cfg     RateLimit
	mu      sync.Mutex
	sources map[string]*bucket
}

func newLimiter(cfg RateLimit) *limiter {
	return &limiter{cfg: cfg, sources: map[string]*bucket{}}
}

// sourceKey is what one client is counted as: its IPv4 address, or its IPv6
// /64 (one host usually holds a whole /64, and would otherwise have 2^64
// buckets).
func sourceKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// refill brings b up to now.
func (l *limiter) refill(b *bucket, now time.Time) {
	if dt := now.Sub(b.at); dt > 0 {
		b.tokens = math.Min(float64(l.cfg.Burst), b.tokens+float64(dt)/float64(l.cfg.Refill))
		b.at = now
	}
}

// take spends one of source's tokens on an attempt, or reports how long
// until it may make one. The token is taken before the attempt is checked,
// so concurrent guesses cannot all pass before the first failure counts;
// refund gives it back when the attempt succeeded.
func (l *limiter) take(source string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.sources[source]
	if !ok {
		if len(l.sources) >= l.cfg.MaxSources {
			l.prune(now)
			if len(l.sources) >= l.cfg.MaxSources {
				return false, l.cfg.Refill
			}
		}
		b = &bucket{tokens: float64(l.cfg.Burst), at: now}
		l.sources[source] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.cfg.Refill))
	}
	b.tokens--
	return true, 0
}

// refund returns the token an attempt that succeeded took.
func (l *limiter) refund(source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.sources[source]; ok {
		b.tokens = math.Min(float64(l.cfg.Burst), b.tokens+1)
	}
}

// prune forgets the sources whose buckets are full again: they are as good
// as never seen.
func (l *limiter) prune(now time.Time) {
	for k, b := range l.sources {
		l.refill(b, now)
		if b.tokens >= float64(l.cfg.Burst) {
			delete(l.sources, k)
		}
	}
}
