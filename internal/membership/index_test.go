package membership

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

func indexedGroup(ns, name, rv string, inline []string, added ...string) *identityv1alpha1.ScimGroup {
	g := &identityv1alpha1.ScimGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: rv}}
	for _, v := range inline {
		g.Spec.Members = append(g.Spec.Members, user(v))
	}
	if added != nil {
		g.Spec.Membership = &identityv1alpha1.GroupMembership{}
		for _, v := range added {
			g.Spec.Membership.Added = append(g.Spec.Membership.Added, user(v))
		}
	}
	return g
}

func lookupGroups(x *Index, ns, member string) []string {
	groups, _ := x.Lookup(ns, member)
	slices.Sort(groups)
	return groups
}

func TestIndexFollowsGroupEvents(t *testing.T) {
	x := NewIndex()
	h := x.GroupHandler()
	a1 := indexedGroup("d1", "a", "5", []string{"u1", "u2", "u2"})
	h.OnAdd(a1, true)
	h.OnAdd(indexedGroup("d1", "b", "6", nil, "u1"), true)
	h.OnAdd(indexedGroup("d2", "c", "7", []string{"u1"}), true)

	if got := lookupGroups(x, "d1", "u1"); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("u1 in d1: %v, want [a b] (inline and added; not d2's group)", got)
	}
	if got := lookupGroups(x, "d1", "u2"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("u2 (listed twice): %v, want [a]", got)
	}
	if !x.Synced("d1", "a", "5") || x.Synced("d1", "a", "6") || x.Synced("d1", "zz", "1") {
		t.Fatal("Synced does not follow the resource versions seen")
	}

	// u2 leaves a, u3 joins: the old entries go, the new come.
	a2 := indexedGroup("d1", "a", "8", []string{"u1", "u3"})
	h.OnUpdate(a1, a2)
	if got := lookupGroups(x, "d1", "u2"); got != nil {
		t.Fatalf("u2 after leaving a: %v", got)
	}
	if got := lookupGroups(x, "d1", "u3"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("u3 after joining a: %v", got)
	}
	if !x.Synced("d1", "a", "8") {
		t.Fatal("update not seen")
	}
	// A status update keeps the members and moves the version.
	a3 := indexedGroup("d1", "a", "9", []string{"u1", "u3"})
	h.OnUpdate(a2, a3)
	if !x.Synced("d1", "a", "9") || !slices.Equal(lookupGroups(x, "d1", "u3"), []string{"a"}) {
		t.Fatal("an update with the same members was not seen")
	}

	// A deletion the informer missed arrives wrapped.
	h.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "d1/a", Obj: a3})
	if got := lookupGroups(x, "d1", "u1"); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("u1 after a was deleted: %v", got)
	}
	if n := x.ns["d1"]; len(n.inGroups) != 1 || len(n.groups) != 1 {
		t.Fatalf("deleted entries are kept: %d members, %d groups", len(n.inGroups), len(n.groups))
	}
}

func TestIndexFollowsShardEvents(t *testing.T) {
	x := NewIndex()
	h := x.ShardHandler()
	s := shard("g-1", "u1", "u2")
	s.Namespace = "d1"
	h.OnAdd(s, true)
	if !x.HasShard("d1", "g-1") || x.HasShard("d1", "g-2") || x.HasShard("d2", "g-1") {
		t.Fatal("HasShard does not follow the shards seen")
	}
	if _, shards := x.Lookup("d1", "u2"); !slices.Equal(shards, []ShardRef{{Name: "g-1", Group: "g"}}) {
		t.Fatalf("u2's shards: %v", shards)
	}
	if groups, shards := x.Lookup("d1", "u9"); groups != nil || shards != nil {
		t.Fatalf("an unknown member: %v %v", groups, shards)
	}
	h.OnDelete(s)
	if _, shards := x.Lookup("d1", "u1"); shards != nil {
		t.Fatalf("u1 after its shard was deleted: %v", shards)
	}
	var nilIndex *Index
	if groups, shards := nilIndex.Lookup("d1", "u1"); groups != nil || shards != nil {
		t.Fatal("a nil index knows members")
	}
}
