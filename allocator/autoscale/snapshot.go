package autoscale

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/clusterd/clusterd/allocator/placement"
)

// HostState is where a host is in its life, as the cluster state has it.
type HostState string

// The host states the Decider tells apart.
const (
	// Ready hosts take new tasks.
	Ready HostState = "ready"
	// Draining hosts take no new tasks: their long-lived tasks are being moved and their
	// short-lived ones finish; the Decider terminates them once that is done.
	Draining HostState = "draining"
	// Down hosts are gone or unreachable: they count towards MaxSize (the instance still
	// exists) but offer nothing.
	Down HostState = "down"
)

// Lifetime is how long a task is expected to run.
type Lifetime string

// The lifetime classes (the job-level hint "lifetime").
const (
	// Unknown is a task without a hint. The Decider treats it as long-lived, the safe side:
	// it is never terminated with its host.
	Unknown Lifetime = ""
	// Long is a service: it runs until stopped, and must be moved, never killed.
	Long Lifetime = "long"
	// Short is a batch task: it ends by itself, and may be let finish on a draining host.
	Short Lifetime = "short"
)

// longLived reports whether a task of lifetime l must be moved, not killed.
func (l Lifetime) longLived() bool { return l != Short }

// Task is a task running on a host.
type Task struct {
	ID       string
	Lifetime Lifetime
	Ask      Amount // what it holds on the host
}

// Host is one agent as the Decider sees it.
type Host struct {
	ID         string
	Zone       string
	Attributes map[string]string // the group attribute among them
	State      HostState
	Total      Amount
	Allocated  Amount // what its tasks hold
	Tasks      []Task
	// DrainStarted is when the host began draining (zero unless State is Draining).
	DrainStarted time.Time
}

// idle reports whether the host is ready and runs nothing.
func (h *Host) idle() bool { return h.State == Ready && len(h.Tasks) == 0 }

// longLived is how many of the host's tasks must be moved before it may go.
func (h *Host) longLived() int {
	n := 0
	for _, t := range h.Tasks {
		if t.Lifetime.longLived() {
			n++
		}
	}
	return n
}

// Blocked is why a pending task is not placed, in the terms the shortfall analysis needs.
type Blocked int

// The kinds of blocked tasks; see BlockedOf for how placement's Why maps onto them.
const (
	// BlockedResources: some host passes every constraint, only resources in use are in the
	// way (or there are no hosts at all). More hosts that can take it would place it.
	BlockedResources Blocked = iota
	// BlockedConstraint: every host that could ever take it is kept from it by where tasks
	// are (UNIQUE, MAX_PER, GROUP_BY, CLUSTER) or by an exclusive task. More hosts help only
	// where each new host brings a new value: constraints on "hostname" (not CLUSTER).
	BlockedConstraint
	// BlockedUnplaceable: no present host can ever take it (too small, wrong attributes). A
	// group whose shape and attributes fit would; others would not.
	BlockedUnplaceable
	// BlockedInvalid: the task itself is wrong (placement.Why.Invalid); no host helps.
	BlockedInvalid
)

// BlockedOf reads placement's explanation of an unplaced task.
func BlockedOf(w placement.Why) Blocked {
	switch {
	case w.Invalid != "":
		return BlockedInvalid
	case w.Unplaceable:
		return BlockedUnplaceable
	case w.Hosts == 0:
		return BlockedResources
	}
	for reason, n := range w.Reasons {
		switch reason {
		case placement.ReasonCPUs, placement.ReasonMem, placement.ReasonDisk, placement.ReasonGPUs, placement.ReasonPorts:
			if n > 0 {
				return BlockedResources
			}
		}
	}
	return BlockedConstraint
}

// Pending is a task waiting to be placed.
type Pending struct {
	ID          string
	Ask         Amount
	Lifetime    Lifetime
	Constraints []placement.Constraint // its constraints; soft ones are ignored
	Blocked     Blocked
}

// Snapshot is the cluster at one evaluation.
type Snapshot struct {
	// Hosts are all agents; each belongs to the group named by its group attribute, and
	// those of no configured group are ignored.
	Hosts []Host
	// Pending are the tasks not placed now, with why.
	Pending []Pending
	// Booting is, per group, how many hosts were asked for and have not joined yet: they
	// count towards the group's size and as idle capacity of its shape, so a scale-up is
	// not repeated while its hosts boot.
	Booting map[string]int
}

// fixableBy says whether more hosts of a group, whose new hosts may carry the attribute
// values attrs, would let task p be placed; if not, why.
func fixableBy(p *Pending, shape Amount, attrs map[string][]string) (bool, string) {
	if p.Blocked == BlockedInvalid {
		return false, "invalid"
	}
	if !shape.Fits(p.Ask) {
		return false, "larger than the host shape"
	}
	for _, c := range p.Constraints {
		if c.Soft {
			continue
		}
		op := placement.Operator(strings.ToUpper(string(c.Operator)))
		if c.Field == "hostname" {
			// A new host's hostname is not known ahead, but it is a new value.
			switch {
			case op == placement.Unlike:
			case op == placement.Unique || op == placement.GroupBy || op == placement.MaxPer:
			default:
				return false, "constraint " + c.String()
			}
			continue
		}
		values := attrs[c.Field]
		if !anyValueHolds(c, op, values) {
			return false, "constraint " + c.String() + " not met by the group's hosts"
		}
		if p.Blocked == BlockedConstraint && (op == placement.Unique || op == placement.MaxPer ||
			op == placement.GroupBy || op == placement.Cluster) {
			// The group's values are already in use: hosts with the same values do not help.
			return false, "constraint " + c.String() + " that more hosts would not fix"
		}
	}
	return true, ""
}

// anyValueHolds reports whether some value a new host may carry passes constraint c on its
// attributes (the static part of c; UNIQUE, MAX_PER and GROUP_BY only need the attribute).
func anyValueHolds(c placement.Constraint, op placement.Operator, values []string) bool {
	if len(values) == 0 {
		return op == placement.Unlike // a missing attribute fails all but UNLIKE
	}
	switch op {
	case placement.Is:
		return slices.Contains(values, c.Value)
	case placement.Cluster:
		return c.Value == "" || slices.Contains(values, c.Value)
	case placement.Like, placement.Unlike:
		re, err := anchored(c.Value)
		if err != nil {
			return false
		}
		for _, v := range values {
			if re.MatchString(v) == (op == placement.Like) {
				return true
			}
		}
		return false
	}
	return true
}

// anchored compiles a LIKE or UNLIKE value as placement does: it must match the whole value.
func anchored(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, fmt.Errorf("constraint regular expression %q: %w", expr, err)
	}
	return re, nil
}
