package membership

import (
	"context"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// containing lists "name:direct" for each group f finds for member.
func containing(t *testing.T, f *Finder, member string) []string {
	t.Helper()
	cs, err := f.Containing(context.Background(), member)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		tag := ":indirect"
		if c.Direct {
			tag = ":direct"
		}
		out = append(out, c.Group.Name+tag+"@"+c.Group.Spec.DisplayName)
	}
	slices.Sort(out)
	return out
}

// The read-only finder takes groups from the index itself; it must find
// what a finder reading the cache finds, and follow updates and deletes.
func TestReadOnlyFinderAgreesWithTheCache(t *testing.T) {
	x := NewIndex()
	h := x.GroupHandler()
	groups := []*identityv1alpha1.ScimGroup{
		indexedGroup("d", "eng", "1", []string{"u1", "u2"}),
		indexedGroup("d", "staff", "2", nil, "u1"),
		indexedGroup("d", "all", "3", []string{"eng"}), // eng nested in all
		indexedGroup("other", "eng", "4", []string{"u1"}),
	}
	groups[2].Spec.Members[0].Type = identityv1alpha1.MemberGroup
	var objs []client.Object
	for _, g := range groups {
		g.Spec.DisplayName = "v" + g.ResourceVersion
		h.OnAdd(g, true)
		objs = append(objs, g.DeepCopy())
	}
	scheme := runtime.NewScheme()
	if err := identityv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()

	want := []string{"all:indirect@v3", "eng:direct@v1", "staff:direct@v2"}
	if got := containing(t, NewFinder(c, x, "d"), "u1"); !slices.Equal(got, want) {
		t.Fatalf("cache finder: %v, want %v", got, want)
	}
	if got := containing(t, NewReadOnlyFinder(x, "d"), "u1"); !slices.Equal(got, want) {
		t.Fatalf("read-only finder: %v, want %v", got, want)
	}

	// A rename and a delete reach the index, and a new finder sees them.
	renamed := groups[1].DeepCopy()
	renamed.ResourceVersion, renamed.Spec.DisplayName = "5", "v5"
	h.OnUpdate(groups[1], renamed)
	h.OnDelete(groups[2])
	if x.Group("d", "all") != nil || x.Group("d", "staff") != renamed {
		t.Fatal("Group does not return the latest object of the index")
	}
	want = []string{"eng:direct@v1", "staff:direct@v5"}
	if got := containing(t, NewReadOnlyFinder(x, "d"), "u1"); !slices.Equal(got, want) {
		t.Fatalf("read-only finder after a rename and a delete: %v, want %v", got, want)
	}
	if (*Index)(nil).Group("d", "eng") != nil {
		t.Fatal("a nil index knows a group")
	}
}
