package controllers

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// A binding's subjects are spread over its RBAC objects by a hash of the
// subject, not by position in the sorted list: removing one member of a
// 100,000-member group then changes the one object that names it, instead of
// shifting every later subject into the next object and rewriting them all.

// shardFill is the average number of subjects an object is sized for; the
// headroom to SubjectsPerObject absorbs the unevenness of hashing.
const shardFill = SubjectsPerObject * 3 / 4

// ShardCount is how many RBAC objects a binding of n subjects uses: a power of
// two, so it changes only when the binding doubles or halves in size.
func ShardCount(n int) int {
	k := 1
	for k*shardFill < n {
		k *= 2
	}
	return k
}

// shardSubjects spreads sorted subjects over ShardCount objects, each kept
// sorted and within SubjectsPerObject (doubling the count in the unlikely
// case that hashing overfills one).
func shardSubjects(subjects []rbacv1.Subject) [][]rbacv1.Subject {
	for k := ShardCount(len(subjects)); ; k *= 2 {
		shards := make([][]rbacv1.Subject, k)
		if k == 1 {
			shards[0] = subjects
			return shards
		}
		fits := true
		for _, s := range subjects {
			h := fnv.New32a()
			_, _ = h.Write([]byte(s.Kind + "/" + s.Name))
			i := int(h.Sum32() % uint32(k))
			shards[i] = append(shards[i], s)
			fits = fits && len(shards[i]) <= SubjectsPerObject
		}
		if fits {
			return shards
		}
	}
}

// compareSubjects is the order of a binding's subjects: by kind, then name.
func compareSubjects(a, b rbacv1.Subject) int {
	if a.Kind != b.Kind {
		return compare(a.Kind, b.Kind)
	}
	return compare(a.Name, b.Name)
}

// namesUser reports whether subjects, in compareSubjects order, hold the
// User name.
func namesUser(subjects []rbacv1.Subject, name string) bool {
	_, found := slices.BinarySearchFunc(subjects, rbacv1.Subject{Kind: rbacv1.UserKind, Name: name}, compareSubjects)
	return found
}

// upToDate reports whether a cached RBAC object already is what apply would
// write: same subjects in the same order, same role, our labels and, for a
// RoleBinding, the binding as its controller.
func upToDate(obj client.Object, subjects []rbacv1.Subject, ref identityv1alpha1.RoleRef, labels map[string]string, owner client.Object) bool {
	var have []rbacv1.Subject
	var role rbacv1.RoleRef
	switch o := obj.(type) {
	case *rbacv1.RoleBinding:
		have, role = o.Subjects, o.RoleRef
		if c := metav1.GetControllerOf(o); c == nil || c.UID != owner.GetUID() {
			return false
		}
	case *rbacv1.ClusterRoleBinding:
		have, role = o.Subjects, o.RoleRef
	default:
		return false
	}
	if role.Kind != ref.Kind || role.Name != ref.Name || role.APIGroup != rbacv1.GroupName {
		return false
	}
	for k, v := range labels {
		if obj.GetLabels()[k] != v {
			return false
		}
	}
	return slices.EqualFunc(have, subjects, func(a, b rbacv1.Subject) bool {
		return a.Kind == b.Kind && a.Name == b.Name && a.APIGroup == b.APIGroup && a.Namespace == b.Namespace
	})
}

// dropUserSubject removes the User subject name from a RoleBinding or
// ClusterRoleBinding, which may be the cached object itself: it is only read,
// and the write goes out from a copy. The write carries the object's resource
// version: a binding the controller has just rewritten conflicts instead of
// being overwritten with an older subject list.
func dropUserSubject(ctx context.Context, c client.Client, cached client.Object, name string) error {
	obj := cached.DeepCopyObject().(client.Object)
	drop := func(subjects []rbacv1.Subject) []rbacv1.Subject {
		return slices.DeleteFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.UserKind && s.Name == name
		})
	}
	switch o := obj.(type) {
	case *rbacv1.RoleBinding:
		o.Subjects = drop(o.Subjects)
	case *rbacv1.ClusterRoleBinding:
		o.Subjects = drop(o.Subjects)
	default:
		return fmt.Errorf("%T is not an RBAC binding", obj)
	}
	return c.Patch(ctx, obj, client.MergeFromWithOptions(cached, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldManager))
}
