package controllers_test

import (
	"context"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/scim-operator/scim-operator/controllers"
	"github.com/scim-operator/scim-operator/internal/testenv"
)

// The revocation's RBAC write is a JSON patch whose meaning (a failed test
// is a 422, a remove by position) only the API server can show, so this runs
// on a real kube-apiserver: it must remove only the User subject of that
// name, and must not touch an object that changed since it was read.
func TestDropUserSubjectOnTheAPIServer(t *testing.T) {
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	te := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := te.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = te.Stop() })
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	subject := func(kind, name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: kind, APIGroup: rbacv1.GroupName, Name: name}
	}
	for _, cluster := range []bool{false, true} {
		var obj client.Object = &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "scim-b", Namespace: "default"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects:   []rbacv1.Subject{subject(rbacv1.GroupKind, "oidc:ann"), subject(rbacv1.UserKind, "oidc:ann"), subject(rbacv1.UserKind, "oidc:bob"), subject(rbacv1.UserKind, "oidc:cy")},
		}
		subjects := func(o client.Object) []rbacv1.Subject { return o.(*rbacv1.RoleBinding).Subjects }
		fresh := func() client.Object { return &rbacv1.RoleBinding{} }
		if cluster {
			rb := obj.(*rbacv1.RoleBinding)
			obj = &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "scim-b"}, RoleRef: rb.RoleRef, Subjects: rb.Subjects}
			subjects = func(o client.Object) []rbacv1.Subject { return o.(*rbacv1.ClusterRoleBinding).Subjects }
			fresh = func() client.Object { return &rbacv1.ClusterRoleBinding{} }
		}
		want := slices.Clone(subjects(obj))
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		key := client.ObjectKeyFromObject(obj)
		stale := fresh()
		if err := c.Get(ctx, key, stale); err != nil {
			t.Fatal(err)
		}
		cached := stale.DeepCopyObject().(client.Object)
		if err := controllers.DropUserSubject(ctx, c, cached, "oidc:ann"); err != nil {
			t.Fatalf("cluster=%v: %v", cluster, err)
		}
		if !slices.Equal(subjects(cached), want) {
			t.Errorf("cluster=%v: the object passed in (the cached one, in the controller) was changed: %v", cluster, subjects(cached))
		}
		got := fresh()
		if err := c.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		if w := []rbacv1.Subject{want[0], want[2], want[3]}; !slices.Equal(subjects(got), w) {
			t.Errorf("cluster=%v: subjects = %v, want %v", cluster, subjects(got), w)
		}
		// The stale copy still has oidc:cy at position 3, which the object
		// on the server no longer has: the version test must stop the patch.
		if err := controllers.DropUserSubject(ctx, c, stale, "oidc:cy"); !apierrors.IsConflict(err) {
			t.Errorf("cluster=%v: a write from a stale copy: err = %v, want a conflict", cluster, err)
		}
		// Position 1 holds oidc:ann in the stale copy and oidc:bob on the
		// server: without the version test the patch would remove bob.
		if err := controllers.DropUserSubject(ctx, c, stale, "oidc:ann"); !apierrors.IsConflict(err) {
			t.Errorf("cluster=%v: a write from a stale copy: err = %v, want a conflict", cluster, err)
		}
		if err := c.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		if w := []rbacv1.Subject{want[0], want[2], want[3]}; !slices.Equal(subjects(got), w) {
			t.Errorf("cluster=%v: after the stale writes, subjects = %v, want %v", cluster, subjects(got), w)
		}
		// Nothing to drop: no write at all.
		rv := got.GetResourceVersion()
		if err := controllers.DropUserSubject(ctx, c, got, "oidc:nobody"); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, key, got); err != nil || got.GetResourceVersion() != rv {
			t.Errorf("cluster=%v: dropping a user who is not named wrote the object (rv %s → %s, %v)", cluster, rv, got.GetResourceVersion(), err)
		}
	}
}
