package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
// ClusterRoleBinding, which may be the cached object itself: it is only
// read. The write is a JSON patch that tests the resource version it was
// read at and removes the subject by its position, so a binding the
// controller has just rewritten conflicts instead of losing its newer
// subject list. The API server answers a failed test with 422; it is
// returned as a conflict.
//
// A merge patch did the same but carried the whole remaining subject list:
// for a 3,000-subject object both this process and the API server encoded,
// decoded and diffed about 200 KB per revocation. This patch is a few dozen
// bytes.
func dropUserSubject(ctx context.Context, c client.Client, cached client.Object, name string) error {
	var subjects []rbacv1.Subject
	var obj client.Object // what Patch decodes the answer into
	var resource string
	meta := metav1.ObjectMeta{Namespace: cached.GetNamespace(), Name: cached.GetName()}
	switch o := cached.(type) {
	case *rbacv1.RoleBinding:
		subjects, obj, resource = o.Subjects, &rbacv1.RoleBinding{ObjectMeta: meta}, "rolebindings"
	case *rbacv1.ClusterRoleBinding:
		subjects, obj, resource = o.Subjects, &rbacv1.ClusterRoleBinding{ObjectMeta: meta}, "clusterrolebindings"
	default:
		return fmt.Errorf("%T is not an RBAC binding", cached)
	}
	rv, err := json.Marshal(cached.GetResourceVersion())
	if err != nil {
		return err
	}
	// The version test comes first: on a newer object the patch stops there,
	// before a position that may no longer hold the user.
	ops := []string{`{"op":"test","path":"/metadata/resourceVersion","value":` + string(rv) + `}`}
	// From the last position down, so earlier removals do not shift later ones.
	for i := len(subjects) - 1; i >= 0; i-- {
		if subjects[i].Kind == rbacv1.UserKind && subjects[i].Name == name {
			ops = append(ops, `{"op":"remove","path":"/subjects/`+strconv.Itoa(i)+`"}`)
		}
	}
	if len(ops) == 1 {
		return nil
	}
	body := []byte("[" + strings.Join(ops, ",") + "]")
	err = c.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, body), client.FieldOwner(FieldManager))
	if apierrors.IsInvalid(err) {
		// The version test failed (422): the object changed since it was
		// read, which the caller handles as the conflict it is.
		return apierrors.NewConflict(rbacv1.Resource(resource), obj.GetName(), err)
	}
	return err
}
