package path

import (
	"github.com/scim-operator/scim-operator/internal/clip"
	"github.com/scim-operator/scim-operator/scimserver/filter"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// Parse parses a non-empty PATCH path; keywords and operators in a value
// filter are case-insensitive, names keep the client's case. Errors are 400 invalidPath *scimerr.Error values whose detail names
// the position and the problem, including problems in the value filter.
func Parse(s string) (Path, error) {
	attr, f, sub, err := filter.ParseValuePath(s)
	if err != nil {
		return Path{}, scimerr.BadRequest(scimerr.InvalidPath, "invalid path %q: %s", clip.String(s, 200), err)
	}
	return Path{Attr: attr, ValueFilter: f, SubAttr: sub}, nil
}

// String returns the canonical text of p; Parse(p.String()) gives back p.
func (p Path) String() string {
	s := p.Attr.String()
	if p.ValueFilter != nil {
		s += "[" + filter.String(p.ValueFilter) + "]"
	}
	if p.SubAttr != "" {
		s += "." + p.SubAttr
	}
	return s
}
