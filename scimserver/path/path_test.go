package path

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/filter"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

var validPaths = []struct {
	name, in string
	attr     filter.AttrPath
	filter   string // filter.String of ValueFilter, "" for none
	sub      string
	want     string // canonical String
}{
	// RFC 7644 §3.5.2 examples.
	{"RFC: multi-valued attribute", `members`, filter.AttrPath{Name: "members"}, "", "", `members`},
	{"RFC: sub-attribute", `name.familyName`, filter.AttrPath{Name: "name", Sub: "familyName"}, "", "", `name.familyName`},
	{"RFC: value filter", `addresses[type eq "work"]`, filter.AttrPath{Name: "addresses"}, `type eq "work"`, "", `addresses[type eq "work"]`},
	{"RFC: member by value", `members[value eq "2819c223-7f76-453a-919d-413861904646"]`, filter.AttrPath{Name: "members"}, `value eq "2819c223-7f76-453a-919d-413861904646"`, "", `members[value eq "2819c223-7f76-453a-919d-413861904646"]`},
	{"RFC: sub-attribute of a filtered member", `members[value eq "2819c223-7f76-453a-919d-413861904646"].displayName`, filter.AttrPath{Name: "members"}, `value eq "2819c223-7f76-453a-919d-413861904646"`, "displayName", `members[value eq "2819c223-7f76-453a-919d-413861904646"].displayName`},
	{"RFC: and inside a value filter", `emails[type eq "work" and value ew "example.com"]`, filter.AttrPath{Name: "emails"}, `type eq "work" and value ew "example.com"`, "", `emails[type eq "work" and value ew "example.com"]`},
	{"RFC: street address of the work address", `addresses[type eq "work"].streetAddress`, filter.AttrPath{Name: "addresses"}, `type eq "work"`, "streetAddress", `addresses[type eq "work"].streetAddress`},

	// Entra ID and Okta.
	{"Entra: work e-mail value", `emails[type eq "work"].value`, filter.AttrPath{Name: "emails"}, `type eq "work"`, "value", `emails[type eq "work"].value`},
	{"Entra: mobile phone", `phoneNumbers[type eq "mobile"].value`, filter.AttrPath{Name: "phoneNumbers"}, `type eq "mobile"`, "value", `phoneNumbers[type eq "mobile"].value`},
	{"Entra: enterprise manager", enterprise + `:manager`, filter.AttrPath{URN: enterprise, Name: "manager"}, "", "", enterprise + `:manager`},
	{"Entra: enterprise manager value", enterprise + `:manager.value`, filter.AttrPath{URN: enterprise, Name: "manager", Sub: "value"}, "", "", enterprise + `:manager.value`},
	{"Entra: enterprise employeeNumber", enterprise + `:employeeNumber`, filter.AttrPath{URN: enterprise, Name: "employeeNumber"}, "", "", enterprise + `:employeeNumber`},
	{"Entra: core URN-qualified sub-attribute", `urn:ietf:params:scim:schemas:core:2.0:User:name.givenName`, filter.AttrPath{URN: "urn:ietf:params:scim:schemas:core:2.0:User", Name: "name", Sub: "givenName"}, "", "", `urn:ietf:params:scim:schemas:core:2.0:User:name.givenName`},
	{"Entra: active", `active`, filter.AttrPath{Name: "active"}, "", "", `active`},
	{"Okta: member by value with upper-case operator", `members[value EQ "00u1"]`, filter.AttrPath{Name: "members"}, `value eq "00u1"`, "", `members[value eq "00u1"]`},
	{"Okta: unquoted value in a filter", `members[value eq 00u1abc]`, filter.AttrPath{Name: "members"}, `value eq "00u1abc"`, "", `members[value eq "00u1abc"]`},
	{"names keep their case", `Name.GivenName`, filter.AttrPath{Name: "Name", Sub: "GivenName"}, "", "", `Name.GivenName`},
	{"surrounding whitespace", "  userName\t", filter.AttrPath{Name: "userName"}, "", "", `userName`},
	{"$ref sub-attribute", `members.$ref`, filter.AttrPath{Name: "members", Sub: "$ref"}, "", "", `members.$ref`},
	{"URN-qualified value filter", `urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"].display`, filter.AttrPath{URN: "urn:ietf:params:scim:schemas:core:2.0:User", Name: "emails"}, `type eq "work"`, "display", `urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"].display`},
}

