// Package path parses SCIM PATCH paths (RFC 7644 §3.5.2):
//
//	attrPath | valuePath [ "." subAttr ]
//
// e.g. `members`, `name.givenName`, `emails[type eq "work"].value`,
// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
// It knows nothing of Kubernetes.
package path

import "github.com/scim-operator/scim-operator/scimserver/filter"

// Path is a parsed PATCH path.
type Path struct {
	// Attr is the target attribute; Attr.Sub is set for `name.givenName`.
	Attr filter.AttrPath
	// ValueFilter selects elements of a multi-valued attribute (`members[value eq "x"]`); nil if absent.
	ValueFilter filter.Expr
	// SubAttr is the sub-attribute after a value filter (`emails[type eq "work"].value`).
	SubAttr string
}
