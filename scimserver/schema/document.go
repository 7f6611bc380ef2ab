package schema

// The discovery documents are generated from the same definitions that drive
// Normalize, Validate and Project, so what /Schemas and /ResourceTypes
// advertise cannot drift from what the server enforces. location is the
// absolute URL of the document, which only the HTTP layer knows.

// SchemaDocument renders s as a /Schemas resource (RFC 7643 §7, §8.7.1).
func SchemaDocument(s *Schema, location string) map[string]any {
	return map[string]any{
		"schemas":     []string{SchemaURN},
		"id":          s.ID,
		"name":        s.Name,
		"description": s.Description,
		"attributes":  attributeDocuments(s.Attributes),
		"meta":        map[string]any{"resourceType": "Schema", "location": location},
	}
}

func attributeDocuments(attrs []*Attribute) []map[string]any {
	docs := make([]map[string]any, 0, len(attrs))
	for _, a := range attrs {
		d := map[string]any{
			"name":        a.Name,
			"type":        string(a.Type),
			"multiValued": a.MultiValued,
			"description": a.Description,
			"required":    a.Required,
			"caseExact":   a.CaseExact,
			"mutability":  string(a.Mutability),
			"returned":    string(a.Returned),
			"uniqueness":  string(a.Uniqueness),
		}
		if len(a.CanonicalValues) > 0 {
			d["canonicalValues"] = a.CanonicalValues
		}
		if len(a.ReferenceTypes) > 0 {
			d["referenceTypes"] = a.ReferenceTypes
		}
		if len(a.SubAttributes) > 0 {
			d["subAttributes"] = attributeDocuments(a.SubAttributes)
		}
		docs = append(docs, d)
	}
	return docs
}

// ResourceTypeDocument renders rt as a /ResourceTypes resource (RFC 7643 §6).
func ResourceTypeDocument(rt *ResourceType, location string) map[string]any {
	d := map[string]any{
		"schemas":     []string{ResourceTypeURN},
		"id":          rt.ID,
		"name":        rt.Name,
		"endpoint":    rt.Endpoint,
		"description": rt.Description,
		"schema":      rt.Schema.ID,
		"meta":        map[string]any{"resourceType": "ResourceType", "location": location},
	}
	if len(rt.Extensions) > 0 {
		exts := make([]map[string]any, 0, len(rt.Extensions))
		for _, e := range rt.Extensions {
			exts = append(exts, map[string]any{"schema": e.Schema.ID, "required": e.Required})
		}
		d["schemaExtensions"] = exts
	}
	return d
}