func TestParse(t *testing.T) {
	for _, tc := range validPaths {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			var f string
			if p.ValueFilter != nil {
				f = filter.String(p.ValueFilter)
			}
			if p.Attr != tc.attr || f != tc.filter || p.SubAttr != tc.sub {
				t.Errorf("Parse(%q) = %+v [%s] .%s; want %+v [%s] .%s", tc.in, p.Attr, f, p.SubAttr, tc.attr, tc.filter, tc.sub)
			}
			if got := p.String(); got != tc.want {
				t.Errorf("String() = %s, want %s", got, tc.want)
			}
			if again, err := Parse(p.String()); err != nil || !reflect.DeepEqual(again, p) {
				t.Errorf("%s does not round-trip: %v", p.String(), err)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name, in, detail string
	}{
		{"empty path", ``, `invalid path "": expected an attribute name, found end of path at position 0`},
		{"invalid attribute name", `1st`, `expected an attribute name, found "1st" at position 0`},
		{"two sub-attributes", `name.given.x`, `expected a sub-attribute name after "name", found "given.x" at position 5`},
		{"value filter on a sub-attribute", `name.givenName[value pr]`, `a value filter cannot follow the sub-attribute "name.givenName" at position 14`},
		{"invalid filter inside brackets", `members[value foo "x"]`, `expected a comparison operator after "value", found "foo" at position 14`},
		{"unclosed bracket", `members[value eq "x"`, `expected "and", "or" or "]", found end of path at position 20`},
		{"nested brackets", `emails[type[value pr] pr]`, `value filters cannot be nested at position 11`},
		{"garbage after the attribute", `members eq "x"`, `expected "[" or end of path, found "eq" at position 8`},
		{"garbage after the filter", `members[value pr] x`, `expected "." or end of path, found "x" at position 18`},
		{"garbage after the sub-attribute", `emails[type eq "work"].value x`, `expected end of path, found "x" at position 29`},
		{"missing sub-attribute", `emails[type eq "work"].`, `expected a sub-attribute name after ".", found end of path at position 23`},
		{"a filter is not a path", `userName eq "x" and title pr`, `expected "[" or end of path, found "eq" at position 9`},
		{"URN without a name", enterprise + `:`, `expected an attribute name after`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.in)
			se, ok := scimerr.As(err)
			if !ok {
				t.Fatalf("Parse(%q) = %+v, %v; want a *scimerr.Error", tc.in, p, err)
			}
			if se.Status != http.StatusBadRequest || se.ScimType != scimerr.InvalidPath || !strings.Contains(se.Detail, tc.detail) {
				t.Errorf("Parse(%q) error = %v, want 400 invalidPath containing %q", tc.in, se, tc.detail)
			}
		})
	}
}

func FuzzParsePath(f *testing.F) {
	for _, tc := range validPaths {
		f.Add(tc.in)
	}
	f.Add(`emails[type eq "work"].`)
	// Longer than the quoted part of the error and not valid UTF-8: the
	// detail's clipping once backed up past the start of the string.
	f.Add(strings.Repeat("\x80", 201))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if se, ok := scimerr.As(err); !ok || se.ScimType != scimerr.InvalidPath {
				t.Fatalf("Parse(%q): bad error %v", s, err)
			}
			return
		}
		if p.Attr.Name == "" {
			t.Fatalf("Parse(%q) has no attribute name", s)
		}
		again, err := Parse(p.String())
		if err != nil {
			if len(p.String()) > filter.MaxLength {
				t.Skip()
			}
			t.Fatalf("Parse(%q) ok, but its String %q fails: %v", s, p.String(), err)
		}
		if !reflect.DeepEqual(again, p) {
			t.Fatalf("Parse(%q) and Parse(%q) differ", s, p.String())
		}
	})
}
