package placement

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Operator is a Marathon constraint operator. Place also accepts the lower-case spellings
// ("unique", "group_by").
type Operator string

// The operators, with Marathon's meaning. "The group" is the tasks of the constrained task's
// Task.Group, running or placed earlier in the same Place call; "the host's value" is the
// host's Hostname for the field "hostname" and its attribute of that name otherwise.
const (
	// Unique allows at most one task of the group per value: ["hostname","UNIQUE"] is one per
	// host, ["zone","UNIQUE"] one per zone. It takes no value.
	Unique Operator = "UNIQUE"
	// Cluster with a value allows only hosts whose value is that value. Without one it keeps
	// the group together: every task goes to the value where most of the group's running
	// tasks are (the lowest value among equals), or with none running, where the group's
	// first task placed in the call went.
	Cluster Operator = "CLUSTER"
	// GroupBy spreads the group evenly over the values: a host is acceptable only if its
	// value holds the fewest tasks of the group, so the counts stay within one of each other.
	// The values are those of the hosts that could ever take the task (right attributes,
	// big enough); an optional count n says to assume n values exist, so until n values
	// are in use only unused ones are acceptable (Marathon's GROUP_BY n).
	GroupBy Operator = "GROUP_BY"
	// Like allows only hosts whose value matches the regular expression, which must match the
	// whole value (it is anchored, as in Marathon).
	Like Operator = "LIKE"
	// Unlike allows only hosts whose value does not match the (anchored) regular expression.
	Unlike Operator = "UNLIKE"
	// MaxPer allows at most n tasks of the group per value (["rack","MAX_PER","2"]).
	MaxPer Operator = "MAX_PER"
	// Is allows only hosts whose value is exactly the constraint's value.
	Is Operator = "IS"
)

// Constraint restricts (hard) or steers (soft) where a task goes. A host that lacks the
// attribute fails every operator except UNLIKE, as in Marathon; the field "hostname" is never
// missing.
//
// A soft constraint never rejects a host: it is one more score in the weighted average
// (Config.SoftWeight), 1 where it holds and lower where it does not: UNIQUE scores
// 1/(1+n) for a value already holding n tasks of the group, GROUP_BY 1/(1+n-min) for a value
// n tasks above the least used one, the others 1 or 0, and a missing attribute 0 (1 for
// UNLIKE).
type Constraint struct {
	Field    string   // "hostname", or an attribute name such as "zone"
	Operator Operator // see the operator constants
	// Value is the operator's argument: a regular expression for LIKE and UNLIKE, a count for
	// MAX_PER (required) and GROUP_BY (optional), a value for IS (required) and CLUSTER
	// (optional); UNIQUE takes none.
	Value string
	Soft  bool
}

// ParseConstraint reads Marathon's form of a constraint: [field, operator] or
// [field, operator, value], such as ["zone","GROUP_BY","3"] or ["hostname","UNIQUE"]. The
// result is hard; set Soft to make it a preference. Errors say which part is wrong.
func ParseConstraint(fields []string) (Constraint, error) {
	if len(fields) != 2 && len(fields) != 3 {
		return Constraint{}, fmt.Errorf("constraint %q: want [field, operator] or [field, operator, value], got %d items", fields, len(fields))
	}
	c := Constraint{Field: fields[0], Operator: Operator(fields[1])}
	if len(fields) == 3 {
		c.Value = fields[2]
	}
	if err := c.Validate(); err != nil {
		return Constraint{}, err
	}
	c.Operator = c.op()
	return c, nil
}

// Validate reports what is wrong with c: no field, an unknown operator, or a value the
// operator does not take (a missing or extra value, a count that is not a positive integer,
// a regular expression that does not compile). Place reports a task with an invalid
// constraint in Why.Invalid and places it nowhere.
func (c Constraint) Validate() error {
	_, _, err := c.parse()
	return err
}

// String is Marathon's form joined by spaces, with the operator in upper case:
// "zone GROUP_BY 3", "hostname UNIQUE"; " (soft)" is appended for a soft constraint. Why
// reports a host rejected by a hard constraint under "constraint " + its String.
func (c Constraint) String() string {
	s := c.Field + " " + string(c.op())
	if c.Value != "" {
		s += " " + c.Value
	}
	if c.Soft {
		s += " (soft)"
	}
	return s
}

func (c Constraint) op() Operator { return Operator(strings.ToUpper(string(c.Operator))) }

// parse checks c and returns its count (GROUP_BY, MAX_PER; 0 when none) and its compiled,
// anchored regular expression (LIKE, UNLIKE).
func (c Constraint) parse() (n int, re *regexp.Regexp, err error) {
	op := c.op()
	fail := func(format string, args ...any) (int, *regexp.Regexp, error) {
		return 0, nil, fmt.Errorf("constraint %q: %s", c.String(), fmt.Sprintf(format, args...))
	}
	if c.Field == "" {
		return fail("no field: want \"hostname\" or an attribute name")
	}
	switch op {
	case Unique:
		if c.Value != "" {
			return fail("UNIQUE takes no value, got %q", c.Value)
		}
	case Cluster:
	case Is:
		if c.Value == "" {
			return fail("IS wants the value to match")
		}
	case GroupBy, MaxPer:
		if c.Value == "" {
			if op == MaxPer {
				return fail("MAX_PER wants a count, such as [%q, \"MAX_PER\", \"2\"]", c.Field)
			}
			return 0, nil, nil
		}
		n, err := strconv.Atoi(c.Value)
		if err != nil || n < 1 {
			return fail("%s wants a count of at least 1, got %q", op, c.Value)
		}
		return n, nil, nil
	case Like, Unlike:
		if c.Value == "" {
			return fail("%s wants a regular expression (\".*\" matches any value)", op)
		}
		re, err := regexp.Compile("^(?:" + c.Value + ")$")
		if err != nil {
			return fail("%s wants a regular expression: %v", op, err)
		}
		return 0, re, nil
	default:
		return fail("unknown operator %q: want UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER or IS", c.Operator)
	}
	return 0, nil, nil
}

// static reports whether the constraint depends only on what the host is (its attribute),
// not on where the group's tasks are.
func (c Constraint) static() bool {
	switch c.op() {
	case Like, Unlike, Is:
		return true
	case Cluster:
		return c.Value != ""
	}
	return false
}
