package schema

// The definitions below follow RFC 7643 §3.1 (common attributes), §4.1–4.3
// (User, Group, enterprise User) and the machine-readable form of §8.7.1.
// Characteristics that equal the RFC 7643 §2.2 defaults (readWrite, returned
// default, uniqueness none) are filled in by define, so every *Attribute the
// rest of the server sees is complete and can be compared without "empty
// means default" special cases. Deliberate deviations from §8.7.1 are
// commented where they occur.

// CommonAttributes are id, externalId and meta (RFC 7643 §3.1). They belong to
// no schema but appear, unqualified, at the top level of every resource; look
// them up through ResourceType.Attribute rather than this slice.
var CommonAttributes = fill([]*Attribute{
	{Name: "id", Type: TypeString, CaseExact: true, Mutability: ReadOnly, Returned: ReturnedAlways, Uniqueness: UniquenessServer,
		Description: "Unique, stable identifier of the resource, issued by the service provider."},
	{Name: "externalId", Type: TypeString, CaseExact: true,
		Description: "Identifier of the resource as defined by the provisioning client."},
	{Name: "meta", Type: TypeComplex, Mutability: ReadOnly,
		Description: "Resource metadata, maintained by the service provider; ignored when sent by clients.",
		SubAttributes: []*Attribute{
			{Name: "resourceType", Type: TypeString, CaseExact: true, Mutability: ReadOnly, Description: "Name of the resource type of the resource."},
			{Name: "created", Type: TypeDateTime, Mutability: ReadOnly, Description: "When the resource was added to the service provider."},
			{Name: "lastModified", Type: TypeDateTime, Mutability: ReadOnly, Description: "When the resource was last updated."},
			{Name: "location", Type: TypeReference, CaseExact: true, Mutability: ReadOnly, ReferenceTypes: []string{"uri"}, Description: "URI of the resource."},
			{Name: "version", Type: TypeString, CaseExact: true, Mutability: ReadOnly, Description: "Version (ETag) of the resource."},
		}},
})

