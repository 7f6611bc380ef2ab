package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/apps"
	"github.com/scim-operator/scim-operator/internal/clip"
	"github.com/scim-operator/scim-operator/internal/index"
	"github.com/scim-operator/scim-operator/internal/metrics"
)

// AppAccountReconciler carries an AppAccount into its app through the app's
// provisioner and records the outcome: the audit trail of app access. One
// account is one work-queue key, so a user's events to an app are sequential.
// A failing app fails only its own accounts, which are retried with the
// controller's exponential backoff.
type AppAccountReconciler struct {
	Client    client.Client
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Provisioner returns the provisioner of an app (tests replace it).
	Provisioner func(*identityv1alpha1.ScimApp) (apps.Provisioner, error)
}

// Reconcile syncs one account.
func (r *AppAccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var acct identityv1alpha1.AppAccount
	if err := r.Client.Get(ctx, req.NamespacedName, &acct); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var app identityv1alpha1.ScimApp
	appErr := r.Client.Get(ctx, types.NamespacedName{Namespace: acct.Namespace, Name: acct.Spec.App}, &app)
	if apierrors.IsNotFound(appErr) {
		// The app is gone: nothing is left to remove the account from.
		return ctrl.Result{}, r.dropFinalizer(ctx, &acct)
	}
	if appErr != nil {
		return ctrl.Result{}, appErr
	}
	prov, err := r.provisioner(&app)
	base := acct.DeepCopy()
	if err == nil {
		if !acct.DeletionTimestamp.IsZero() {
			if err = prov.Remove(ctx, &app, &acct); err == nil {
				return ctrl.Result{}, r.dropFinalizer(ctx, &acct)
			}
		} else {
			err = r.apply(ctx, prov, &app, &acct)
		}
	}
	now := metav1.Now()
	if err != nil {
		acct.Status.State, acct.Status.LastError = identityv1alpha1.AccountFailed, clip.String(err.Error(), 512)
		if base.Status.State != identityv1alpha1.AccountFailed {
			r.Recorder.Eventf(&acct, nil, corev1.EventTypeWarning, "SyncFailed", "Sync", "Could not sync the account to app %s: %s", app.Name, acct.Status.LastError)
		}
	} else {
		acct.Status.LastError, acct.Status.LastSyncTime, acct.Status.ObservedGeneration = "", &now, acct.Generation
	}
	if !equalStatus(&base.Status, &acct.Status) {
		if perr := r.Client.Status().Patch(ctx, &acct, client.MergeFrom(base)); perr != nil && err == nil {
			err = perr
		}
	}
	return ctrl.Result{}, err // an error requeues with exponential backoff
}

// apply runs the provisioner when the account's desired state is not yet
// what the app has confirmed.
func (r *AppAccountReconciler) apply(ctx context.Context, prov apps.Provisioner, app *identityv1alpha1.ScimApp, acct *identityv1alpha1.AppAccount) error {
	want := identityv1alpha1.AccountSuspended
	if acct.Spec.Active {
		want = identityv1alpha1.AccountProvisioned
	}
	if acct.Status.State == want && acct.Status.ObservedGeneration == acct.Generation {
		return nil
	}
	var dir identityv1alpha1.ScimDirectory
	if err := r.Client.Get(ctx, types.NamespacedName{Name: app.Spec.Directory}, &dir); err != nil {
		return err
	}
	user, err := directoryView{c: r.Client, ns: dir.Spec.Namespace}.userByID(ctx, acct.Spec.User)
	if err != nil {
		return err
	}
	if user == nil {
		user = &identityv1alpha1.ScimUser{ObjectMeta: metav1.ObjectMeta{Name: acct.Spec.User}, Spec: identityv1alpha1.ScimUserSpec{UserName: acct.Spec.UserName}}
	}
	start := time.Now()
	ext, err := prov.Apply(ctx, app, acct, user)
	result := "success"
	if err != nil {
		result = "failure"
	}
	metrics.AppSyncDuration.WithLabelValues(provisionerKind(app), result).Observe(time.Since(start).Seconds())
	if err != nil {
		return err
	}
	now := metav1.Now()
	if ext != "" {
		acct.Status.ExternalID = ext
	}
	if acct.Status.State != want {
		if want == identityv1alpha1.AccountProvisioned {
			acct.Status.ProvisionedAt = &now
		} else {
			acct.Status.SuspendedAt = &now
		}
		r.Recorder.Eventf(acct, nil, corev1.EventTypeNormal, string(want), "Sync", "Account %s in app %s", want, app.Name)
	}
	acct.Status.State = want
	return nil
}

