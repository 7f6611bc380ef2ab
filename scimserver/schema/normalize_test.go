package schema

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// entraPost is the shape of the body Microsoft Entra ID sends to create a
// User: explicit nulls, an empty roles array, a stray meta, a boolean as a
// string, a number for employeeNumber and the manager as a one-element array.
const entraPost = `{
	"schemas": [
		"urn:ietf:params:scim:schemas:core:2.0:User",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
		"urn:ietf:params:scim:schemas:extension:enterprse:2.0:User"
	],
	"externalId": "0a21f0f2-8d2a-4f8e-bf98-7d2c6a3f1e11",
	"userName": "Test_User_ab6490ee@contoso.com",
	"active": "True",
	"displayName": "BobIsAmazing",
	"title": null,
	"emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
	"meta": {"resourceType": "User"},
	"name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName", "middleName": null},
	"roles": [],
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
		"employeeNumber": 12345,
		"department": "Eng",
		"costCenter": null,
		"manager": [{"value": "mgr-id"}]
	},
	"urn:ietf:params:scim:schemas:extension:enterprse:2.0:User": {"department": "typo"}
}`

// oktaPut is the shape of Okta's PUT: the whole resource as last read,
// read-only attributes included, plus a password.
const oktaPut = `{
	"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
	"id": "23a35c27-23d3-4c03-b4c5-6443c09e7173",
	"userName": "test.user@okta.local",
	"name": {"givenName": "Another", "familyName": "User"},
	"emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
	"displayName": "Another User",
	"locale": "en-US",
	"externalId": "00u1dhhb1fkIGP7RL1d8",
	"groups": [{"value": "g1", "display": "Admins"}],
	"password": "1mz050nq",
	"active": true,
	"meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z", "lastModified": "2024-01-02T00:00:00Z", "location": "https://x/Users/23a35c27", "version": "W/\"1\""}
}`

