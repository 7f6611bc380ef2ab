package integration

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers"
	"github.com/scim-operator/scim-operator/internal/operator"
)

func account(t *testing.T, ns, app, user string) *identityv1alpha1.AppAccount {
	t.Helper()
	var a identityv1alpha1.AppAccount
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: controllers.AccountName(app, user)}, &a); err != nil {
		return nil
	}
	return &a
}

// saCanListPods gets a token for the ServiceAccount (TokenRequest) and uses
// it against the API server; it reports "gone" when the ServiceAccount does
// not exist, so no token can be had.
func saToken(t *testing.T, ns, sa string) (string, bool) {
	t.Helper()
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(600))}}
	err := env.Client.SubResource("token").Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns}}, tr)
	if apierrors.IsNotFound(err) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token, true
}

func listPodsWithToken(t *testing.T, tok, ns string) error {
	t.Helper()
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = tok
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c.List(context.Background(), &corev1.PodList{}, client.InNamespace(ns))
}

func ptr[T any](v T) *T { return &v }

func TestServiceAccountAppFollowsGroupMembershipAndRevocation(t *testing.T) {
	ensurePodReader(t)
	c := newDirectory(t)
	ns := "apps-" + dirName(c)
	ensureNamespace(t, ns)
	ctx := context.Background()
	ann := c.createUser("ann@"+dirName(c)+".example.com", nil)
	bob := c.createUser("bob@"+dirName(c)+".example.com", nil)
	group := c.createGroup("data-"+dirName(c), ann)
	app := &identityv1alpha1.ScimApp{
		ObjectMeta: metav1.ObjectMeta{Name: "notebooks", Namespace: ns},
		Spec: identityv1alpha1.ScimAppSpec{
			Directory: dirName(c),
			Groups:    []identityv1alpha1.GroupRef{{DisplayName: "data-" + dirName(c)}},
			Provisioner: identityv1alpha1.AppProvisioner{ServiceAccount: &identityv1alpha1.ServiceAccountProvisioner{
				RoleRef: &identityv1alpha1.RoleRef{Kind: "ClusterRole", Name: podReader},
			}},
		},
	}
	if err := env.Client.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ann's account is provisioned", func() bool {
		a := account(t, ns, "notebooks", ann)
		return a != nil && a.Status.State == identityv1alpha1.AccountProvisioned
	})
	if account(t, ns, "notebooks", bob) != nil {
		t.Fatal("bob got an account without being entitled")
	}
	tok, ok := saToken(t, ns, "scim-"+ann)
	if !ok {
		t.Fatal("ann's ServiceAccount does not exist")
	}
	eventually(t, "ann's ServiceAccount token works", func() bool { return listPodsWithToken(t, tok, ns) == nil })

	// Deactivation suspends the account: the ServiceAccount goes, its token
	// stops working, and the user's revocation waits for it.
	c.do("PATCH", "/Users/"+ann, patchOps(op("replace", "active", false))).expect(t, 200)
	eventually(t, "the account is suspended", func() bool {
		a := account(t, ns, "notebooks", ann)
		return a != nil && a.Status.State == identityv1alpha1.AccountSuspended && a.Status.SuspendedAt != nil
	})
	eventually(t, "the token is rejected", func() bool { return apierrors.IsUnauthorized(listPodsWithToken(t, tok, ns)) })
	eventually(t, "ann's revocation is complete", func() bool { return c.user(ann).Status.SessionsRevokedAt != nil })

	// Reactivation restores the account.
	c.do("PATCH", "/Users/"+ann, patchOps(op("replace", "active", true))).expect(t, 200)
	eventually(t, "the account is provisioned again", func() bool {
		a := account(t, ns, "notebooks", ann)
		return a != nil && a.Status.State == identityv1alpha1.AccountProvisioned
	})

	// Membership decides entitlement: bob joins, ann leaves.
	patchMembers(c, group,
		map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": bob}}},
		map[string]any{"op": "remove", "path": fmt.Sprintf("members[value eq %q]", ann)})
	eventually(t, "bob has an account and ann's is gone", func() bool {
		b := account(t, ns, "notebooks", bob)
		return b != nil && b.Status.State == identityv1alpha1.AccountProvisioned && account(t, ns, "notebooks", ann) == nil
	})
	if _, ok := saToken(t, ns, "scim-"+ann); ok {
		t.Fatal("ann's ServiceAccount survived her leaving the app")
	}
	var got identityv1alpha1.ScimApp
	eventually(t, "the app counts its accounts", func() bool {
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(app), &got)
		return got.Status.Accounts == 1 && got.Status.Provisioned == 1
	})
}

