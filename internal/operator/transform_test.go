package operator

import (
	"encoding/json"
	"reflect"
	"testing"
	"unsafe"

	"k8s.io/apimachinery/pkg/api/equality"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

func TestCacheTransformDropsManagedFieldsAndLastAppliedButKeepsOtherAnnotations(t *testing.T) {
	u := &identityv1alpha1.ScimUser{ObjectMeta: metav1.ObjectMeta{
		Name:          "u",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		Annotations: map[string]string{
			corev1.LastAppliedConfigAnnotation:      `{"spec":{}}`,
			identityv1alpha1.LastModifiedAnnotation: "2026-01-01T00:00:00Z",
		},
	}}
	out, err := cacheTransform()(u)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*identityv1alpha1.ScimUser)
	if got.ManagedFields != nil {
		t.Errorf("managedFields kept: %v", got.ManagedFields)
	}
	if _, ok := got.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		t.Errorf("last-applied-configuration kept")
	}
	if got.Annotations[identityv1alpha1.LastModifiedAnnotation] == "" {
		t.Errorf("the lastModified annotation the SCIM server reads was dropped: %v", got.Annotations)
	}
}

func TestCacheTransformPassesOnWhatIsNotAnObject(t *testing.T) {
	in := "not an object"
	if out, err := cacheTransform()(in); err != nil || out != in {
		t.Errorf("got %v, %v", out, err)
	}
}

func TestCacheTransformSharesRepeatedStringsAndChangesNoValue(t *testing.T) {
	decode := func() *identityv1alpha1.ScimGroupMembers {
		// Decoded from JSON, as the informer does: every string its own copy.
		var m identityv1alpha1.ScimGroupMembers
		raw := `{"metadata":{"name":"g-1","namespace":"acme","labels":{"identity.scim-operator.io/directory":"acme"},
			"finalizers":["identity.scim-operator.io/revocation"]},
			"spec":{"group":"g","members":[{"value":"0b6c1f5e-2a7d-4c35-9e0a-7f3b8d1c2e4f","type":"User"}]}}`
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatal(err)
		}
		return &m
	}
	a, b := decode(), decode()
	want := a.DeepCopy()
	for _, o := range []*identityv1alpha1.ScimGroupMembers{a, b} {
		if _, err := cacheTransform()(o); err != nil {
			t.Fatal(err)
		}
	}
	if !equality.Semantic.DeepEqual(a, want) {
		t.Fatalf("the transform changed a value:\n got %+v\nwant %+v", a, want)
	}
	same := func(what, x, y string) {
		if unsafe.StringData(x) != unsafe.StringData(y) {
			t.Errorf("%s is not shared between the two objects", what)
		}
	}
	same("the namespace", a.Namespace, b.Namespace)
	same("the label value", a.Labels[identityv1alpha1.DirectoryLabel], b.Labels[identityv1alpha1.DirectoryLabel])
	for k := range a.Labels {
		for l := range b.Labels {
			same("the label key", k, l)
		}
	}
	same("the finalizer", a.Finalizers[0], b.Finalizers[0])
	if reflect.ValueOf(a.Labels).UnsafePointer() != reflect.ValueOf(b.Labels).UnsafePointer() {
		t.Errorf("objects labelled only with their directory do not share one labels map")
	}
	same("the member id", a.Spec.Members[0].Value, b.Spec.Members[0].Value)
	same("the member type", string(a.Spec.Members[0].Type), string(b.Spec.Members[0].Type))
}
