package schema

import "strings"

// ParseAttrList splits the comma-separated value of the attributes or
// excludedAttributes query parameter (RFC 7644 §3.4.2.5), trimming blanks
// and dropping empty items so "a, b,," reads as [a b].
func ParseAttrList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Project returns the representation of the normalized resource res to send
// to a client, honouring the "returned" characteristic (RFC 7643 §7) and the
// attributes / excludedAttributes parameters (RFC 7644 §3.4.2.5, §3.9):
//
//   - returned "always" attributes (id) and "schemas" are always present;
//   - returned "never" attributes (password) are never present;
//   - with attributes, only the listed attributes are returned; without it,
//     every "default" attribute is, while "request" ones need to be listed;
//   - excludedAttributes removes attributes or sub-attributes, never an
//     "always" one.
//
// Names may be sub-attributes ("name.givenName", "emails.value"),
// URN-qualified ("urn:…:enterprise:2.0:User:department"), or a bare
// extension URN standing for all of that extension's attributes; they are
// case-insensitive, and unknown ones are ignored. Keys of res that no schema
// defines are never returned, so server-internal fields cannot leak. res is
// not modified and shares nothing with the result.
func Project(rt *ResourceType, res map[string]any, attributes, excludedAttributes []string) map[string]any {
	return project(rt, res, attributes, excludedAttributes, true)
}

// ProjectShared is Project for a resource built for one response: the
// result shares the values it keeps whole with res instead of copying
// them, so neither may be changed afterwards. A page of 100 users copied
// every user's groups and emails once more only to encode them.
func ProjectShared(rt *ResourceType, res map[string]any, attributes, excludedAttributes []string) map[string]any {
	return project(rt, res, attributes, excludedAttributes, false)
}

func project(rt *ResourceType, res map[string]any, attributes, excludedAttributes []string, copyValues bool) map[string]any {
	p := projection{inc: rt.selection(attributes), exc: rt.selection(excludedAttributes), listed: len(attributes) > 0, copy: copyValues}
	out := make(map[string]any, len(res))
	if v, ok := res["schemas"]; ok {
		if copyValues {
			v = DeepCopy(v)
		}
		out["schemas"] = v
	}
	for _, s := range rt.Schemas() {
		src, dst := rt.container(res, s), out
		if s != rt.Schema {
			dst = map[string]any{}
		}
		for _, attrs := range rt.topAttributes(s) {
			for _, a := range attrs {
				if v, ok := src[a.Name]; ok && p.included(a) {
					if v = p.value(a, v); v != nil {
						dst[a.Name] = v
					}
				}
			}
		}
		if s != rt.Schema && len(dst) > 0 {
			out[s.ID] = dst
		}
	}
	return out
}

// selection maps a top-level attribute to the set of its sub-attributes that
// were named; a nil set means the attribute was named as a whole.
type selection map[*Attribute]map[*Attribute]bool

func (rt *ResourceType) selection(names []string) selection {
	if len(names) == 0 {
		return nil // reads as empty; most requests name no attributes
	}
	sel := selection{}
	for _, n := range names {
		urn, rest := rt.SplitURN(n)
		if urn != "" && rest == "" {
			for _, attrs := range rt.topAttributes(rt.SchemaFor(urn)) {
				for _, a := range attrs {
					sel[a] = nil
				}
			}
			continue
		}
		name, subName, _ := strings.Cut(rest, ".")
		a, _ := rt.Attribute(urn, name)
		sub := a.Sub(subName)
		subs, seen := sel[a]
		switch {
		case a == nil || (seen && subs == nil):
		case subName == "":
			sel[a] = nil
		case sub != nil:
			if subs == nil {
				subs = map[*Attribute]bool{}
				sel[a] = subs
			}
			subs[sub] = true
		}
	}
	return sel
}

type projection struct {
	inc, exc selection
	listed   bool // an attributes parameter was given
	copy     bool // copy kept values (Project) or share them (ProjectShared)
}

func (p projection) included(a *Attribute) bool {
	switch a.Returned {
	case ReturnedNever:
		return false
	case ReturnedAlways:
		return true
	}
	if subs, ok := p.exc[a]; ok && subs == nil {
		return false
	}
	if p.listed {
		_, ok := p.inc[a]
		return ok
	}
	return a.Returned != ReturnedRequest
}

// value copies (or shares) the included part of v, the value of top-level
// attribute a; it returns nil if nothing of a complex value remains.
func (p projection) value(a *Attribute, v any) any {
	if a.Type != TypeComplex {
		if !p.copy {
			return v
		}
		return DeepCopy(v)
	}
	inc, exc := p.inc[a], p.exc[a]
	if a.Returned == ReturnedAlways {
		inc, exc = nil, nil
	}
	keep := func(sub *Attribute) bool {
		switch {
		case sub == nil || sub.Returned == ReturnedNever:
			return false
		case sub.Returned == ReturnedAlways:
			return true
		case exc[sub]:
			return false
		case inc != nil:
			return inc[sub]
		}
		return sub.Returned != ReturnedRequest
	}
	keepsAll := func(m map[string]any) bool {
		for k := range m {
			if !keep(a.Sub(k)) {
				return false
			}
		}
		return true
	}
	object := func(e any) map[string]any {
		m, _ := e.(map[string]any)
		if !p.copy && len(m) > 0 && keepsAll(m) {
			return m
		}
		out := map[string]any{}
		for k, x := range m {
			if keep(a.Sub(k)) {
				out[k] = DeepCopy(x)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	list, isList := v.([]any)
	if !isList {
		if m := object(v); m != nil {
			return m
		}
		return nil
	}
	var out []any
	for _, e := range list {
		if m := object(e); m != nil {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// DeepCopy copies a JSON value (objects and arrays recursively), so a
// resource can be changed without touching the original.
func DeepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = DeepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = DeepCopy(e)
		}
		return l
	}
	return v
}
