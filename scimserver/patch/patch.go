// Package patch implements SCIM PATCH (RFC 7644 §3.5.2) on canonical JSON
// resources, as sent by real identity providers (Entra ID, Okta) as well as by
// the RFC. It knows nothing of Kubernetes.
//
// Decisions where the RFC is silent or IdPs deviate from it:
//
//   - The request's "schemas" may be missing (some IdPs omit it); if present it
//     must name the PatchOp URN. "Operations" and the operation members are
//     matched case-insensitively, and so is "op" ("Add", "Replace", "Remove").
//   - A pathless add/replace treats each key of its value object as a path:
//     dotted (`name.givenName`), URN-qualified
//     (`urn:...:enterprise:2.0:User:employeeNumber`), nested extension objects
//     and value-filter paths all work. Keys that are unknown, unparsable or
//     name read-only attributes (`id`, `meta`, `schemas`) are ignored silently.
//     A null key value unassigns the attribute on replace and is skipped on add.
//   - Replace with a value-filter path and a sub-attribute that matches no
//     element (`emails[type eq "work"].value`) creates the element from the
//     filter's eq terms, as add does (Entra relies on it). Other replaces
//     that match nothing fail with noTarget.
//   - Remove is idempotent: a filter, or a value list, that matches nothing
//     succeeds. Remove with a value (`"path":"members","value":[{"value":"x"}]`,
//     Entra) removes only the listed elements; without a value it removes all.
//   - Values go through schema.Normalize, as POST and PUT bodies do: "False"
//     becomes false, "manager": "id" and [{"value": "id"}] become
//     {"value": "id"}, null and unknown sub-attributes are dropped, and so are
//     read-only sub-attributes inside a value (manager.displayName); only a
//     path that names a read-only attribute is a mutability error.
//   - A value written to a singular complex attribute is merged into it:
//     sub-attributes it does not name are kept (RFC 7644 §3.5.2.1, §3.5.2.3).
//   - Adding an element already present is a no-op: elements are equal when
//     deep-equal or, if their "value" sub-attribute is immutable (Group
//     members), when their values are equal.
//   - Immutable attributes (members.value, members.type, members.$ref) may be
//     set where unset but never changed: mutability.
//   - The result must pass schema.Validate (required attributes; member type
//     rewritten to "User"/"Group"); if not, the request fails as a whole.
package patch

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/filter"
	"github.com/scim-operator/scim-operator/scimserver/path"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// MaxOperations is the most operations one request may hold.
const MaxOperations = 1000

// Operation is one PATCH operation as decoded from JSON.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

// Request is the PatchOp message body.
type Request struct {
	Schemas    []string    `json:"schemas"`
	Operations []Operation `json:"Operations"`
}

// DecodeRequest parses a PatchOp body. It fails with invalidSyntax on bad
// JSON, a "schemas" that lacks the PatchOp URN, or no operations, and with
// invalidValue on more than MaxOperations operations. A missing "schemas" is
// accepted. Member names match case-insensitively (encoding/json does so).
func DecodeRequest(body []byte) (*Request, error) {
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "invalid PatchOp body: %v", err)
	}
	if len(req.Schemas) > 0 && !slices.ContainsFunc(req.Schemas, func(s string) bool { return strings.EqualFold(s, schema.PatchOpURN) }) {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "schemas must contain %q", schema.PatchOpURN)
	}
	if len(req.Operations) == 0 {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "PatchOp body has no Operations")
	}
	if len(req.Operations) > MaxOperations {
		return nil, scimerr.BadRequest(scimerr.InvalidValue, "too many PATCH operations: %d, at most %d allowed", len(req.Operations), MaxOperations)
	}
	return &req, nil
}

// Apply applies ops in order to a deep copy of res and returns it. res is never
// modified, so a failing operation leaves nothing half-applied. Afterwards
// null values and empty multi-valued and complex attributes are dropped, at
// most one element per multi-valued attribute stays primary (the one an
// operation last made primary), "schemas" is rebuilt (schema.SetSchemas) and
// the result is checked with schema.Validate. Errors are *scimerr.Error whose
// detail names the failing operation.
func Apply(rt *schema.ResourceType, res map[string]any, ops []Operation) (map[string]any, error) {
	out, _ := schema.DeepCopy(res).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	for i, op := range ops {
		if err := applyOp(rt, out, op); err != nil {
			return nil, withPrefix(err, "operation "+strconv.Itoa(i+1)+": ")
		}
	}
	clean(out)
	schema.SetSchemas(rt, out)
	if err := schema.Validate(rt, out); err != nil {
		return nil, withPrefix(err, "the patched resource is invalid: ")
	}
	return out, nil
}

