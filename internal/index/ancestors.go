package index

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// Containing is a group that contains a member, directly or through nesting.
type Containing struct {
	Group  *identityv1alpha1.ScimGroup
	Direct bool
}

// GroupsContaining walks the GroupMember index upwards from a user or group
// id, breadth-first, and returns every group that contains it, each once
// (so membership cycles end). opts are added to every List, e.g.
// client.UnsafeDisableDeepCopy for read-only callers.
func GroupsContaining(ctx context.Context, r client.Reader, ns, member string, opts ...client.ListOption) ([]Containing, error) {
	var out []Containing
	seen := map[string]bool{member: true}
	frontier := []string{member}
	for direct := true; len(frontier) > 0; direct = false {
		var next []string
		for _, id := range frontier {
			var list identityv1alpha1.ScimGroupList
			listOpts := append([]client.ListOption{client.InNamespace(ns), client.MatchingFields{GroupMember: id}}, opts...)
			if err := r.List(ctx, &list, listOpts...); err != nil {
				return nil, err
			}
			for i := range list.Items {
				g := &list.Items[i]
				if seen[g.Name] || !g.DeletionTimestamp.IsZero() {
					continue
				}
				seen[g.Name] = true
				out = append(out, Containing{Group: g, Direct: direct})
				next = append(next, g.Name)
			}
		}
		frontier = next
	}
	return out, nil
}
