package membership

import (
	"context"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/index"
)

// Containing is a group that contains a member, directly or through nesting.
type Containing struct {
	Group  *identityv1alpha1.ScimGroup
	Direct bool
}

// DirectGroups returns the groups of which member is an effective direct
// member, from two indexes: ScimGroups by inline and added member values
// (index.GroupMember), and shards by member value (index.ShardMember), whose
// group counts only while it lists the shard and has not removed the value.
// opts are added to every List and Get, e.g. client.UnsafeDisableDeepCopy
// for read-only callers.
func DirectGroups(ctx context.Context, r client.Reader, ns, member string, opts ...client.ListOption) ([]*identityv1alpha1.ScimGroup, error) {
	return NewFinder(r, ns, opts...).Direct(ctx, member)
}

// GroupsContaining walks upwards from a user or group id, breadth-first, and
// returns every group that contains it, each once (so membership cycles end).
func GroupsContaining(ctx context.Context, r client.Reader, ns, member string, opts ...client.ListOption) ([]Containing, error) {
	return NewFinder(r, ns, opts...).Containing(ctx, member)
}

// Finder answers which groups contain a member, in one namespace. It keeps
// the direct groups of every id it has looked up: the users of one page of a
// list share most of their groups, and each group's parents are then looked
// up once per page instead of once per user. Use one Finder per request; it
// does not see cache changes after its first look-up of an id.
type Finder struct {
	r      client.Reader
	ns     string
	opts   []client.ListOption
	direct map[string][]*identityv1alpha1.ScimGroup
}

// NewFinder returns a Finder reading r in namespace ns; opts are added to
// every List and Get, e.g. client.UnsafeDisableDeepCopy for read-only callers.
func NewFinder(r client.Reader, ns string, opts ...client.ListOption) *Finder {
	return &Finder{r: r, ns: ns, opts: opts, direct: map[string][]*identityv1alpha1.ScimGroup{}}
}

// Direct returns the groups of which member is an effective direct member.
func (f *Finder) Direct(ctx context.Context, member string) ([]*identityv1alpha1.ScimGroup, error) {
	if groups, ok := f.direct[member]; ok {
		return groups, nil
	}
	groups, err := f.lookup(ctx, member)
	if err != nil {
		return nil, err
	}
	f.direct[member] = groups
	return groups, nil
}

func (f *Finder) lookup(ctx context.Context, member string) ([]*identityv1alpha1.ScimGroup, error) {
	r, ns, opts := f.r, f.ns, f.opts
	var out []*identityv1alpha1.ScimGroup
	seen := map[string]bool{}
	var groups identityv1alpha1.ScimGroupList
	if err := r.List(ctx, &groups, append([]client.ListOption{client.InNamespace(ns), client.MatchingFields{index.GroupMember: member}}, opts...)...); err != nil {
		return nil, err
	}
	for i := range groups.Items {
		g := &groups.Items[i]
		if m := g.Spec.Membership; m != nil && slices.Contains(m.Removed, member) {
			continue
		}
		seen[g.Name] = true
		out = append(out, g)
	}
	var shards identityv1alpha1.ScimGroupMembersList
	if err := r.List(ctx, &shards, client.InNamespace(ns), client.MatchingFields{index.ShardMember: member}, noCopy); err != nil {
		return nil, err
	}
	for i := range shards.Items {
		s := &shards.Items[i]
		if seen[s.Spec.Group] {
			continue
		}
		var g identityv1alpha1.ScimGroup
		if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: s.Spec.Group}, &g, getOpts(opts)...); err != nil {
			if client.IgnoreNotFound(err) == nil {
				continue
			}
			return nil, err
		}
		m := g.Spec.Membership
		if m == nil || !slices.Contains(m.Shards, s.Name) || slices.Contains(m.Removed, member) ||
			slices.ContainsFunc(m.Added, func(a identityv1alpha1.Member) bool { return a.Value == member }) {
			continue // not listed, removed, or found through the group index already
		}
		seen[g.Name] = true
		out = append(out, &g)
	}
	return out, nil
}

func getOpts(opts []client.ListOption) []client.GetOption {
	var out []client.GetOption
	for _, o := range opts {
		if g, ok := o.(client.GetOption); ok {
			out = append(out, g)
		}
	}
	return out
}

// Containing walks upwards from a user or group id, breadth-first, and
// returns every group that contains it, each once (so membership cycles end).
func (f *Finder) Containing(ctx context.Context, member string) ([]Containing, error) {
	var out []Containing
	seen := map[string]bool{member: true}
	frontier := []string{member}
	for direct := true; len(frontier) > 0; direct = false {
		var next []string
		for _, id := range frontier {
			groups, err := f.Direct(ctx, id)
			if err != nil {
				return nil, err
			}
			for _, g := range groups {
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
