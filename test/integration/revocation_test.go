package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/operator"
)

// review runs a SubjectAccessReview for listing pods in ns.
func review(t *testing.T, user string, groups []string, ns string) authorizationv1.SubjectAccessReviewStatus {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods", Namespace: ns},
	}}
	if err := env.Client.Create(context.Background(), sar); err != nil {
		t.Fatal(err)
	}
	return sar.Status
}

// listPodsAs makes a real request as user (through impersonation) and
// reports whether it was allowed.
func listPodsAs(t *testing.T, user string, groups []string, ns string) bool {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	err = c.List(context.Background(), &corev1.PodList{}, client.InNamespace(ns))
	if err != nil && !apierrors.IsForbidden(err) {
		t.Fatal(err)
	}
	return err == nil
}

// revocationFixture is a user with access through a User subject (group
// binding) and through a Group subject matching the OIDC group claim.
type revocationFixture struct {
	c      *scimClient
	ns     string
	user   string // SCIM id
	name   string // Kubernetes user name
	groups []string
}

func newRevocationFixture(t *testing.T) *revocationFixture {
	ensurePodReader(t)
	c := newDirectory(t)
	// Kubernetes user names are global: a user deactivated in one directory is
	// denied everywhere, so each test's user has a name of its own.
	userName := "ann@" + dirName(c) + ".example.com"
	// Group claims are global too (all test directories share one prefix).
	group := "devs-" + dirName(c)
	f := &revocationFixture{c: c, ns: "team-" + dirName(c), name: "oidc:" + userName, groups: []string{"oidc:" + group}}
	ensureNamespace(t, f.ns)
	f.user = c.createUser(userName, nil)
	c.createGroup(group, f.user)
	createBinding(t, f.ns, "devs-users", dirName(c), identityv1alpha1.GroupRef{DisplayName: group})
	claim := createBinding(t, f.ns, "devs-claim", dirName(c), identityv1alpha1.GroupRef{DisplayName: group})
	eventually(t, "the claim binding switches to Group subjects", func() bool {
		var b identityv1alpha1.ScimRoleBinding
		if env.Client.Get(context.Background(), client.ObjectKeyFromObject(claim), &b) != nil {
			return false
		}
		b.Spec.SubjectMode = identityv1alpha1.SubjectModeGroups
		return env.Client.Update(context.Background(), &b) == nil
	})
	expectAccess(t, f.name, f.ns, true)
	eventually(t, "a request with only the group claim is allowed", func() bool {
		return review(t, "oidc:someone-else-token-of-ann", nil, f.ns).Allowed == false &&
			listPodsAs(t, f.name, f.groups, f.ns)
	})
	return f
}

// expectCut checks every path: the user alone, the user with the group
// claim, and real requests for both; and that the denial names the reason.
func (f *revocationFixture) expectCut(t *testing.T) {
	t.Helper()
	st := review(t, f.name, nil, f.ns)
	if st.Allowed || !st.Denied || st.Reason == "" {
		t.Fatalf("deactivated user not denied at once: %+v", st)
	}
	if st := review(t, f.name, f.groups, f.ns); st.Allowed || !st.Denied {
		t.Fatalf("deactivated user with the group claim not denied: %+v", st)
	}
	if listPodsAs(t, f.name, nil, f.ns) || listPodsAs(t, f.name, f.groups, f.ns) {
		t.Fatal("a real request of the deactivated user was allowed")
	}
}

func (f *revocationFixture) expectRevokedStatus(t *testing.T) {
	t.Helper()
	eventually(t, "status records the revocation", func() bool {
		var u identityv1alpha1.ScimUser
		if env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.c.namespace, Name: f.user}, &u) != nil {
			return false
		}
		cond := meta.FindStatusCondition(u.Status.Conditions, identityv1alpha1.SessionsRevokedCondition)
		return u.Status.DeactivatedAt != nil && u.Status.SessionsRevokedAt != nil && cond != nil &&
			cond.Status == "True" && cond.Reason == identityv1alpha1.ReasonRevoked
	})
	eventually(t, "a Revoked event is recorded", func() bool {
		var evs eventsv1.EventList
		_ = env.Client.List(context.Background(), &evs, client.InNamespace(f.c.namespace))
		for _, e := range evs.Items {
			if e.Regarding.Name == f.user && e.Reason == identityv1alpha1.ReasonRevoked {
				return true
			}
		}
		return false
	})
	// Bindings drop the user too, so access stays cut without the webhook.
	eventually(t, "the RoleBinding no longer names the user", func() bool { return !rbacNames(t, f.ns, "scim-devs-users", f.name) })
}

func (f *revocationFixture) expectRestored(t *testing.T) {
	t.Helper()
	expectAccess(t, f.name, f.ns, true)
	eventually(t, "the group claim works again", func() bool { return listPodsAs(t, f.name, f.groups, f.ns) })
	eventually(t, "status records the reactivation", func() bool {
		u := f.c.user(f.user)
		return u.Status.ReactivatedAt != nil && u.Status.SessionsRevokedAt == nil
	})
}

