// Package e2e runs the operator binary as the Helm chart deploys it: built from
// cmd/scim-operator, started with the Deployment's arguments from the rendered chart, as the
// chart's ServiceAccount with the chart's RBAC (not as an admin), against a real kube-apiserver.
// An identity provider's requests then go through SCIM over HTTPS. Any request the chart's RBAC
// refuses, any argument the binary does not understand, and any unclean shutdown fails the test.
// The reliability tests (reliability_test.go) kill, terminate and restart the binary and the
// kube-apiserver under load; harness_test.go holds what every test here shares.
//
// It needs helm ($HELM) and the local control plane (KUBEBUILDER_ASSETS, else
// hack/control-plane.sh); `make test-e2e` provides both.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// TestBinaryWithChart is the end-to-end test described in the package comment.
func TestBinaryWithChart(t *testing.T) {
	c := NewCluster(t, ClusterOptions{})
	ctx := context.Background()
	admin := c.Admin
	op := c.NewReplica(t, "0")
	t.Logf("scim-operator %s", strings.Join(op.Args, " "))
	op.Start(t)
	op.WaitReady(t, 60*time.Second)
	dir := c.DefaultDirectory(t)
	// A token, as the NOTES say, by an admin with the binary's token command. It expires, so
	// that the token expiry metric has a sample.
	tok := c.Token(t, "default", "e2e")
	sc := c.scim(op, "default", tok)
	scim := func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		r, err := sc.do(ctx, method, path, body)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return r.Status, r.Body
	}
	poll := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		op.Eventually(t, what, timeout, cond)
	}
	poll("the token to be accepted", 30*time.Second, func() bool {
		code, _ := scim("GET", "/ServiceProviderConfig", nil)
		return code == http.StatusOK
	})
	// An app whose members get a ServiceAccount each (the serviceAccount provisioner): the
	// operator's app controllers write ServiceAccounts in the app's namespace.
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}); err != nil {
		t.Fatal(err)
	}
	app := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "identity.scim-operator.io/v1alpha1", "kind": "ScimApp",
		"metadata": map[string]any{"name": "notebooks", "namespace": "apps"},
		"spec": map[string]any{
			"directory":   "default",
			"groups":      []any{map[string]any{"displayName": "team-a-devs"}},
			"provisioner": map[string]any{"serviceAccount": map[string]any{}},
		},
	}}
	if err := admin.Create(ctx, app); err != nil {
		t.Fatal(err)
	}

	// An IdP provisions a user and a group.
	code, user := scim("POST", "/Users", map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "ann@example.com",
		"name":     map[string]any{"givenName": "Ann", "familyName": "Lee"},
		"emails":   []any{map[string]any{"value": "ann@example.com", "type": "work", "primary": true}},
	})
	if code != http.StatusCreated {
		t.Fatalf("POST /Users: %d %v", code, user)
	}
	uid, _ := user["id"].(string)
	var su identityv1alpha1.ScimUser
	if err := admin.Get(ctx, types.NamespacedName{Namespace: dir.Spec.Namespace, Name: uid}, &su); err != nil {
		t.Fatalf("the provisioned ScimUser %s/%s: %v", dir.Spec.Namespace, uid, err)
	}
	if su.Spec.UserName != "ann@example.com" {
		t.Errorf("ScimUser userName = %q", su.Spec.UserName)
	}
	poll("the user controller to map the Kubernetes user name", 30*time.Second, func() bool {
		return admin.Get(ctx, client.ObjectKeyFromObject(&su), &su) == nil && su.Status.KubernetesUsername == "oidc:ann@example.com"
	})
	if code, group := scim("POST", "/Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "team-a-devs",
		"members":     []any{map[string]any{"value": uid}},
	}); code != http.StatusCreated {
		t.Fatalf("POST /Groups: %d %v", code, group)
	}

	// A ScimRoleBinding: the operator grants a ClusterRole it does not hold itself (the chart's
	// bind permission) to the group's members.
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "team-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, &identityv1alpha1.ScimRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "devs", Namespace: "team-a"},
		Spec: identityv1alpha1.ScimBindingSpec{
			Directory: "default",
			Groups:    []identityv1alpha1.GroupRef{{DisplayName: "team-a-devs"}},
			RoleRef:   identityv1alpha1.RoleRef{Kind: "ClusterRole", Name: "team-reader"},
		},
	}); err != nil {
		t.Fatal(err)
	}
	bound := func() bool {
		var rb rbacv1.RoleBinding
		if err := admin.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: "scim-devs"}, &rb); err != nil {
			return false
		}
		return slices.ContainsFunc(rb.Subjects, func(s rbacv1.Subject) bool { return s.Name == "oidc:ann@example.com" })
	}
	poll("the RoleBinding to name ann", 30*time.Second, bound)
	appSA := func() bool {
		var sa corev1.ServiceAccount
		return admin.Get(ctx, types.NamespacedName{Namespace: "apps", Name: "scim-" + uid}, &sa) == nil
	}
	poll("the app's ServiceAccount for ann", 30*time.Second, appSA)

	// The IdP deactivates her: the binding drops her, the revocation is recorded, and the
	// authorization webhook (served with the chart's arguments) denies her.
	if code, body := scim("PATCH", "/Users/"+uid, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}},
	}); code != http.StatusOK {
		t.Fatalf("PATCH active=false: %d %v", code, body)
	}
	poll("the RoleBinding to drop ann", 30*time.Second, func() bool { return !bound() })
	poll("the app's ServiceAccount for ann to be deleted", 30*time.Second, func() bool { return !appSA() })
	poll("the revocation to be recorded", 30*time.Second, func() bool {
		return admin.Get(ctx, client.ObjectKeyFromObject(&su), &su) == nil && su.Status.SessionsRevokedAt != nil
	})
	review, _ := json.Marshal(authorizationv1.SubjectAccessReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SubjectAccessReview"},
		Spec: authorizationv1.SubjectAccessReviewSpec{User: "oidc:ann@example.com", Groups: []string{"system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "configmaps", Namespace: "team-a"}},
	})
	resp, err := c.HTTPS.Post(op.AuthzURL, "application/json", bytes.NewReader(review))
	if err != nil {
		t.Fatalf("authorization webhook: %v", err)
	}
	var answer authorizationv1.SubjectAccessReview
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if !answer.Status.Denied {
		t.Errorf("the authorization webhook did not deny the deactivated user: %+v", answer.Status)
	}

	checkMetrics(t, c.Plain, op.MetricsURL)

	// Graceful shutdown: SIGTERM, exit status 0 within 30 s, the leader Lease released.
	if err := op.Terminate(t, 30*time.Second); err != nil {
		t.Errorf("after SIGTERM the operator exited with %v, want status 0", err)
	}
	if _, ok := argMap(op.Args)["leader-elect"]; ok {
		if lease := c.LeaderLease(t); lease == nil {
			t.Errorf("the leader-election Lease does not exist")
		} else if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
			t.Errorf("the leader-election Lease is still held by %q after shutdown", *h)
		}
	}

	// Nothing the operator asked for was refused.
	if lines := op.Stderr.matching(regexp.MustCompile(`(?i)forbidden`)); len(lines) > 0 {
		t.Errorf("the API server refused requests of the operator (missing RBAC in the chart?):\n%s", strings.Join(lines, "\n"))
	}
	if testing.Verbose() {
		for _, l := range op.Stderr.matching(regexp.MustCompile(`"level":"error"`)) {
			t.Logf("error logged: %s", l)
		}
	}
}

