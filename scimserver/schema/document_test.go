package schema

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSchemaDocumentMarshalsToRFC7643Form(t *testing.T) {
	doc := SchemaDocument(EnterpriseUserSchema, "https://x/scim/v2/Schemas/"+ent)
	jsonEqual(t, doc, `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
		"id": "`+ent+`",
		"name": "EnterpriseUser",
		"description": "Enterprise User",
		"meta": {"resourceType": "Schema", "location": "https://x/scim/v2/Schemas/`+ent+`"},
		"attributes": [
			`+attrDoc("employeeNumber", EnterpriseUserSchema.Attributes[0].Description, "string", "readWrite", "")+`,
			`+attrDoc("costCenter", "Name of a cost center.", "string", "readWrite", "")+`,
			`+attrDoc("organization", "Name of an organization.", "string", "readWrite", "")+`,
			`+attrDoc("division", "Name of a division.", "string", "readWrite", "")+`,
			`+attrDoc("department", "Name of a department.", "string", "readWrite", "")+`,
			`+attrDoc("manager", "The User's manager.", "complex", "readWrite", `, "subAttributes": [
				`+attrDoc("value", "id of the manager's User resource.", "string", "readWrite", "")+`,
				`+attrDoc("$ref", "URI of the manager's User resource.", "reference", "readOnly", `, "referenceTypes": ["User"]`)+`,
				`+attrDoc("displayName", "displayName of the manager.", "string", "readOnly", "")+`
			]`)+`
		]
	}`)
}

func attrDoc(name, description, typ, mutability, extra string) string {
	return `{"name": "` + name + `", "type": "` + typ + `", "multiValued": false, "description": "` + description +
		`", "required": false, "caseExact": false, "mutability": "` + mutability +
		`", "returned": "default", "uniqueness": "none"` + extra + `}`
}

func TestEverySchemaDocumentMarshals(t *testing.T) {
	for _, s := range []*Schema{UserSchema, EnterpriseUserSchema, GroupSchema} {
		b, err := json.Marshal(SchemaDocument(s, "https://x/Schemas/"+s.ID))
		if err != nil {
			t.Fatalf("%s: %v", s.ID, err)
		}
		for _, want := range []string{`"id":"` + s.ID + `"`, `"subAttributes"`, `"canonicalValues"`, `"referenceTypes"`} {
			if s == EnterpriseUserSchema && want == `"canonicalValues"` {
				continue
			}
			if !strings.Contains(string(b), want) {
				t.Errorf("%s document lacks %s", s.ID, want)
			}
		}
		if strings.Contains(string(b), "Sensitive") || strings.Contains(string(b), "CanonicalOnly") {
			t.Errorf("%s document leaks internal fields", s.ID)
		}
	}
}

func TestResourceTypeDocuments(t *testing.T) {
	jsonEqual(t, ResourceTypeDocument(UserResourceType, "https://x/ResourceTypes/User"), `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
		"id": "User", "name": "User", "endpoint": "/Users", "description": "User Account",
		"schema": "`+core+`",
		"schemaExtensions": [{"schema": "`+ent+`", "required": false}],
		"meta": {"resourceType": "ResourceType", "location": "https://x/ResourceTypes/User"}
	}`)
	jsonEqual(t, ResourceTypeDocument(GroupResourceType, "https://x/ResourceTypes/Group"), `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
		"id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Group",
		"schema": "`+GroupSchemaURN+`",
		"meta": {"resourceType": "ResourceType", "location": "https://x/ResourceTypes/Group"}
	}`)
}
