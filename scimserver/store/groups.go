package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/membership"
	"github.com/scim-operator/scim-operator/scimserver/patch"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// Groups are written here, not by update: a large group's members live in
// ScimGroupMembers shards (see package membership), and a write must touch
// only what it changes. Every write is still one update of the ScimGroup
// (the commit point, under optimistic concurrency), preceded by the creation
// of new shards when the overlay is folded or the members are replaced, and
// followed by the deletion of the shards the update stopped listing.

// groupChange computes a group write from the current group: the new SCIM
// attributes other than members, and the member edits (deltas, or a whole
// new list as one replacing edit).
type groupChange func(cur map[string]any, v *membership.View) (attrs map[string]any, edits []memberEdit, err error)

// patchGroup applies a PATCH to a group. Member adds and removes in the forms
// identity providers send are applied as deltas, so their cost does not
// depend on the size of the group; any other change of members is applied
// to the whole member list.
func (s *Store) patchGroup(ctx context.Context, d Dir, id string, ops []patch.Operation, ifMatch string) (map[string]any, error) {
	attrOps, edits, ok, err := splitGroupOps(ops)
	if err != nil {
		return nil, err
	}
	return s.writeGroup(ctx, d, id, ifMatch, func(cur map[string]any, v *membership.View) (map[string]any, []memberEdit, error) {
		if !ok {
			// The general case: PATCH the whole resource.
			full := schema.DeepCopy(cur).(map[string]any)
			if members := materialise(v); len(members) > 0 {
				full["members"] = members
			}
			out, err := patch.Apply(Groups.RT, full, ops)
			if err != nil {
				return nil, nil, err
			}
			ms, err := membersOf(out["members"])
			if err != nil {
				return nil, nil, err
			}
			delete(out, "members")
			return out, []memberEdit{{replace: true, add: ms}}, nil
		}
		attrs := cur
		if len(attrOps) > 0 {
			out, err := patch.Apply(Groups.RT, cur, attrOps)
			if err != nil {
				return nil, nil, err
			}
			attrs = out
		}
		return attrs, edits, nil
	})
}

// replaceGroup implements PUT of a group.
func (s *Store) replaceGroup(ctx context.Context, d Dir, id string, res map[string]any, ifMatch string) (map[string]any, error) {
	ms, err := membersOf(res["members"])
	if err != nil {
		return nil, err
	}
	attrs := make(map[string]any, len(res))
	for k, v := range res {
		if k != "members" {
			attrs[k] = v
		}
	}
	return s.writeGroup(ctx, d, id, ifMatch, func(map[string]any, *membership.View) (map[string]any, []memberEdit, error) {
		return attrs, []memberEdit{{replace: true, add: ms}}, nil
	})
}

func materialise(v *membership.View) []any {
	var out []any
	v.Each(func(m identityv1alpha1.Member) bool {
		out = append(out, memberMap(m))
		return true
	})
	return out
}

// groupWrite is one attempt's outcome: the object to commit, the shards it
// newly lists (created already) and those it stops listing.
type groupWrite struct {
	next     *identityv1alpha1.ScimGroup
	pending  *membership.Pending
	replaced []string
	// early: the write only adds members (no other attribute, no new
	// shards), so it is answered before the cache shows it (recentGroups).
	early bool
}

func (s *Store) shardWriter() *membership.Writer {
	return &membership.Writer{Client: s.Client, Grace: s.ShardGrace, Now: s.Now}
}

