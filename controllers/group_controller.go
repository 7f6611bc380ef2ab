package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/index"
)

// GroupReconciler keeps a ScimGroup's status: member counts and whether every
// member names an existing user or group.
type GroupReconciler struct {
	Client client.Client
}

// Reconcile updates one group's status.
func (r *GroupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var group identityv1alpha1.ScimGroup
	if err := r.Client.Get(ctx, req.NamespacedName, &group); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := group.DeepCopy()
	before := &base.Status
	unresolved := int32(0)
	for _, m := range group.Spec.Members {
		var obj client.Object = &identityv1alpha1.ScimUser{}
		if m.Type == identityv1alpha1.MemberGroup {
			obj = &identityv1alpha1.ScimGroup{}
		}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: group.Namespace, Name: m.Value}, obj)
		if apierrors.IsNotFound(err) {
			unresolved++
		} else if err != nil {
			return ctrl.Result{}, err
		}
	}
	group.Status.MemberCount = int32(len(group.Spec.Members))
	group.Status.UnresolvedMembers = unresolved
	if unresolved == 0 {
		setReady(&group.Status.Conditions, group.Generation, true, identityv1alpha1.ReasonMembersResolved, "Every member exists")
	} else {
		setReady(&group.Status.Conditions, group.Generation, false, identityv1alpha1.ReasonUnresolvedMembers,
			fmt.Sprintf("%d members name no user or group of the directory", unresolved))
	}
	group.Status.ObservedGeneration = group.Generation
	if equalStatus(before, &group.Status) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, client.IgnoreNotFound(r.Client.Status().Patch(ctx, &group, client.MergeFrom(base)))
}

// SetupWithManager registers the controller.
func (r *GroupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	// Deleting a user or group can leave members of other groups unresolved;
	// the member index finds exactly the groups that name it.
	groupsHolding := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var groups identityv1alpha1.ScimGroupList
		if err := r.Client.List(ctx, &groups, client.InNamespace(o.GetNamespace()), client.MatchingFields{index.GroupMember: o.GetName()}); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, len(groups.Items))
		for i := range groups.Items {
			reqs[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&groups.Items[i])}
		}
		return reqs
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&identityv1alpha1.ScimGroup{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&identityv1alpha1.ScimUser{}, groupsHolding, builder.WithPredicates(createOrDelete())).
		Watches(&identityv1alpha1.ScimGroup{}, groupsHolding, builder.WithPredicates(createOrDelete())).
		Named("scimgroup").
		Complete(r)
}
