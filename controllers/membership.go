package controllers

import (
	"context"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/index"
	groupmembers "github.com/scim-operator/scim-operator/internal/membership"
)

// directoryView reads one directory's users and groups from the cache.
type directoryView struct {
	c client.Reader
	// x is the reverse membership index, for ancestors.
	x  *groupmembers.Index
	ns string
}

// group resolves a group reference; nil when nothing matches.
func (v directoryView) group(ctx context.Context, ref identityv1alpha1.GroupRef) (*identityv1alpha1.ScimGroup, error) {
	if ref.ID != "" {
		var g identityv1alpha1.ScimGroup
		err := v.c.Get(ctx, client.ObjectKey{Namespace: v.ns, Name: ref.ID}, &g)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return &g, err
	}
	field, value := index.GroupDisplayName, index.Fold(ref.DisplayName)
	if ref.ExternalID != "" {
		field, value = index.GroupExternalID, ref.ExternalID
	}
	var list identityv1alpha1.ScimGroupList
	if err := v.c.List(ctx, &list, client.InNamespace(v.ns), client.MatchingFields{field: value}); err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	return &list.Items[0], nil
}

// user resolves a user reference; nil when nothing matches.
func (v directoryView) user(ctx context.Context, ref identityv1alpha1.UserRef) (*identityv1alpha1.ScimUser, error) {
	if ref.ID != "" {
		return v.userByID(ctx, ref.ID)
	}
	field, value := index.UserName, index.Fold(ref.UserName)
	if ref.ExternalID != "" {
		field, value = index.UserExternalID, ref.ExternalID
	}
	users, err := index.Users(ctx, v.c, v.ns, field, value)
	if err != nil || len(users) == 0 {
		return nil, err
	}
	return &users[0], nil
}

func (v directoryView) userByID(ctx context.Context, id string) (*identityv1alpha1.ScimUser, error) {
	var u identityv1alpha1.ScimUser
	err := v.c.Get(ctx, client.ObjectKey{Namespace: v.ns, Name: id}, &u)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return &u, err
}

// staleRetry is how soon a reconcile that met a cached group listing a
// shard a compaction has since replaced (membership.ErrStale) runs again:
// the cache shows the new group within moments. That is no failure to put
// in a condition, a log line or the reconcile error count; during a bulk
// import of a large group it happened several times a minute.
const staleRetry = 100 * time.Millisecond

// readUser reads a user from the cache into u without a deep copy: u then
// shares its maps and slices with the cached object, so read it, never
// change it. found is false when the user does not exist.
//
// A binding or app of a 100,000-member group reads every member on each
// recompute. Listing the directory instead (what this replaced) copied every
// cached user into one new slice, 77 MB at 100,000 users, on every
// recompute; reading one user at a time into the same u allocates nothing
// per member and keeps that churn away from the garbage collector.
func (v directoryView) readUser(ctx context.Context, id string, u *identityv1alpha1.ScimUser) (found bool, err error) {
	err = v.c.Get(ctx, client.ObjectKey{Namespace: v.ns, Name: id}, u, client.UnsafeDisableDeepCopy)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// membership is the flattened membership of some groups.
type membership struct {
	// userIDs are the users reached through the groups, nested ones included.
	userIDs map[string]bool
	// groups are every group reached, the roots included.
	groups []*identityv1alpha1.ScimGroup
	// cycle names the groups of one membership cycle found, if any.
	cycle []string
}

// flatten walks nested groups depth-first. Every group is expanded once, so
// a cycle (A contains B contains A) ends; the first cycle met is reported.
func (v directoryView) flatten(ctx context.Context, roots []*identityv1alpha1.ScimGroup) (*membership, error) {
	m := &membership{userIDs: map[string]bool{}}
	done := map[string]bool{}
	var stack []string
	var walk func(g *identityv1alpha1.ScimGroup) error
	walk = func(g *identityv1alpha1.ScimGroup) error {
		if i := slices.Index(stack, g.Name); i >= 0 {
			if m.cycle == nil {
				m.cycle = append(slices.Clone(stack[i:]), g.Spec.DisplayName)
			}
			return nil
		}
		if done[g.Name] {
			return nil
		}
		done[g.Name] = true
		m.groups = append(m.groups, g)
		stack = append(stack, g.Name)
		defer func() { stack = stack[:len(stack)-1] }()
		// The effective members: inline, or shards with their overlay.
		view, err := groupmembers.Resolve(ctx, v.c, nil, g)
		if err != nil {
			return err
		}
		var children []string
		view.Each(func(member identityv1alpha1.Member) bool {
			if member.Type == identityv1alpha1.MemberGroup {
				children = append(children, member.Value)
			} else {
				m.userIDs[member.Value] = true
			}
			return true
		})
		for _, id := range children {
			var child identityv1alpha1.ScimGroup
			err := v.c.Get(ctx, client.ObjectKey{Namespace: v.ns, Name: id}, &child)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			if err := walk(&child); err != nil {
				return err
			}
		}
		return nil
	}
	for _, g := range roots {
		if err := walk(g); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ancestors returns the groups that contain member directly or through
// nesting, each once.
func (v directoryView) ancestors(ctx context.Context, member string) ([]*identityv1alpha1.ScimGroup, error) {
	groups, err := groupmembers.GroupsContaining(ctx, v.c, v.x, v.ns, member)
	if err != nil {
		return nil, err
	}
	out := make([]*identityv1alpha1.ScimGroup, len(groups))
	for i, c := range groups {
		out[i] = c.Group
	}
	return out, nil
}
