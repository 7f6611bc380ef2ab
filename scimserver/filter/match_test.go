package filter

import (
	"encoding/json"
	"strings"
	"testing"
)

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// bjensen is RFC 7643 §8.2's full User, trimmed, plus a few typed extras.
const bjensen = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "id": "2819c223-7f76-453a-919d-413861904646",
  "externalId": "701984",
  "userName": "bjensen@example.com",
  "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara"},
  "displayName": "Babs Jensen",
  "title": "Tour Guide",
  "userType": "Employee",
  "nickName": "",
  "active": true,
  "emails": [
    {"value": "bjensen@example.com", "type": "work", "primary": true},
    {"value": "babs@jensen.org", "type": "home"}
  ],
  "ims": [{"value": "someaimhandle", "type": "aim"}],
  "phoneNumbers": [],
  "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
  "loginCount": 42,
  "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z"},
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
    "employeeNumber": "701984",
    "costCenter": "4130",
    "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
  }
}`

func TestMatch(t *testing.T) {
	var user map[string]any
	if err := json.Unmarshal([]byte(bjensen), &user); err != nil {
		t.Fatal(err)
	}
	exact := func(p AttrPath) bool { // as the User schema says
		return strings.EqualFold(p.Name, "id") || strings.EqualFold(p.Name, "externalId") ||
			strings.EqualFold(p.Name, "groups") && strings.EqualFold(p.Sub, "value")
	}
	tests := []struct {
		name, filter string
		want         bool
	}{
		{"equal string", `userName eq "bjensen@example.com"`, true},
		{"string equality ignores case", `userName eq "BJensen@Example.COM"`, true},
		{"attribute names ignore case", `USERNAME eq "bjensen@example.com"`, true},
		{"unequal string", `userName eq "jsmith@example.com"`, false},
		{"caseExact attribute compares exactly", `id eq "2819C223-7F76-453A-919D-413861904646"`, false},
		{"caseExact attribute equal", `id eq "2819c223-7f76-453a-919d-413861904646"`, true},
		{"unquoted externalId", `externalId eq 701984`, true},
		{"sub-attribute contains", `name.familyName co "ens"`, true},
		{"sub-attribute name ignores case", `name.FamilyName eq JENSEN`, true},
		{"starts with", `displayName sw "babs"`, true},
		{"ends with", `displayName ew "jensen"`, true},
		{"ends with, no match", `displayName ew "babs"`, false},
		{"present", `title pr`, true},
		{"empty string is not present", `nickName pr`, false},
		{"empty array is not present", `phoneNumbers pr`, false},
		{"missing attribute is not present", `locale pr`, false},
		{"complex attribute is present", `name pr`, true},
		{"multi-valued attribute is present", `emails pr`, true},
		{"multi-valued sub-attribute is present", `emails.primary pr`, true},
		{"ne on a missing attribute", `locale ne "en-US"`, true},
		{"ne on a different value", `userType ne "Intern"`, true},
		{"ne on an equal value", `userType ne "employee"`, false},
		{"eq null on a missing attribute", `locale eq null`, true},
		{"eq null on a present attribute", `title eq null`, false},
		{"ne null on a present attribute", `title ne null`, true},
		{"multi-valued matches any element's value", `emails eq "babs@jensen.org"`, true},
		{"multi-valued contains", `emails co "example.com"`, true},
		{"multi-valued sub-attribute", `emails.value co "example.org"`, false},
		{"multi-valued sub-attribute type", `emails.type eq "home"`, true},
		{"ne on multi-valued means no element equals", `emails ne "babs@jensen.org"`, false},
		{"caseExact sub-attribute of a multi-valued attribute", `groups.value eq "E9E30DBA-F08F-4109-8486-D5C6A331660A"`, false},
		{"caseExact implied value of a multi-valued attribute", `groups eq "E9E30DBA-F08F-4109-8486-D5C6A331660A"`, false},
		{"value filter", `emails[type eq "work" and value co "@example.com"]`, true},
		{"value filter conditions hold on the same element", `emails[type eq "home" and value co "@example.com"]`, false},
		{"value filter with a boolean", `emails[primary eq true].value eq "bjensen@example.com"`, true},
		{"Entra value filter form", `emails[type eq "work"].value eq "BJENSEN@example.com"`, true},
		{"Entra value filter form, no match", `emails[type eq "work"].value eq "babs@jensen.org"`, false},
		{"value filter on a missing attribute", `addresses[type eq "work"]`, false},
		{"RFC or of value filters", `emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`, true},
		{"RFC and with or", `userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`, true},
		{"RFC and not", `userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`, false},
		{"not", `not (title pr)`, false},
		{"and binds tighter than or", `title pr or userType eq "Intern" and active eq false`, true},
		{"date after", `meta.lastModified gt "2011-05-13T04:42:33Z"`, true},
		{"date equal in another zone and precision", `meta.lastModified eq "2011-05-13T06:42:34.000+02:00"`, true},
		{"date not after", `meta.lastModified gt "2011-05-13T04:42:34Z"`, false},
		{"date at or after", `meta.lastModified ge "2011-05-13T04:42:34Z"`, true},
		{"date before", `meta.created lt "2011-01-01T00:00:00Z"`, true},
		{"date at or before", `meta.created le "2009-12-31T23:59:59Z"`, false},
		{"strings order lexicographically", `userType gt "Contractor"`, true},
		{"strings order ignoring case", `userType lt "intern"`, true},
		{"number greater", `loginCount gt 41.5`, true},
		{"number equal", `loginCount eq 42`, true},
		{"number less or equal", `loginCount le 4.2e1`, true},
		{"number less", `loginCount lt 42`, false},
		{"number against numeric string", `loginCount eq "42"`, true},
		{"numeric string against number", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter gt 4000`, true},
		{"boolean true", `active eq true`, true},
		{"boolean false", `active eq false`, false},
		{"boolean ne", `active ne false`, true},
		{"boolean against a string", `active eq "True"`, true},
		{"string against a boolean", `userType eq true`, false},
		{"extension attribute", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"`, true},
		{"extension URN ignores case", `URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:employeeNumber eq "701984"`, true},
		{"extension sub-attribute", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName sw "John"`, true},
		{"extension complex attribute compares its value", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "26118915-6090-4610-87e4-49d8ca9f808d"`, true},
		{"extension attribute is not at the top level", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName pr`, false},
		{"unknown extension", `urn:example:ext:User:employeeNumber pr`, false},
		{"core URN looks at the top level", `urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bjensen"`, true},
		{"core URN sub-attribute", `urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "barbara"`, true},
		{"schemas contains the extension", `schemas eq "` + enterprise + `"`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := Match(e, user, exact); got != tc.want {
				t.Errorf("Match(%s) = %v, want %v", tc.filter, got, tc.want)
			}
		})
	}
}

