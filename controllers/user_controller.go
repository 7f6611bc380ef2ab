package controllers

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// UserReconciler keeps a ScimUser's status: the Kubernetes user name it maps
// to and whether it is active.
type UserReconciler struct {
	Client client.Client
}

// Reconcile updates one user's status.
func (r *UserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var user identityv1alpha1.ScimUser
	if err := r.Client.Get(ctx, req.NamespacedName, &user); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := user.Status.DeepCopy()
	var dir identityv1alpha1.ScimDirectory
	err := r.Client.Get(ctx, types.NamespacedName{Name: user.Labels[identityv1alpha1.DirectoryLabel]}, &dir)
	switch {
	case apierrors.IsNotFound(err):
		setReady(&user.Status.Conditions, user.Generation, false, identityv1alpha1.ReasonDirectoryNotFound,
			"directory "+user.Labels[identityv1alpha1.DirectoryLabel]+" does not exist")
	case err != nil:
		return ctrl.Result{}, err
	default:
		user.Status.KubernetesUsername = KubernetesUsername(&dir, &user)
		if user.Spec.IsActive() {
			setReady(&user.Status.Conditions, user.Generation, true, identityv1alpha1.ReasonActive, "User is active")
		} else {
			setReady(&user.Status.Conditions, user.Generation, true, identityv1alpha1.ReasonInactive, "User was deactivated by the identity provider")
		}
		user.Status.ObservedGeneration = user.Generation
	}
	if equalStatus(before, &user.Status) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, r.Client.Status().Update(ctx, &user)
}

// KubernetesUsername is the name under which the kube-apiserver knows a user,
// following the directory's mapping; empty when the source attribute is unset.
func KubernetesUsername(dir *identityv1alpha1.ScimDirectory, u *identityv1alpha1.ScimUser) string {
	var name string
	switch dir.Spec.Kubernetes.UsernameFrom {
	case identityv1alpha1.UsernameFromExternalID:
		name = u.Spec.ExternalID
	case identityv1alpha1.UsernameFromPrimaryEmail:
		for i, e := range u.Spec.Emails {
			if e.Primary || (i == 0 && name == "") {
				name = e.Value
			}
		}
	default:
		name = u.Spec.UserName
	}
	if name == "" {
		return ""
	}
	return dir.Spec.Kubernetes.UsernamePrefix + name
}

// SetupWithManager registers the controller.
func (r *UserReconciler) SetupWithManager(mgr ctrl.Manager) error {
	// A directory's mapping change renames every Kubernetes user in it.
	usersOfDirectory := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		dir := o.(*identityv1alpha1.ScimDirectory)
		var users identityv1alpha1.ScimUserList
		if err := r.Client.List(ctx, &users, client.InNamespace(dir.Spec.Namespace)); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, len(users.Items))
		for i := range users.Items {
			reqs[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&users.Items[i])}
		}
		return reqs
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&identityv1alpha1.ScimUser{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&identityv1alpha1.ScimDirectory{}, usersOfDirectory, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("scimuser").
		Complete(r)
}
