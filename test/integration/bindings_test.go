package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/operator"
)

// podReader is a ClusterRole the binding tests grant; the local control plane
// has no controller-manager, so the built-in aggregated roles are empty.
const podReader = "scim-test-pod-reader"

func ensurePodReader(t *testing.T) {
	t.Helper()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: podReader},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}},
	}
	if err := env.Client.Create(context.Background(), role); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// canListPods asks the API server, through a real SubjectAccessReview, the
// question `kubectl auth can-i list pods -n ns --as user` asks.
func canListPods(t *testing.T, user, ns string) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               user,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods", Namespace: ns},
	}}
	if err := env.Client.Create(context.Background(), sar); err != nil {
		t.Fatal(err)
	}
	return sar.Status.Allowed
}

// eventually polls cond for up to 30 s (a convergence bound, not a speed target).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 30*time.Second, what, cond)
}

// eventuallyWithin polls cond for up to d.
func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func expectAccess(t *testing.T, user, ns string, want bool) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s can list pods in %s = %v", user, ns, want), func() bool { return canListPods(t, user, ns) == want })
}

func patchMembers(c *scimClient, group string, ops ...map[string]any) {
	c.t.Helper()
	c.do("PATCH", "/Groups/"+group, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": ops,
	}).expect(c.t, 204)
}

func dirName(c *scimClient) string { return strings.TrimPrefix(c.namespace, "scim-") }

func TestGroupMembersGetTheRoleAndLoseItWhenRemovedOrDeactivated(t *testing.T) {
	ensurePodReader(t)
	c := newDirectory(t)
	ns := "team-" + dirName(c)
	ensureNamespace(t, ns)
	ann := c.createUser("ann@example.com", nil)
	bob := c.createUser("bob@example.com", nil)
	devs := c.createGroup("Team Devs", ann)

	b := &identityv1alpha1.ScimRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "devs", Namespace: ns},
		Spec: identityv1alpha1.ScimBindingSpec{
			Directory: dirName(c),
			Groups:    []identityv1alpha1.GroupRef{{DisplayName: "team devs"}},
			RoleRef:   identityv1alpha1.RoleRef{Kind: "ClusterRole", Name: podReader},
		},
	}
	if err := env.Client.Create(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	expectAccess(t, "oidc:ann@example.com", ns, true)
	if canListPods(t, "oidc:bob@example.com", ns) {
		t.Fatal("bob has access without being a member")
	}
	if canListPods(t, "oidc:ann@example.com", "default") {
		t.Fatal("a namespaced binding granted access in another namespace")
	}

	patchMembers(c, devs, map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": bob}}})
	expectAccess(t, "oidc:bob@example.com", ns, true)

	patchMembers(c, devs, map[string]any{"op": "remove", "path": fmt.Sprintf("members[value eq %q]", ann)})
	expectAccess(t, "oidc:ann@example.com", ns, false)

	c.do("PATCH", "/Users/"+bob, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "Replace", "value": map[string]any{"active": "False"}}},
	}).expect(t, 200)
	expectAccess(t, "oidc:bob@example.com", ns, false)

	// Reactivation restores access; deletion removes it.
	c.do("PATCH", "/Users/"+bob, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": true}},
	}).expect(t, 200)
	expectAccess(t, "oidc:bob@example.com", ns, true)
	c.do("DELETE", "/Users/"+bob, nil).expect(t, 204)
	expectAccess(t, "oidc:bob@example.com", ns, false)

	var got identityv1alpha1.ScimRoleBinding
	eventually(t, "status shows the binding Ready", func() bool {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(b), &got)
		return meta.IsStatusConditionTrue(got.Status.Conditions, identityv1alpha1.ReadyCondition) && got.Status.BoundUsers == 0
	})
	if len(got.Status.Objects) != 1 || got.Status.Objects[0] != "scim-devs" {
		t.Fatalf("status objects %v", got.Status.Objects)
	}
}

func TestRenamedUserKeepsAccessUnderTheNewName(t *testing.T) {
	ensurePodReader(t)
	c := newDirectory(t)
	ns := "team-" + dirName(c)
	ensureNamespace(t, ns)
	ann := c.createUser("ann@example.com", nil)
	c.createGroup("ops", ann)
	createBinding(t, ns, "ops", dirName(c), identityv1alpha1.GroupRef{DisplayName: "ops"})
	expectAccess(t, "oidc:ann@example.com", ns, true)
	c.do("PATCH", "/Users/"+ann, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "path": "userName", "value": "ann.lee@example.com"}},
	}).expect(t, 200)
	expectAccess(t, "oidc:ann.lee@example.com", ns, true)
	expectAccess(t, "oidc:ann@example.com", ns, false)
}