func TestEntraDeactivationDeniesEveryPathAtOnceAndReactivationRestoresIt(t *testing.T) {
	f := newRevocationFixture(t)
	// Entra's soft delete, exactly as it sends it.
	f.c.do("PATCH", "/Users/"+f.user, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`).expect(t, 200)
	f.expectCut(t)
	f.expectRevokedStatus(t)

	f.c.do("PATCH", "/Users/"+f.user, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"True"}]}`).expect(t, 200)
	f.expectRestored(t)
}

func TestOktaDeactivationByPatchAndByPutDeniesEveryPath(t *testing.T) {
	f := newRevocationFixture(t)
	// Okta's deactivation: a pathless replace.
	f.c.do("PATCH", "/Users/"+f.user, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`).expect(t, 200)
	f.expectCut(t)
	f.expectRevokedStatus(t)
	f.c.do("PATCH", "/Users/"+f.user, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":true}}]}`).expect(t, 200)
	f.expectRestored(t)

	// Okta's PUT of the whole user with active false.
	r := f.c.do("GET", "/Users/"+f.user, nil).expect(t, 200)
	body := r.Body
	body["active"] = false
	body["password"] = "t1meMa$heen"
	f.c.do("PUT", "/Users/"+f.user, body).expect(t, 200)
	f.expectCut(t)
	f.expectRevokedStatus(t)
}

func TestDeletedUserIsHeldUntilRevokedAndItsGroupClaimDenied(t *testing.T) {
	f := newRevocationFixture(t)
	f.c.do("DELETE", "/Users/"+f.user, nil).expect(t, 204)
	if st := review(t, f.name, f.groups, f.ns); st.Allowed {
		t.Fatalf("deleted user still allowed: %+v", st)
	}
	eventually(t, "the user is gone once revoked", func() bool {
		return apierrors.IsNotFound(env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.c.namespace, Name: f.user}, &identityv1alpha1.ScimUser{}))
	})
	// Gone from the directory, the name has no binding left, and a token
	// still carrying the group claim is a stale claim.
	if st := review(t, f.name, nil, f.ns); st.Allowed {
		t.Fatalf("deleted user allowed: %+v", st)
	}
	if st := review(t, f.name, f.groups, f.ns); st.Allowed || !st.Denied {
		t.Fatalf("stale group claim of a deleted user not denied: %+v", st)
	}
}

func TestAStaleGroupClaimIsDeniedAndAMembersClaimIsNot(t *testing.T) {
	f := newRevocationFixture(t)
	f.c.createUser("bob@example.com", nil)
	if st := review(t, "oidc:bob@example.com", f.groups, f.ns); st.Allowed || !st.Denied {
		t.Fatalf("a non-member claiming a SCIM-managed group was not denied: %+v", st)
	}
	if st := review(t, f.name, f.groups, f.ns); !st.Allowed {
		t.Fatalf("a member's claim was not allowed: %+v", st)
	}
	// Users outside SCIM with groups outside SCIM are none of the webhook's business.
	if st := review(t, "oidc:stranger", []string{"oidc:not-a-scim-group"}, f.ns); st.Denied {
		t.Fatalf("unrelated request denied: %+v", st)
	}
}

func TestRevocationInterruptedByARestartFinishesAfterIt(t *testing.T) {
	f := newRevocationFixture(t)
	env.StopOperator()
	restarted := false
	defer func() {
		if !restarted {
			_ = env.StartOperator()
		}
	}()
	// While the operator is down, the deactivation reaches the API server
	// (through another replica, say) and nothing acts on it.
	ctx := context.Background()
	var u identityv1alpha1.ScimUser
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: f.c.namespace, Name: f.user}, &u); err != nil {
		t.Fatal(err)
	}
	off := false
	u.Spec.Active = &off
	if err := env.Client.Update(ctx, &u); err != nil {
		t.Fatal(err)
	}
	if err := env.StartOperator(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	f.c.base = "http://" + env.SCIMAddr + "/scim/v2/" + dirName(f.c)
	f.expectRevokedStatus(t)
	f.expectCut(t)
}

func TestTheWebhookNeverDeniesWhatItCannotRead(t *testing.T) {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a self-signed test certificate
	for name, body := range map[string]string{
		"not JSON":          `{"apiVersion":`,
		"empty":             ``,
		"no user":           `{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{}}`,
		"wrong types":       `{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":5,"groups":"x"}}`,
		"unknown SCIM user": `{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"oidc:nobody@example.com","groups":["system:authenticated"]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := hc.Post(env.AuthzURL, "application/json", bytes.NewBufferString(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out authorizationv1.SubjectAccessReview
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatalf("status %d, undecodable answer: %v", resp.StatusCode, err)
			}
			if out.Status.Denied || out.Status.Allowed {
				t.Fatalf("answered %+v, want no opinion", out.Status)
			}
		})
	}
}

// rbacNames reports whether the RoleBinding names a user.
func rbacNames(t *testing.T, ns, name, user string) bool {
	t.Helper()
	var rb rbacv1.RoleBinding
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &rb); err != nil {
		return false
	}
	for _, s := range rb.Subjects {
		if s.Name == user {
			return true
		}
	}
	return false
}
