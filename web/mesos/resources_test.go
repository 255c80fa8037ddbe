package mesos

import (
	"encoding/json"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// The same resources in both formats, written by hand after the
// 'Resource Format' table of mesos.proto: unreserved cpus and mem (mem
// split in two entries), unreserved ports in two adjacent ranges, a
// static reservation for "eng", a dynamic one for "eng" and one for the
// hierarchical role "ops/web"; everything allocated to "eng".
const preRefinementJSON = `[
  {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}, "role": "*", "allocation_info": {"role": "eng"}},
  {"name": "mem", "type": "SCALAR", "scalar": {"value": 512}, "allocation_info": {"role": "eng"}},
  {"name": "mem", "type": "SCALAR", "scalar": {"value": 512.5}, "role": "*", "allocation_info": {"role": "eng"}},
  {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31006, "end": 31010}, {"begin": "31000", "end": "31005"}]}, "role": "*"},
  {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "role": "eng", "allocation_info": {"role": "eng"}},
  {"name": "mem", "type": "SCALAR", "scalar": {"value": 256}, "role": "eng",
   "reservation": {"principal": "ops", "labels": {"labels": [{"key": "k", "value": "v"}]}}, "allocation_info": {"role": "eng"}},
  {"name": "disk", "type": "SCALAR", "scalar": {"value": 100}, "role": "eng", "reservation": {}},
  {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 32000, "end": 32001}]}, "role": "ops/web", "reservation": {"principal": "p"}},
  {"name": "gpus", "type": "SCALAR", "scalar": {"value": 0}, "role": "idle"}
]`

const refinementJSON = `[
  {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}, "allocation_info": {"role": "eng"}},
  {"name": "mem", "type": "SCALAR", "scalar": {"value": 1024.5}, "allocation_info": {"role": "eng"}},
  {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31010}]}, "reservations": []},
  {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "reservations": [{"type": "STATIC", "role": "eng"}], "allocation_info": {"role": "eng"}},
  {"name": "mem", "type": "SCALAR", "scalar": {"value": 256},
   "reservations": [{"type": "DYNAMIC", "role": "eng", "principal": "ops", "labels": {"labels": [{"key": "k", "value": "v"}]}}]},
  {"name": "disk", "type": "SCALAR", "scalar": {"value": 100}, "reservations": [{"type": "DYNAMIC", "role": "eng"}]},
  {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 32000, "end": 32001}]},
   "reservations": [{"type": "DYNAMIC", "role": "ops/web", "principal": "p"}], "allocation_info": {"role": "eng"}}
]`

func decodeResources(t *testing.T, s string) []Resource {
	t.Helper()
	var rs []Resource
	if err := json.Unmarshal([]byte(s), &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestParseBothReservationFormats(t *testing.T) {
	want := ParsedResources{
		Unreserved: Amounts{CPUs: 2, Mem: 1024.5, Ports: []Range{{31000, 31010}}},
		Static:     map[string]Amounts{"eng": {CPUs: 1}},
		Dynamic: map[string]Amounts{
			"eng":     {Mem: 256, Disk: 100},
			"ops/web": {Ports: []Range{{32000, 32001}}},
		},
		AllocationRole: "eng",
	}
	for name, doc := range map[string]string{"pre-refinement": preRefinementJSON, "refinement": refinementJSON} {
		p, err := ParseResources("resources", decodeResources(t, doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, p, want)
		}
	}
	p, _ := ParseResources("r", decodeResources(t, refinementJSON))
	if got, w := p.Total(), (Amounts{CPUs: 3, Mem: 1280.5, Disk: 100, Ports: []Range{{31000, 31010}, {32000, 32001}}}); !reflect.DeepEqual(got, w) {
		t.Errorf("Total %+v, want %+v", got, w)
	}
	if got := p.Reserved("eng"); !reflect.DeepEqual(got, Amounts{CPUs: 1, Mem: 256, Disk: 100}) {
		t.Errorf("Reserved(eng) %+v", got)
	}
	if got := p.Reserved("nobody"); !got.IsZero() || got.Ports != nil {
		t.Errorf("Reserved(nobody) %+v", got)
	}
	if got := p.Roles(); !reflect.DeepEqual(got, []string{"eng", "ops/web"}) {
		t.Errorf("Roles %v", got)
	}
}

func TestParseResourcesEmptyAndPrecision(t *testing.T) {
	p, err := ParseResources("r", nil)
	if err != nil || !reflect.DeepEqual(p, ParsedResources{}) {
		t.Fatalf("empty list: %+v %v", p, err)
	}
	// Mesos keeps three decimal digits: 0.1 + 0.2 is 0.3, 0.0004 is 0.
	p, err = ParseResources("r", decodeResources(t, `[
	  {"name":"cpus","type":"SCALAR","scalar":{"value":0.1}},
	  {"name":"cpus","type":"SCALAR","scalar":{"value":0.2}},
	  {"name":"mem","type":"SCALAR","scalar":{"value":0.0004}},
	  {"name":"gpus","type":"SCALAR","scalar":{"value":2}},
	  {"name":"disk","type":"SCALAR","scalar":{"value":1},"disk":null}]`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Unreserved, Amounts{CPUs: 0.3, Disk: 1, GPUs: 2}) || p.Static != nil || p.Dynamic != nil || p.AllocationRole != "" {
		t.Errorf("got %+v", p)
	}
}

func TestParseResourcesRejections(t *testing.T) {
	const field = "accept.operations[0].launch.task_infos[1].resources"
	cpus := `{"name":"cpus","type":"SCALAR","scalar":{"value":1}}`
	ports := func(r string) string { return `{"name":"ports","type":"RANGES","ranges":{"range":[` + r + `]}}` }
	cases := []struct {
		name, doc, want string
	}{
		{"unknown name", `[` + cpus + `,` + cpus + `,{"name":"foo","type":"SCALAR","scalar":{"value":1}}]`,
			field + `[2]: unknown resource "foo" (clusterd knows cpus, mem, disk, gpus, ports)`},
		{"no name", `[{"type":"SCALAR","scalar":{"value":1}}]`, field + `[0]: 'name' must be set (clusterd knows cpus, mem, disk, gpus, ports)`},
		{"cpus as ranges", `[{"name":"cpus","type":"RANGES","ranges":{"range":[{"begin":1,"end":2}]}}]`, field + `[0]: "cpus" must be of type SCALAR, not RANGES`},
		{"ports as scalar", `[{"name":"ports","type":"SCALAR","scalar":{"value":3}}]`, field + `[0]: "ports" must be of type RANGES, not SCALAR`},
		{"mem as set", `[{"name":"mem","type":"SET","set":{"item":["a"]}}]`, field + `[0]: "mem" must be of type SCALAR, not SET`},
		{"no type", `[{"name":"mem","scalar":{"value":1}}]`, field + `[0]: 'type' must be set: "mem" is a SCALAR resource`},
		{"no scalar", `[{"name":"mem","type":"SCALAR"}]`, field + `[0]: 'scalar' must be set for the SCALAR resource "mem"`},
		{"negative", `[{"name":"disk","type":"SCALAR","scalar":{"value":-1}}]`, field + `[0]: "disk" must be a finite, non-negative number, got -1`},
		{"fractional gpus", `[{"name":"gpus","type":"SCALAR","scalar":{"value":0.5}}]`, field + `[0]: "gpus" must be a whole number, got 0.5`},
		{"begin > end", `[` + ports(`{"begin":31000,"end":31001},{"begin":5,"end":3}`) + `]`,
			field + `[0]: ranges.range[1]: begin 5 is greater than end 3`},
		{"port 0", `[` + ports(`{"begin":0,"end":10}`) + `]`, field + `[0]: ranges.range[0]: port range [0-10] is outside 1-65535`},
		{"port 65536", `[` + ports(`{"begin":65000,"end":65536}`) + `]`, field + `[0]: ranges.range[0]: port range [65000-65536] is outside 1-65535`},
		{"overlap in one resource", `[` + ports(`{"begin":10,"end":20},{"begin":20,"end":30}`) + `]`,
			field + `[0]: ranges.range[1]: ports [20-30] overlap ranges.range[0] [10-20]; Mesos rejects duplicate ports`},
		{"overlap across resources", `[` + ports(`{"begin":100,"end":200}`) + `,` + cpus + `,` +
			`{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":150,"end":300}]},"role":"eng"}]`,
			field + `[2]: ports [150-200] are also in ` + field + `[0]; Mesos rejects duplicate ports`},
		{"disk info", `[{"name":"disk","type":"SCALAR","scalar":{"value":10},"role":"eng","reservation":{},
			"disk":{"persistence":{"id":"v1"},"volume":{"mode":"RW","container_path":"data"}}}]`,
			field + `[0]: resource "disk" has 'disk' info: persistent volumes and disk sources are not supported`},
		{"revocable", `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"revocable":{}}]`,
			field + `[0]: resource "cpus" is 'revocable': revocable resources are not supported`},
		{"shared", `[{"name":"disk","type":"SCALAR","scalar":{"value":1},"shared":{}}]`,
			field + `[0]: resource "disk" is 'shared': shared resources are not supported`},
		{"provider", `[{"name":"disk","type":"SCALAR","scalar":{"value":1},"provider_id":{"value":"rp1"}}]`,
			field + `[0]: resource "disk" comes from resource provider "rp1": resource providers ('provider_id') are not supported`},
		{"refinement stack", `[` + cpus + `,{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[
			{"type":"STATIC","role":"eng"},{"type":"DYNAMIC","role":"eng/web"}]}]`,
			field + `[1]: 'reservations' has 2 entries: hierarchical reservation refinement is not supported (clusterd takes one reservation per resource)`},
		{"two allocation roles", `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"allocation_info":{"role":"a"}},` + cpus + `,
			{"name":"mem","type":"SCALAR","scalar":{"value":1},"allocation_info":{"role":"b"}}]`,
			field + `[2]: allocation_info.role "b" differs from "a" of ` + field + `[0]; the resources of one list must be allocated to one role`},
		{"both formats", `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"eng","reservations":[{"type":"STATIC","role":"eng"}]}]`,
			field + `[0]: 'role' and 'reservation' (the pre-refinement format) must not be set together with 'reservations'`},
		{"reservation without type", `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"role":"eng"}]}]`,
			field + `[0]: 'reservations[0].type' must be set to STATIC or DYNAMIC`},
		{"reservation without role", `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC"}]}]`,
			field + `[0]: 'reservations[0].role' must be set`},
		{"reservation for *", `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"*"}]}]`,
			field + `[0]: 'reservations[0].role': resources cannot be reserved for the default role "*"`},
		{"dynamic *", `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"*","reservation":{"principal":"p"}}]`,
			field + `[0]: 'reservation' is set but 'role' is "*": the default role cannot be dynamically reserved`},
		{"pre-refinement reservation.role", `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"eng","reservation":{"role":"eng"}}]`,
			field + `[0]: 'reservation.type' and 'reservation.role' must not be set in the pre-refinement format (the role is 'role'); use 'reservations' to name them`},
		{"bad role", `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"a//b"}]`,
			field + `[0]: 'role': Role 'a//b' cannot contain two adjacent slashes`},
		{"bad reservation role", `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"STATIC","role":"a b"}]}]`,
			field + `[0]: 'reservations[0].role': Role component 'a b' is invalid because it contains backspace or whitespace`},
	}
	for _, tc := range cases {
		_, err := ParseResources(field, decodeResources(t, tc.doc))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.name, err, tc.want)
		}
	}
	// Values JSON cannot carry.
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		_, err := ParseResources(field, []Resource{{Name: "cpus", Type: ValueScalar, Scalar: &Scalar{Value: v}}})
		if err == nil || !strings.HasPrefix(err.Error(), field+`[0]: "cpus" must be a finite, non-negative number`) {
			t.Errorf("%v: %v", v, err)
		}
	}
}

// randomParsed builds a ParsedResources with canonical amounts (three
// decimals, merged ports, no empty entries) and no port overlaps.
func randomParsed(r *rand.Rand) ParsedResources {
	nextPort := 1000
	amounts := func() Amounts {
		a := Amounts{}
		if r.Intn(2) == 0 {
			a.CPUs = float64(r.Intn(8000)+1) / 1000
		}
		if r.Intn(2) == 0 {
			a.Mem = float64(r.Intn(1 << 16))
		}
		if r.Intn(3) == 0 {
			a.Disk = float64(r.Intn(1<<20)) / 8
		}
		if r.Intn(3) == 0 {
			a.GPUs = r.Intn(4)
		}
		for n := r.Intn(3); n > 0; n-- {
			b := nextPort + r.Intn(50)
			e := b + r.Intn(20)
			a.Ports = append(a.Ports, Range{Uint64(b), Uint64(e)})
			nextPort = e + 2 // keep a gap so ranges stay separate after merging
		}
		if a.IsZero() {
			a.CPUs = 0.5
		}
		return a
	}
	p := ParsedResources{}
	if r.Intn(4) > 0 {
		p.Unreserved = amounts()
	}
	roles := []string{"eng", "ops/web", "a", "zz"}
	for _, role := range roles {
		if r.Intn(3) == 0 {
			if p.Static == nil {
				p.Static = map[string]Amounts{}
			}
			p.Static[role] = amounts()
		}
		if r.Intn(3) == 0 {
			if p.Dynamic == nil {
				p.Dynamic = map[string]Amounts{}
			}
			p.Dynamic[role] = amounts()
		}
	}
	// An empty list carries no allocation role.
	if r.Intn(2) == 0 && !p.Total().IsZero() {
		p.AllocationRole = roles[r.Intn(len(roles))]
	}
	return p
}

func TestFormatResourcesRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 500; i++ {
		p := randomParsed(r)
		for _, refinement := range []bool{false, true} {
			f := ResourceFormat{AllocationRole: p.AllocationRole, Refinement: refinement}
			// Through the wire: marshal, unmarshal, parse.
			b, err := json.Marshal(FormatResources(p, f))
			if err != nil {
				t.Fatal(err)
			}
			var rs []Resource
			if err := json.Unmarshal(b, &rs); err != nil {
				t.Fatal(err)
			}
			got, err := ParseResources("r", rs)
			if err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if !reflect.DeepEqual(got, p) {
				t.Fatalf("refinement=%v\n got %+v\nwant %+v\njson %s", refinement, got, p, b)
			}
		}
	}
}

