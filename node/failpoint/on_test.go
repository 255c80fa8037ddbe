//go:build failpoints

package failpoint

import (
	"testing"
	"time"
)

func TestAnArmedPointFiresAtItsHitOnce(t *testing.T) {
	arm("a=panic@2\nb=sleep:50ms\nbad line\nc=explode")
	Inject("a") // first hit: nothing
	func() {
		defer func() {
			if r := recover(); r != "failpoint a" {
				t.Fatalf("second hit of a: recovered %v, want its panic", r)
			}
		}()
		Inject("a")
	}()
	Inject("a") // disarmed
	start := time.Now()
	Inject("b")
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("b did not sleep")
	}
	Inject("c") // the bad action was not armed
	mu.Lock()
	defer mu.Unlock()
	if len(points) != 0 {
		t.Fatalf("points left armed: %v", points)
	}
}
