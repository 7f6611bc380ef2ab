package membership

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// DefaultGrace is how long a shard that no group lists is left alone before
// Sweep deletes it: a write in progress creates its shards before the group
// update that lists them. Writers give up committing shards older than half
// of it, so Sweep never deletes a shard that is about to be listed.
const DefaultGrace = time.Minute

// ErrTooSlow means new shards were created too long ago to be committed
// safely (Sweep may already consider them orphans); the write is retried.
var ErrTooSlow = fmt.Errorf("writing the member shards took too long; retry")

// Writer creates, commits and deletes shards.
type Writer struct {
	Client client.Client
	// Grace is the orphan grace period; DefaultGrace if zero.
	Grace time.Duration
	// Now is the clock (tests replace it).
	Now func() time.Time
}

func (w *Writer) grace() time.Duration {
	if w.Grace > 0 {
		return w.Grace
	}
	return DefaultGrace
}

func (w *Writer) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// Pending is a set of shards created but not yet committed.
type Pending struct {
	Names   []string
	created time.Time
}

// CreateShards writes members as new shards of g, packed by Pack (which
// sorts members in place). The shards are owned by g, so deleting the group
// deletes them.
func (w *Writer) CreateShards(ctx context.Context, g *identityv1alpha1.ScimGroup, members []identityv1alpha1.Member) (*Pending, error) {
	p := &Pending{created: w.now()}
	isController := true
	for _, part := range Pack(members) {
		s := &identityv1alpha1.ScimGroupMembers{
			ObjectMeta: metav1.ObjectMeta{
				Name:      g.Name + "-" + utilrand.String(8),
				Namespace: g.Namespace,
				Labels: map[string]string{
					identityv1alpha1.DirectoryLabel: g.Labels[identityv1alpha1.DirectoryLabel],
					identityv1alpha1.GroupLabel:     g.Name,
				},
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: identityv1alpha1.GroupVersion.String(), Kind: "ScimGroup",
					Name: g.Name, UID: g.UID, Controller: &isController,
				}},
			},
			Spec: identityv1alpha1.ScimGroupMembersSpec{Group: g.Name, Count: int32(len(part)), Members: part},
		}
		if err := w.Client.Create(ctx, s); err != nil {
			w.Delete(ctx, g.Namespace, p.Names)
			return nil, err
		}
		p.Names = append(p.Names, s.Name)
	}
	return p, nil
}

// CanCommit reports whether pending shards are still young enough to be
// listed by a group update: Sweep leaves them alone for Grace, and the
// commit must reach the API server well within it.
func (w *Writer) CanCommit(p *Pending) bool {
	return p == nil || w.now().Sub(p.created) < w.grace()/2
}

// Delete deletes shards, ignoring errors: whatever is left unlisted is
// swept later.
func (w *Writer) Delete(ctx context.Context, ns string, names []string) {
	for _, name := range names {
		_ = w.Client.Delete(ctx, &identityv1alpha1.ScimGroupMembers{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	}
}

// Compact folds a group's overlay into shards and commits the result with
// one update under g's resourceVersion. It returns false (and no error)
// when the group changed meanwhile; the caller reads it again. The
// replaced shards are deleted after the commit.
func (w *Writer) Compact(ctx context.Context, r, fallback client.Reader, g *identityv1alpha1.ScimGroup) (bool, error) {
	if g.Spec.Membership == nil {
		return true, nil
	}
	v, err := Resolve(ctx, r, fallback, g)
	if err != nil {
		return false, err
	}
	next := g.DeepCopy()
	replaced, pending, err := w.Fold(ctx, v, next)
	if err != nil {
		return false, err
	}
	if !w.CanCommit(pending) {
		w.Delete(ctx, g.Namespace, pending.Names)
		return false, ErrTooSlow
	}
	CountCompaction(next)
	if err := w.Client.Update(ctx, next); err != nil {
		if pending != nil {
			w.Delete(ctx, g.Namespace, pending.Names)
		}
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	*g = *next
	w.Delete(ctx, g.Namespace, replaced)
	return true, nil
}

// Fold rewrites next.Spec.Membership (whose overlay is read from v) so the
// overlay is empty: it creates the new shards and returns the names of the
// shards that the commit of next replaces, for deletion after it.
func (w *Writer) Fold(ctx context.Context, v *View, next *identityv1alpha1.ScimGroup) (replaced []string, p *Pending, err error) {
	m := next.Spec.Membership
	plan := Plan(m, v.Shards)
	if len(plan.Pool) > 0 {
		if p, err = w.CreateShards(ctx, next, plan.Pool); err != nil {
			return nil, nil, err
		}
	}
	m.Shards = plan.Keep
	if p != nil {
		m.Shards = append(m.Shards, p.Names...)
	}
	m.Added, m.Removed = nil, nil
	return plan.Replaced, p, nil
}

// CountCompaction records on g that its next write only reorganises shards,
// so its SCIM version stays the same (see Version).
func CountCompaction(g *identityv1alpha1.ScimGroup) {
	n, _ := strconv.ParseInt(g.Annotations[identityv1alpha1.CompactionsAnnotation], 10, 64)
	if g.Annotations == nil {
		g.Annotations = map[string]string{}
	}
	g.Annotations[identityv1alpha1.CompactionsAnnotation] = strconv.FormatInt(n+1, 10)
}

// Version is the SCIM version of a group (or any object): its generation,
// which moves with every spec change, minus the compactions, which change
// the spec but not the members.
func Version(obj client.Object) int64 {
	n, _ := strconv.ParseInt(obj.GetAnnotations()[identityv1alpha1.CompactionsAnnotation], 10, 64)
	return obj.GetGeneration() - n
}

// Sweep deletes the shards of group ns/name that it does not list (all of
// them when g is nil, i.e. the group is gone) and that are older than the
// grace period. It returns when to look again for younger ones (0: never).
func (w *Writer) Sweep(ctx context.Context, r client.Reader, ns, name string, g *identityv1alpha1.ScimGroup) (time.Duration, error) {
	var shards identityv1alpha1.ScimGroupMembersList
	if err := r.List(ctx, &shards, client.InNamespace(ns), client.MatchingLabels{identityv1alpha1.GroupLabel: name}, noCopy); err != nil {
		return 0, err
	}
	var listed []string
	if g != nil && g.Spec.Membership != nil {
		listed = g.Spec.Membership.Shards
	}
	var again time.Duration
	for i := range shards.Items {
		s := &shards.Items[i]
		if slices.Contains(listed, s.Name) || !s.DeletionTimestamp.IsZero() {
			continue
		}
		if g != nil && s.Spec.Group == name && len(s.OwnerReferences) > 0 && s.OwnerReferences[0].UID != g.UID {
			// A shard of an earlier group of the same name: orphan at once.
		} else if age := w.now().Sub(s.CreationTimestamp.Time); age < w.grace() && g != nil {
			if wait := w.grace() - age; again == 0 || wait < again {
				again = wait
			}
			continue
		}
		if err := w.Client.Delete(ctx, s, client.Preconditions{UID: &s.UID}); client.IgnoreNotFound(err) != nil {
			return 0, err
		}
	}
	return again, nil
}
