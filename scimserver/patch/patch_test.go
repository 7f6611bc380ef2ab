package patch

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

const (
	userURN = schema.UserSchemaURN
	entURN  = schema.EnterpriseUserSchemaURN
)

// baseUser and baseGroup are the resources the cases patch unless they bring their own.
const baseUser = `{
	"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
	"id": "u1", "userName": "ann", "active": true,
	"name": {"givenName": "Ann", "familyName": "Lee"},
	"emails": [
		{"value": "ann@work.example", "type": "work", "primary": true},
		{"value": "ann@home.example", "type": "home"}
	],
	"meta": {"resourceType": "User", "version": "W/\"1\""}
}`

const baseGroup = `{
	"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
	"id": "g1", "displayName": "Eng",
	"members": [{"value": "a", "type": "User"}, {"value": "b", "type": "User"}],
	"meta": {"resourceType": "Group"}
}`

type applyCase struct {
	name string
	rt   *schema.ResourceType // nil: User
	res  string               // JSON resource; "" for the base resource of rt
	ops  string               // JSON array of operations
	// want lists the top-level attributes of the result that differ from
	// res; null means the attribute is gone. Unused when err is set.
	want string
	err  string // scimType of the expected 400 error
}

func TestApply(t *testing.T) {
	cases := []applyCase{
		// RFC 7644 §3.5.2 examples.
		{name: "RFC add of a member appends it to the group", rt: schema.GroupResourceType,
			ops:  `[{"op":"add","path":"members","value":[{"display":"Babs Jensen","$ref":"https://example.com/v2/Users/c","value":"c"}]}]`,
			want: `{"members":[{"value":"a","type":"User"},{"value":"b","type":"User"},{"display":"Babs Jensen","$ref":"https://example.com/v2/Users/c","value":"c"}]}`},
		{name: "RFC add without path adds each attribute of the value",
			ops: `[{"op":"add","value":{"emails":[{"value":"babs@jensen.org","type":"home"}],"nickname":"Babs"}}]`,
			want: `{"nickName":"Babs","emails":[{"value":"ann@work.example","type":"work","primary":true},{"value":"ann@home.example","type":"home"},
				{"value":"babs@jensen.org","type":"home"}]}`},
		{name: "RFC remove with a value filter removes the matching member", rt: schema.GroupResourceType,
			ops:  `[{"op":"remove","path":"members[value eq \"a\"]"}]`,
			want: `{"members":[{"value":"b","type":"User"}]}`},
		{name: "RFC remove of members without value removes them all", rt: schema.GroupResourceType,
			ops:  `[{"op":"remove","path":"members"}]`,
			want: `{"members":null}`},
		{name: "RFC remove with a complex filter removes the matching emails",
			ops:  `[{"op":"remove","path":"emails[type eq \"work\" and value ew \"work.example\"]"}]`,
			want: `{"emails":[{"value":"ann@home.example","type":"home"}]}`},
		{name: "RFC remove then add in one request replaces the members", rt: schema.GroupResourceType,
			ops:  `[{"op":"remove","path":"members"},{"op":"add","path":"members","value":[{"value":"c"},{"value":"d"}]}]`,
			want: `{"members":[{"value":"c"},{"value":"d"}]}`},
		{name: "RFC replace of members replaces the whole list", rt: schema.GroupResourceType,
			ops:  `[{"op":"replace","path":"members","value":[{"value":"c","display":"Cy"}]}]`,
			want: `{"members":[{"value":"c","display":"Cy"}]}`},
		{name: "RFC replace without path replaces each attribute of the value",
			ops:  `[{"op":"replace","value":{"emails":[{"value":"bjensen@example.com","type":"work","primary":true}],"nickname":"Babs"}}]`,
			want: `{"nickName":"Babs","emails":[{"value":"bjensen@example.com","type":"work","primary":true}]}`},
		{name: "RFC replace with a value filter replaces the whole matching element",
			res: `{"userName":"ann","addresses":[{"type":"work","streetAddress":"1 Old St","locality":"Nowhere"},{"type":"home","locality":"Home"}]}`,
			ops: `[{"op":"replace","path":"addresses[type eq \"work\"]","value":{"type":"work","streetAddress":"911 Universal City Plaza","postalCode":"91608","primary":true}}]`,
			want: `{"schemas":["` + userURN + `"],"addresses":[{"type":"work","streetAddress":"911 Universal City Plaza","postalCode":"91608","primary":true},
				{"type":"home","locality":"Home"}]}`},
		{name: "RFC replace of a filtered sub-attribute changes only that sub-attribute",
			res:  `{"userName":"ann","addresses":[{"type":"work","streetAddress":"1 Old St","locality":"Nowhere"}]}`,
			ops:  `[{"op":"replace","path":"addresses[type eq \"work\"].streetAddress","value":"1010 Broadway Ave"}]`,
			want: `{"schemas":["` + userURN + `"],"addresses":[{"type":"work","streetAddress":"1010 Broadway Ave","locality":"Nowhere"}]}`},
		{name: "RFC replace of a complex attribute keeps the sub-attributes the value omits",
			ops:  `[{"op":"replace","path":"name","value":{"givenName":"Anna","middleName":"M"}}]`,
			want: `{"name":{"givenName":"Anna","middleName":"M","familyName":"Lee"}}`},

		// Singular attributes.
		{name: "add of a singular attribute sets it",
			ops: `[{"op":"add","path":"title","value":"Boss"}]`, want: `{"title":"Boss"}`},
		{name: "add of name.givenName creates name when it is absent",
			res: `{"userName":"ann"}`, ops: `[{"op":"add","path":"name.givenName","value":"Ann"}]`,
			want: `{"schemas":["` + userURN + `"],"name":{"givenName":"Ann"}}`},
		{name: "replace of name.givenName keeps the other name parts",
			ops: `[{"op":"replace","path":"name.givenName","value":"Anna"}]`, want: `{"name":{"givenName":"Anna","familyName":"Lee"}}`},
		{name: "attribute names in paths match case-insensitively",
			ops:  `[{"op":"replace","path":"NAME.GIVENNAME","value":"Anna"},{"op":"add","path":"Title","value":"Boss"}]`,
			want: `{"title":"Boss","name":{"givenName":"Anna","familyName":"Lee"}}`},
		{name: "remove of name.givenName keeps familyName",
			ops: `[{"op":"remove","path":"name.givenName"}]`, want: `{"name":{"familyName":"Lee"}}`},
		{name: "remove of every name part drops the empty name",
			ops:  `[{"op":"remove","path":"name.givenName"},{"op":"remove","path":"name.familyName"}]`,
			want: `{"name":null}`},
		{name: "remove of a singular attribute unassigns it",
			ops: `[{"op":"remove","path":"active"}]`, want: `{"active":null}`},
		{name: "replace with a null value unassigns the attribute",
			ops: `[{"op":"replace","path":"name","value":null}]`, want: `{"name":null}`},
		{name: "remove of an absent attribute succeeds",
			ops: `[{"op":"remove","path":"title"},{"op":"remove","path":"name.middleName"}]`, want: `{}`},
		{name: "the core schema URN may qualify a path",
			ops: `[{"op":"replace","path":"` + userURN + `:userName","value":"anna"}]`, want: `{"userName":"anna"}`},
		{name: "add with the core schema URN as path adds the value's attributes",
			ops: `[{"op":"add","path":"` + userURN + `","value":{"title":"Boss"}}]`, want: `{"title":"Boss"}`},
		{name: "remove with the core schema URN as path fails with invalidPath",
			ops: `[{"op":"remove","path":"` + userURN + `"}]`, err: scimerr.InvalidPath},
		{name: "a write-only password is accepted and dropped",
			ops: `[{"op":"replace","path":"password","value":"s3cret"}]`, want: `{}`},

		// Multi-valued attributes.
		{name: "add of a single email object appends it",
			ops: `[{"op":"add","path":"emails","value":{"value":"ann@other.example","type":"other"}}]`,
			want: `{"emails":[{"value":"ann@work.example","type":"work","primary":true},{"value":"ann@home.example","type":"home"},
				{"value":"ann@other.example","type":"other"}]}`},
		{name: "add of an email already present is a no-op",
			ops: `[{"op":"add","path":"emails","value":[{"value":"ann@home.example","type":"home"}]}]`, want: `{}`},
		{name: "add of a primary email clears the former primary",
			ops: `[{"op":"add","path":"emails","value":[{"value":"ann@new.example","type":"other","primary":true}]}]`,
			want: `{"emails":[{"value":"ann@work.example","type":"work","primary":false},{"value":"ann@home.example","type":"home"},
				{"value":"ann@new.example","type":"other","primary":true}]}`},
		{name: "replace of emails[type eq \"home\"].primary makes only the home email primary",
			ops:  `[{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}]`,
			want: `{"emails":[{"value":"ann@work.example","type":"work","primary":false},{"value":"ann@home.example","type":"home","primary":true}]}`},
		{name: "replace of emails with an empty array removes them",
			ops: `[{"op":"replace","path":"emails","value":[]}]`, want: `{"emails":null}`},
		{name: "replace with a value filter that matches nothing fails with noTarget",
			ops: `[{"op":"replace","path":"emails[type eq \"other\"]","value":{"value":"x@y.z","type":"other"}}]`, err: scimerr.NoTarget},
		{name: "remove with a value filter that matches nothing succeeds",
			ops: `[{"op":"remove","path":"emails[type eq \"other\"]"}]`, want: `{}`},
		{name: "remove of a sub-attribute of filtered elements keeps the elements",
			ops:  `[{"op":"remove","path":"emails[type eq \"work\"].primary"}]`,
			want: `{"emails":[{"value":"ann@work.example","type":"work"},{"value":"ann@home.example","type":"home"}]}`},
		{name: "a sub-attribute path on a multi-valued attribute without filter addresses every element",
			ops:  `[{"op":"replace","path":"emails.display","value":"Ann"}]`,
			want: `{"emails":[{"value":"ann@work.example","type":"work","primary":true,"display":"Ann"},{"value":"ann@home.example","type":"home","display":"Ann"}]}`},

		// Entra ID.
		{name: "Entra capitalised ops and a string boolean are accepted",
			ops:  `[{"op":"Replace","path":"active","value":"False"},{"op":"Add","path":"title","value":"Boss"}]`,
			want: `{"active":false,"title":"Boss"}`},
		{name: "Entra Add to emails[type eq \"work\"].value sets the work email's value",
			ops:  `[{"op":"Add","path":"emails[type eq \"work\"].value","value":"ann@new.example"}]`,
			want: `{"emails":[{"value":"ann@new.example","type":"work","primary":true},{"value":"ann@home.example","type":"home"}]}`},
		{name: "Entra Add to emails[type eq \"work\"].value creates the work email when there is none",
			res:  `{"userName":"ann","emails":[{"value":"ann@home.example","type":"home"}]}`,
			ops:  `[{"op":"Add","path":"emails[type eq \"work\"].value","value":"ann@work.example"}]`,
			want: `{"schemas":["` + userURN + `"],"emails":[{"value":"ann@home.example","type":"home"},{"type":"work","value":"ann@work.example"}]}`},
		{name: "Entra Replace of emails[type eq \"work\"].value creates the work email when there is none",
			res:  `{"userName":"ann"}`,
			ops:  `[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"ann@work.example"}]`,
			want: `{"schemas":["` + userURN + `"],"emails":[{"type":"work","value":"ann@work.example"}]}`},
		{name: "Entra Replace without path accepts dotted, URN-qualified and string-boolean keys",
			ops: `[{"op":"Replace","value":{"name.givenName":"Anna","` + entURN + `:employeeNumber":"7","active":"False"}}]`,
			want: `{"schemas":["` + userURN + `","` + entURN + `"],"name":{"givenName":"Anna","familyName":"Lee"},"active":false,
				"` + entURN + `":{"employeeNumber":"7"}}`},
		{name: "Entra Add without path accepts a value-filter key",
			ops:  `[{"op":"Add","value":{"emails[type eq \"work\"].value":"ann@new.example"}}]`,
			want: `{"emails":[{"value":"ann@new.example","type":"work","primary":true},{"value":"ann@home.example","type":"home"}]}`},
		{name: "Entra Add of the manager as an array sets manager.value",
			ops:  `[{"op":"Add","path":"` + entURN + `:manager","value":[{"value":"m1"}]}]`,
			want: `{"schemas":["` + userURN + `","` + entURN + `"],"` + entURN + `":{"manager":{"value":"m1"}}}`},
		{name: "replace of the manager with a bare id sets manager.value",
			ops:  `[{"op":"replace","path":"` + entURN + `:manager","value":"m2"}]`,
			want: `{"schemas":["` + userURN + `","` + entURN + `"],"` + entURN + `":{"manager":{"value":"m2"}}}`},
		{name: "replace of manager.value through its URN-qualified path sets it",
			ops:  `[{"op":"replace","path":"` + entURN + `:manager.value","value":"m3"}]`,
			want: `{"schemas":["` + userURN + `","` + entURN + `"],"` + entURN + `":{"manager":{"value":"m3"}}}`},
		{name: "a read-only manager.displayName inside a value is dropped",
			ops:  `[{"op":"add","path":"` + entURN + `:manager","value":{"value":"m1","displayName":"Boss"}}]`,
			want: `{"schemas":["` + userURN + `","` + entURN + `"],"` + entURN + `":{"manager":{"value":"m1"}}}`},

		// Extensions.
		{name: "add without path accepts a nested extension object",
			ops:  `[{"op":"add","value":{"` + entURN + `":{"department":"R&D"}}}]`,
			want: `{"schemas":["` + userURN + `","` + entURN + `"],"` + entURN + `":{"department":"R&D"}}`},
		{name: "add with the extension URN as path adds the value's attributes",
			ops:  `[{"op":"add","path":"` + entURN + `","value":{"department":"R&D","costCenter":"42"}}]`,
			want: `{"schemas":["` + userURN + `","` + entURN + `"],"` + entURN + `":{"department":"R&D","costCenter":"42"}}`},
		{name: "remove of the manager drops the emptied extension and its schema URN",
			res:  `{"schemas":["` + userURN + `","` + entURN + `"],"userName":"ann","` + entURN + `":{"manager":{"value":"m1"}}}`,
			ops:  `[{"op":"remove","path":"` + entURN + `:manager"}]`,
			want: `{"schemas":["` + userURN + `"],"` + entURN + `":null}`},
		{name: "remove with the extension URN as path removes the extension",
			res:  `{"schemas":["` + userURN + `","` + entURN + `"],"userName":"ann","` + entURN + `":{"department":"R&D"}}`,
			ops:  `[{"op":"remove","path":"` + entURN + `"}]`,
			want: `{"schemas":["` + userURN + `"],"` + entURN + `":null}`},

		// Pathless values.
		{name: "Okta deactivation replaces active without path",
			ops: `[{"op":"replace","value":{"active":false}}]`, want: `{"active":false}`},
		{name: "a pathless value's unknown keys and read-only id, meta and schemas are ignored",
			ops:  `[{"op":"add","value":{"id":"other","meta":{"version":"x"},"schemas":["x"],"foo":1,"name.bar":2,"title":"Boss"}}]`,
			want: `{"title":"Boss"}`},
		{name: "a null key in a pathless replace unassigns that attribute",
			ops: `[{"op":"replace","value":{"name":null,"title":"Boss"}}]`, want: `{"name":null,"title":"Boss"}`},
		{name: "a null key in a pathless add is skipped",
			ops: `[{"op":"add","value":{"name":null,"title":"Boss"}}]`, want: `{"title":"Boss"}`},

		// Groups (Okta and Entra).
		{name: "add of a member already present is a no-op even with other attributes", rt: schema.GroupResourceType,
			ops: `[{"op":"add","path":"members","value":[{"value":"a","display":"Ann"}]}]`, want: `{}`},
		{name: "add of the same new member twice adds it once", rt: schema.GroupResourceType,
			ops:  `[{"op":"add","path":"members","value":[{"value":"c"},{"value":"C"}]},{"op":"add","path":"members","value":{"value":"c"}}]`,
			want: `{"members":[{"value":"a","type":"User"},{"value":"b","type":"User"},{"value":"c"}]}`},
		{name: "add without path appends members", rt: schema.GroupResourceType,
			ops:  `[{"op":"add","value":{"members":[{"value":"c"}]}}]`,
			want: `{"members":[{"value":"a","type":"User"},{"value":"b","type":"User"},{"value":"c"}]}`},
		{name: "Okta remove of one member and add of others in one PATCH", rt: schema.GroupResourceType,
			ops:  `[{"op":"remove","path":"members[value eq \"a\"]"},{"op":"add","path":"members","value":[{"value":"c","display":"Cy"},{"value":"b"}]}]`,
			want: `{"members":[{"value":"b","type":"User"},{"value":"c","display":"Cy"}]}`},
		{name: "Okta replace of members with the full list", rt: schema.GroupResourceType,
			ops:  `[{"op":"replace","path":"members","value":[{"value":"b","display":"Bo"},{"value":"c","display":"Cy"}]}]`,
			want: `{"members":[{"value":"b","display":"Bo"},{"value":"c","display":"Cy"}]}`},
		{name: "Okta group rename ignores the id in the value", rt: schema.GroupResourceType,
			ops: `[{"op":"replace","value":{"id":"g1","displayName":"Engineering"}}]`, want: `{"displayName":"Engineering"}`},
		{name: "Entra Remove of members with a value removes only the listed members", rt: schema.GroupResourceType,
			res:  `{"displayName":"Eng","members":[{"value":"a"},{"value":"b"},{"value":"c"}]}`,
			ops:  `[{"op":"Remove","path":"members","value":[{"value":"a"},{"value":"c"}]}]`,
			want: `{"schemas":["` + schema.GroupSchemaURN + `"],"members":[{"value":"b"}]}`},
		{name: "remove of members with a value matching nothing keeps every member", rt: schema.GroupResourceType,
			ops: `[{"op":"Remove","path":"members","value":[{"value":"zzz"}]}]`, want: `{}`},
		{name: "remove of a member that is not there succeeds", rt: schema.GroupResourceType,
			ops: `[{"op":"remove","path":"members[value eq \"zzz\"]"}]`, want: `{}`},
		{name: "a member's null $ref is dropped and its type canonicalised", rt: schema.GroupResourceType,
			ops:  `[{"op":"add","path":"members","value":[{"value":"c","$ref":null,"type":"group"}]}]`,
			want: `{"members":[{"value":"a","type":"User"},{"value":"b","type":"User"},{"value":"c","type":"Group"}]}`},
		{name: "replace of a member element keeping its value updates the other attributes", rt: schema.GroupResourceType,
			ops:  `[{"op":"replace","path":"members[value eq \"a\"]","value":{"value":"a","display":"Ann"}}]`,
			want: `{"members":[{"value":"a","type":"User","display":"Ann"},{"value":"b","type":"User"}]}`},

		// Errors.
		{name: "an unknown op fails with invalidSyntax", ops: `[{"op":"move","path":"title","value":"x"}]`, err: scimerr.InvalidSyntax},
		{name: "add without a value fails with invalidValue", ops: `[{"op":"add","path":"title"}]`, err: scimerr.InvalidValue},
		{name: "remove without a path fails with noTarget", ops: `[{"op":"remove"}]`, err: scimerr.NoTarget},
		{name: "replace without path and with a non-object value fails with invalidValue",
			ops: `[{"op":"replace","value":"x"}]`, err: scimerr.InvalidValue},
		{name: "an unknown attribute path fails with invalidPath", ops: `[{"op":"add","path":"foo","value":"x"}]`, err: scimerr.InvalidPath},
		{name: "an unknown sub-attribute path fails with invalidPath", ops: `[{"op":"add","path":"name.bar","value":"x"}]`, err: scimerr.InvalidPath},
		{name: "a malformed path fails with invalidPath", ops: `[{"op":"add","path":"emails[type eq","value":"x"}]`, err: scimerr.InvalidPath},
		{name: "a value filter on a singular attribute fails with invalidPath",
			ops: `[{"op":"replace","path":"name[givenName eq \"Ann\"].familyName","value":"x"}]`, err: scimerr.InvalidPath},
		{name: "replace of id fails with mutability", ops: `[{"op":"replace","path":"id","value":"u2"}]`, err: scimerr.Mutability},
		{name: "remove of meta fails with mutability", ops: `[{"op":"remove","path":"meta"}]`, err: scimerr.Mutability},
		{name: "add of meta.version fails with mutability", ops: `[{"op":"add","path":"meta.version","value":"x"}]`, err: scimerr.Mutability},
		{name: "add of groups fails with mutability", ops: `[{"op":"add","path":"groups","value":[{"value":"g1"}]}]`, err: scimerr.Mutability},
		{name: "replace of a manager's read-only displayName fails with mutability",
			ops: `[{"op":"replace","path":"` + entURN + `:manager.displayName","value":"x"}]`, err: scimerr.Mutability},
		{name: "replace of a member's immutable value fails with mutability", rt: schema.GroupResourceType,
			ops: `[{"op":"replace","path":"members[value eq \"a\"].value","value":"z"}]`, err: scimerr.Mutability},
		{name: "replace of a member element by another member fails with mutability", rt: schema.GroupResourceType,
			ops: `[{"op":"replace","path":"members[value eq \"a\"]","value":{"value":"z"}}]`, err: scimerr.Mutability},
		{name: "replace of a member's immutable type fails with mutability", rt: schema.GroupResourceType,
			ops: `[{"op":"replace","path":"members[value eq \"a\"]","value":{"value":"a","type":"Group"}}]`, err: scimerr.Mutability},
		{name: "a non-boolean active fails with invalidValue", ops: `[{"op":"replace","path":"active","value":"maybe"}]`, err: scimerr.InvalidValue},
		{name: "a string for the complex name fails with invalidValue", ops: `[{"op":"replace","path":"name","value":"Ann"}]`, err: scimerr.InvalidValue},
		{name: "a wrong-typed value in a pathless replace fails with invalidValue",
			ops: `[{"op":"replace","value":{"active":"maybe"}}]`, err: scimerr.InvalidValue},
		{name: "removing the required userName fails with invalidValue", ops: `[{"op":"remove","path":"userName"}]`, err: scimerr.InvalidValue},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, base := tc.rt, tc.res
			if rt == nil {
				rt = schema.UserResourceType
			}
			if base == "" {
				base = baseUser
				if rt == schema.GroupResourceType {
					base = baseGroup
				}
			}
			res := decode[map[string]any](t, base)
			before := decode[map[string]any](t, base)
			got, err := Apply(rt, res, decode[[]Operation](t, tc.ops))
			if !reflect.DeepEqual(res, before) {
				t.Errorf("Apply modified its input:\n%s", show(res))
			}
			if tc.err != "" {
				assertSCIMError(t, err, http.StatusBadRequest, tc.err)
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			want := decode[map[string]any](t, base)
			for k, v := range decode[map[string]any](t, tc.want) {
				if v == nil {
					delete(want, k)
				} else {
					want[k] = v
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%s\nwant\n%s", show(got), show(want))
			}
		})
	}
}

