package v1alpha1

// Labels and annotations the operator sets and reads.
const (
	// DirectoryLabel names the ScimDirectory a ScimUser, ScimGroup or token Secret belongs to.
	DirectoryLabel = "identity.scim-operator.io/directory"
	// TokenLabel marks a Secret that holds a SCIM bearer token hash ("true").
	TokenLabel = "identity.scim-operator.io/token"
	// TokenNameLabel is the human name of a token, shown by `token list` and in audit lines.
	TokenNameLabel = "identity.scim-operator.io/token-name"
	// TokenHashKey is the Secret data key holding the hex SHA-256 of the bearer token.
	TokenHashKey = "sha256"
	// LastModifiedAnnotation records SCIM meta.lastModified (RFC 3339), written with every SCIM write.
	LastModifiedAnnotation = "identity.scim-operator.io/last-modified"
	// DeletionGuardTrippedAnnotation is set by the SCIM server (RFC 3339) when
	// the deletion guard refuses an operation.
	DeletionGuardTrippedAnnotation = "identity.scim-operator.io/deletion-guard-tripped"
	// DeletionGuardReleaseAnnotation, set by an administrator to a time after
	// the trip (RFC 3339), releases the guard.
	DeletionGuardReleaseAnnotation = "identity.scim-operator.io/release-deletion-guard"
	// RevocationFinalizer holds a deleted ScimUser until its sessions are revoked.
	RevocationFinalizer = "identity.scim-operator.io/revocation"
	// GroupLabel names the ScimGroup (its SCIM id) a ScimGroupMembers shard belongs to.
	GroupLabel = "identity.scim-operator.io/group"
	// CompactionsAnnotation counts the writes of a ScimGroup that only
	// reorganised its member shards. The SCIM version (ETag) is the generation
	// minus this count, so compaction never changes a group's ETag.
	CompactionsAnnotation = "identity.scim-operator.io/compactions"
)

// Condition types.
const (
	// ReadyCondition is True when the object is fully reconciled.
	ReadyCondition = "Ready"
	// SessionsRevokedCondition is True once every way an inactive or deleted
	// user reached the cluster and its apps is cut.
	SessionsRevokedCondition = "SessionsRevoked"
	// DeletionGuardCondition is True while the directory's deletion guard
	// refuses deletions and deactivations.
	DeletionGuardCondition = "DeletionGuard"
	// TokensExpiringCondition is True when a token of the directory expires
	// within a week (or has expired).
	TokensExpiringCondition = "TokensExpiring"
)

// Condition reasons.
const (
	// ReasonReconciled: the object was reconciled without error.
	ReasonReconciled = "Reconciled"
	// ReasonNamespaceTerminating: the directory namespace is being deleted.
	ReasonNamespaceTerminating = "NamespaceTerminating"
	// ReasonNamespaceConflict: another ScimDirectory already uses the namespace.
	ReasonNamespaceConflict = "NamespaceConflict"
	// ReasonDirectoryNotFound: the object's directory does not exist.
	ReasonDirectoryNotFound = "DirectoryNotFound"
	// ReasonActive: the user is active.
	ReasonActive = "Active"
	// ReasonInactive: the user was deactivated by the identity provider.
	ReasonInactive = "Inactive"
	// ReasonTripped: the deletion guard refuses deletions and deactivations.
	ReasonTripped = "Tripped"
	// ReasonReleased: the deletion guard allows deletions and deactivations.
	ReasonReleased = "Released"
	// ReasonExpiring: a token expires soon or has expired.
	ReasonExpiring = "Expiring"
	// ReasonValid: every token is valid for more than a week.
	ReasonValid = "Valid"
	// ReasonRevoking: the user is inactive or deleted and revocation is under way.
	ReasonRevoking = "Revoking"
	// ReasonRevoked: every revocation step completed.
	ReasonRevoked = "Revoked"
	// ReasonReactivated: the user was active again after a deactivation; access is restored.
	ReasonReactivated = "Reactivated"
	// ReasonMembersResolved: every group member refers to an existing user or group.
	ReasonMembersResolved = "MembersResolved"
	// ReasonUnresolvedMembers: some members refer to users or groups that do not exist.
	ReasonUnresolvedMembers = "UnresolvedMembers"
)

// Labels on the RBAC objects a ScimRoleBinding or ScimClusterRoleBinding manages.
const (
	// BindingLabel names the Scim*Binding that manages an RBAC object.
	BindingLabel = "identity.scim-operator.io/binding"
	// BindingKindLabel is ScimRoleBinding or ScimClusterRoleBinding.
	BindingKindLabel = "identity.scim-operator.io/binding-kind"
	// BindingFinalizer holds a Scim*Binding until its RBAC objects are gone.
	BindingFinalizer = "identity.scim-operator.io/rbac-cleanup"
)

// Binding condition types and reasons.
const (
	// GroupsResolvedCondition is True when every referenced group and user exists.
	GroupsResolvedCondition = "GroupsResolved"

	// ReasonBound: the RBAC objects grant the role to the effective members.
	ReasonBound = "Bound"
	// ReasonExpired: spec.expiresAt has passed; the RBAC objects were removed.
	ReasonExpired = "Expired"
	// ReasonResolved: every group and user reference matched.
	ReasonResolved = "Resolved"
	// ReasonGroupsNotFound: some group or user references match nothing.
	ReasonGroupsNotFound = "GroupsNotFound"
	// ReasonMembershipCycle: nested groups form a cycle; each group is counted once.
	ReasonMembershipCycle = "MembershipCycle"
	// ReasonRoleNotFound: the referenced Role or ClusterRole does not exist (yet).
	ReasonRoleNotFound = "RoleNotFound"
	// ReasonAccountsFailed: some of an app's accounts could not be synced.
	ReasonAccountsFailed = "AccountsFailed"
	// ReasonApplyFailed: writing the RBAC objects failed.
	ReasonApplyFailed = "ApplyFailed"
)

// App account labels and finalizer.
const (
	// AppLabel names the ScimApp an AppAccount or provisioned object belongs to.
	AppLabel = "identity.scim-operator.io/app"
	// UserLabel names the ScimUser (SCIM id) an AppAccount or provisioned object belongs to.
	UserLabel = "identity.scim-operator.io/user"
	// AccountFinalizer holds an AppAccount until its account is removed from the app.
	AccountFinalizer = "identity.scim-operator.io/account-cleanup"
)
