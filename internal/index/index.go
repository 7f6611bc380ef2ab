// Package index registers the cache field indexes that SCIM reads and the
// controllers use, so that an `eq` filter or a "which groups hold this user"
// question is a map look-up, not a scan of the directory.
//
// Keys are exported so callers pass the same constant to client.MatchingFields.
// Values of case-insensitive SCIM attributes (userName, emails, displayName)
// are stored lower-cased; callers lower-case the value they look up with Fold.
// The user indexes are bucketed (see userBuckets): look users up with Users,
// or with Key and Matches.
package index

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
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
	// AccountUser indexes AppAccounts by the SCIM id of their user.
	AccountUser = "scim.account.user"
	// AppDirectory indexes ScimApps by spec.directory.
	AppDirectory = "scim.app.directory"
	// TokenHash indexes token Secrets by the hex SHA-256 of their token.
	TokenHash = "scim.token.sha256"
)

// Fold is the normal form of a case-insensitive index value.
func Fold(s string) string { return strings.ToLower(s) }

// scope is the one kind of look-up an index serves.
type scope int

const (
	// inNamespace indexes serve lists with client.InNamespace: a directory's
	// objects all live in its namespace.
	inNamespace scope = iota
	// acrossNamespaces indexes serve lists without a namespace (and
	// cluster-scoped objects).
	acrossNamespaces
)

// Setup registers every index with the manager's cache.
//
// controller-runtime's IndexField stores each value of a namespaced object
// twice, as "<namespace>/<value>" for lists in a namespace and as
// "__all_namespaces/<value>" for lists across them, each with its own set of
// object keys. At 100,000 users those sets were about 40% of the operator's
// heap, and every index here is only ever asked one of the two ways. So each
// is registered under the same name and key format as IndexField's, with the
// one form it is asked in; client.MatchingFields finds it unchanged.
// TestIndexScopes checks the names and key formats against controller-runtime's
// cache reader. A list in the form an index does not serve finds nothing, so
// a new caller must use the scope declared below.
func Setup(ctx context.Context, informers cache.Informers) error {
	type def struct {
		obj   client.Object
		key   string
		scope scope
		fn    client.IndexerFunc
	}
	defs := []def{
		{&identityv1alpha1.ScimUser{}, UserName, inNamespace, bucketed(UserName)},
		{&identityv1alpha1.ScimUser{}, UserExternalID, inNamespace, bucketed(UserExternalID)},
		{&identityv1alpha1.ScimUser{}, UserEmail, inNamespace, bucketed(UserEmail)},
		{&identityv1alpha1.ScimGroup{}, GroupDisplayName, inNamespace, func(o client.Object) []string {
			return []string{Fold(o.(*identityv1alpha1.ScimGroup).Spec.DisplayName)}
		}},
		{&identityv1alpha1.ScimGroup{}, GroupExternalID, inNamespace, func(o client.Object) []string {
			return nonEmpty(o.(*identityv1alpha1.ScimGroup).Spec.ExternalID)
		}},
		{&corev1.Secret{}, TokenHash, inNamespace, func(o client.Object) []string {
			return nonEmpty(string(o.(*corev1.Secret).Data[identityv1alpha1.TokenHashKey]))
		}},
		{&identityv1alpha1.ScimRoleBinding{}, BindingDirectory, acrossNamespaces, bindingDirectory},
		{&identityv1alpha1.ScimRoleBinding{}, BindingSubject, acrossNamespaces, bindingSubjects},
		{&identityv1alpha1.ScimClusterRoleBinding{}, BindingDirectory, acrossNamespaces, bindingDirectory},
		{&identityv1alpha1.ScimClusterRoleBinding{}, BindingSubject, acrossNamespaces, bindingSubjects},
		{&identityv1alpha1.AppAccount{}, AccountUser, acrossNamespaces, func(o client.Object) []string { return []string{o.(*identityv1alpha1.AppAccount).Spec.User} }},
		{&identityv1alpha1.ScimApp{}, AppDirectory, acrossNamespaces, func(o client.Object) []string { return []string{o.(*identityv1alpha1.ScimApp).Spec.Directory} }},
	}
	for _, d := range defs {
		inf, err := informers.GetInformer(ctx, d.obj)
		if err != nil {
			return err
		}
		if err := inf.AddIndexers(toolscache.Indexers{fieldIndexName(d.key): indexFunc(d.scope, d.fn)}); err != nil {
			return fmt.Errorf("index %s: %w", d.key, err)
		}
	}
	return nil
}

