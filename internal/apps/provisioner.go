// Package apps carries accounts from ScimUsers into the applications that
// run in the cluster. A Provisioner applies one AppAccount to one ScimApp;
// the AppAccount controller calls it and records the outcome in the
// account's status. Provisioners must be idempotent: a call may repeat after
// a restart, a requeue or a failure half-way.
package apps

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// Provisioner applies accounts to one kind of app.
type Provisioner interface {
	// Apply creates or updates the account and makes it active or suspended
	// as acct.Spec.Active says. user is the account's ScimUser. It returns
	// the account's id in the app, if the app has one.
	Apply(ctx context.Context, app *identityv1alpha1.ScimApp, acct *identityv1alpha1.AppAccount, user *identityv1alpha1.ScimUser) (externalID string, err error)
	// Remove deletes the account from the app: the user is no longer
	// entitled, or was deleted.
	Remove(ctx context.Context, app *identityv1alpha1.ScimApp, acct *identityv1alpha1.AppAccount) error
}

// Deps are what provisioners need from the operator.
type Deps struct {
	// Client writes Kubernetes objects (ServiceAccounts, RoleBindings).
	Client client.Client
	// APIReader reads Secrets (signing keys, tokens) straight from the API
	// server: the operator's cache holds only token Secrets.
	APIReader client.Reader
}

// For returns the provisioner an app's spec names.
func For(app *identityv1alpha1.ScimApp, d Deps) (Provisioner, error) {
	p := app.Spec.Provisioner
	switch {
	case p.ServiceAccount != nil:
		return &ServiceAccounts{Client: d.Client}, nil
	case p.Webhook != nil:
		return newWebhook(d)
	case p.SCIM != nil:
		return newSCIM(d)
	}
	return nil, fmt.Errorf("app %s names no provisioner", app.Name)
}
