// Package controllers holds the reconcilers of scim-operator. They read
// ScimDirectories, ScimUsers and ScimGroups from the cache and never import
// the SCIM HTTP layer.
package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/metrics"
)

// ManagedByLabel marks namespaces the operator created for a directory.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// DirectoryReconciler creates a directory's namespace and keeps its status:
// user, active-user and group counts, and Ready.
type DirectoryReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=identity.scim-operator.io,resources=scimdirectories,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=identity.scim-operator.io,resources=scimdirectories/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=identity.scim-operator.io,resources=scimusers;scimgroups,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=identity.scim-operator.io,resources=scimusers/status;scimgroups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one directory's namespace and status up to date.
func (r *DirectoryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var dir identityv1alpha1.ScimDirectory
	if err := r.Client.Get(ctx, req.NamespacedName, &dir); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := dir.DeepCopy()
	before := &base.Status
	reason, message, err := r.ensureNamespace(ctx, &dir)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.count(ctx, &dir); err != nil {
		return ctrl.Result{}, err
	}
	setReady(&dir.Status.Conditions, dir.Generation, reason == "", reason, message)
	r.setDeletionGuardCondition(&dir, before)
	requeue, err := r.setTokensExpiringCondition(ctx, &dir, before)
	if err != nil {
		return ctrl.Result{}, err
	}
	if reason == "" {
		dir.Status.ObservedGeneration = dir.Generation
	}
	result := ctrl.Result{RequeueAfter: requeue}
	if equalStatus(before, &dir.Status) {
		return result, nil
	}
	return result, r.Client.Status().Patch(ctx, &dir, client.MergeFrom(base))
}

// ensureNamespace creates the directory namespace when missing. It returns a
// non-empty reason when the directory cannot become Ready.
func (r *DirectoryReconciler) ensureNamespace(ctx context.Context, dir *identityv1alpha1.ScimDirectory) (string, string, error) {
	var ns corev1.Namespace
	err := r.Client.Get(ctx, types.NamespacedName{Name: dir.Spec.Namespace}, &ns)
	if apierrors.IsNotFound(err) {
		ns = corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name:   dir.Spec.Namespace,
			Labels: map[string]string{ManagedByLabel: "scim-operator", identityv1alpha1.DirectoryLabel: dir.Name},
		}}
		if err := r.Client.Create(ctx, &ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", "", err
		}
		r.Recorder.Eventf(dir, nil, corev1.EventTypeNormal, "NamespaceCreated", "Create", "Created namespace %s for the directory", ns.Name)
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	if ns.DeletionTimestamp != nil {
		return identityv1alpha1.ReasonNamespaceTerminating, "namespace " + ns.Name + " is being deleted", nil
	}
	var dirs identityv1alpha1.ScimDirectoryList
	if err := r.Client.List(ctx, &dirs); err != nil {
		return "", "", err
	}
	for _, other := range dirs.Items {
		if other.Name != dir.Name && other.Spec.Namespace == dir.Spec.Namespace && other.CreationTimestamp.Before(&dir.CreationTimestamp) {
			return identityv1alpha1.ReasonNamespaceConflict, "directory " + other.Name + " already uses namespace " + ns.Name, nil
		}
	}
	return "", "", nil
}

func (r *DirectoryReconciler) count(ctx context.Context, dir *identityv1alpha1.ScimDirectory) error {
	// Counting only reads: skip the deep copy of every user (at 100,000
	// users the copies dominated the operator's CPU during bulk imports).
	var users identityv1alpha1.ScimUserList
	if err := r.Client.List(ctx, &users, client.InNamespace(dir.Spec.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	var groups identityv1alpha1.ScimGroupList
	if err := r.Client.List(ctx, &groups, client.InNamespace(dir.Spec.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	dir.Status.Users, dir.Status.ActiveUsers, dir.Status.Groups = int32(len(users.Items)), 0, int32(len(groups.Items))
	revoked := 0
	for i := range users.Items {
		switch u := &users.Items[i]; {
		case u.Spec.IsActive():
			dir.Status.ActiveUsers++
		case u.Status.SessionsRevokedAt != nil:
			revoked++
		}
	}
	metrics.Users.WithLabelValues(dir.Name, "active").Set(float64(dir.Status.ActiveUsers))
	metrics.Users.WithLabelValues(dir.Name, "revoked").Set(float64(revoked))
	metrics.Users.WithLabelValues(dir.Name, "inactive").Set(float64(int(dir.Status.Users) - int(dir.Status.ActiveUsers) - revoked))
	metrics.Groups.WithLabelValues(dir.Name).Set(float64(dir.Status.Groups))
	return nil
}

// SetupWithManager registers the controller.
func (r *DirectoryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	// Users and groups map to their directory by label: a create, delete or
	// (de)activation changes the counts. Status-only updates are dropped.
	toDirectory := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if name := o.GetLabels()[identityv1alpha1.DirectoryLabel]; name != "" {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
		}
		return nil
	})
	// User and group events come in bursts (an import, an offboarding wave);
	// each recount reads the whole directory, so they are gathered for
	// recountDelay and counted once.
	recount := handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueueDirectoryAfter(e.Object, q)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueueDirectoryAfter(e.ObjectNew, q)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueueDirectoryAfter(e.Object, q)
		},
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Annotations carry the deletion guard's trip and release.
		For(&identityv1alpha1.ScimDirectory{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// Token Secrets (the cache holds only those) map to their directory by label.
		Watches(&corev1.Secret{}, toDirectory).
		Watches(&identityv1alpha1.ScimUser{}, recount, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, revokedChanged()))).
		Watches(&identityv1alpha1.ScimGroup{}, recount, builder.WithPredicates(createOrDelete())).
		Named("scimdirectory").
		Complete(r)
}

// recountDelay gathers a burst of user and group events into one recount.
const recountDelay = time.Second

func enqueueDirectoryAfter(o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if name := o.GetLabels()[identityv1alpha1.DirectoryLabel]; name != "" {
		q.AddAfter(reconcile.Request{NamespacedName: types.NamespacedName{Name: name}}, recountDelay)
	}
}

// revokedChanged passes user updates that complete or undo a revocation,
// which change the revoked-user count without changing the spec.
func revokedChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		old, cur := e.ObjectOld.(*identityv1alpha1.ScimUser), e.ObjectNew.(*identityv1alpha1.ScimUser)
		return (old.Status.SessionsRevokedAt == nil) != (cur.Status.SessionsRevokedAt == nil)
	}}
}

// createOrDelete passes only creations and deletions.
func createOrDelete() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }}
}

// setReady sets the Ready condition; an empty reason means Reconciled.
func setReady(conds *[]metav1.Condition, generation int64, ok bool, reason, message string) {
	status := metav1.ConditionTrue
	if !ok {
		status = metav1.ConditionFalse
	}
	if reason == "" {
		reason, message = identityv1alpha1.ReasonReconciled, "Reconciled"
	}
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: identityv1alpha1.ReadyCondition, Status: status, Reason: reason, Message: message, ObservedGeneration: generation,
	})
}
