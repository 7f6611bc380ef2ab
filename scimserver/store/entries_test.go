package store

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/membership"
)

// A user's `groups` elements are kept across responses by group resource
// version: a renamed group must show its new name at once, and the kept
// elements must stay bounded.
func TestGroupElementsFollowTheGroupsVersion(t *testing.T) {
	x := membership.NewIndex()
	h := x.GroupHandler()
	u := benchUser(1)
	group := func(rv, display string) *identityv1alpha1.ScimGroup {
		return &identityv1alpha1.ScimGroup{
			ObjectMeta: metav1.ObjectMeta{Namespace: "dir", Name: "eng", ResourceVersion: rv},
			Spec: identityv1alpha1.ScimGroupSpec{DisplayName: display,
				Members: []identityv1alpha1.Member{{Value: u.Name, Type: identityv1alpha1.MemberUser}}},
		}
	}
	s := &Store{Members: x}
	d := Dir{Namespace: "dir", BaseURL: "https://scim.example.com/dir/v2"}
	display := func() any {
		t.Helper()
		res, err := s.renderWith(context.Background(), d, Users, u, s.groupFinder(d))
		if err != nil {
			t.Fatal(err)
		}
		gs, _ := res["groups"].([]any)
		if len(gs) != 1 {
			t.Fatalf("groups: %v, want one", res["groups"])
		}
		return gs[0].(map[string]any)["display"]
	}
	old := group("1", "Engineering")
	h.OnAdd(old, true)
	if got := display(); got != "Engineering" {
		t.Fatalf("display %v, want Engineering", got)
	}
	h.OnUpdate(old, group("2", "R&D"))
	if got := display(); got != "R&D" {
		t.Fatalf("display after the rename %v, want R&D (a kept element of the old version was served)", got)
	}

	var c groupEntries
	for i := range maxGroupEntries + 10 {
		c.put(pageGroupKey{base: d.BaseURL, name: "g", rv: string(rune('a'+i%26)) + string(rune(i)), direct: true}, map[string]any{})
	}
	if len(c.m) > maxGroupEntries {
		t.Fatalf("%d elements kept, bound is %d", len(c.m), maxGroupEntries)
	}
}
