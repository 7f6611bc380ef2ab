// Package chart tests the Helm chart in charts/scim-operator: it renders every value set in the
// chart's ci/ directory with the helm binary named by $HELM (`make test-chart` builds it from the
// Go module proxy and sets it) and checks that the objects fit together, that the chart keeps up
// with the generated CRDs, RBAC and webhook configuration and with the operator's flags, and that
// the local kube-apiserver accepts what it renders and what `helm install` creates.
package chart

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/internal/testenv"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	release   = "scim-operator"
	namespace = "scim-system"
)

// repoRoot is the module root.
func repoRoot() string { return testenv.RepoRoot() }

func chartDir() string { return filepath.Join(repoRoot(), "charts", "scim-operator") }

// helmBinary is $HELM; without it the chart tests are skipped (`make test-chart` sets it).
func helmBinary(t *testing.T) string {
	t.Helper()
	h := os.Getenv("HELM")
	if h == "" {
		t.Skip("HELM is not set: run `make test-chart`, which builds helm from the Go module proxy")
	}
	return h
}

// valueSets are the chart's ci/*-values.yaml files by short name ("default", ...).
func valueSets(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir(), "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no value sets in %s/ci: %v", chartDir(), err)
	}
	sets := map[string]string{}
	for _, f := range files {
		sets[strings.TrimSuffix(filepath.Base(f), "-values.yaml")] = f
	}
	if _, ok := sets["default"]; !ok {
		t.Fatal("ci/default-values.yaml is missing")
	}
	return sets
}

