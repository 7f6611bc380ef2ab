package testenv

// PatchOp is a SCIM PatchOp request body (RFC 7644 §3.5.2) with the given operations.
func PatchOp(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, op := range ops {
		list[i] = op
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": list}
}

// Op is one PATCH operation; path may be empty and value nil.
func Op(kind, path string, value any) map[string]any {
	m := map[string]any{"op": kind}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}