// writeGroup reads the group, computes the change, writes it and retries on
// conflict by computing the change again on the fresh group.
func (s *Store) writeGroup(ctx context.Context, d Dir, id, ifMatch string, change groupChange) (map[string]any, error) {
	unlock, err := s.locks.lock(ctx, d.Namespace+"/"+id)
	if err != nil {
		return nil, &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "the request was cancelled while waiting for concurrent updates; retry", RetryAfter: 1}
	}
	defer unlock()
	w := s.shardWriter()
	var reader client.Reader = s.Client
	for attempt := 0; ; attempt++ {
		if attempt > maxConflictRetries {
			return nil, &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "too many concurrent updates; retry", RetryAfter: 1}
		}
		if attempt > 0 {
			// The cache may lag behind the write that beat us.
			reader = s.APIReader
			select {
			case <-ctx.Done():
				return nil, &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "the request was cancelled; retry", RetryAfter: 1}
			case <-time.After(rand.N(time.Duration(attempt) * 5 * time.Millisecond)):
			}
		}
		obj, err := s.get(ctx, reader, d, Groups, id)
		if err != nil {
			return nil, err
		}
		cur := obj.(*identityv1alpha1.ScimGroup)
		if r := s.recent.newer(client.ObjectKeyFromObject(cur), cur); r != nil {
			cur = r // this replica's last write, which the cache does not show yet
		}
		if !matches(ifMatch, cur) {
			return nil, preconditionFailed(cur)
		}
		v, err := membership.Resolve(ctx, s.Client, s.APIReader, cur)
		if errors.Is(err, membership.ErrStale) {
			continue
		}
		if err != nil {
			return nil, apiError(err)
		}
		gw, err := s.planGroupWrite(ctx, d, cur, v, change, w)
		if err != nil {
			return nil, err
		}
		if gw == nil {
			return s.render(ctx, d, Groups, cur) // nothing changes
		}
		next := gw.next
		release := func(bool) {}
		if newName := next.Spec.DisplayName; fold(cur.Spec.DisplayName) != fold(newName) {
			if release, err = s.reserve(ctx, d, Groups, newName, id); err != nil {
				w.Delete(ctx, d.Namespace, pendingNames(gw.pending))
				return nil, err
			}
		}
		if !w.CanCommit(gw.pending) {
			err = membership.ErrTooSlow
		} else {
			err = s.Client.Update(ctx, next)
		}
		if err == nil {
			s.recent.put(next)
			if !gw.early {
				release(s.waitSynced(ctx, Groups, next, false))
				s.waitShards(ctx, d, pendingNames(gw.pending))
				s.recent.drop(next)
			}
			recordWrite(ctx, Groups, next, false)
			w.Delete(ctx, d.Namespace, gw.replaced)
			s.event(next, "Updated", "Updated through SCIM")
			return s.render(ctx, d, Groups, next)
		}
		w.Delete(ctx, d.Namespace, pendingNames(gw.pending))
		release(definiteFailure(err) || errors.Is(err, membership.ErrTooSlow))
		if !apierrors.IsConflict(err) && !errors.Is(err, membership.ErrTooSlow) {
			return nil, apiError(err)
		}
		countConflict(Groups, err)
	}
}

func pendingNames(p *membership.Pending) []string {
	if p == nil {
		return nil
	}
	return p.Names
}

// planGroupWrite computes the new group; nil when nothing changes. It may
// create shards (returned as pending), which the caller commits or deletes.
func (s *Store) planGroupWrite(ctx context.Context, d Dir, cur *identityv1alpha1.ScimGroup, v *membership.View, change groupChange, w *membership.Writer) (*groupWrite, error) {
	curRes, err := Groups.toSCIM(cur)
	if err != nil {
		return nil, err
	}
	delete(curRes, "members")
	attrs, edits, err := change(curRes, v)
	if err != nil {
		return nil, err
	}
	next := cur.DeepCopy()
	if err := Groups.fromSCIM(attrs, next); err != nil {
		return nil, err
	}
	next.Spec.Members, next.Spec.Membership = cur.Spec.Members, cur.Spec.Membership.DeepCopy()
	gw := &groupWrite{next: next}

	wholeList := !v.Sharded()
	for _, e := range edits {
		wholeList = wholeList || e.replace
	}
	if wholeList {
		// Inline groups, and replacements of the list: work on the list.
		var list []identityv1alpha1.Member
		if len(edits) == 0 || !edits[0].replace {
			list = v.Members()
		}
		list = applyEdits(list, edits)
		old := cur.DeepCopy()
		old.Spec.Members = v.Members()
		next.Spec.Members = list
		if err := s.checkWrite(ctx, d, Groups, old, next); err != nil {
			return nil, err
		}
		list, next.Spec.Members, next.Spec.Membership = next.Spec.Members, nil, nil
		switch {
		case len(list) <= membership.InlineMembers && !v.Sharded():
			next.Spec.Members = list
		case len(list) <= membership.InlineMembers/2:
			// Small again: back inline.
			next.Spec.Members = list
			gw.replaced = cur.Spec.Membership.Shards
		default:
			if equalMembers(v, list) {
				next.Spec.Membership = cur.Spec.Membership.DeepCopy()
				break
			}
			if gw.pending, err = w.CreateShards(ctx, next, list); err != nil {
				return nil, apiError(err)
			}
			next.Spec.Membership = &identityv1alpha1.GroupMembership{Shards: gw.pending.Names}
			if cur.Spec.Membership != nil {
				gw.replaced = cur.Spec.Membership.Shards
			}
		}
	} else {
		if err := s.editOverlay(ctx, d, cur, v, next, edits); err != nil {
			return nil, err
		}
		if membership.Size(next.Spec.Membership) > membership.OverlayMembers {
			if gw.replaced, gw.pending, err = w.Fold(ctx, v, next); err != nil {
				return nil, apiError(err)
			}
		}
	}
	if equalSpec(Groups, cur, next) {
		if gw.pending != nil {
			w.Delete(ctx, d.Namespace, gw.pending.Names)
		}
		return nil, nil
	}
	s.stamp(next)
	gw.early = addsOnly(edits) && equalAttributes(cur, next) && gw.pending == nil
	return gw, nil
}

