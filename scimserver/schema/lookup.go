package schema

import "strings"

// Attribute and schema names are case-insensitive in SCIM (RFC 7643 §2.1),
// and IdPs do send "UserName" or lower-cased extension URNs, so every lookup
// here folds case. The definitions hold the canonical spelling, which is what
// the rest of the server stores and returns.

// Sub returns the sub-attribute called name, or nil. A nil receiver yields nil
// so callers can chain rt.Attribute(...).Sub(...) without checks.
func (a *Attribute) Sub(name string) *Attribute {
	if a == nil {
		return nil
	}
	return find(a.SubAttributes, name)
}

// Attribute returns the schema's top-level attribute called name, or nil.
func (s *Schema) Attribute(name string) *Attribute {
	if s == nil {
		return nil
	}
	return find(s.Attributes, name)
}

func find(attrs []*Attribute, name string) *Attribute {
	for _, a := range attrs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// EqualFold compares two values of a string-typed attribute the way RFC 7643
// §2.2 caseExact demands: exactly when caseExact, case-insensitively
// otherwise. A nil attribute (one the schema does not know) compares
// case-insensitively, the RFC default.
func (a *Attribute) EqualFold(x, y string) bool {
	if a != nil && a.CaseExact {
		return x == y
	}
	return strings.EqualFold(x, y)
}

// Schemas returns the core schema followed by the extension schemas.
func (rt *ResourceType) Schemas() []*Schema {
	out := []*Schema{rt.Schema}
	for _, e := range rt.Extensions {
		out = append(out, e.Schema)
	}
	return out
}

// SchemaFor returns the core or extension schema with the given URN; "" means
// the core schema. It returns nil for a URN the resource type does not have.
func (rt *ResourceType) SchemaFor(urn string) *Schema {
	if urn == "" {
		return rt.Schema
	}
	for _, s := range rt.Schemas() {
		if strings.EqualFold(s.ID, urn) {
			return s
		}
	}
	return nil
}

// IsSchemaURN reports whether s names the core or an extension schema of rt.
func (rt *ResourceType) IsSchemaURN(s string) bool {
	return s != "" && rt.SchemaFor(s) != nil
}

// Attribute finds a top-level attribute of the schema named by urn ("" for the
// core schema). The common attributes id, externalId and meta are found
// through the core schema, which is the schema returned with them, because
// clients write them unqualified next to core attributes. It returns nil, nil
// for an unknown schema or attribute.
func (rt *ResourceType) Attribute(urn, name string) (*Attribute, *Schema) {
	s := rt.SchemaFor(urn)
	if s == nil {
		return nil, nil
	}
	a := s.Attribute(name)
	if a == nil && s == rt.Schema {
		a = find(CommonAttributes, name)
	}
	if a == nil {
		return nil, nil
	}
	return a, s
}

// topAttributes lists what may appear directly in a schema's JSON object:
// for the core schema that includes the common attributes.
// They come as two lists, so that listing them allocates nothing: a list page
// projects 100 resources.
func (rt *ResourceType) topAttributes(s *Schema) [2][]*Attribute {
	if s != rt.Schema {
		return [2][]*Attribute{nil, s.Attributes}
	}
	return [2][]*Attribute{CommonAttributes, s.Attributes}
}

// SplitURN splits a URN-qualified attribute name (RFC 7644 §3.10) such as
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
// into the canonical spelling of the schema URN and the rest
// ("manager.value"). A bare schema URN yields (urn, ""). Names that do not
// start with one of rt's schema URNs followed by ':' are returned unchanged
// with urn "".
//
// Only known URNs are matched, and the longest one wins, because URNs contain
// ':' and '.' themselves ("…:2.0:User"), so no syntactic rule can tell where
// the URN ends and the attribute name begins.
func (rt *ResourceType) SplitURN(name string) (urn, rest string) {
	for _, s := range rt.Schemas() {
		id := s.ID
		if len(id) <= len(urn) || len(name) < len(id) || !strings.EqualFold(name[:len(id)], id) {
			continue
		}
		switch {
		case len(name) == len(id):
			urn, rest = id, ""
		case name[len(id)] == ':':
			urn, rest = id, name[len(id)+1:]
		}
	}
	if urn == "" {
		return "", name
	}
	return urn, rest
}

// container returns the JSON object holding s's attributes within res: res
// itself for the core schema, res[urn] for an extension (nil if absent).
func (rt *ResourceType) container(res map[string]any, s *Schema) map[string]any {
	if s == rt.Schema {
		return res
	}
	m, _ := res[s.ID].(map[string]any)
	return m
}

// SetSchemas rebuilds res["schemas"] from the data present: the core URN plus
// every extension URN whose object is non-empty. RFC 7643 §3 requires the
// list to match the attributes actually present, and clients' lists are
// unreliable (misspelled URNs, extensions listed but not sent), so the server
// never trusts them. Call it again after anything that adds or removes an
// extension object, such as a PATCH. The value is a []any of strings, the
// shape encoding/json produces.
func SetSchemas(rt *ResourceType, res map[string]any) {
	list := []any{rt.Schema.ID}
	for _, e := range rt.Extensions {
		if len(rt.container(res, e.Schema)) > 0 {
			list = append(list, e.Schema.ID)
		}
	}
	res["schemas"] = list
}