func TestNormalize(t *testing.T) {
	put := NormalizeOptions{DropReadOnly: true}
	tests := []struct {
		name string
		rt   *ResourceType
		opts NormalizeOptions
		in   string
		want string
	}{
		{
			name: "Entra POST body becomes canonical",
			rt:   UserResourceType, opts: put, in: entraPost,
			want: `{
				"schemas": ["` + core + `", "` + ent + `"],
				"externalId": "0a21f0f2-8d2a-4f8e-bf98-7d2c6a3f1e11",
				"userName": "Test_User_ab6490ee@contoso.com",
				"active": true,
				"displayName": "BobIsAmazing",
				"emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
				"name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
				"` + ent + `": {"employeeNumber": "12345", "department": "Eng", "manager": {"value": "mgr-id"}}
			}`,
		},
		{
			name: "Okta PUT loses id, meta, groups and password",
			rt:   UserResourceType, opts: put, in: oktaPut,
			want: `{
				"schemas": ["` + core + `"],
				"userName": "test.user@okta.local",
				"name": {"givenName": "Another", "familyName": "User"},
				"emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
				"displayName": "Another User",
				"locale": "en-US",
				"externalId": "00u1dhhb1fkIGP7RL1d8",
				"active": true
			}`,
		},
		{
			name: "read-only attributes stay when not dropping them, password does not",
			rt:   UserResourceType, in: `{"id": "1", "password": "x", "groups": [{"value": "g"}], "meta": {"version": "v"}}`,
			want: `{"schemas": ["` + core + `"], "id": "1", "groups": [{"value": "g"}], "meta": {"version": "v"}}`,
		},
		{
			name: "keys get their canonical case at every level",
			rt:   UserResourceType, in: `{"USERNAME": "bob", "Name": {"GivenName": "Bob"}, "eMails": [{"VALUE": "b@x", "Primary": "FALSE"}], "` + strings.ToUpper(ent) + `": {"Department": "Ops"}}`,
			want: `{"schemas": ["` + core + `", "` + ent + `"], "userName": "bob", "name": {"givenName": "Bob"}, "emails": [{"value": "b@x", "primary": false}], "` + ent + `": {"department": "Ops"}}`,
		},
		{
			name: "core-URN-qualified keys are unqualified",
			rt:   UserResourceType, in: `{"` + core + `:userName": "bob", "` + core + `:name.familyName": "Jensen"}`,
			want: `{"schemas": ["` + core + `"], "userName": "bob", "name": {"familyName": "Jensen"}}`,
		},
		{
			name: "URN-qualified extension keys move under the extension object",
			rt:   UserResourceType, in: `{"userName": "bob", "` + ent + `:manager": "m1", "` + strings.ToLower(ent) + `:department": "Ops", "` + ent + `:manager.$ref": "../Users/m1"}`,
			want: `{"schemas": ["` + core + `", "` + ent + `"], "userName": "bob", "` + ent + `": {"manager": {"value": "m1", "$ref": "../Users/m1"}, "department": "Ops"}}`,
		},
		{
			name: "nested and URN-qualified extension forms merge",
			rt:   UserResourceType, in: `{"` + ent + `": {"division": "D", "manager": {"value": "old", "displayName": "Old"}}, "` + ent + `:manager": {"value": "new"}}`,
			want: `{"schemas": ["` + core + `", "` + ent + `"], "` + ent + `": {"division": "D", "manager": {"value": "new", "displayName": "Old"}}}`,
		},
		{
			name: "manager's read-only displayName is dropped for PUT",
			rt:   UserResourceType, opts: put, in: `{"` + ent + `": {"manager": {"value": "m", "displayName": "Boss"}}}`,
			want: `{"schemas": ["` + core + `", "` + ent + `"], "` + ent + `": {"manager": {"value": "m"}}}`,
		},
		{
			name: "dotted keys in a PATCH value set sub-attributes",
			rt:   UserResourceType, in: `{"name.givenName": "Barbara", "name": {"familyName": "Jensen"}, "name.nope": "x"}`,
			want: `{"schemas": ["` + core + `"], "name": {"givenName": "Barbara", "familyName": "Jensen"}}`,
		},
		{
			name: "a single complex value for a multi-valued attribute is wrapped",
			rt:   UserResourceType, in: `{"emails": {"value": "b@x"}, "phoneNumbers": "+1 555"}`,
			want: `{"schemas": ["` + core + `"], "emails": [{"value": "b@x"}], "phoneNumbers": [{"value": "+1 555"}]}`,
		},
		{
			name: "null and empty values mean unassigned",
			rt:   UserResourceType, in: `{"userName": "bob", "nickName": null, "emails": [null, {}, {"value": null}], "name": {}, "ims": [], "` + ent + `": {"manager": null}, "` + ent + `:department": null}`,
			want: `{"schemas": ["` + core + `"], "userName": "bob"}`,
		},
		{
			name: "unknown attributes and schemas are dropped",
			rt:   UserResourceType, in: `{"userName": "bob", "foo": 1, "name": {"nick": "x"}, "urn:example:custom:1.0:User": {"a": 1}, "urn:example:custom:1.0:User:b": 2, "` + ent + `": {"badge": 7}}`,
			want: `{"schemas": ["` + core + `"], "userName": "bob"}`,
		},
		{
			name: "the enterprise extension is unknown to Group",
			rt:   GroupResourceType, in: `{"displayName": "G", "` + ent + `": {"department": "x"}, "members": [{"Value": "u1", "Type": "user", "display": "Bob"}]}`,
			want: `{"schemas": ["` + GroupSchemaURN + `"], "displayName": "G", "members": [{"value": "u1", "type": "user", "display": "Bob"}]}`,
		},
		{
			name: "member ids given as strings become objects",
			rt:   GroupResourceType, in: `{"members": ["u1", "u2"]}`,
			want: `{"schemas": ["` + GroupSchemaURN + `"], "members": [{"value": "u1"}, {"value": "u2"}]}`,
		},
		{
			name: "one-element arrays for singular attributes are unwrapped",
			rt:   UserResourceType, in: `{"userName": ["bob"], "active": ["false"]}`,
			want: `{"schemas": ["` + core + `"], "userName": "bob", "active": false}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := decode(t, tt.in)
			got, err := Normalize(tt.rt, in, tt.opts)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			jsonEqual(t, got, tt.want)
			if !reflect.DeepEqual(in, decode(t, tt.in)) {
				t.Error("Normalize modified its input")
			}
		})
	}
}

func TestNormalizeRejectsWrongTypesNamingTheAttribute(t *testing.T) {
	tests := []struct {
		name, in, detail string
	}{
		{"a number for a boolean", `{"active": 1}`, `"active" must be a boolean`},
		{"a word for a boolean", `{"active": "yes"}`, `"active" must be a boolean`},
		{"a non-boolean primary", `{"emails": [{"value": "a", "primary": "1"}]}`, `"emails.primary" must be a boolean`},
		{"a boolean for a string", `{"userName": true}`, `"userName" must be a string`},
		{"an object for a string", `{"name": {"givenName": {"x": 1}}}`, `"name.givenName" must be a string`},
		{"a number for a reference", `{"profileUrl": 3}`, `"profileUrl" must be a string`},
		{"a number for a dateTime", `{"meta": {"created": 3}}`, `"meta.created" must be a string`},
		{"a string for a complex attribute without value", `{"name": "Bob"}`, `"name" must be a complex object`},
		{"two values for a singular attribute", `{"displayName": ["a", "b"]}`, `"displayName" is single-valued but 2 values`},
		{"two managers", `{"` + ent + `": {"manager": [{"value": "a"}, {"value": "b"}]}}`, `"` + ent + `:manager" is single-valued`},
		{"a number for manager", `{"` + ent + `:manager": 5}`, `"` + ent + `:manager" must be a complex object`},
		{"a wrong type in an extension sub-attribute", `{"` + ent + `:manager.value": false}`, `"` + ent + `:manager.value" must be a string`},
		{"a string for the extension object", `{"` + ent + `": "x"}`, `"` + ent + `" must be a complex object`},
		{"a dotted key into a multi-valued attribute", `{"emails.value": "x"}`, `"emails" is multi-valued`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize(UserResourceType, decode(t, tt.in), NormalizeOptions{})
			assertInvalidValue(t, err, tt.detail)
		})
	}
}

func assertInvalidValue(t *testing.T, err error, detail string) {
	t.Helper()
	e, ok := scimerr.As(err)
	if !ok {
		t.Fatalf("got %v, want a *scimerr.Error", err)
	}
	if e.Status != http.StatusBadRequest || e.ScimType != scimerr.InvalidValue || !strings.Contains(e.Detail, detail) {
		t.Errorf("got %d %s %q, want 400 invalidValue containing %q", e.Status, e.ScimType, e.Detail, detail)
	}
}

func TestNormalizeAcceptsJSONNumbersFromUseNumber(t *testing.T) {
	d := json.NewDecoder(strings.NewReader(`{"` + ent + `": {"employeeNumber": 701}}`))
	d.UseNumber()
	var in map[string]any
	if err := d.Decode(&in); err != nil {
		t.Fatal(err)
	}
	got, err := Normalize(UserResourceType, in, NormalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, got, `{"schemas": ["`+core+`", "`+ent+`"], "`+ent+`": {"employeeNumber": "701"}}`)
}

func TestNormalizeValueServesPatchPaths(t *testing.T) {
	manager := lookup(UserResourceType, ent+":manager")
	got, err := NormalizeValue(manager, ent+":manager", []any{map[string]any{"Value": "m1", "displayName": "Boss"}}, NormalizeOptions{DropReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, got, `{"value": "m1"}`)
	emails, _ := UserResourceType.Attribute("", "emails")
	got, err = NormalizeValue(emails, "emails", map[string]any{"value": "a@x"}, NormalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, got, `[{"value": "a@x"}]`)
	if got, err := NormalizeValue(emails, "emails", []any{}, NormalizeOptions{}); got != nil || err != nil {
		t.Errorf("empty array gave %v, %v", got, err)
	}
	_, err = NormalizeValue(emails.Sub("primary"), "emails.primary", "nope", NormalizeOptions{})
	assertInvalidValue(t, err, `"emails.primary" must be a boolean`)
}

func TestNormalizeNumbers(t *testing.T) {
	rt := &ResourceType{Schema: define(&Schema{ID: "urn:example:n", Attributes: []*Attribute{
		{Name: "count", Type: TypeInteger},
		{Name: "ratio", Type: TypeDecimal},
	}})}
	got, err := Normalize(rt, decode(t, `{"count": 3, "ratio": 0.5}`), NormalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, got, `{"schemas": ["urn:example:n"], "count": 3, "ratio": 0.5}`)
	_, err = Normalize(rt, decode(t, `{"count": 3.5}`), NormalizeOptions{})
	assertInvalidValue(t, err, `"count" must be an integer`)
	_, err = Normalize(rt, decode(t, `{"ratio": "0.5"}`), NormalizeOptions{})
	assertInvalidValue(t, err, `"ratio" must be a number`)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		rt     *ResourceType
		in     string
		detail string // "" means valid
		want   string // expected resource after validation, if checked
	}{
		{name: "a user with a userName is valid", rt: UserResourceType, in: `{"userName": "bob"}`},
		{name: "a user without userName is invalid", rt: UserResourceType, in: `{"displayName": "Bob"}`, detail: `"userName" is required`},
		{name: "a blank userName is invalid", rt: UserResourceType, in: `{"userName": "  "}`, detail: `"userName" is required`},
		{name: "a group without displayName is invalid", rt: GroupResourceType, in: `{"members": []}`, detail: `"displayName" is required`},
		{
			name: "two primary emails are invalid", rt: UserResourceType,
			in:     `{"userName": "bob", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}`,
			detail: `"emails" has 2 values marked primary`,
		},
		{
			name: "one primary email among several is valid", rt: UserResourceType,
			in: `{"userName": "bob", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": false}, {"value": "c"}]}`,
		},
		{
			name: "member types get their canonical spelling", rt: GroupResourceType,
			in:   `{"displayName": "G", "members": [{"value": "u", "type": "user"}, {"value": "g", "type": "GROUP"}, {"value": "x", "type": ""}, {"value": "y"}]}`,
			want: `{"displayName": "G", "members": [{"value": "u", "type": "User"}, {"value": "g", "type": "Group"}, {"value": "x"}, {"value": "y"}]}`,
		},
		{
			name: "an unknown member type is invalid", rt: GroupResourceType,
			in: `{"displayName": "G", "members": [{"value": "u", "type": "Device"}]}`, detail: `"members.type" must be one of User, Group`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := decode(t, tt.in)
			err := Validate(tt.rt, res)
			if tt.detail != "" {
				assertInvalidValue(t, err, tt.detail)
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tt.want != "" {
				jsonEqual(t, res, tt.want)
			}
		})
	}
}

func TestValidateRequiresRequiredExtensions(t *testing.T) {
	rt := &ResourceType{Schema: UserSchema, Extensions: []SchemaExtension{{Schema: EnterpriseUserSchema, Required: true}}}
	assertInvalidValue(t, Validate(rt, decode(t, `{"userName": "bob"}`)), `extension "`+ent+`" is required`)
	if err := Validate(rt, decode(t, `{"userName": "bob", "`+ent+`": {"department": "x"}}`)); err != nil {
		t.Error(err)
	}
}

func TestSetSchemasListsOnlyPresentExtensions(t *testing.T) {
	res := decode(t, `{"schemas": ["x"], "`+ent+`": {}}`)
	SetSchemas(UserResourceType, res)
	jsonEqual(t, res["schemas"], `["`+core+`"]`)
}
