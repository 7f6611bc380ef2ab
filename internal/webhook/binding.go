// Package webhook holds the operator's admission webhooks.
package webhook

import (
	"context"
	"fmt"
	"net/http"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// BindingPath is where the API server sends Scim*Binding admission reviews.
const BindingPath = "/validate-identity-scim-operator-io-v1alpha1-scimbinding"

// +kubebuilder:webhook:path=/validate-identity-scim-operator-io-v1alpha1-scimbinding,mutating=false,failurePolicy=fail,sideEffects=None,groups=identity.scim-operator.io,resources=scimrolebindings;scimclusterrolebindings,verbs=create;update,versions=v1alpha1,name=vscimbinding.identity.scim-operator.io,admissionReviewVersions=v1
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// BindingValidator refuses privilege escalation: whoever creates or updates a
// ScimRoleBinding or ScimClusterRoleBinding must be allowed to `bind` the
// role it grants, the permission Kubernetes itself requires before it lets
// someone create a RoleBinding to a role they do not fully hold. Without this
// check, anyone allowed to write Scim*Bindings could grant cluster-admin
// through the operator's own, broader permissions.
type BindingValidator struct {
	// Client creates SubjectAccessReviews.
	Client  client.Client
	Decoder admission.Decoder
}

// Handle implements admission.Handler.
func (v *BindingValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	var b identityv1alpha1.ScimBinding
	switch req.Kind.Kind {
	case "ScimRoleBinding":
		b = &identityv1alpha1.ScimRoleBinding{}
	case "ScimClusterRoleBinding":
		b = &identityv1alpha1.ScimClusterRoleBinding{}
	default:
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("unexpected kind %s", req.Kind.Kind))
	}
	if err := v.Decoder.Decode(req, b); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	ref := b.BindingSpec().RoleRef
	resource, namespace := "clusterroles", req.Namespace
	if ref.Kind == "Role" {
		resource = "roles"
	}
	extra := map[string]authorizationv1.ExtraValue{}
	for k, vals := range req.UserInfo.Extra {
		extra[k] = authorizationv1.ExtraValue(vals)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: req.UserInfo.Username, UID: req.UserInfo.UID, Groups: req.UserInfo.Groups, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: "bind", Group: rbacv1.GroupName, Resource: resource, Name: ref.Name, Namespace: namespace,
		},
	}}
	if err := v.Client.Create(ctx, sar); err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("checking bind permission: %w", err))
	}
	if !sar.Status.Allowed {
		where := "cluster-wide"
		if namespace != "" {
			where = "in namespace " + namespace
		}
		return admission.Denied(fmt.Sprintf("%s may not grant %s %q: granting a role through a %s requires permission to bind it (verb \"bind\" on %s %q %s)",
			req.UserInfo.Username, ref.Kind, ref.Name, req.Kind.Kind, resource, ref.Name, where))
	}
	return admission.Allowed("")
}
