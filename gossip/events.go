package gossip

import "sync"

// State is a member's liveness as this node sees it.
type State int

const (
	// Alive: it answers probes.
	Alive State = iota
	// Suspect: a probe failed and it has not refuted yet. memberlist
	// v0.6.0 does not expose suspicion, so members are reported Alive
	// until they are declared dead.
	Suspect
	// Dead: it stopped answering and did not refute the suspicion in time.
	Dead
	// Left: it announced that it leaves (Membership.Leave).
	Left
)

func (s State) String() string {
	switch s {
	case Alive:
		return "alive"
	case Suspect:
		return "suspect"
	case Dead:
		return "dead"
	case Left:
		return "left"
	}
	return "unknown"
}

// EventType says what happened to a member.
type EventType int

const (
	// MemberJoin: a member appeared (or came back after failing or leaving).
	MemberJoin EventType = iota
	// MemberUpdate: a member changed its metadata.
	MemberUpdate
	// MemberFailed: a member was declared dead by the failure detector.
	MemberFailed
	// MemberLeft: a member left gracefully.
	MemberLeft
)

func (t EventType) String() string {
	switch t {
	case MemberJoin:
		return "join"
	case MemberUpdate:
		return "update"
	case MemberFailed:
		return "failed"
	case MemberLeft:
		return "left"
	}
	return "unknown"
}

// Event is a change of membership, in the order this node learned of it.
type Event struct {
	Type   EventType
	Member Member
}

// eventQueue hands events from memberlist's delegates, which must never
// block, to a consumer that may be slow: an unbounded slice drained into a
// channel by one goroutine. Nothing is ever dropped.
type eventQueue struct {
	mu     sync.Mutex
	items  []Event
	closed bool
	wake   chan struct{}
	done   chan struct{}
	out    chan Event
	exited chan struct{}
}

func newEventQueue() *eventQueue {
	q := &eventQueue{
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		out:    make(chan Event, 64),
		exited: make(chan struct{}),
	}
	go q.run()
	return q
}

// push never blocks.
func (q *eventQueue) push(e Event) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, e)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) run() {
	defer close(q.exited)
	defer close(q.out)
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.mu.Unlock()
			select {
			case <-q.wake:
				continue
			case <-q.done:
				return
			}
		}
		e := q.items[0]
		q.items[0] = Event{}
		q.items = q.items[1:]
		q.mu.Unlock()
		select {
		case q.out <- e:
		case <-q.done:
			return
		}
	}
}

// close stops the queue; events not yet received are discarded and the
// output channel is closed.
func (q *eventQueue) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	q.items = nil
	q.mu.Unlock()
	close(q.done)
	<-q.exited
}
