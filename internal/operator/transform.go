package operator

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// cacheTransform is the cache transform of every kind the operator caches.
// It drops what no reader in the operator looks at, before the object is
// stored — managedFields (written by every apply, often larger than the
// spec) and kubectl's last-applied-configuration annotation (a second copy
// of the object on anything applied with kubectl or a GitOps tool). Each
// cached ScimUser, ScimGroup and managed RoleBinding is held once per
// informer for the life of the process, so this is resident memory. It then
// interns the strings that repeat across objects (see intern).
func cacheTransform() toolscache.TransformFunc {
	return func(in any) (any, error) {
		obj, err := meta.Accessor(in)
		if err != nil {
			return in, nil // e.g. a tombstone: nothing to strip
		}
		// Nil-checked: setting nil on an object that has none allocates
		// nothing, but avoids kubernetes/kubernetes#124337.
		if obj.GetManagedFields() != nil {
			obj.SetManagedFields(nil)
		}
		if ann := obj.GetAnnotations(); ann != nil {
			if _, ok := ann[corev1.LastAppliedConfigAnnotation]; ok {
				delete(ann, corev1.LastAppliedConfigAnnotation)
				obj.SetAnnotations(ann)
			}
		}
		if o, ok := in.(client.Object); ok {
			intern(o)
		}
		return in, nil
	}
}
