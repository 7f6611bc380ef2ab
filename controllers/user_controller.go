package controllers

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// AppAccounts is how per-user application accounts take part in revocation.
// The user controller calls it when a user becomes inactive or is deleted,
// and again when they are reactivated. Implementations must be idempotent:
// a call may repeat after a restart or a requeue.
type AppAccounts interface {
	// Suspend cuts the user's access to every app. It reports done=false
	// while some account is still being suspended (it is then called again).
	// It should start the work and return rather than wait for it: the
	// RBAC objects are rewritten while it proceeds.
	Suspend(ctx context.Context, user *identityv1alpha1.ScimUser) (done bool, err error)
	// Restore gives a reactivated user their app access back.
	Restore(ctx context.Context, user *identityv1alpha1.ScimUser) error
}

// revocationPoll is how soon a revocation waiting for other controllers
// (bindings, app accounts) looks again.
const revocationPoll = 20 * time.Millisecond

// UserReconciler runs a user's lifecycle: the Kubernetes user name it maps
// to, and revocation when the identity provider deactivates or deletes the
// user — recorded in status, an Event and the time-to-revoke metric — and
// restoration when they come back. Every step is idempotent, so a revocation
// interrupted by a restart finishes after it.
type UserReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// Apps suspends and restores app accounts; nil when no app integration runs.
	Apps AppAccounts
	// Busy reports whether the SCIM server is taking writes from an
	// identity provider; routine status writes of active users wait while it
	// is (see deferredStatus). Nil: they never wait.
	Busy func() bool
	// Now is the clock (tests replace it).
	Now func() time.Time

	deferred *deferredStatus
}

