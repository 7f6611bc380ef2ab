package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/index"
	groupmembers "github.com/scim-operator/scim-operator/internal/membership"
	"github.com/scim-operator/scim-operator/internal/metrics"
)

// AppReconciler keeps one AppAccount per user entitled to a ScimApp: every
// user of the directory, or the effective members of the app's groups. An
// account's spec.active follows its user; the AppAccount controller carries
// it into the app.
type AppReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// Members is the reverse membership index of Client's cache.
	Members *groupmembers.Index
}

// +kubebuilder:rbac:groups=identity.scim-operator.io,resources=scimapps,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=identity.scim-operator.io,resources=scimapps/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=identity.scim-operator.io,resources=appaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=identity.scim-operator.io,resources=appaccounts/status;appaccounts/finalizers,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;update;patch;delete

// AccountName is the AppAccount of a user in an app.
func AccountName(app, user string) string { return app + "-" + user }

// Reconcile brings an app's AppAccounts in line with its entitled users.
func (r *AppReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var app identityv1alpha1.ScimApp
	if err := r.Client.Get(ctx, req.NamespacedName, &app); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !app.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // accounts are owned: their finalizers clean the app up
	}
	base := app.DeepCopy()
	users, reason, err := r.entitled(ctx, &app)
	if errors.Is(err, groupmembers.ErrStale) {
		return ctrl.Result{RequeueAfter: staleRetry}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	// The cached accounts themselves, not copies: they are only read here
	// (ensureAccount reads its own copy), and a large app has thousands.
	var accounts identityv1alpha1.AppAccountList
	if err := r.Client.List(ctx, &accounts, client.InNamespace(app.Namespace), client.MatchingLabels{identityv1alpha1.AppLabel: app.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	existing := make(map[string]*identityv1alpha1.AppAccount, len(accounts.Items))
	for i := range accounts.Items {
		existing[accounts.Items[i].Spec.User] = &accounts.Items[i]
	}
	// Missing accounts are written a few at a time: one after another, the
	// 3,725 accounts of a group filled during an initial sync took minutes
	// against a busy API server and finished after the sync itself.
	writes, wctx := errgroup.WithContext(ctx)
	writes.SetLimit(accountWrites)
	for _, u := range users {
		if a := existing[u.Name]; a != nil && accountUpToDate(a, &app, u) {
			continue // most of a large app's accounts, on most reconciles
		}
		writes.Go(func() error { return r.ensureAccount(wctx, &app, u) })
	}
	if err := writes.Wait(); err != nil {
		return ctrl.Result{}, err
	}
	// A set, not a search of users per account: that was quadratic in the
	// app's size (14 million comparisons for 3,725 accounts, every reconcile).
	entitled := make(map[string]bool, len(users))
	for _, u := range users {
		entitled[u.Name] = true
	}
	deleted := map[string]bool{}
	for i := range accounts.Items {
		a := &accounts.Items[i]
		if !entitled[a.Spec.User] && a.DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, a.DeepCopy()); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, err
			}
			deleted[a.Name] = true // not counted below
		}
	}
	message := ""
	if failed := r.count(&app, accounts.Items, deleted, len(users)); failed != nil && reason == "" {
		// A bad Secret reference or URL shows here, not only on each account.
		reason = identityv1alpha1.ReasonAccountsFailed
		message = fmt.Sprintf("%d accounts could not be synced; for example %s: %s", app.Status.Failed, failed.Spec.UserName, failed.Status.LastError)
	}
	setReady(&app.Status.Conditions, app.Generation, reason == "", reason, message)
	if reason == "" {
		app.Status.ObservedGeneration = app.Generation
	}
	if equalStatus(&base.Status, &app.Status) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, r.Client.Status().Patch(ctx, &app, client.MergeFrom(base))
}