func addsOnly(edits []memberEdit) bool {
	for _, e := range edits {
		if e.replace || len(e.remove) > 0 {
			return false
		}
	}
	return true
}

// equalAttributes reports whether two versions of a group differ in nothing
// but their members.
func equalAttributes(a, b *identityv1alpha1.ScimGroup) bool {
	x, y := a.Spec, b.Spec
	x.Members, x.Membership, y.Members, y.Membership = nil, nil, nil, nil
	return equality.Semantic.DeepEqual(x, y)
}

// equalMembers reports whether a sharded group already has exactly list.
func equalMembers(v *membership.View, list []identityv1alpha1.Member) bool {
	if !v.Sharded() || v.Len() != len(list) {
		return false
	}
	for _, m := range list {
		if cur, ok := v.Get(m.Value); !ok || cur != m {
			return false
		}
	}
	return true
}

// editOverlay applies member deltas to a sharded group's overlay. Added
// members are checked as checkWrite checks them, but only the added ones.
func (s *Store) editOverlay(ctx context.Context, d Dir, cur *identityv1alpha1.ScimGroup, v *membership.View, next *identityv1alpha1.ScimGroup, edits []memberEdit) error {
	ov := membership.NewOverlay(next.Spec.Membership, v.InShards)
	count := v.Len()
	for _, e := range edits {
		for _, value := range e.remove {
			if _, ok := v.Get(value); ok {
				count--
			}
			ov.Remove(value)
		}
		for _, m := range e.add {
			if m.Value == cur.Name {
				return scimerr.BadRequest(scimerr.InvalidValue, "a group cannot be a member of itself")
			}
			old, present := v.Get(m.Value)
			if present && old.Type != "" && (m.Type == "" || m.Type == old.Type) {
				m.Type = old.Type
			} else {
				typ, err := s.memberType(ctx, d, m)
				if err != nil {
					return err
				}
				m.Type = typ
			}
			if !present {
				count++
			}
			ov.Add(m)
		}
	}
	if count > identityv1alpha1.MaxGroupMembers {
		return scimerr.BadRequest(scimerr.InvalidValue, "group would have %d members; a group holds at most %d members", count, identityv1alpha1.MaxGroupMembers)
	}
	return nil
}

// waitShards waits until the cache and the membership index hold new shards,
// so that a read on this replica right after the write resolves them without
// asking the API server, and finds the groups of the members they hold.
func (s *Store) waitShards(ctx context.Context, d Dir, names []string) {
	timeout := s.SyncTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	for _, name := range names {
		key := client.ObjectKey{Namespace: d.Namespace, Name: name}
		_ = wait.PollUntilContextTimeout(ctx, time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
			if s.Members != nil && !s.Members.HasShard(key.Namespace, key.Name) {
				return false, nil // a user's groups would miss the members it holds
			}
			return s.Client.Get(ctx, key, &identityv1alpha1.ScimGroupMembers{}, client.UnsafeDisableDeepCopy) == nil, nil
		})
	}
}
