package check

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// StreamLog is what one framework saw of its status updates during a run,
// and what the cluster committed for its tasks.
type StreamLog struct {
	Framework     string
	Subscriptions []Subscription
	// Deliveries are the UPDATE events received, in arrival order.
	// Updates without a uuid (reconciliation answers, updates the master
	// made up for invalid launches) are not acknowledged or retried, and
	// belong to the lifecycle check, not here.
	Deliveries []Delivery
	Acks       []Ack
	// Committed is, per task, the updates the cluster committed for this
	// framework to acknowledge, in commit order (raftfsm's order: each
	// task's Unacked queue plus what was acknowledged), read after the
	// quiet period.
	Committed map[string][]Update
	// End is when recording stopped.
	End time.Time
	// Complete says the framework stayed subscribed and acknowledged
	// everything through the quiet period, so every committed update must
	// have been delivered by End.
	Complete bool
}

// Subscription is one SUBSCRIBE stream: opened at Start (SUBSCRIBED
// received), closed at End (zero: still open at StreamLog.End).
type Subscription struct {
	ID         int
	Start, End time.Time
}

// Update is one committed status update.
type Update struct {
	UUID  string // hex, or any stable rendering of the 16 bytes
	State string
}

// Delivery is one received UPDATE carrying a uuid.
type Delivery struct {
	Stream int // Subscription.ID it arrived on
	At     time.Time
	Task   string
	UUID   string
	State  string
}

// Ack is one ACKNOWLEDGE call.
type Ack struct {
	Task             string
	UUID             string
	Invoke, Complete time.Time
	Outcome          Outcome
}

// StreamConfig tunes Stream.
type StreamConfig struct {
	// RedeliveryWithin is how long a re-subscribed stream must stay open
	// for an unacknowledged update to be owed on it: the leader sends
	// pending updates on SUBSCRIBE and retries them on a timer, so one
	// retry interval plus slack.
	RedeliveryWithin time.Duration
}

// DefaultStreamConfig fits clusterd's status update retry interval with
// room for a loaded 2-core machine.
func DefaultStreamConfig() StreamConfig {
	return StreamConfig{RedeliveryWithin: 15 * time.Second}
}

// Stream checks the promise of at-least-once, ordered status updates to a
// framework, per task:
//   - every delivered update was committed, with the state committed;
//   - updates arrive in commit order: a redelivery of the latest one is
//     fine, an older one after a newer one is not;
//   - no gap: the update after #k is #k+1, and it comes only after #k was
//     acknowledged (the cluster sends a task's next update only then);
//   - an update not acknowledged before a re-subscribe is delivered again
//     after it, when a stream stays open long enough for it;
//   - with Complete, every committed update was delivered by the end.
func Stream(log StreamLog, cfg StreamConfig) Result {
	name := fmt.Sprintf("status stream of framework %q", log.Framework)
	if cfg.RedeliveryWithin <= 0 {
		cfg.RedeliveryWithin = DefaultStreamConfig().RedeliveryWithin
	}
	var violations []string
	deliveries := append([]Delivery(nil), log.Deliveries...)
	sort.SliceStable(deliveries, func(i, j int) bool { return deliveries[i].At.Before(deliveries[j].At) })
	subs := append([]Subscription(nil), log.Subscriptions...)
	sort.SliceStable(subs, func(i, j int) bool { return subs[i].Start.Before(subs[j].Start) })
	for i := range subs {
		if subs[i].End.IsZero() {
			subs[i].End = log.End
		}
	}
	byTask := map[string][]Delivery{}
	for _, d := range deliveries {
		byTask[d.Task] = append(byTask[d.Task], d)
	}
	acks := map[string][]Ack{} // task + uuid
	for _, a := range log.Acks {
		acks[a.Task+"\x00"+a.UUID] = append(acks[a.Task+"\x00"+a.UUID], a)
	}
	tasks := map[string]bool{}
	for id := range byTask {
		tasks[id] = true
	}
	for id := range log.Committed {
		tasks[id] = true
	}
	ids := make([]string, 0, len(tasks))
	for id := range tasks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		committed := log.Committed[id]
		pos := map[string]int{}
		for i, u := range committed {
			pos[u.UUID] = i
		}
		ds := byTask[id]
		highest := -1
		var highestAt Delivery
		delivered := map[string]bool{}
		for _, d := range ds {
			delivered[d.UUID] = true
			p, ok := pos[d.UUID]
			switch {
			case !ok:
				violations = append(violations, fmt.Sprintf("task %q: delivered an update that was never committed: %s", id, d))
				continue
			case committed[p].State != d.State:
				violations = append(violations, fmt.Sprintf("task %q: update %s was committed as %s but delivered as %s", id, d.UUID, committed[p].State, d))
			}
			switch {
			case p < highest:
				violations = append(violations, fmt.Sprintf("task %q: out of order: #%d %s after #%d %s", id, p+1, d, highest+1, highestAt))
			case p > highest+1:
				violations = append(violations, fmt.Sprintf("task %q: gap: #%d %s arrived, but %s never did before it", id, p+1, d, describeUpdates(committed, highest+1, p)))
			case p == highest+1 && p > 0 && !ackedBy(acks[id+"\x00"+committed[p-1].UUID], d.At):
				violations = append(violations, fmt.Sprintf("task %q: #%d %s arrived before #%d (%s %s) was acknowledged", id, p+1, d, p, committed[p-1].State, committed[p-1].UUID))
			}
			if p > highest {
				highest, highestAt = p, d
			}
		}
		if log.Complete {
			var missing []string
			for i, u := range committed {
				if !delivered[u.UUID] {
					missing = append(missing, describeUpdates(committed, i, i+1))
				}
			}
			if len(missing) > 0 {
				violations = append(violations, fmt.Sprintf("task %q: never delivered by the end (%s): %s", id, ts(log.End), listed(missing)))
			}
		}
		violations = append(violations, redelivery(id, ds, subs, acks, cfg)...)
	}
	return result(name, len(ids), violations)
}

