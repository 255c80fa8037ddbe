package mesos

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The resource kinds clusterd knows, by their Mesos names.
const (
	ResourceCPUs  = "cpus"  // SCALAR, fractions of a CPU allowed
	ResourceMem   = "mem"   // SCALAR, MiB
	ResourceDisk  = "disk"  // SCALAR, MiB
	ResourceGPUs  = "gpus"  // SCALAR, whole numbers only
	ResourcePorts = "ports" // RANGES within 1..65535
)

// knownResources is named in the error for an unknown resource name.
const knownResources = "cpus, mem, disk, gpus, ports"

// MinPort and MaxPort bound the ports clusterd accepts in a ports range.
const (
	MinPort = 1
	MaxPort = 65535
)

// Amounts is a quantity of clusterd's resource kinds. Scalars are kept at
// Mesos's precision of three decimal digits. Ports is sorted and merged
// (no two ranges overlap or touch) and nil when empty.
type Amounts struct {
	CPUs, Mem, Disk float64
	GPUs            int
	Ports           []Range
}

// IsZero reports whether a holds nothing.
func (a Amounts) IsZero() bool {
	return a.CPUs == 0 && a.Mem == 0 && a.Disk == 0 && a.GPUs == 0 && len(a.Ports) == 0
}

// Add returns a + b (ports are united).
func (a Amounts) Add(b Amounts) Amounts {
	return Amounts{
		CPUs:  roundScalar(a.CPUs + b.CPUs),
		Mem:   roundScalar(a.Mem + b.Mem),
		Disk:  roundScalar(a.Disk + b.Disk),
		GPUs:  a.GPUs + b.GPUs,
		Ports: mergeRanges(append(append([]Range(nil), a.Ports...), b.Ports...)),
	}
}

// Contains reports whether a holds at least b: every scalar at least as
// large and every port of b among a's ports.
func (a Amounts) Contains(b Amounts) bool {
	if a.CPUs < b.CPUs || a.Mem < b.Mem || a.Disk < b.Disk || a.GPUs < b.GPUs {
		return false
	}
	for _, r := range b.Ports {
		i := sort.Search(len(a.Ports), func(i int) bool { return a.Ports[i].End >= r.Begin })
		if i == len(a.Ports) || a.Ports[i].Begin > r.Begin || a.Ports[i].End < r.End {
			return false
		}
	}
	return true
}

// Sub returns a - b. Scalars do not go below zero; ports of b that a does
// not hold are ignored. Use Contains first when b must fit in a.
func (a Amounts) Sub(b Amounts) Amounts {
	sub := func(x, y float64) float64 { return math.Max(0, roundScalar(x-y)) }
	out := Amounts{
		CPUs: sub(a.CPUs, b.CPUs),
		Mem:  sub(a.Mem, b.Mem),
		Disk: sub(a.Disk, b.Disk),
		GPUs: max(0, a.GPUs-b.GPUs),
	}
	for _, r := range a.Ports {
		parts := []Range{r}
		for _, s := range b.Ports {
			var next []Range
			for _, p := range parts {
				if s.End < p.Begin || s.Begin > p.End {
					next = append(next, p)
					continue
				}
				if s.Begin > p.Begin {
					next = append(next, Range{p.Begin, s.Begin - 1})
				}
				if s.End < p.End {
					next = append(next, Range{s.End + 1, p.End})
				}
			}
			parts = next
		}
		out.Ports = append(out.Ports, parts...)
	}
	out.Ports = mergeRanges(out.Ports)
	return out
}

// String writes a as Mesos writes a resource list in its messages:
// "cpus:1.5; mem:1024; ports:[31000-31001, 31005-31005]", zero amounts
// omitted.
func (a Amounts) String() string {
	var parts []string
	add := func(name string, v float64) {
		if v != 0 {
			parts = append(parts, name+":"+strconv.FormatFloat(v, 'f', -1, 64))
		}
	}
	add(ResourceCPUs, a.CPUs)
	add(ResourceMem, a.Mem)
	add(ResourceDisk, a.Disk)
	add(ResourceGPUs, float64(a.GPUs))
	if len(a.Ports) > 0 {
		parts = append(parts, ResourcePorts+":"+RangesString(a.Ports))
	}
	return strings.Join(parts, "; ")
}

