package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UsernameSource names the SCIM attribute that becomes the Kubernetes user name.
// +kubebuilder:validation:Enum=userName;primaryEmail;externalId
type UsernameSource string

const (
	UsernameFromUserName     UsernameSource = "userName"
	UsernameFromPrimaryEmail UsernameSource = "primaryEmail"
	UsernameFromExternalID   UsernameSource = "externalId"
)

// KubernetesIdentity says how a SCIM user and group appear to the kube-apiserver.
// It must match the cluster's OIDC authenticator (its username and groups claims
// and prefixes), so that bindings name the subjects requests really carry.
type KubernetesIdentity struct {
	// usernamePrefix is prepended to the Kubernetes user name, e.g. "oidc:".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	UsernamePrefix string `json:"usernamePrefix,omitempty"`
	// usernameFrom is the SCIM attribute used as the Kubernetes user name.
	// +optional
	// +kubebuilder:default=userName
	UsernameFrom UsernameSource `json:"usernameFrom,omitempty"`
	// groupPrefix is prepended to SCIM group display names to form Kubernetes group names.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	GroupPrefix string `json:"groupPrefix,omitempty"`
}

// ScimDirectorySpec is one identity-provider connection.
type ScimDirectorySpec struct {
	// namespace holds the directory's ScimUsers, ScimGroups and token Secrets.
	// It is created when missing. One directory per namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="namespace is immutable"
	Namespace string `json:"namespace"`
	// kubernetes maps SCIM identities to Kubernetes user and group names.
	// +optional
	Kubernetes KubernetesIdentity `json:"kubernetes,omitempty"`
	// deletionGuard caps deletions and deactivations per time window, so a
	// misconfigured identity provider cannot remove everyone at once.
	// +optional
	DeletionGuard *DeletionGuard `json:"deletionGuard,omitempty"`
}

// DeletionGuard caps deletions and deactivations. Past the cap, further ones
// are refused with 503 and Retry-After, the directory reports the
// DeletionGuard condition, and an administrator releases the guard by
// setting the annotation identity.scim-operator.io/release-deletion-guard.
type DeletionGuard struct {
	// maxOperations is how many deletions and deactivations the window allows.
	// +required
	// +kubebuilder:validation:Minimum=1
	MaxOperations int32 `json:"maxOperations"`
	// window is the sliding time window, e.g. "1h".
	// +optional
	// +kubebuilder:default="1h"
	Window metav1.Duration `json:"window,omitempty"`
}

// ScimDirectoryStatus is the observed state of a directory.
type ScimDirectoryStatus struct {
	// users is the number of ScimUsers in the directory.
	// +optional
	Users int32 `json:"users"`
	// activeUsers is the number of active ScimUsers.
	// +optional
	ActiveUsers int32 `json:"activeUsers"`
	// groups is the number of ScimGroups.
	// +optional
	Groups int32 `json:"groups"`
	// lastRequestTime is when an identity provider last called the SCIM endpoint (written at most every 30 seconds per replica).
	// +optional
	LastRequestTime *metav1.Time `json:"lastRequestTime,omitempty"`
	// observedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ScimDirectory is one SCIM connection from an identity provider. Its SCIM base
// URL is /scim/v2/<name>/.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=scimdir,categories=scim
// +kubebuilder:printcolumn:name="Namespace",type=string,JSONPath=`.spec.namespace`
// +kubebuilder:printcolumn:name="Users",type=integer,JSONPath=`.status.users`
// +kubebuilder:printcolumn:name="Active",type=integer,JSONPath=`.status.activeUsers`
// +kubebuilder:printcolumn:name="Groups",type=integer,JSONPath=`.status.groups`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Last Request",type=date,JSONPath=`.status.lastRequestTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ScimDirectory struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired directory.
	// +required
	Spec ScimDirectorySpec `json:"spec"`
	// status is the observed state.
	// +optional
	Status ScimDirectoryStatus `json:"status,omitempty"`
}

// ScimDirectoryList is a list of ScimDirectory.
// +kubebuilder:object:root=true
type ScimDirectoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScimDirectory `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ScimDirectory{}, &ScimDirectoryList{})
}
