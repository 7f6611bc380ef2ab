package controllers

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	ctrl "sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// A cached group may list a shard that a compaction has just replaced. The
// binding controller then looks again shortly; it reports no failure (no
// error, no ApplyFailed condition), which it did on every such race of a
// large group's import.
func TestBindingRetriesAStaleGroupQuietly(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := identityv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	dir := &identityv1alpha1.ScimDirectory{
		ObjectMeta: metav1.ObjectMeta{Name: "acme"},
		Spec:       identityv1alpha1.ScimDirectorySpec{Namespace: "acme"},
	}
	group := &identityv1alpha1.ScimGroup{
		ObjectMeta: metav1.ObjectMeta{Name: "g1", Namespace: "acme"},
		Spec: identityv1alpha1.ScimGroupSpec{DisplayName: "all", Membership: &identityv1alpha1.GroupMembership{
			Shards: []string{"g1-replaced"}, // deleted by a compaction
		}},
	}
	binding := &identityv1alpha1.ScimRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "team", Finalizers: []string{identityv1alpha1.BindingFinalizer}},
		Spec: identityv1alpha1.ScimBindingSpec{
			Directory: "acme",
			Groups:    []identityv1alpha1.GroupRef{{ID: "g1"}},
			RoleRef:   identityv1alpha1.RoleRef{Kind: "ClusterRole", Name: "view"},
		},
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(dir, group, binding).
		WithStatusSubresource(&identityv1alpha1.ScimRoleBinding{}).Build()
	r := &BindingReconciler{Client: c, Recorder: events.NewFakeRecorder(10)}
	res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(binding)})
	if err != nil || res.RequeueAfter != staleRetry {
		t.Fatalf("Reconcile = %+v, %v; want a retry after %v and no error", res, err, staleRetry)
	}
	var got identityv1alpha1.ScimRoleBinding
	if err := c.Get(ctx, client.ObjectKeyFromObject(binding), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Conditions) != 0 {
		t.Errorf("conditions = %+v; want none written for a stale cache", got.Status.Conditions)
	}
}