func TestFormatResourcesJSON(t *testing.T) {
	p := ParsedResources{
		Unreserved: Amounts{CPUs: 1.5, Mem: 0, Disk: 10, GPUs: 1, Ports: []Range{{31000, 31001}}},
		Static:     map[string]Amounts{"b": {Mem: 64}},
		Dynamic:    map[string]Amounts{"b": {CPUs: 1}, "a": {Disk: 5}},
	}
	names := func(m []any) []string {
		var out []string
		for _, r := range m {
			out = append(out, r.(map[string]any)["name"].(string))
		}
		return out
	}
	wrap := func(rs []Resource) []any {
		m := reencode(t, map[string]any{"r": rs})
		return m["r"].([]any)
	}

	pre := wrap(FormatResources(p, ResourceFormat{}))
	if got := names(pre); !reflect.DeepEqual(got, []string{"cpus", "disk", "gpus", "ports", "disk", "mem", "cpus"}) {
		t.Fatalf("order %v", got)
	}
	eq(t, at(t, pre, 0, "role"), "*")
	eq(t, at(t, pre, 0, "type"), "SCALAR")
	eq(t, at(t, pre, 0, "scalar", "value"), "1.5")
	eq(t, at(t, pre, 3, "ranges", "range", 0, "begin"), "31000")
	eq(t, at(t, pre, 4, "role"), "a") // dynamic a/disk
	eq(t, at(t, pre, 4, "reservation"), map[string]any{})
	eq(t, at(t, pre, 5, "role"), "b") // static b/mem: no reservation
	for i, r := range pre {
		m := r.(map[string]any)
		if _, ok := m["reservations"]; ok {
			t.Errorf("pre-refinement [%d] has reservations", i)
		}
		if _, ok := m["allocation_info"]; ok {
			t.Errorf("[%d] has allocation_info", i)
		}
		if _, ok := m["reservation"]; ok != (i == 4 || i == 6) {
			t.Errorf("[%d] reservation present=%v", i, ok)
		}
	}

	ref := wrap(FormatResources(p, ResourceFormat{Refinement: true, AllocationRole: "b"}))
	for i, r := range ref {
		m := r.(map[string]any)
		if _, ok := m["role"]; ok {
			t.Errorf("refinement [%d] has role", i)
		}
		eq(t, at(t, m, "allocation_info", "role"), "b")
		if _, ok := m["reservations"]; ok != (i >= 4) {
			t.Errorf("[%d] reservations present=%v", i, ok)
		}
	}
	eq(t, at(t, ref, 4, "reservations", 0, "type"), "DYNAMIC")
	eq(t, at(t, ref, 4, "reservations", 0, "role"), "a")
	eq(t, at(t, ref, 5, "reservations", 0, "type"), "STATIC")
	eq(t, at(t, ref, 6, "reservations", 0, "role"), "b")
	if len(FormatResources(ParsedResources{}, ResourceFormat{})) != 0 {
		t.Error("nothing should format to no resources")
	}
}

