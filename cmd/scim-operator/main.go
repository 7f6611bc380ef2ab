// Command scim-operator runs the operator: the SCIM 2.0 endpoint identity
// providers provision into, and the controllers that turn ScimUsers and
// ScimGroups into cluster access. Its `token` subcommands manage the bearer
// tokens of a directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/operator"
	"github.com/scim-operator/scim-operator/internal/token"
	"github.com/scim-operator/scim-operator/scimserver"
)

const usage = `scim-operator: a SCIM 2.0 endpoint that turns identity-provider users and
groups into Kubernetes custom resources and cluster access.

Usage:
  scim-operator [flags]                         run the operator (see flags below)
  scim-operator token create -directory NAME -name TOKEN [-expires 2160h]
                                                create a bearer token; printed once
  scim-operator token list -directory NAME      list a directory's tokens (no secrets)
  scim-operator token revoke -directory NAME -name TOKEN
                                                delete a token; it stops working at once

The token commands use the current kubeconfig (or -kubeconfig).

Flags of the operator:
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "token" {
		if err := tokenCommand(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run() error {
	var opts operator.Options
	fs := flag.CommandLine
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	fs.StringVar(&opts.SCIM.Addr, "scim-bind-address", ":8443", "Address the SCIM endpoint listens on.")
	fs.StringVar(&opts.SCIM.CertFile, "tls-cert-file", "", "TLS certificate for the SCIM endpoint (reloaded on change). Without it the endpoint speaks plain HTTP: only for local development.")
	fs.StringVar(&opts.SCIM.KeyFile, "tls-key-file", "", "TLS private key matching -tls-cert-file.")
	fs.StringVar(&opts.SCIM.ExternalURL, "external-url", "", "scheme://host[:port] under which identity providers reach the endpoint; used in meta.location. Default: each request's Host.")
	fs.Int64Var(&opts.SCIM.MaxBodyBytes, "max-body-bytes", 1<<20, "Largest accepted request body; larger ones get 413.")
	fs.Float64Var(&opts.SCIM.RatePerToken, "rate-limit", 50, "Sustained SCIM requests per second allowed per token; beyond, 429 with Retry-After. 0 disables the limit.")
	fs.IntVar(&opts.SCIM.RateBurst, "rate-burst", 200, "Requests a token may send in a burst above -rate-limit.")
	fs.IntVar(&opts.SCIM.MaxConcurrent, "max-concurrent-requests", 256, "SCIM requests served at once; beyond, 503 with Retry-After. 0 means unbounded.")
	fs.Float64Var(&opts.SCIM.EventRate, "scim-event-rate", scimserver.DefaultEventRate, "Created and Updated Events of SCIM writes per directory and second (Deactivated and Deleted Events are never limited); beyond, they are skipped and counted in scim_operator_scim_events_skipped_total, so a bulk import does not double the API server's writes. 0 disables the limit.")
	fs.IntVar(&opts.SCIM.EventBurst, "scim-event-burst", scimserver.DefaultEventBurst, "Created and Updated Events a directory may emit in a burst above -scim-event-rate.")
	fs.DurationVar(&opts.SCIM.ShutdownDelay, "shutdown-delay", 2*time.Second, "After SIGTERM, keep serving new SCIM requests this long (readiness failing, so Kubernetes stops routing here) before draining in-flight ones and exiting.")
	insecureHTTP := fs.Bool("scim-insecure-http", false, "Serve SCIM over plain HTTP when no certificate is given. Only for local development: bearer tokens would cross the network in the clear.")
	fs.StringVar(&opts.Authorization.Addr, "authz-bind-address", ":9443", "Address of the authorization webhook the kube-apiserver asks (SubjectAccessReview API, path /authorize); 0 disables it.")
	fs.StringVar(&opts.Authorization.CertFile, "authz-tls-cert-file", "", "TLS certificate of the authorization webhook (reloaded on change). Required unless the webhook is disabled.")
	fs.StringVar(&opts.Authorization.KeyFile, "authz-tls-key-file", "", "TLS private key matching -authz-tls-cert-file.")
	fs.IntVar(&opts.Webhook.Port, "webhook-port", 0, "Port of the admission webhook that refuses Scim*Bindings their creator may not bind; 0 disables it. Serves tls.crt/tls.key from -webhook-cert-dir.")
	fs.StringVar(&opts.Webhook.CertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "Directory with the admission webhook's tls.crt and tls.key.")
	fs.StringVar(&opts.MetricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	fs.StringVar(&opts.ProbeAddr, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz; 0 disables them.")
	fs.BoolVar(&opts.LeaderElection, "leader-elect", false, "Elect a leader among replicas: it runs the controllers and makes every SCIM write; the other replicas serve SCIM reads and pass writes on to it. Required with more than one replica.")
	fs.StringVar(&opts.AdvertiseURL, "scim-advertise-url", "", "scheme://host:port under which other replicas reach this replica's SCIM endpoint (with -leader-elect). Default: the host of -scim-bind-address, else $POD_IP, with its port.")
	fs.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election Lease (default: the pod's namespace).")
	fs.DurationVar(&opts.LeaseDuration, "leader-election-lease-duration", 15*time.Second, "How long other replicas wait before taking over the controllers from a leader that stopped renewing its Lease.")
	fs.DurationVar(&opts.RenewDeadline, "leader-election-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew its Lease before it gives up and exits; an API server outage longer than this restarts the pod.")
	fs.DurationVar(&opts.RetryPeriod, "leader-election-retry-period", 2*time.Second, "How often replicas try to acquire or renew the Lease.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	flag.Parse()
	if (opts.SCIM.CertFile == "") != (opts.SCIM.KeyFile == "") {
		return fmt.Errorf("-tls-cert-file and -tls-key-file go together")
	}
	if opts.LeaderElection && !(opts.RetryPeriod > 0 && opts.RetryPeriod < opts.RenewDeadline && opts.RenewDeadline < opts.LeaseDuration) {
		return fmt.Errorf("leader election needs 0 < -leader-election-retry-period < -leader-election-renew-deadline < -leader-election-lease-duration")
	}
	if opts.SCIM.CertFile == "" && !*insecureHTTP {
		return fmt.Errorf("the SCIM endpoint needs -tls-cert-file and -tls-key-file; for local development only, -scim-insecure-http serves plain HTTP")
	}
	if opts.Authorization.Addr != "0" && (opts.Authorization.CertFile == "" || opts.Authorization.KeyFile == "") {
		return fmt.Errorf("the authorization webhook needs -authz-tls-cert-file and -authz-tls-key-file (the kube-apiserver only calls it over HTTPS); disable it with -authz-bind-address=0")
	}
	if opts.LeaderElection && opts.AdvertiseURL == "" {
		u, err := advertiseURL(opts.SCIM.Addr, os.Getenv("POD_IP"), opts.SCIM.CertFile != "")
		if err != nil {
			return err
		}
		opts.AdvertiseURL = u
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	setMemoryLimit(os.Getenv("MEMORY_LIMIT"))
	op, err := operator.New(ctrl.GetConfigOrDie(), opts)
	if err != nil {
		return err
	}
	return op.Start(ctrl.SetupSignalHandler())
}

func tokenCommand(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("token needs a subcommand: create, list or revoke")
	}
	fs := flag.NewFlagSet("token "+args[0], flag.ExitOnError)
	directory := fs.String("directory", "default", "ScimDirectory the token is for.")
	name := fs.String("name", "", "Name of the token, e.g. the identity provider: okta, entra.")
	expires := fs.Duration("expires", 0, "With create: how long the token works, e.g. 2160h (90 days); 0 means it does not expire. A Warning Event and the directory's TokensExpiring condition announce the end a week before.")
	kubeconfig := fs.String("kubeconfig", "", "Kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).")
	_ = fs.Parse(args[1:])
	if *kubeconfig != "" {
		_ = os.Setenv("KUBECONFIG", *kubeconfig)
	}
	c, err := client.New(ctrl.GetConfigOrDie(), client.Options{Scheme: operator.Scheme})
	if err != nil {
		return err
	}
	ctx := context.Background()
	var dir identityv1alpha1.ScimDirectory
	if err := c.Get(ctx, types.NamespacedName{Name: *directory}, &dir); err != nil {
		return fmt.Errorf("directory %q: %w", *directory, err)
	}
	switch args[0] {
	case "create":
		if *name == "" {
			return fmt.Errorf("-name is required")
		}
		tok, _, err := token.Create(ctx, c, &dir, *name, *expires)
		if err != nil {
			return err
		}
		fmt.Println(tok)
		return nil
	case "list":
		var list corev1.SecretList
		if err := c.List(ctx, &list, client.InNamespace(dir.Spec.Namespace), client.MatchingLabels{
			identityv1alpha1.TokenLabel: "true", identityv1alpha1.DirectoryLabel: dir.Name,
		}); err != nil {
			return err
		}
		sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tCREATED\tEXPIRES\tLAST USED\tSECRET")
		for _, s := range list.Items {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s/%s\n", s.Labels[identityv1alpha1.TokenNameLabel],
				s.CreationTimestamp.UTC().Format(time.RFC3339), orNever(s.Annotations[token.ExpiresAnnotation]),
				orNever(s.Annotations[token.LastUsedAnnotation]), s.Namespace, s.Name)
		}
		return w.Flush()
	case "revoke":
		if *name == "" {
			return fmt.Errorf("-name is required")
		}
		sec := &corev1.Secret{}
		sec.Namespace, sec.Name = dir.Spec.Namespace, token.SecretName(dir.Name, *name)
		return c.Delete(ctx, sec)
	}
	return fmt.Errorf("unknown token subcommand %q", args[0])
}

func orNever(s string) string {
	if s == "" {
		return "never"
	}
	return s
}

// advertiseURL derives this replica's SCIM URL for its peers from the bind
// address: its host when it names one, else the pod IP.
func advertiseURL(bind, podIP string, tls bool) (string, error) {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return "", fmt.Errorf("-scim-bind-address %q: %w", bind, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = podIP
	}
	if host == "" {
		return "", fmt.Errorf("with -leader-elect, replicas pass SCIM writes on to the leader and need its address: set POD_IP (the chart does) or -scim-advertise-url")
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// setMemoryLimit lets the garbage collector work harder as the process nears
// its container's memory limit (MEMORY_LIMIT, bytes; the chart passes
// limits.memory), instead of letting the heap grow to twice its live size
// and the container be killed: 90% of the limit, unless GOMEMLIMIT is set.
func setMemoryLimit(limit string) {
	if os.Getenv("GOMEMLIMIT") != "" || limit == "" {
		return
	}
	if n, err := strconv.ParseInt(limit, 10, 64); err == nil && n > 0 {
		debug.SetMemoryLimit(n / 10 * 9)
	}
}
