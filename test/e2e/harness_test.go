package e2e

// The harness: one local control plane prepared as `helm install` prepares a cluster (CRDs,
// release namespace, the chart's ServiceAccount and RBAC), the operator binary built once per
// test binary, and any number of replicas of it, each started with the rendered Deployment's
// arguments on its own free ports, as the chart's ServiceAccount. Replicas can be killed,
// terminated and restarted on the same ports; the kube-apiserver can be stopped and started again
// on the same port with the same certificates.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
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
	// leaderLease is the leader election Lease, in namespace.
	leaderLease = "scim-operator.identity.scim-operator.io"
)

func repoRoot() string { return testenv.RepoRoot() }

func TestMain(m *testing.M) {
	code := m.Run()
	if build.done != nil {
		<-build.done
		_ = os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// build is the operator binary, built once per test binary (go build ./cmd/scim-operator).
var build struct {
	once sync.Once
	done chan struct{}
	dir  string
	path string
	err  error
}

// startBuild starts building the binary, once; operatorBinary waits for it.
func startBuild() {
	build.once.Do(func() {
		build.done = make(chan struct{})
		go func() {
			defer close(build.done)
			if build.dir, build.err = os.MkdirTemp("", "scim-operator-e2e-"); build.err != nil {
				return
			}
			build.path = filepath.Join(build.dir, "scim-operator")
			goCmd := os.Getenv("GO")
			if goCmd == "" {
				goCmd = "go"
			}
			cmd := exec.Command(goCmd, "build", "-o", build.path, "./cmd/scim-operator")
			cmd.Dir = repoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				build.err = fmt.Errorf("go build ./cmd/scim-operator: %w\n%s", err, out)
			}
		}()
	})
}

func operatorBinary(t *testing.T) string {
	t.Helper()
	startBuild()
	<-build.done
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// Cluster is a local control plane prepared for the chart's operator.
type Cluster struct {
	Env   *envtest.Environment
	Admin client.Client
	// AdminKubeconfig authenticates as a cluster admin; ServiceAccountKubeconfig as the chart's
	// ServiceAccount, which replicas run as.
	AdminKubeconfig, ServiceAccountKubeconfig string
	// Chart is the rendered chart; Container and Pod are the Deployment's.
	Chart          []*unstructured.Unstructured
	Container, Pod map[string]any
	// CertPEM is the self-signed certificate (for 127.0.0.1) every replica serves; HTTPS trusts it.
	CertPEM []byte
	HTTPS   *http.Client
	// Plain is for the metrics and probe endpoints.
	Plain *http.Client

	t      *testing.T
	dir    string
	keyPEM []byte
}

// ClusterOptions change the chart's rendering.
type ClusterOptions struct {
	// Set holds `helm template --set` values.
	Set []string
	// CRDDir, when set, holds the CRDs to install instead of config/crd/bases (an earlier
	// version's, for an upgrade test).
	CRDDir string
}

// NewCluster renders the chart (helm from $HELM; the test is skipped without it), starts the local
// control plane with the CRDs and installs the release namespace, ServiceAccount and RBAC as an
// admin would. Everything is torn down when the test ends.
func NewCluster(t *testing.T, opts ClusterOptions) *Cluster {
	t.Helper()
	helm := os.Getenv("HELM")
	if helm == "" {
		t.Skip("HELM is not set: run `make test-e2e`, which builds helm from the Go module proxy")
	}
	startBuild() // while the control plane starts
	c := &Cluster{t: t, dir: t.TempDir()}
	c.Chart = renderChart(t, helm, opts.Set...)
	dep := find(t, c.Chart, "Deployment", release)
	c.Pod = nested(dep.Object, "spec", "template", "spec")
	containers, _ := c.Pod["containers"].([]any)
	if len(containers) != 1 {
		t.Fatalf("want one container, got %d", len(containers))
	}
	c.Container = containers[0].(map[string]any)

	// The CRDs come from config/ (the chart's copies are checked against these by test/chart).
	// The API server's certificates live in a directory of the test's, so that a stopped API
	// server starts again with the same ones and every kubeconfig stays valid.
	crds := filepath.Join(repoRoot(), "config", "crd", "bases")
	if opts.CRDDir != "" {
		crds = opts.CRDDir
	}
	c.Env = &envtest.Environment{
		BinaryAssetsDirectory: assetsDir(t),
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
	}
	apiDir := filepath.Join(c.dir, "kube-apiserver")
	if err := os.MkdirAll(apiDir, 0o700); err != nil {
		t.Fatal(err)
	}
	c.Env.ControlPlane.GetAPIServer().CertDir = apiDir
	// StartAPIServer brings it back on the same port; see freeAddr for why envtest's own pick
	// (from the ephemeral range) is not used.
	c.Env.ControlPlane.GetAPIServer().SecurePort = restartablePort(t)
	// Stopping waits for the kube-apiserver's graceful shutdown, which can take a while with
	// clients' watches open on a busy machine.
	c.Env.ControlPlaneStopTimeout = 2 * time.Minute
	cfg, err := c.Env.Start()
	if err != nil {
		t.Fatalf("starting the local control plane: %v", err)
	}
	t.Cleanup(func() { _ = c.Env.Stop() })
	if c.Admin, err = client.New(cfg, client.Options{Scheme: operator.Scheme}); err != nil {
		t.Fatal(err)
	}
	c.AdminKubeconfig = kubeconfigFor(t, c.Env, envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, filepath.Join(c.dir, "admin.kubeconfig"))

	ctx := context.Background()
	if err := c.Admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		t.Fatal(err)
	}
	for _, o := range c.Chart {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if err := c.Admin.Create(ctx, o.DeepCopy()); err != nil {
				t.Fatalf("creating the chart's %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	}
	sa, _ := c.Pod["serviceAccountName"].(string)
	if find(t, c.Chart, "ServiceAccount", sa) == nil {
		t.Fatalf("the chart does not create the Deployment's ServiceAccount %q", sa)
	}
	c.ServiceAccountKubeconfig = kubeconfigFor(t, c.Env, envtest.User{
		Name:   "system:serviceaccount:" + namespace + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}, filepath.Join(c.dir, "serviceaccount.kubeconfig"))

	if c.CertPEM, c.keyPEM, err = testenv.SelfSignedCert("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CertPEM)
	c.HTTPS = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64,
	}}
	c.Plain = &http.Client{Timeout: 10 * time.Second}
	return c
}

// StopAPIServer stops the kube-apiserver (etcd keeps running).
func (c *Cluster) StopAPIServer(t *testing.T) {
	t.Helper()
	if err := c.Env.ControlPlane.GetAPIServer().Stop(); err != nil {
		t.Fatalf("stopping the kube-apiserver: %v", err)
	}
}

// KillAPIServer kills the kube-apiserver with SIGKILL, as a crash would (its graceful stop waits
// up to a minute for clients' requests); StartAPIServer starts it again.
func (c *Cluster) KillAPIServer(t *testing.T) {
	t.Helper()
	certDir := c.Env.ControlPlane.GetAPIServer().CertDir
	pid := testenv.APIServerPID(certDir)
	if pid == 0 {
		t.Fatalf("no kube-apiserver process with --cert-dir=%s", certDir)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing the kube-apiserver: %v", err)
	}
	// Stop returns once envtest has seen the process exit.
	c.StopAPIServer(t)
}

// StartAPIServer starts the stopped kube-apiserver again, on the same port with the same
// certificates, and waits until it is healthy.
func (c *Cluster) StartAPIServer(t *testing.T) {
	t.Helper()
	if err := c.Env.ControlPlane.GetAPIServer().Start(); err != nil {
		t.Fatalf("starting the kube-apiserver again: %v", err)
	}
}

// DefaultDirectory creates the chart's ScimDirectory "default" (a post-install hook) as an admin
// and waits until it is Ready; a replica must run (and lead) for that.
func (c *Cluster) DefaultDirectory(t *testing.T) *identityv1alpha1.ScimDirectory {
	t.Helper()
	ctx := context.Background()
	chartDir := find(t, c.Chart, "ScimDirectory", "default")
	if chartDir == nil {
		t.Fatal("the chart renders no default ScimDirectory")
	}
	if err := c.Admin.Create(ctx, chartDir.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	var dir identityv1alpha1.ScimDirectory
	eventually(t, "the directory to be Ready", 60*time.Second, func() bool {
		return c.Admin.Get(ctx, types.NamespacedName{Name: "default"}, &dir) == nil &&
			meta.IsStatusConditionTrue(dir.Status.Conditions, identityv1alpha1.ReadyCondition)
	})
	return &dir
}

// Token creates a bearer token for directory with the binary's `token create`, as an admin.
func (c *Cluster) Token(t *testing.T, directory, name string) string {
	t.Helper()
	out, err := exec.Command(operatorBinary(t), "token", "create", "-directory", directory, "-name", name, "-expires", "720h", "-kubeconfig", c.AdminKubeconfig).Output()
	if err != nil {
		t.Fatalf("token create: %v %s", err, stderrOf(err))
	}
	tok := strings.TrimSpace(string(out))
	if !strings.HasPrefix(tok, "scimop_") {
		t.Fatalf("token create printed %q", tok)
	}
	return tok
}

// LeaderLease returns the leader election Lease, or nil if there is none.
func (c *Cluster) LeaderLease(t *testing.T) *coordinationv1.Lease {
	t.Helper()
	var l coordinationv1.Lease
	if err := c.Admin.Get(context.Background(), types.NamespacedName{Namespace: namespace, Name: leaderLease}, &l); err != nil {
		return nil
	}
	return &l
}

// Replica is one operator process. Its output accumulates across restarts.
type Replica struct {
	Name string
	// Args are the process's arguments: the Deployment's, with free local ports and paths.
	Args []string
	// Addrs holds the host:port of each listen flag (scim-bind-address, metrics-bind-address,
	// health-probe-bind-address, authz-bind-address).
	Addrs map[string]string
	// SCIMURL is https://host:port; a directory's base URL is SCIMURL + "/scim/v2/<directory>".
	SCIMURL string
	// MetricsURL, ReadyURL and AuthzURL are the metrics, readiness and authorization webhook URLs.
	MetricsURL, ReadyURL, AuthzURL string
	Stdout, Stderr                 *syncBuffer

	c       *Cluster
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	starts  int
}

// NewReplica prepares (does not start) a replica with the Deployment's arguments on free local
// ports. extra arguments ("--name=value") replace the Deployment's argument of that name or are
// added. The process is killed when the test ends; if the test failed, its output is logged.
func (c *Cluster) NewReplica(t *testing.T, name string, extra ...string) *Replica {
	t.Helper()
	args, addrs := operatorArgs(t, c.Container, c.Pod, filepath.Join(c.dir, "replica-"+name), c.CertPEM, c.keyPEM)
	for _, e := range extra {
		n, _, _ := strings.Cut(strings.TrimLeft(e, "-"), "=")
		i := slices.IndexFunc(args, func(a string) bool {
			an, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			return an == n
		})
		if i >= 0 {
			args[i] = e
		} else {
			args = append(args, e)
		}
	}
	r := &Replica{Name: name, Args: args, Addrs: addrs, c: c, Stdout: &syncBuffer{}, Stderr: &syncBuffer{},
		SCIMURL:    "https://" + addrs["scim-bind-address"],
		MetricsURL: "http://" + addrs["metrics-bind-address"] + "/metrics",
		ReadyURL:   "http://" + addrs["health-probe-bind-address"] + "/readyz",
		AuthzURL:   "https://" + addrs["authz-bind-address"] + "/authorize",
	}
	t.Cleanup(func() {
		if r.Running() {
			_ = r.signal(syscall.SIGKILL)
			<-r.Exited()
		}
		if t.Failed() {
			if lines := r.Stderr.matching(regexp.MustCompile(`(?i)forbidden`)); len(lines) > 0 {
				t.Logf("replica %s: requests the API server refused (missing RBAC in the chart?):\n%s", r.Name, strings.Join(lines, "\n"))
			}
			t.Logf("replica %s output:\n%s", r.Name, r.Stderr.tail(60))
		}
	})
	return r
}

// Replicas prepares n replicas named "0".."n-1" and starts them.
func (c *Cluster) Replicas(t *testing.T, n int, extra ...string) []*Replica {
	t.Helper()
	out := make([]*Replica, n)
	for i := range out {
		out[i] = c.NewReplica(t, strconv.Itoa(i), extra...)
		out[i].Start(t)
	}
	return out
}

// Start starts the process (again).
func (r *Replica) Start(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil && r.exited != nil {
		select {
		case <-r.exited:
		default:
			t.Fatalf("replica %s is already running", r.Name)
		}
	}
	r.starts++
	marker := fmt.Sprintf("--- replica %s start %d ---\n", r.Name, r.starts)
	_, _ = r.Stdout.Write([]byte(marker))
	_, _ = r.Stderr.Write([]byte(marker))
	cmd := exec.Command(operatorBinary(t), r.Args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+r.c.ServiceAccountKubeconfig)
	cmd.Stdout, cmd.Stderr = r.Stdout, r.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	r.cmd, r.exited, r.exitErr = cmd, exited, nil
	go func() {
		err := cmd.Wait()
		r.mu.Lock()
		r.exitErr = err
		r.mu.Unlock()
		close(exited)
	}()
}

// Pid is the process id of the current (or last) process.
func (r *Replica) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// Exited is closed when the current process has exited.
func (r *Replica) Exited() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exited
}

// ExitErr is the current process's exit status once it has exited (nil: status 0).
func (r *Replica) ExitErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exitErr
}

// Running reports whether the process was started and has not exited.
func (r *Replica) Running() bool {
	ch := r.Exited()
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

func (r *Replica) signal(sig os.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return errors.New("not started")
	}
	return r.cmd.Process.Signal(sig)
}

// WaitReady waits until /readyz answers 200, failing the test if the process exits first.
func (r *Replica) WaitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	r.Eventually(t, "replica "+r.Name+" to be ready", timeout, func() bool {
		resp, err := r.c.Plain.Get(r.ReadyURL)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// Eventually polls cond every 100 ms until it holds, failing the test after timeout or when the
// process exits.
func (r *Replica) Eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if !r.Running() {
			t.Fatalf("replica %s exited (%v) while waiting for %s", r.Name, r.ExitErr(), what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kill sends SIGKILL and waits until the process is gone.
func (r *Replica) Kill(t *testing.T) {
	t.Helper()
	if err := r.signal(syscall.SIGKILL); err != nil {
		t.Fatalf("killing replica %s: %v", r.Name, err)
	}
	<-r.Exited()
}

// Terminate sends SIGTERM and waits up to timeout for the process to exit; it returns the exit
// status (nil: 0). Not exiting in time fails the test.
func (r *Replica) Terminate(t *testing.T, timeout time.Duration) error {
	t.Helper()
	if err := r.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("terminating replica %s: %v", r.Name, err)
	}
	select {
	case <-r.Exited():
		return r.ExitErr()
	case <-time.After(timeout):
		t.Fatalf("replica %s did not exit within %s of SIGTERM", r.Name, timeout)
		return nil
	}
}

// Restart kills the process if it runs, starts it again on the same ports and waits until it is
// ready.
func (r *Replica) Restart(t *testing.T) {
	t.Helper()
	if r.Running() {
		r.Kill(t)
	}
	r.Start(t)
	r.WaitReady(t, 90*time.Second)
}

// eventually polls cond every 100 ms until it holds, failing the test after timeout.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scimClient speaks SCIM to one directory of one replica, as an identity provider.
type scimClient struct {
	http  *http.Client
	base  string
	token string
}

func (c *Cluster) scim(r *Replica, directory, token string) *scimClient {
	return &scimClient{http: c.HTTPS, base: r.SCIMURL + "/scim/v2/" + directory, token: token}
}

// scimResponse is a complete answer: status, headers and the decoded JSON body (if any).
type scimResponse struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

func (r scimResponse) str(key string) string { s, _ := r.Body[key].(string); return s }

// do sends one request; header pairs follow the body. An error means no complete answer: the
// connection failed, timed out or was cut before the whole body arrived.
func (s *scimClient) do(ctx context.Context, method, path string, body any, headers ...string) (scimResponse, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return scimResponse{}, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return scimResponse{}, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return scimResponse{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return scimResponse{}, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	out := scimResponse{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			return out, fmt.Errorf("%s %s: %d with a body that is not JSON: %w: %q", method, path, resp.StatusCode, err, raw)
		}
	}
	return out, nil
}

// renderChart runs `helm template` on the chart with its default values and set.
func renderChart(t *testing.T, helm string, set ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", release, filepath.Join(repoRoot(), "charts", "scim-operator"), "--namespace", namespace}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helm, args...)
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

// freeAddr returns a free 127.0.0.1 address for a process that is killed and started again on
// the same port. The port is taken from outside the kernel's ephemeral range: a port inside that
// range can be handed to an outgoing connection as its source port while the process is down,
// and the restart then fails with "address already in use" (it did, in CI, under the chaos test's
// load). Ports are never handed out twice by one test binary.
func freeAddr(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(restartablePort(t)))
}

var handedPorts = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// restartablePorts is the range restartablePort picks from: [10000, start of the ephemeral
// range), or above its end where a machine's range leaves little room below it.
func restartablePorts() (low, high int) {
	first, last := 32768, 60999 // Linux's default net.ipv4.ip_local_port_range
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			a, err1 := strconv.Atoi(f[0])
			b, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil {
				first, last = a, b
			}
		}
	}
	if first-10000 >= 65535-last {
		return 10000, first
	}
	return last + 1, 65536
}

func restartablePort(t *testing.T) int {
	t.Helper()
	low, high := restartablePorts()
	handedPorts.Lock()
	defer handedPorts.Unlock()
	if high-low >= 1000 {
		for range 200 {
			p := low + rand.IntN(high-low)
			if handedPorts.m[p] {
				continue
			}
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				continue
			}
			_ = l.Close()
			handedPorts.m[p] = true
			return p
		}
	}
	// The ephemeral range covers (nearly) every port: take one from it, and accept that a
	// restart may, rarely, find it taken.
	t.Logf("no free port outside the ephemeral range; a restart on this port may find it taken")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := l.Addr().(*net.TCPAddr).Port
	handedPorts.m[p] = true
	return p
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) lines() []string {
	return strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
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
