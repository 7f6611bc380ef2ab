package index

import (
	"context"
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// The user indexes file values under buckets; a look-up must still return
// exactly the users with the value, also when another user's value shares
// its bucket.
func TestUserLookupsAreExactThoughIndexesAreBucketed(t *testing.T) {
	// Two userNames in one bucket, found by trying.
	first := "ann@example.com"
	second := ""
	for i := 0; second == ""; i++ {
		if v := "user-" + strconv.Itoa(i) + "@example.com"; bucket(v) == bucket(first) {
			second = v
		}
	}
	user := func(name, userName, ext string, emails ...string) *identityv1alpha1.ScimUser {
		u := &identityv1alpha1.ScimUser{ObjectMeta: metav1.ObjectMeta{Namespace: "d", Name: name},
			Spec: identityv1alpha1.ScimUserSpec{UserName: userName, ExternalID: ext}}
		for _, e := range emails {
			u.Spec.Emails = append(u.Spec.Emails, identityv1alpha1.MultiValue{Value: e})
		}
		return u
	}
	scheme := runtime.NewScheme()
	if err := identityv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		user("u1", "Ann@Example.com", "e1", "ann@example.com", "Ann@Work.example"),
		user("u2", second, "e2", second),
		&identityv1alpha1.ScimUser{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "u3"}, Spec: identityv1alpha1.ScimUserSpec{UserName: first}},
	)
	for _, k := range []string{UserName, UserExternalID, UserEmail} {
		b = b.WithIndex(&identityv1alpha1.ScimUser{}, k, bucketed(k))
	}
	c := b.Build()

	names := func(key, value string) []string {
		t.Helper()
		users, err := Users(context.Background(), c, "d", key, value)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, u := range users {
			out = append(out, u.Name)
		}
		return out
	}
	for _, tc := range []struct {
		key, value string
		want       []string
	}{
		{UserName, Fold("ANN@example.com"), []string{"u1"}},
		{UserName, second, []string{"u2"}},
		{UserName, "nobody@example.com", nil},
		{UserExternalID, "e2", []string{"u2"}},
		{UserExternalID, "E2", nil}, // externalId is case-exact
		{UserEmail, Fold("ann@work.example"), []string{"u1"}},
		{UserEmail, second, []string{"u2"}},
	} {
		if got := names(tc.key, tc.value); len(got) != len(tc.want) || (len(got) == 1 && got[0] != tc.want[0]) {
			t.Errorf("%s = %q: %v, want %v", tc.key, tc.value, got, tc.want)
		}
	}
	// Key and Matches are what generic callers use.
	var list identityv1alpha1.ScimUserList
	if err := c.List(context.Background(), &list, client.InNamespace("d"), client.MatchingFields{UserName: Key(UserName, first)}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("the bucket of %q holds %d users, want both of d's", first, len(list.Items))
	}
	matched := 0
	for i := range list.Items {
		if Matches(UserName, &list.Items[i], first) {
			matched++
		}
	}
	if matched != 1 || !Matches(GroupDisplayName, &list.Items[0], "anything") || Key(GroupDisplayName, "x") != "x" {
		t.Fatal("Matches or Key does not tell the bucketed indexes from the others")
	}
}
