package operator

import (
	"sync"
	"unique"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// intern makes the strings that repeat across cached objects share one copy.
// Every decoded object carries its own copy of its namespace, its label and
// annotation keys, its finalizer, its condition types and reasons, and every
// member shard its own copy of each member's id; at 100,000 users these
// copies are tens of MiB of a heap that the memory limit keeps small.
//
// Only values that repeat are interned: a string seen once would cost an
// entry in the intern table and save nothing. Member ids are the exception
// worth making: a user in 50 groups is named in up to 50 shards.
func intern(o client.Object) {
	internMeta(o)
	switch t := o.(type) {
	case *identityv1alpha1.ScimUser:
		s := &t.Spec
		for _, p := range []*string{&s.UserType, &s.Title, &s.PreferredLanguage, &s.Locale, &s.Timezone} {
			*p = str(*p)
		}
		internValues(s.Emails, s.PhoneNumbers, s.IMs, s.Photos, s.Entitlements, s.Roles, s.X509Certificates)
		for i := range s.Addresses {
			a := &s.Addresses[i]
			a.Type, a.Country, a.Region, a.Locality = str(a.Type), str(a.Country), str(a.Region), str(a.Locality)
		}
		if e := s.Enterprise; e != nil {
			e.CostCenter, e.Organization, e.Division, e.Department = str(e.CostCenter), str(e.Organization), str(e.Division), str(e.Department)
		}
		internConditions(t.Status.Conditions)
	case *identityv1alpha1.ScimGroup:
		internMembers(t.Spec.Members)
		if m := t.Spec.Membership; m != nil {
			internMembers(m.Added)
		}
		internConditions(t.Status.Conditions)
	case *identityv1alpha1.ScimGroupMembers:
		t.Spec.Group = str(t.Spec.Group)
		internMembers(t.Spec.Members)
	case *identityv1alpha1.AppAccount:
		t.Spec.App = str(t.Spec.App)
		t.Status.State = identityv1alpha1.AccountState(str(string(t.Status.State)))
	case *rbacv1.RoleBinding:
		internRBAC(&t.RoleRef, t.Subjects)
	case *rbacv1.ClusterRoleBinding:
		internRBAC(&t.RoleRef, t.Subjects)
	}
}

func str(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}

func internMeta(o client.Object) {
	o.SetNamespace(str(o.GetNamespace()))
	if l := o.GetLabels(); len(l) == 1 && l[identityv1alpha1.DirectoryLabel] != "" {
		o.SetLabels(directoryLabels(l[identityv1alpha1.DirectoryLabel]))
	} else if len(l) > 0 {
		o.SetLabels(internMap(l, true))
	}
	if a := o.GetAnnotations(); len(a) > 0 {
		o.SetAnnotations(internMap(a, false)) // values are mostly per object (timestamps)
	}
	f := o.GetFinalizers()
	for i := range f {
		f[i] = str(f[i])
	}
	refs := o.GetOwnerReferences()
	for i := range refs {
		r := &refs[i]
		r.APIVersion, r.Kind, r.Name = str(r.APIVersion), str(r.Kind), str(r.Name)
	}
}

// sharedLabels holds one labels map per directory, shared by every cached
// object whose only label is that directory's: every ScimUser and ScimGroup.
// A Go map costs about 340 bytes even with one entry, 34 MiB at 100,000
// users. Cached objects are never written to (readers get deep copies, and
// those that opt out with client.UnsafeDisableDeepCopy only read), so one
// map can serve them all. It grows with the directories, not the objects.
var sharedLabels sync.Map // directory name → map[string]string

func directoryLabels(dir string) map[string]string {
	if m, ok := sharedLabels.Load(dir); ok {
		return m.(map[string]string)
	}
	m, _ := sharedLabels.LoadOrStore(dir, map[string]string{identityv1alpha1.DirectoryLabel: str(dir)})
	return m.(map[string]string)
}

// internMap returns m with interned keys (and values, if asked). A map's
// keys cannot be replaced in place, so it is rebuilt.
func internMap(m map[string]string, values bool) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if values {
			v = str(v)
		}
		out[str(k)] = v
	}
	return out
}

func internValues(lists ...[]identityv1alpha1.MultiValue) {
	for _, l := range lists {
		for i := range l {
			l[i].Type = str(l[i].Type)
		}
	}
}

func internMembers(ms []identityv1alpha1.Member) {
	for i := range ms {
		ms[i].Value = str(ms[i].Value)
		ms[i].Type = identityv1alpha1.MemberType(str(string(ms[i].Type)))
	}
}

func internConditions(cs []metav1.Condition) {
	for i := range cs {
		c := &cs[i]
		c.Type, c.Reason, c.Message = str(c.Type), str(c.Reason), str(c.Message)
		c.Status = metav1.ConditionStatus(str(string(c.Status)))
	}
}

func internRBAC(ref *rbacv1.RoleRef, subjects []rbacv1.Subject) {
	ref.APIGroup, ref.Kind, ref.Name = str(ref.APIGroup), str(ref.Kind), str(ref.Name)
	for i := range subjects {
		s := &subjects[i]
		s.Kind, s.APIGroup, s.Namespace = str(s.Kind), str(s.APIGroup), str(s.Namespace)
	}
}
