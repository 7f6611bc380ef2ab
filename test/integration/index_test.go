package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/index"
	"github.com/scim-operator/scim-operator/internal/operator"
)

// TestIndexScopes checks index.Setup against controller-runtime's real cache
// reader: the indexes register one key form each, under controller-runtime's
// own index names, so a change of those names in an upgrade must fail here
// and not turn every filter into "no results".
func TestIndexScopes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := cache.New(env.Config, cache.Options{Scheme: operator.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := index.Setup(ctx, c); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}

	ns := "index-scopes"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	user := &identityv1alpha1.ScimUser{
		ObjectMeta: metav1.ObjectMeta{Name: "u1", Namespace: ns},
		Spec:       identityv1alpha1.ScimUserSpec{UserName: "Ann@Example.com", ExternalID: "ext-ann"},
	}
	acct := &identityv1alpha1.AppAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "wiki-u1", Namespace: ns},
		Spec:       identityv1alpha1.AppAccountSpec{App: "wiki", User: "u1", UserName: "Ann@Example.com"},
	}
	for _, o := range []client.Object{user, acct} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	count := func(list client.ObjectList, opts ...client.ListOption) int {
		t.Helper()
		if err := c.List(ctx, list, opts...); err != nil {
			t.Fatal(err)
		}
		return apimeta.LenList(list)
	}
	eventuallyWithin(t, 30*time.Second, "the cache holds the objects", func() bool {
		return count(&identityv1alpha1.ScimUserList{}, client.InNamespace(ns)) == 1 && count(&identityv1alpha1.AppAccountList{}, client.InNamespace(ns)) == 1
	})
	cases := []struct {
		name string
		list client.ObjectList
		opts []client.ListOption
		want int
	}{
		{"userName in the namespace", &identityv1alpha1.ScimUserList{}, []client.ListOption{client.InNamespace(ns), client.MatchingFields{index.UserName: index.Key(index.UserName, index.Fold("ANN@example.com"))}}, 1},
		{"externalId in the namespace", &identityv1alpha1.ScimUserList{}, []client.ListOption{client.InNamespace(ns), client.MatchingFields{index.UserExternalID: index.Key(index.UserExternalID, "ext-ann")}}, 1},
		{"userName in another namespace", &identityv1alpha1.ScimUserList{}, []client.ListOption{client.InNamespace("other"), client.MatchingFields{index.UserName: index.Key(index.UserName, index.Fold("ann@example.com"))}}, 0},
		{"an account's user across namespaces", &identityv1alpha1.AppAccountList{}, []client.ListOption{client.MatchingFields{index.AccountUser: "u1"}}, 1},
		{"another user across namespaces", &identityv1alpha1.AppAccountList{}, []client.ListOption{client.MatchingFields{index.AccountUser: "u2"}}, 0},
	}
	for _, tc := range cases {
		if got := count(tc.list, tc.opts...); got != tc.want {
			t.Errorf("%s: %d found, want %d", tc.name, got, tc.want)
		}
	}
}