// withPrefix prefixes the detail of a *scimerr.Error.
func withPrefix(err error, prefix string) error {
	e, ok := scimerr.As(err)
	if !ok {
		return err
	}
	e2 := *e
	e2.Detail = prefix + e.Detail
	return &e2
}

func applyOp(rt *schema.ResourceType, res map[string]any, op Operation) error {
	kind := strings.ToLower(op.Op)
	switch kind {
	case "add", "replace", "remove":
	default:
		return scimerr.BadRequest(scimerr.InvalidSyntax, "unknown PATCH op %q", op.Op)
	}
	if kind == "add" && op.Value == nil {
		return scimerr.BadRequest(scimerr.InvalidValue, "add requires a value")
	}
	if op.Path == "" {
		if kind == "remove" {
			return scimerr.BadRequest(scimerr.NoTarget, "remove requires a path")
		}
		return applyObject(rt, res, kind, "", op.Value)
	}
	if s := rt.SchemaFor(op.Path); s != nil { // the path is a schema URN: its object
		switch {
		case kind != "remove":
			return applyObject(rt, res, kind, s.ID, op.Value)
		case s == rt.Schema:
			return scimerr.BadRequest(scimerr.InvalidPath, "the core schema cannot be removed")
		}
		delete(res, s.ID)
		return nil
	}
	p, err := path.Parse(op.Path)
	if err != nil {
		return err
	}
	t, err := resolve(rt, p)
	if err != nil {
		return err
	}
	if t.readOnly() {
		return scimerr.BadRequest(scimerr.Mutability, "attribute %q is read-only", op.Path)
	}
	return t.apply(res, kind, op.Value)
}

// applyObject applies a pathless add/replace: each key of v is a path, relative
// to the extension prefix if one is given.
func applyObject(rt *schema.ResourceType, res map[string]any, kind, prefix string, v any) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return scimerr.BadRequest(scimerr.InvalidValue, "%s without path requires an object value", kind)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic order
	for _, k := range keys {
		val, key := obj[k], k
		if prefix != "" {
			key = prefix + ":" + k
		}
		if val == nil && kind == "add" {
			continue
		}
		if rt.IsSchemaURN(key) {
			if m, ok := val.(map[string]any); ok {
				if err := applyObject(rt, res, kind, key, m); err != nil {
					return err
				}
			}
			continue
		}
		p, err := path.Parse(key)
		if err != nil {
			continue // not an attribute (e.g. "schemas"): ignore
		}
		t, err := resolve(rt, p)
		if err != nil || t.readOnly() {
			continue
		}
		if err := t.apply(res, kind, val); err != nil {
			return err
		}
	}
	return nil
}

// target is what a PATCH path designates.
type target struct {
	rt     *schema.ResourceType
	path   string
	ext    string            // extension URN holding the attribute; "" for core
	attr   *schema.Attribute // the attribute the path names
	filter filter.Expr       // value filter on a multi-valued attribute, or nil
	sub    *schema.Attribute // sub-attribute, or nil
}

// resolve checks a parsed path against the schema.
func resolve(rt *schema.ResourceType, p path.Path) (*target, error) {
	name := p.Attr.Name
	if p.Attr.URN != "" {
		name = p.Attr.URN + ":" + name
	}
	a, s := rt.Attribute(p.Attr.URN, p.Attr.Name)
	if a == nil {
		return nil, scimerr.BadRequest(scimerr.InvalidPath, "unknown attribute %q", name)
	}
	t := &target{rt: rt, path: name, attr: a, filter: p.ValueFilter}
	if s != nil && rt.Schema != nil && s.ID != rt.Schema.ID {
		t.ext = s.ID
	}
	if t.filter != nil && !a.MultiValued {
		return nil, scimerr.BadRequest(scimerr.InvalidPath, "value filter on single-valued attribute %q", name)
	}
	subName := p.Attr.Sub
	if p.SubAttr != "" {
		if subName != "" {
			return nil, scimerr.BadRequest(scimerr.InvalidPath, "invalid path for attribute %q", name)
		}
		subName = p.SubAttr
	}
	if subName != "" {
		if a.Type == schema.TypeComplex {
			t.sub = a.Sub(subName)
		}
		if t.sub == nil {
			return nil, scimerr.BadRequest(scimerr.InvalidPath, "unknown attribute %q", name+"."+subName)
		}
		t.path += "." + t.sub.Name
	}
	return t, nil
}