func TestAmountsArithmetic(t *testing.T) {
	a := Amounts{CPUs: 2, Mem: 1024, Disk: 10, GPUs: 1, Ports: []Range{{31000, 31010}, {31020, 31030}}}
	b := Amounts{CPUs: 0.5, Mem: 1024, Ports: []Range{{31005, 31006}, {31020, 31020}}}
	if !a.Contains(b) || b.Contains(a) {
		t.Error("Contains")
	}
	if a.Contains(Amounts{Ports: []Range{{31010, 31011}}}) || a.Contains(Amounts{Ports: []Range{{31015, 31015}}}) || a.Contains(Amounts{GPUs: 2}) {
		t.Error("Contains outside")
	}
	d := a.Sub(b)
	want := Amounts{CPUs: 1.5, Disk: 10, GPUs: 1, Ports: []Range{{31000, 31004}, {31007, 31010}, {31021, 31030}}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Sub %+v", d)
	}
	if s := d.Add(b); !reflect.DeepEqual(s, a) {
		t.Errorf("Add back %+v", s)
	}
	if got := (Amounts{Ports: []Range{{1, 2}}}).Add(Amounts{Ports: []Range{{3, 4}}}); !reflect.DeepEqual(got.Ports, []Range{{1, 4}}) {
		t.Errorf("adjacent ranges not merged: %v", got.Ports)
	}
	if got := want.String(); got != "cpus:1.5; disk:10; gpus:1; ports:[31000-31004, 31007-31010, 31021-31030]" {
		t.Errorf("String %q", got)
	}
	if !(Amounts{}).IsZero() || (Amounts{Ports: []Range{{1, 1}}}).IsZero() {
		t.Error("IsZero")
	}
}