func helm(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// manifest is a rendered chart.
type manifest struct {
	objs []*unstructured.Unstructured
	ns   string
}

// render runs `helm template` with a values file and --set flags.
func render(t *testing.T, releaseName, ns, valuesFile string, set ...string) manifest {
	t.Helper()
	args := []string{"template", releaseName, chartDir(), "--namespace", ns}
	if valuesFile != "" {
		args = append(args, "--values", valuesFile)
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := helm(t, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(out)
	if err != nil {
		t.Fatalf("helm template %s: %v", valuesFile, err)
	}
	return manifest{objs: objs, ns: ns}
}

func decode(s string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(s), 4096)
	for {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

func (m manifest) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range m.objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (m manifest) get(kind, name string) *unstructured.Unstructured {
	for _, o := range m.all(kind) {
		if o.GetName() == name {
			return o
		}
	}
	return nil
}

func (m manifest) one(t *testing.T, kind string) *unstructured.Unstructured {
	t.Helper()
	objs := m.all(kind)
	if len(objs) != 1 {
		t.Fatalf("want one %s, got %d", kind, len(objs))
	}
	return objs[0]
}

// Accessors that fail the test on a missing or mistyped field.

func str(o map[string]any, path ...string) string {
	v, _, _ := unstructured.NestedString(o, path...)
	return v
}

func slice(o map[string]any, path ...string) []any {
	v, _, _ := unstructured.NestedSlice(o, path...)
	return v
}

func mapOf(o map[string]any, path ...string) map[string]any {
	v, _, _ := unstructured.NestedMap(o, path...)
	return v
}

func num(o map[string]any, path ...string) int64 {
	v, ok, _ := unstructured.NestedFieldNoCopy(o, path...)
	if !ok {
		return 0
	}
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return 0
}

func boolean(o map[string]any, path ...string) (value, set bool) {
	v, ok, _ := unstructured.NestedBool(o, path...)
	return v, ok
}

// container is the operator's container of the Deployment.
func container(t *testing.T, dep *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs := slice(dep.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("want one container, got %d", len(cs))
	}
	return cs[0].(map[string]any)
}

// args are the container's --name[=value] arguments by name ("" for a bare flag).
func args(t *testing.T, c map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range slice(c, "args") {
		s := a.(string)
		if !strings.HasPrefix(s, "-") {
			t.Errorf("argument %q is not a flag", s)
			continue
		}
		name, value, _ := strings.Cut(strings.TrimLeft(s, "-"), "=")
		if _, dup := out[name]; dup {
			t.Errorf("flag --%s is given twice", name)
		}
		out[name] = value
	}
	return out
}

func containerPorts(c map[string]any) map[string]int64 {
	out := map[string]int64{}
	for _, p := range slice(c, "ports") {
		pm := p.(map[string]any)
		out[str(pm, "name")] = num(pm, "containerPort")
	}
	return out
}

func mountPaths(c map[string]any) map[string]string {
	out := map[string]string{}
	for _, m := range slice(c, "volumeMounts") {
		mm := m.(map[string]any)
		out[str(mm, "mountPath")] = str(mm, "name")
	}
	return out
}

// operatorFlags are the flags cmd/scim-operator/main.go defines for the operator.
func operatorFlags(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot(), "cmd", "scim-operator", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	// fs.StringVar(&opts.SCIM.Addr, "scim-bind-address", ...) or fs.Bool("name", ...) in run().
	runFn := string(src)
	if i := strings.Index(runFn, "func run()"); i >= 0 {
		runFn = runFn[i:]
	}
	if i := strings.Index(runFn, "\nfunc "); i >= 0 {
		runFn = runFn[:i]
	}
	var flags []string
	for _, m := range regexp.MustCompile(`fs\.[A-Za-z0-9]+(?:Var\([^,]+,|\()\s*"([a-z0-9-]+)"`).FindAllStringSubmatch(runFn, -1) {
		flags = append(flags, m[1])
	}
	if len(flags) < 10 {
		t.Fatalf("found only %d flags in main.go: %v", len(flags), flags)
	}
	return flags
}

// zapFlags are controller-runtime's logging flags (zap.Options.BindFlags).
var zapFlags = []string{"zap-devel", "zap-encoder", "zap-log-level", "zap-stacktrace-level", "zap-time-encoding"}

func portOf(t *testing.T, addr string) int64 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, _ := strconv.ParseInt(p, 10, 64)
	return n
}

func labelsMatch(selector, labels map[string]any) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

var clusterScoped = map[string]bool{
	"CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"ValidatingWebhookConfiguration": true, "ScimDirectory": true, "Namespace": true,
}

// checkManifest checks what every value set must satisfy: the objects fit together.
func checkManifest(t *testing.T, m manifest, valuesText string) {
	t.Helper()
	seen := map[string]bool{}
	for _, o := range m.objs {
		key := o.GetAPIVersion() + "/" + o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
		if o.GetKind() == "" || o.GetAPIVersion() == "" || o.GetName() == "" {
			t.Errorf("object without apiVersion, kind or name: %v", o.Object)
		}
		if seen[key] {
			t.Errorf("duplicate object %s", key)
		}
		seen[key] = true
		switch {
		case clusterScoped[o.GetKind()] && o.GetNamespace() != "":
			t.Errorf("cluster-scoped %s %s has a namespace", o.GetKind(), o.GetName())
		case !clusterScoped[o.GetKind()] && o.GetNamespace() == "":
			t.Errorf("%s %s has no namespace", o.GetKind(), o.GetName())
		case !clusterScoped[o.GetKind()] && o.GetNamespace() != m.ns && o.GetKind() != "Role" && o.GetKind() != "RoleBinding":
			t.Errorf("%s %s is in namespace %s, not the release namespace %s", o.GetKind(), o.GetName(), o.GetNamespace(), m.ns)
		}
		if len(o.GetName()) > 63 && (o.GetKind() == "Service" || o.GetKind() == "Deployment") {
			t.Errorf("%s name %s is longer than 63 characters", o.GetKind(), o.GetName())
		}
	}

	dep := m.one(t, "Deployment")
	podLabels := mapOf(dep.Object, "spec", "template", "metadata", "labels")
	if !labelsMatch(mapOf(dep.Object, "spec", "selector", "matchLabels"), podLabels) {
		t.Error("the Deployment's selector does not match its pods")
	}
	pod := mapOf(dep.Object, "spec", "template", "spec")
	c := container(t, dep)

	// Restricted Pod Security.
	if v, _ := boolean(pod, "securityContext", "runAsNonRoot"); !v {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if str(pod, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
		t.Error("pod seccompProfile is not RuntimeDefault")
	}
	if v, set := boolean(c, "securityContext", "allowPrivilegeEscalation"); v || !set {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if v, _ := boolean(c, "securityContext", "readOnlyRootFilesystem"); !v {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if !slices.Contains(slice(c, "securityContext", "capabilities", "drop"), any("ALL")) {
		t.Error("capabilities do not drop ALL")
	}
	if v, _ := boolean(c, "securityContext", "privileged"); v {
		t.Error("the container is privileged")
	}
	if len(mapOf(c, "resources", "requests")) == 0 {
		t.Error("the container has no resource requests")
	}

	// Arguments: known flags, consistent with the ports, the mounts and each other.
	a := args(t, c)
	known := append(operatorFlags(t), zapFlags...)
	for name := range a {
		if !slices.Contains(known, name) {
			t.Errorf("argument --%s is not a flag of cmd/scim-operator", name)
		}
	}
	ports := containerPorts(c)
	mounts := mountPaths(c)
	if num(dep.Object, "spec", "replicas") > 1 {
		if _, ok := a["leader-elect"]; !ok {
			t.Error("more than one replica without --leader-elect")
		}
	}
	for flag, port := range map[string]string{
		"scim-bind-address": "scim", "authz-bind-address": "authz",
		"metrics-bind-address": "metrics", "health-probe-bind-address": "probes",
	} {
		v, ok := a[flag]
		switch {
		case !ok:
			t.Errorf("--%s is not set", flag)
		case v == "0":
			if _, exposed := ports[port]; exposed {
				t.Errorf("--%s=0 but the container still exposes port %s", flag, port)
			}
		case portOf(t, v) != ports[port]:
			t.Errorf("--%s=%s but container port %s is %d", flag, v, port, ports[port])
		}
	}
	if v := a["webhook-port"]; v != "0" && v != strconv.FormatInt(ports["webhook"], 10) {
		t.Errorf("--webhook-port=%s but container port webhook is %d", v, ports["webhook"])
	}
	for _, flag := range []string{"tls-cert-file", "tls-key-file", "authz-tls-cert-file", "authz-tls-key-file"} {
		if v, ok := a[flag]; ok {
			if _, mounted := mounts[filepath.Dir(v)]; !mounted {
				t.Errorf("--%s=%s is not in a mounted volume", flag, v)
			}
		}
	}
	if (a["tls-cert-file"] == "") != (a["tls-key-file"] == "") {
		t.Error("--tls-cert-file and --tls-key-file go together")
	}
	if a["authz-bind-address"] != "0" && (a["authz-tls-cert-file"] == "" || a["authz-tls-key-file"] == "") {
		t.Error("the authorization webhook is on without its certificate")
	}
	if a["webhook-port"] != "0" {
		if _, mounted := mounts[a["webhook-cert-dir"]]; !mounted {
			t.Errorf("--webhook-cert-dir=%s is not a mounted volume", a["webhook-cert-dir"])
		}
	}

	// Probes on the probe port.
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if str(c, probe, "httpGet", "path") != path || str(c, probe, "httpGet", "port") != "probes" {
			t.Errorf("%s is not GET %s on the probes port: %v", probe, path, c[probe])
		}
	}

	// Volumes: every mount has a volume; every Secret comes from the chart, from a
	// cert-manager Certificate, or is named in the values (existingSecret).
	volumes := map[string]map[string]any{}
	for _, v := range slice(pod, "volumes") {
		vm := v.(map[string]any)
		volumes[str(vm, "name")] = vm
	}
	for path, name := range mounts {
		if volumes[name] == nil {
			t.Errorf("mount %s names no volume %s", path, name)
		}
	}
	certSecrets := map[string]bool{}
	for _, cert := range m.all("Certificate") {
		certSecrets[str(cert.Object, "spec", "secretName")] = true
	}
	for name, v := range volumes {
		secret := str(v, "secret", "secretName")
		if secret != "" && m.get("Secret", secret) == nil && !certSecrets[secret] && !strings.Contains(valuesText, secret) {
			t.Errorf("volume %s mounts Secret %s, which nothing creates", name, secret)
		}
	}

	// Topology spread constraints select the pods.
	for _, tsc := range slice(pod, "topologySpreadConstraints") {
		if !labelsMatch(mapOf(tsc.(map[string]any), "labelSelector", "matchLabels"), podLabels) {
			t.Errorf("topology spread constraint %v does not select the pods", tsc)
		}
	}

	// Services select the pods and send to named container ports.
	services := map[string]*unstructured.Unstructured{}
	for _, svc := range m.all("Service") {
		services[svc.GetName()] = svc
		if !labelsMatch(mapOf(svc.Object, "spec", "selector"), podLabels) {
			t.Errorf("Service %s does not select the operator's pods", svc.GetName())
		}
		for _, p := range slice(svc.Object, "spec", "ports") {
			target := str(p.(map[string]any), "targetPort")
			if _, ok := ports[target]; !ok {
				t.Errorf("Service %s sends to port %q, which the container does not have", svc.GetName(), target)
			}
		}
	}
	servicePort := func(svcName string, port int64, portName string) bool {
		svc := services[svcName]
		if svc == nil {
			return false
		}
		for _, p := range slice(svc.Object, "spec", "ports") {
			pm := p.(map[string]any)
			if (port != 0 && num(pm, "port") == port) || (portName != "" && str(pm, "name") == portName) {
				return true
			}
		}
		return false
	}

	// The admission webhook reaches the operator's webhook port and trusts its certificate.
	for _, vwc := range m.all("ValidatingWebhookConfiguration") {
		inject := vwc.GetAnnotations()["cert-manager.io/inject-ca-from"]
		for _, w := range slice(vwc.Object, "webhooks") {
			wm := w.(map[string]any)
			svc := mapOf(wm, "clientConfig", "service")
			if str(svc, "namespace") != m.ns || !servicePort(str(svc, "name"), num(svc, "port"), "") {
				t.Errorf("webhook %s points at %v, which is not a port of a rendered Service", str(wm, "name"), svc)
			}
			for _, p := range slice(services[str(svc, "name")].Object, "spec", "ports") {
				pm := p.(map[string]any)
				if num(pm, "port") == num(svc, "port") && str(pm, "targetPort") != "webhook" {
					t.Errorf("webhook Service port %d sends to %s, not the webhook port", num(svc, "port"), str(pm, "targetPort"))
				}
			}
			if str(wm, "clientConfig", "caBundle") == "" {
				ns, name, _ := strings.Cut(inject, "/")
				if cert := m.get("Certificate", name); cert == nil || ns != cert.GetNamespace() {
					t.Errorf("webhook %s has neither a caBundle nor a cert-manager CA injection from a rendered Certificate", str(wm, "name"))
				}
			}
		}
	}

	// The Ingress, the HTTPRoute and the ServiceMonitor reach rendered Services.
	for _, ing := range m.all("Ingress") {
		for _, r := range slice(ing.Object, "spec", "rules") {
			for _, p := range slice(r.(map[string]any), "http", "paths") {
				b := mapOf(p.(map[string]any), "backend", "service")
				if !servicePort(str(b, "name"), num(b, "port", "number"), str(b, "port", "name")) {
					t.Errorf("Ingress %s sends to %v, which is not a rendered Service port", ing.GetName(), b)
				}
			}
		}
	}
	for _, route := range m.all("HTTPRoute") {
		for _, r := range slice(route.Object, "spec", "rules") {
			for _, b := range slice(r.(map[string]any), "backendRefs") {
				bm := b.(map[string]any)
				if !servicePort(str(bm, "name"), num(bm, "port"), "") {
					t.Errorf("HTTPRoute %s sends to %v, which is not a rendered Service port", route.GetName(), bm)
				}
			}
		}
	}
	for _, sm := range m.all("ServiceMonitor") {
		found := false
		for _, svc := range services {
			if labelsMatch(mapOf(sm.Object, "spec", "selector", "matchLabels"), mapOf(svc.Object, "metadata", "labels")) {
				for _, e := range slice(sm.Object, "spec", "endpoints") {
					found = found || servicePort(svc.GetName(), 0, str(e.(map[string]any), "port"))
				}
			}
		}
		if !found {
			t.Errorf("ServiceMonitor %s selects no Service with its endpoint port", sm.GetName())
		}
	}

	// NetworkPolicy and PodDisruptionBudget select the pods; the policy names real ports.
	for _, np := range m.all("NetworkPolicy") {
		if !labelsMatch(mapOf(np.Object, "spec", "podSelector", "matchLabels"), podLabels) {
			t.Errorf("NetworkPolicy %s does not select the pods", np.GetName())
		}
		for _, rule := range slice(np.Object, "spec", "ingress") {
			for _, p := range slice(rule.(map[string]any), "ports") {
				name := str(p.(map[string]any), "port")
				if _, ok := ports[name]; !ok {
					t.Errorf("NetworkPolicy %s admits port %q, which the container does not have", np.GetName(), name)
				}
			}
		}
		for name := range ports {
			admitted := false
			for _, rule := range slice(np.Object, "spec", "ingress") {
				for _, p := range slice(rule.(map[string]any), "ports") {
					admitted = admitted || str(p.(map[string]any), "port") == name
				}
			}
			if !admitted {
				t.Errorf("NetworkPolicy %s blocks container port %s", np.GetName(), name)
			}
		}
	}
	for _, pdb := range m.all("PodDisruptionBudget") {
		if !labelsMatch(mapOf(pdb.Object, "spec", "selector", "matchLabels"), podLabels) {
			t.Errorf("PodDisruptionBudget %s does not select the pods", pdb.GetName())
		}
	}

	// Certificates come from a rendered Issuer or from one the values name.
	for _, cert := range m.all("Certificate") {
		issuer := str(cert.Object, "spec", "issuerRef", "name")
		if m.get("Issuer", issuer) == nil && !strings.Contains(valuesText, issuer) {
			t.Errorf("Certificate %s is issued by %s, which is neither rendered nor in the values", cert.GetName(), issuer)
		}
	}

	// The ServiceAccount exists and is bound.
	sa := str(pod, "serviceAccountName")
	if m.get("ServiceAccount", sa) == nil {
		t.Errorf("ServiceAccount %s is not rendered", sa)
	}
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, b := range m.all(kind) {
			subj := slice(b.Object, "subjects")
			if len(subj) != 1 || str(subj[0].(map[string]any), "name") != sa || str(subj[0].(map[string]any), "namespace") != m.ns {
				t.Errorf("%s %s does not bind the ServiceAccount %s/%s: %v", kind, b.GetName(), m.ns, sa, subj)
			}
			roleKind, roleName := str(b.Object, "roleRef", "kind"), str(b.Object, "roleRef", "name")
			if m.get(roleKind, roleName) == nil {
				t.Errorf("%s %s binds %s %s, which is not rendered", kind, b.GetName(), roleKind, roleName)
			}
		}
	}
}

// TestValueSets renders every ci/*-values.yaml and checks the result; across them, every flag
// of the operator must be set by the chart.
func TestValueSets(t *testing.T) {
	helmBinary(t) // the flag coverage below needs the rendered value sets
	covered := map[string]bool{}
	for name, file := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			m := render(t, release, namespace, file)
			checkManifest(t, m, string(text))
			for flag := range args(t, container(t, m.one(t, "Deployment"))) {
				covered[flag] = true
			}
		})
	}
	var missing []string
	for _, f := range operatorFlags(t) {
		if !covered[f] {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		t.Errorf("no value set makes the chart pass these flags of cmd/scim-operator: %v; add them to templates/deployment.yaml and values.yaml", missing)
	}
}

// readYAMLFiles reads every YAML document of the files matching pattern.
func readYAMLFiles(t *testing.T, pattern string) []*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s", pattern)
	}
	var out []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decode(string(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, objs...)
	}
	return out
}

