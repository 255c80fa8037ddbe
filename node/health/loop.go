package health

import (
	"container/heap"
	"context"
	"fmt"
	"time"
)

// The monitor's loop owns all scheduling state; Start, Stop and the workers
// talk to it through channels.

// task is one monitored task.
type task struct {
	id        string
	target    Target
	startedAt time.Time
	checks    []*check
	// healthy is what was last reported: every check passes.
	healthy bool
	// busy: one of its checks is probing; waiting are its checks due
	// meanwhile, started when it ends (probes of one task never overlap).
	busy    bool
	waiting []*check
	// halted: stopped, or declared unhealthy; its checks do nothing more.
	halted bool
}

// check is one check of a task and its schedule. It is in the heap (keyed
// by next: the time of its next probe, or the deadline of the one running),
// in the ready queue or its task's waiting list (due, waiting for a
// worker or for its task's other probe), or running past its deadline
// (timed out, waiting for the prober to return).
type check struct {
	task      *task
	index     int
	spec      Check
	name      string
	next      time.Time
	seq       uint64 // breaks ties in the heap: first scheduled, first due
	heapIndex int    // -1 when not in the heap
	running   *probeRun
	// passed: the check has passed at least once (its failures count from
	// then on, grace period or not); passing: its last counted result was a
	// pass; failures: its counted failures in a row.
	passed   bool
	passing  bool
	failures int
}

// probeRun is one probe in flight.
type probeRun struct {
	start    time.Time
	cancel   context.CancelFunc
	timedOut bool // its deadline passed: its failure is counted already
}

type job struct {
	ctx    context.Context
	spec   Check
	target Target
	c      *check
	run    *probeRun
}

type result struct {
	c   *check
	run *probeRun
	err error
}

// command is a Start (start set) or a Stop (stop set); done is closed once
// the loop applied it.
type command struct {
	start *task
	stop  string
	done  chan struct{}
}

type loopState struct {
	tasks map[string]*task
	due   dueHeap
	ready []*check
	busy  int // probes out to workers
	seq   uint64
	out   outbox
}

func (m *Monitor) loop() {
	defer m.wg.Done()
	defer close(m.changes)
	s := &loopState{tasks: map[string]*task{}, out: outbox{latest: map[string]Change{}}}
	var timer Timer
	var armed time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		now := m.clock.Now()
		m.fire(s, now)
		m.dispatch(s, now)

		// One timer, for the earliest entry of the heap.
		if len(s.due) == 0 {
			if timer != nil {
				timer.Stop()
				timer = nil
			}
		} else if next := s.due[0].next; timer == nil || !armed.Equal(next) {
			if timer != nil {
				timer.Stop()
			}
			timer, armed = m.clock.NewTimer(next.Sub(now)), next
		}
		var timerC <-chan time.Time
		if timer != nil {
			timerC = timer.C()
		}
		var out chan<- Change
		head, ok := s.out.head()
		if ok {
			out = m.changes
		}

		select {
		case <-m.done:
			return // Close canceled every probe's context
		case c := <-m.cmds:
			m.apply(s, c)
			close(c.done)
		case r := <-m.results:
			m.finished(s, r, m.clock.Now())
		case <-timerC:
			timer = nil
		case out <- head:
			s.out.pop()
		}
	}
}

func (m *Monitor) apply(s *loopState, c command) {
	id := c.stop
	if c.start != nil {
		id = c.start.id
	}
	if old := s.tasks[id]; old != nil {
		m.halt(s, old)
		delete(s.tasks, id)
	}
	s.out.drop(id)
	if t := c.start; t != nil {
		s.tasks[t.id] = t
		for _, ch := range t.checks {
			ch.next = t.startedAt
			m.schedule(s, ch)
		}
	}
}

// halt ends a task's checks: out of the heap and the queues, the running
// probe canceled (its worker still reports back, and is then ignored).
func (m *Monitor) halt(s *loopState, t *task) {
	t.halted = true
	t.waiting = nil
	for _, c := range t.checks {
		if c.heapIndex >= 0 {
			heap.Remove(&s.due, c.heapIndex)
		}
		if c.running != nil {
			c.running.cancel()
		}
	}
}

func (m *Monitor) schedule(s *loopState, c *check) {
	s.seq++
	c.seq = s.seq
	heap.Push(&s.due, c)
}

// fire takes what is due from the heap: checks whose next probe is due go
// to the ready queue; probes past their deadline fail.
func (m *Monitor) fire(s *loopState, now time.Time) {
	for len(s.due) > 0 && !s.due[0].next.After(now) {
		c := heap.Pop(&s.due).(*check)
		if run := c.running; run != nil {
			run.timedOut = true
			run.cancel()
			m.record(s, c, now, fmt.Errorf("timed out: no answer within the timeout of %v", c.spec.Timeout))
			continue
		}
		s.ready = append(s.ready, c)
	}
}

