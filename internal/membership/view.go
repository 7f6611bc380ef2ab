package membership

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// ErrStale means a group lists a shard that no longer exists: the group
// object was read before a compaction replaced the shard. Read the group
// again (from the API server) and retry.
var ErrStale = errors.New("the group lists a shard that no longer exists; read it again")

// noCopy: shards are immutable and only read, so the cache's objects are
// shared rather than deep-copied (a shard holds up to 2,000 members).
var noCopy = client.UnsafeDisableDeepCopy

// View is a group's effective direct membership at one version of the
// group. It holds the shard objects themselves, so it stays consistent
// while a compaction replaces and deletes them. Never modify what it holds.
type View struct {
	Group  *identityv1alpha1.ScimGroup
	Shards []*identityv1alpha1.ScimGroupMembers
	// skip holds the overlay values: shard entries for them are replaced
	// (added) or gone (removed).
	skip map[string]bool
}

// Resolve reads the shards a group lists: from r (the cache) first, then
// from fallback (the API server, may be nil), because the informer of
// shards may not have seen a shard the group informer already lists.
// It fails with ErrStale when a listed shard does not exist.
func Resolve(ctx context.Context, r, fallback client.Reader, g *identityv1alpha1.ScimGroup) (*View, error) {
	v := &View{Group: g}
	m := g.Spec.Membership
	if m == nil {
		return v, nil
	}
	v.skip = make(map[string]bool, Size(m))
	for _, x := range m.Removed {
		v.skip[x] = true
	}
	for _, a := range m.Added {
		v.skip[a.Value] = true
	}
	v.Shards = make([]*identityv1alpha1.ScimGroupMembers, 0, len(m.Shards))
	for _, name := range m.Shards {
		s, err := getShard(ctx, r, fallback, g.Namespace, name)
		if err != nil {
			return nil, err
		}
		if s.Spec.Group != g.Name {
			return nil, fmt.Errorf("shard %s/%s belongs to group %q, not %q", g.Namespace, name, s.Spec.Group, g.Name)
		}
		v.Shards = append(v.Shards, s)
	}
	return v, nil
}

func getShard(ctx context.Context, r, fallback client.Reader, ns, name string) (*identityv1alpha1.ScimGroupMembers, error) {
	key := client.ObjectKey{Namespace: ns, Name: name}
	s := &identityv1alpha1.ScimGroupMembers{}
	err := r.Get(ctx, key, s, noCopy)
	if apierrors.IsNotFound(err) && fallback != nil {
		s = &identityv1alpha1.ScimGroupMembers{}
		err = fallback.Get(ctx, key, s)
	}
	if apierrors.IsNotFound(err) {
		return nil, ErrStale
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Sharded reports whether the group's members live in shards.
func (v *View) Sharded() bool { return v.Group.Spec.Membership != nil }

// Each calls fn for every effective direct member, each once, until fn
// returns false. Shard members come first, in shard order, then the added.
func (v *View) Each(fn func(identityv1alpha1.Member) bool) {
	for _, m := range v.Group.Spec.Members {
		if !fn(m) {
			return
		}
	}
	for _, s := range v.Shards {
		for _, m := range s.Spec.Members {
			if v.skip[m.Value] {
				continue
			}
			if !fn(m) {
				return
			}
		}
	}
	if m := v.Group.Spec.Membership; m != nil {
		for _, a := range m.Added {
			if !fn(a) {
				return
			}
		}
	}
}

// InShards looks a value up in the listed shards, ignoring the overlay.
func (v *View) InShards(value string) (identityv1alpha1.Member, bool) {
	for _, s := range v.Shards {
		if m, ok := Find(s.Spec.Members, value); ok {
			return m, true
		}
	}
	return identityv1alpha1.Member{}, false
}

// Get returns the effective member with this value.
func (v *View) Get(value string) (identityv1alpha1.Member, bool) {
	for _, m := range v.Group.Spec.Members {
		if m.Value == value {
			return m, true
		}
	}
	if ms := v.Group.Spec.Membership; ms != nil {
		for _, a := range ms.Added {
			if a.Value == value {
				return a, true
			}
		}
		if v.skip[value] {
			return identityv1alpha1.Member{}, false
		}
	}
	return v.InShards(value)
}

// Len is the number of effective direct members; it costs a look-up per
// overlay entry, not a pass over the members.
func (v *View) Len() int {
	n := len(v.Group.Spec.Members)
	for _, s := range v.Shards {
		n += len(s.Spec.Members)
	}
	if m := v.Group.Spec.Membership; m != nil {
		for x := range v.skip {
			if _, ok := v.InShards(x); ok {
				n--
			}
		}
		n += len(m.Added)
	}
	return n
}

// Members returns the effective direct members as a new slice.
func (v *View) Members() []identityv1alpha1.Member {
	out := make([]identityv1alpha1.Member, 0, v.Len())
	v.Each(func(m identityv1alpha1.Member) bool { out = append(out, m); return true })
	return out
}

// Members resolves g and returns its effective direct members: for callers
// that need a slice and can afford one.
func Members(ctx context.Context, r client.Reader, g *identityv1alpha1.ScimGroup) ([]identityv1alpha1.Member, error) {
	v, err := Resolve(ctx, r, nil, g)
	if err != nil {
		return nil, err
	}
	return v.Members(), nil
}