// ackedBy reports whether one of acks that did not definitely fail was
// invoked before t.
func ackedBy(acks []Ack, t time.Time) bool {
	for _, a := range acks {
		if a.Outcome != OutcomeFailed && !a.Invoke.After(t) {
			return true
		}
	}
	return false
}

// redelivery checks one task's deliveries against the re-subscriptions:
// the update last delivered before a re-subscribe must arrive again after
// it, unless it was acknowledged, or no stream from then on stayed open
// cfg.RedeliveryWithin. Any acknowledgement that did not definitely fail
// and was sent before the re-subscribe or within cfg.RedeliveryWithin
// after it (a framework may acknowledge from memory on its new stream)
// counts: one in flight, or of unknown outcome, may have taken effect.
func redelivery(id string, ds []Delivery, subs []Subscription, acks map[string][]Ack, cfg StreamConfig) []string {
	var out []string
	reported := map[string]bool{}
	for i, s := range subs {
		if i == 0 {
			continue // the first subscription re-sends nothing
		}
		var last *Delivery
		for j := range ds {
			if ds[j].At.Before(s.Start) {
				last = &ds[j]
			}
		}
		if last == nil || reported[last.UUID] {
			continue
		}
		owed := true
		for _, a := range acks[id+"\x00"+last.UUID] {
			if a.Outcome != OutcomeFailed && a.Invoke.Before(s.Start.Add(cfg.RedeliveryWithin)) {
				owed = false
			}
		}
		if !owed {
			continue
		}
		redelivered := false
		for _, d := range ds {
			if !d.At.Before(s.Start) {
				redelivered = true
				break
			}
		}
		if redelivered {
			continue
		}
		var long *Subscription
		for j := i; j < len(subs); j++ {
			if subs[j].End.Sub(subs[j].Start) >= cfg.RedeliveryWithin {
				long = &subs[j]
				break
			}
		}
		if long == nil {
			continue
		}
		reported[last.UUID] = true
		out = append(out, fmt.Sprintf("task %q: %s was not acknowledged before re-subscribe #%d at %s, and never arrived again (stream #%d stayed open %s–%s)",
			id, *last, s.ID, ts(s.Start), long.ID, ts(long.Start), ts(long.End)))
	}
	return out
}

func (d Delivery) String() string {
	return fmt.Sprintf("%s (uuid %s) on stream #%d at %s", d.State, d.UUID, d.Stream, ts(d.At))
}

// describeUpdates names committed[from:to].
func describeUpdates(committed []Update, from, to int) string {
	var parts []string
	for i := from; i < to; i++ {
		parts = append(parts, fmt.Sprintf("#%d %s (uuid %s)", i+1, committed[i].State, committed[i].UUID))
	}
	return strings.Join(parts, ", ")
}

// ObservationsFromStream turns a framework's deliveries into lifecycle
// observations, so the same run feeds both checks.
//
// A delivered update says its state held at some moment before it
// arrived, not at its arrival: the cluster sends a task's next update
// only once the previous one was acknowledged, so a TASK_STARTING may
// arrive long after the task was listed TASK_RUNNING. Each observation
// therefore spans from the first subscription to its arrival: it is
// ordered after nothing, and a listing invoked after it arrived is
// ordered after it (a task listed RUNNING after its TASK_FINISHED was
// delivered is a resurrection). Order within the stream is Stream's check.
func ObservationsFromStream(log StreamLog) []Observation {
	var from time.Time
	for _, s := range log.Subscriptions {
		if from.IsZero() || s.Start.Before(from) {
			from = s.Start
		}
	}
	out := make([]Observation, 0, len(log.Deliveries))
	for _, d := range log.Deliveries {
		start := from
		if start.IsZero() || d.At.Before(start) {
			start = d.At
		}
		out = append(out, Observation{Task: d.Task, State: d.State, Invoke: start, At: d.At, Source: fmt.Sprintf("framework %s stream #%d", log.Framework, d.Stream)})
	}
	return out
}
