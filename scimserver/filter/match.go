package filter

import (
	"cmp"
	"encoding/json"
	"strings"
	"time"
)

// coreURNPrefix starts the URNs of core schemas, whose attributes live at the
// top level of a resource; extension attributes live under res[<URN>].
const coreURNPrefix = "urn:ietf:params:scim:schemas:core:2.0:"

// Match reports whether the JSON resource res (as decoded by encoding/json;
// numbers may also be ints or json.Number) satisfies e.
//
// Attribute names match case-insensitively. String values compare
// case-insensitively unless caseExact (which may be nil) reports true for the
// attribute; strings that both parse as RFC 3339 times compare as times.
// On a multi-valued attribute a comparison holds if it holds for any element,
// and `emails eq "x"` compares each element's "value". `ne` is the negation of
// `eq`, so it holds when the attribute is missing; `pr` requires a non-null,
// non-empty value. A ValuePath holds if any element satisfies its filter.
func Match(e Expr, res map[string]any, caseExact func(p AttrPath) bool) bool {
	return matcher{caseExact}.match(e, res, nil)
}

type matcher struct{ caseExact func(AttrPath) bool }

// match evaluates e against res; parent is the multi-valued attribute whose
// element res is, inside a ValuePath.
func (m matcher) match(e Expr, res map[string]any, parent *AttrPath) bool {
	switch e := e.(type) {
	case *Logical:
		if e.And {
			return m.match(e.Left, res, parent) && m.match(e.Right, res, parent)
		}
		return m.match(e.Left, res, parent) || m.match(e.Right, res, parent)
	case *Not:
		return !m.match(e.X, res, parent)
	case *ValuePath:
		for _, el := range list(attrValue(e.Attr, res, parent != nil)) {
			if em, ok := el.(map[string]any); ok && m.match(e.Filter, em, &e.Attr) {
				return true
			}
		}
	case *Compare:
		return m.compare(e, res, parent)
	}
	return false
}

// attrValue returns the value of a.Name (ignoring a.Sub) in res.
func attrValue(a AttrPath, res map[string]any, inElement bool) any {
	if !inElement && a.URN != "" && !strings.HasPrefix(strings.ToLower(a.URN), coreURNPrefix) {
		ext, _ := get(res, a.URN)
		res, _ = ext.(map[string]any)
	}
	v, _ := get(res, a.Name)
	return v
}

// get looks key up in m, ignoring case.
func get(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// list returns v's elements if it is an array, else v alone; null and
// missing values give none.
func list(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	case []map[string]any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = x
		}
		return out
	case []string:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = x
		}
		return out
	}
	return []any{v}
}

func (m matcher) compare(c *Compare, res map[string]any, parent *AttrPath) bool {
	path := c.Attr // for caseExact: the full path from the resource
	if parent != nil {
		path = AttrPath{URN: parent.URN, Name: parent.Name, Sub: c.Attr.Name}
	}
	var vals []any
	for _, v := range list(attrValue(c.Attr, res, parent != nil)) {
		sub := c.Attr.Sub
		if _, ok := v.(map[string]any); ok && sub == "" && c.Op != OpPr {
			sub = "value" // emails eq "x" means emails.value eq "x"
			if parent == nil {
				path.Sub = sub
			}
		}
		if sub == "" {
			vals = append(vals, v)
		} else if obj, ok := v.(map[string]any); ok {
			sv, _ := get(obj, sub)
			vals = append(vals, list(sv)...)
		}
	}

	switch {
	case c.Op == OpPr:
		for _, v := range vals {
			if present(v) {
				return true
			}
		}
		return false
	case c.Value == nil: // eq null, ne null
		isNull := true
		for _, v := range vals {
			isNull = isNull && v == nil
		}
		return isNull == (c.Op == OpEq)
	}
	op := c.Op
	if op == OpNe {
		op = OpEq
	}
	exact := m.caseExact != nil && m.caseExact(path)
	found := false
	for _, v := range vals {
		if found = compareValue(op, v, c.Value, exact); found {
			break
		}
	}
	return found != (c.Op == OpNe)
}

func present(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// compareValue applies op (not ne or pr) to an attribute value a and a filter
// value f. Mismatched types compare false, except that numbers and booleans
// also match their text forms (`age eq "42"`, `active eq "true"`).
func compareValue(op Operator, a, f any, exact bool) bool {
	switch f := f.(type) {
	case string:
		if s, ok := a.(string); ok {
			return compareStrings(op, s, f, exact)
		}
		if b, ok := a.(bool); ok {
			fb, ok := parseBool(f)
			return ok && op == OpEq && b == fb
		}
		if n, ok := number(a); ok {
			fn, ok := jsonNumber(f)
			return ok && ordered(op, cmp.Compare(n, fn))
		}
	case bool:
		b, ok := a.(bool)
		if s, isStr := a.(string); isStr {
			b, ok = parseBool(s)
		}
		return ok && op == OpEq && b == f
	default:
		fn, ok := number(f)
		if !ok {
			return false
		}
		n, ok := number(a)
		if s, isStr := a.(string); isStr {
			n, ok = jsonNumber(s)
		}
		return ok && ordered(op, cmp.Compare(n, fn))
	}
	return false
}

func compareStrings(op Operator, a, f string, exact bool) bool {
	switch op {
	case OpEq, OpGt, OpGe, OpLt, OpLe:
		if ta, ok := parseTime(a); ok {
			if tf, ok := parseTime(f); ok {
				return ordered(op, ta.Compare(tf))
			}
		}
	}
	if !exact {
		a, f = strings.ToLower(a), strings.ToLower(f)
	}
	switch op {
	case OpCo:
		return strings.Contains(a, f)
	case OpSw:
		return strings.HasPrefix(a, f)
	case OpEw:
		return strings.HasSuffix(a, f)
	}
	return ordered(op, strings.Compare(a, f))
}

// ordered applies op to the result c of a three-way comparison.
func ordered(op Operator, c int) bool {
	switch op {
	case OpEq:
		return c == 0
	case OpGt:
		return c > 0
	case OpGe:
		return c >= 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	}
	return false
}

func parseTime(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[10] != 'T' && s[10] != 't' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, strings.ToUpper(s))
	return t, err == nil
}

func parseBool(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// number converts the numeric types a JSON resource may hold to float64.
func number(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case int:
		return float64(v), true
	case int32:
		return float64(v), true
	case int64:
		return float64(v), true
	case uint:
		return float64(v), true
	case uint32:
		return float64(v), true
	case uint64:
		return float64(v), true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

// SimpleEq reports whether e is a single `attr eq "string"` comparison.
func SimpleEq(e Expr) (attr AttrPath, value string, ok bool) {
	if c, isCmp := e.(*Compare); isCmp && c.Op == OpEq {
		if s, isStr := c.Value.(string); isStr {
			return c.Attr, s, true
		}
	}
	return AttrPath{}, "", false
}

// EqTerms returns the `attr eq "string"` comparisons AND-ed at the top level
// of e: every resource matching e satisfies each of them, so a store can look
// candidates up by any one and post-filter them with Match.
func EqTerms(e Expr) []Compare {
	if l, ok := e.(*Logical); ok && l.And {
		return append(EqTerms(l.Left), EqTerms(l.Right)...)
	}
	if _, _, ok := SimpleEq(e); ok {
		return []Compare{*e.(*Compare)}
	}
	return nil
}