// normalize turns a value into what JSON makes of it, so that YAML integers and floats compare.
func normalize(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func diffYAML(t *testing.T, want, got any) string {
	t.Helper()
	w, _ := json.MarshalIndent(want, "", "  ")
	g, _ := json.MarshalIndent(got, "", "  ")
	return fmt.Sprintf("--- want\n%s\n--- got\n%s", w, g)
}

// TestDefaults checks the default install: what issue 7 promises and what is generated.
func TestDefaults(t *testing.T) {
	m := render(t, release, namespace, "")

	dep := m.one(t, "Deployment")
	if n := num(dep.Object, "spec", "replicas"); n != 2 {
		t.Errorf("replicas = %d, want 2", n)
	}
	a := args(t, container(t, dep))
	for _, flag := range []string{"leader-elect", "tls-cert-file", "authz-tls-cert-file", "webhook-cert-dir"} {
		if _, ok := a[flag]; !ok {
			t.Errorf("--%s is not set by default", flag)
		}
	}
	if a["webhook-port"] == "0" || a["authz-bind-address"] == "0" || a["metrics-bind-address"] == "0" {
		t.Errorf("a server is off by default: %v", a)
	}
	if m.get("PodDisruptionBudget", release) == nil || m.get("NetworkPolicy", release) == nil {
		t.Error("no PodDisruptionBudget or NetworkPolicy by default")
	}
	for _, kind := range []string{"Ingress", "HTTPRoute", "ServiceMonitor", "PrometheusRule", "ConfigMap", "Certificate", "Issuer"} {
		if len(m.all(kind)) != 0 {
			t.Errorf("%s rendered by default", kind)
		}
	}
	dir := m.get("ScimDirectory", "default")
	if dir == nil || str(dir.Object, "spec", "namespace") != "scim-default" || dir.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Errorf("default ScimDirectory: %v", dir)
	}

	// The CRDs are config/crd/bases, kept on uninstall.
	want := readYAMLFiles(t, filepath.Join(repoRoot(), "config", "crd", "bases", "*.yaml"))
	got := m.all("CustomResourceDefinition")
	if len(got) != len(want) {
		t.Fatalf("rendered %d CRDs, config/crd/bases has %d", len(got), len(want))
	}
	for _, w := range want {
		g := m.get("CustomResourceDefinition", w.GetName())
		if g == nil {
			t.Errorf("CRD %s is not rendered: run make chart-crds", w.GetName())
			continue
		}
		if !reflect.DeepEqual(normalize(t, w.Object["spec"]), normalize(t, g.Object["spec"])) {
			t.Errorf("CRD %s differs from config/crd/bases: run make chart-crds", w.GetName())
		}
		if g.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s is not kept on uninstall", w.GetName())
		}
	}

	// The ClusterRole is config/rbac/role.yaml.
	role := readYAMLFiles(t, filepath.Join(repoRoot(), "config", "rbac", "role.yaml"))[0]
	cr := m.get("ClusterRole", release)
	if cr == nil {
		t.Fatal("no ClusterRole")
	}
	if !reflect.DeepEqual(normalize(t, role.Object["rules"]), normalize(t, cr.Object["rules"])) {
		t.Errorf("the ClusterRole's rules differ from config/rbac/role.yaml: run make chart-crds\n%s", diffYAML(t, role.Object["rules"], cr.Object["rules"]))
	}
	le := m.get("Role", release+"-leader-election")
	if le == nil || le.GetNamespace() != namespace {
		t.Fatalf("no leader-election Role in %s", namespace)
	}
	if !strings.Contains(fmt.Sprint(le.Object["rules"]), "leases") {
		t.Errorf("the leader-election Role does not grant leases: %v", le.Object["rules"])
	}

	// The admission webhooks are config/webhook/manifests.yaml, pointed at the chart's Service.
	gen := readYAMLFiles(t, filepath.Join(repoRoot(), "config", "webhook", "manifests.yaml"))[0]
	vwc := m.one(t, "ValidatingWebhookConfiguration")
	gw, rw := slice(gen.Object, "webhooks"), slice(vwc.Object, "webhooks")
	if len(gw) != len(rw) {
		t.Fatalf("rendered %d webhooks, config/webhook has %d", len(rw), len(gw))
	}
	for i := range gw {
		g, r := gw[i].(map[string]any), rw[i].(map[string]any)
		if str(g, "clientConfig", "service", "path") != str(r, "clientConfig", "service", "path") {
			t.Errorf("webhook %s path differs from config/webhook", str(g, "name"))
		}
		if str(r, "clientConfig", "service", "name") != release+"-webhook" || str(r, "failurePolicy") != "Fail" {
			t.Errorf("webhook %s: %v", str(r, "name"), r)
		}
		for _, k := range []string{"clientConfig", "failurePolicy", "timeoutSeconds"} {
			delete(g, k)
			delete(r, k)
		}
		if !reflect.DeepEqual(normalize(t, g), normalize(t, r)) {
			t.Errorf("webhook differs from config/webhook: run make chart-crds\n%s", diffYAML(t, g, r))
		}
	}
}

