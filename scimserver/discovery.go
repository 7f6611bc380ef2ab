package scimserver

import (
	"net/http"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

var resourceTypes = []*schema.ResourceType{schema.UserResourceType, schema.GroupResourceType}

// serviceProviderConfig describes what this server really supports
// (RFC 7643 §5); clients such as Entra read it to decide what to send.
func (s *Server) serviceProviderConfig(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return
	}
	base := fromContext(r.Context()).dir.BaseURL
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":          []string{schema.ServiceProviderConfigURN},
		"documentationUri": "https://github.com/scim-operator/scim-operator/tree/main/docs",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": MaxResults},
		// Passwords are never stored, so they cannot be changed either.
		"changePassword": map[string]any{"supported": false},
		"sort":           map[string]any{"supported": true},
		"etag":           map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "Bearer token",
			"description": "A per-directory bearer token created with `scim-operator token create`.",
			"primary":     true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": base + "/ServiceProviderConfig"},
	})
}

func (s *Server) resourceTypes(w http.ResponseWriter, r *http.Request) {
	base := fromContext(r.Context()).dir.BaseURL
	var docs []map[string]any
	for _, rt := range resourceTypes {
		docs = append(docs, schema.ResourceTypeDocument(rt, base+"/ResourceTypes/"+rt.ID))
	}
	discovery(w, r, docs, "id", "ResourceType")
}

func (s *Server) schemas(w http.ResponseWriter, r *http.Request) {
	base := fromContext(r.Context()).dir.BaseURL
	var docs []map[string]any
	seen := map[string]bool{}
	for _, rt := range resourceTypes {
		for _, sc := range rt.Schemas() {
			if !seen[sc.ID] {
				seen[sc.ID] = true
				docs = append(docs, schema.SchemaDocument(sc, base+"/Schemas/"+sc.ID))
			}
		}
	}
	discovery(w, r, docs, "id", "Schema")
}

// discovery answers a discovery collection, or one of its documents when the
// path names it.
func discovery(w http.ResponseWriter, r *http.Request, docs []map[string]any, key, kind string) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return
	}
	if name := r.PathValue("name"); name != "" {
		for _, d := range docs {
			if id, _ := d[key].(string); strings.EqualFold(id, name) {
				writeJSON(w, http.StatusOK, d)
				return
			}
		}
		writeError(w, scimerr.NotFound("%s %q not found", kind, name))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []string{schema.ListResponseURN},
		"totalResults": len(docs),
		"startIndex":   1,
		"itemsPerPage": len(docs),
		"Resources":    docs,
	})
}
