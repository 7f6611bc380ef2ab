// Package authz is the operator's authorization webhook (the kube-apiserver's
// SubjectAccessReview webhook API, authorization.k8s.io/v1). Placed before
// RBAC in the API server's AuthorizationConfiguration, it denies requests
// from users their identity provider deactivated — including requests
// carrying OIDC tokens or client certificates, which Kubernetes itself cannot
// revoke — and requests whose group claims name SCIM-managed groups the user
// no longer belongs to. For everything else it has no opinion, so RBAC
// decides as usual; it never answers "allowed".
//
// Decisions come from the informer cache and its indexes, without copying
// objects, so one decision costs a few map look-ups.
package authz

import (
	"context"
	"slices"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/index"
	"github.com/scim-operator/scim-operator/internal/membership"
)

// Decision is the webhook's answer to one request.
type Decision struct {
	Deny bool
	// Reason is shown to the denied user and in audit logs; it names the
	// directory and the rule, never attributes of the user.
	Reason string
	// Rule is a short label for metrics: "inactive", "stale-group", or "".
	Rule string
}

// Authorizer decides SubjectAccessReviews from the cache.
type Authorizer struct {
	// Reader must be the manager's cache-backed client with the indexes of
	// package index.
	Reader client.Reader
	// Members is the reverse membership index of the same cache.
	Members *membership.Index
}

// noCopy reads cached objects without deep copies: the authorizer only reads.
var noCopy = client.UnsafeDisableDeepCopy

// Decide returns the decision for one request.
func (a *Authorizer) Decide(ctx context.Context, spec *authorizationv1.SubjectAccessReviewSpec) (Decision, error) {
	var dirs identityv1alpha1.ScimDirectoryList
	if err := a.Reader.List(ctx, &dirs, noCopy); err != nil {
		return Decision{}, err
	}
	for i := range dirs.Items {
		d, err := a.decideIn(ctx, &dirs.Items[i], spec)
		if err != nil || d.Deny {
			return d, err
		}
	}
	return Decision{}, nil
}

// decideIn applies both rules for one directory.
func (a *Authorizer) decideIn(ctx context.Context, dir *identityv1alpha1.ScimDirectory, spec *authorizationv1.SubjectAccessReviewSpec) (Decision, error) {
	m := dir.Spec.Kubernetes
	var user *identityv1alpha1.ScimUser
	if name, ok := strings.CutPrefix(spec.User, m.UsernamePrefix); ok && name != "" {
		users, err := a.usersNamed(ctx, dir, name)
		if err != nil {
			return Decision{}, err
		}
		// After a delete and a re-create under the same name, the live user counts.
		for _, u := range users {
			if u.DeletionTimestamp.IsZero() && u.Spec.IsActive() {
				user = u
			}
		}
		if len(users) > 0 && user == nil {
			return Decision{Deny: true, Rule: "inactive",
				Reason: "the user is deactivated in SCIM directory " + dir.Name + "; its sessions are revoked"}, nil
		}
	}
	var memberOf map[string]bool
	for _, claim := range spec.Groups {
		name, ok := strings.CutPrefix(claim, m.GroupPrefix)
		if !ok || name == "" {
			continue
		}
		var groups identityv1alpha1.ScimGroupList
		if err := a.Reader.List(ctx, &groups, client.InNamespace(dir.Spec.Namespace), client.MatchingFields{index.GroupDisplayName: index.Fold(name)}, noCopy); err != nil {
			return Decision{}, err
		}
		if len(groups.Items) == 0 {
			continue
		}
		if user == nil {
			return staleClaim(dir, claim), nil
		}
		if memberOf == nil {
			var err error
			if memberOf, err = a.groupsOf(ctx, dir.Spec.Namespace, user.Name); err != nil {
				return Decision{}, err
			}
		}
		if !slices.ContainsFunc(groups.Items, func(g identityv1alpha1.ScimGroup) bool { return memberOf[g.Name] }) {
			return staleClaim(dir, claim), nil
		}
	}
	return Decision{}, nil
}

func staleClaim(dir *identityv1alpha1.ScimDirectory, claim string) Decision {
	return Decision{Deny: true, Rule: "stale-group",
		Reason: "the request claims group " + claim + ", which SCIM directory " + dir.Name + " manages and the user is no longer a member of"}
}

// usersNamed finds the users of a directory whose Kubernetes name (without
// prefix) is name, following the directory's usernameFrom.
func (a *Authorizer) usersNamed(ctx context.Context, dir *identityv1alpha1.ScimDirectory, name string) ([]*identityv1alpha1.ScimUser, error) {
	field, value := index.UserName, index.Fold(name)
	switch dir.Spec.Kubernetes.UsernameFrom {
	case identityv1alpha1.UsernameFromExternalID:
		field, value = index.UserExternalID, name
	case identityv1alpha1.UsernameFromPrimaryEmail:
		field = index.UserEmail
	}
	users, err := index.Users(ctx, a.Reader, dir.Spec.Namespace, field, value, noCopy)
	if err != nil {
		return nil, err
	}
	out := make([]*identityv1alpha1.ScimUser, 0, len(users))
	for i := range users {
		u := &users[i]
		if dir.Spec.Kubernetes.UsernameFrom == identityv1alpha1.UsernameFromPrimaryEmail && !strings.EqualFold(primaryEmail(u), name) {
			continue
		}
		out = append(out, u)
	}
	return out, nil
}

// primaryEmail is the address usernameFrom: primaryEmail refers to: the
// primary one, or the first.
func primaryEmail(u *identityv1alpha1.ScimUser) string {
	for _, e := range u.Spec.Emails {
		if e.Primary {
			return e.Value
		}
	}
	if len(u.Spec.Emails) > 0 {
		return u.Spec.Emails[0].Value
	}
	return ""
}

// groupsOf returns the ids of every group that contains the user, directly
// or through nesting.
func (a *Authorizer) groupsOf(ctx context.Context, ns, userID string) (map[string]bool, error) {
	groups, err := membership.GroupsContaining(ctx, a.Reader, a.Members, ns, userID, noCopy)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(groups))
	for _, c := range groups {
		ids[c.Group.Name] = true
	}
	return ids, nil
}
