package check

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// RegistryConfig tunes Linearizable.
type RegistryConfig struct {
	// Timeout bounds porcupine's search per job id (the problem is
	// NP-hard; one register's history of a few hundred operations takes
	// milliseconds). A search that runs out of time fails the check: an
	// unproven history is not a linearizable one.
	Timeout time.Duration
	// VisualizationPath, when set, is where porcupine's HTML visualization
	// of the jobs whose histories are not linearizable is written.
	VisualizationPath string
}

// DefaultRegistryConfig is a per-job timeout generous enough for a
// 5-minute run on a slow machine, and no visualization.
func DefaultRegistryConfig() RegistryConfig {
	return RegistryConfig{Timeout: 30 * time.Second}
}

// The register model: one register per job id, absent until written.
type regState struct {
	exists bool
	value  string
}

type regOp int

const (
	regWrite regOp = iota
	regUpdate
	regDelete
	regRead
)

type regInput struct {
	op    regOp
	key   string
	value string
}

type regOutput struct {
	unknown bool
	found   bool
	value   string
}

// regStep is the sequential specification of one job id. A submit
// replaces whatever is there; an update and a delete answered "not found"
// saw the job absent and change nothing; a read sees exactly the last
// value written, or absent after a delete. An operation of unknown outcome
// may take effect (its return is at +infinity, so porcupine may also place
// it after everything else, which is the same as never).
func regStep(state, input, output interface{}) (bool, interface{}) {
	s, in, out := state.(regState), input.(regInput), output.(regOutput)
	switch in.op {
	case regWrite:
		return true, regState{exists: true, value: in.value}
	case regUpdate:
		if out.unknown {
			if !s.exists {
				return true, s // an update of a missing job changes nothing
			}
			return true, regState{exists: true, value: in.value}
		}
		if out.found != s.exists {
			return false, s
		}
		if !out.found {
			return true, s
		}
		return true, regState{exists: true, value: in.value}
	case regDelete:
		if !out.unknown && out.found != s.exists {
			return false, s
		}
		return true, regState{}
	case regRead:
		return out.found == s.exists && (!out.found || out.value == s.value), s
	}
	return false, s
}

func describeReg(input, output interface{}) string {
	in, out := input.(regInput), output.(regOutput)
	var call string
	switch in.op {
	case regWrite:
		call = fmt.Sprintf("submit(%q)", in.value)
	case regUpdate:
		call = fmt.Sprintf("update(%q)", in.value)
	case regDelete:
		call = "delete()"
	case regRead:
		call = "read()"
	}
	switch {
	case out.unknown:
		return call + " → ?"
	case in.op == regRead && out.found:
		return fmt.Sprintf("%s → %q", call, out.value)
	case (in.op == regRead || in.op == regUpdate || in.op == regDelete) && !out.found:
		return call + " → not found"
	}
	return call + " → ok"
}

func describeRegState(state interface{}) string {
	s := state.(regState)
	if !s.exists {
		return "absent"
	}
	return fmt.Sprintf("%q", s.value)
}

// registryModel partitions by job id: a history is linearizable exactly
// when each job id's sub-history is, and each is small.
var registryModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(regInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init:              func() interface{} { return regState{} },
	Step:              regStep,
	DescribeOperation: describeReg,
	DescribeState:     describeRegState,
	DescribeOperationMetadata: func(info interface{}) string {
		if info == nil {
			return ""
		}
		return info.(string)
	},
}

