package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/index"
	groupmembers "github.com/scim-operator/scim-operator/internal/membership"
)

const (
	// FieldManager owns every field the operator applies.
	FieldManager = "scim-operator"
	// SubjectsPerObject is how many subjects one RoleBinding or
	// ClusterRoleBinding holds (about 0.5 MB, well inside the API server's
	// limit); bigger bindings are split across numbered objects.
	SubjectsPerObject = 5000
	// LargeBinding is the number of users from which a binding is
	// recomputed at most once per LargeBindingInterval (see throttle). A
	// leaver does not wait for it: the user controller removes them from the
	// RBAC objects itself. Spacing recomputes by the binding's size (10 s
	// at 100,000 users) was tried: it left the sync no faster and the
	// binding converged 36 s after the last request instead of 20-24 s.
	LargeBinding         = 10000
	LargeBindingInterval = time.Second
	// While an identity provider is still writing a large binding's groups
	// (a bulk import fills a 100,000-member group with 1,000 PATCHes), the
	// binding is recomputed once the groups have been quiet for
	// LargeBindingQuiet, or LargeBindingMaxDelay after its last recompute.
	// Each recompute rewrites nearly all of its RBAC objects (subjects are
	// spread by hash, so 100 new members touch all 32 objects of a
	// 100,000-subject binding): once a second, that was several megabytes
	// of RoleBindings a second for the API server to decode, validate,
	// store and send to every watcher during the import. Once the writes
	// stop, the binding follows within LargeBindingQuiet.
	LargeBindingQuiet    = 2 * time.Second
	LargeBindingMaxDelay = 10 * time.Second
)

// BindingReconciler materialises ScimRoleBindings (Cluster false) or
// ScimClusterRoleBindings (Cluster true) as RoleBindings or
// ClusterRoleBindings whose subjects are the active effective members of the
// referenced groups plus the listed users.
type BindingReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Cluster  bool
	// Members is the reverse membership index of Client's cache.
	Members *groupmembers.Index
	// Now is the clock (tests replace it).
	Now func() time.Time

	throttle throttle
}

// +kubebuilder:rbac:groups=identity.scim-operator.io,resources=scimrolebindings;scimclusterrolebindings,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=identity.scim-operator.io,resources=scimrolebindings/status;scimclusterrolebindings/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=identity.scim-operator.io,resources=scimrolebindings/finalizers;scimclusterrolebindings/finalizers,verbs=update
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings;clusterrolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;clusterroles,verbs=get;list;watch;bind;escalate

func (r *BindingReconciler) kind() string {
	if r.Cluster {
		return "ScimClusterRoleBinding"
	}
	return "ScimRoleBinding"
}

func (r *BindingReconciler) newBinding() identityv1alpha1.ScimBinding {
	if r.Cluster {
		return &identityv1alpha1.ScimClusterRoleBinding{}
	}
	return &identityv1alpha1.ScimRoleBinding{}
}