func TestValidateRole(t *testing.T) {
	for _, ok := range []string{"*", "dev", "eng/frontend", "a.b", "a-b", "x-", "日本", "a/b/c", "...", "a*"} {
		if err := ValidateRole(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	bad := map[string]string{
		"":         "Role names cannot be the empty string",
		".":        "Role '.' cannot include '.' as a component",
		"..":       "Role '..' cannot include '..' as a component",
		"a/./b":    "Role 'a/./b' cannot include '.' as a component",
		"a/..":     "Role 'a/..' cannot include '..' as a component",
		"a/*":      "Role 'a/*' cannot include '*' as a component",
		"/a":       "Role '/a' cannot start with a slash",
		"/":        "Role '/' cannot start with a slash",
		"a/":       "Role 'a/' cannot end with a slash",
		"a//b":     "Role 'a//b' cannot contain two adjacent slashes",
		"-a":       "Role component '-a' is invalid because it starts with a dash",
		"a/-b":     "Role component '-b' is invalid because it starts with a dash",
		"a b":      "Role component 'a b' is invalid because it contains backspace or whitespace",
		"a\tb":     "Role component 'a\tb' is invalid because it contains backspace or whitespace",
		"x/y\x7fz": "Role component 'y\x7fz' is invalid because it contains backspace or whitespace",
	}
	for role, want := range bad {
		if err := ValidateRole(role); err == nil || err.Error() != want {
			t.Errorf("%q: got %v, want %q", role, err, want)
		}
	}
}

func TestRangesString(t *testing.T) {
	rs := []Range{{31000, 32000}, {33000, 33000}}
	if s := RangesString(rs); s != "[31000-32000, 33000-33000]" {
		t.Fatalf("got %q", s)
	}
	if s := RangesString(nil); s != "[]" {
		t.Fatalf("empty: %q", s)
	}
	got, err := ParseRangesString(" [31000-32000, 33000-33000] ")
	if err != nil || !reflect.DeepEqual(got, rs) {
		t.Fatalf("parse: %v %v", got, err)
	}
	for _, s := range []string{"31000-32000", "[31000]", "[5-3]", "[a-b]"} {
		if _, err := ParseRangesString(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
