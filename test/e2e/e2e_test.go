// Package e2e runs the operator binary as the Helm chart deploys it: built from
// cmd/scim-operator, started with the Deployment's arguments from the rendered chart, as the
// chart's ServiceAccount with the chart's RBAC (not as an admin), against a real kube-apiserver.
// An identity provider's requests then go through SCIM over HTTPS. Any request the chart's RBAC
// refuses, any argument the binary does not understand, and any unclean shutdown fails the test.
//
// It needs helm ($HELM) and the local control plane (KUBEBUILDER_ASSETS, else
// hack/control-plane.sh); `make test-e2e` provides both.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/operator"
	"github.com/scim-operator/scim-operator/internal/testenv"
)

const (
	release   = "scim-operator"
	namespace = "scim-system"
)

func repoRoot() string { return testenv.RepoRoot() }

// TestBinaryWithChart is the end-to-end test described in the package comment.
func TestBinaryWithChart(t *testing.T) {
	helm := os.Getenv("HELM")
	if helm == "" {
		t.Skip("HELM is not set: run `make test-e2e`, which builds helm from the Go module proxy")
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The binary, built while the control plane starts.
	bin := filepath.Join(tmp, "scim-operator")
	var buildErr error
	built := make(chan struct{})
	t.Cleanup(func() { <-built }) // before the temporary directory is removed
	go func() {
		defer close(built)
		goCmd := os.Getenv("GO")
		if goCmd == "" {
			goCmd = "go"
		}
		cmd := exec.Command(goCmd, "build", "-o", bin, "./cmd/scim-operator")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/scim-operator: %w\n%s", err, out)
		}
	}()

	// The chart, rendered with its defaults, as `helm install` would.
	objs := renderChart(t, helm)
	dep := find(t, objs, "Deployment", release)
	pod := nested(dep.Object, "spec", "template", "spec")
	containers, _ := pod["containers"].([]any)
	if len(containers) != 1 {
		t.Fatalf("want one container, got %d", len(containers))
	}
	ctr := containers[0].(map[string]any)

	// A local kube-apiserver with the CRDs (the chart's copies are checked against these by
	// test/chart); the operator's RBAC comes from the chart below.
	env := &envtest.Environment{
		BinaryAssetsDirectory: assetsDir(t),
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the local control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := client.New(cfg, client.Options{Scheme: operator.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	adminKubeconfig := kubeconfigFor(t, env, envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, filepath.Join(tmp, "admin.kubeconfig"))

	// The release namespace, the ServiceAccount and the chart's RBAC, created by the admin as helm
	// would; then a kubeconfig that authenticates as that ServiceAccount.
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if err := admin.Create(ctx, o.DeepCopy()); err != nil {
				t.Fatalf("creating the chart's %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	}
	sa, _ := pod["serviceAccountName"].(string)
	if find(t, objs, "ServiceAccount", sa) == nil {
		t.Fatalf("the chart does not create the Deployment's ServiceAccount %q", sa)
	}
	saKubeconfig := kubeconfigFor(t, env, envtest.User{
		Name:   "system:serviceaccount:" + namespace + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}, filepath.Join(tmp, "serviceaccount.kubeconfig"))

	// The Deployment's arguments, with the mounted certificate files moved to a temporary directory
	// and the ports to free local ones.
	certPEM, keyPEM, err := testenv.SelfSignedCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	args, addrs := operatorArgs(t, ctr, pod, filepath.Join(tmp, "pod"), certPEM, keyPEM)
	t.Logf("scim-operator %s", strings.Join(args, " "))

	<-built
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	logs := &syncBuffer{}
	proc := exec.Command(bin, args...)
	proc.Env = append(os.Environ(), "KUBECONFIG="+saKubeconfig)
	proc.Stdout, proc.Stderr = logs, logs
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = proc.Process.Kill()
			<-exited
		}
		if t.Failed() {
			if lines := logs.matching(regexp.MustCompile(`(?i)forbidden`)); len(lines) > 0 {
				t.Logf("requests the API server refused (missing RBAC in the chart?):\n%s", strings.Join(lines, "\n"))
			}
			t.Logf("operator output:\n%s", logs.tail(80))
		}
	}()
	// poll waits for cond, failing early when the operator exits.
	poll := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			select {
			case err := <-exited:
				stopped = true
				t.Fatalf("the operator exited (%v) while waiting for %s", err, what)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	httpsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	plainClient := &http.Client{Timeout: 10 * time.Second}

	poll("/readyz", 60*time.Second, func() bool {
		resp, err := plainClient.Get("http://" + addrs["health-probe-bind-address"] + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// The chart's default directory (a post-install hook), created by the admin.
	chartDir := find(t, objs, "ScimDirectory", "default")
	if chartDir == nil {
		t.Fatal("the chart renders no default ScimDirectory")
	}
	if err := admin.Create(ctx, chartDir.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	var dir identityv1alpha1.ScimDirectory
	poll("the directory to be Ready", 30*time.Second, func() bool {
		return admin.Get(ctx, types.NamespacedName{Name: "default"}, &dir) == nil &&
			meta.IsStatusConditionTrue(dir.Status.Conditions, identityv1alpha1.ReadyCondition)
	})

	// A token, as the NOTES say, by an admin with the binary's token command. It expires, so
	// that the token expiry metric has a sample.
	out, err := exec.Command(bin, "token", "create", "-directory", "default", "-name", "e2e", "-expires", "720h", "-kubeconfig", adminKubeconfig).Output()
	if err != nil {
		t.Fatalf("token create: %v %s", err, stderrOf(err))
	}
	tok := strings.TrimSpace(string(out))
	if !strings.HasPrefix(tok, "scimop_") {
		t.Fatalf("token create printed %q", tok)
	}

	base := "https://" + addrs["scim-bind-address"] + "/scim/v2/default"
	scim := func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		var r io.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			r = bytes.NewReader(data)
		}
		req, _ := http.NewRequestWithContext(ctx, method, base+path, r)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := httpsClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
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
	resp, err := httpsClient.Post("https://"+addrs["authz-bind-address"]+"/authorize", "application/json", bytes.NewReader(review))
	if err != nil {
		t.Fatalf("authorization webhook: %v", err)
	}
	var answer authorizationv1.SubjectAccessReview
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if !answer.Status.Denied {
		t.Errorf("the authorization webhook did not deny the deactivated user: %+v", answer.Status)
	}

	checkMetrics(t, plainClient, "http://"+addrs["metrics-bind-address"]+"/metrics")

	// Graceful shutdown: SIGTERM, exit status 0 within 30 s, the leader Lease released.
	if err := proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("after SIGTERM the operator exited with %v, want status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the operator did not exit within 30 s of SIGTERM")
	}
	if _, ok := argMap(args)["leader-elect"]; ok {
		var lease coordinationv1.Lease
		if err := admin.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "scim-operator.identity.scim-operator.io"}, &lease); err != nil {
			t.Errorf("the leader-election Lease: %v", err)
		} else if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
			t.Errorf("the leader-election Lease is still held by %q after shutdown", *h)
		}
	}

	// Nothing the operator asked for was refused.
	if lines := logs.matching(regexp.MustCompile(`(?i)forbidden`)); len(lines) > 0 {
		t.Errorf("the API server refused requests of the operator (missing RBAC in the chart?):\n%s", strings.Join(lines, "\n"))
	}
	if testing.Verbose() {
		for _, l := range logs.matching(regexp.MustCompile(`"level":"error"`)) {
			t.Logf("error logged: %s", l)
		}
	}
}

// renderChart runs `helm template` on the chart with its default values.
func renderChart(t *testing.T, helm string) []*unstructured.Unstructured {
	t.Helper()
	cmd := exec.Command(helm, "template", release, filepath.Join(repoRoot(), "charts", "scim-operator"), "--namespace", namespace)
	dir := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(dir, "cache"), "HELM_CONFIG_HOME="+filepath.Join(dir, "config"), "HELM_DATA_HOME="+filepath.Join(dir, "data"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v %s", err, stderrOf(err))
	}
	var objs []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("helm template output: %v", err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	if kind == "Deployment" {
		t.Fatalf("the chart renders no Deployment %s", name)
	}
	return nil
}

func nested(o map[string]any, path ...string) map[string]any {
	m, _, _ := unstructured.NestedMap(o, path...)
	return m
}

func assetsDir(t *testing.T) string {
	t.Helper()
	dir, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func kubeconfigFor(t *testing.T, env *envtest.Environment, user envtest.User, path string) string {
	t.Helper()
	u, err := env.AddUser(user, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// operatorArgs turns the container's arguments into ones for a local process: every listen
// address (":<port>") becomes a free port on 127.0.0.1, the admission webhook port a free port,
// and every file path, which must lie in one of the container's volume mounts, moves under
// root; the Secret volumes there hold the test's certificate. Out of a cluster the
// leader-election namespace cannot be read from the pod, so it is passed as the namespace the pod
// would run in. It returns the arguments and the chosen address per flag.
func operatorArgs(t *testing.T, ctr, pod map[string]any, root string, certPEM, keyPEM []byte) ([]string, map[string]string) {
	t.Helper()
	secretVolumes := map[string]bool{}
	vols, _ := pod["volumes"].([]any)
	for _, v := range vols {
		vm := v.(map[string]any)
		if vm["secret"] != nil {
			secretVolumes[vm["name"].(string)] = true
		}
	}
	var mounts []string
	ms, _ := ctr["volumeMounts"].([]any)
	for _, m := range ms {
		mm := m.(map[string]any)
		path := mm["mountPath"].(string)
		mounts = append(mounts, path)
		dir := filepath.Join(root, path)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if secretVolumes[mm["name"].(string)] {
			for name, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM, "ca.crt": certPEM} {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	rawArgs, _ := ctr["args"].([]any)
	var args []string
	addrs := map[string]string{}
	for _, a := range rawArgs {
		s := a.(string)
		name, value, hasValue := strings.Cut(strings.TrimLeft(s, "-"), "=")
		switch {
		case !hasValue:
		case regexp.MustCompile(`^:[0-9]+$`).MatchString(value):
			value = freeAddr(t)
			addrs[name] = value
		case name == "webhook-port" && value != "0":
			_, port, _ := net.SplitHostPort(freeAddr(t))
			value = port
		case strings.HasPrefix(value, "/"):
			if !slices.ContainsFunc(mounts, func(m string) bool { return value == m || strings.HasPrefix(value, strings.TrimSuffix(m, "/")+"/") }) {
				t.Fatalf("--%s=%s is not in a volume mounted into the container", name, value)
			}
			value = filepath.Join(root, value)
		}
		if hasValue {
			s = "--" + name + "=" + value
		}
		args = append(args, s)
	}
	a := argMap(args)
	if _, on := a["leader-elect"]; on && a["leader-election-namespace"] == "" {
		args = append(args, "--leader-election-namespace="+namespace)
	}
	for _, flag := range []string{"scim-bind-address", "authz-bind-address", "metrics-bind-address", "health-probe-bind-address"} {
		if addrs[flag] == "" {
			t.Fatalf("the chart's default arguments do not set --%s to a port: %v", flag, rawArgs)
		}
	}
	return args, addrs
}

func argMap(args []string) map[string]string {
	out := map[string]string{}
	for _, a := range args {
		name, value, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		out[name] = value
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
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

// syncBuffer collects the operator's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimRight(b.buf.String(), "\n"), "\n")
}

func (b *syncBuffer) matching(re *regexp.Regexp) []string {
	var out []string
	for _, l := range b.lines() {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

func (b *syncBuffer) tail(n int) string {
	l := b.lines()
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n") + "\n(" + strconv.Itoa(len(l)) + " lines shown)"
}
