package operator

import (
	"testing"

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
	out, err := stripUnused()(u)
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
	if out, err := stripUnused()(in); err != nil || out != in {
		t.Errorf("got %v, %v", out, err)
	}
}
