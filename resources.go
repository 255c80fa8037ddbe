package main

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/clusterd/clusterd/node"
	"github.com/clusterd/clusterd/web/api"
)

// parseResources reads the --resources flag: comma-separated key=value pairs
// ("cpus=4,mem=8192,disk=20000,gpus=0,ports=[31000-32000,33000]"), or the
// Mesos form with ':' and ';' ("cpus:4;mem:8192;ports:[31000-32000]"). Keys
// not given keep the detected value, which ResourceFields records.
//
// A key with a role in parentheses, "cpus(analytics):4", is a static
// reservation: that much of the node's total (detected or given) is offered
// only to frameworks of the role. Unlike Mesos, where reserved amounts add
// to the total, a reservation is carved out of it, so a node never claims
// more than it has.
//
// Unknown or repeated keys, negative or non-numeric values, bad port ranges
// and bad role names are errors that name the key.
func parseResources(s string) (api.Resources, node.ResourceFields, map[string]api.Resources, error) {
	var res api.Resources
	var set node.ResourceFields
	var reserved map[string]api.Resources
	items, err := splitTopLevel(s)
	if err != nil {
		return res, set, nil, err
	}
	seen := map[string]bool{}
	for _, item := range items {
		i := strings.IndexAny(item, "=:")
		if i < 0 {
			return res, set, nil, fmt.Errorf("resource %q: expected key=value, e.g. cpus=4", item)
		}
		key := strings.ToLower(strings.TrimSpace(item[:i]))
		val := strings.TrimSpace(item[i+1:])
		if seen[key] {
			return res, set, nil, fmt.Errorf("resource %q: given twice", key)
		}
		seen[key] = true
		name, role, err := splitReservedKey(key)
		if err != nil {
			return res, set, nil, err
		}
		target := &res
		var r api.Resources
		if role != "" {
			target = &r
		}
		switch name {
		case "cpus":
			target.CPUs, err = parseAmount(key, val)
			set.CPUs = set.CPUs || role == ""
		case "mem":
			target.Mem, err = parseAmount(key, val)
			set.Mem = set.Mem || role == ""
		case "disk":
			target.Disk, err = parseAmount(key, val)
			set.Disk = set.Disk || role == ""
		case "gpus":
			target.GPUs, err = strconv.Atoi(val)
			if err != nil || target.GPUs < 0 {
				err = fmt.Errorf("resource %s: %q is not a whole number of GPUs (0 or more)", key, val)
			}
			set.GPUs = set.GPUs || role == ""
		case "ports":
			target.Ports, err = parsePortRanges(val)
			set.Ports = set.Ports || role == ""
		default:
			return res, set, nil, fmt.Errorf("resource %q: unknown (known: cpus, mem, disk, gpus, ports, each optionally with a role: cpus(analytics))", key)
		}
		if err != nil {
			return res, set, nil, err
		}
		if role != "" {
			if reserved == nil {
				reserved = map[string]api.Resources{}
			}
			sum := reserved[role]
			sum.CPUs, sum.Mem, sum.Disk, sum.GPUs = sum.CPUs+r.CPUs, sum.Mem+r.Mem, sum.Disk+r.Disk, sum.GPUs+r.GPUs
			sum.Ports = append(sum.Ports, r.Ports...)
			reserved[role] = sum
		}
	}
	return res, set, reserved, nil
}

// splitReservedKey splits "cpus(analytics)" into its name and role ("" when
// the key has none).
func splitReservedKey(key string) (name, role string, err error) {
	open := strings.IndexByte(key, '(')
	if open < 0 {
		return key, "", nil
	}
	if !strings.HasSuffix(key, ")") {
		return "", "", fmt.Errorf("resource %q: a role goes in parentheses after the name, e.g. cpus(analytics)", key)
	}
	name, role = strings.TrimSpace(key[:open]), strings.TrimSpace(key[open+1:len(key)-1])
	switch {
	case role == "*":
		return name, "", nil // "*" is the unreserved role: cpus(*) is cpus
	case !rolePattern.MatchString(role):
		return "", "", fmt.Errorf("resource %q: %q is not a role name (letters, digits, '.', '_', '-', '/')", key, role)
	}
	return name, role, nil
}

var rolePattern = regexp.MustCompile(`^[a-z0-9_][a-z0-9._/-]{0,127}$`)

// splitTopLevel splits on ',' and ';' outside square brackets.
func splitTopLevel(s string) ([]string, error) {
	var items []string
	depth, start := 0, 0
	flush := func(end int) {
		if item := strings.TrimSpace(s[start:end]); item != "" {
			items = append(items, item)
		}
		start = end + 1
	}
	for i, r := range s {
		switch r {
		case '[':
			depth++
			if depth > 1 {
				return nil, fmt.Errorf("resources %q: nested '['", s)
			}
		case ']':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("resources %q: ']' without '['", s)
			}
		case ',', ';':
			if depth == 0 {
				flush(i)
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("resources %q: missing ']'", s)
	}
	flush(len(s))
	return items, nil
}

func parseAmount(key, val string) (float64, error) {
	f, err := strconv.ParseFloat(val, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("resource %s: %q is not a number", key, val)
	}
	if f < 0 {
		return 0, fmt.Errorf("resource %s: %v must not be negative", key, f)
	}
	return f, nil
}

// parsePortRanges reads "[31000-32000,33000]" (brackets optional); ranges
// must be within 1-65535 and not overlap. The result is sorted.
func parsePortRanges(val string) ([]api.PortRange, error) {
	inner := strings.TrimSpace(val)
	if strings.HasPrefix(inner, "[") {
		if !strings.HasSuffix(inner, "]") {
			return nil, fmt.Errorf("resource ports: %q is missing the closing ']'", val)
		}
		inner = inner[1 : len(inner)-1]
	}
	ranges := []api.PortRange{}
	for _, part := range strings.Split(inner, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		b, err1 := parsePort(lo)
		e, err2 := parsePort(hi)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("resource ports: %q is not a port or range of ports between 1 and 65535", part)
		}
		if b > e {
			return nil, fmt.Errorf("resource ports: range %q ends before it begins", part)
		}
		ranges = append(ranges, api.PortRange{Begin: b, End: e})
	}
	sort.Slice(ranges, func(i, j int) bool { return ranges[i].Begin < ranges[j].Begin })
	for i := 1; i < len(ranges); i++ {
		if ranges[i].Begin <= ranges[i-1].End {
			return nil, fmt.Errorf("resource ports: ranges %s and %s overlap", ranges[i-1], ranges[i])
		}
	}
	return ranges, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(n), nil
}