// TestOptionalObjects checks the production value set: HA, digests, cert-manager, Ingress,
// ServiceMonitor, dashboard, PrometheusRule.
func TestOptionalObjects(t *testing.T) {
	m := render(t, release, namespace, valueSets(t)["ha-tls-ingress"])
	dep := m.one(t, "Deployment")
	c := container(t, dep)
	if img := str(c, "image"); !strings.Contains(img, "@sha256:") {
		t.Errorf("image %s is not pinned by digest", img)
	}
	if a := args(t, c); a["external-url"] != "https://scim.example.com" {
		t.Errorf("--external-url = %q, want the Ingress host", a["external-url"])
	}
	for _, kind := range []string{"Ingress", "ServiceMonitor", "Issuer", "ConfigMap", "PrometheusRule"} {
		if len(m.all(kind)) != 1 {
			t.Errorf("want one %s, got %d", kind, len(m.all(kind)))
		}
	}
	scim, webhook := m.get("Certificate", release+"-scim"), m.get("Certificate", release+"-webhook")
	if scim == nil || webhook == nil {
		t.Fatal("want the SCIM and the webhook Certificates")
	}
	if dns := fmt.Sprint(slice(scim.Object, "spec", "dnsNames")); strings.Contains(dns, ".svc") || !strings.Contains(dns, "scim.example.com") {
		t.Errorf("the ACME SCIM certificate must name the public host and no cluster-internal name: %s", dns)
	}
	if dns := fmt.Sprint(slice(webhook.Object, "spec", "dnsNames")); !strings.Contains(dns, release+"-webhook."+namespace+".svc") {
		t.Errorf("the webhook certificate does not name the webhook Service: %s", dns)
	}
	vwc := m.one(t, "ValidatingWebhookConfiguration")
	if vwc.GetAnnotations()["cert-manager.io/inject-ca-from"] != namespace+"/"+release+"-webhook" {
		t.Errorf("ValidatingWebhookConfiguration annotations: %v", vwc.GetAnnotations())
	}
	if len(m.all("Secret")) != 0 {
		t.Errorf("cert-manager makes the Secrets, but the chart renders %d", len(m.all("Secret")))
	}
	np := m.one(t, "NetworkPolicy")
	if !slices.Contains(slice(np.Object, "spec", "policyTypes"), any("Egress")) {
		t.Error("egress is not restricted")
	}
}

