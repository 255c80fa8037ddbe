package check

import (
	"fmt"
	"sort"
	"strings"
)

// Replica is what one voter reported after the quiet period: the last Raft
// index its FSM applied and the FSM's digest at that index (raftfsm's
// Digest, in any stable rendering).
type Replica struct {
	AppliedIndex uint64
	Digest       string
}

// Replicas checks that all voters agree: the same applied index and the
// same FSM digest, the proof that the replicated state did not diverge
// (a non-deterministic Apply, a snapshot restored inexactly). voters lists
// the nodes that must have reported; nil means every node in reports.
func Replicas(reports map[string]Replica, voters []string) Result {
	const name = "replica agreement"
	var violations []string
	if voters == nil {
		for n := range reports {
			voters = append(voters, n)
		}
	}
	voters = append([]string(nil), voters...)
	sort.Strings(voters)
	if len(voters) == 0 {
		return result(name, 0, []string{"no replica reported: agreement cannot be checked"})
	}
	var present []string
	for _, n := range voters {
		if _, ok := reports[n]; !ok {
			violations = append(violations, fmt.Sprintf("voter %s reported nothing", n))
			continue
		}
		present = append(present, n)
	}
	for n := range reports {
		if !contains(voters, n) {
			violations = append(violations, fmt.Sprintf("%s reported but is not a voter", n))
		}
	}
	sort.Strings(violations)
	indexes := map[uint64][]string{}
	for _, n := range present {
		indexes[reports[n].AppliedIndex] = append(indexes[reports[n].AppliedIndex], n)
	}
	if len(indexes) > 1 {
		violations = append(violations, "voters applied different indexes: "+groups(indexes, func(i uint64) string { return fmt.Sprintf("index %d", i) }))
	}
	// Digests are comparable only at the same index; compare within each,
	// lowest index first.
	idxs := make([]uint64, 0, len(indexes))
	for idx := range indexes {
		idxs = append(idxs, idx)
	}
	sort.Slice(idxs, func(i, j int) bool { return idxs[i] < idxs[j] })
	for _, idx := range idxs {
		digests := map[string][]string{}
		for _, n := range indexes[idx] {
			digests[reports[n].Digest] = append(digests[reports[n].Digest], n)
		}
		if len(digests) > 1 {
			violations = append(violations, fmt.Sprintf("FSM diverged: at applied index %d the digests differ: %s", idx, groups(digests, func(d string) string { return "digest " + d })))
		}
	}
	return result(name, len(present), violations)
}

// groups renders "index 7: n1, n2; index 9: n3", in a stable order.
func groups[K comparable](m map[K][]string, label func(K) string) string {
	var parts []string
	for k, nodes := range m {
		sort.Strings(nodes)
		parts = append(parts, label(k)+": "+strings.Join(nodes, ", "))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