func createBinding(t *testing.T, ns, name, dir string, groups ...identityv1alpha1.GroupRef) *identityv1alpha1.ScimRoleBinding {
	t.Helper()
	b := &identityv1alpha1.ScimRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: identityv1alpha1.ScimBindingSpec{
			Directory: dir, Groups: groups,
			RoleRef: identityv1alpha1.RoleRef{Kind: "ClusterRole", Name: podReader},
		},
	}
	if err := env.Client.Create(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNestedGroupMembersAreBoundAndCyclesAreReported(t *testing.T) {
	ensurePodReader(t)
	c := newDirectory(t)
	ns := "team-" + dirName(c)
	ensureNamespace(t, ns)
	carol := c.createUser("carol@example.com", nil)
	child := c.createGroup("child", carol)
	parent := c.createGroup("parent")
	patchMembers(c, parent, map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": child, "type": "Group"}}})
	b := createBinding(t, ns, "parent", dirName(c), identityv1alpha1.GroupRef{DisplayName: "parent"})
	expectAccess(t, "oidc:carol@example.com", ns, true)

	// child -> parent closes a cycle: access stays, the cycle is reported.
	patchMembers(c, child, map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": parent}}})
	eventually(t, "the cycle is reported", func() bool {
		var got identityv1alpha1.ScimRoleBinding
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(b), &got)
		cond := meta.FindStatusCondition(got.Status.Conditions, identityv1alpha1.GroupsResolvedCondition)
		return cond != nil && cond.Reason == identityv1alpha1.ReasonMembershipCycle
	})
	expectAccess(t, "oidc:carol@example.com", ns, true)

	// Removing carol from the nested group removes her access.
	patchMembers(c, child, map[string]any{"op": "remove", "path": fmt.Sprintf("members[value eq %q]", carol)})
	expectAccess(t, "oidc:carol@example.com", ns, false)
}

func TestManualEditsAreRevertedAndDeletionCleansUp(t *testing.T) {
	ensurePodReader(t)
	c := newDirectory(t)
	ns := "team-" + dirName(c)
	ensureNamespace(t, ns)
	ann := c.createUser("ann@example.com", nil)
	c.createGroup("ops", ann)
	b := createBinding(t, ns, "ops", dirName(c), identityv1alpha1.GroupRef{DisplayName: "ops"})
	expectAccess(t, "oidc:ann@example.com", ns, true)

	ctx := context.Background()
	var rb rbacv1.RoleBinding
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "scim-ops"}, &rb); err != nil {
		t.Fatal(err)
	}
	rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "intruder"})
	if err := env.Client.Update(ctx, &rb); err != nil {
		t.Fatal(err)
	}
	expectAccess(t, "intruder", ns, false)

	if err := env.Client.Delete(ctx, &rb); err != nil {
		t.Fatal(err)
	}
	expectAccess(t, "oidc:ann@example.com", ns, true)

	if err := env.Client.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	expectAccess(t, "oidc:ann@example.com", ns, false)
	eventually(t, "the RoleBinding is gone", func() bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "scim-ops"}, &rbacv1.RoleBinding{}))
	})
}

func TestClusterBindingGrantsEverywhereUntilItExpires(t *testing.T) {
	ensurePodReader(t)
	c := newDirectory(t)
	ann := c.createUser("ann@example.com", nil)
	c.createGroup("admins", ann)
	ctx := context.Background()
	b := &identityv1alpha1.ScimClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "admins-" + dirName(c)},
		Spec: identityv1alpha1.ScimBindingSpec{
			Directory: dirName(c),
			Groups:    []identityv1alpha1.GroupRef{{DisplayName: "admins"}},
			RoleRef:   identityv1alpha1.RoleRef{Kind: "ClusterRole", Name: podReader},
			ExpiresAt: &metav1.Time{Time: time.Now().Add(4 * time.Second)},
		},
	}
	if err := env.Client.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	expectAccess(t, "oidc:ann@example.com", "kube-system", true)
	expectAccess(t, "oidc:ann@example.com", "kube-system", false)
	eventually(t, "status says Expired", func() bool {
		var got identityv1alpha1.ScimClusterRoleBinding
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(b), &got)
		cond := meta.FindStatusCondition(got.Status.Conditions, identityv1alpha1.ReadyCondition)
		return cond != nil && cond.Reason == identityv1alpha1.ReasonExpired
	})
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "scim-" + b.Name}, &rbacv1.ClusterRoleBinding{}); !apierrors.IsNotFound(err) {
		t.Fatalf("ClusterRoleBinding still there after expiry: %v", err)
	}
}

