// Package testenv starts a real kube-apiserver and etcd (controller-runtime's
// envtest, with binaries built by hack/control-plane.sh), installs the CRDs
// and runs the whole operator against them. Integration tests and `make dev`
// both use it, so what developers try by hand is what the tests prove.
package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/authz"
	"github.com/scim-operator/scim-operator/internal/httpserver"
	"github.com/scim-operator/scim-operator/internal/operator"
	"github.com/scim-operator/scim-operator/internal/token"
	"github.com/scim-operator/scim-operator/scimserver"
)

// Env is a running control plane with the operator.
type Env struct {
	Env    *envtest.Environment
	Config *rest.Config
	// Client talks to the API server directly (no cache).
	Client client.Client
	// SCIMAddr is the host:port of the SCIM endpoint.
	SCIMAddr string
	// AuthzURL is the authorization webhook's URL.
	AuthzURL string
	// Operator is the running operator.
	Operator *operator.Operator
	opts     operator.Options
	cancel   context.CancelFunc
	done     chan error
}

// RepoRoot is the module root, found from this source file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AssetsDir finds kube-apiserver and etcd: KUBEBUILDER_ASSETS if set, else
// the cache that hack/control-plane.sh fills (building it if needed).
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "hack", "control-plane.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/control-plane.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Options change how the environment starts.
type Options struct {
	// SCIMAddr is where the SCIM endpoint listens; default 127.0.0.1:0.
	SCIMAddr string
	// ConfigDir receives the AuthorizationConfiguration and the webhook's
	// certificate and kubeconfig; default a temporary directory.
	ConfigDir string
	// EventRate and EventBurst bound SCIM write Events as in
	// scimserver.Options; zero (tests) leaves them unbounded.
	EventRate  float64
	EventBurst int
}

// Start starts the control plane and the operator.
func Start(opts Options) (*Env, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	// The authorization webhook's address must be known before the API
	// server starts, so its listener is opened first.
	authzLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	dir := opts.ConfigDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "scim-operator-env-"); err != nil {
			return nil, err
		}
	}
	files, err := writeAuthorizationFiles(dir, authzLn.Addr().String())
	if err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		// envtest points the webhook configuration at a local port and
		// generates a serving certificate for it.
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join(RepoRoot(), "config", "webhook")}},
	}
	te.ControlPlane.GetAPIServer().Configure().
		Disable("authorization-mode").
		Set("authorization-config", files.Config)
	cfg, err := te.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the local control plane: %w", err)
	}
	// The bench and tests create thousands of objects; the default client-side
	// rate limit (5 QPS) would measure the limiter, not the operator.
	cfg.QPS, cfg.Burst = 2000, 4000
	e := &Env{Env: te, Config: cfg}
	if e.Client, err = client.New(cfg, client.Options{Scheme: operator.Scheme}); err != nil {
		_ = te.Stop()
		return nil, err
	}
	addr := opts.SCIMAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	e.opts = operator.Options{
		SCIM:        scimserver.Options{Addr: addr, EventRate: opts.EventRate, EventBurst: opts.EventBurst},
		MetricsAddr: "0",
		// Tests check that unlisted member shards are swept; a minute is
		// the production default.
		ShardGrace:    10 * time.Second,
		ProbeAddr:     "0",
		Restartable:   true,
		Authorization: httpserver.Config{Listener: authzLn, CertFile: files.CertFile, KeyFile: files.KeyFile},
		Webhook: webhook.Options{
			Host:    te.WebhookInstallOptions.LocalServingHost,
			Port:    te.WebhookInstallOptions.LocalServingPort,
			CertDir: te.WebhookInstallOptions.LocalServingCertDir,
		},
	}
	e.AuthzURL = "https://" + authzLn.Addr().String() + authz.Path
	if err := e.StartOperator(); err != nil {
		_ = te.Stop()
		return nil, err
	}
	// A restarted operator listens where the first one did.
	e.opts.SCIM.Addr = e.SCIMAddr
	e.opts.Authorization.Addr, e.opts.Authorization.Listener = authzLn.Addr().String(), nil
	return e, nil
}