// entitled lists the users that should have an account: a user being
// deleted keeps it until its revocation has suspended it. The users share
// their maps and slices with the cache: read them, never change them.
func (r *AppReconciler) entitled(ctx context.Context, app *identityv1alpha1.ScimApp) ([]*identityv1alpha1.ScimUser, string, error) {
	var dir identityv1alpha1.ScimDirectory
	if err := r.Client.Get(ctx, types.NamespacedName{Name: app.Spec.Directory}, &dir); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, identityv1alpha1.ReasonDirectoryNotFound, nil
		}
		return nil, "", err
	}
	view := directoryView{c: r.Client, x: r.Members, ns: dir.Spec.Namespace}
	var users []*identityv1alpha1.ScimUser
	if len(app.Spec.Groups) == 0 {
		var list identityv1alpha1.ScimUserList
		if err := r.Client.List(ctx, &list, client.InNamespace(dir.Spec.Namespace), client.UnsafeDisableDeepCopy); err != nil {
			return nil, "", err
		}
		for i := range list.Items {
			users = append(users, &list.Items[i])
		}
		return users, "", nil
	}
	var roots []*identityv1alpha1.ScimGroup
	reason := ""
	for _, ref := range app.Spec.Groups {
		g, err := view.group(ctx, ref)
		if err != nil {
			return nil, "", err
		}
		if g == nil {
			reason = identityv1alpha1.ReasonGroupsNotFound
			continue
		}
		roots = append(roots, g)
	}
	m, err := view.flatten(ctx, roots)
	if err != nil {
		return nil, "", err
	}
	for id := range m.userIDs {
		u := &identityv1alpha1.ScimUser{}
		found, err := view.readUser(ctx, id, u)
		if err != nil {
			return nil, "", err
		}
		if found {
			users = append(users, u)
		}
	}
	return users, reason, nil
}

// accountWrites is how many account writes one app reconcile has in flight.
const accountWrites = 8

// ensureAccount creates or corrects u's account; it only reads app, so
// several run at once.
func (r *AppReconciler) ensureAccount(ctx context.Context, app *identityv1alpha1.ScimApp, u *identityv1alpha1.ScimUser) error {
	acct := &identityv1alpha1.AppAccount{ObjectMeta: metav1.ObjectMeta{Name: AccountName(app.Name, u.Name), Namespace: app.Namespace}}
	_, err := controllerutil.CreateOrPatch(ctx, r.Client, acct, func() error {
		if acct.Labels == nil {
			acct.Labels = map[string]string{}
		}
		acct.Labels[identityv1alpha1.AppLabel] = app.Name
		acct.Labels[identityv1alpha1.UserLabel] = u.Name
		controllerutil.AddFinalizer(acct, identityv1alpha1.AccountFinalizer)
		acct.Spec = accountSpec(app.Name, u)
		return controllerutil.SetControllerReference(app, acct, r.Client.Scheme())
	})
	return err
}

// accountSpec is the spec of u's account in app; the app controller and a
// revocation (AccountSuspender) write the same spec.
func accountSpec(app string, u *identityv1alpha1.ScimUser) identityv1alpha1.AppAccountSpec {
	return identityv1alpha1.AppAccountSpec{
		App: app, User: u.Name, UserName: u.Spec.UserName,
		Active:         u.Spec.IsActive() && u.DeletionTimestamp.IsZero(),
		UserGeneration: u.Generation,
	}
}

// accountUpToDate reports whether ensureAccount would leave a (cached)
// account as it is.
func accountUpToDate(a *identityv1alpha1.AppAccount, app *identityv1alpha1.ScimApp, u *identityv1alpha1.ScimUser) bool {
	owner := metav1.GetControllerOf(a)
	return a.Name == AccountName(app.Name, u.Name) && a.DeletionTimestamp.IsZero() &&
		a.Labels[identityv1alpha1.AppLabel] == app.Name && a.Labels[identityv1alpha1.UserLabel] == u.Name &&
		controllerutil.ContainsFinalizer(a, identityv1alpha1.AccountFinalizer) &&
		owner != nil && owner.UID == app.UID && a.Spec == accountSpec(app.Name, u)
}

