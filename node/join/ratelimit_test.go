package join

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterd/clusterd/node/pki"
)

func TestWrongAttemptsFromOneAddressAreRateLimitedUntilTheClockMoves(t *testing.T) {
	c := startCluster(t, Options{}) // 5 failures, then one per 10 s
	wrong := c.agent
	wrong.Secret[3] ^= 0x40
	req, _ := joinRequest(t, "0a", pki.RoleAgent)
	for i := range 5 {
		if _, err := Join(ctx(t), c.addr, wrong, req, c.now); !errors.Is(err, ErrTokenRefused) {
			t.Fatalf("wrong attempt %d: %v", i+1, err)
		}
	}
	_, err := Join(ctx(t), c.addr, wrong, req, c.now)
	var re *RefusedError
	if !errors.As(err, &re) || !errors.Is(err, ErrRateLimited) || re.Status != http.StatusTooManyRequests || re.RetryAfter != 10*time.Second {
		t.Fatalf("the sixth wrong attempt: %v", err)
	}
	if !strings.Contains(err.Error(), "too many failed join attempts from 127.0.0.1; try again in 10 s") {
		t.Errorf("message %q", err)
	}
	// While limited, even the right token waits: otherwise guessing would
	// go on until it succeeded.
	if _, err := Join(ctx(t), c.addr, c.agent, req, c.now); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("the right token while limited: %v", err)
	}
	c.auth.advance(4 * time.Second)
	if _, err := Join(ctx(t), c.addr, c.agent, req, c.now); !errors.As(err, &re) || re.RetryAfter != 6*time.Second {
		t.Fatalf("4 s later: %v", err)
	}
	c.auth.advance(6 * time.Second)
	if _, err := Join(ctx(t), c.addr, c.agent, req, c.now); err != nil {
		t.Fatalf("10 s later the right token: %v", err)
	}
	// Success gave its token back: one more wrong guess now, not two.
	if _, err := Join(ctx(t), c.addr, wrong, req, c.now); !errors.Is(err, ErrTokenRefused) {
		t.Fatalf("a wrong guess after refilling one: %v", err)
	}
	if _, err := Join(ctx(t), c.addr, wrong, req, c.now); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("a second wrong guess: %v", err)
	}
}

func TestTheRateLimitIsPerSourceAndSuccessesDoNotCount(t *testing.T) {
	a := &fakeAuthority{ca: newCA(t), now: t0, revoked: map[string]bool{}}
	tok := newToken(t, pki.RoleAgent, a.ca)
	a.hashes = map[pki.Role][32]byte{pki.RoleAgent: tok.SecretHash()}
	h := NewHandler(a, Options{RateLimit: RateLimit{Burst: 3, Refill: time.Minute}})
	req, _ := joinRequest(t, "0a", pki.RoleAgent)
	body := func(secret [32]byte) []byte {
		r := req
		r.Secret = EncodeSecret(secret)
		b, _ := json.Marshal(r)
		return b
	}
	right, wrong := body(tok.Secret), body([32]byte{9})
	status := func(b []byte, from string) int { return serve(h, newRequest(PathJoin, b, from)).Code }

	// Many machines joining from behind one NAT: successes cost nothing.
	for i := range 20 {
		if s := status(right, "127.0.0.1:1"); s != http.StatusOK {
			t.Fatalf("join %d from one address: %d", i, s)
		}
	}
	for range 3 {
		status(wrong, "127.0.0.1:2")
	}
	w := serve(h, newRequest(PathJoin, wrong, "127.0.0.1:3"))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "60" {
		t.Fatalf("after the burst: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if s := status(right, "127.0.0.2:1"); s != http.StatusOK {
		t.Errorf("another address is limited too: %d", s)
	}
	// An IPv6 host holds a /64: its addresses share one bucket.
	for i := range 3 {
		status(wrong, fmt.Sprintf("[2001:db8::%x]:1", i+1))
	}
	if s := status(right, "[2001:db8::ffff]:1"); s != http.StatusTooManyRequests {
		t.Errorf("another address of the same /64: %d", s)
	}
	if s := status(right, "[2001:db8:0:1::1]:1"); s != http.StatusOK {
		t.Errorf("another /64: %d", s)
	}
	// Renewals share the limit: a client without a certificate is a
	// failure too.
	for range 3 {
		serve(h, newRequest(PathRenew, []byte("{}"), "127.0.0.3:1"))
	}
	if s := status(right, "127.0.0.3:1"); s != http.StatusTooManyRequests {
		t.Errorf("after 3 failed renewals a join: %d", s)
	}
}

func TestConcurrentGuessesCannotOutrunTheLimit(t *testing.T) {
	a := &fakeAuthority{ca: newCA(t), now: t0, revoked: map[string]bool{}, hashes: map[pki.Role][32]byte{pki.RoleAgent: {1}}}
	h := NewHandler(a, Options{RateLimit: RateLimit{Burst: 5, Refill: time.Hour}})
	req, _ := joinRequest(t, "0a", pki.RoleAgent)
	req.Secret = EncodeSecret([32]byte{2})
	b, _ := json.Marshal(req)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			code := serve(h, newRequest(PathJoin, b, "127.0.0.1:1")).Code
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusUnauthorized] != 5 || codes[http.StatusTooManyRequests] != 45 {
		t.Errorf("50 concurrent guesses: %v, want 5 checked and 45 refused", codes)
	}
}

func TestTheLimiterForgetsRefilledSourcesAndFailsClosedWhenFull(t *testing.T) {
	l := newLimiter(RateLimit{Burst: 1, Refill: time.Second, MaxSources: 2})
	for _, s := range []string{"a", "b"} {
		if ok, _ := l.take(s, t0); !ok {
			t.Fatalf("first attempt of %s refused", s)
		}
	}
	if ok, wait := l.take("c", t0); ok || wait != time.Second {
		t.Errorf("a third source while two are limited: %v %s, want refused for 1s", ok, wait)
	}
	if ok, _ := l.take("c", t0.Add(time.Second)); !ok {
		t.Error("a third source once the others refilled")
	}
	if len(l.sources) != 1 {
		t.Errorf("%d sources remembered, want the refilled ones forgotten", len(l.sources))
	}
}
