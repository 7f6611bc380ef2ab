package scimserver

import (
	"net/http"
	"strconv"

	"github.com/scim-operator/scim-operator/internal/jsonenc"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// contentType is what every SCIM response is sent as (RFC 7644 §3.1).
const contentType = "application/scim+json; charset=utf-8"

// writeJSON sends a SCIM JSON response.
func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	if body != nil {
		if raw, err := jsonenc.Marshal(body); err == nil {
			_, _ = w.Write(append(raw, '\n'))
		}
	}
}

// writeError sends err as an RFC 7644 §3.12 error body. Errors that are not
// *scimerr.Error are bugs or infrastructure failures; they are answered 500
// only if nothing better is known, and never with internal details.
func writeError(w http.ResponseWriter, err error) {
	e, ok := scimerr.As(err)
	if !ok {
		e = &scimerr.Error{Status: http.StatusInternalServerError, Detail: "internal error"}
	}
	body := map[string]any{
		"schemas": []string{schema.ErrorURN},
		// RFC 7644 §3.12: status is a string; Okta and others insist on it.
		"status": strconv.Itoa(e.Status),
		"detail": e.Detail,
	}
	if e.ScimType != "" {
		body["scimType"] = e.ScimType
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scim-operator"`)
	}
	writeJSON(w, e.Status, body)
}
