package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/index"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// Kind is what the store needs to know about one SCIM resource type and the
// custom resource that holds it. Users and Groups share every store operation;
// only these few functions differ.
type Kind struct {
	RT       *schema.ResourceType
	Endpoint string // "Users" or "Groups"

	newObj  func() client.Object
	newList func() client.ObjectList
	items   func(client.ObjectList) []client.Object
	// spec returns a pointer to the object's spec, for JSON mapping.
	spec func(client.Object) any
	// resetSpec clears the spec before a PUT or PATCH result is mapped onto it.
	resetSpec func(client.Object)
	// uniqueName is the attribute value that must be unique per directory
	// (case-insensitively): userName for users, displayName for groups.
	uniqueName  func(client.Object) string
	uniqueAttr  string
	uniqueIndex string
	// eqIndexes maps a lower-cased attribute path to the index that answers
	// `eq` on it, and whether index values are case-folded.
	eqIndexes map[string]eqIndex
}

type eqIndex struct {
	key  string
	fold bool
}

// memberIndex stands for the reverse membership index (membership.Index)
// in eqIndexes: a group's members may live in shards, so the filter asks
// membership rather than a cache index.
const memberIndex = "members"

// Users is the SCIM User resource type, stored as ScimUser.
var Users = &Kind{
	RT:       schema.UserResourceType,
	Endpoint: "Users",
	newObj:   func() client.Object { return &identityv1alpha1.ScimUser{} },
	newList:  func() client.ObjectList { return &identityv1alpha1.ScimUserList{} },
	items: func(l client.ObjectList) []client.Object {
		items := l.(*identityv1alpha1.ScimUserList).Items
		out := make([]client.Object, len(items))
		for i := range items {
			out[i] = &items[i]
		}
		return out
	},
	spec:        func(o client.Object) any { return &o.(*identityv1alpha1.ScimUser).Spec },
	resetSpec:   func(o client.Object) { o.(*identityv1alpha1.ScimUser).Spec = identityv1alpha1.ScimUserSpec{} },
	uniqueName:  func(o client.Object) string { return o.(*identityv1alpha1.ScimUser).Spec.UserName },
	uniqueAttr:  "userName",
	uniqueIndex: index.UserName,
	eqIndexes: map[string]eqIndex{
		"username":     {index.UserName, true},
		"externalid":   {index.UserExternalID, false},
		"emails":       {index.UserEmail, true},
		"emails.value": {index.UserEmail, true},
	},
}

// Groups is the SCIM Group resource type, stored as ScimGroup.
var Groups = &Kind{
	RT:       schema.GroupResourceType,
	Endpoint: "Groups",
	newObj:   func() client.Object { return &identityv1alpha1.ScimGroup{} },
	newList:  func() client.ObjectList { return &identityv1alpha1.ScimGroupList{} },
	items: func(l client.ObjectList) []client.Object {
		items := l.(*identityv1alpha1.ScimGroupList).Items
		out := make([]client.Object, len(items))
		for i := range items {
			out[i] = &items[i]
		}
		return out
	},
	spec:        func(o client.Object) any { return &o.(*identityv1alpha1.ScimGroup).Spec },
	resetSpec:   func(o client.Object) { o.(*identityv1alpha1.ScimGroup).Spec = identityv1alpha1.ScimGroupSpec{} },
	uniqueName:  func(o client.Object) string { return o.(*identityv1alpha1.ScimGroup).Spec.DisplayName },
	uniqueAttr:  "displayName",
	uniqueIndex: index.GroupDisplayName,
	eqIndexes: map[string]eqIndex{
		"displayname":   {index.GroupDisplayName, true},
		"externalid":    {index.GroupExternalID, false},
		"members":       {memberIndex, false},
		"members.value": {memberIndex, false},
	},
}

// The spec JSON names are the SCIM attribute names (see api/v1alpha1), so a
// canonical SCIM resource maps to a spec by JSON, except the enterprise
// extension, which SCIM keeps under its URN and the spec under "enterprise".
const enterpriseField = "enterprise"

// membershipField is the spec field of a sharded group's membership
// (ScimGroupSpec.Membership), which the store maintains itself.
const membershipField = "membership"

// toSCIM returns the SCIM attributes held in the object's spec, but a
// group's members.
//
// The spec is converted straight to a map by its JSON field names, as a
// JSON round trip would convert it (the spec has no numbers, which would
// come out as int64 here and float64 there), without writing and parsing
// the text: a list page converts 100 users.
func (k *Kind) toSCIM(obj client.Object) (map[string]any, error) {
	spec := k.spec(obj)
	if g, ok := obj.(*identityv1alpha1.ScimGroup); ok {
		// A group's members, inline or in shards, are no plain JSON: render
		// adds them as Members, which is streamed, and built as SCIM's
		// objects only when a filter or a PATCH needs them.
		s := g.Spec
		s.Members, s.Membership = nil, nil
		spec = &s
	}
	res, err := runtime.DefaultUnstructuredConverter.ToUnstructured(spec)
	if err != nil {
		return nil, err
	}
	if ext, ok := res[enterpriseField]; ok {
		delete(res, enterpriseField)
		res[schema.EnterpriseUserSchemaURN] = ext
	}
	return res, nil
}

// fromSCIM writes a canonical SCIM resource onto the object's spec. Read-only
// and unknown attributes are expected to be gone already (schema.Normalize).
func (k *Kind) fromSCIM(res map[string]any, obj client.Object) error {
	in := make(map[string]any, len(res))
	var members []identityv1alpha1.Member
	var err error
	for key, v := range res {
		switch key {
		case "id", "meta", "schemas", "groups", membershipField:
		case schema.EnterpriseUserSchemaURN:
			in[enterpriseField] = v
		case "members":
			// Objects in SCIM, strings in the custom resource: see toSCIM.
			if members, err = membersOf(v); err != nil {
				return err
			}
		default:
			in[key] = v
		}
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return err
	}
	k.resetSpec(obj)
	if err := json.Unmarshal(raw, k.spec(obj)); err != nil {
		return scimerr.BadRequest(scimerr.InvalidValue, "%s", jsonDetail(err))
	}
	if g, ok := obj.(*identityv1alpha1.ScimGroup); ok {
		g.Spec.Members = members
	}
	return nil
}

func jsonDetail(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("attribute %q has the wrong type: %s is not a %s", te.Field, te.Value, te.Type)
	}
	return err.Error()
}

// NewObject returns an empty object of the kind's custom resource.
func (k *Kind) NewObject() client.Object { return k.newObj() }