// UserSchema is urn:ietf:params:scim:schemas:core:2.0:User (RFC 7643 §4.1).
var UserSchema = define(&Schema{ID: UserSchemaURN, Name: "User", Description: "User Account", Attributes: []*Attribute{
	{Name: "userName", Type: TypeString, Required: true, Uniqueness: UniquenessServer,
		Description: "Unique identifier of the User, typically used to authenticate at the service provider."},
	{Name: "name", Type: TypeComplex, Description: "Components of the User's real name.", SubAttributes: []*Attribute{
		str("formatted", "Full name formatted for display, e.g. 'Ms. Barbara J Jensen, III'."),
		str("familyName", "Family (last) name."),
		str("givenName", "Given (first) name."),
		str("middleName", "Middle name(s)."),
		str("honorificPrefix", "Honorific prefix(es), e.g. 'Ms.'."),
		str("honorificSuffix", "Honorific suffix(es), e.g. 'III'."),
	}},
	str("displayName", "Name of the User suitable for display to end-users."),
	str("nickName", "Casual way to address the User, e.g. 'Bob' for 'Robert'."),
	{Name: "profileUrl", Type: TypeReference, ReferenceTypes: []string{"external"}, Description: "URL of a page representing the User's online profile."},
	str("title", "The User's title, e.g. 'Vice President'."),
	str("userType", "Relationship between the organization and the User, e.g. 'Employee' or 'Contractor'."),
	str("preferredLanguage", "Preferred written or spoken language, e.g. 'en-US'."),
	str("locale", "Default location for localizing currency, dates and numbers, e.g. 'en-US'."),
	str("timezone", "Time zone in IANA 'Olson' format, e.g. 'America/Los_Angeles'."),
	{Name: "active", Type: TypeBoolean, Description: "The User's administrative status."},
	{Name: "password", Type: TypeString, Mutability: WriteOnly, Returned: ReturnedNever, Sensitive: true,
		Description: "Cleartext password; accepted but never stored by this server."},
	plural("emails", "Email addresses of the User.", str("value", "Email address."), "work", "home", "other"),
	plural("phoneNumbers", "Phone numbers of the User.", str("value", "Phone number."), "work", "home", "mobile", "fax", "pager", "other"),
	plural("ims", "Instant messaging addresses of the User.", str("value", "Instant messaging address."), "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
	plural("photos", "URLs of photos of the User.",
		&Attribute{Name: "value", Type: TypeReference, ReferenceTypes: []string{"external"}, Description: "URL of a photo."}, "photo", "thumbnail"),
	// §8.7.1 omits addresses.primary although §4.1.2 defines it for every
	// multi-valued attribute; clients send it, so it is defined here.
	{Name: "addresses", Type: TypeComplex, MultiValued: true, Description: "Physical mailing addresses of the User.", SubAttributes: []*Attribute{
		str("formatted", "Full mailing address formatted for display; may contain newlines."),
		str("streetAddress", "Street address component; may contain newlines."),
		str("locality", "City or locality component."),
		str("region", "State or region component."),
		str("postalCode", "Zip or postal code component."),
		str("country", "Country name component (ISO 3166-1 alpha-2)."),
		{Name: "type", Type: TypeString, CanonicalValues: []string{"work", "home", "other"}, Description: "Label of the address' function, e.g. 'work'."},
		primary(),
	}},
	{Name: "groups", Type: TypeComplex, MultiValued: true, Mutability: ReadOnly,
		Description: "Groups the User belongs to; maintained through the Group resource.", SubAttributes: []*Attribute{
			{Name: "value", Type: TypeString, Mutability: ReadOnly, Description: "id of the Group."},
			{Name: "$ref", Type: TypeReference, Mutability: ReadOnly, ReferenceTypes: []string{"User", "Group"}, Description: "URI of the Group."},
			{Name: "display", Type: TypeString, Mutability: ReadOnly, Description: "Human-readable name of the Group."},
			{Name: "type", Type: TypeString, Mutability: ReadOnly, CanonicalValues: []string{"direct", "indirect"}, Description: "Whether membership is direct or through a nested Group."},
		}},
	plural("entitlements", "Entitlements of the User.", str("value", "Value of an entitlement.")),
	plural("roles", "Roles of the User.", str("value", "Value of a role.")),
	plural("x509Certificates", "X.509 certificates issued to the User.",
		&Attribute{Name: "value", Type: TypeBinary, Description: "DER-encoded X.509 certificate, base64."}),
}})

// EnterpriseUserSchema is urn:ietf:params:scim:schemas:extension:enterprise:2.0:User (RFC 7643 §4.3).
var EnterpriseUserSchema = define(&Schema{ID: EnterpriseUserSchemaURN, Name: "EnterpriseUser", Description: "Enterprise User", Attributes: []*Attribute{
	str("employeeNumber", "Identifier assigned to the User, typically by order of hire."),
	str("costCenter", "Name of a cost center."),
	str("organization", "Name of an organization."),
	str("division", "Name of a division."),
	str("department", "Name of a department."),
	{Name: "manager", Type: TypeComplex, Description: "The User's manager.", SubAttributes: []*Attribute{
		str("value", "id of the manager's User resource."),
		// §8.7.1 makes manager.$ref readWrite. Here it is readOnly: only
		// manager.value is stored (ScimUser spec.enterprise.manager), so a
		// $ref sent by a client is ignored and advertising it as writable
		// would promise what the server does not keep.
		{Name: "$ref", Type: TypeReference, Mutability: ReadOnly, ReferenceTypes: []string{"User"}, Description: "URI of the manager's User resource."},
		{Name: "displayName", Type: TypeString, Mutability: ReadOnly, Description: "displayName of the manager."},
	}},
}})

// GroupSchema is urn:ietf:params:scim:schemas:core:2.0:Group (RFC 7643 §4.2).
var GroupSchema = define(&Schema{ID: GroupSchemaURN, Name: "Group", Description: "Group", Attributes: []*Attribute{
	// §4.2 says REQUIRED while §8.7.1 says "required": false; a Group
	// without a name cannot be shown or mapped, so the prose wins.
	{Name: "displayName", Type: TypeString, Required: true, Description: "Human-readable name of the Group."},
	// §8.7.1 has no members.display, but IdPs send it and clients display
	// it, so it is kept (readWrite) rather than dropped.
	{Name: "members", Type: TypeComplex, MultiValued: true, Description: "Members of the Group.", SubAttributes: []*Attribute{
		{Name: "value", Type: TypeString, Mutability: Immutable, Description: "id of the member resource."},
		{Name: "$ref", Type: TypeReference, Mutability: Immutable, ReferenceTypes: []string{"User", "Group"}, Description: "URI of the member resource."},
		str("display", "Human-readable name of the member."),
		{Name: "type", Type: TypeString, Mutability: Immutable, CanonicalValues: []string{"User", "Group"}, CanonicalOnly: true,
			Description: "Type of the member resource: 'User' or 'Group'."},
	}},
}})

// UserResourceType is the /Users endpoint: core User plus the optional
// enterprise extension.
var UserResourceType = &ResourceType{
	ID: "User", Name: "User", Endpoint: "/Users", Description: "User Account",
	Schema:     UserSchema,
	Extensions: []SchemaExtension{{Schema: EnterpriseUserSchema, Required: false}},
}

// GroupResourceType is the /Groups endpoint.
var GroupResourceType = &ResourceType{
	ID: "Group", Name: "Group", Endpoint: "/Groups", Description: "Group",
	Schema: GroupSchema,
}

func str(name, description string) *Attribute {
	return &Attribute{Name: name, Type: TypeString, Description: description}
}

func primary() *Attribute {
	return &Attribute{Name: "primary", Type: TypeBoolean,
		Description: "Whether this is the preferred value of the attribute; true at most once."}
}

// plural builds the value/display/type/primary shape RFC 7643 §2.4 gives to
// most multi-valued attributes, so the seven of them cannot drift apart.
func plural(name, description string, value *Attribute, types ...string) *Attribute {
	return &Attribute{Name: name, Type: TypeComplex, MultiValued: true, Description: description, SubAttributes: []*Attribute{
		value,
		str("display", "Human-readable name, primarily for display."),
		{Name: "type", Type: TypeString, CanonicalValues: types, Description: "Label of the value's function, e.g. 'work'."},
		primary(),
	}}
}

func define(s *Schema) *Schema {
	fill(s.Attributes)
	return s
}

func fill(attrs []*Attribute) []*Attribute {
	for _, a := range attrs {
		if a.Mutability == "" {
			a.Mutability = ReadWrite
		}
		if a.Returned == "" {
			a.Returned = ReturnedDefault
		}
		if a.Uniqueness == "" {
			a.Uniqueness = UniquenessNone
		}
		fill(a.SubAttributes)
	}
	return attrs
}
