package v1alpha1

import "sigs.k8s.io/controller-runtime/pkg/client"

// ScimBinding is what ScimRoleBinding and ScimClusterRoleBinding have in
// common, so one reconciler serves both.
// +kubebuilder:object:generate=false
type ScimBinding interface {
	client.Object
	BindingSpec() *ScimBindingSpec
	BindingStatus() *ScimBindingStatus
}

// BindingSpec returns the spec.
func (b *ScimRoleBinding) BindingSpec() *ScimBindingSpec { return &b.Spec }

// BindingStatus returns the status.
func (b *ScimRoleBinding) BindingStatus() *ScimBindingStatus { return &b.Status }

// BindingSpec returns the spec.
func (b *ScimClusterRoleBinding) BindingSpec() *ScimBindingSpec { return &b.Spec }

// BindingStatus returns the status.
func (b *ScimClusterRoleBinding) BindingStatus() *ScimBindingStatus { return &b.Status }
