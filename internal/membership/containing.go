package membership

import (
	"context"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// Containing is a group that contains a member, directly or through nesting.
type Containing struct {
	Group  *identityv1alpha1.ScimGroup
	Direct bool
}

// DirectGroups returns the groups of which member is an effective direct
// member, from the reverse index x: groups that name it inline or added, and
// shards that hold it, whose group counts only while it lists the shard and
// has not removed the value. opts are added to every Get, e.g.
// client.UnsafeDisableDeepCopy for read-only callers.
func DirectGroups(ctx context.Context, r client.Reader, x *Index, ns, member string, opts ...client.GetOption) ([]*identityv1alpha1.ScimGroup, error) {
	return NewFinder(r, x, ns, opts...).Direct(ctx, member)
}

// GroupsContaining walks upwards from a user or group id, breadth-first, and
// returns every group that contains it, each once (so membership cycles end).
func GroupsContaining(ctx context.Context, r client.Reader, x *Index, ns, member string, opts ...client.GetOption) ([]Containing, error) {
	return NewFinder(r, x, ns, opts...).Containing(ctx, member)
}

// Finder answers which groups contain a member, in one namespace. It keeps
// the direct groups of every id it has looked up: the users of one page of a
// list share most of their groups, and each group's parents are then looked
// up once per page instead of once per user. Use one Finder per request; it
// does not see cache changes after its first look-up of an id.
type Finder struct {
	r      client.Reader
	x      *Index
	ns     string
	opts   []client.GetOption
	direct map[string][]*identityv1alpha1.ScimGroup
	// groups holds every group read, nil for one found gone: a page's users
	// are mostly in the same few large groups, and each read is a copy.
	groups map[string]*identityv1alpha1.ScimGroup
	// seen and queue are Containing's scratch space.
	seen, queue []string
	// fromIndex takes groups from the index (ReadOnlyFinder).
	fromIndex bool
}

// NewFinder returns a Finder that looks members up in x and reads groups
// from r, in namespace ns; opts are added to every Get, e.g.
// client.UnsafeDisableDeepCopy for read-only callers.
func NewFinder(r client.Reader, x *Index, ns string, opts ...client.GetOption) *Finder {
	return &Finder{r: r, x: x, ns: ns, opts: opts, direct: map[string][]*identityv1alpha1.ScimGroup{}, groups: map[string]*identityv1alpha1.ScimGroup{}}
}

// NewReadOnlyFinder returns a Finder that takes groups from x itself, without
// copying them out of a cache: the groups it returns are shared with the
// informer and must not be modified. Names and groups then come from the
// same stream of events, and a reader that waited for Index.Synced after a
// write sees that write. A list page of users reads hundreds of groups, and
// copying each out of the cache was a third of what a page allocated.
func NewReadOnlyFinder(x *Index, ns string) *Finder {
	f := NewFinder(nil, x, ns)
	f.fromIndex = true
	return f
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

// group reads a group; nil when it is gone.
func (f *Finder) group(ctx context.Context, name string) (*identityv1alpha1.ScimGroup, error) {
	if g, ok := f.groups[name]; ok {
		return g, nil
	}
	if f.fromIndex {
		g := f.x.Group(f.ns, name)
		f.groups[name] = g
		return g, nil
	}
	g := &identityv1alpha1.ScimGroup{}
	if err := f.r.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: name}, g, f.opts...); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
		g = nil
	}
	f.groups[name] = g
	return g, nil
}

func (f *Finder) lookup(ctx context.Context, member string) ([]*identityv1alpha1.ScimGroup, error) {
	names, shards := f.x.Lookup(f.ns, member)
	var out []*identityv1alpha1.ScimGroup
	var seen map[string]bool // only needed to skip shards of groups found inline
	if len(shards) > 0 {
		seen = make(map[string]bool, len(names))
	}
	for _, name := range names {
		g, err := f.group(ctx, name)
		if err != nil {
			return nil, err
		}
		if g == nil || (g.Spec.Membership != nil && slices.Contains(g.Spec.Membership.Removed, member)) {
			continue
		}
		if seen != nil {
			seen[g.Name] = true
		}
		out = append(out, g)
	}
	for _, s := range shards {
		if seen[s.Group] {
			continue
		}
		g, err := f.group(ctx, s.Group)
		if err != nil {
			return nil, err
		}
		if g == nil {
			continue
		}
		m := g.Spec.Membership
		if m == nil || !slices.Contains(m.Shards, s.Name) || slices.Contains(m.Removed, member) ||
			slices.ContainsFunc(m.Added, func(a identityv1alpha1.Member) bool { return a.Value == member }) {
			continue // not listed, removed, or found as added already
		}
		seen[g.Name] = true
		out = append(out, g)
	}
	return out, nil
}

// Containing walks upwards from a user or group id, breadth-first, and
// returns every group that contains it, each once (so membership cycles end).
func (f *Finder) Containing(ctx context.Context, member string) ([]Containing, error) {
	var out []Containing
	// The walk's queue and visited list are the Finder's, reused from one
	// member to the next: a list page walks 100 users.
	seen := seenSet{list: append(f.seen[:0], member)}
	queue := append(f.queue[:0], member)
	defer func() { f.seen, f.queue = seen.list, queue }()
	for i := 0; i < len(queue); i++ {
		groups, err := f.Direct(ctx, queue[i])
		if err != nil {
			return nil, err
		}
		for _, g := range groups {
			if seen.has(g.Name) || !g.DeletionTimestamp.IsZero() {
				continue
			}
			seen.add(g.Name)
			out = append(out, Containing{Group: g, Direct: i == 0})
			queue = append(queue, g.Name)
		}
	}
	return out, nil
}

// seenSet is the groups a walk has visited. A member is usually in a
// handful of groups, for which a list is cheaper than a map (a list page
// walks 100 users); past seenListMax it becomes a map.
type seenSet struct {
	list []string
	m    map[string]bool
}

const seenListMax = 32

func (s *seenSet) has(name string) bool {
	if s.m != nil {
		return s.m[name]
	}
	return slices.Contains(s.list, name)
}

func (s *seenSet) add(name string) {
	if s.m == nil && len(s.list) < seenListMax {
		s.list = append(s.list, name)
		return
	}
	if s.m == nil {
		s.m = make(map[string]bool, 2*seenListMax)
		for _, n := range s.list {
			s.m[n] = true
		}
	}
	s.m[name] = true
}