// TestToggles checks the switches the issue names.
func TestToggles(t *testing.T) {
	if m := render(t, release, namespace, "", "crds.enabled=false"); len(m.all("CustomResourceDefinition")) != 0 {
		t.Error("crds.enabled=false still renders CRDs")
	}
	for _, crd := range render(t, release, namespace, "", "crds.keep=false").all("CustomResourceDefinition") {
		if _, ok := crd.GetAnnotations()["helm.sh/resource-policy"]; ok {
			t.Errorf("crds.keep=false still keeps %s", crd.GetName())
		}
	}
	m := render(t, release, namespace, valueSets(t)["minimal"])
	for _, kind := range []string{"ValidatingWebhookConfiguration", "Secret", "NetworkPolicy", "PodDisruptionBudget", "ScimDirectory", "CustomResourceDefinition", "Role"} {
		if n := len(m.all(kind)); n != 0 {
			t.Errorf("minimal values render %d %s", n, kind)
		}
	}
	a := args(t, container(t, m.one(t, "Deployment")))
	for _, flag := range []string{"authz-bind-address", "webhook-port", "metrics-bind-address"} {
		if a[flag] != "0" {
			t.Errorf("--%s = %q, want 0", flag, a[flag])
		}
	}
	if len(m.all("Service")) != 1 {
		t.Errorf("minimal values render %d Services, want only SCIM's", len(m.all("Service")))
	}

	// Invalid values fail early: by the schema or by the templates.
	for _, set := range [][]string{
		{"scim.tls.source=bogus"},
		{"replicas=3"},
		{"image.digest=latest"},
		{"leaderElection.enabled=false"},
		{"scim.tls.source=existingSecret"},
		{"scim.tls.source=certManager", "scim.tls.certManager.issuerRef.name=letsencrypt"},
		{"httpRoute.enabled=true"},
		{"defaultDirectory.namespace=Not_A_Namespace"},
	} {
		args := []string{"template", release, chartDir(), "--namespace", namespace}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		if _, err := helm(t, nil, args...); err == nil {
			t.Errorf("helm template --set %v succeeded", set)
		}
	}
}