func TestApplyIsAtomic(t *testing.T) {
	res := decode[map[string]any](t, baseUser)
	ops := decode[[]Operation](t, `[{"op":"replace","path":"title","value":"Boss"},{"op":"remove","path":"emails"},{"op":"replace","path":"id","value":"u2"}]`)
	got, err := Apply(schema.UserResourceType, res, ops)
	assertSCIMError(t, err, http.StatusBadRequest, scimerr.Mutability)
	if got != nil {
		t.Errorf("Apply returned a resource with its error: %s", show(got))
	}
	if e, _ := scimerr.As(err); !strings.Contains(e.Detail, "operation 3") {
		t.Errorf("detail %q does not name the failing operation", e.Detail)
	}
	if want := decode[map[string]any](t, baseUser); !reflect.DeepEqual(res, want) {
		t.Errorf("the failed PATCH left changes behind:\n%s", show(res))
	}
}

func TestDecodeRequest(t *testing.T) {
	cases := []struct {
		name string
		body string
		want *Request
		err  string
	}{
		{name: "an RFC body decodes",
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"title","value":"Boss"}]}`,
			want: &Request{Schemas: []string{schema.PatchOpURN}, Operations: []Operation{{Op: "add", Path: "title", Value: "Boss"}}}},
		{name: "member names match case-insensitively",
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"operations":[{"Op":"Replace","Path":"active","Value":false}]}`,
			want: &Request{Schemas: []string{schema.PatchOpURN}, Operations: []Operation{{Op: "Replace", Path: "active", Value: false}}}},
		{name: "a body without schemas is accepted",
			body: `{"Operations":[{"op":"remove","path":"title"}]}`,
			want: &Request{Operations: []Operation{{Op: "remove", Path: "title"}}}},
		{name: "invalid JSON fails with invalidSyntax", body: `{"Operations":[`, err: scimerr.InvalidSyntax},
		{name: "a non-object body fails with invalidSyntax", body: `[1]`, err: scimerr.InvalidSyntax},
		{name: "schemas without the PatchOp URN fail with invalidSyntax",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"remove","path":"title"}]}`, err: scimerr.InvalidSyntax},
		{name: "a body without operations fails with invalidSyntax",
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}`, err: scimerr.InvalidSyntax},
		{name: "more than MaxOperations operations fail with invalidValue",
			body: `{"Operations":[` + strings.Repeat(`{"op":"remove","path":"title"},`, MaxOperations) + `{"op":"remove","path":"title"}]}`, err: scimerr.InvalidValue},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tc.body))
			if tc.err != "" {
				assertSCIMError(t, err, http.StatusBadRequest, tc.err)
				return
			}
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzApply(f *testing.F) {
	for _, body := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"c"}]}]}`,
		`{"Operations":[{"op":"remove","path":"members[value eq \"a\"]"},{"op":"add","path":"members","value":[{"value":"b"}]}]}`,
		`{"Operations":[{"op":"replace","value":{"active":false}}]}`,
		`{"Operations":[{"op":"Replace","value":{"name.givenName":"Ann","` + entURN + `:employeeNumber":"7","active":"False"}}]}`,
		`{"Operations":[{"op":"Add","path":"emails[type eq \"work\"].value","value":"a@b.c"}]}`,
		`{"Operations":[{"op":"Replace","path":"emails[type eq \"work\" and primary eq true].value","value":"a@b.c"}]}`,
		`{"Operations":[{"op":"Remove","path":"members","value":[{"value":"a"}]}]}`,
		`{"Operations":[{"op":"Add","path":"` + entURN + `:manager","value":[{"value":"m"}]}]}`,
		`{"Operations":[{"op":"replace","path":"addresses[type eq \"work\"]","value":{"type":"work","primary":true}}]}`,
		`{"Operations":[{"op":"add","path":"` + entURN + `","value":{"department":"x"}}]}`,
		`{"Operations":[{"op":"replace","path":"emails[not (type eq \"work\") or value pr].display","value":["x"]}]}`,
		`{"Operations":[{"op":"remove","path":"name.givenName"},{"op":"replace","path":"id","value":1}]}`,
	} {
		f.Add([]byte(body))
	}
	user := decode[map[string]any](f, baseUser)
	user[entURN] = map[string]any{"manager": map[string]any{"value": "m"}, "department": "x"}
	group := decode[map[string]any](f, baseGroup)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(body)
		if err != nil {
			if _, ok := scimerr.As(err); !ok {
				t.Fatalf("DecodeRequest returned a non-SCIM error: %v", err)
			}
			return
		}
		for _, c := range []struct {
			rt  *schema.ResourceType
			res map[string]any
		}{{schema.UserResourceType, user}, {schema.GroupResourceType, group}} {
			before := schema.DeepCopy(c.res)
			if _, err := Apply(c.rt, c.res, req.Operations); err != nil {
				if e, ok := scimerr.As(err); !ok || e.Status != http.StatusBadRequest {
					t.Fatalf("Apply returned %v, want a 400 SCIM error", err)
				}
			}
			if !reflect.DeepEqual(c.res, before) {
				t.Fatalf("Apply modified its input")
			}
		}
	})
}

func assertSCIMError(t *testing.T, err error, status int, scimType string) {
	t.Helper()
	e, ok := scimerr.As(err)
	if !ok {
		t.Fatalf("got error %v, want a *scimerr.Error %d %s", err, status, scimType)
	}
	if e.Status != status || e.ScimType != scimType {
		t.Errorf("got %d %s (%s), want %d %s", e.Status, e.ScimType, e.Detail, status, scimType)
	}
}

func decode[T any](t testing.TB, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return v
}

func show(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