// checkMetrics scrapes the metrics endpoint and checks that every metric the chart's Grafana
// dashboard queries is exported. A metric of internal/metrics that no code outside that package
// records yet is only reported: its panel stays empty until it is wired.
func checkMetrics(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("metrics endpoint: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	exported := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line+" ", "{ ")]
		exported[name] = true
	}
	dashboard, err := os.ReadFile(filepath.Join(repoRoot(), "charts", "scim-operator", "files", "dashboards", "scim-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	wired := wiredMetrics(t)
	for _, name := range uniq(regexp.MustCompile(`\b(?:scim_operator|controller_runtime|workqueue)_[a-z0-9_]+`).FindAllString(string(dashboard), -1)) {
		if exported[name] {
			continue
		}
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if w, declared := wired[base]; declared && !w {
			t.Logf("%s is not exported: nothing records it yet", name)
			continue
		}
		t.Errorf("the dashboard queries %s, which the operator does not export", name)
	}
	for _, want := range []string{
		`scim_operator_scim_requests_total{directory="default",method="POST",resource="Users",status="201"}`,
		`scim_operator_authorization_decisions_total{decision="deny",reason="inactive"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the metrics do not show %s", want)
		}
	}
}

// wiredMetrics maps each metric of internal/metrics to whether code outside that package
// records it (uses its variable).
func wiredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot(), "internal", "metrics", "metrics.go"))
	if err != nil {
		t.Fatal(err)
	}
	var code bytes.Buffer
	for _, dir := range []string{"controllers", "scimserver", "internal", "cmd"} {
		_ = filepath.WalkDir(filepath.Join(repoRoot(), dir), func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") &&
				filepath.Dir(path) != filepath.Join(repoRoot(), "internal", "metrics") {
				data, _ := os.ReadFile(path)
				code.Write(data)
			}
			return nil
		})
	}
	out := map[string]bool{}
	re := regexp.MustCompile(`(\w+)\s*=\s*prometheus\.New\w+\(prometheus\.\w+Opts\{[^}]*?Name:\s*"([a-z0-9_:]+)"`)
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		out[m[2]] = strings.Contains(code.String(), "metrics."+m[1]+".")
	}
	return out
}

func uniq(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
