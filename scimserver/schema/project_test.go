package schema

import (
	"reflect"
	"testing"
)

// storedUser is a normalized User as the store would hand it to Project,
// including a password and an internal field that must never leak.
const storedUser = `{
	"schemas": ["` + core + `", "` + ent + `"],
	"id": "u1",
	"externalId": "e1",
	"userName": "bjensen",
	"password": "secret",
	"internalRevision": 7,
	"name": {"givenName": "Barbara", "familyName": "Jensen"},
	"emails": [{"value": "b@work", "type": "work", "primary": true}, {"value": "b@home", "type": "home"}],
	"groups": [{"value": "g1", "display": "Admins"}],
	"meta": {"resourceType": "User", "location": "https://x/Users/u1"},
	"` + ent + `": {"department": "Eng", "manager": {"value": "m1", "displayName": "Boss"}}
}`

func TestProject(t *testing.T) {
	tests := []struct {
		name                 string
		attributes, excluded string
		want                 string
	}{
		{
			name: "by default everything but password and internals is returned",
			want: `{
				"schemas": ["` + core + `", "` + ent + `"], "id": "u1", "externalId": "e1", "userName": "bjensen",
				"name": {"givenName": "Barbara", "familyName": "Jensen"},
				"emails": [{"value": "b@work", "type": "work", "primary": true}, {"value": "b@home", "type": "home"}],
				"groups": [{"value": "g1", "display": "Admins"}],
				"meta": {"resourceType": "User", "location": "https://x/Users/u1"},
				"` + ent + `": {"department": "Eng", "manager": {"value": "m1", "displayName": "Boss"}}
			}`,
		},
		{
			name:       "attributes returns only what is listed, plus id and schemas",
			attributes: "userName, NAME.givenName",
			want:       `{"schemas": ["` + core + `", "` + ent + `"], "id": "u1", "userName": "bjensen", "name": {"givenName": "Barbara"}}`,
		},
		{
			name:       "a sub-attribute of a multi-valued attribute is picked from every value",
			attributes: "emails.value",
			want:       `{"schemas": ["` + core + `", "` + ent + `"], "id": "u1", "emails": [{"value": "b@work"}, {"value": "b@home"}]}`,
		},
		{
			name:       "a whole attribute wins over one of its sub-attributes",
			attributes: "emails.type,emails",
			want: `{"schemas": ["` + core + `", "` + ent + `"], "id": "u1",
				"emails": [{"value": "b@work", "type": "work", "primary": true}, {"value": "b@home", "type": "home"}]}`,
		},
		{
			name:       "URN-qualified names select extension attributes",
			attributes: ent + ":department," + ent + ":manager.value",
			want:       `{"schemas": ["` + core + `", "` + ent + `"], "id": "u1", "` + ent + `": {"department": "Eng", "manager": {"value": "m1"}}}`,
		},
		{
			name:       "a bare extension URN selects the whole extension",
			attributes: ent,
			want:       `{"schemas": ["` + core + `", "` + ent + `"], "id": "u1", "` + ent + `": {"department": "Eng", "manager": {"value": "m1", "displayName": "Boss"}}}`,
		},
		{
			name:       "core-URN-qualified names select core attributes",
			attributes: core + ":userName",
			want:       `{"schemas": ["` + core + `", "` + ent + `"], "id": "u1", "userName": "bjensen"}`,
		},
		{
			name:       "password cannot be requested",
			attributes: "password,userName",
			want:       `{"schemas": ["` + core + `", "` + ent + `"], "id": "u1", "userName": "bjensen"}`,
		},
		{
			name:       "unknown names are ignored",
			attributes: "nope,name.nope,urn:example:x:y",
			want:       `{"schemas": ["` + core + `", "` + ent + `"], "id": "u1"}`,
		},
		{
			name:     "excludedAttributes removes attributes, sub-attributes and extensions but never id",
			excluded: "ID,emails.primary,groups,meta,externalId,name.familyName," + ent,
			want: `{"schemas": ["` + core + `", "` + ent + `"], "id": "u1", "userName": "bjensen",
				"name": {"givenName": "Barbara"},
				"emails": [{"value": "b@work", "type": "work"}, {"value": "b@home", "type": "home"}]}`,
		},
		{
			name:     "excluding an extension sub-attribute keeps the rest of the extension",
			excluded: ent + ":manager.displayName",
			want: `{"schemas": ["` + core + `", "` + ent + `"], "id": "u1", "externalId": "e1", "userName": "bjensen",
				"name": {"givenName": "Barbara", "familyName": "Jensen"},
				"emails": [{"value": "b@work", "type": "work", "primary": true}, {"value": "b@home", "type": "home"}],
				"groups": [{"value": "g1", "display": "Admins"}],
				"meta": {"resourceType": "User", "location": "https://x/Users/u1"},
				"` + ent + `": {"department": "Eng", "manager": {"value": "m1"}}}`,
		},
		{
			name:       "attributes and excludedAttributes combine",
			attributes: "name,emails", excluded: "name.givenName,emails",
			want: `{"schemas": ["` + core + `", "` + ent + `"], "id": "u1", "name": {"familyName": "Jensen"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// ProjectShared shares values instead of copying them; what it
			// returns is the same.
			for name, project := range map[string]func(*ResourceType, map[string]any, []string, []string) map[string]any{
				"Project": Project, "ProjectShared": ProjectShared,
			} {
				res := decode(t, storedUser)
				got := project(UserResourceType, res, ParseAttrList(tt.attributes), ParseAttrList(tt.excluded))
				jsonEqual(t, got, tt.want)
				if !reflect.DeepEqual(res, decode(t, storedUser)) {
					t.Errorf("%s modified its input", name)
				}
			}
		})
	}
}

func TestProjectResultSharesNothingWithTheResource(t *testing.T) {
	res := decode(t, storedUser)
	got := Project(UserResourceType, res, nil, nil)
	got["emails"].([]any)[0].(map[string]any)["value"] = "changed"
	got[ent].(map[string]any)["manager"].(map[string]any)["value"] = "changed"
	got["schemas"].([]any)[0] = "changed"
	if !reflect.DeepEqual(res, decode(t, storedUser)) {
		t.Error("mutating the projection changed the resource")
	}
}

func TestProjectHonoursReturnedRequest(t *testing.T) {
	rt := &ResourceType{Schema: define(&Schema{ID: "urn:example:r", Attributes: []*Attribute{
		{Name: "plain", Type: TypeString},
		{Name: "onDemand", Type: TypeString, Returned: ReturnedRequest},
	}})}
	res := decode(t, `{"schemas": ["urn:example:r"], "plain": "p", "onDemand": "d"}`)
	jsonEqual(t, Project(rt, res, nil, nil), `{"schemas": ["urn:example:r"], "plain": "p"}`)
	jsonEqual(t, Project(rt, res, []string{"onDemand"}, nil), `{"schemas": ["urn:example:r"], "onDemand": "d"}`)
}

func TestParseAttrList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"userName", []string{"userName"}},
		{" userName , name.givenName,,emails ", []string{"userName", "name.givenName", "emails"}},
	}
	for _, tt := range tests {
		if got := ParseAttrList(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseAttrList(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
