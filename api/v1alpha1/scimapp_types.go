package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceAccountProvisioner gives each entitled user a ServiceAccount in the
// app's namespace; suspension deletes it, so every token bound to it stops
// working.
type ServiceAccountProvisioner struct {
	// roleRef, when set, is granted to each account's ServiceAccount in the
	// app's namespace through a RoleBinding the operator manages.
	// +optional
	RoleRef *RoleRef `json:"roleRef,omitempty"`
}

// WebhookProvisioner sends signed JSON events about accounts to an HTTPS endpoint.
type WebhookProvisioner struct {
	// url receives the events (POST).
	// +required
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`
	// secretRef names a Secret in the app's namespace whose key "key" is the
	// HMAC-SHA256 signing key; its key "keyId" (optional) names the key.
	// +required
	SecretRef corev1.LocalObjectReference `json:"secretRef"`
}

// SCIMProvisioner pushes accounts to the app's own SCIM endpoint.
type SCIMProvisioner struct {
	// url is the app's SCIM base URL, e.g. https://app.tools.svc/scim/v2.
	// +required
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`
	// tokenSecretRef names a Secret in the app's namespace whose key "token"
	// is the bearer token for the app's SCIM endpoint.
	// +required
	TokenSecretRef corev1.LocalObjectReference `json:"tokenSecretRef"`
}

// AppProvisioner says how accounts reach the app; exactly one is set.
// +kubebuilder:validation:XValidation:rule="[has(self.serviceAccount), has(self.webhook), has(self.scim)].filter(x, x).size() == 1",message="set exactly one of serviceAccount, webhook or scim"
type AppProvisioner struct {
	// serviceAccount: a Kubernetes identity per user.
	// +optional
	ServiceAccount *ServiceAccountProvisioner `json:"serviceAccount,omitempty"`
	// webhook: signed events to an HTTP endpoint of the app.
	// +optional
	Webhook *WebhookProvisioner `json:"webhook,omitempty"`
	// scim: SCIM requests to the app's own SCIM endpoint.
	// +optional
	SCIM *SCIMProvisioner `json:"scim,omitempty"`
}

// ScimAppSpec is an application that receives accounts.
type ScimAppSpec struct {
	// directory whose users get accounts.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Directory string `json:"directory"`
	// groups whose effective members (nested groups flattened) are entitled;
	// empty means every user of the directory.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Groups []GroupRef `json:"groups,omitempty"`
	// provisioner says how accounts reach the app.
	// +required
	Provisioner AppProvisioner `json:"provisioner"`
}

// ScimAppStatus counts the app's accounts.
type ScimAppStatus struct {
	// accounts is the number of AppAccounts.
	// +optional
	Accounts int32 `json:"accounts"`
	// provisioned accounts are active in the app.
	// +optional
	Provisioned int32 `json:"provisioned"`
	// suspended accounts belong to inactive users.
	// +optional
	Suspended int32 `json:"suspended"`
	// failed accounts could not be synced; their status says why.
	// +optional
	Failed int32 `json:"failed"`
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

// ScimApp is an application in the cluster whose accounts follow the
// identity provider: one AppAccount per entitled user.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sapp,categories=scim
// +kubebuilder:printcolumn:name="Directory",type=string,JSONPath=`.spec.directory`
// +kubebuilder:printcolumn:name="Accounts",type=integer,JSONPath=`.status.accounts`
// +kubebuilder:printcolumn:name="Provisioned",type=integer,JSONPath=`.status.provisioned`
// +kubebuilder:printcolumn:name="Suspended",type=integer,JSONPath=`.status.suspended`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failed`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ScimApp struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired app.
	// +required
	Spec ScimAppSpec `json:"spec"`
	// status is the observed state.
	// +optional
	Status ScimAppStatus `json:"status,omitempty"`
}

// ScimAppList is a list of ScimApp.
// +kubebuilder:object:root=true
type ScimAppList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScimApp `json:"items"`
}

// AccountState is the state of an account in its app.
// +kubebuilder:validation:Enum=Pending;Provisioned;Suspended;Failed
type AccountState string

const (
	AccountPending     AccountState = "Pending"
	AccountProvisioned AccountState = "Provisioned"
	AccountSuspended   AccountState = "Suspended"
	AccountFailed      AccountState = "Failed"
)

// AppAccountSpec is one user's account in one app, as the ScimApp controller wants it.
type AppAccountSpec struct {
	// app is the ScimApp (same namespace).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	App string `json:"app"`
	// user is the SCIM id of the ScimUser.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	User string `json:"user"`
	// userName is the user's userName, for people reading the account.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	UserName string `json:"userName,omitempty"`
	// active is false while the user is inactive: the account is suspended.
	// +required
	Active bool `json:"active"`
	// userGeneration is the ScimUser's generation the account reflects; it
	// changes with the user's attributes, so the app receives the update.
	// +optional
	UserGeneration int64 `json:"userGeneration,omitempty"`
}

// AppAccountStatus is the account's state in the app: the audit trail of app access.
type AppAccountStatus struct {
	// state is Pending, Provisioned, Suspended or Failed.
	// +optional
	State AccountState `json:"state,omitempty"`
	// externalId is the account's id in the app, when the app has one.
	// +optional
	ExternalID string `json:"externalId,omitempty"`
	// provisionedAt is when the account was last made active.
	// +optional
	ProvisionedAt *metav1.Time `json:"provisionedAt,omitempty"`
	// suspendedAt is when the account was last suspended.
	// +optional
	SuspendedAt *metav1.Time `json:"suspendedAt,omitempty"`
	// lastSyncTime is when the app last confirmed the account's state.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
	// lastError is the last failure talking to the app.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// observedGeneration is the generation last synced.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// AppAccount is one user's account in one ScimApp, owned by it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=acct,categories=scim
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.spec.app`
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.spec.userName`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSyncTime`
// +kubebuilder:printcolumn:name="Last Error",type=string,JSONPath=`.status.lastError`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AppAccount struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired account.
	// +required
	Spec AppAccountSpec `json:"spec"`
	// status is the account's state in the app.
	// +optional
	Status AppAccountStatus `json:"status,omitempty"`
}

// AppAccountList is a list of AppAccount.
// +kubebuilder:object:root=true
type AppAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AppAccount `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ScimApp{}, &ScimAppList{}, &AppAccount{}, &AppAccountList{})
}
