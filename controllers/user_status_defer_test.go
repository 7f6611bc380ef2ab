package controllers

import (
	"context"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

func TestDeferredStatusIsDueWhenIdleOrAfterTheLongestWait(t *testing.T) {
	d := newDeferredStatus()
	t0 := time.Unix(1000, 0)
	a, b := types.NamespacedName{Namespace: "acme", Name: "a"}, types.NamespacedName{Namespace: "acme", Name: "b"}
	d.add(a, t0)
	d.add(b, t0.Add(time.Minute))
	d.add(a, t0.Add(2*time.Minute)) // once only
	if got := d.due(true, t0.Add(time.Minute)); got != nil {
		t.Errorf("due while busy = %v, want nothing", got)
	}
	if got := d.due(true, t0.Add(maxStatusDefer)); len(got) != 2 {
		t.Errorf("due while busy after maxStatusDefer = %v, want both", got)
	}
	d.sent()
	d.sent()
	if got := d.due(false, t0.Add(maxStatusDefer)); got != nil {
		t.Errorf("due again = %v, want nothing (taken)", got)
	}
	d.add(b, t0)
	if got := d.due(false, t0); len(got) != 1 || got[0] != b {
		t.Errorf("due when idle = %v, want [%v]", got, b)
	}
}

// A new active user's first status waits while the SCIM server is busy;
// a deactivated user's revocation never does.
func TestRoutineStatusWaitsWhileSCIMIsBusyButRevocationDoesNot(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := identityv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := rbacv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	inactive := false
	dir := &identityv1alpha1.ScimDirectory{ObjectMeta: metav1.ObjectMeta{Name: "acme"}, Spec: identityv1alpha1.ScimDirectorySpec{Namespace: "acme"}}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: "acme", Labels: map[string]string{identityv1alpha1.DirectoryLabel: "acme"},
			Finalizers: []string{identityv1alpha1.RevocationFinalizer}}
	}
	newcomer := &identityv1alpha1.ScimUser{ObjectMeta: meta("new"), Spec: identityv1alpha1.ScimUserSpec{UserName: "new@example.com"}}
	leaver := &identityv1alpha1.ScimUser{ObjectMeta: meta("gone"), Spec: identityv1alpha1.ScimUserSpec{UserName: "gone@example.com", Active: &inactive}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(dir, newcomer, leaver).
		WithStatusSubresource(&identityv1alpha1.ScimUser{}).Build()
	busy := true
	r := &UserReconciler{Client: c, Recorder: events.NewFakeRecorder(10), Busy: func() bool { return busy }, deferred: newDeferredStatus()}
	status := func(u *identityv1alpha1.ScimUser) identityv1alpha1.ScimUserStatus {
		var got identityv1alpha1.ScimUser
		if err := c.Get(ctx, client.ObjectKeyFromObject(u), &got); err != nil {
			t.Fatal(err)
		}
		return got.Status
	}
	for _, u := range []*identityv1alpha1.ScimUser{newcomer, leaver} {
		if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(u)}); err != nil {
			t.Fatal(err)
		}
	}
	if st := status(newcomer); len(st.Conditions) != 0 {
		t.Errorf("the newcomer's status was written while SCIM was busy: %+v", st)
	}
	if st := status(leaver); st.SessionsRevokedAt == nil {
		t.Errorf("the leaver's revocation waited for SCIM: %+v", st)
	}
	if got := r.deferred.due(true, time.Now()); got != nil {
		t.Fatalf("due while busy: %v", got)
	}
	busy = false
	due := r.deferred.due(false, time.Now())
	if len(due) != 1 || due[0] != client.ObjectKeyFromObject(newcomer) {
		t.Fatalf("due once idle = %v, want the newcomer", due)
	}
	if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: due[0]}); err != nil {
		t.Fatal(err)
	}
	if st := status(newcomer); st.KubernetesUsername == "" || len(st.Conditions) == 0 {
		t.Errorf("the newcomer's status once SCIM is idle: %+v", st)
	}
}
