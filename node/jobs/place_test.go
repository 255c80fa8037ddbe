package jobs

import (
	"fmt"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/raftfsm"
)

// zoned are n hosts of 4 cpus and 4 GiB, host-i in zone "z<i % zones>",
// with an offer of all of it from each host listed in offered (all when nil).
func zoned(n, zones int, offered []int) ([]Host, []allocator.Offer) {
	var hosts []Host
	var offers []allocator.Offer
	for i := range n {
		id := fmt.Sprintf("host-%d", i)
		total := allocator.Resources{CPUs: 4, Mem: 4096, Disk: 1000}
		hosts = append(hosts, Host{ID: id, Name: id + ".example", Attributes: map[string]string{"zone": fmt.Sprintf("z%d", i%zones)},
			Total: total, Free: total})
		if offered == nil || containsInt(offered, i) {
			o := offer("o-"+id, id, 4, 4096)
			o.Hostname = id + ".example"
			offers = append(offers, o)
		}
	}
	return hosts, offers
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// nodesOf counts a plan's launched tasks by node.
func nodesOf(p Plan) map[string]int {
	out := map[string]int{}
	for _, t := range launched(p) {
		out[t.Node]++
	}
	return out
}

func TestUniqueHostnamePlacesOnePerNodeAndSaysWhyTheRestWait(t *testing.T) {
	hosts, offers := zoned(3, 1, nil)
	web := service("web", 4, 0.5, 128)
	web.Spec.Constraints = []raftfsm.Constraint{{Field: "hostname", Operator: "UNIQUE"}}
	p := Decide(Input{Now: t0, Jobs: []*raftfsm.Job{web}, Offers: offers, Hosts: hosts, NewTaskID: (&ids{}).New})
	got := nodesOf(p)
	if len(got) != 3 || got["host-0"] != 1 || got["host-1"] != 1 || got["host-2"] != 1 {
		t.Errorf("tasks per node = %v, want one on each of the 3 nodes", got)
	}
	pend := p.Pending["web"]
	if pend.Instances != 1 || pend.Unplaceable {
		t.Fatalf("pending = %+v, want 1 instance waiting (not unplaceable: a 4th node would take it)", pend)
	}
	if pend.Hosts["constraint hostname UNIQUE"] != 3 || !strings.Contains(pend.Message, "constraint hostname UNIQUE on 3 of 3 nodes") {
		t.Errorf("pending = %+v, want every node counted under the UNIQUE constraint", pend)
	}
}

func TestUniqueCountsTasksAlreadyRunning(t *testing.T) {
	hosts, offers := zoned(2, 1, nil)
	web := service("web", 2, 0.5, 128)
	web.Spec.Constraints = []raftfsm.Constraint{{Field: "hostname", Operator: "UNIQUE"}}
	running := task(web, 0, 0, 1, raftfsm.TaskRunning)
	running.Node = "host-1"
	p := Decide(Input{Now: t0, Jobs: []*raftfsm.Job{web}, Tasks: map[string][]*raftfsm.Task{"web": {running}},
		Offers: offers, Hosts: hosts, NewTaskID: (&ids{}).New})
	if got := nodesOf(p); len(got) != 1 || got["host-0"] != 1 {
		t.Errorf("launched on %v, want instance 1 on host-0 (instance 0 runs on host-1)", got)
	}
}

func TestGroupByZoneSpreadsEvenlyAndWaitsForTheEmptyZone(t *testing.T) {
	// Six hosts in three zones; only zones z0 and z1 are offered now.
	hosts, offers := zoned(6, 3, []int{0, 1, 3, 4})
	web := service("web", 3, 0.5, 128)
	web.Spec.Constraints = []raftfsm.Constraint{{Field: "zone", Operator: "GROUP_BY"}}
	p := Decide(Input{Now: t0, Jobs: []*raftfsm.Job{web}, Offers: offers, Hosts: hosts, NewTaskID: (&ids{}).New})
	zones := map[string]int{}
	for _, tk := range launched(p) {
		for _, h := range hosts {
			if h.ID == tk.Node {
				zones[h.Attributes["zone"]]++
			}
		}
	}
	if len(zones) != 2 || zones["z0"] != 1 || zones["z1"] != 1 {
		t.Errorf("launched per zone = %v, want one in z0 and one in z1, none piled onto an offered zone", zones)
	}
	if pend := p.Pending["web"]; pend.Instances != 1 || pend.Unplaceable {
		t.Errorf("pending = %+v, want the third instance waiting for an offer in z2", pend)
	}
}

func TestConstraintNoNodeMeetsIsUnplaceable(t *testing.T) {
	hosts, offers := zoned(2, 2, nil)
	gpu := service("trainer", 1, 1, 256)
	gpu.Spec.Constraints = []raftfsm.Constraint{{Field: "rack", Operator: "IS", Value: "r9"}}
	p := Decide(Input{Now: t0, Jobs: []*raftfsm.Job{gpu}, Offers: offers, Hosts: hosts, NewTaskID: (&ids{}).New})
	pend := p.Pending["trainer"]
	if !pend.Unplaceable || !strings.Contains(pend.Message, "missing attribute rack on 2 of 2 nodes") ||
		!strings.Contains(pend.Message, "constraints") {
		t.Errorf("pending = %+v, want unplaceable, naming the missing attribute and the job's constraints", pend)
	}
	if len(p.Accepts) != 0 || len(p.Unused) != 2 {
		t.Errorf("accepts %d unused %d, want nothing launched and both offers unused", len(p.Accepts), len(p.Unused))
	}
}

func TestSoftConstraintPrefersButNeverRefuses(t *testing.T) {
	hosts, offers := zoned(2, 2, nil)
	web := service("web", 3, 0.5, 128)
	web.Spec.Constraints = []raftfsm.Constraint{{Field: "zone", Operator: "IS", Value: "z1", Soft: true}}
	p := Decide(Input{Now: t0, Jobs: []*raftfsm.Job{web}, Offers: offers, Hosts: hosts, NewTaskID: (&ids{}).New})
	if got := nodesOf(p); got["host-1"] != 3 {
		t.Errorf("launched on %v, want all 3 on host-1 (zone z1) which has room", got)
	}
	web.Spec.Constraints[0].Value = "nowhere"
	p = Decide(Input{Now: t0, Jobs: []*raftfsm.Job{web}, Offers: offers, Hosts: hosts, NewTaskID: (&ids{}).New})
	if n := len(launched(p)); n != 3 {
		t.Errorf("launched %d, want 3: a soft constraint no node meets does not stop placement", n)
	}
}

func TestBinPacksOntoTheFullestNodeThatFits(t *testing.T) {
	hosts, _ := zoned(2, 1, nil)
	offers := []allocator.Offer{offer("o-0", "host-0", 4, 4096), offer("o-1", "host-1", 1.5, 1024)}
	hosts[1].Free = offers[1].Resources
	web := service("web", 1, 1, 512)
	p := Decide(Input{Now: t0, Jobs: []*raftfsm.Job{web}, Offers: offers, Hosts: hosts, NewTaskID: (&ids{}).New})
	if got := nodesOf(p); got["host-1"] != 1 {
		t.Errorf("launched on %v, want host-1, the node with the least left that fits", got)
	}
}

func TestHigherPriorityJobIsPlacedFirst(t *testing.T) {
	offers := []allocator.Offer{offer("o-1", "agent-1", 1, 1024)}
	hosts := []Host{{ID: "agent-1", Total: offers[0].Resources, Free: offers[0].Resources}}
	low := service("low", 1, 1, 256) // older, so first by default
	high := service("high", 1, 1, 256)
	high.CreatedAt = t0
	high.Spec.Priority = 10
	p := Decide(Input{Now: t0, Jobs: []*raftfsm.Job{low, high}, Offers: offers, Hosts: hosts, NewTaskID: (&ids{}).New})
	if got := launched(p); len(got) != 1 || got[0].Job != "high" {
		t.Errorf("launched %v, want only the priority 10 job", got)
	}
	if p.Pending["low"].Instances != 1 {
		t.Errorf("pending = %+v, want the low priority job waiting", p.Pending)
	}
}

func TestWaitingOnlyForAnOfferSaysSo(t *testing.T) {
	// The node has room, but nothing is offered to the framework now.
	hosts, _ := zoned(1, 1, nil)
	web := service("web", 1, 1, 256)
	p := Decide(Input{Now: t0, Jobs: []*raftfsm.Job{web}, Hosts: hosts, NewTaskID: (&ids{}).New})
	pend := p.Pending["web"]
	if pend.Unplaceable || len(pend.Hosts) != 0 || !strings.Contains(pend.Message, "not yet offered") {
		t.Errorf("pending = %+v, want waiting for an offer with no host blamed", pend)
	}
}
