package index

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

const (
	// BindingDirectory indexes Scim*Bindings by spec.directory.
	BindingDirectory = "scim.binding.directory"
	// BindingSubject indexes Scim*Bindings by every group and user they
	// reference, as "<directory>/<attribute>:<value>" keys (GroupKeys, UserKeys),
	// so a change to one user or group finds exactly the bindings that can
	// include it.
	BindingSubject = "scim.binding.subject"
)

func key(dir, attr, value string) string { return dir + "/" + attr + ":" + value }

// GroupRefKey is the index key of a group reference.
func GroupRefKey(dir string, r identityv1alpha1.GroupRef) string {
	switch {
	case r.ID != "":
		return key(dir, "group.id", r.ID)
	case r.ExternalID != "":
		return key(dir, "group.externalId", r.ExternalID)
	}
	return key(dir, "group.displayName", Fold(r.DisplayName))
}

// UserRefKey is the index key of a user reference.
func UserRefKey(dir string, r identityv1alpha1.UserRef) string {
	switch {
	case r.ID != "":
		return key(dir, "user.id", r.ID)
	case r.ExternalID != "":
		return key(dir, "user.externalId", r.ExternalID)
	}
	return key(dir, "user.userName", Fold(r.UserName))
}

// GroupKeys are the keys under which bindings may reference a group.
func GroupKeys(dir string, g *identityv1alpha1.ScimGroup) []string {
	keys := []string{key(dir, "group.id", g.Name), key(dir, "group.displayName", Fold(g.Spec.DisplayName))}
	if g.Spec.ExternalID != "" {
		keys = append(keys, key(dir, "group.externalId", g.Spec.ExternalID))
	}
	return keys
}

// UserKeys are the keys under which bindings may reference a user directly.
func UserKeys(dir string, u *identityv1alpha1.ScimUser) []string {
	keys := []string{key(dir, "user.id", u.Name), key(dir, "user.userName", Fold(u.Spec.UserName))}
	if u.Spec.ExternalID != "" {
		keys = append(keys, key(dir, "user.externalId", u.Spec.ExternalID))
	}
	return keys
}

func bindingSubjects(o client.Object) []string {
	b := o.(identityv1alpha1.ScimBinding)
	spec := b.BindingSpec()
	keys := make([]string, 0, len(spec.Groups)+len(spec.Users))
	for _, g := range spec.Groups {
		keys = append(keys, GroupRefKey(spec.Directory, g))
	}
	for _, u := range spec.Users {
		keys = append(keys, UserRefKey(spec.Directory, u))
	}
	return keys
}

func bindingDirectory(o client.Object) []string {
	return []string{o.(identityv1alpha1.ScimBinding).BindingSpec().Directory}
}