func TestAnAppThatCannotBeReachedFailsOnlyItsOwnAccounts(t *testing.T) {
	c := newDirectory(t)
	ns := "apps-" + dirName(c)
	ensureNamespace(t, ns)
	ctx := context.Background()
	ann := c.createUser("ann@"+dirName(c)+".example.com", nil)
	broken := &identityv1alpha1.ScimApp{
		ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: ns},
		Spec: identityv1alpha1.ScimAppSpec{Directory: dirName(c), Provisioner: identityv1alpha1.AppProvisioner{
			Webhook: &identityv1alpha1.WebhookProvisioner{URL: "http://127.0.0.1:1/events", SecretRef: corev1.LocalObjectReference{Name: "missing"}},
		}},
	}
	fine := &identityv1alpha1.ScimApp{
		ObjectMeta: metav1.ObjectMeta{Name: "fine", Namespace: ns},
		Spec:       identityv1alpha1.ScimAppSpec{Directory: dirName(c), Provisioner: identityv1alpha1.AppProvisioner{ServiceAccount: &identityv1alpha1.ServiceAccountProvisioner{}}},
	}
	for _, a := range []*identityv1alpha1.ScimApp{broken, fine} {
		if err := env.Client.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the broken app's account fails with a reason and the other is provisioned", func() bool {
		b, f := account(t, ns, "broken", ann), account(t, ns, "fine", ann)
		return b != nil && b.Status.State == identityv1alpha1.AccountFailed && b.Status.LastError != "" &&
			f != nil && f.Status.State == identityv1alpha1.AccountProvisioned
	})
	eventually(t, "the broken app's status says why", func() bool {
		var got identityv1alpha1.ScimApp
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(broken), &got)
		cond := meta.FindStatusCondition(got.Status.Conditions, identityv1alpha1.ReadyCondition)
		return got.Status.Failed == 1 && cond != nil && cond.Reason == identityv1alpha1.ReasonAccountsFailed &&
			strings.Contains(cond.Message, "missing")
	})
	// A failed app does not hold a revocation open: the failure is visible and retried.
	c.do("PATCH", "/Users/"+ann, patchOps(op("replace", "active", false))).expect(t, 200)
	eventually(t, "ann's revocation completes", func() bool { return c.user(ann).Status.SessionsRevokedAt != nil })
}

// TestSCIMAppIsProvisionedIntoAnotherSCIMServer uses the operator's own SCIM
// endpoint (a second directory) as the downstream app.
func TestSCIMAppIsProvisionedIntoAnotherSCIMServer(t *testing.T) {
	up := newDirectory(t)
	down := newDirectory(t)
	ns := "apps-" + dirName(up)
	ensureNamespace(t, ns)
	ctx := context.Background()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-token", Namespace: ns}, StringData: map[string]string{"token": down.token}}
	if err := env.Client.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	userName := "ann@" + dirName(up) + ".example.com"
	ann := up.createUser(userName, map[string]any{"displayName": "Ann"})
	app := &identityv1alpha1.ScimApp{
		ObjectMeta: metav1.ObjectMeta{Name: "tools", Namespace: ns},
		Spec: identityv1alpha1.ScimAppSpec{Directory: dirName(up), Provisioner: identityv1alpha1.AppProvisioner{
			SCIM: &identityv1alpha1.SCIMProvisioner{URL: down.base, TokenSecretRef: corev1.LocalObjectReference{Name: "app-token"}},
		}},
	}
	if err := env.Client.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	downstream := func() map[string]any {
		r := down.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+userName+`"`), nil).expect(t, 200)
		if res, _ := r.Body["Resources"].([]any); len(res) == 1 {
			return res[0].(map[string]any)
		}
		return nil
	}
	eventually(t, "the app's SCIM server has ann, active", func() bool {
		u := downstream()
		a := account(t, ns, "tools", ann)
		return u != nil && u["active"] == true && u["displayName"] == "Ann" && a != nil && a.Status.ExternalID == u["id"]
	})
	up.do("PATCH", "/Users/"+ann, patchOps(op("replace", "active", false))).expect(t, 200)
	eventually(t, "the app's SCIM server has ann inactive", func() bool { u := downstream(); return u != nil && u["active"] == false })
	up.do("DELETE", "/Users/"+ann, nil).expect(t, 204)
	eventually(t, "the app's SCIM server no longer has ann", func() bool { return downstream() == nil })
}
