package api

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// MaxJSONDepth is how deeply a request body may nest objects and arrays.
// A job spec needs four levels; the limit stops a body of a few KiB of
// brackets from costing a decoder deep recursion before any check runs.
const MaxJSONDepth = 32

// checkDepth refuses b when its objects and arrays nest deeper than max.
// It only counts brackets outside strings: it is not a validator, the
// decoder that runs next is.
func checkDepth(b []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > max {
				return invalid("", "JSON nests objects and arrays deeper than %d levels", max)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// unknownField finds, in v (a body decoded into any), the first object key
// that the Go type t does not declare, as a path ("constraints[0].valu"),
// with the names t's object there does declare. encoding/json says only
// the key ("unknown field \"valu\""), which does not tell a user which of
// a job's objects has the typo. Keys are matched as encoding/json matches
// them, case-insensitively; "" when every key is known.
func unknownField(v any, t reflect.Type, path string) (string, []string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return "", nil // another form (a constraint's array): its own decoder judges it
		}
		names, types := jsonFields(t)
		for _, k := range slices.Sorted(mapKeys(obj)) {
			i := slices.IndexFunc(names, func(n string) bool { return strings.EqualFold(n, k) })
			if i < 0 {
				return joinPath(path, k), names
			}
			if p, known := unknownField(obj[k], types[i], joinPath(path, k)); p != "" {
				return p, known
			}
		}
	case reflect.Slice, reflect.Array:
		arr, _ := v.([]any)
		for i, e := range arr {
			if p, known := unknownField(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); p != "" {
				return p, known
			}
		}
	case reflect.Map:
		obj, _ := v.(map[string]any)
		for _, k := range slices.Sorted(mapKeys(obj)) {
			if p, known := unknownField(obj[k], t.Elem(), joinPath(path, k)); p != "" {
				return p, known
			}
		}
	}
	return "", nil
}

// jsonFields are the JSON names of t's fields, in declaration order, with
// their types; embedded structs without a name contribute their own.
func jsonFields(t reflect.Type) (names []string, types []reflect.Type) {
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			n, ts := jsonFields(f.Type)
			names, types = append(names, n...), append(types, ts...)
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		names, types = append(names, tag), append(types, f.Type)
	}
	return names, types
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
