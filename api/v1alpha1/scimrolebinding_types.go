package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GroupRef names a ScimGroup of the binding's directory by exactly one of its
// displayName (case-insensitive), externalId or SCIM id.
// +kubebuilder:validation:XValidation:rule="[has(self.displayName), has(self.externalId), has(self.id)].filter(x, x).size() == 1",message="set exactly one of displayName, externalId or id"
type GroupRef struct {
	// displayName of the group, compared case-insensitively.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	DisplayName string `json:"displayName,omitempty"`
	// externalId of the group, as the identity provider knows it.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	ExternalID string `json:"externalId,omitempty"`
	// id is the SCIM id (the ScimGroup's name).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id,omitempty"`
}

// UserRef names a ScimUser of the binding's directory by exactly one of its
// userName (case-insensitive), externalId or SCIM id.
// +kubebuilder:validation:XValidation:rule="[has(self.userName), has(self.externalId), has(self.id)].filter(x, x).size() == 1",message="set exactly one of userName, externalId or id"
type UserRef struct {
	// userName of the user, compared case-insensitively.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	UserName string `json:"userName,omitempty"`
	// externalId of the user, as the identity provider knows it.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	ExternalID string `json:"externalId,omitempty"`
	// id is the SCIM id (the ScimUser's name).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id,omitempty"`
}

// RoleRef names the Role or ClusterRole to grant.
type RoleRef struct {
	// kind is Role or ClusterRole.
	// +required
	// +kubebuilder:validation:Enum=Role;ClusterRole
	Kind string `json:"kind"`
	// name of the role.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SubjectMode says how group members become RBAC subjects.
// +kubebuilder:validation:Enum=Users;Groups
type SubjectMode string

const (
	// SubjectModeUsers lists every active effective member as a User subject.
	SubjectModeUsers SubjectMode = "Users"
	// SubjectModeGroups binds one Group subject per referenced group
	// (directory groupPrefix + displayName): the cluster's OIDC group claim
	// decides membership, and revocation relies on the authorization webhook.
	SubjectModeGroups SubjectMode = "Groups"
)

// ScimBindingSpec is the spec shared by ScimRoleBinding and ScimClusterRoleBinding.
// +kubebuilder:validation:XValidation:rule="size(self.groups) + size(self.users) > 0",message="name at least one group or user"
type ScimBindingSpec struct {
	// directory is the ScimDirectory whose groups and users are bound.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Directory string `json:"directory"`
	// groups whose active effective members (nested groups flattened) are bound.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:default={}
	Groups []GroupRef `json:"groups"`
	// users bound directly, while active.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:default={}
	Users []UserRef `json:"users"`
	// roleRef is the role granted.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="roleRef is immutable; create a new binding"
	RoleRef RoleRef `json:"roleRef"`
	// subjectMode is Users (default: every member listed) or Groups (one Group
	// subject per group, for very large groups).
	// +optional
	// +kubebuilder:default=Users
	SubjectMode SubjectMode `json:"subjectMode,omitempty"`
	// expiresAt, when set, ends the access: afterwards the RBAC objects are removed.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
}

// ScimBindingStatus is the status shared by ScimRoleBinding and ScimClusterRoleBinding.
type ScimBindingStatus struct {
	// boundUsers is how many users the RBAC objects grant the role to.
	// +optional
	BoundUsers int32 `json:"boundUsers"`
	// objects are the names of the RBAC objects this binding manages.
	// +optional
	// +listType=atomic
	Objects []string `json:"objects,omitempty"`
	// unresolvedGroups lists group references that match no group of the directory.
	// +optional
	// +listType=atomic
	UnresolvedGroups []string `json:"unresolvedGroups,omitempty"`
	// unresolvedUsers lists user references that match no user of the directory.
	// +optional
	// +listType=atomic
	UnresolvedUsers []string `json:"unresolvedUsers,omitempty"`
	// observedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready, GroupsResolved.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ScimRoleBinding grants a Role or ClusterRole in its namespace to the active
// members of identity-provider groups, through RoleBindings it manages.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=srb,categories=scim
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 57",message="name must be at most 57 characters: it names and labels the RoleBindings it manages"
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.roleRef.name`
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.roleRef.kind`,priority=1
// +kubebuilder:printcolumn:name="Directory",type=string,JSONPath=`.spec.directory`,priority=1
// +kubebuilder:printcolumn:name="Users",type=integer,JSONPath=`.status.boundUsers`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Expires",type=date,JSONPath=`.spec.expiresAt`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ScimRoleBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired binding.
	// +required
	Spec ScimBindingSpec `json:"spec"`
	// status is the observed state.
	// +optional
	Status ScimBindingStatus `json:"status,omitempty"`
}

// ScimRoleBindingList is a list of ScimRoleBinding.
// +kubebuilder:object:root=true
type ScimRoleBindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScimRoleBinding `json:"items"`
}

// ScimClusterRoleBinding grants a ClusterRole cluster-wide to the active
// members of identity-provider groups, through ClusterRoleBindings it manages.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=scrb,categories=scim
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 57",message="name must be at most 57 characters: it names and labels the ClusterRoleBindings it manages"
// +kubebuilder:validation:XValidation:rule="self.spec.roleRef.kind == 'ClusterRole'",message="a ScimClusterRoleBinding can only grant a ClusterRole"
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.roleRef.name`
// +kubebuilder:printcolumn:name="Directory",type=string,JSONPath=`.spec.directory`,priority=1
// +kubebuilder:printcolumn:name="Users",type=integer,JSONPath=`.status.boundUsers`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Expires",type=date,JSONPath=`.spec.expiresAt`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ScimClusterRoleBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired binding.
	// +required
	Spec ScimBindingSpec `json:"spec"`
	// status is the observed state.
	// +optional
	Status ScimBindingStatus `json:"status,omitempty"`
}

// ScimClusterRoleBindingList is a list of ScimClusterRoleBinding.
// +kubebuilder:object:root=true
type ScimClusterRoleBindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScimClusterRoleBinding `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ScimRoleBinding{}, &ScimRoleBindingList{}, &ScimClusterRoleBinding{}, &ScimClusterRoleBindingList{})
}