// count fills the app's account counts and returns one failed account, if any.
func (r *AppReconciler) count(app *identityv1alpha1.ScimApp, accounts []identityv1alpha1.AppAccount, deleted map[string]bool, entitled int) *identityv1alpha1.AppAccount {
	var failed *identityv1alpha1.AppAccount
	st := &app.Status
	st.Accounts, st.Provisioned, st.Suspended, st.Failed = int32(entitled), 0, 0, 0
	for i := range accounts {
		a := &accounts[i]
		if !a.DeletionTimestamp.IsZero() || deleted[a.Name] {
			continue // leaving the app
		}
		switch a.Status.State {
		case identityv1alpha1.AccountProvisioned:
			st.Provisioned++
		case identityv1alpha1.AccountSuspended:
			st.Suspended++
		case identityv1alpha1.AccountFailed:
			st.Failed++
			failed = a
		}
	}
	for state, n := range map[identityv1alpha1.AccountState]int32{
		identityv1alpha1.AccountProvisioned: st.Provisioned, identityv1alpha1.AccountSuspended: st.Suspended, identityv1alpha1.AccountFailed: st.Failed,
	} {
		metrics.AppAccounts.WithLabelValues(app.Namespace, app.Name, string(state)).Set(float64(n))
	}
	return failed
}

// SetupWithManager registers the controller.
func (r *AppReconciler) SetupWithManager(mgr ctrl.Manager) error {
	affected := handler.EnqueueRequestsFromMapFunc(r.appsAffectedBy)
	return ctrl.NewControllerManagedBy(mgr).
		For(&identityv1alpha1.ScimApp{}, builder.WithPredicates(specOrDeletion())).
		// Account state changes update the app's counts.
		Owns(&identityv1alpha1.AppAccount{}).
		Watches(&identityv1alpha1.ScimUser{}, affected, builder.WithPredicates(specOrDeletion())).
		Watches(&identityv1alpha1.ScimGroup{}, affected, builder.WithPredicates(specOrDeletion())).
		Named("scimapp").
		Complete(r)
}

// appsAffectedBy maps a user or group change to the apps of its directory it
// can change: apps for every user, apps whose groups are or contain the
// object, and apps the user has an account in. Every reconcile of an app
// walks all its entitled users, so during an initial sync enqueueing every
// app of the directory for every new user cost a walk per user.
func (r *AppReconciler) appsAffectedBy(ctx context.Context, o client.Object) []reconcile.Request {
	dir := o.GetLabels()[identityv1alpha1.DirectoryLabel]
	var apps identityv1alpha1.ScimAppList
	if err := r.Client.List(ctx, &apps, client.MatchingFields{index.AppDirectory: dir}); err != nil || len(apps.Items) == 0 {
		return nil
	}
	all := func() []reconcile.Request {
		reqs := make([]reconcile.Request, len(apps.Items))
		for i := range apps.Items {
			reqs[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&apps.Items[i])}
		}
		return reqs
	}
	groups, err := directoryView{c: r.Client, x: r.Members, ns: o.GetNamespace()}.ancestors(ctx, o.GetName())
	if err != nil {
		return all()
	}
	if g, ok := o.(*identityv1alpha1.ScimGroup); ok {
		groups = append(groups, g)
	}
	keys := map[string]bool{}
	for _, g := range groups {
		for _, k := range index.GroupKeys(dir, g) {
			keys[k] = true
		}
	}
	accountIn := map[types.NamespacedName]bool{}
	if _, ok := o.(*identityv1alpha1.ScimUser); ok {
		var accounts identityv1alpha1.AppAccountList
		if err := r.Client.List(ctx, &accounts, client.MatchingFields{index.AccountUser: o.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
			return all()
		}
		for _, a := range accounts.Items {
			accountIn[types.NamespacedName{Namespace: a.Namespace, Name: a.Spec.App}] = true
		}
	}
	var reqs []reconcile.Request
	for i := range apps.Items {
		app := &apps.Items[i]
		key := client.ObjectKeyFromObject(app)
		affected := len(app.Spec.Groups) == 0 || accountIn[key] ||
			slices.ContainsFunc(app.Spec.Groups, func(ref identityv1alpha1.GroupRef) bool { return keys[index.GroupRefKey(dir, ref)] })
		if affected {
			reqs = append(reqs, reconcile.Request{NamespacedName: key})
		}
	}
	return reqs
}
