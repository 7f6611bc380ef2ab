package store

import (
	"context"
	"errors"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/membership"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// render returns the full SCIM representation of obj: its attributes plus
// id, meta, schemas and the computed ones (a user's groups, members' $ref).
func (s *Store) render(ctx context.Context, d Dir, k *Kind, obj client.Object) (map[string]any, error) {
	return s.renderWith(ctx, d, k, obj, s.groupFinder(d))
}

// groupFinder finds the groups of a directory's users and groups, read-only:
// groups are taken from the membership index, nothing is copied. Without an
// index (unit tests) they are read from the cache.
func (s *Store) groupFinder(d Dir) *pageGroups {
	if s.Members != nil {
		return &pageGroups{finder: membership.NewReadOnlyFinder(s.Members, d.Namespace), entries: &s.entries}
	}
	return &pageGroups{finder: membership.NewFinder(s.Client, s.Members, d.Namespace, client.UnsafeDisableDeepCopy), entries: &s.entries}
}

// pageGroups computes users' `groups` for one response. Each group's
// element is built once and shared by every user that has it, in this
// response and the next ones: responses only read them.
type pageGroups struct {
	finder  *membership.Finder
	entries *groupEntries
}

// pageGroupKey names a group's element: the directory's base URL (part of
// the element's $ref), the group and its resource version, which marks the
// group's state without holding on to the object.
type pageGroupKey struct {
	base, name, rv string
	direct         bool
}

func (p *pageGroups) entry(d Dir, g *identityv1alpha1.ScimGroup, direct bool) map[string]any {
	key := pageGroupKey{d.BaseURL, g.Name, g.ResourceVersion, direct}
	if e := p.entries.get(key); e != nil {
		return e
	}
	typ := "indirect"
	if direct {
		typ = "direct"
	}
	e := map[string]any{
		"value":   g.Name,
		"display": g.Spec.DisplayName,
		"type":    typ,
		"$ref":    d.BaseURL + "/Groups/" + g.Name,
	}
	p.entries.put(key, e)
	return e
}

// groupEntries keeps the `groups` elements of users across responses. A
// page of 100 users names hundreds of groups, and building their elements
// anew was a large part of what every page allocated. A group's update
// brings a new resource version, so a stale element is never found again; it
// only waits for the next clearing, which bounds the memory to
// maxGroupEntries small elements (a few MiB).
type groupEntries struct {
	mu sync.RWMutex
	m  map[pageGroupKey]map[string]any
}

const maxGroupEntries = 20000

func (c *groupEntries) get(key pageGroupKey) map[string]any {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[key]
}

func (c *groupEntries) put(key pageGroupKey, e map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxGroupEntries || c.m == nil {
		c.m = map[pageGroupKey]map[string]any{}
	}
	if _, ok := c.m[key]; !ok {
		c.m[key] = e
	}
}

// renderWith renders obj. A user's computed `groups` (the one attribute that
// costs index look-ups) come from groups, which a page of users shares; nil
// skips them, for filters that do not name them.
func (s *Store) renderWith(ctx context.Context, d Dir, k *Kind, obj client.Object, groups *pageGroups) (map[string]any, error) {
	res, err := k.toSCIM(obj)
	if err != nil {
		return nil, err
	}
	id := obj.GetName()
	res["id"] = id
	created := obj.GetCreationTimestamp().UTC()
	lastModified := created
	if t, err := time.Parse(time.RFC3339Nano, obj.GetAnnotations()[identityv1alpha1.LastModifiedAnnotation]); err == nil {
		lastModified = t
	}
	res["meta"] = map[string]any{
		"resourceType": k.RT.ID,
		"created":      created.Format(time.RFC3339),
		"lastModified": lastModified.Format(time.RFC3339Nano),
		"location":     d.BaseURL + "/" + k.Endpoint + "/" + id,
		"version":      Version(obj),
	}
	switch o := obj.(type) {
	case *identityv1alpha1.ScimUser:
		if o.Spec.Active == nil {
			res["active"] = true
		}
		if groups != nil {
			gs, err := userGroups(ctx, d, groups, id)
			if err != nil {
				return nil, err
			}
			if len(gs) > 0 {
				res["groups"] = gs
			}
		}
	case *identityv1alpha1.ScimGroup:
		if o.Spec.Membership != nil || len(o.Spec.Members) > 0 {
			v, err := s.resolveMembers(ctx, d, o)
			if err != nil {
				return nil, err
			}
			res["members"] = &Members{view: v, baseURL: d.BaseURL}
		}
	}
	schema.SetSchemas(k.RT, res)
	return res, nil
}

// resolveMembers reads the shards of a sharded group. A group read from the
// cache may name shards that a compaction has replaced and deleted since;
// then the group is read again from the API server.
func (s *Store) resolveMembers(ctx context.Context, d Dir, g *identityv1alpha1.ScimGroup) (*membership.View, error) {
	for attempt := 0; ; attempt++ {
		v, err := membership.Resolve(ctx, s.Client, s.APIReader, g)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, membership.ErrStale) || attempt >= maxConflictRetries {
			return nil, apiError(err)
		}
		fresh, err := s.get(ctx, s.APIReader, d, Groups, g.Name)
		if err != nil {
			return nil, err
		}
		g = fresh.(*identityv1alpha1.ScimGroup)
	}
}

