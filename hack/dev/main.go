// Command dev runs scim-operator on an embedded local control plane for
// development: a real kube-apiserver and etcd (built once by
// hack/control-plane.sh), the CRDs, the operator with its SCIM endpoint on
// loopback, the directory "default" and a bearer token. It prints the SCIM
// base URL, the token and the kubeconfig, writes them to bin/dev/env, and runs
// until Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/testenv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8880", "Loopback address of the SCIM endpoint (plain HTTP: development only).")
	verbose := flag.Bool("v", false, "Log every reconcile and request at debug level.")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseDevMode(*verbose)))
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	fmt.Fprintln(os.Stderr, "Starting kube-apiserver, etcd and scim-operator ...")
	env, err := testenv.Start(testenv.Options{SCIMAddr: addr})
	if err != nil {
		return err
	}
	defer env.Stop()

	ctx := context.Background()
	base, tok, err := env.Directory(ctx, "default", "scim-default", identityv1alpha1.KubernetesIdentity{UsernamePrefix: "oidc:"})
	if err != nil {
		return err
	}
	admin, err := env.Env.AddUser(envtest.User{Name: "dev-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	dir := filepath.Join(testenv.RepoRoot(), "bin", "dev")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	kcPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		return err
	}
	envFile := fmt.Sprintf("SCIM_URL=%s\nSCIM_TOKEN=%s\nKUBECONFIG=%s\n", base, tok, kcPath)
	if err := os.WriteFile(filepath.Join(dir, "env"), []byte(envFile), 0o600); err != nil {
		return err
	}
	fmt.Printf(`
scim-operator is running on a local control plane.

  SCIM base URL:  %s
  Bearer token:   %s   (shown once; also in bin/dev/env)
  Kubeconfig:     %s

Try:
  source bin/dev/env
  curl -s -H "Authorization: Bearer $SCIM_TOKEN" -H 'Content-Type: application/scim+json' \
       -d '{"userName":"ann@example.com","name":{"givenName":"Ann"}}' $SCIM_URL/Users
  KUBECONFIG=%s kubectl get scimusers -n scim-default

Press Ctrl-C to stop.
`, base, tok, kcPath, kcPath)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Fprintln(os.Stderr, "\nStopping ...")
	return nil
}
