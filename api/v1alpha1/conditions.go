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
	// ClaimLabel marks a Lease that reserves a unique name (userName or group displayName).
	ClaimLabel = "identity.scim-operator.io/claim"
)

// Condition types.
const (
	// ReadyCondition is True when the object is fully reconciled.
	ReadyCondition = "Ready"
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
	// ReasonMembersResolved: every group member refers to an existing user or group.
	ReasonMembersResolved = "MembersResolved"
	// ReasonUnresolvedMembers: some members refer to users or groups that do not exist.
	ReasonUnresolvedMembers = "UnresolvedMembers"
)
