// Package index registers the cache field indexes that SCIM reads and the
// controllers use, so that an `eq` filter or a "which groups hold this user"
// question is a map look-up, not a scan of the directory.
//
// Keys are exported so callers pass the same constant to client.MatchingFields.
// Values of case-insensitive SCIM attributes (userName, emails, displayName)
// are stored lower-cased; callers lower-case the value they look up with Fold.
package index

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

const (
	// UserName indexes ScimUsers by lower-cased userName.
	UserName = "scim.userName"
	// UserExternalID indexes ScimUsers by externalId (case-exact).
	UserExternalID = "scim.user.externalId"
	// UserEmail indexes ScimUsers by every lower-cased emails.value.
	UserEmail = "scim.emails.value"
	// GroupDisplayName indexes ScimGroups by lower-cased displayName.
	GroupDisplayName = "scim.displayName"
	// GroupExternalID indexes ScimGroups by externalId (case-exact).
	GroupExternalID = "scim.group.externalId"
	// GroupMember indexes ScimGroups by the id of every inline member and
	// every member added in the overlay of a sharded group. With ShardMember
	// it is the reverse index behind a user's `groups` attribute and nested
	// groups; ask membership.DirectGroups, which combines the two.
	GroupMember = "scim.members.value"
	// ShardMember indexes ScimGroupMembers shards by the id of every member.
	ShardMember = "scim.shard.members.value"
	// RBACSubject indexes the RoleBindings and ClusterRoleBindings the
	// operator manages by "<kind>/<name>" of each subject, so revocation can
	// check that no managed binding still names a user.
	RBACSubject = "scim.rbac.subject"
	// AccountUser indexes AppAccounts by the SCIM id of their user.
	AccountUser = "scim.account.user"
	// AppDirectory indexes ScimApps by spec.directory.
	AppDirectory = "scim.app.directory"
	// TokenHash indexes token Secrets by the hex SHA-256 of their token.
	TokenHash = "scim.token.sha256"
)

// Fold is the normal form of a case-insensitive index value.
func Fold(s string) string { return strings.ToLower(s) }

// Setup registers every index with the manager's field indexer.
func Setup(ctx context.Context, fi client.FieldIndexer) error {
	type def struct {
		obj client.Object
		key string
		fn  client.IndexerFunc
	}
	defs := []def{
		{&identityv1alpha1.ScimUser{}, UserName, func(o client.Object) []string {
			return []string{Fold(o.(*identityv1alpha1.ScimUser).Spec.UserName)}
		}},
		{&identityv1alpha1.ScimUser{}, UserExternalID, func(o client.Object) []string {
			return nonEmpty(o.(*identityv1alpha1.ScimUser).Spec.ExternalID)
		}},
		{&identityv1alpha1.ScimUser{}, UserEmail, func(o client.Object) []string {
			var out []string
			for _, e := range o.(*identityv1alpha1.ScimUser).Spec.Emails {
				if e.Value != "" {
					out = append(out, Fold(e.Value))
				}
			}
			return out
		}},
		{&identityv1alpha1.ScimGroup{}, GroupDisplayName, func(o client.Object) []string {
			return []string{Fold(o.(*identityv1alpha1.ScimGroup).Spec.DisplayName)}
		}},
		{&identityv1alpha1.ScimGroup{}, GroupExternalID, func(o client.Object) []string {
			return nonEmpty(o.(*identityv1alpha1.ScimGroup).Spec.ExternalID)
		}},
		{&identityv1alpha1.ScimGroup{}, GroupMember, func(o client.Object) []string {
			g := o.(*identityv1alpha1.ScimGroup)
			out := make([]string, 0, len(g.Spec.Members))
			for _, m := range g.Spec.Members {
				out = append(out, m.Value)
			}
			if g.Spec.Membership != nil {
				for _, m := range g.Spec.Membership.Added {
					out = append(out, m.Value)
				}
			}
			return out
		}},
		{&identityv1alpha1.ScimGroupMembers{}, ShardMember, func(o client.Object) []string {
			ms := o.(*identityv1alpha1.ScimGroupMembers).Spec.Members
			out := make([]string, len(ms))
			for i, m := range ms {
				out[i] = m.Value
			}
			return out
		}},
		{&corev1.Secret{}, TokenHash, func(o client.Object) []string {
			return nonEmpty(string(o.(*corev1.Secret).Data[identityv1alpha1.TokenHashKey]))
		}},
		{&identityv1alpha1.ScimRoleBinding{}, BindingDirectory, bindingDirectory},
		{&identityv1alpha1.ScimRoleBinding{}, BindingSubject, bindingSubjects},
		{&identityv1alpha1.ScimClusterRoleBinding{}, BindingDirectory, bindingDirectory},
		{&identityv1alpha1.ScimClusterRoleBinding{}, BindingSubject, bindingSubjects},
		{&rbacv1.RoleBinding{}, RBACSubject, func(o client.Object) []string { return subjectKeys(o.(*rbacv1.RoleBinding).Subjects) }},
		{&rbacv1.ClusterRoleBinding{}, RBACSubject, func(o client.Object) []string { return subjectKeys(o.(*rbacv1.ClusterRoleBinding).Subjects) }},
		{&identityv1alpha1.AppAccount{}, AccountUser, func(o client.Object) []string { return []string{o.(*identityv1alpha1.AppAccount).Spec.User} }},
		{&identityv1alpha1.ScimApp{}, AppDirectory, func(o client.Object) []string { return []string{o.(*identityv1alpha1.ScimApp).Spec.Directory} }},
	}
	for _, d := range defs {
		if err := fi.IndexField(ctx, d.obj, d.key, d.fn); err != nil {
			return err
		}
	}
	return nil
}

// SubjectKey is the RBACSubject index key of a subject.
func SubjectKey(kind, name string) string { return kind + "/" + name }

func subjectKeys(subjects []rbacv1.Subject) []string {
	out := make([]string, len(subjects))
	for i, s := range subjects {
		out[i] = SubjectKey(s.Kind, s.Name)
	}
	return out
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
