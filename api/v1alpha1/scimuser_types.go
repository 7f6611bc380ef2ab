package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The JSON names of ScimUserSpec are the RFC 7643 attribute names on purpose:
// the SCIM store maps a resource to a spec by name, with no per-field code.

// Name is the RFC 7643 §4.1.1 "name" complex attribute.
type Name struct {
	// formatted is the full name for display.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Formatted string `json:"formatted,omitempty"`
	// familyName is the family (last) name.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	FamilyName string `json:"familyName,omitempty"`
	// givenName is the given (first) name.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	GivenName string `json:"givenName,omitempty"`
	// middleName is the middle name(s).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	MiddleName string `json:"middleName,omitempty"`
	// honorificPrefix such as "Ms.".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	HonorificPrefix string `json:"honorificPrefix,omitempty"`
	// honorificSuffix such as "III".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	HonorificSuffix string `json:"honorificSuffix,omitempty"`
}

// MultiValue is an element of a multi-valued attribute such as emails or roles.
type MultiValue struct {
	// value is the attribute value, e.g. an e-mail address.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value string `json:"value,omitempty"`
	// display is a human-readable form of the value.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Display string `json:"display,omitempty"`
	// type is a label such as "work" or "home".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Type string `json:"type,omitempty"`
	// primary marks the preferred element.
	// +optional
	Primary bool `json:"primary,omitempty"`
}

// Address is an element of the RFC 7643 "addresses" attribute.
type Address struct {
	// formatted is the full mailing address.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Formatted string `json:"formatted,omitempty"`
	// streetAddress is the street part.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	StreetAddress string `json:"streetAddress,omitempty"`
	// locality is the city.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Locality string `json:"locality,omitempty"`
	// region is the state or region.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Region string `json:"region,omitempty"`
	// postalCode is the zip or postal code.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	PostalCode string `json:"postalCode,omitempty"`
	// country is the ISO 3166-1 alpha-2 country code.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Country string `json:"country,omitempty"`
	// type is "work", "home" or "other".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Type string `json:"type,omitempty"`
	// primary marks the preferred address.
	// +optional
	Primary bool `json:"primary,omitempty"`
}

// Manager is the enterprise extension's "manager" attribute.
type Manager struct {
	// value is the SCIM id of the manager.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Value string `json:"value,omitempty"`
	// displayName of the manager (read-only in SCIM).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	DisplayName string `json:"displayName,omitempty"`
}

// EnterpriseUser is the RFC 7643 §4.3 enterprise User extension
// (urn:ietf:params:scim:schemas:extension:enterprise:2.0:User).
type EnterpriseUser struct {
	// employeeNumber identifies the user within the organization.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	EmployeeNumber string `json:"employeeNumber,omitempty"`
	// costCenter of the user.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	CostCenter string `json:"costCenter,omitempty"`
	// organization of the user.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Organization string `json:"organization,omitempty"`
	// division of the user.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Division string `json:"division,omitempty"`
	// department of the user.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Department string `json:"department,omitempty"`
	// manager of the user.
	// +optional
	Manager *Manager `json:"manager,omitempty"`
}

// ScimUserSpec holds the RFC 7643 core User attributes (all but password,
// which is never stored) and the enterprise extension.
type ScimUserSpec struct {
	// userName is the unique (per directory, case-insensitive) sign-in name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	UserName string `json:"userName"`
	// externalId is the identity provider's own id for the user.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ExternalID string `json:"externalId,omitempty"`
	// name is the user's name in parts.
	// +optional
	Name *Name `json:"name,omitempty"`
	// displayName is the name shown to people.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	DisplayName string `json:"displayName,omitempty"`
	// nickName is the casual name.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	NickName string `json:"nickName,omitempty"`
	// profileUrl is a URL of the user's profile page.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	ProfileURL string `json:"profileUrl,omitempty"`
	// title is the job title.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Title string `json:"title,omitempty"`
	// userType such as "Employee" or "Contractor".
	// +optional
	// +kubebuilder:validation:MaxLength=256
	UserType string `json:"userType,omitempty"`
	// preferredLanguage such as "en-US".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	PreferredLanguage string `json:"preferredLanguage,omitempty"`
	// locale such as "en-US".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Locale string `json:"locale,omitempty"`
	// timezone in IANA form such as "Europe/Berlin".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Timezone string `json:"timezone,omitempty"`
	// active is false once the identity provider deactivated the user.
	// +optional
	// +kubebuilder:default=true
	Active *bool `json:"active,omitempty"`
	// emails of the user.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Emails []MultiValue `json:"emails,omitempty"`
	// phoneNumbers of the user.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	PhoneNumbers []MultiValue `json:"phoneNumbers,omitempty"`
	// ims are instant-messaging addresses.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	IMs []MultiValue `json:"ims,omitempty"`
	// photos are URLs of pictures of the user.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Photos []MultiValue `json:"photos,omitempty"`
	// addresses are physical mailing addresses.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Addresses []Address `json:"addresses,omitempty"`
	// entitlements of the user.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Entitlements []MultiValue `json:"entitlements,omitempty"`
	// roles of the user.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Roles []MultiValue `json:"roles,omitempty"`
	// x509Certificates are DER certificates, base64-encoded.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	X509Certificates []MultiValue `json:"x509Certificates,omitempty"`
	// enterprise is the enterprise User extension.
	// +optional
	Enterprise *EnterpriseUser `json:"enterprise,omitempty"`
}

// IsActive reports whether the user is active; an unset flag means active.
func (s *ScimUserSpec) IsActive() bool { return s.Active == nil || *s.Active }

// ScimUserStatus is the observed state of a ScimUser.
type ScimUserStatus struct {
	// kubernetesUsername is the name under which the kube-apiserver knows the user,
	// from the directory's username mapping.
	// +optional
	KubernetesUsername string `json:"kubernetesUsername,omitempty"`
	// deactivatedAt is when the operator first saw the user inactive or deleted.
	// +optional
	DeactivatedAt *metav1.Time `json:"deactivatedAt,omitempty"`
	// sessionsRevokedAt is when every revocation step had completed: the
	// authorization webhook denies the user, no managed RBAC object names
	// them, and their app accounts are suspended.
	// +optional
	SessionsRevokedAt *metav1.Time `json:"sessionsRevokedAt,omitempty"`
	// reactivatedAt is when access was last restored after a deactivation.
	// +optional
	ReactivatedAt *metav1.Time `json:"reactivatedAt,omitempty"`
	// observedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready (reason Active, Revoking or Revoked), SessionsRevoked.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ScimUser is a user provisioned by an identity provider. Its name is the SCIM
// id, a UUID the server generates that never changes.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=su,categories=scim
// +kubebuilder:printcolumn:name="Username",type=string,JSONPath=`.spec.userName`
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Active",type=boolean,JSONPath=`.spec.active`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Revoked",type=date,JSONPath=`.status.sessionsRevokedAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Kubernetes User",type=string,JSONPath=`.status.kubernetesUsername`,priority=1
// +kubebuilder:printcolumn:name="External ID",type=string,JSONPath=`.spec.externalId`,priority=1
type ScimUser struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the SCIM attributes.
	// +required
	Spec ScimUserSpec `json:"spec"`
	// status is the observed state.
	// +optional
	Status ScimUserStatus `json:"status,omitempty"`
}

// ScimUserList is a list of ScimUser.
// +kubebuilder:object:root=true
type ScimUserList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScimUser `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ScimUser{}, &ScimUserList{})
}