func TestUnresolvedGroupsAreReportedNotFatal(t *testing.T) {
	ensurePodReader(t)
	c := newDirectory(t)
	ns := "team-" + dirName(c)
	ensureNamespace(t, ns)
	b := createBinding(t, ns, "ghost", dirName(c), identityv1alpha1.GroupRef{DisplayName: "no-such-group"})
	eventually(t, "the missing group is reported", func() bool {
		var got identityv1alpha1.ScimRoleBinding
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(b), &got)
		cond := meta.FindStatusCondition(got.Status.Conditions, identityv1alpha1.GroupsResolvedCondition)
		return cond != nil && cond.Reason == identityv1alpha1.ReasonGroupsNotFound &&
			len(got.Status.UnresolvedGroups) == 1 && got.Status.UnresolvedGroups[0] == "displayName=no-such-group"
	})
	// The group appears later: the binding picks it up.
	ann := c.createUser("ann@example.com", nil)
	c.createGroup("no-such-group", ann)
	expectAccess(t, "oidc:ann@example.com", ns, true)
}

func TestBindingARoleTheCreatorCannotBindIsRefused(t *testing.T) {
	ensurePodReader(t)
	ctx := context.Background()
	ns := "escalation"
	ensureNamespace(t, ns)
	// mallory may write ScimRoleBindings in the namespace, but not bind roles.
	for _, o := range []client.Object{
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "scim-binding-writer", Namespace: ns}, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{identityv1alpha1.GroupVersion.Group}, Resources: []string{"scimrolebindings"}, Verbs: []string{"create", "update", "get"},
		}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "mallory-writes-bindings", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "scim-binding-writer"},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "mallory"}}},
	} {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	mallory, err := env.Env.AddUser(envtest.User{Name: "mallory"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := client.New(mallory.Config(), client.Options{Scheme: operator.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	b := &identityv1alpha1.ScimRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "grab", Namespace: ns},
		Spec: identityv1alpha1.ScimBindingSpec{
			Directory: "any", Groups: []identityv1alpha1.GroupRef{{DisplayName: "x"}},
			RoleRef: identityv1alpha1.RoleRef{Kind: "ClusterRole", Name: podReader},
		},
	}
	err = mc.Create(ctx, b)
	if err == nil || !strings.Contains(err.Error(), `mallory may not grant ClusterRole "`+podReader+`"`) {
		t.Fatalf("escalation not refused with a clear message: %v", err)
	}

	// Once mallory may bind that role, the same request is admitted.
	for _, o := range []client.Object{
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "bind-pod-reader", Namespace: ns}, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"}, ResourceNames: []string{podReader},
		}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "mallory-binds", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "bind-pod-reader"},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "mallory"}}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "mallory may create the binding", func() bool { return mc.Create(ctx, b.DeepCopy()) == nil })
}

func TestGroupSubjectModeBindsTheOIDCGroupClaim(t *testing.T) {
	ensurePodReader(t)
	c := newDirectory(t)
	ns := "team-" + dirName(c)
	ensureNamespace(t, ns)
	ann := c.createUser("ann@example.com", nil)
	c.createGroup("Platform", ann)
	b := createBinding(t, ns, "platform", dirName(c), identityv1alpha1.GroupRef{DisplayName: "platform"})
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var fresh identityv1alpha1.ScimRoleBinding
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(b), &fresh); err != nil {
			return err
		}
		fresh.Spec.SubjectMode = identityv1alpha1.SubjectModeGroups
		return env.Client.Update(context.Background(), &fresh)
	})
	if err != nil {
		t.Fatal(err)
	}
	// The group claim is the directory's groupPrefix plus the display name.
	eventually(t, "the RoleBinding names the group, not its members", func() bool {
		var rb rbacv1.RoleBinding
		if env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "scim-platform"}, &rb) != nil {
			return false
		}
		return len(rb.Subjects) == 1 && rb.Subjects[0].Kind == rbacv1.GroupKind && rb.Subjects[0].Name == "oidc:Platform"
	})
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "oidc:ann@example.com", Groups: []string{"oidc:Platform"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods", Namespace: ns},
	}}
	if err := env.Client.Create(context.Background(), sar); err != nil || !sar.Status.Allowed {
		t.Fatalf("a request carrying the group claim is not allowed: %v %v", err, sar.Status)
	}
}