func (r *BindingReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// bindingScope is what the phases of one reconcile share.
type bindingScope struct {
	binding identityv1alpha1.ScimBinding
	dir     *identityv1alpha1.ScimDirectory
	// subjects is the desired subject list; nil (not empty) means the binding
	// grants nothing and its RBAC objects are removed.
	subjects  []rbacv1.Subject
	users     int
	cycle     []string
	expired   bool
	requeueAt time.Time
	roleFound bool
}

// Reconcile computes the desired subjects and applies them.
func (r *BindingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	b := r.newBinding()
	if err := r.Client.Get(ctx, req.NamespacedName, b); err != nil {
		if apierrors.IsNotFound(err) {
			r.throttle.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !b.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, r.finalize(ctx, b)
	}
	if b.BindingStatus().BoundUsers >= LargeBinding {
		now := time.Now()
		wait := r.throttle.waitQuiet(req.NamespacedName, LargeBindingInterval, LargeBindingQuiet, LargeBindingMaxDelay, r.groupsWrittenAt(ctx, b), now)
		if wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	}
	// The finalizer removes ClusterRoleBindings (which cannot be owned by a
	// namespaced object) and RoleBindings alike when no garbage collector runs.
	if !controllerutil.ContainsFinalizer(b, identityv1alpha1.BindingFinalizer) {
		patch := client.MergeFrom(b.DeepCopyObject().(client.Object))
		controllerutil.AddFinalizer(b, identityv1alpha1.BindingFinalizer)
		if err := r.Client.Patch(ctx, b, patch); err != nil {
			return ctrl.Result{}, err
		}
	}

	s := &bindingScope{binding: b}
	base := b.DeepCopyObject().(client.Object)
	before := b.BindingStatus().DeepCopy()
	err := r.reconcileDirectory(ctx, s)
	if err == nil && s.dir != nil && !s.expired {
		err = r.reconcileSubjects(ctx, s)
	}
	if errors.Is(err, groupmembers.ErrStale) {
		return ctrl.Result{RequeueAfter: staleRetry}, nil
	}
	if err == nil {
		err = r.reconcileRole(ctx, s)
	}
	if err == nil {
		err = r.apply(ctx, s)
	}
	r.setStatus(s, err)
	if !equalStatus(before, b.BindingStatus()) {
		if uerr := r.Client.Status().Patch(ctx, b, client.MergeFrom(base)); uerr != nil && err == nil {
			err = uerr
		}
		r.recordChange(b, before)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	result := ctrl.Result{}
	if !s.requeueAt.IsZero() {
		result.RequeueAfter = s.requeueAt.Sub(r.now())
	}
	if !s.roleFound {
		// Roles are not watched: look again later.
		result.RequeueAfter = time.Minute
	}
	return result, nil
}

// groupsWrittenAt is when the identity provider last wrote one of the
// binding's groups (their lastModified); zero when none can be read.
func (r *BindingReconciler) groupsWrittenAt(ctx context.Context, b identityv1alpha1.ScimBinding) time.Time {
	spec := b.BindingSpec()
	var dir identityv1alpha1.ScimDirectory
	if err := r.Client.Get(ctx, types.NamespacedName{Name: spec.Directory}, &dir); err != nil {
		return time.Time{}
	}
	view := directoryView{c: r.Client, x: r.Members, ns: dir.Spec.Namespace}
	var latest time.Time
	for _, ref := range spec.Groups {
		g, err := view.group(ctx, ref)
		if err != nil || g == nil {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, g.Annotations[identityv1alpha1.LastModifiedAnnotation]); err == nil && t.After(latest) {
			latest = t
		}
	}
	return latest
}

// reconcileDirectory finds the directory and checks the expiry.
func (r *BindingReconciler) reconcileDirectory(ctx context.Context, s *bindingScope) error {
	spec := s.binding.BindingSpec()
	if spec.ExpiresAt != nil {
		if !r.now().Before(spec.ExpiresAt.Time) {
			s.expired = true
			return nil
		}
		s.requeueAt = spec.ExpiresAt.Time
	}
	var dir identityv1alpha1.ScimDirectory
	err := r.Client.Get(ctx, types.NamespacedName{Name: spec.Directory}, &dir)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	s.dir = &dir
	return nil
}

// reconcileSubjects resolves groups and users to the desired subjects.
func (r *BindingReconciler) reconcileSubjects(ctx context.Context, s *bindingScope) error {
	spec, status := s.binding.BindingSpec(), s.binding.BindingStatus()
	view := directoryView{c: r.Client, x: r.Members, ns: s.dir.Spec.Namespace}
	status.UnresolvedGroups, status.UnresolvedUsers = nil, nil
	var roots []*identityv1alpha1.ScimGroup
	for _, ref := range spec.Groups {
		g, err := view.group(ctx, ref)
		if err != nil {
			return err
		}
		if g == nil {
			status.UnresolvedGroups = append(status.UnresolvedGroups, describeGroupRef(ref))
			continue
		}
		roots = append(roots, g)
	}
	m, err := view.flatten(ctx, roots)
	if err != nil {
		return err
	}
	s.cycle = m.cycle
	for _, ref := range spec.Users {
		u, err := view.user(ctx, ref)
		if err != nil {
			return err
		}
		if u == nil {
			status.UnresolvedUsers = append(status.UnresolvedUsers, describeUserRef(ref))
			continue
		}
		m.userIDs[u.Name] = true
	}

	names := map[string]bool{}
	if spec.SubjectMode == identityv1alpha1.SubjectModeGroups {
		// Only the directly listed users are named; group members reach the
		// role through their OIDC group claim.
		m.userIDs = map[string]bool{}
		for _, ref := range spec.Users {
			if u, err := view.user(ctx, ref); err == nil && u != nil {
				m.userIDs[u.Name] = true
			}
		}
	}
	var u identityv1alpha1.ScimUser
	for id := range m.userIDs {
		found, err := view.readUser(ctx, id, &u)
		if err != nil {
			return err
		}
		if !found || !u.DeletionTimestamp.IsZero() || !u.Spec.IsActive() {
			continue
		}
		if name := KubernetesUsername(s.dir, &u); name != "" {
			names[name] = true
		}
	}
	s.subjects = []rbacv1.Subject{}
	for name := range names {
		s.subjects = append(s.subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name})
	}
	s.users = len(s.subjects)
	if spec.SubjectMode == identityv1alpha1.SubjectModeGroups {
		for _, g := range m.groups {
			s.subjects = append(s.subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: s.dir.Spec.Kubernetes.GroupPrefix + g.Spec.DisplayName})
		}
	}
	slices.SortFunc(s.subjects, compareSubjects)
	return nil
}

// reconcileRole checks that the role exists; a missing role is reported, and
// the binding still applied so access appears once the role is created.
func (r *BindingReconciler) reconcileRole(ctx context.Context, s *bindingScope) error {
	ref := s.binding.BindingSpec().RoleRef
	var err error
	if ref.Kind == "ClusterRole" {
		err = r.Client.Get(ctx, types.NamespacedName{Name: ref.Name}, &rbacv1.ClusterRole{})
	} else {
		err = r.Client.Get(ctx, types.NamespacedName{Namespace: s.binding.GetNamespace(), Name: ref.Name}, &rbacv1.Role{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	s.roleFound = err == nil
	return err
}

// objectName is the name of shard i of a binding's RBAC objects.
func objectName(binding string, i int) string {
	if i == 0 {
		return "scim-" + binding
	}
	return fmt.Sprintf("scim-%s-%d", binding, i)
}

// apply writes the shards with server-side apply and deletes the ones no
// longer needed. Applying with one field manager and forced ownership also
// reverts manual edits.
func (r *BindingReconciler) apply(ctx context.Context, s *bindingScope) error {
	b := s.binding
	var shards [][]rbacv1.Subject
	if s.subjects != nil {
		shards = shardSubjects(s.subjects)
	}
	existing, err := r.owned(ctx, b)
	if err != nil {
		return err
	}
	current := map[string]client.Object{}
	for _, o := range existing {
		current[o.GetName()] = o
	}
	labels := map[string]string{
		identityv1alpha1.BindingLabel:     b.GetName(),
		identityv1alpha1.BindingKindLabel: r.kind(),
		// The directory label lets revocation look only at this directory's grants.
		identityv1alpha1.DirectoryLabel: b.BindingSpec().Directory,
	}
	ref := b.BindingSpec().RoleRef
	roleRef := rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind(ref.Kind).WithName(ref.Name)
	keep := map[string]bool{}
	for i, shard := range shards {
		name := objectName(b.GetName(), i)
		keep[name] = true
		if cur, ok := current[name]; ok && upToDate(cur, shard, ref, labels, b) {
			// The cache shows this object as wanted: a membership change
			// elsewhere in a large binding rewrites only its own shard.
			continue
		}
		subjects := make([]*rbacv1ac.SubjectApplyConfiguration, len(shard))
		for j, sub := range shard {
			subjects[j] = rbacv1ac.Subject().WithKind(sub.Kind).WithAPIGroup(sub.APIGroup).WithName(sub.Name)
		}
		var err error
		if r.Cluster {
			err = r.Client.Apply(ctx, rbacv1ac.ClusterRoleBinding(name).WithLabels(labels).WithRoleRef(roleRef).WithSubjects(subjects...),
				client.FieldOwner(FieldManager), client.ForceOwnership)
		} else {
			owner := metav1ac.OwnerReference().WithAPIVersion(identityv1alpha1.GroupVersion.String()).WithKind(r.kind()).
				WithName(b.GetName()).WithUID(b.GetUID()).WithController(true).WithBlockOwnerDeletion(true)
			err = r.Client.Apply(ctx, rbacv1ac.RoleBinding(name, b.GetNamespace()).WithLabels(labels).WithOwnerReferences(owner).
				WithRoleRef(roleRef).WithSubjects(subjects...), client.FieldOwner(FieldManager), client.ForceOwnership)
		}
		if err != nil {
			return fmt.Errorf("applying %s: %w", name, err)
		}
	}
	for _, o := range existing {
		if !keep[o.GetName()] {
			if err := r.Client.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
				return err
			}
		}
	}
	status := b.BindingStatus()
	status.Objects = status.Objects[:0]
	for i := range shards {
		status.Objects = append(status.Objects, objectName(b.GetName(), i))
	}
	status.BoundUsers = int32(s.users)
	return nil
}

// owned lists the RBAC objects a binding manages.
func (r *BindingReconciler) owned(ctx context.Context, b identityv1alpha1.ScimBinding) ([]client.Object, error) {
	sel := client.MatchingLabels{identityv1alpha1.BindingLabel: b.GetName(), identityv1alpha1.BindingKindLabel: r.kind()}
	var out []client.Object
	if r.Cluster {
		var list rbacv1.ClusterRoleBindingList
		if err := r.Client.List(ctx, &list, sel); err != nil {
			return nil, err
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
		return out, nil
	}
	var list rbacv1.RoleBindingList
	if err := r.Client.List(ctx, &list, sel, client.InNamespace(b.GetNamespace())); err != nil {
		return nil, err
	}
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

// finalize deletes the RBAC objects, then lets the binding go.
func (r *BindingReconciler) finalize(ctx context.Context, b identityv1alpha1.ScimBinding) error {
	if !controllerutil.ContainsFinalizer(b, identityv1alpha1.BindingFinalizer) {
		return nil
	}
	objs, err := r.owned(ctx, b)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := r.Client.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	patch := client.MergeFrom(b.DeepCopyObject().(client.Object))
	controllerutil.RemoveFinalizer(b, identityv1alpha1.BindingFinalizer)
	return r.Client.Patch(ctx, b, patch)
}

func describeGroupRef(ref identityv1alpha1.GroupRef) string {
	switch {
	case ref.ID != "":
		return "id=" + ref.ID
	case ref.ExternalID != "":
		return "externalId=" + ref.ExternalID
	}
	return "displayName=" + ref.DisplayName
}

func describeUserRef(ref identityv1alpha1.UserRef) string {
	switch {
	case ref.ID != "":
		return "id=" + ref.ID
	case ref.ExternalID != "":
		return "externalId=" + ref.ExternalID
	}
	return "userName=" + ref.UserName
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// SetupWithManager registers the controller.
func (r *BindingReconciler) SetupWithManager(mgr ctrl.Manager) error {
	var rbacObj client.Object = &rbacv1.RoleBinding{}
	if r.Cluster {
		rbacObj = &rbacv1.ClusterRoleBinding{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(r.newBinding(), builder.WithPredicates(specOrDeletion())).
		// Managed RBAC objects map back by label, for both kinds: manual
		// edits and deletions are repaired at once.
		Watches(rbacObj, handler.EnqueueRequestsFromMapFunc(r.fromRBAC)).
		// A user or group change touches only the bindings that can include
		// it, found through the binding subject index.
		Watches(&identityv1alpha1.ScimUser{}, handler.EnqueueRequestsFromMapFunc(r.fromUser), builder.WithPredicates(specOrDeletion())).
		Watches(&identityv1alpha1.ScimGroup{}, handler.EnqueueRequestsFromMapFunc(r.fromGroup), builder.WithPredicates(specOrDeletion())).
		Watches(&identityv1alpha1.ScimDirectory{}, handler.EnqueueRequestsFromMapFunc(r.fromDirectory), builder.WithPredicates(specOrDeletion())).
		Named(map[bool]string{false: "scimrolebinding", true: "scimclusterrolebinding"}[r.Cluster]).
		Complete(r)
}

// specOrDeletion passes creations, deletions, spec changes and the start of
// a deletion, and drops status-only updates.
func specOrDeletion() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
			e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero()
	}}
}

func (r *BindingReconciler) fromRBAC(_ context.Context, o client.Object) []reconcile.Request {
	l := o.GetLabels()
	if l[identityv1alpha1.BindingKindLabel] != r.kind() || l[identityv1alpha1.BindingLabel] == "" {
		return nil
	}
	ns := o.GetNamespace()
	if r.Cluster {
		ns = ""
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: l[identityv1alpha1.BindingLabel]}}}
}

func (r *BindingReconciler) fromUser(ctx context.Context, o client.Object) []reconcile.Request {
	u := o.(*identityv1alpha1.ScimUser)
	dir := u.Labels[identityv1alpha1.DirectoryLabel]
	groups, err := directoryView{c: r.Client, x: r.Members, ns: u.Namespace}.ancestors(ctx, u.Name)
	if err != nil {
		return nil
	}
	keys := index.UserKeys(dir, u)
	for _, g := range groups {
		keys = append(keys, index.GroupKeys(dir, g)...)
	}
	return r.bindingsFor(ctx, index.BindingSubject, keys)
}

func (r *BindingReconciler) fromGroup(ctx context.Context, o client.Object) []reconcile.Request {
	g := o.(*identityv1alpha1.ScimGroup)
	dir := g.Labels[identityv1alpha1.DirectoryLabel]
	groups, err := directoryView{c: r.Client, x: r.Members, ns: g.Namespace}.ancestors(ctx, g.Name)
	if err != nil {
		return nil
	}
	keys := index.GroupKeys(dir, g)
	for _, a := range groups {
		keys = append(keys, index.GroupKeys(dir, a)...)
	}
	return r.bindingsFor(ctx, index.BindingSubject, keys)
}

func (r *BindingReconciler) fromDirectory(ctx context.Context, o client.Object) []reconcile.Request {
	return r.bindingsFor(ctx, index.BindingDirectory, []string{o.GetName()})
}

// bindingsFor lists the bindings of this controller's kind under index keys.
func (r *BindingReconciler) bindingsFor(ctx context.Context, field string, keys []string) []reconcile.Request {
	seen := map[types.NamespacedName]bool{}
	var reqs []reconcile.Request
	for _, key := range keys {
		var names []types.NamespacedName
		if r.Cluster {
			var list identityv1alpha1.ScimClusterRoleBindingList
			if err := r.Client.List(ctx, &list, client.MatchingFields{field: key}); err != nil {
				return reqs
			}
			for i := range list.Items {
				names = append(names, client.ObjectKeyFromObject(&list.Items[i]))
			}
		} else {
			var list identityv1alpha1.ScimRoleBindingList
			if err := r.Client.List(ctx, &list, client.MatchingFields{field: key}); err != nil {
				return reqs
			}
			for i := range list.Items {
				names = append(names, client.ObjectKeyFromObject(&list.Items[i]))
			}
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				reqs = append(reqs, reconcile.Request{NamespacedName: n})
			}
		}
	}
	return reqs
}
