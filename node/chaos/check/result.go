package check

import (
	"fmt"
	"strings"
	"time"
)

// Result is one checker's verdict. Violations explain each broken promise
// with the operations, tasks and times involved, one finding per entry, in a
// deterministic order; the harness writes them to the run's explanation
// file. Checked counts what the checker examined (operations, tasks,
// samples), so a harness can tell "nothing was wrong" from "nothing was
// recorded".
type Result struct {
	Name       string
	OK         bool
	Checked    int
	Violations []string
}

// String is the result as the explanation file shows it: a verdict line,
// then one indented line per violation.
func (r Result) String() string {
	var b strings.Builder
	verdict := "ok"
	if !r.OK {
		verdict = fmt.Sprintf("FAILED (%d violations)", len(r.Violations))
	}
	fmt.Fprintf(&b, "%s: %s, %d checked\n", r.Name, verdict, r.Checked)
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "  - %s\n", strings.ReplaceAll(v, "\n", "\n    "))
	}
	return b.String()
}

// result builds a Result whose OK follows from its violations, so no
// checker can report OK next to a violation.
func result(name string, checked int, violations []string) Result {
	return Result{Name: name, OK: len(violations) == 0, Checked: checked, Violations: violations}
}

// ts formats a time the way the harness's fault log does (UTC, to the
// millisecond), so a violation can be matched against the faults around it.
func ts(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.UTC().Format("15:04:05.000")
}

// maxListed bounds the operations listed in one violation: enough to see
// the pattern, short enough to read.
const maxListed = 12

// listed joins at most maxListed items, saying how many were left out.
func listed(items []string) string {
	if len(items) <= maxListed {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:maxListed], "; ") + fmt.Sprintf("; ... and %d more", len(items)-maxListed)
}
