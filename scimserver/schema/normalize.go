package schema

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// NormalizeOptions tunes Normalize for the request it serves.
type NormalizeOptions struct {
	// DropReadOnly silently removes readOnly attributes (id, meta, groups,
	// manager.displayName, …). Set it for POST and PUT bodies: RFC 7644 §3.5.1
	// says readOnly values sent by clients SHALL be ignored, and Okta sends the
	// resource it last read (id, meta, groups included) back in every PUT.
	// Leave it unset for PATCH values so the patch layer can answer a write
	// to a readOnly attribute with a mutability error.
	DropReadOnly bool
}

// Normalize turns a client's JSON object (a POST/PUT body or a PATCH value)
// into the canonical form the rest of the server relies on, so that nothing
// downstream has to cope with client quirks:
//
//   - keys get their canonical spelling, recursively;
//   - core attributes qualified with the core URN ("urn:…:core:2.0:User:userName")
//     are unqualified; extension attributes live under their canonical URN key,
//     whether sent nested (`"urn:…:enterprise:2.0:User": {"manager": …}`) or
//     qualified at the top level (`"urn:…:enterprise:2.0:User:manager": …`);
//   - dotted keys such as "name.givenName", which Entra sends in path-less PATCH
//     values, are moved into their complex parent;
//   - unknown attributes and unknown schema URNs are dropped, because real IdPs
//     send extras and misspellings and rejecting them breaks provisioning;
//   - null, empty arrays and empty objects are dropped: they mean "unassigned"
//     (RFC 7643 §2.5), and absence is the only representation of that here;
//   - writeOnly attributes (password) are always dropped: identities
//     authenticate at the IdP, so this server keeps no credentials, and a
//     writeOnly value could never be read back anyway;
//   - values are coerced to the attribute type where the intent is unambiguous
//     (see value) and rejected with invalidValue otherwise;
//   - "schemas" is rebuilt from the data (SetSchemas).
//
// Numbers come out as float64, the type encoding/json produces. in is not
// modified; the result shares no maps or slices with it.
func Normalize(rt *ResourceType, in map[string]any, opts NormalizeOptions) (map[string]any, error) {
	n := normalizer{opts}
	out := map[string]any{}
	ext := map[*Schema]map[string]any{}
	coreLookup := func(name string) *Attribute { a, _ := rt.Attribute("", name); return a }
	for _, k := range sortedKeys(in) {
		urn, rest := rt.SplitURN(k)
		s := rt.SchemaFor(urn)
		target, lookup, prefix := out, coreLookup, ""
		if s != rt.Schema {
			if ext[s] == nil {
				ext[s] = map[string]any{}
			}
			target, lookup, prefix = ext[s], s.Attribute, s.ID+":"
		}
		var err error
		if urn != "" && rest == "" { // the object of all attributes of one schema
			err = n.object(lookup, prefix, s.ID, in[k], target)
		} else {
			err = n.field(lookup, prefix, rest, in[k], target)
		}
		if err != nil {
			return nil, err
		}
	}
	for s, m := range ext {
		if len(m) > 0 {
			out[s.ID] = m
		}
	}
	SetSchemas(rt, out)
	return out, nil
}

// NormalizeValue normalizes v as the value of the single attribute a (a
// top-level or a sub-attribute), applying the rules of Normalize; path names
// the attribute in errors (e.g. "emails.value" or "urn:…:User:manager"). It
// serves PATCH operations whose path already selects the attribute, and
// returns nil when v amounts to "unassigned".
func NormalizeValue(a *Attribute, path string, v any, opts NormalizeOptions) (any, error) {
	return normalizer{opts}.value(a, path, v)
}

type normalizer struct{ opts NormalizeOptions }

// The walker below is shared by the top level of every schema and by complex
// values: each level is described by a lookup function (ResourceType.Attribute
// for the core schema, Schema.Attribute for an extension, Attribute.Sub inside
// a complex value) and a path prefix used only to name attributes in errors.

// object normalizes the JSON object v, named path, into out.
func (n normalizer) object(lookup func(string) *Attribute, prefix, path string, v any, out map[string]any) error {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return invalid("attribute %q must be a complex object", path)
	}
	for _, k := range sortedKeys(m) {
		if err := n.field(lookup, prefix, k, m[k], out); err != nil {
			return err
		}
	}
	return nil
}

// field normalizes one key/value pair of an object into out. Keys are
// processed in sorted order by the callers, so when a client sends the same
// attribute twice ("name" and "name.givenName", "Department" and
// "department") the outcome is deterministic: complex values merge, other
// values are overwritten by the later key.
func (n normalizer) field(lookup func(string) *Attribute, prefix, key string, v any, out map[string]any) error {
	a := lookup(key)
	if a == nil {
		base, sub, dotted := strings.Cut(key, ".")
		parent := lookup(base)
		if !dotted || parent == nil || parent.Type != TypeComplex || n.drop(parent) {
			return nil // unknown attribute
		}
		if parent.MultiValued {
			return invalid("attribute %q is multi-valued; set %q through a value filter path", prefix+parent.Name, sub)
		}
		m, _ := out[parent.Name].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if err := n.field(parent.Sub, prefix+parent.Name+".", sub, v, m); err != nil {
			return err
		}
		if len(m) > 0 {
			out[parent.Name] = m
		}
		return nil
	}
	if n.drop(a) {
		return nil
	}
	nv, err := n.value(a, prefix+a.Name, v)
	if err != nil || nv == nil {
		return err
	}
	old, _ := out[a.Name].(map[string]any)
	if m, ok := nv.(map[string]any); ok && old != nil {
		for k, x := range m {
			old[k] = x
		}
		return nil
	}
	out[a.Name] = nv
	return nil
}