// RangesString writes ranges as Mesos does (stringify(Value::Ranges)), the
// form of "ports" in the v0 endpoints: "[31000-32000, 33000-33000]".
func RangesString(rs []Range) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(uint64(r.Begin), 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(uint64(r.End), 10))
	}
	b.WriteByte(']')
	return b.String()
}

// ParseRangesString reads what RangesString writes.
func ParseRangesString(s string) ([]Range, error) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "[") || !strings.HasSuffix(t, "]") {
		return nil, fmt.Errorf("ranges %q: expecting [begin-end, ...]", s)
	}
	t = strings.TrimSpace(t[1 : len(t)-1])
	if t == "" {
		return nil, nil
	}
	var out []Range
	for _, part := range strings.Split(t, ",") {
		b, e, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok {
			return nil, fmt.Errorf("ranges %q: %q is not begin-end", s, part)
		}
		bv, err1 := strconv.ParseUint(strings.TrimSpace(b), 10, 64)
		ev, err2 := strconv.ParseUint(strings.TrimSpace(e), 10, 64)
		if err1 != nil || err2 != nil || bv > ev {
			return nil, fmt.Errorf("ranges %q: %q is not begin-end", s, part)
		}
		out = append(out, Range{Uint64(bv), Uint64(ev)})
	}
	return out, nil
}

// ParsedResources is a Mesos resource list split by reservation.
type ParsedResources struct {
	Unreserved Amounts
	// Static and Dynamic hold the reserved resources by role: the role the
	// resources are reserved for (the reservation of a one-entry
	// `reservations` stack, or the pre-refinement `role` field). Static
	// holds STATIC reservations (pre-refinement: `role` without
	// `reservation`), Dynamic DYNAMIC ones (pre-refinement: `role` with
	// `reservation`). Roles with nothing reserved are absent; a map with
	// no roles is nil.
	Static  map[string]Amounts
	Dynamic map[string]Amounts
	// AllocationRole is the allocation_info.role the resources carry, ""
	// when none does. Resources without allocation_info are allowed next
	// to ones with it (Mesos fills in the offer's allocation info), but
	// two different roles in one list are an error.
	AllocationRole string
}

// Total returns all the resources together, reserved or not.
func (p ParsedResources) Total() Amounts {
	t := p.Unreserved
	for _, a := range p.Static {
		t = t.Add(a)
	}
	for _, a := range p.Dynamic {
		t = t.Add(a)
	}
	return t
}

// Reserved returns what is reserved for role, statically or dynamically.
func (p ParsedResources) Reserved(role string) Amounts {
	return p.Static[role].Add(p.Dynamic[role])
}

// Roles returns the roles with reserved resources, sorted.
func (p ParsedResources) Roles() []string {
	seen := make(map[string]bool, len(p.Static)+len(p.Dynamic))
	var roles []string
	for _, m := range []map[string]Amounts{p.Static, p.Dynamic} {
		for r := range m {
			if !seen[r] {
				seen[r] = true
				roles = append(roles, r)
			}
		}
	}
	sort.Strings(roles)
	return roles
}

// roundScalar keeps Mesos's three decimal digits of scalar precision.
func roundScalar(v float64) float64 { return math.Round(v*1000) / 1000 }

