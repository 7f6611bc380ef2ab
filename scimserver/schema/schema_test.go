package schema

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const (
	core = UserSchemaURN
	ent  = EnterpriseUserSchemaURN
)

// decode parses a JSON object literal the way the HTTP layer would.
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

// jsonEqual compares got with the JSON literal want after a JSON round trip,
// so Go types ([]string vs []any) do not matter.
func jsonEqual(t *testing.T, got any, want string) {
	t.Helper()
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var g, w any
	_ = json.Unmarshal(b, &g)
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad test JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

// lookup resolves a possibly URN-qualified "attr" or "attr.sub" name.
func lookup(rt *ResourceType, name string) *Attribute {
	urn, rest := rt.SplitURN(name)
	n, sub, dotted := strings.Cut(rest, ".")
	a, _ := rt.Attribute(urn, n)
	if dotted {
		return a.Sub(sub)
	}
	return a
}

func TestDefinitionsFollowRFC7643(t *testing.T) {
	type want struct {
		typ        Type
		multi      bool
		required   bool
		caseExact  bool
		mutability Mutability
		returned   Returned
		uniqueness Uniqueness
	}
	rw := func(typ Type) want { return want{typ, false, false, false, ReadWrite, ReturnedDefault, UniquenessNone} }
	tests := []struct {
		rt   *ResourceType
		name string
		want want
	}{
		{UserResourceType, "id", want{TypeString, false, false, true, ReadOnly, ReturnedAlways, UniquenessServer}},
		{UserResourceType, "externalId", want{TypeString, false, false, true, ReadWrite, ReturnedDefault, UniquenessNone}},
		{UserResourceType, "meta", want{TypeComplex, false, false, false, ReadOnly, ReturnedDefault, UniquenessNone}},
		{UserResourceType, "meta.lastModified", want{TypeDateTime, false, false, false, ReadOnly, ReturnedDefault, UniquenessNone}},
		{UserResourceType, "meta.version", want{TypeString, false, false, true, ReadOnly, ReturnedDefault, UniquenessNone}},
		{UserResourceType, "userName", want{TypeString, false, true, false, ReadWrite, ReturnedDefault, UniquenessServer}},
		{UserResourceType, "name.honorificSuffix", rw(TypeString)},
		{UserResourceType, "profileUrl", rw(TypeReference)},
		{UserResourceType, "timezone", rw(TypeString)},
		{UserResourceType, "active", rw(TypeBoolean)},
		{UserResourceType, "password", want{TypeString, false, false, false, WriteOnly, ReturnedNever, UniquenessNone}},
		{UserResourceType, "emails", want{TypeComplex, true, false, false, ReadWrite, ReturnedDefault, UniquenessNone}},
		{UserResourceType, "emails.primary", rw(TypeBoolean)},
		{UserResourceType, "photos.value", rw(TypeReference)},
		{UserResourceType, "addresses.postalCode", rw(TypeString)},
		{UserResourceType, "addresses.primary", rw(TypeBoolean)},
		{UserResourceType, "groups", want{TypeComplex, true, false, false, ReadOnly, ReturnedDefault, UniquenessNone}},
		{UserResourceType, "groups.$ref", want{TypeReference, false, false, false, ReadOnly, ReturnedDefault, UniquenessNone}},
		{UserResourceType, "x509Certificates.value", rw(TypeBinary)},
		{UserResourceType, ent + ":employeeNumber", rw(TypeString)},
		{UserResourceType, ent + ":manager", rw(TypeComplex)},
		{UserResourceType, ent + ":manager.displayName", want{TypeString, false, false, false, ReadOnly, ReturnedDefault, UniquenessNone}},
		{GroupResourceType, "displayName", want{TypeString, false, true, false, ReadWrite, ReturnedDefault, UniquenessNone}},
		{GroupResourceType, "members.value", want{TypeString, false, false, false, Immutable, ReturnedDefault, UniquenessNone}},
		{GroupResourceType, "members.$ref", want{TypeReference, false, false, false, Immutable, ReturnedDefault, UniquenessNone}},
		{GroupResourceType, "members.display", rw(TypeString)},
		{GroupResourceType, "members.type", want{TypeString, false, false, false, Immutable, ReturnedDefault, UniquenessNone}},
	}
	for _, tt := range tests {
		t.Run(tt.rt.ID+" "+tt.name, func(t *testing.T) {
			a := lookup(tt.rt, tt.name)
			if a == nil {
				t.Fatal("not defined")
			}
			got := want{a.Type, a.MultiValued, a.Required, a.CaseExact, a.Mutability, a.Returned, a.Uniqueness}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEveryUserMultiValuedAttributeHasValueDisplayTypePrimary(t *testing.T) {
	for _, name := range []string{"emails", "phoneNumbers", "ims", "photos", "entitlements", "roles", "x509Certificates"} {
		a, _ := UserResourceType.Attribute("", name)
		var subs []string
		for _, s := range a.SubAttributes {
			subs = append(subs, s.Name)
		}
		if got := strings.Join(subs, ","); got != "value,display,type,primary" {
			t.Errorf("%s has sub-attributes %s", name, got)
		}
	}
}

func TestPasswordIsSensitiveAndMembersTypeIsClosed(t *testing.T) {
	if !lookup(UserResourceType, "password").Sensitive {
		t.Error("password is not Sensitive")
	}
	mt := lookup(GroupResourceType, "members.type")
	if !mt.CanonicalOnly || !reflect.DeepEqual(mt.CanonicalValues, []string{"User", "Group"}) {
		t.Errorf("members.type canonical values %v (closed %v)", mt.CanonicalValues, mt.CanonicalOnly)
	}
}

func TestUserResourceTypeHasOptionalEnterpriseExtension(t *testing.T) {
	ext := UserResourceType.Extensions
	if len(ext) != 1 || ext[0].Schema != EnterpriseUserSchema || ext[0].Required {
		t.Errorf("extensions %+v", ext)
	}
	if len(GroupResourceType.Extensions) != 0 {
		t.Error("Group has extensions")
	}
}

func TestAttributeLookupIsCaseInsensitive(t *testing.T) {
	tests := []struct {
		name      string
		urn, attr string
		want      string // canonical name, "" for not found
		schema    *Schema
	}{
		{"core attribute without URN", "", "USERNAME", "userName", UserSchema},
		{"core attribute with the core URN", strings.ToUpper(core), "emails", "emails", UserSchema},
		{"common attribute id", "", "ID", "id", UserSchema},
		{"common attribute through the core URN", core, "externalid", "externalId", UserSchema},
		{"extension attribute", strings.ToLower(ent), "Manager", "manager", EnterpriseUserSchema},
		{"common attribute is not in an extension", ent, "id", "", nil},
		{"core attribute is not in an extension", ent, "userName", "", nil},
		{"unknown attribute", "", "nope", "", nil},
		{"unknown schema", "urn:example:x", "userName", "", nil},
		{"sub-attribute paths are not top-level names", "", "name.givenName", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, s := UserResourceType.Attribute(tt.urn, tt.attr)
			got := ""
			if a != nil {
				got = a.Name
			}
			if got != tt.want || s != tt.schema {
				t.Errorf("got %q in %v, want %q in %v", got, s, tt.want, tt.schema)
			}
		})
	}
	if got := lookup(UserResourceType, "NAME.GIVENNAME"); got == nil || got.Name != "givenName" {
		t.Errorf("Sub is case-sensitive: %v", got)
	}
	var none *Attribute
	if none.Sub("x") != nil {
		t.Error("Sub on nil attribute")
	}
}

func TestSchemaForAndIsSchemaURN(t *testing.T) {
	rt := UserResourceType
	if rt.SchemaFor("") != UserSchema || rt.SchemaFor(strings.ToUpper(ent)) != EnterpriseUserSchema || rt.SchemaFor(GroupSchemaURN) != nil {
		t.Error("SchemaFor")
	}
	for s, want := range map[string]bool{core: true, strings.ToLower(ent): true, "": false, GroupSchemaURN: false, ent + ":manager": false} {
		if got := rt.IsSchemaURN(s); got != want {
			t.Errorf("IsSchemaURN(%q) = %v", s, got)
		}
	}
}

func TestSplitURN(t *testing.T) {
	tests := []struct {
		name, in, urn, rest string
	}{
		{"extension sub-attribute", ent + ":manager.value", ent, "manager.value"},
		{"lower-case URN gets the canonical spelling", strings.ToLower(ent) + ":department", ent, "department"},
		{"core attribute", core + ":name.givenName", core, "name.givenName"},
		{"bare extension URN", ent, ent, ""},
		{"unqualified name", "userName", "", "userName"},
		{"unknown URN", "urn:ietf:params:scim:schemas:extension:misspelled:2.0:User:x", "", "urn:ietf:params:scim:schemas:extension:misspelled:2.0:User:x"},
		{"URN prefix without colon", ent + "x:department", "", ent + "x:department"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			urn, rest := UserResourceType.SplitURN(tt.in)
			if urn != tt.urn || rest != tt.rest {
				t.Errorf("got (%q, %q), want (%q, %q)", urn, rest, tt.urn, tt.rest)
			}
		})
	}
}

func TestSplitURNPrefersTheLongestURN(t *testing.T) {
	short := &Schema{ID: "urn:example:a"}
	long := &Schema{ID: "urn:example:a:b"}
	rt := &ResourceType{Schema: short, Extensions: []SchemaExtension{{Schema: long}}}
	if urn, rest := rt.SplitURN("urn:example:A:B:c"); urn != long.ID || rest != "c" {
		t.Errorf("got (%q, %q)", urn, rest)
	}
}

func TestEqualFoldHonoursCaseExact(t *testing.T) {
	id, _ := UserResourceType.Attribute("", "id")
	userName, _ := UserResourceType.Attribute("", "userName")
	var unknown *Attribute
	tests := []struct {
		name string
		a    *Attribute
		x, y string
		want bool
	}{
		{"caseExact attribute differs by case", id, "abc", "ABC", false},
		{"caseExact attribute equal", id, "abc", "abc", true},
		{"case-insensitive attribute differs by case", userName, "Bob", "bob", true},
		{"case-insensitive attribute differs", userName, "Bob", "Rob", false},
		{"unknown attribute is case-insensitive", unknown, "X", "x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.EqualFold(tt.x, tt.y); got != tt.want {
				t.Errorf("got %v", got)
			}
		})
	}
}
