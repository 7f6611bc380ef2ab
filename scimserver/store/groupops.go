package store

import (
	"strings"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/filter"
	"github.com/scim-operator/scim-operator/scimserver/patch"
	"github.com/scim-operator/scim-operator/scimserver/path"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// memberEdit is one member change of a group PATCH that can be applied as a
// delta: the forms identity providers send to add and remove members.
type memberEdit struct {
	// add holds normalised members to add.
	add []identityv1alpha1.Member
	// remove holds member values to remove.
	remove []string
	// replace, when set, replaces the whole list (replace members, remove
	// members without a value).
	replace bool
}

// splitGroupOps splits the operations of a group PATCH into those that do
// not touch members (applied to the other attributes) and member edits that
// can be applied as deltas, in order. ok is false when an operation touches
// members in another way (a filter on type, a sub-attribute, a pathless
// value holding members): the caller then applies the operations to the
// whole resource. Values are normalised as patch.Apply would: errors are the
// same SCIM errors a whole-resource PATCH would give.
func splitGroupOps(ops []patch.Operation) (attrOps []patch.Operation, edits []memberEdit, ok bool, err error) {
	for _, op := range ops {
		kind := strings.ToLower(op.Op)
		if op.Path == "" {
			if obj, isObj := op.Value.(map[string]any); isObj {
				for key := range obj {
					if isMembersPath(key) {
						return nil, nil, false, nil
					}
				}
			}
			attrOps = append(attrOps, op)
			continue
		}
		p, perr := path.Parse(op.Path)
		if perr != nil || !isMembersAttr(p.Attr) {
			attrOps = append(attrOps, op) // patch.Apply reports a bad path
			continue
		}
		if p.Attr.Sub != "" || p.SubAttr != "" {
			return nil, nil, false, nil
		}
		switch {
		case p.ValueFilter == nil && (kind == "add" || kind == "replace"):
			ms, err := normaliseMembers(op)
			if err != nil {
				return nil, nil, false, err
			}
			edits = append(edits, memberEdit{add: ms, replace: kind == "replace"})
		case p.ValueFilter == nil && kind == "remove" && op.Value == nil:
			edits = append(edits, memberEdit{replace: true})
		case p.ValueFilter == nil && kind == "remove":
			// Entra: remove only the listed members, never the whole list.
			ms, err := normaliseMembers(patch.Operation{Op: "add", Path: "members", Value: op.Value})
			if err != nil {
				return nil, nil, false, err
			}
			values := make([]string, len(ms))
			for i, m := range ms {
				values[i] = m.Value
			}
			edits = append(edits, memberEdit{remove: values})
		case kind == "remove" && op.Value == nil:
			v, isValueEq := valueEq(p.ValueFilter)
			if !isValueEq {
				return nil, nil, false, nil
			}
			edits = append(edits, memberEdit{remove: []string{v}})
		default:
			return nil, nil, false, nil
		}
	}
	return attrOps, edits, true, nil
}

func isMembersAttr(a filter.AttrPath) bool {
	return strings.EqualFold(a.Name, "members") && (a.URN == "" || strings.EqualFold(a.URN, schema.GroupSchemaURN))
}

func isMembersPath(key string) bool {
	p, err := path.Parse(key)
	return err == nil && isMembersAttr(p.Attr)
}

// valueEq recognises the filter `value eq "<string>"`.
func valueEq(f filter.Expr) (string, bool) {
	c, ok := f.(*filter.Compare)
	if !ok || c.Op != filter.OpEq || c.Attr.URN != "" || c.Attr.Sub != "" || !strings.EqualFold(c.Attr.Name, "value") {
		return "", false
	}
	s, ok := c.Value.(string)
	return s, ok
}

// normaliseMembers normalises the members of an add or replace the way
// patch.Apply does, by applying it to an otherwise empty group.
func normaliseMembers(op patch.Operation) ([]identityv1alpha1.Member, error) {
	op.Op = "add"
	out, err := patch.Apply(schema.GroupResourceType, map[string]any{"displayName": "-"}, []patch.Operation{op})
	if err != nil {
		return nil, err
	}
	return membersOf(out["members"])
}

// membersOf converts a SCIM members value (normalised: a list of objects
// with string sub-attributes) to Members. The custom resource bounds a
// member's stored form as a whole, so the parts' limits are checked here,
// where the error can name them.
func membersOf(v any) ([]identityv1alpha1.Member, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, scimerr.BadRequest(scimerr.InvalidValue, "members must be a list of objects")
	}
	ms := make([]identityv1alpha1.Member, 0, len(list))
	for _, e := range list {
		o, ok := e.(map[string]any)
		if !ok {
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "members must be a list of objects")
		}
		var m identityv1alpha1.Member
		var typ string
		for _, f := range [...]struct {
			key string
			dst *string
		}{{"value", &m.Value}, {"type", &typ}, {"display", &m.Display}} {
			if x, present := o[f.key]; present && x != nil {
				s, ok := x.(string)
				if !ok {
					return nil, scimerr.BadRequest(scimerr.InvalidValue, "attribute \"members.%s\" must be a string", f.key)
				}
				*f.dst = s
			}
		}
		m.Type = identityv1alpha1.MemberType(typ)
		if len(m.Value) > identityv1alpha1.MaxMemberValue {
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "a member's value holds at most %d bytes", identityv1alpha1.MaxMemberValue)
		}
		if len(m.Display) > identityv1alpha1.MaxMemberDisplay {
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "a member's display holds at most %d bytes", identityv1alpha1.MaxMemberDisplay)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// memberMap is a Member as a SCIM members element (without $ref).
func memberMap(m identityv1alpha1.Member) map[string]any {
	out := map[string]any{"value": m.Value}
	if m.Type != "" {
		out["type"] = string(m.Type)
	}
	if m.Display != "" {
		out["display"] = m.Display
	}
	return out
}

// applyEdits applies member edits to a full member list.
func applyEdits(list []identityv1alpha1.Member, edits []memberEdit) []identityv1alpha1.Member {
	for _, e := range edits {
		if e.replace {
			list = nil
		}
		if len(e.remove) > 0 {
			gone := make(map[string]bool, len(e.remove))
			for _, v := range e.remove {
				gone[v] = true
			}
			kept := list[:0:0]
			for _, m := range list {
				if !gone[m.Value] {
					kept = append(kept, m)
				}
			}
			list = kept
		}
		at := make(map[string]int, len(list))
		for i, m := range list {
			at[m.Value] = i
		}
		for _, m := range e.add {
			if i, ok := at[m.Value]; ok {
				list[i] = mergeMember(list[i], m)
				continue
			}
			at[m.Value] = len(list)
			list = append(list, m)
		}
	}
	return list
}

// mergeMember is what adding m to a list that holds old with the same value
// leaves: the old member (the value is immutable, and so is a type once
// set), with the type filled in if it had none.
func mergeMember(old, m identityv1alpha1.Member) identityv1alpha1.Member {
	if old.Type == "" {
		old.Type = m.Type
	}
	return old
}