// dispatch starts ready checks while workers are free, one probe per task
// at a time.
func (m *Monitor) dispatch(s *loopState, now time.Time) {
	for s.busy < m.workers && len(s.ready) > 0 {
		c := s.ready[0]
		s.ready[0] = nil
		s.ready = s.ready[1:]
		t := c.task
		if t.halted {
			continue
		}
		if t.busy {
			t.waiting = append(t.waiting, c)
			continue
		}
		ctx, cancel := context.WithCancel(m.ctx)
		run := &probeRun{start: now, cancel: cancel}
		c.running, t.busy = run, true
		c.next = now.Add(c.spec.Timeout)
		m.schedule(s, c)
		s.busy++
		m.jobs <- job{ctx: ctx, spec: c.spec, target: t.target, c: c, run: run}
	}
}

// finished takes a worker's result: it counts unless the probe timed out
// (counted already) or its task was halted, and the check's next probe is
// due Interval after this one started, or now if it ran longer.
func (m *Monitor) finished(s *loopState, r result, now time.Time) {
	s.busy--
	c, t := r.c, r.c.task
	r.run.cancel()
	c.running = nil
	t.busy = false
	if t.halted {
		return
	}
	if !r.run.timedOut {
		heap.Remove(&s.due, c.heapIndex) // its deadline
		m.record(s, c, now, r.err)
		if t.halted {
			return
		}
	}
	c.next = r.run.start.Add(c.spec.Interval)
	if c.next.Before(now) {
		c.next = now
	}
	m.schedule(s, c)
	// The task's checks that fell due meanwhile go first.
	if len(t.waiting) > 0 {
		s.ready = append(t.waiting, s.ready...)
		t.waiting = nil
	}
}

// record applies one probe's verdict (err nil: passed) at now.
func (m *Monitor) record(s *loopState, c *check, now time.Time, err error) {
	t := c.task
	if err == nil {
		c.passed, c.passing, c.failures = true, true, 0
		if !t.healthy && allPassing(t) {
			t.healthy = true
			s.out.push(Change{TaskID: t.id, Healthy: true, Check: c.index, At: now,
				Message: fmt.Sprintf("healthy: %s passed, and all %d checks pass", c.name, len(t.checks))})
		}
		return
	}
	c.passing = false
	if !c.passed && now.Before(t.startedAt.Add(c.spec.GracePeriod)) {
		m.log.Debug("health check failed in its grace period (ignored)", "task", t.id, "check", c.name, "err", err)
		return
	}
	c.failures++
	t.healthy = false
	limit := c.spec.MaxConsecutiveFailures
	m.log.Debug("health check failed", "task", t.id, "check", c.name, "failures", c.failures, "max", limit, "err", err)
	ch := Change{TaskID: t.id, Check: c.index, ConsecutiveFailures: c.failures, At: now}
	switch {
	case limit > 0 && c.failures >= limit:
		m.halt(s, t)
		ch.Unhealthy = true
		ch.Message = fmt.Sprintf("unhealthy: %s failed %d times in a row (max %d): %v", c.name, c.failures, limit, err)
		m.log.Warn("task unhealthy", "task", t.id, "check", c.name, "failures", c.failures, "err", err)
	case limit > 0:
		ch.Message = fmt.Sprintf("%s failed %d of %d times in a row: %v", c.name, c.failures, limit, err)
	case c.failures == 1:
		ch.Message = fmt.Sprintf("%s failed (no maximum of failures: the task stays): %v", c.name, err)
	default:
		return
	}
	s.out.push(ch)
}

func allPassing(t *task) bool {
	for _, c := range t.checks {
		if !c.passing {
			return false
		}
	}
	return true
}

// dueHeap orders checks by next, then by seq.
type dueHeap []*check

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if !h[i].next.Equal(h[j].next) {
		return h[i].next.Before(h[j].next)
	}
	return h[i].seq < h[j].seq
}
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex, h[j].heapIndex = i, j
}
func (h *dueHeap) Push(x any) {
	c := x.(*check)
	c.heapIndex = len(*h)
	*h = append(*h, c)
}
func (h *dueHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.heapIndex = -1
	return c
}

// outbox holds the changes not yet taken, at most one per task: a newer
// change of a task replaces the one waiting, keeping its place in line.
type outbox struct {
	order  []string // task ids, first waiting first; may hold ids since dropped
	latest map[string]Change
}

func (o *outbox) push(c Change) {
	if _, ok := o.latest[c.TaskID]; !ok {
		o.order = append(o.order, c.TaskID)
	}
	o.latest[c.TaskID] = c
}

func (o *outbox) head() (Change, bool) {
	for len(o.order) > 0 {
		if c, ok := o.latest[o.order[0]]; ok {
			return c, true
		}
		o.order = o.order[1:] // dropped
	}
	return Change{}, false
}

func (o *outbox) pop() {
	delete(o.latest, o.order[0])
	o.order = o.order[1:]
}

func (o *outbox) drop(id string) {
	if _, ok := o.latest[id]; !ok {
		return
	}
	delete(o.latest, id)
	// Keep order bounded by the waiting changes when many are dropped.
	if len(o.order) > 2*len(o.latest)+64 {
		kept := o.order[:0]
		seen := make(map[string]bool, len(o.latest))
		for _, id := range o.order {
			if _, ok := o.latest[id]; ok && !seen[id] {
				seen[id] = true
				kept = append(kept, id)
			}
		}
		o.order = kept
	}
}