// Linearizable checks that the job registry behaved as one linearizable
// register per job id: every read returns the value of the last write
// linearized before it (no stale reads), and no acknowledged write
// vanishes (no lost updates). It considers the submit, update, delete and
// read operations of history and ignores the rest. Definitely failed
// operations are left out; unknown ones may have taken effect.
//
// When some job's history is not linearizable and cfg.VisualizationPath is
// set, porcupine's visualization of those jobs is written there.
func Linearizable(history []Operation, cfg RegistryConfig) Result {
	const name = "linearizable job registry"
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultRegistryConfig().Timeout
	}
	var violations []string
	byKey := map[string][]porcupine.Operation{}
	source := map[string][]Operation{}
	checked := 0
	for i, o := range history {
		var op regOp
		switch o.Kind {
		case KindSubmit:
			op = regWrite
		case KindUpdate:
			op = regUpdate
		case KindDelete:
			op = regDelete
		case KindRead:
			op = regRead
		default:
			continue
		}
		if why := o.malformed(); why != "" {
			violations = append(violations, fmt.Sprintf("history entry %d is malformed (%s): %s", i, why, o))
			continue
		}
		checked++
		if o.Outcome == OutcomeFailed || (o.Outcome == OutcomeUnknown && op == regRead) {
			continue // did not happen, or told nothing
		}
		ret := o.Complete.UnixNano()
		if o.Outcome == OutcomeUnknown {
			ret = math.MaxInt64
		}
		byKey[o.Key] = append(byKey[o.Key], porcupine.Operation{
			ClientId: o.Client,
			Input:    regInput{op: op, key: o.Key, value: o.Input},
			Call:     o.Invoke.UnixNano(),
			Output:   regOutput{unknown: o.Outcome == OutcomeUnknown, found: o.Found, value: o.Output},
			Return:   ret,
			Metadata: o.String(),
		})
		source[o.Key] = append(source[o.Key], o)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var illegal []porcupine.Operation
	single := registryModel
	single.Partition = nil
	for _, k := range keys {
		res, info := porcupine.CheckOperationsVerbose(single, byKey[k], cfg.Timeout)
		switch res {
		case porcupine.Ok:
			continue
		case porcupine.Unknown:
			violations = append(violations, fmt.Sprintf("job %q: porcupine did not decide within %v whether its %d operations are linearizable; an unproven history does not pass",
				k, cfg.Timeout, len(byKey[k])))
		default:
			violations = append(violations, explainIllegal(k, byKey[k], info))
		}
		illegal = append(illegal, byKey[k]...)
	}
	if len(illegal) > 0 && cfg.VisualizationPath != "" {
		// Re-check only the failing jobs, partitioned, to get the
		// information the visualization draws; the passing ones would
		// only bury them.
		_, info := porcupine.CheckOperationsVerbose(registryModel, illegal, cfg.Timeout)
		if err := porcupine.VisualizePath(registryModel, info, cfg.VisualizationPath); err != nil {
			violations = append(violations, fmt.Sprintf("writing porcupine's visualization to %s: %v", cfg.VisualizationPath, err))
		} else {
			violations = append(violations, "porcupine's visualization of the jobs above: "+cfg.VisualizationPath)
		}
	}
	return result(name, checked, violations)
}

// explainIllegal says why one job's history has no linearization: the
// longest order of its operations that porcupine could make legal, and the
// operations none of which could come next.
func explainIllegal(key string, ops []porcupine.Operation, info porcupine.LinearizationInfo) string {
	var longest []porcupine.Operation
	for _, part := range info.PartialLinearizationsOperations() {
		for _, lin := range part {
			if len(lin) > len(longest) {
				longest = lin
			}
		}
	}
	placed := map[string]int{}
	var prefix []string
	for _, op := range longest {
		placed[op.Metadata.(string)]++
		prefix = append(prefix, op.Metadata.(string))
	}
	var rest []porcupine.Operation
	for _, op := range ops {
		m := op.Metadata.(string)
		if placed[m] > 0 {
			placed[m]--
			continue
		}
		rest = append(rest, op)
	}
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].Call < rest[j].Call })
	var next []string
	for _, op := range rest {
		next = append(next, op.Metadata.(string))
	}
	if len(prefix) == 0 {
		prefix = []string{"(none: no operation can come first)"}
	}
	return fmt.Sprintf("job %q: its %d operations have no linearization (a stale read or a lost update).\n"+
		"longest legal order: %s\nnone of these can come next: %s",
		key, len(ops), listedTail(prefix), listed(next))
}

// listedTail keeps the end of a long order: the operations just before the
// point where it breaks are the interesting ones.
func listedTail(items []string) string {
	if len(items) <= maxListed {
		return listed(items)
	}
	return fmt.Sprintf("... %d earlier; ", len(items)-maxListed) + listed(items[len(items)-maxListed:])
}
