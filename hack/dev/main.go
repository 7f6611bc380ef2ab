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
	dir := filepath.Join(testenv.RepoRoot(), "bin", "dev")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// The API server's AuthorizationConfiguration (webhook before RBAC) and
	// the webhook's certificate are written to bin/dev for people to read.
	env, err := testenv.Start(testenv.Options{SCIMAddr: addr, ConfigDir: dir})
	if err != nil {
		return err
	}
	defer env.Stop()

	ctx := context.Background()
	base, tok, err := env.Directory(ctx, "default", "scim-default", identityv1alpha1.KubernetesIdentity{
		UsernamePrefix: testenv.UsernamePrefix, GroupPrefix: testenv.UsernamePrefix,
	})
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
  export $(cat bin/dev/env)
  curl -s -H "Authorization: Bearer $SCIM_TOKEN" -H 'Content-Type: application/scim+json' \
       -d '{"userName":"ann@example.com","name":{"givenName":"Ann"}}' $SCIM_URL/Users
  KUBECONFIG=%[4]s kubectl get scimusers -n scim-default

Watch revocation (the API server asks the operator's authorization webhook first;
its configuration is %[5]s):
  kubectl create clusterrolebinding ann-admin --clusterrole=cluster-admin --user=oidc:ann@example.com
  kubectl auth can-i list pods --as oidc:ann@example.com          # yes
  ID=$(curl -s -H "Authorization: Bearer $SCIM_TOKEN" "$SCIM_URL/Users?filter=userName%%20eq%%20%%22ann@example.com%%22" | jq -r '.Resources[0].id')
  curl -s -X PATCH -H "Authorization: Bearer $SCIM_TOKEN" -H 'Content-Type: application/scim+json' \
       -d '{"Operations":[{"op":"replace","value":{"active":false}}]}' $SCIM_URL/Users/$ID >/dev/null
  kubectl auth can-i list pods --as oidc:ann@example.com          # Forbidden: the user is deactivated ...
  kubectl get scimusers -n scim-default                           # STATUS Revoked

Press Ctrl-C to stop.
`, base, tok, kcPath, kcPath, filepath.Join(dir, "authorization-config.yaml"))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Fprintln(os.Stderr, "\nStopping ...")
	return nil
}
