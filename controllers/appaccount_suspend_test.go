package controllers

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/index"
)

// The revocation marks a still-active account inactive itself, with the
// spec the app controller would write, and reports the revocation done
// only once the account controller has suspended it.
func TestSuspendMarksActiveAccountsInactiveWithoutTheAppController(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := identityv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	inactive := false
	user := &identityv1alpha1.ScimUser{
		ObjectMeta: metav1.ObjectMeta{Name: "u1", Namespace: "acme", Generation: 7},
		Spec:       identityv1alpha1.ScimUserSpec{UserName: "ada@example.com", Active: &inactive},
	}
	acct := &identityv1alpha1.AppAccount{
		ObjectMeta: metav1.ObjectMeta{Name: AccountName("wiki", "u1"), Namespace: "apps"},
		Spec:       identityv1alpha1.AppAccountSpec{App: "wiki", User: "u1", UserName: "ada@example.com", Active: true, UserGeneration: 6},
		Status:     identityv1alpha1.AppAccountStatus{State: identityv1alpha1.AccountProvisioned},
	}
	other := &identityv1alpha1.AppAccount{
		ObjectMeta: metav1.ObjectMeta{Name: AccountName("wiki", "u2"), Namespace: "apps"},
		Spec:       identityv1alpha1.AppAccountSpec{App: "wiki", User: "u2", UserName: "bob@example.com", Active: true},
	}
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(acct, other).
		WithStatusSubresource(&identityv1alpha1.AppAccount{}).
		WithIndex(&identityv1alpha1.AppAccount{}, index.AccountUser, func(o client.Object) []string {
			return []string{o.(*identityv1alpha1.AppAccount).Spec.User}
		}).Build()
	s := &AccountSuspender{Client: c}

	done, err := s.Suspend(ctx, user)
	if err != nil || done {
		t.Fatalf("Suspend = %v, %v; want not done yet (the account is not suspended)", done, err)
	}
	var got identityv1alpha1.AppAccount
	if err := c.Get(ctx, client.ObjectKeyFromObject(acct), &got); err != nil {
		t.Fatal(err)
	}
	if want := accountSpec("wiki", user); got.Spec != want {
		t.Errorf("account spec = %+v, want %+v (what the app controller writes)", got.Spec, want)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(other), &got); err != nil || !got.Spec.Active {
		t.Errorf("another user's account was changed: active=%v, %v", got.Spec.Active, err)
	}

	// The account controller suspends it; then the revocation is done.
	if err := c.Get(ctx, client.ObjectKeyFromObject(acct), &got); err != nil {
		t.Fatal(err)
	}
	got.Status.State, got.Status.ObservedGeneration = identityv1alpha1.AccountSuspended, got.Generation
	if err := c.Status().Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if done, err := s.Suspend(ctx, user); err != nil || !done {
		t.Errorf("after suspension Suspend = %v, %v; want done", done, err)
	}
}