// TestDirectoryHook checks that the default directory is a post-install hook only while its API
// is missing (the release brings the CRD), and an ordinary object once it exists.
func TestDirectoryHook(t *testing.T) {
	hook := render(t, release, namespace, "").get("ScimDirectory", "default")
	if hook == nil || hook.GetAnnotations()["helm.sh/hook"] != "post-install" || hook.GetAnnotations()["meta.helm.sh/release-name"] != release {
		t.Errorf("without the API, the directory must be a post-install hook with the release's ownership: %v", hook)
	}
	out, err := helm(t, nil, "template", release, chartDir(), "--namespace", namespace,
		"--api-versions", "identity.scim-operator.io/v1alpha1/ScimDirectory")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	plain := manifest{objs: objs, ns: namespace}.get("ScimDirectory", "default")
	if plain == nil || plain.GetAnnotations()["helm.sh/hook"] != "" {
		t.Errorf("with the API, the directory must be an ordinary object: %v", plain)
	}
}

// TestLongReleaseName checks that names stay within Kubernetes' limits for the longest release
// name Helm accepts.
func TestLongReleaseName(t *testing.T) {
	file := valueSets(t)["ha-tls-ingress"]
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	checkManifest(t, render(t, strings.Repeat("r", 53), namespace, file), string(text))
}
