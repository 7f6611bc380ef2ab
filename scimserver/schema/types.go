// Package schema describes the SCIM 2.0 resource schemas this server supports
// (RFC 7643: core User, the enterprise User extension and Group) and the
// attribute characteristics the protocol layer relies on: type, multiValued,
// caseExact, mutability, returned and uniqueness.
//
// Resources travel through the protocol layer as generic JSON objects
// (map[string]any) whose keys are the canonical attribute names of this
// package; extension attributes live under their schema URN key. The package
// knows nothing of Kubernetes.
package schema

// Type is a SCIM attribute data type (RFC 7643 §2.3).
type Type string

const (
	TypeString    Type = "string"
	TypeBoolean   Type = "boolean"
	TypeDecimal   Type = "decimal"
	TypeInteger   Type = "integer"
	TypeDateTime  Type = "dateTime"
	TypeBinary    Type = "binary"
	TypeReference Type = "reference"
	TypeComplex   Type = "complex"
)

// Mutability says whether and how a client may change an attribute (RFC 7643 §7).
type Mutability string

const (
	ReadOnly  Mutability = "readOnly"
	ReadWrite Mutability = "readWrite"
	Immutable Mutability = "immutable"
	WriteOnly Mutability = "writeOnly"
)

// Returned says when an attribute appears in a response (RFC 7643 §7).
type Returned string

const (
	ReturnedAlways  Returned = "always"
	ReturnedNever   Returned = "never"
	ReturnedDefault Returned = "default"
	ReturnedRequest Returned = "request"
)

// Uniqueness says how unique an attribute value must be (RFC 7643 §7).
type Uniqueness string

const (
	UniquenessNone   Uniqueness = "none"
	UniquenessServer Uniqueness = "server"
	UniquenessGlobal Uniqueness = "global"
)

// Attribute is one attribute definition of a schema.
type Attribute struct {
	Name            string
	Type            Type
	MultiValued     bool
	Description     string
	Required        bool
	CaseExact       bool
	Mutability      Mutability
	Returned        Returned
	Uniqueness      Uniqueness
	CanonicalValues []string
	ReferenceTypes  []string
	SubAttributes   []*Attribute
	// Sensitive marks attributes that must never be used in a GET filter
	// (RFC 7644 §7.5.2); it is not part of the published schema document.
	Sensitive bool
	// CanonicalOnly makes CanonicalValues a closed set: RFC 7643 treats
	// canonical values as suggestions (emails.type may be "custom"), but where
	// the server acts on the value (members.type decides whether a member is
	// a User or a Group) anything else must be rejected. Validate compares
	// case-insensitively and rewrites the value to its canonical spelling. Not
	// part of the published schema document.
	CanonicalOnly bool
}

// Schema is one schema document (RFC 7643 §7).
type Schema struct {
	ID          string
	Name        string
	Description string
	Attributes  []*Attribute
}

// SchemaExtension names an extension schema of a resource type.
type SchemaExtension struct {
	Schema   *Schema
	Required bool
}

// ResourceType is a resource type (RFC 7643 §6) with its core schema and extensions.
type ResourceType struct {
	ID          string // "User" / "Group"
	Name        string
	Endpoint    string // "/Users"
	Description string
	Schema      *Schema
	Extensions  []SchemaExtension
}

// Well-known schema URNs.
const (
	UserSchemaURN            = "urn:ietf:params:scim:schemas:core:2.0:User"
	EnterpriseUserSchemaURN  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	GroupSchemaURN           = "urn:ietf:params:scim:schemas:core:2.0:Group"
	ListResponseURN          = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	PatchOpURN               = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SearchRequestURN         = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	ErrorURN                 = "urn:ietf:params:scim:api:messages:2.0:Error"
	ServiceProviderConfigURN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	ResourceTypeURN          = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaURN                = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)
