package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxShardMembers is the most members one ScimGroupMembers shard holds.
const MaxShardMembers = 2000

// ScimGroupMembersSpec is one immutable shard of a large group's members.
type ScimGroupMembersSpec struct {
	// group is the SCIM id (metadata.name) of the ScimGroup the shard belongs to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="group is immutable"
	Group string `json:"group"`
	// count is the number of members, for `kubectl get`.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Count int32 `json:"count,omitempty"`
	// members are the members in this shard, sorted by value, in the form
	// of a ScimGroup's spec.members ("User/<id>", "Group/<id>", ...).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2000
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="shards are immutable; write a new one"
	Members []Member `json:"members,omitempty"`
}

// ScimGroupMembers holds part of the members of a large ScimGroup. It is
// owned by the group (deleting the group deletes it) and only counts while
// the group's spec.membership.shards names it: shards are written before the
// group update that lists them and deleted after the one that stops listing
// them, so a shard that is not listed is never part of the membership.
// The operator writes these objects; people read them.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=sgm,categories=scim
// +kubebuilder:printcolumn:name="Group",type=string,JSONPath=`.spec.group`
// +kubebuilder:printcolumn:name="Members",type=integer,JSONPath=`.spec.count`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ScimGroupMembers struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the members.
	// +required
	Spec ScimGroupMembersSpec `json:"spec"`
}

// ScimGroupMembersList is a list of ScimGroupMembers.
// +kubebuilder:object:root=true
type ScimGroupMembersList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScimGroupMembers `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ScimGroupMembers{}, &ScimGroupMembersList{})
}