func (r *AppAccountReconciler) provisioner(app *identityv1alpha1.ScimApp) (apps.Provisioner, error) {
	if r.Provisioner != nil {
		return r.Provisioner(app)
	}
	return apps.For(app, apps.Deps{Client: r.Client, APIReader: r.APIReader})
}

func (r *AppAccountReconciler) dropFinalizer(ctx context.Context, acct *identityv1alpha1.AppAccount) error {
	if !controllerutil.ContainsFinalizer(acct, identityv1alpha1.AccountFinalizer) {
		return nil
	}
	patch := client.MergeFrom(acct.DeepCopy())
	controllerutil.RemoveFinalizer(acct, identityv1alpha1.AccountFinalizer)
	return client.IgnoreNotFound(r.Client.Patch(ctx, acct, patch))
}

// provisionerKind names an app's provisioner for metrics.
func provisionerKind(app *identityv1alpha1.ScimApp) string {
	switch p := app.Spec.Provisioner; {
	case p.Webhook != nil:
		return "webhook"
	case p.SCIM != nil:
		return "scim"
	}
	return "serviceAccount"
}

// SetupWithManager registers the controller.
func (r *AppAccountReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&identityv1alpha1.AppAccount{}, builder.WithPredicates(specOrDeletion())).
		// Apps are independent: a slow one must not hold up the others.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Named("appaccount").
		Complete(r)
}

// AccountSuspender is the AppAccounts seam of the user controller for app
// accounts: a user's revocation is complete only when every one of their
// accounts is suspended or removed — or has failed visibly (its status says
// why, and it is retried), so one broken app cannot hold a revocation open.
type AccountSuspender struct {
	Client client.Client
}

// Suspend implements AppAccounts.
//
// An account still marked active is marked inactive here rather than left to
// the app controller: that one recomputes the whole app (every entitled
// user of a group of thousands) for each change, and at 100,000 users the
// revocation waited for it. Both write the same spec (accountSpec), so the
// app controller finds the account up to date; if the user was re-activated
// in the meantime, the account change wakes the app controller (it owns the
// accounts), which marks it active again.
func (s *AccountSuspender) Suspend(ctx context.Context, user *identityv1alpha1.ScimUser) (bool, error) {
	var accounts identityv1alpha1.AppAccountList
	if err := s.Client.List(ctx, &accounts, client.MatchingFields{index.AccountUser: user.Name}); err != nil {
		return false, err
	}
	done := true
	for i := range accounts.Items {
		a := &accounts.Items[i]
		switch {
		case !a.DeletionTimestamp.IsZero():
			done = false // being removed from its app
		case a.Spec.Active:
			done = false
			if err := s.markInactive(ctx, a, user); err != nil {
				return false, err
			}
		case a.Status.State == identityv1alpha1.AccountSuspended && a.Status.ObservedGeneration == a.Generation:
		case a.Status.State == identityv1alpha1.AccountFailed:
		default:
			done = false
		}
	}
	return done, nil
}

// markInactive writes the spec the app controller would write for an
// inactive or deleted user. A conflict or a vanished account is left to the
// next poll of the revocation, which reads the account again.
func (s *AccountSuspender) markInactive(ctx context.Context, a *identityv1alpha1.AppAccount, user *identityv1alpha1.ScimUser) error {
	spec := accountSpec(a.Spec.App, user)
	if spec.Active || a.Spec.User != user.Name {
		return nil // not a revocation after all: the app controller decides
	}
	patch := client.MergeFromWithOptions(a.DeepCopy(), client.MergeFromWithOptimisticLock{})
	a.Spec = spec
	err := s.Client.Patch(ctx, a, patch)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// Restore implements AppAccounts: the app controller re-activates accounts
// on its own when the user is active again.
func (s *AccountSuspender) Restore(context.Context, *identityv1alpha1.ScimUser) error { return nil }