func (n normalizer) drop(a *Attribute) bool {
	return a.Mutability == WriteOnly || (n.opts.DropReadOnly && a.Mutability == ReadOnly)
}

// value normalizes the value of attribute a, named path, and returns nil when
// it is unassigned. Cardinality is repaired where IdPs are known to get it
// wrong: a single value for a multi-valued attribute is wrapped into an
// array, and a one-element array for a singular attribute is unwrapped (Entra
// sends the enterprise manager as [{"value": …}]). Only several values for a
// singular attribute are an error, as no choice among them would be right.
func (n normalizer) value(a *Attribute, path string, v any) (any, error) {
	list, isList := v.([]any)
	if !a.MultiValued {
		if !isList {
			return n.single(a, path, v)
		}
		switch len(list) {
		case 0:
			return nil, nil
		case 1:
			return n.single(a, path, list[0])
		}
		return nil, invalid("attribute %q is single-valued but %d values were given", path, len(list))
	}
	if !isList {
		list = []any{v}
	}
	var out []any
	for _, e := range list {
		ne, err := n.single(a, path, e)
		if err != nil {
			return nil, err
		}
		if ne != nil {
			out = append(out, ne)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// single normalizes one value of a. Coercions accept what IdPs demonstrably
// send and nothing else: "True"/"false" strings for booleans (Entra), numbers
// for string attributes (employeeNumber sent as a JSON number), and a bare
// string for a complex attribute with a value sub-attribute ("manager": "id"
// means {"value": "id"}).
func (n normalizer) single(a *Attribute, path string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch a.Type {
	case TypeComplex:
		if s, ok := v.(string); ok && a.Sub("value") != nil {
			v = map[string]any{"value": s}
		}
		out := map[string]any{}
		if err := n.object(a.Sub, path+".", path, v, out); err != nil || len(out) == 0 {
			return nil, err
		}
		return out, nil
	case TypeBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch {
			case strings.EqualFold(x, "true"):
				return true, nil
			case strings.EqualFold(x, "false"):
				return false, nil
			}
		}
		return nil, invalid("attribute %q must be a boolean", path)
	case TypeInteger, TypeDecimal:
		f, ok := number(v)
		if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, invalid("attribute %q must be a number", path)
		}
		if a.Type == TypeInteger && f != math.Trunc(f) {
			return nil, invalid("attribute %q must be an integer", path)
		}
		return f, nil
	default: // string, reference, dateTime, binary: JSON strings on the wire
		if s, ok := v.(string); ok {
			return s, nil
		}
		if a.Type == TypeString {
			switch x := v.(type) {
			case float64:
				return strconv.FormatFloat(x, 'f', -1, 64), nil
			case json.Number:
				return x.String(), nil
			}
		}
		return nil, invalid("attribute %q must be a string", path)
	}
}

// number accepts the numeric types encoding/json produces (float64, or
// json.Number with Decoder.UseNumber).
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func invalid(format string, args ...any) error {
	return scimerr.BadRequest(scimerr.InvalidValue, format, args...)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Validate checks the rules of a complete, normalized resource that Normalize
// cannot check on a fragment such as a PATCH value: required attributes are
// present and non-blank (userName, Group displayName), a multi-valued
// attribute has at most one primary value (RFC 7643 §2.4), and attributes
// with CanonicalOnly hold one of their canonical values. The latter are
// rewritten in place to the canonical spelling ("user" becomes "User"), so
// Validate may modify res.
func Validate(rt *ResourceType, res map[string]any) error {
	for i, s := range rt.Schemas() {
		m := rt.container(res, s)
		if m == nil {
			if i > 0 && rt.Extensions[i-1].Required {
				return invalid("schema extension %q is required", s.ID)
			}
			continue
		}
		prefix := ""
		if s != rt.Schema {
			prefix = s.ID + ":"
		}
		if err := validate(s.Attributes, prefix, m); err != nil {
			return err
		}
	}
	return nil
}

func validate(attrs []*Attribute, prefix string, m map[string]any) error {
	for _, a := range attrs {
		path := prefix + a.Name
		v, ok := m[a.Name]
		if a.Required && blank(v) {
			return invalid("attribute %q is required", path)
		}
		if !ok {
			continue
		}
		if a.CanonicalOnly {
			s, isString := v.(string)
			if isString && strings.TrimSpace(s) == "" { // blank means unassigned, as null does
				delete(m, a.Name)
				continue
			}
			i := slices.IndexFunc(a.CanonicalValues, func(c string) bool { return strings.EqualFold(c, s) })
			if i < 0 {
				return invalid("attribute %q must be one of %s", path, strings.Join(a.CanonicalValues, ", "))
			}
			m[a.Name] = a.CanonicalValues[i]
		}
		if a.Type != TypeComplex {
			continue
		}
		elems, isList := v.([]any)
		if !isList {
			elems = []any{v}
		}
		primaries := 0
		for _, e := range elems {
			em, _ := e.(map[string]any)
			if em == nil {
				continue
			}
			if p, _ := em["primary"].(bool); p {
				primaries++
			}
			if err := validate(a.SubAttributes, path+".", em); err != nil {
				return err
			}
		}
		if primaries > 1 {
			return invalid("attribute %q has %d values marked primary; at most one is allowed", path, primaries)
		}
	}
	return nil
}

func blank(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}
