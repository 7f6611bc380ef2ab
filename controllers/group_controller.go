package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	groupmembers "github.com/scim-operator/scim-operator/internal/membership"
)

// CompactQuiet is how long a group's overlay of member changes must have
// been left alone before the group controller folds a small one into
// shards; an overlay of membership.CompactAt entries is folded at once.
const CompactQuiet = 2 * time.Second

// ShardedStatusInterval spaces out the status of a sharded group (over
// membership.InlineMembers members): counting which of 100,000 members
// exist is a walk over all of them, and while an IdP fills such a group it
// changes every few hundred milliseconds. Compaction is not delayed.
const ShardedStatusInterval = 5 * time.Second

// GroupReconciler keeps a ScimGroup's status (member counts, whether every
// member names an existing user or group) and the shards of large groups:
// it folds the overlay of recent member changes into shards, and deletes
// shards that no group lists (left by a write that failed or crashed).
type GroupReconciler struct {
	Client client.Client
	// Members is the reverse membership index of Client's cache.
	Members *groupmembers.Index
	// APIReader reads shards the cache has not seen yet.
	APIReader client.Reader
	// ShardGrace is how long unlisted shards are kept (membership.DefaultGrace if zero).
	ShardGrace time.Duration
	// Now is the clock (tests replace it).
	Now func() time.Time

	statusThrottle throttle
}

// +kubebuilder:rbac:groups=identity.scim-operator.io,resources=scimgroupmembers,verbs=get;list;watch;create;delete

func (r *GroupReconciler) writer() *groupmembers.Writer {
	return &groupmembers.Writer{Client: r.Client, Grace: r.ShardGrace, Now: r.Now}
}

func (r *GroupReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile compacts, sweeps and updates one group's status.
func (r *GroupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var group identityv1alpha1.ScimGroup
	if err := r.Client.Get(ctx, req.NamespacedName, &group); err != nil {
		if apierrors.IsNotFound(err) {
			r.statusThrottle.forget(req.NamespacedName)
			// Owner references let the garbage collector delete the shards
			// of a deleted group; where none runs, this does.
			_, err = r.writer().Sweep(ctx, r.Client, req.Namespace, req.Name, nil)
		}
		return ctrl.Result{}, err
	}
	if !group.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	compactIn, err := r.compact(ctx, &group)
	if err != nil || compactIn < 0 {
		// A conflict: a SCIM write came first; the next event brings it.
		return ctrl.Result{Requeue: err == nil}, err
	}
	sweepIn, err := r.writer().Sweep(ctx, r.Client, group.Namespace, group.Name, &group)
	if err != nil {
		return ctrl.Result{}, err
	}
	next := minPositive(compactIn, sweepIn)
	if group.Spec.Membership != nil {
		if wait := r.statusThrottle.wait(req.NamespacedName, ShardedStatusInterval, time.Now()); wait > 0 {
			return ctrl.Result{RequeueAfter: minPositive(next, wait)}, nil
		}
	}
	if err := r.reconcileStatus(ctx, &group); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

// compact folds the overlay when it is large or the group has been quiet;
// it returns when to look again, or -1 when the group changed meanwhile.
func (r *GroupReconciler) compact(ctx context.Context, g *identityv1alpha1.ScimGroup) (time.Duration, error) {
	size := groupmembers.Size(g.Spec.Membership)
	if size == 0 {
		return 0, nil
	}
	if size < groupmembers.CompactAt {
		last, err := time.Parse(time.RFC3339Nano, g.Annotations[identityv1alpha1.LastModifiedAnnotation])
		if wait := CompactQuiet - r.now().Sub(last); err == nil && wait > 0 {
			return wait, nil
		}
	}
	ok, err := r.writer().Compact(ctx, r.Client, r.APIReader, g)
	if errors.Is(err, groupmembers.ErrStale) || errors.Is(err, groupmembers.ErrTooSlow) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	if !ok {
		return -1, nil
	}
	return 0, nil
}

// reconcileStatus counts members and the ones that name nothing.
func (r *GroupReconciler) reconcileStatus(ctx context.Context, group *identityv1alpha1.ScimGroup) error {
	base := group.DeepCopy()
	view, err := groupmembers.Resolve(ctx, r.Client, r.APIReader, group)
	if err != nil {
		return err
	}
	unresolved := int32(0)
	view.Each(func(m identityv1alpha1.Member) bool {
		var obj client.Object = &identityv1alpha1.ScimUser{}
		if m.Type == identityv1alpha1.MemberGroup {
			obj = &identityv1alpha1.ScimGroup{}
		}
		// Read-only: no need to copy what the cache holds.
		err = r.Client.Get(ctx, client.ObjectKey{Namespace: group.Namespace, Name: m.Value}, obj, client.UnsafeDisableDeepCopy)
		if apierrors.IsNotFound(err) {
			unresolved++
			err = nil
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	group.Status.MemberCount = int32(view.Len())
	group.Status.UnresolvedMembers = unresolved
	group.Status.Shards = int32(len(view.Shards))
	if unresolved == 0 {
		setReady(&group.Status.Conditions, group.Generation, true, identityv1alpha1.ReasonMembersResolved, "Every member exists")
	} else {
		setReady(&group.Status.Conditions, group.Generation, false, identityv1alpha1.ReasonUnresolvedMembers,
			fmt.Sprintf("%d members name no user or group of the directory", unresolved))
	}
	group.Status.ObservedGeneration = group.Generation
	if equalStatus(&base.Status, &group.Status) {
		return nil
	}
	return client.IgnoreNotFound(r.Client.Status().Patch(ctx, group, client.MergeFrom(base)))
}

// SetupWithManager registers the controller.
func (r *GroupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	// Deleting a user or group can leave members of other groups unresolved;
	// the reverse membership index finds exactly the groups that name it.
	groupsHolding := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		groups, err := groupmembers.DirectGroups(ctx, r.Client, r.Members, o.GetNamespace(), o.GetName(), client.UnsafeDisableDeepCopy)
		if err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, len(groups))
		for i, g := range groups {
			reqs[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(g)}
		}
		return reqs
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&identityv1alpha1.ScimGroup{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Shards are owned by their group: a shard created and never listed
		// (a failed write) must be swept once its grace period is over.
		Owns(&identityv1alpha1.ScimGroupMembers{}, builder.WithPredicates(createOrDelete())).
		Watches(&identityv1alpha1.ScimUser{}, groupsHolding, builder.WithPredicates(createOrDelete())).
		Watches(&identityv1alpha1.ScimGroup{}, groupsHolding, builder.WithPredicates(createOrDelete())).
		Named("scimgroup").
		Complete(r)
}