// mergeRanges sorts rs and merges overlapping and adjacent ranges, as
// Mesos coalesces them. It returns nil for no ranges.
func mergeRanges(rs []Range) []Range {
	if len(rs) == 0 {
		return nil
	}
	rs = append([]Range(nil), rs...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Begin < rs[j].Begin })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r.Begin <= last.End || r.Begin == last.End+1 {
			if r.End > last.End {
				last.End = r.End
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// resourceKind is the Mesos value type each known name must have.
var resourceKind = map[string]string{
	ResourceCPUs:  ValueScalar,
	ResourceMem:   ValueScalar,
	ResourceDisk:  ValueScalar,
	ResourceGPUs:  ValueScalar,
	ResourcePorts: ValueRanges,
}

// reservationKind is where one resource sits.
type reservationKind int

const (
	unreserved reservationKind = iota
	staticReservation
	dynamicReservation
)

// parsedResource is one Resource read by parseResource.
type parsedResource struct {
	amounts   Amounts
	kind      reservationKind
	role      string // reservation role; "" when unreserved
	allocRole string // allocation_info.role; "" when none
}

func isSet(s *string) bool { return s != nil }

// parseResource reads one resource; field names it in errors.
func parseResource(field string, r *Resource) (parsedResource, error) {
	var out parsedResource
	fail := func(format string, args ...any) (parsedResource, error) {
		return parsedResource{}, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
	}
	want, known := resourceKind[r.Name]
	switch {
	case r.Name == "":
		return fail("'name' must be set (clusterd knows %s)", knownResources)
	case !known:
		return fail("unknown resource %q (clusterd knows %s)", r.Name, knownResources)
	case r.ProviderID != nil:
		return fail("resource %q comes from resource provider %q: resource providers ('provider_id') are not supported", r.Name, r.ProviderID.Value)
	case present(r.Disk):
		return fail("resource %q has 'disk' info: persistent volumes and disk sources are not supported", r.Name)
	case present(r.Revocable):
		return fail("resource %q is 'revocable': revocable resources are not supported", r.Name)
	case present(r.Shared):
		return fail("resource %q is 'shared': shared resources are not supported", r.Name)
	case r.Type == "":
		return fail("'type' must be set: %q is a %s resource", r.Name, want)
	case r.Type != want:
		return fail("%q must be of type %s, not %s", r.Name, want, r.Type)
	}

	if want == ValueScalar {
		if r.Scalar == nil {
			return fail("'scalar' must be set for the %s resource %q", ValueScalar, r.Name)
		}
		v := r.Scalar.Value
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fail("%q must be a finite, non-negative number, got %v", r.Name, v)
		}
		v = roundScalar(v)
		switch r.Name {
		case ResourceCPUs:
			out.amounts.CPUs = v
		case ResourceMem:
			out.amounts.Mem = v
		case ResourceDisk:
			out.amounts.Disk = v
		case ResourceGPUs:
			if v != math.Trunc(v) || v > math.MaxInt32 {
				return fail("%q must be a whole number, got %v", r.Name, r.Scalar.Value)
			}
			out.amounts.GPUs = int(v)
		}
	} else {
		var rs []Range
		if r.Ranges != nil {
			rs = r.Ranges.Range
		}
		for j, rg := range rs {
			f := fmt.Sprintf("ranges.range[%d]", j)
			if rg.Begin > rg.End {
				return fail("%s: begin %d is greater than end %d", f, rg.Begin, rg.End)
			}
			if rg.Begin < MinPort || rg.End > MaxPort {
				return fail("%s: port range [%d-%d] is outside %d-%d", f, rg.Begin, rg.End, MinPort, MaxPort)
			}
			for k := 0; k < j; k++ {
				if o := rs[k]; rg.Begin <= o.End && o.Begin <= rg.End {
					return fail("%s: ports [%d-%d] overlap ranges.range[%d] [%d-%d]; Mesos rejects duplicate ports", f, rg.Begin, rg.End, k, o.Begin, o.End)
				}
			}
		}
		out.amounts.Ports = mergeRanges(rs)
	}

	if r.AllocationInfo != nil && r.AllocationInfo.Role != nil {
		out.allocRole = *r.AllocationInfo.Role
	}

	if len(r.Reservations) > 0 {
		if isSet(r.Role) || r.Reservation != nil {
			return fail("'role' and 'reservation' (the pre-refinement format) must not be set together with 'reservations'")
		}
		if n := len(r.Reservations); n > 1 {
			return fail("'reservations' has %d entries: hierarchical reservation refinement is not supported (clusterd takes one reservation per resource)", n)
		}
		res := r.Reservations[0]
		switch res.Type {
		case ReservationStatic:
			out.kind = staticReservation
		case ReservationDynamic:
			out.kind = dynamicReservation
		case "":
			return fail("'reservations[0].type' must be set to %s or %s", ReservationStatic, ReservationDynamic)
		default:
			return fail("'reservations[0].type' must be %s or %s, not %s", ReservationStatic, ReservationDynamic, res.Type)
		}
		if res.Role == nil {
			return fail("'reservations[0].role' must be set")
		}
		if *res.Role == "*" {
			return fail("'reservations[0].role': resources cannot be reserved for the default role \"*\"")
		}
		if err := ValidateRole(*res.Role); err != nil {
			return fail("'reservations[0].role': %v", err)
		}
		out.role = *res.Role
		return out, nil
	}

	role := "*"
	if r.Role != nil {
		role = *r.Role
	}
	if role == "*" {
		if r.Reservation != nil {
			return fail("'reservation' is set but 'role' is \"*\": the default role cannot be dynamically reserved")
		}
		return out, nil
	}
	if err := ValidateRole(role); err != nil {
		return fail("'role': %v", err)
	}
	out.role = role
	out.kind = staticReservation
	if r.Reservation != nil {
		if r.Reservation.Type != "" || r.Reservation.Role != nil {
			return fail("'reservation.type' and 'reservation.role' must not be set in the pre-refinement format (the role is 'role'); use 'reservations' to name them")
		}
		out.kind = dynamicReservation
	}
	return out, nil
}

// ParseResources reads a resource list as a framework or an operator
// sends it (task_infos[].resources, RESERVE/UNRESERVE resources,
// RESERVE_RESOURCES). field names the list in error messages, e.g.
// "accept.operations[0].launch.task_infos[1].resources"; errors name the
// index too: "...resources[2]: unknown resource \"foo\" (clusterd knows
// cpus, mem, disk, gpus, ports)".
//
// Both reservation formats are read: `reservations` with one entry
// {type: STATIC|DYNAMIC, role, principal?, labels?}, and the
// pre-refinement `role` ("*" or absent: unreserved) with `reservation`
// (present: DYNAMIC, absent: STATIC). A name may appear several times:
// amounts add up, port ranges are united; a port listed twice is an
// error. Refused: unknown names, a wrong type for the name, scalars that
// are negative, NaN or infinite, gpus that are not whole, port ranges
// with begin > end or outside 1-65535, `disk`, `revocable`, `shared`,
// `provider_id`, reservation stacks of two or more (hierarchical
// refinement), invalid roles, and two allocation roles in one list.
// Scalars are rounded to three decimal digits, as Mesos does.
func ParseResources(field string, rs []Resource) (ParsedResources, error) {
	var p ParsedResources
	type owner struct {
		r   Range
		idx int
	}
	var ports []owner
	allocIdx := -1
	for i := range rs {
		f := fmt.Sprintf("%s[%d]", field, i)
		pr, err := parseResource(f, &rs[i])
		if err != nil {
			return ParsedResources{}, err
		}
		if pr.allocRole != "" {
			if allocIdx >= 0 && pr.allocRole != p.AllocationRole {
				return ParsedResources{}, fmt.Errorf("%s: allocation_info.role %q differs from %q of %s[%d]; the resources of one list must be allocated to one role",
					f, pr.allocRole, p.AllocationRole, field, allocIdx)
			}
			if allocIdx < 0 {
				allocIdx, p.AllocationRole = i, pr.allocRole
			}
		}
		for _, r := range pr.amounts.Ports {
			for _, o := range ports {
				if r.Begin <= o.r.End && o.r.Begin <= r.End {
					lo, hi := max(r.Begin, o.r.Begin), min(r.End, o.r.End)
					return ParsedResources{}, fmt.Errorf("%s: ports [%d-%d] are also in %s[%d]; Mesos rejects duplicate ports", f, lo, hi, field, o.idx)
				}
			}
		}
		for _, r := range pr.amounts.Ports {
			ports = append(ports, owner{r, i})
		}
		if pr.amounts.IsZero() {
			continue
		}
		switch pr.kind {
		case unreserved:
			p.Unreserved = p.Unreserved.Add(pr.amounts)
		case staticReservation:
			if p.Static == nil {
				p.Static = map[string]Amounts{}
			}
			p.Static[pr.role] = p.Static[pr.role].Add(pr.amounts)
		case dynamicReservation:
			if p.Dynamic == nil {
				p.Dynamic = map[string]Amounts{}
			}
			p.Dynamic[pr.role] = p.Dynamic[pr.role].Add(pr.amounts)
		}
	}
	return p, nil
}

// ResourceFormat says how to write a resource list for one reader.
type ResourceFormat struct {
	// AllocationRole, when not empty, is set as allocation_info.role on
	// every resource (offers to MULTI_ROLE frameworks, allocated
	// resources in the operator API).
	AllocationRole string
	// Refinement is true for readers with the RESERVATION_REFINEMENT
	// capability: reservations are written in `reservations` and
	// unreserved resources have neither `role` nor `reservations`.
	// Otherwise the pre-refinement format is written: `role` ("*" for
	// unreserved resources, as Mesos writes them) and, for dynamic
	// reservations, an empty `reservation` object.
	Refinement bool
}

// FormatResources writes p as a Mesos resource list: unreserved first
// (cpus, mem, disk, gpus, ports), then the roles sorted, for each role
// the static reservation before the dynamic one, kinds in the same order.
// Zero amounts are left out. ParseResources reads the result back to p
// (an empty p gives no resources, so its AllocationRole is not kept).
func FormatResources(p ParsedResources, f ResourceFormat) []Resource {
	var out []Resource
	write := func(a Amounts, kind reservationKind, role string) {
		for _, r := range amountsResources(a) {
			if f.AllocationRole != "" {
				ar := f.AllocationRole
				r.AllocationInfo = &AllocationInfo{Role: &ar}
			}
			rl := role
			switch {
			case f.Refinement && kind == staticReservation:
				r.Reservations = []ReservationInfo{{Type: ReservationStatic, Role: &rl}}
			case f.Refinement && kind == dynamicReservation:
				r.Reservations = []ReservationInfo{{Type: ReservationDynamic, Role: &rl}}
			case f.Refinement:
			case kind == unreserved:
				star := "*"
				r.Role = &star
			default:
				r.Role = &rl
				if kind == dynamicReservation {
					r.Reservation = &ReservationInfo{}
				}
			}
			out = append(out, r)
		}
	}
	write(p.Unreserved, unreserved, "")
	for _, role := range p.Roles() {
		write(p.Static[role], staticReservation, role)
		write(p.Dynamic[role], dynamicReservation, role)
	}
	return out
}

// amountsResources writes the non-zero amounts of a without reservation
// or allocation fields, in the order cpus, mem, disk, gpus, ports.
func amountsResources(a Amounts) []Resource {
	var out []Resource
	scalar := func(name string, v float64) {
		if v != 0 {
			out = append(out, Resource{Name: name, Type: ValueScalar, Scalar: &Scalar{Value: v}})
		}
	}
	scalar(ResourceCPUs, a.CPUs)
	scalar(ResourceMem, a.Mem)
	scalar(ResourceDisk, a.Disk)
	scalar(ResourceGPUs, float64(a.GPUs))
	if len(a.Ports) > 0 {
		out = append(out, Resource{Name: ResourcePorts, Type: ValueRanges,
			Ranges: &Ranges{Range: append([]Range(nil), a.Ports...)}})
	}
	return out
}

// roleInvalidChars are the characters Mesos refuses in a role component:
// tab, line feed, vertical tab, form feed, carriage return, space and DEL.
const roleInvalidChars = "\t\n\v\f\r \x7f"

// ValidateRole checks a role name by Mesos's rules (src/common/roles.cpp),
// with Mesos's messages. "*" is the default role and valid. Otherwise the
// name is a path of components separated by "/" (hierarchical roles such
// as "eng/frontend" are allowed): it must not start or end with "/" nor
// contain "//", must not be empty, and no component may be ".", "..",
// "*", start with "-", or contain whitespace (\t \n \v \f \r, space) or
// DEL. Any other character, including non-ASCII, is allowed.
func ValidateRole(role string) error {
	if role == "*" {
		return nil
	}
	if strings.HasPrefix(role, "/") {
		return fmt.Errorf("Role '%s' cannot start with a slash", role)
	}
	if strings.HasSuffix(role, "/") {
		return fmt.Errorf("Role '%s' cannot end with a slash", role)
	}
	if strings.Contains(role, "//") {
		return fmt.Errorf("Role '%s' cannot contain two adjacent slashes", role)
	}
	if role == "" {
		return fmt.Errorf("Role names cannot be the empty string")
	}
	for _, c := range strings.Split(role, "/") {
		switch {
		case c == ".":
			return fmt.Errorf("Role '%s' cannot include '.' as a component", role)
		case c == "..":
			return fmt.Errorf("Role '%s' cannot include '..' as a component", role)
		case c == "*":
			return fmt.Errorf("Role '%s' cannot include '*' as a component", role)
		case strings.HasPrefix(c, "-"):
			return fmt.Errorf("Role component '%s' is invalid because it starts with a dash", c)
		case strings.ContainsAny(c, roleInvalidChars):
			return fmt.Errorf("Role component '%s' is invalid because it contains backspace or whitespace", c)
		}
	}
	return nil
}
