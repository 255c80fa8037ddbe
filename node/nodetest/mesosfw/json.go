package mesosfw

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Path elements are strings (object keys) or ints (array indexes).

// Lookup walks v along path and returns the value found there. The error
// names the exact step where the walk failed and what was there instead, so
// a test failure says which field the server got wrong.
func Lookup(v any, path ...any) (any, error) {
	cur := v
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: want an object to look up %q, have %s", pathString(path[:i]), k, describe(cur))
			}
			next, ok := m[k]
			if !ok {
				return nil, fmt.Errorf("%s: no field %q (fields: %s)", pathString(path[:i]), k, keys(m))
			}
			cur = next
		case int:
			a, ok := cur.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: want an array to index [%d], have %s", pathString(path[:i]), k, describe(cur))
			}
			if k < 0 || k >= len(a) {
				return nil, fmt.Errorf("%s: index [%d] out of range (length %d)", pathString(path[:i]), k, len(a))
			}
			cur = a[k]
		default:
			return nil, fmt.Errorf("mesosfw: bad path element %#v (want string or int)", p)
		}
	}
	return cur, nil
}

// LookupStr is Lookup that also requires a JSON string.
func LookupStr(v any, path ...any) (string, error) {
	x, err := Lookup(v, path...)
	if err != nil {
		return "", err
	}
	s, ok := x.(string)
	if !ok {
		return "", fmt.Errorf("%s: want a string, have %s", pathString(path), describe(x))
	}
	return s, nil
}

// LookupNum is Lookup that also requires a JSON number.
func LookupNum(v any, path ...any) (float64, error) {
	x, err := Lookup(v, path...)
	if err != nil {
		return 0, err
	}
	f, ok := x.(float64)
	if !ok {
		return 0, fmt.Errorf("%s: want a number, have %s", pathString(path), describe(x))
	}
	return f, nil
}

// LookupObj is Lookup that also requires a JSON object.
func LookupObj(v any, path ...any) (map[string]any, error) {
	x, err := Lookup(v, path...)
	if err != nil {
		return nil, err
	}
	m, ok := x.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want an object, have %s", pathString(path), describe(x))
	}
	return m, nil
}

// LookupArr is Lookup that also requires a JSON array.
func LookupArr(v any, path ...any) ([]any, error) {
	x, err := Lookup(v, path...)
	if err != nil {
		return nil, err
	}
	a, ok := x.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want an array, have %s", pathString(path), describe(x))
	}
	return a, nil
}

// Has reports whether path exists in v (its value may be null).
func Has(v any, path ...any) bool {
	_, err := Lookup(v, path...)
	return err == nil
}

// Str returns the string at path, or "" when it is missing or not a string.
// Use LookupStr to tell those cases apart.
func Str(v any, path ...any) string {
	s, _ := LookupStr(v, path...)
	return s
}

// Num returns the number at path, or NaN when it is missing or not a number
// (so that an equality assertion on a missing field fails).
func Num(v any, path ...any) float64 {
	f, err := LookupNum(v, path...)
	if err != nil {
		return math.NaN()
	}
	return f
}

// Bool returns the boolean at path, or false when missing or not a boolean.
func Bool(v any, path ...any) bool {
	x, err := Lookup(v, path...)
	if err != nil {
		return false
	}
	b, _ := x.(bool)
	return b
}

// Obj returns the object at path, or nil.
func Obj(v any, path ...any) map[string]any {
	m, _ := LookupObj(v, path...)
	return m
}

// Arr returns the array at path, or nil.
func Arr(v any, path ...any) []any {
	a, _ := LookupArr(v, path...)
	return a
}

// Objs returns the array at path as objects, skipping elements that are not
// objects; nil when the path is missing.
func Objs(v any, path ...any) []map[string]any {
	var out []map[string]any
	for _, e := range Arr(v, path...) {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// Type returns an event's or call's "type" field ("" if absent).
func Type(v any) string { return Str(v, "type") }

func pathString(path []any) string {
	if len(path) == 0 {
		return "(root)"
	}
	var b strings.Builder
	for i, p := range path {
		switch k := p.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(k) + "]")
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, k)
		}
	}
	return b.String()
}

func keys(m map[string]any) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return "[" + strings.Join(ks, " ") + "]"
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", clip([]byte(x), 80))
	case float64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case map[string]any:
		return "an object with fields " + keys(x)
	case []any:
		return fmt.Sprintf("an array of length %d", len(x))
	default:
		return jsonKind(v)
	}
}
