package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxGroupMembers is the most members a group may have. Groups past
// InlineMembers keep their members in ScimGroupMembers shards, so the limit
// is not the size of one object; it bounds the memory a group costs the
// operator, and the SCIM server answers writes past it with a clear error.
const MaxGroupMembers = 1000000

// MaxInlineMembers is how many members spec.members may hold (the schema
// limit, well inside the API server's object size limit). The SCIM server
// keeps at most InlineMembers inline and moves larger groups to shards.
const MaxInlineMembers = 10000

// MemberType says whether a group member is a user or a nested group.
// +kubebuilder:validation:Enum=User;Group
type MemberType string

const (
	MemberUser  MemberType = "User"
	MemberGroup MemberType = "Group"
)

// Member is one member of a group, stored as one string: "User/<id>",
// "Group/<id>", or "<id>" when the type is not known, followed by
// " (<display name>)" when the identity provider sent one. In <id>, "%",
// "/" and " " are written %25, %2F and %20.
//
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=1801
type Member struct {
	// Value is the SCIM id of the member user or group (at most 256 bytes).
	Value string `json:"-"`
	// Type is User or Group; empty means User.
	Type MemberType `json:"-"`
	// Display is the member's display name as the identity provider sent
	// it (at most 1,024 bytes).
	Display string `json:"-"`
}

const (
	// MaxMemberValue bounds a member's value, MaxMemberDisplay its display
	// name. The schema bounds the whole string (1801 =
	// "Group/", a value of 256 bytes each escaped, " (", 1,024 and ")");
	// the SCIM server checks the parts.
	MaxMemberValue   = 256
	MaxMemberDisplay = 1024
)

// ScimGroupSpec holds the RFC 7643 Group attributes.
type ScimGroupSpec struct {
	// displayName is the group's name, unique per directory (case-insensitive).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	DisplayName string `json:"displayName"`
	// externalId is the identity provider's own id for the group.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ExternalID string `json:"externalId,omitempty"`
	// members are users and nested groups, when the group is small, each one
	// string: "User/<id>", "Group/<id>", or "<id>" when the type is not
	// known, followed by " (<display name>)" when the identity provider sent
	// one. A large group leaves it empty and holds its members in membership.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10000
	Members []Member `json:"members,omitempty"`
	// membership holds the members of a large group: the ScimGroupMembers
	// shards that hold most of them, and the changes made since those were
	// written. It is not a SCIM attribute; the SCIM server maintains it.
	// +optional
	Membership *GroupMembership `json:"membership,omitempty"`
}

// GroupMembership is the sharded membership of a large group. The effective
// members are the members of the listed shards, without the removed values
// and the added ones, plus the added members. Shards are never changed once
// written: a new set is created, then committed by one update of the
// ScimGroup that lists it, so a reader never sees half a change.
type GroupMembership struct {
	// shards names the ScimGroupMembers objects holding the members.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2000
	// +kubebuilder:validation:items:MaxLength=253
	Shards []string `json:"shards,omitempty"`
	// added are members added (or changed) since the shards were written, in
	// the form of spec.members.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2000
	Added []Member `json:"added,omitempty"`
	// removed are the values of members removed since the shards were written.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2000
	// +kubebuilder:validation:items:MaxLength=256
	Removed []string `json:"removed,omitempty"`
}

// ScimGroupStatus is the observed state of a ScimGroup.
type ScimGroupStatus struct {
	// memberCount is the number of direct members.
	// +optional
	MemberCount int32 `json:"memberCount"`
	// unresolvedMembers counts members that name no existing user or group.
	// +optional
	UnresolvedMembers int32 `json:"unresolvedMembers,omitempty"`
	// shards is the number of ScimGroupMembers objects holding the members;
	// 0 when they are inline.
	// +optional
	Shards int32 `json:"shards,omitempty"`
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

// ScimGroup is a group provisioned by an identity provider. Its name is the
// SCIM id.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sg,categories=scim
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Members",type=integer,JSONPath=`.status.memberCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Shards",type=integer,JSONPath=`.status.shards`,priority=1
// +kubebuilder:printcolumn:name="External ID",type=string,JSONPath=`.spec.externalId`,priority=1
type ScimGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the SCIM attributes.
	// +required
	Spec ScimGroupSpec `json:"spec"`
	// status is the observed state.
	// +optional
	Status ScimGroupStatus `json:"status,omitempty"`
}

// ScimGroupList is a list of ScimGroup.
// +kubebuilder:object:root=true
type ScimGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScimGroup `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ScimGroup{}, &ScimGroupList{})
}