func (r *UserReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// userScope is what the phases of one reconcile share.
type userScope struct {
	user    *identityv1alpha1.ScimUser
	dir     *identityv1alpha1.ScimDirectory
	pending bool // revocation waits for another controller
}

// Reconcile runs the phases for one user.
func (r *UserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var user identityv1alpha1.ScimUser
	if err := r.Client.Get(ctx, req.NamespacedName, &user); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// The SCIM server adds the finalizer on create; users made otherwise get it here.
	if user.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(&user, identityv1alpha1.RevocationFinalizer) {
		patch := client.MergeFrom(user.DeepCopy())
		controllerutil.AddFinalizer(&user, identityv1alpha1.RevocationFinalizer)
		if err := r.Client.Patch(ctx, &user, patch); err != nil {
			return ctrl.Result{}, err
		}
	}
	s := &userScope{user: &user}
	base := user.DeepCopy()
	before := &base.Status
	err := r.reconcileDirectory(ctx, s)
	if err == nil {
		if user.Spec.IsActive() && user.DeletionTimestamp.IsZero() {
			err = r.reconcileRestore(ctx, s)
		} else {
			err = r.reconcileRevocation(ctx, s)
		}
	}
	r.setReadyCondition(s)
	if !equalStatus(before, &user.Status) {
		if err == nil && r.deferrable(&user, before) {
			r.deferred.add(req.NamespacedName, r.now())
			return ctrl.Result{}, nil
		}
		if uerr := r.Client.Status().Patch(ctx, &user, client.MergeFrom(base)); uerr != nil {
			if apierrors.IsNotFound(uerr) {
				return ctrl.Result{}, nil
			}
			if err == nil {
				err = uerr
			}
		}
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if !user.DeletionTimestamp.IsZero() && user.Status.SessionsRevokedAt != nil {
		patch := client.MergeFrom(user.DeepCopy())
		controllerutil.RemoveFinalizer(&user, identityv1alpha1.RevocationFinalizer)
		return ctrl.Result{}, client.IgnoreNotFound(r.Client.Patch(ctx, &user, patch))
	}
	if s.pending {
		return ctrl.Result{RequeueAfter: revocationPoll}, nil
	}
	return ctrl.Result{}, nil
}

// deferrable reports whether the status write of u (whose status was
// before) is routine bookkeeping that may wait for the SCIM server to pause:
// an active user with no revocation behind or ahead of it.
func (r *UserReconciler) deferrable(u *identityv1alpha1.ScimUser, before *identityv1alpha1.ScimUserStatus) bool {
	return r.deferred != nil && r.Busy != nil &&
		u.Spec.IsActive() && u.DeletionTimestamp.IsZero() &&
		before.DeactivatedAt == nil && u.Status.DeactivatedAt == nil &&
		r.Busy()
}

// reconcileDirectory finds the directory and maps the Kubernetes user name.
func (r *UserReconciler) reconcileDirectory(ctx context.Context, s *userScope) error {
	var dir identityv1alpha1.ScimDirectory
	err := r.Client.Get(ctx, types.NamespacedName{Name: s.user.Labels[identityv1alpha1.DirectoryLabel]}, &dir)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	s.dir = &dir
	if s.user.DeletionTimestamp.IsZero() {
		s.user.Status.KubernetesUsername = KubernetesUsername(&dir, s.user)
	}
	return nil
}

// reconcileRevocation cuts an inactive or deleted user's access and records
// when it is complete. The authorization webhook denies the user as soon as
// the operator's cache holds the change, which is before this runs; what is
// left is to see the bindings drop the user and the app accounts suspended.
func (r *UserReconciler) reconcileRevocation(ctx context.Context, s *userScope) error {
	st := &s.user.Status
	if st.DeactivatedAt == nil {
		st.DeactivatedAt = &metav1.Time{Time: r.now()}
		st.SessionsRevokedAt = nil
	}
	if st.SessionsRevokedAt != nil {
		return nil
	}
	name := st.KubernetesUsername
	if s.dir != nil {
		name = KubernetesUsername(s.dir, s.user)
	}
	// The apps first: Suspend only marks the accounts inactive and returns,
	// and the account controller suspends them while the RBAC objects are
	// rewritten below (hundreds of milliseconds for a large binding's).
	// One after the other, the two waits added up.
	suspended := true
	if r.Apps != nil {
		done, err := r.Apps.Suspend(ctx, s.user)
		if err != nil {
			return err
		}
		suspended = done
	}
	named, err := r.revokeFromBindings(ctx, s.user.Labels[identityv1alpha1.DirectoryLabel], name)
	if err != nil || named || !suspended {
		s.pending = named || !suspended
		return err
	}
	st.SessionsRevokedAt = &metav1.Time{Time: r.now()}
	r.recordRevoked(s)
	return nil
}

// revokeFromBindings removes the Kubernetes user name from every
// RoleBinding and ClusterRoleBinding managed for the directory, and reports
// whether one still names it (a write conflicted; the next poll retries).
// Grants through other directories are theirs to revoke (the authorization
// webhook denies the user whichever directory deactivated it).
//
// The binding controller drops the user as well, but it recomputes the whole
// binding to do so: for the binding of a 100,000-member group that is a walk
// over every member, and with several leavers in a row it kept a subject in
// place for seconds. Revocation does not wait for it; it edits the one object
// per binding that names the user (subjects are spread by hash). The binding
// controller watches these objects and re-checks each one changed here, so
// if another active user maps to the same name, it puts the name back.
//
// The objects that name the user are found by a binary search of each
// managed object's subjects, which the binding controller keeps sorted. An
// index of every subject did the same in one look-up but held a set per
// subject: about 35 MiB at 100,000 users. A subject someone added out of
// order by hand may be missed here; the authorization webhook denies the
// user regardless, and the binding controller drops it when it re-checks.
func (r *UserReconciler) revokeFromBindings(ctx context.Context, directory, name string) (bool, error) {
	if name == "" {
		return false, nil
	}
	opts := []client.ListOption{client.MatchingLabels{identityv1alpha1.DirectoryLabel: directory}, client.UnsafeDisableDeepCopy}
	var rbs rbacv1.RoleBindingList
	if err := r.Client.List(ctx, &rbs, opts...); err != nil {
		return false, err
	}
	var crbs rbacv1.ClusterRoleBindingList
	if err := r.Client.List(ctx, &crbs, opts...); err != nil {
		return false, err
	}
	var objs []client.Object
	for i := range rbs.Items {
		if namesUser(rbs.Items[i].Subjects, name) {
			objs = append(objs, &rbs.Items[i]) // cached: dropUserSubject writes a copy
		}
	}
	for i := range crbs.Items {
		if namesUser(crbs.Items[i].Subjects, name) {
			objs = append(objs, &crbs.Items[i])
		}
	}
	// A user in several bindings is in one object of each: the writes are
	// independent, and each can take hundreds of milliseconds.
	var named atomic.Bool
	drops, dctx := errgroup.WithContext(ctx)
	drops.SetLimit(revocationWrites)
	for _, o := range objs {
		drops.Go(func() error {
			err := dropUserSubject(dctx, r.Client, o, name)
			switch {
			case apierrors.IsConflict(err):
				named.Store(true)
			case apierrors.IsNotFound(err):
			case err != nil:
				return err
			}
			return nil
		})
	}
	if err := drops.Wait(); err != nil {
		return true, err
	}
	return named.Load(), nil
}

// revocationWrites is how many RBAC objects one revocation rewrites at once.
const revocationWrites = 8

// reconcileRestore gives a reactivated user their access back. Bindings
// follow by themselves; app accounts are restored here.
func (r *UserReconciler) reconcileRestore(ctx context.Context, s *userScope) error {
	st := &s.user.Status
	if st.DeactivatedAt == nil {
		return nil
	}
	if r.Apps != nil {
		if err := r.Apps.Restore(ctx, s.user); err != nil {
			return err
		}
	}
	st.DeactivatedAt, st.SessionsRevokedAt = nil, nil
	st.ReactivatedAt = &metav1.Time{Time: r.now()}
	r.recordRestored(s)
	return nil
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
	usePriorityQueue := true
	r.deferred = newDeferredStatus()
	if r.Busy != nil {
		if err := mgr.Add(statusFlusher{d: r.deferred, busy: r.Busy}); err != nil {
			return err
		}
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("scimuser").
		Watches(&identityv1alpha1.ScimUser{}, revocationFirst(), builder.WithPredicates(specOrDeletion())).
		// Users whose status write waited for the SCIM server to pause.
		WatchesRawSource(source.Channel(r.deferred.ch, &handler.EnqueueRequestForObject{})).
		Watches(&identityv1alpha1.ScimDirectory{}, usersOfDirectory, builder.WithPredicates(specOrDeletion())).
		// A priority queue lets deactivations and deletions overtake the
		// routine status work of a bulk import (revocationFirst).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4, UsePriorityQueue: &usePriorityQueue}).
		Complete(r)
}

// revocationPriority ranks changes that start or end a revocation above
// everything else in the user controller's queue.
const revocationPriority = 100

// revocationFirst enqueues ScimUser events, putting the ones that start or
// end a revocation (active flips, a deletion begins) at the head of the
// queue: a leaver must not wait behind an import of 100,000 new users.
func revocationFirst() handler.EventHandler {
	enqueue := func(o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request], urgent bool) {
		req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)}
		if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok && urgent {
			p := revocationPriority
			pq.AddWithOpts(priorityqueue.AddOpts{Priority: &p}, req)
			return
		}
		q.Add(req)
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			u := e.Object.(*identityv1alpha1.ScimUser)
			enqueue(u, q, !u.Spec.IsActive())
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			old, cur := e.ObjectOld.(*identityv1alpha1.ScimUser), e.ObjectNew.(*identityv1alpha1.ScimUser)
			urgent := old.Spec.IsActive() != cur.Spec.IsActive() || old.DeletionTimestamp.IsZero() != cur.DeletionTimestamp.IsZero()
			enqueue(cur, q, urgent)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q, false)
		},
	}
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