// fieldIndexName and allNamespaces are controller-runtime's names for a
// field index and for the namespace of a list across namespaces: its cache
// reader looks an index up by them.
func fieldIndexName(key string) string { return "field:" + key }

const allNamespaces = "__all_namespaces"

// indexFunc prefixes fn's values with the namespace the index is asked in.
func indexFunc(sc scope, fn client.IndexerFunc) toolscache.IndexFunc {
	return func(raw any) ([]string, error) {
		obj, ok := raw.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%T is not a client.Object", raw)
		}
		ns := obj.GetNamespace()
		if sc == acrossNamespaces || ns == "" {
			ns = allNamespaces
		}
		vals := fn(obj)
		keys := make([]string, len(vals))
		for i, v := range vals {
			keys[i] = ns + "/" + v
		}
		return keys, nil
	}
}

// userValues are the indexed values of a user's attributes, by index key.
var userValues = map[string]func(*identityv1alpha1.ScimUser) []string{
	UserName:       func(u *identityv1alpha1.ScimUser) []string { return []string{Fold(u.Spec.UserName)} },
	UserExternalID: func(u *identityv1alpha1.ScimUser) []string { return nonEmpty(u.Spec.ExternalID) },
	UserEmail: func(u *identityv1alpha1.ScimUser) []string {
		var out []string
		for _, e := range u.Spec.Emails {
			if e.Value != "" {
				out = append(out, Fold(e.Value))
			}
		}
		return out
	},
}

// userBuckets is how many keys each user index has per directory.
//
// A user's userName, externalId and emails are nearly unique, and
// client-go's indexer keeps a Go map of object keys for every indexed value:
// about 250 bytes per user and attribute, 75 MB of small maps at 100,000
// users that every garbage collection had to mark. So the user indexes
// file each value under a bucket, a hash of the value, and a look-up
// (Key, then Matches) checks the few users of the bucket for the value
// itself: about a dozen at 100,000 users. The indexes stay the cache's own,
// updated with the objects they index, so read-your-writes still holds.
const userBuckets = 8192

// bucket is the index key of a user attribute's value.
func bucket(v string) string {
	h := fnv.New32a()
	h.Write([]byte(v))
	return strconv.FormatUint(uint64(h.Sum32()%userBuckets), 10)
}

func bucketed(key string) client.IndexerFunc {
	values := userValues[key]
	return func(o client.Object) []string {
		u, ok := o.(*identityv1alpha1.ScimUser)
		if !ok {
			return nil
		}
		vals := values(u)
		keys := make([]string, 0, len(vals))
		for _, v := range vals {
			if b := bucket(v); !slices.Contains(keys, b) {
				keys = append(keys, b)
			}
		}
		return keys
	}
}

// Key is what to pass to client.MatchingFields to look value up in the index
// named key. value must be in the index's normal form (Fold for the folded
// ones). The user indexes answer with every user of value's bucket: keep
// only those for which Matches holds.
func Key(key, value string) string {
	if _, ok := userValues[key]; ok {
		return bucket(value)
	}
	return value
}

// Matches reports whether obj has value in the index named key; for any
// index but the bucketed user ones it is true.
func Matches(key string, obj client.Object, value string) bool {
	values, ok := userValues[key]
	if !ok {
		return true
	}
	u, ok := obj.(*identityv1alpha1.ScimUser)
	return ok && slices.Contains(values(u), value)
}

// Users lists the users of namespace ns that have value in the user index
// named key (UserName, UserExternalID or UserEmail), in that index's normal
// form. opts are added to the list, e.g. client.UnsafeDisableDeepCopy.
func Users(ctx context.Context, r client.Reader, ns, key, value string, opts ...client.ListOption) ([]identityv1alpha1.ScimUser, error) {
	var list identityv1alpha1.ScimUserList
	opts = append([]client.ListOption{client.InNamespace(ns), client.MatchingFields{key: Key(key, value)}}, opts...)
	if err := r.List(ctx, &list, opts...); err != nil {
		return nil, err
	}
	out := list.Items[:0]
	for i := range list.Items {
		if Matches(key, &list.Items[i], value) {
			out = append(out, list.Items[i])
		}
	}
	return out, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
