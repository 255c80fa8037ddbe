package check

import (
	"testing"
	"time"
)

func TestAtMostOneCopyPasses(t *testing.T) {
	samples := []RunningSample{
		{At: at(0), Agent: "a1", Tasks: []string{"web.1", "web.2"}},
		{At: at(10), Agent: "a2", Tasks: []string{"web.3"}},
		{At: at(1000), Agent: "a1", Tasks: []string{"web.1", "web.2"}},
		{At: at(1010), Agent: "a2", Tasks: []string{"web.3"}},
		// a1 died; web.1 and web.2 were replaced by new ids on a2.
		{At: at(5000), Agent: "a2", Tasks: []string{"web.3", "web.4", "web.5"}},
	}
	r := AtMostOneCopy(samples, time.Second)
	wantOK(t, r)
	if r.Checked != 5 {
		t.Errorf("checked %d samples, want 5", r.Checked)
	}
}

func TestAtMostOneCopyCatchesTaskRunTwice(t *testing.T) {
	// The leader failed over and re-launched web.1 on a2 while a1 still
	// ran it.
	samples := []RunningSample{
		{At: at(0), Agent: "a1", Tasks: []string{"web.1"}},
		{At: at(1000), Agent: "a1", Tasks: []string{"web.1"}},
		{At: at(1400), Agent: "a2", Tasks: []string{"web.1"}},
		{At: at(2000), Agent: "a1", Tasks: []string{"web.1"}},
		{At: at(2400), Agent: "a2", Tasks: []string{"web.1"}},
	}
	r := AtMostOneCopy(samples, time.Second)
	wantViolation(t, r, `task "web.1" ran on two agents at once: a1 at 12:00:01.000 and a2 at 12:00:01.400`)
	if len(r.Violations) != 1 {
		t.Errorf("want the overlap reported once, got:\n%s", r)
	}

	// Two units of one task on the same agent (a re-adopted unit plus a
	// fresh start after an agent restart).
	r = AtMostOneCopy([]RunningSample{{At: at(0), Agent: "a1", Tasks: []string{"web.1", "web.2", "web.1"}}}, time.Second)
	wantViolation(t, r, `task "web.1" ran 2 times on agent a1 at 12:00:00.000`)
}