func TestMatchGoTypes(t *testing.T) {
	res := map[string]any{
		"count":   int64(7),
		"n":       json.Number("2.5"),
		"i":       3,
		"tags":    []string{"a", "B"},
		"members": []map[string]any{{"value": "m1"}},
		"Mixed":   "X",
	}
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{`count eq 7`, true},
		{`count gt 6.9`, true},
		{`n lt 3`, true},
		{`i ge 3`, true},
		{`tags eq "b"`, true},
		{`members[value eq "M1"]`, true},
		{`members eq "m1"`, true},
		{`mixed eq "x"`, true},
	} {
		e, err := Parse(tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		if got := Match(e, res, nil); got != tc.want {
			t.Errorf("Match(%s) = %v, want %v", tc.filter, got, tc.want)
		}
	}
}

func TestMatchCaseExactPaths(t *testing.T) {
	res := map[string]any{
		"emails":          []any{map[string]any{"value": "A@x.com", "type": "work"}},
		"urn:example:ext": map[string]any{"code": "Q"},
	}
	var seen []string
	record := func(p AttrPath) bool { seen = append(seen, p.String()); return false }
	for _, f := range []string{`emails eq "a@x.com"`, `emails[type eq "work"]`, `urn:example:ext:code eq "q"`} {
		e, _ := Parse(f)
		if !Match(e, res, record) {
			t.Errorf("Match(%s) = false", f)
		}
	}
	want := []string{"emails.value", "emails.type", "urn:example:ext:code"}
	if strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Errorf("caseExact saw %q, want %q", seen, want)
	}
}
