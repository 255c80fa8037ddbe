package mesosfw

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Readers for scheduler Event bodies. Each checks the event's type and the
// shape the proto gives it, and reports the first deviation as an error.

func wantType(ev map[string]any, typ string) error {
	got, err := LookupStr(ev, "type")
	if err != nil {
		return fmt.Errorf("event: %w", err)
	}
	if got != typ {
		return fmt.Errorf("event type %q, want %q", got, typ)
	}
	return nil
}

// Offers returns the offers of an OFFERS event, read from
// "offers"."offers" (Event.offers is an Event.Offers message).
func Offers(ev map[string]any) ([]map[string]any, error) {
	if err := wantType(ev, "OFFERS"); err != nil {
		return nil, err
	}
	if _, isArr := ev["offers"].([]any); isArr {
		return nil, fmt.Errorf(`OFFERS event has "offers" as an array; scheduler.proto makes it an Offers message: {"offers": {"offers": [...]}}`)
	}
	arr, err := LookupArr(ev, "offers", "offers")
	if err != nil {
		return nil, fmt.Errorf("OFFERS event: %w", err)
	}
	if len(arr) == 0 {
		return nil, fmt.Errorf("OFFERS event with no offers")
	}
	out := make([]map[string]any, 0, len(arr))
	for i, o := range arr {
		m, ok := o.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("OFFERS event: offers.offers[%d] is %s, not an object", i, describe(o))
		}
		for _, f := range [][]any{{"id", "value"}, {"framework_id", "value"}, {"agent_id", "value"}} {
			s, err := LookupStr(m, f...)
			if err != nil {
				return nil, fmt.Errorf("OFFERS event: offers.offers[%d]: %w", i, err)
			}
			if s == "" {
				return nil, fmt.Errorf("OFFERS event: offers.offers[%d].%s is empty", i, pathString(f))
			}
		}
		if _, err := LookupStr(m, "hostname"); err != nil {
			return nil, fmt.Errorf("OFFERS event: offers.offers[%d]: %w (Offer.hostname is required)", i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// OfferIDs returns the offer IDs ("id"."value") of an OFFERS event.
func OfferIDs(ev map[string]any) ([]string, error) {
	offers, err := Offers(ev)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(offers))
	for _, o := range offers {
		out = append(out, Str(o, "id", "value"))
	}
	return out, nil
}

// OfferScalar sums the SCALAR resources named name in an offer (e.g. "cpus").
func OfferScalar(offer map[string]any, name string) float64 {
	var sum float64
	for _, r := range Objs(offer, "resources") {
		if Str(r, "name") == name && Str(r, "type") == "SCALAR" {
			sum += Num(r, "scalar", "value")
		}
	}
	return sum
}

// OfferRanges returns the [begin, end] ranges of the RANGES resource named
// name in an offer (e.g. "ports").
func OfferRanges(offer map[string]any, name string) [][2]uint64 {
	var out [][2]uint64
	for _, r := range Objs(offer, "resources") {
		if Str(r, "name") != name || Str(r, "type") != "RANGES" {
			continue
		}
		for _, rg := range Objs(r, "ranges", "range") {
			out = append(out, [2]uint64{uint64(Num(rg, "begin")), uint64(Num(rg, "end"))})
		}
	}
	return out
}

// Status is the part of a TaskStatus that tests look at, read from an
// UPDATE event's "update"."status". Raw is the whole status object.
type Status struct {
	TaskID     string // task_id.value
	State      string // state, e.g. "TASK_RUNNING"
	UUID       string // uuid, base64 as sent; "" if the update needs no ACK
	Reason     string // reason, e.g. "REASON_COMMAND_EXECUTOR_FAILED"
	Message    string // message
	Source     string // source: SOURCE_MASTER, SOURCE_AGENT or SOURCE_EXECUTOR
	AgentID    string // agent_id.value
	ExecutorID string // executor_id.value
	Timestamp  float64
	Raw        map[string]any
}

// UpdateStatus reads the TaskStatus of an UPDATE event. It requires
// task_id.value and a TASK_* state, and checks that uuid, if present, is
// valid standard base64 of a non-empty byte string.
func UpdateStatus(ev map[string]any) (Status, error) {
	if err := wantType(ev, "UPDATE"); err != nil {
		return Status{}, err
	}
	st, err := LookupObj(ev, "update", "status")
	if err != nil {
		return Status{}, fmt.Errorf("UPDATE event: %w", err)
	}
	return ReadTaskStatus(st)
}

// ReadTaskStatus reads a TaskStatus object (as found in UPDATE events and
// in operator responses).
func ReadTaskStatus(st map[string]any) (Status, error) {
	s := Status{
		Reason:     Str(st, "reason"),
		Message:    Str(st, "message"),
		Source:     Str(st, "source"),
		AgentID:    Str(st, "agent_id", "value"),
		ExecutorID: Str(st, "executor_id", "value"),
		Raw:        st,
	}
	var err error
	if s.TaskID, err = LookupStr(st, "task_id", "value"); err != nil {
		return s, fmt.Errorf("TaskStatus: %w", err)
	}
	if s.TaskID == "" {
		return s, fmt.Errorf("TaskStatus: task_id.value is empty")
	}
	if s.State, err = LookupStr(st, "state"); err != nil {
		return s, fmt.Errorf("TaskStatus: %w", err)
	}
	if !strings.HasPrefix(s.State, "TASK_") {
		return s, fmt.Errorf("TaskStatus: state %q is not a TaskState enum name", s.State)
	}
	if Has(st, "uuid") {
		if s.UUID, err = LookupStr(st, "uuid"); err != nil {
			return s, fmt.Errorf("TaskStatus: %w", err)
		}
		raw, derr := base64.StdEncoding.DecodeString(s.UUID)
		if derr != nil || len(raw) == 0 {
			return s, fmt.Errorf("TaskStatus: uuid %q is not non-empty standard base64 bytes: %v", s.UUID, derr)
		}
	}
	if Has(st, "timestamp") {
		s.Timestamp = Num(st, "timestamp")
	}
	return s, nil
}

// IsUpdate returns a predicate for NextMatching: an UPDATE event for taskID
// (any task if "") whose state is one of states (any state if none given).
func IsUpdate(taskID string, states ...string) func(map[string]any) bool {
	return func(ev map[string]any) bool {
		if Type(ev) != "UPDATE" {
			return false
		}
		if taskID != "" && Str(ev, "update", "status", "task_id", "value") != taskID {
			return false
		}
		if len(states) == 0 {
			return true
		}
		st := Str(ev, "update", "status", "state")
		for _, s := range states {
			if s == st {
				return true
			}
		}
		return false
	}
}

// RescindedOfferID returns "rescind"."offer_id"."value" of a RESCIND event.
func RescindedOfferID(ev map[string]any) (string, error) {
	if err := wantType(ev, "RESCIND"); err != nil {
		return "", err
	}
	return LookupStr(ev, "rescind", "offer_id", "value")
}

// ErrorMessage returns "error"."message" of an ERROR event (Event.error is
// an Event.Error message; the prose of scheduler-http-api.md shows a
// top-level "message", the proto does not).
func ErrorMessage(ev map[string]any) (string, error) {
	if err := wantType(ev, "ERROR"); err != nil {
		return "", err
	}
	return LookupStr(ev, "error", "message")
}

// TerminalStates are the TaskState names after which a task never changes.
var TerminalStates = []string{
	"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
	"TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR",
}

// IsTerminal reports whether state is a terminal TaskState.
func IsTerminal(state string) bool {
	for _, s := range TerminalStates {
		if s == state {
			return true
		}
	}
	return false
}