func (t *target) readOnly() bool {
	return t.attr.Mutability == schema.ReadOnly || (t.sub != nil && t.sub.Mutability == schema.ReadOnly)
}

// apply performs one add, replace or remove on the target in res.
func (t *target) apply(res map[string]any, kind string, v any) error {
	if kind == "replace" && isEmpty(v) {
		kind, v = "remove", nil // null and [] mean unassigned (RFC 7643 §2.5)
	}
	c := res
	if t.ext != "" {
		c, _ = res[t.ext].(map[string]any)
		if c == nil {
			if kind == "remove" {
				return nil
			}
			c = map[string]any{}
			res[t.ext] = c
		}
	}
	name := t.attr.Name
	if !t.attr.MultiValued && t.sub == nil { // whole singular attribute
		if kind == "remove" {
			return t.assign(c, t.attr, nil)
		}
		nv, err := t.normalize(v)
		if err != nil || nv == nil {
			return err
		}
		if m, ok := nv.(map[string]any); ok { // complex: merge sub-attributes (RFC 7644 §3.5.2.1, §3.5.2.3)
			obj, _ := c[name].(map[string]any)
			if obj == nil {
				obj = map[string]any{}
				c[name] = obj
			}
			return t.merge(obj, m)
		}
		return t.assign(c, t.attr, nv)
	}
	if !t.attr.MultiValued { // sub-attribute of a singular complex attribute
		obj, _ := c[name].(map[string]any)
		if kind == "remove" {
			if obj == nil {
				return nil
			}
			return t.assign(obj, t.sub, nil)
		}
		nv, err := t.subValue(v, false)
		if err != nil || nv == nil {
			return err
		}
		if obj == nil {
			obj = map[string]any{}
			c[name] = obj
		}
		return t.assign(obj, t.sub, nv)
	}
	list, _ := c[name].([]any)
	if t.filter == nil && t.sub == nil { // whole multi-valued attribute
		if kind == "remove" && v == nil {
			delete(c, name)
			return nil
		}
		nv, err := t.normalize(v)
		if err != nil || nv == nil {
			return err
		}
		vals, _ := nv.([]any)
		switch kind {
		case "remove": // only the listed values (Entra), never the whole list
			byValue := map[string][]any{} // vals by "value", to stay linear on big groups
			for _, v := range vals {
				k, _ := t.valueKey(v)
				byValue[k] = append(byValue[k], v)
			}
			c[name] = slices.DeleteFunc(list, func(e any) bool {
				k, _ := t.valueKey(e)
				match := func(v any) bool { return t.contains(e, v) }
				return slices.ContainsFunc(byValue[k], match) || k != "" && slices.ContainsFunc(byValue[""], match)
			})
		case "replace":
			c[name] = vals
		case "add":
			ids := t.ids(list)
			var added []int
			for _, v := range vals {
				if k, ok := t.valueKey(v); ok && ids != nil {
					if ids[k] {
						continue
					}
					ids[k] = true
				} else if slices.ContainsFunc(list, func(e any) bool { return reflect.DeepEqual(e, v) }) {
					continue
				}
				list = append(list, v)
				added = append(added, len(list)-1)
			}
			c[name] = onePrimary(list, added)
		}
		return nil
	}
	// Elements of a multi-valued attribute, selected by a filter (none: all),
	// or a sub-attribute of those elements.
	if kind == "remove" {
		if t.sub == nil {
			c[name] = slices.DeleteFunc(list, t.matches)
			return nil
		}
		for _, e := range list {
			if m, ok := e.(map[string]any); ok && t.matches(e) {
				if err := t.assign(m, t.sub, nil); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var matched []int
	for i, e := range list {
		if t.matches(e) {
			matched = append(matched, i)
		}
	}
	var nv any
	var err error
	if t.sub != nil {
		nv, err = t.subValue(v, false)
	} else {
		nv, err = t.subValue(v, true)
	}
	if err != nil || nv == nil {
		return err // nil: the value was dropped by normalisation (e.g. a write-only attribute)
	}
	created := len(matched) == 0
	if created {
		// add, and Entra's replace of emails[type eq "work"].value, create the element.
		if kind == "replace" && (t.sub == nil || t.filter == nil) {
			return scimerr.BadRequest(scimerr.NoTarget, "no value of %q matches the filter", name)
		}
		e, ok := t.newElement()
		if !ok {
			return scimerr.BadRequest(scimerr.NoTarget, "no value of %q matches the filter and none can be created from it", name)
		}
		list = append(list, e)
		matched = []int{len(list) - 1}
	}
	for _, i := range matched {
		e, ok := list[i].(map[string]any)
		switch {
		case !ok && t.sub == nil: // simple multi-valued attribute
			list[i] = nv
		case !ok:
			return scimerr.BadRequest(scimerr.InvalidPath, "attribute %q has no sub-attributes", name)
		case t.sub != nil:
			err = t.assign(e, t.sub, nv)
		case kind == "add":
			err = t.merge(e, nv)
		default: // replace the element, keeping its immutable sub-attributes, which must not change
			nm, isMap := schema.DeepCopy(nv).(map[string]any)
			if !isMap {
				return scimerr.BadRequest(scimerr.InvalidValue, "a value of %q must be an object", name)
			}
			for k, old := range e {
				sa := t.attr.Sub(k)
				if sa == nil || sa.Mutability != schema.Immutable {
					continue
				}
				if nw, set := nm[k]; !set {
					nm[k] = old
				} else if !equal(sa, old, nw) {
					return scimerr.BadRequest(scimerr.Mutability, "attribute %q is immutable", name+"."+sa.Name)
				}
			}
			list[i] = nm
		}
		if err != nil {
			return err
		}
	}
	if created {
		ne, err := t.subValue(list[matched[0]], true)
		if err != nil {
			return err
		}
		if ne == nil {
			return scimerr.BadRequest(scimerr.NoTarget, "no value of %q matches the filter", name)
		}
		list[matched[0]] = ne
	}
	c[name] = onePrimary(list, matched)
	return nil
}

// assign sets obj[a.Name] = v (deleting it for nil), refusing to change a set immutable value.
func (t *target) assign(obj map[string]any, a *schema.Attribute, v any) error {
	old, set := obj[a.Name]
	if a.Mutability == schema.Immutable && set && old != nil && !equal(a, old, v) {
		return scimerr.BadRequest(scimerr.Mutability, "attribute %q is immutable", t.path)
	}
	if v == nil {
		delete(obj, a.Name)
	} else {
		obj[a.Name] = schema.DeepCopy(v)
	}
	return nil
}

// merge sets each sub-attribute of v (an object) on obj, a value of t.attr.
func (t *target) merge(obj map[string]any, v any) error {
	m, _ := v.(map[string]any)
	for k, sv := range m {
		if sa := t.attr.Sub(k); sa != nil {
			if err := t.assign(obj, sa, sv); err != nil {
				return err
			}
		}
	}
	return nil
}

// matches reports whether element e is selected by the target's filter.
func (t *target) matches(e any) bool {
	if t.filter == nil {
		return true
	}
	m, ok := e.(map[string]any)
	if !ok {
		m = map[string]any{"value": e}
	}
	return filter.Match(t.filter, m, func(p filter.AttrPath) bool {
		if t.attr.Type != schema.TypeComplex {
			return t.attr.CaseExact
		}
		sa := t.attr.Sub(p.Name)
		return sa != nil && sa.CaseExact
	})
}

// newElement builds the element that a filter of eq terms describes
// (`type eq "work"` → {"type": "work"}); no filter gives an empty element.
func (t *target) newElement() (map[string]any, bool) {
	e := map[string]any{}
	var walk func(x filter.Expr) bool
	walk = func(x filter.Expr) bool {
		switch x := x.(type) {
		case nil:
			return true
		case *filter.Logical:
			return x.And && walk(x.Left) && walk(x.Right)
		case *filter.Compare:
			sa := t.attr.Sub(x.Attr.Name)
			if x.Op != filter.OpEq || x.Attr.URN != "" || x.Attr.Sub != "" || sa == nil || x.Value == nil {
				return false
			}
			e[sa.Name] = x.Value
			return true
		}
		return false
	}
	return e, t.attr.Type == schema.TypeComplex && walk(t.filter)
}

// valueKey returns the "value" sub-attribute of element e, folded unless it
// is caseExact; ok is false if e has none.
func (t *target) valueKey(e any) (key string, ok bool) {
	m, _ := e.(map[string]any)
	s, ok := m["value"].(string)
	if va := t.attr.Sub("value"); ok && va != nil && !va.CaseExact {
		s = strings.ToLower(s)
	}
	return s, ok && s != ""
}

// ids returns the set of valueKeys of list when elements are identified by an
// immutable "value" (Group members), so that adding a member twice is a
// no-op; nil otherwise, when only deep-equal elements are duplicates.
func (t *target) ids(list []any) map[string]bool {
	if va := t.attr.Sub("value"); va == nil || va.Mutability != schema.Immutable {
		return nil
	}
	ids := map[string]bool{}
	for _, e := range list {
		if k, ok := t.valueKey(e); ok {
			ids[k] = true
		}
	}
	return ids
}

// contains reports whether element e matches v, a value given to remove: every
// sub-attribute of v has the same value in e.
func (t *target) contains(e, v any) bool {
	em, ok1 := e.(map[string]any)
	vm, ok2 := v.(map[string]any)
	if !ok1 || !ok2 {
		return equal(t.attr, e, v)
	}
	if len(vm) == 0 {
		return false
	}
	for k, sv := range vm {
		if sa := t.attr.Sub(k); sa == nil || !equal(sa, em[sa.Name], sv) {
			return false
		}
	}
	return true
}

// subValue normalises v as the value of t.sub on an element (or the value of a
// whole element when elem is set, t.sub being nil).
func (t *target) subValue(v any, elem bool) (any, error) {
	var w any = v
	if l, ok := v.([]any); ok && elem && len(l) == 1 {
		w = l[0] // [{...}] for one element
	}
	if !elem {
		w = map[string]any{t.sub.Name: v}
	}
	if t.attr.MultiValued {
		w = []any{w}
	}
	nv, err := t.normalize(w)
	if err != nil || nv == nil {
		return nil, err
	}
	if t.attr.MultiValued {
		l, _ := nv.([]any)
		if len(l) == 0 {
			return nil, nil
		}
		nv = l[0]
	}
	if elem {
		return nv, nil
	}
	m, _ := nv.(map[string]any)
	return m[t.sub.Name], nil
}

// normalize runs v, a value of t.attr, through schema.Normalize: type
// coercion, canonical key case, cardinality repair (a single value for a
// multi-valued attribute, "manager": "id" or [{"value": "id"}]) and dropping
// of unknown, null, write-only and read-only sub-attributes (a path naming a
// read-only attribute has already been refused). Multi-valued values come
// back as []any, complex ones as map[string]any, unassigned ones as nil.
func (t *target) normalize(v any) (any, error) {
	in := map[string]any{t.attr.Name: v}
	if t.ext != "" {
		in = map[string]any{t.ext: in}
	}
	out, err := schema.Normalize(t.rt, in, schema.NormalizeOptions{DropReadOnly: true})
	if err != nil {
		if _, ok := scimerr.As(err); ok {
			return nil, err
		}
		return nil, scimerr.BadRequest(scimerr.InvalidValue, "invalid value for %q: %v", t.path, err)
	}
	if t.ext != "" {
		out, _ = out[t.ext].(map[string]any)
	}
	return out[t.attr.Name], nil
}

func isEmpty(v any) bool {
	l, ok := v.([]any)
	return v == nil || ok && len(l) == 0
}

// equal compares two values of attribute a, ignoring case unless a is caseExact.
func equal(a *schema.Attribute, x, y any) bool {
	xs, ok1 := x.(string)
	ys, ok2 := y.(string)
	if ok1 && ok2 && !a.CaseExact {
		return strings.ToLower(xs) == strings.ToLower(ys) // as valueKey folds
	}
	return reflect.DeepEqual(x, y)
}

func isPrimary(e any) bool {
	m, _ := e.(map[string]any)
	p, _ := m["primary"].(bool)
	return p
}

// onePrimary leaves at most one element of list primary: the last of the
// touched ones that is primary, if any, else the first (RFC 7643 §2.4).
func onePrimary(list []any, touched []int) []any {
	keep := -1
	for _, i := range touched {
		if isPrimary(list[i]) {
			keep = i
		}
	}
	for i, e := range list {
		if isPrimary(e) {
			if keep == -1 {
				keep = i
			} else if i != keep {
				e.(map[string]any)["primary"] = false
			}
		}
	}
	return list
}

// clean drops null values, empty arrays and empty objects, recursively, and
// leaves at most one primary element per array; it reports whether v ended up empty.
func clean(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case map[string]any:
		for k, sv := range x {
			if nv, empty := clean(sv); empty {
				delete(x, k)
			} else {
				x[k] = nv
			}
		}
		return x, len(x) == 0
	case []any:
		out := x[:0]
		for _, e := range x {
			if ne, empty := clean(e); !empty {
				out = append(out, ne)
			}
		}
		clear(x[len(out):])
		return onePrimary(out, nil), len(out) == 0
	}
	return v, false
}
