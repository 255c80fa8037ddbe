package check

import (
	"strings"
	"testing"
	"time"
)

// t0 is the start of every test history; at(ms) is a time after it.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// op is a registry operation of client c on key over [from, to] ms; to < 0
// records an unknown outcome.
func op(c int, kind Kind, key string, from, to int) Operation {
	o := Operation{Client: c, Kind: kind, Key: key, Invoke: at(from), Outcome: OutcomeOK}
	if to < 0 {
		o.Outcome = OutcomeUnknown
	} else {
		o.Complete = at(to)
	}
	return o
}

func write(c int, key, value string, from, to int) Operation {
	o := op(c, KindSubmit, key, from, to)
	o.Input = value
	return o
}

func update(c int, key, value string, from, to int) Operation {
	o := op(c, KindUpdate, key, from, to)
	o.Input, o.Found = value, true
	return o
}

func read(c int, key, value string, from, to int) Operation {
	o := op(c, KindRead, key, from, to)
	o.Output, o.Found = value, true
	return o
}

func readAbsent(c int, key string, from, to int) Operation {
	return op(c, KindRead, key, from, to)
}

func del(c int, key string, found bool, from, to int) Operation {
	o := op(c, KindDelete, key, from, to)
	o.Found = found
	return o
}

// wantOK fails the test unless r passed.
func wantOK(t *testing.T, r Result) {
	t.Helper()
	if !r.OK || len(r.Violations) != 0 {
		t.Fatalf("want ok, got:\n%s", r)
	}
	if r.Checked == 0 {
		t.Fatalf("%s checked nothing", r.Name)
	}
}

// wantViolation fails the test unless r failed with a violation that
// contains every one of parts (what a reader of the explanation needs to
// find the bug: the ids, states and times involved).
func wantViolation(t *testing.T, r Result, parts ...string) {
	t.Helper()
	if r.OK {
		t.Fatalf("want a violation containing %q, got:\n%s", parts, r)
	}
	for _, v := range r.Violations {
		all := true
		for _, p := range parts {
			if !strings.Contains(v, p) {
				all = false
				break
			}
		}
		if all {
			return
		}
	}
	t.Fatalf("no violation contains all of %q:\n%s", parts, r)
}
