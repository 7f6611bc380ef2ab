package apps

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// fieldManager owns what the provisioners apply.
const fieldManager = "scim-operator"

// ServiceAccounts gives each active account a ServiceAccount in the app's
// namespace (and, if the app says so, a RoleBinding for it). Suspension and
// removal delete the ServiceAccount: the API server then rejects every token
// bound to it, so access ends without waiting for tokens to expire.
type ServiceAccounts struct {
	Client client.Client
}

// ServiceAccountName is the deterministic, DNS-safe name of a user's
// ServiceAccount in an app: SCIM ids are lower-case UUIDs.
func ServiceAccountName(acct *identityv1alpha1.AppAccount) string {
	return "scim-" + acct.Spec.User
}

// Apply implements Provisioner.
func (p *ServiceAccounts) Apply(ctx context.Context, app *identityv1alpha1.ScimApp, acct *identityv1alpha1.AppAccount, _ *identityv1alpha1.ScimUser) (string, error) {
	if !acct.Spec.Active {
		return "", p.Remove(ctx, app, acct)
	}
	name := ServiceAccountName(acct)
	labels := map[string]string{identityv1alpha1.AppLabel: app.Name, identityv1alpha1.UserLabel: acct.Spec.User}
	// Owned by the AppAccount: if the account disappears without its
	// finalizer running (its ScimApp was deleted first), the garbage
	// collector still removes the ServiceAccount and the access it carries.
	owner := metav1ac.OwnerReference().WithAPIVersion(identityv1alpha1.GroupVersion.String()).WithKind("AppAccount").
		WithName(acct.Name).WithUID(acct.UID).WithBlockOwnerDeletion(true)
	sa := corev1ac.ServiceAccount(name, app.Namespace).WithLabels(labels).WithOwnerReferences(owner).
		WithAnnotations(map[string]string{"identity.scim-operator.io/user-name": acct.Spec.UserName})
	if err := p.Client.Apply(ctx, sa, client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
		return "", err
	}
	if ref := app.Spec.Provisioner.ServiceAccount.RoleRef; ref != nil {
		rb := rbacv1ac.RoleBinding(name, app.Namespace).WithLabels(labels).WithOwnerReferences(owner).
			WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind(ref.Kind).WithName(ref.Name)).
			WithSubjects(rbacv1ac.Subject().WithKind(rbacv1.ServiceAccountKind).WithName(name).WithNamespace(app.Namespace))
		if err := p.Client.Apply(ctx, rb, client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
			return "", err
		}
	}
	return name, nil
}

// Remove implements Provisioner.
func (p *ServiceAccounts) Remove(ctx context.Context, app *identityv1alpha1.ScimApp, acct *identityv1alpha1.AppAccount) error {
	meta := metav1.ObjectMeta{Name: ServiceAccountName(acct), Namespace: app.Namespace}
	for _, o := range []client.Object{&rbacv1.RoleBinding{ObjectMeta: meta}, &corev1.ServiceAccount{ObjectMeta: meta}} {
		if err := p.Client.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
