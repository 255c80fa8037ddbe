//go:build failpoints

package failpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Enabled says whether this binary was built with failpoints.
const Enabled = true

type armed struct {
	action string // "panic" or "sleep"
	sleep  time.Duration
	at     int // fire at this hit
	hits   int
}

var (
	mu     sync.Mutex
	points = map[string]*armed{}
	once   sync.Once
)

// Inject fires the point if it is armed and this is its hit.
func Inject(name string) {
	mu.Lock()
	a := points[name]
	if a == nil {
		mu.Unlock()
		return
	}
	a.hits++
	if a.hits < a.at {
		mu.Unlock()
		return
	}
	delete(points, name)
	mu.Unlock()
	switch a.action {
	case "panic":
		fmt.Fprintf(os.Stderr, "failpoint %s: panic\n", name)
		panic("failpoint " + name)
	case "sleep":
		fmt.Fprintf(os.Stderr, "failpoint %s: sleep %v\n", name, a.sleep)
		time.Sleep(a.sleep)
	}
}

// Watch arms the points the file at path names, now and whenever it
// changes.
func Watch(path string) {
	once.Do(func() {
		go func() {
			var last string
			for {
				b, _ := os.ReadFile(path)
				if s := string(b); s != last {
					last = s
					arm(s)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	})
}

// arm replaces the armed points with those of spec (bad lines are
// reported and skipped).
func arm(spec string) {
	next := map[string]*armed{}
	for _, line := range strings.Split(spec, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		a, name, err := parse(line)
		if err != nil {
			fmt.Fprintf(os.Stderr, "failpoint: %q: %v\n", line, err)
			continue
		}
		next[name] = a
	}
	mu.Lock()
	points = next
	mu.Unlock()
}

func parse(line string) (*armed, string, error) {
	name, rest, ok := strings.Cut(line, "=")
	if !ok {
		return nil, "", fmt.Errorf("want point=action[@hit]")
	}
	action, hit, _ := strings.Cut(rest, "@")
	a := &armed{at: 1}
	if hit != "" {
		n, err := strconv.Atoi(hit)
		if err != nil || n < 1 {
			return nil, "", fmt.Errorf("hit %q: want a count from 1", hit)
		}
		a.at = n
	}
	switch {
	case action == "panic":
		a.action = "panic"
	case strings.HasPrefix(action, "sleep:"):
		d, err := time.ParseDuration(strings.TrimPrefix(action, "sleep:"))
		if err != nil {
			return nil, "", err
		}
		a.action, a.sleep = "sleep", d
	default:
		return nil, "", fmt.Errorf("action %q: want panic or sleep:DURATION", action)
	}
	return a, name, nil
}
