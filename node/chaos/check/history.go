package check

import (
	"fmt"
	"time"
)

// Kind is what a client operation did.
type Kind string

// Operation kinds of the chaos workload. Submit, Update, Delete and Read act
// on the job registry (Key is the job id); Launch and Kill act on one task
// (Key is the task id).
const (
	KindSubmit Kind = "submit" // create or replace a job; Input is the value written
	KindUpdate Kind = "update" // change an existing job; Input is the value written
	KindDelete Kind = "delete"
	KindRead   Kind = "read" // Output is the value read
	KindLaunch Kind = "launch"
	KindKill   Kind = "kill"
)

// Outcome is what the client learned of an operation.
type Outcome string

// Outcomes. OutcomeFailed means the cluster answered that the operation did
// not take effect (a validation error, a refused call); an answer that
// carries information about the state, such as "job not found", is
// OutcomeOK with Found false. OutcomeUnknown means no answer came (timeout,
// connection reset, the node died mid-call): it may or may not have taken
// effect.
const (
	OutcomeOK      Outcome = "ok"
	OutcomeFailed  Outcome = "failed"
	OutcomeUnknown Outcome = "unknown"
)

// Operation is one client call as the workload recorded it. Record one
// Operation per attempt: a client library that retries after a lost answer
// must report the lost attempt as unknown and the retry as a new operation,
// or a delete answered "not found" because its own first attempt succeeded
// looks like a lost job.
type Operation struct {
	Client int // the workload client that made the call, 0-based
	Kind   Kind
	Key    string // job id, or task id for launch and kill
	// Input is the value a submit or update wrote: something that
	// identifies this write (for example "client 3 write 17"), read back by
	// reads.
	Input string
	// Output is the value a read returned (when Found).
	Output string
	// Found says, for a read, update or delete answered OutcomeOK, whether
	// the job existed (false for a 404, or a job already dead).
	Found    bool
	Invoke   time.Time
	Complete time.Time // ignored when Outcome is OutcomeUnknown
	Outcome  Outcome
	Error    string // the error the client saw, for explanations
}

// String describes the operation for an explanation: who did what, what
// came back, and when.
func (o Operation) String() string {
	what := fmt.Sprintf("client %d %s %q", o.Client, o.Kind, o.Key)
	switch o.Kind {
	case KindSubmit, KindUpdate:
		what += fmt.Sprintf(" := %q", o.Input)
	}
	switch {
	case o.Outcome == OutcomeUnknown:
		what += " → unknown"
	case o.Outcome == OutcomeFailed:
		what += " → failed"
	case o.Kind == KindRead && o.Found:
		what += fmt.Sprintf(" → %q", o.Output)
	case (o.Kind == KindRead || o.Kind == KindUpdate || o.Kind == KindDelete) && !o.Found:
		what += " → not found"
	default:
		what += " → ok"
	}
	if o.Error != "" {
		what += " (" + o.Error + ")"
	}
	end := ts(o.Complete)
	if o.Outcome == OutcomeUnknown {
		end = "∞"
	}
	return fmt.Sprintf("%s [%s, %s]", what, ts(o.Invoke), end)
}

// malformed says what is wrong with an operation's record, or "".
func (o Operation) malformed() string {
	switch o.Outcome {
	case OutcomeOK, OutcomeFailed, OutcomeUnknown:
	default:
		return fmt.Sprintf("unknown outcome %q", o.Outcome)
	}
	switch o.Kind {
	case KindSubmit, KindUpdate, KindDelete, KindRead, KindLaunch, KindKill:
	default:
		return fmt.Sprintf("unknown kind %q", o.Kind)
	}
	if o.Key == "" {
		return "no key"
	}
	if o.Invoke.IsZero() {
		return "no invoke time"
	}
	if o.Outcome != OutcomeUnknown && o.Complete.Before(o.Invoke) {
		return "completed before it was invoked"
	}
	return ""
}
