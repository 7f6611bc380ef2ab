package store

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

func TestARecentGroupWriteIsUsedOnlyWhileTheCacheIsBehindIt(t *testing.T) {
	group := func(ns, rv string) *identityv1alpha1.ScimGroup {
		return &identityv1alpha1.ScimGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "g", ResourceVersion: rv}}
	}
	var r recentGroups
	key := client.ObjectKey{Namespace: "a", Name: "g"}
	if r.newer(key, group("a", "5")) != nil {
		t.Fatal("nothing was written, yet a recent write is returned")
	}
	w := group("a", "10")
	r.put(w)
	// Resource versions compare as numbers: "9" is older than "10".
	if r.newer(key, group("a", "9")) != w {
		t.Fatal("the cache is behind the write, but the write is not returned")
	}
	if r.newer(key, group("a", "10")) != nil || r.newer(key, group("a", "11")) != nil {
		t.Fatal("the cache has caught up, but the recent write is still returned")
	}
	if len(r.inNamespace("a")) != 1 || len(r.inNamespace("b")) != 0 {
		t.Fatal("recent writes are not kept per directory namespace")
	}
	// A settled write is dropped, unless a later one replaced it.
	later := group("a", "12")
	r.put(later)
	r.drop(w)
	if r.newer(key, group("a", "10")) != later {
		t.Fatal("dropping the earlier write lost the later one")
	}
	r.drop(later)
	if len(r.inNamespace("a")) != 0 {
		t.Fatal("the settled write is still held")
	}
}