// StartOperator starts the operator (again, after StopOperator).
func (e *Env) StartOperator() error {
	op, err := operator.New(e.Config, e.opts)
	if err != nil {
		return err
	}
	e.Operator = op
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), ctrl.Log))
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- op.Start(ctx) }()
	select {
	case e.SCIMAddr = <-op.SCIM.Listening():
	case err := <-e.done:
		return fmt.Errorf("operator stopped: %w", err)
	case <-time.After(60 * time.Second):
		e.StopOperator()
		return fmt.Errorf("SCIM endpoint did not start")
	}
	if !op.GetCache().WaitForCacheSync(ctx) {
		e.StopOperator()
		return fmt.Errorf("cache did not sync")
	}
	return nil
}

// StopOperator stops the operator and waits until it has stopped; the control
// plane keeps running.
func (e *Env) StopOperator() {
	e.cancel()
	select {
	case <-e.done:
	case <-time.After(30 * time.Second):
	}
}

// Stop stops the operator, then the control plane.
func (e *Env) Stop() {
	e.StopOperator()
	_ = e.Env.Stop()
}

// Directory creates a ScimDirectory with a token, waits until the operator
// accepts the token, and returns the SCIM base URL and the token.
func (e *Env) Directory(ctx context.Context, name, namespace string, mapping identityv1alpha1.KubernetesIdentity) (baseURL, tok string, err error) {
	dir := &identityv1alpha1.ScimDirectory{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       identityv1alpha1.ScimDirectorySpec{Namespace: namespace, Kubernetes: mapping},
	}
	if err := e.Client.Create(ctx, dir); err != nil {
		return "", "", err
	}
	// The namespace is the directory controller's to create; wait for it.
	if err := poll(ctx, func() bool {
		var d identityv1alpha1.ScimDirectory
		return e.Client.Get(ctx, client.ObjectKeyFromObject(dir), &d) == nil && d.Status.ObservedGeneration > 0
	}); err != nil {
		return "", "", fmt.Errorf("directory %s did not become ready: %w", name, err)
	}
	tok, _, err = token.Create(ctx, e.Client, dir, "initial", 0)
	if err != nil {
		return "", "", err
	}
	baseURL = "http://" + e.SCIMAddr + scimserver.BasePath + name
	// The token Secret reaches the operator's cache through a watch.
	err = poll(ctx, func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/ServiceProviderConfig", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return baseURL, tok, err
}

func poll(ctx context.Context, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// Replica is an extra operator process-alike with leader election, for tests
// of several replicas serving one control plane.
type Replica struct {
	// URL is the replica's SCIM URL (scheme://host:port).
	URL      string
	Operator *operator.Operator
	cancel   context.CancelFunc
	done     chan struct{}
}

// StartReplica starts another operator in this process with leader election
// in leaseNamespace, serving SCIM over plain HTTP on a free local port; the
// authorization and admission webhooks stay with the main operator.
func (e *Env) StartReplica(leaseNamespace string) (*Replica, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	op, err := operator.New(e.Config, operator.Options{
		SCIM:                    scimserver.Options{Addr: addr},
		MetricsAddr:             "0",
		ProbeAddr:               "0",
		Restartable:             true,
		LeaderElection:          true,
		LeaderElectionNamespace: leaseNamespace,
		AdvertiseURL:            "http://" + addr,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), ctrl.Log))
	r := &Replica{URL: "http://" + addr, Operator: op, cancel: cancel, done: make(chan struct{})}
	var startErr error
	go func() { startErr = op.Start(ctx); close(r.done) }()
	select {
	case <-op.SCIM.Listening():
	case <-r.done:
		return nil, fmt.Errorf("replica stopped: %w", startErr)
	case <-time.After(60 * time.Second):
		r.Stop()
		return nil, fmt.Errorf("replica's SCIM endpoint did not start")
	}
	if !op.GetCache().WaitForCacheSync(ctx) {
		r.Stop()
		return nil, fmt.Errorf("replica's cache did not sync")
	}
	return r, nil
}

// Stop stops the replica gracefully (it releases its Lease) and waits; it may
// be called more than once.
func (r *Replica) Stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
	}
}