// userGroups computes a user's read-only `groups` attribute from the
// member index: direct groups, then the groups that contain those, and so on.
// Every group is visited once, so membership cycles end.
func userGroups(ctx context.Context, d Dir, p *pageGroups, userID string) ([]any, error) {
	groups, err := p.finder.Containing(ctx, userID)
	if err != nil {
		return nil, apiError(err)
	}
	out := make([]any, 0, len(groups))
	for _, c := range groups {
		out = append(out, p.entry(d, c.Group, c.Direct))
	}
	return out, nil
}

// checkWrite enforces what a single object cannot express in its schema:
// group members must name users or groups of this directory (their type is
// filled in when the client left it out), a group may not contain itself,
// and a group may not outgrow MaxGroupMembers (a new one MaxInlineMembers). Only members that old (the
// object before the write, nil on create) lacks are looked up, so adding one
// member to a large group costs one look-up.
func (s *Store) checkWrite(ctx context.Context, d Dir, k *Kind, old, obj client.Object) error {
	g, ok := obj.(*identityv1alpha1.ScimGroup)
	if !ok {
		return nil
	}
	known := map[string]identityv1alpha1.MemberType{}
	if o, ok := old.(*identityv1alpha1.ScimGroup); ok {
		for _, m := range o.Spec.Members {
			known[m.Value] = m.Type
		}
	}
	if n := len(g.Spec.Members); n > identityv1alpha1.MaxGroupMembers {
		return scimerr.BadRequest(scimerr.InvalidValue, "group would have %d members; a group holds at most %d members", n, identityv1alpha1.MaxGroupMembers)
	}
	if n := len(g.Spec.Members); old == nil && n > identityv1alpha1.MaxInlineMembers {
		return scimerr.BadRequest(scimerr.InvalidValue, "a new group holds at most %d members; create it with fewer and add the others with PATCH", identityv1alpha1.MaxInlineMembers)
	}
	seen := make(map[string]bool, len(g.Spec.Members))
	members := g.Spec.Members[:0]
	for _, m := range g.Spec.Members {
		if seen[m.Value] {
			continue
		}
		seen[m.Value] = true
		if m.Value == g.Name {
			return scimerr.BadRequest(scimerr.InvalidValue, "a group cannot be a member of itself")
		}
		if typ, ok := known[m.Value]; ok && typ != "" && (m.Type == "" || m.Type == typ) {
			m.Type = typ
		} else {
			typ, err := s.memberType(ctx, d, m)
			if err != nil {
				return err
			}
			m.Type = typ
		}
		members = append(members, m)
	}
	g.Spec.Members = members
	return nil
}

// memberType finds whether a member id names a user or a group. The cache is
// asked first; a miss is checked against the API server, because another
// replica may have created the member a moment ago.
func (s *Store) memberType(ctx context.Context, d Dir, m identityv1alpha1.Member) (identityv1alpha1.MemberType, error) {
	if !validID(m.Value) {
		return "", scimerr.BadRequest(scimerr.InvalidValue, "member %q is not a user or group of this directory", m.Value)
	}
	candidates := []identityv1alpha1.MemberType{identityv1alpha1.MemberUser, identityv1alpha1.MemberGroup}
	if m.Type == identityv1alpha1.MemberGroup {
		candidates = candidates[1:]
	} else if m.Type == identityv1alpha1.MemberUser {
		candidates = candidates[:1]
	}
	for _, r := range []client.Reader{s.Client, s.APIReader} {
		for _, t := range candidates {
			var obj client.Object = &identityv1alpha1.ScimUser{}
			if t == identityv1alpha1.MemberGroup {
				obj = &identityv1alpha1.ScimGroup{}
			}
			err := r.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: m.Value}, obj)
			if err == nil {
				return t, nil
			}
			if !apierrors.IsNotFound(err) {
				return "", apiError(err)
			}
		}
	}
	return "", scimerr.BadRequest(scimerr.InvalidValue, "member %q is not a user or group of this directory", m.Value)
}
