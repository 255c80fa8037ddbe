package placement

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/clusterd/clusterd/allocator"
)

// placer is one Place call's state.
type placer struct {
	cfg     resolved
	input   []Host  // as given
	hostAt  []int32 // host index → index in input: the hosts by ID, one per ID
	free    []amount
	total   []amount
	ports   [][]allocator.PortRange // free port ranges now; nil while no host has any
	tasksOn []int32                 // tasks on each host, every group; nil unless counted
	heldBy  []int32                 // group holding the host exclusively, -1 none, -2 several; nil unless any
	fields  []*field
	fieldIx map[string]int
	groups  []*group
	groupIx map[string]int32
	tasks   []Task
	classOf []*class // per task
	urgent  []int32  // task indices to place, most urgent first
	order   searchOrder
	maxKey  float64 // the largest total of the ordered resource
	reasons reasons
	changed []int32 // the host of each placement, in order
	hs      HostState
	result  Result
}

func newPlacer(cfg resolved, hosts []Host, tasks []Task) *placer {
	p := &placer{cfg: cfg, tasks: tasks, fieldIx: map[string]int{}, groupIx: map[string]int32{}}
	p.reasons.init()
	p.result.Unplaced = map[string]Why{}
	p.addHosts(hosts)
	p.classify()
	p.bindFields()
	p.sortTasks()
	p.order.init(p, cfg.by, cfg.desc)
	for h := range p.total {
		p.maxKey = max(p.maxKey, p.total[h].of(cfg.by))
	}
	return p
}

// classes lists each class once, in the order of the tasks.
func (p *placer) classes() []*class {
	var out []*class
	seen := map[*class]bool{}
	for _, c := range p.classOf {
		if c != nil && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// sortTasks orders the tasks by urgency and drops repeated IDs.
func (p *placer) sortTasks() {
	idx := make([]int32, len(p.tasks))
	for i := range idx {
		idx[i] = int32(i)
	}
	urgency := func(a, b int32) int {
		ta, tb := &p.tasks[a], &p.tasks[b]
		if ta.Priority != tb.Priority {
			return cmp.Compare(tb.Priority, ta.Priority)
		}
		if c := ta.PendingSince.Compare(tb.PendingSince); c != 0 {
			return c
		}
		if c := strings.Compare(ta.ID, tb.ID); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	}
	if !slices.IsSortedFunc(idx, urgency) {
		slices.SortFunc(idx, urgency)
	}
	seen := make(map[string]struct{}, len(idx))
	p.urgent = idx[:0]
	p.result.Assignments = make([]Assignment, 0, len(idx))
	for _, i := range idx {
		if _, dup := seen[p.tasks[i].ID]; dup {
			continue
		}
		seen[p.tasks[i].ID] = struct{}{}
		p.urgent = append(p.urgent, i)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
