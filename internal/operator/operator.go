// Package operator wires the manager: scheme, cache, field indexes,
// controllers and the SCIM server. The binary, `make dev` and the integration
// tests all build the operator through New, so they run the same thing.
package operator

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers"
	"github.com/scim-operator/scim-operator/internal/authz"
	"github.com/scim-operator/scim-operator/internal/httpserver"
	"github.com/scim-operator/scim-operator/internal/index"
	"github.com/scim-operator/scim-operator/internal/leader"
	"github.com/scim-operator/scim-operator/internal/membership"
	"github.com/scim-operator/scim-operator/internal/token"
	scimwebhook "github.com/scim-operator/scim-operator/internal/webhook"
	"github.com/scim-operator/scim-operator/scimserver"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// Scheme holds every kind the operator reads or writes.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(identityv1alpha1.AddToScheme(Scheme))
}

// Options configure the operator.
type Options struct {
	SCIM scimserver.Options
	// MetricsAddr serves Prometheus metrics; "0" disables it.
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz; "0" disables it.
	ProbeAddr string
	// LeaderElection makes controllers run on one replica at a time, and
	// SCIM writes happen on that replica too: the others serve reads and pass
	// writes on to it, at AdvertiseURL, published in the Lease. Without
	// leader election, run a single replica.
	LeaderElection          bool
	LeaderElectionNamespace string
	// AdvertiseURL is where other replicas reach this one's SCIM endpoint
	// (scheme://host:port); required with LeaderElection.
	AdvertiseURL string
	// LeaseDuration, RenewDeadline and RetryPeriod time the leader election
	// (controller-runtime's defaults when zero). The leader exits when it
	// cannot renew its Lease for RenewDeadline, e.g. during an API server
	// outage longer than that; a longer deadline rides out longer outages at
	// the price of a slower failover when the leader dies.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Authorization serves the authorization webhook (SubjectAccessReviews
	// from the kube-apiserver); disabled when neither Addr nor Listener is set
	// or Addr is "0".
	Authorization httpserver.Config
	// Restartable lets one process build the operator more than once (tests
	// that stop and start it); controller names are otherwise unique per process.
	Restartable bool
	// ShardGrace is how long member shards that no group lists are kept
	// before they are deleted (membership.DefaultGrace if zero).
	ShardGrace time.Duration
	// Webhook serves the admission webhooks (HTTPS, certificates from
	// Webhook.CertDir); Port 0 disables them.
	Webhook webhook.Options
}

// Operator is a manager with its SCIM server.
type Operator struct {
	manager.Manager
	SCIM *scimserver.Server
}

// scimQuiet is how long after the last SCIM write the identity provider
// counts as done for now: routine user status writes, held back while it
// writes, go out then.
const scimQuiet = time.Second

// New builds the operator; Start runs it.
func New(cfg *rest.Config, opts Options) (*Operator, error) {
	// Only Secrets labelled as token hashes are cached: the operator has no
	// business holding every Secret of the cluster in memory.
	tokenSecrets := labels.SelectorFromSet(labels.Set{identityv1alpha1.TokenLabel: "true"})
	// Likewise only the RBAC bindings the operator manages.
	managed, err := labels.NewRequirement(identityv1alpha1.BindingLabel, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	managedBindings := labels.NewSelector().Add(*managed)
	var (
		lock     resourcelock.Interface
		identity string
		leaseKey types.NamespacedName
	)
	if opts.LeaderElection {
		if opts.AdvertiseURL == "" {
			return nil, fmt.Errorf("with leader election, replicas pass SCIM writes on to the leader: its SCIM URL is needed (-scim-advertise-url, or POD_IP in the environment)")
		}
		if _, err := leader.URLOf(opts.AdvertiseURL + "_x"); err != nil {
			return nil, fmt.Errorf("-scim-advertise-url %q: want scheme://host:port", opts.AdvertiseURL)
		}
		ns, err := leader.Namespace(opts.LeaderElectionNamespace)
		if err != nil {
			return nil, err
		}
		identity = leader.Identity(opts.AdvertiseURL)
		leaseKey = types.NamespacedName{Namespace: ns, Name: leader.LeaseName}
		if lock, err = leader.NewLock(cfg, ns, identity); err != nil {
			return nil, fmt.Errorf("leader election: %w", err)
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                              Scheme,
		Metrics:                             metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:              opts.ProbeAddr,
		LeaderElection:                      opts.LeaderElection,
		LeaderElectionResourceLockInterface: lock,
		// The SCIM server drains its requests before the Lease is released,
		// so the next leader starts after the last write of this one.
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 durationOrNil(opts.LeaseDuration),
		RenewDeadline:                 durationOrNil(opts.RenewDeadline),
		RetryPeriod:                   durationOrNil(opts.RetryPeriod),
		Cache: cache.Options{
			// managedFields and last-applied annotations are never read and
			// cost memory and copy time on every cached object (every kind:
			// ByObject entries inherit the default transform).
			DefaultTransform: cacheTransform(),
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Secret{}:             {Label: tokenSecrets},
				&rbacv1.RoleBinding{}:        {Label: managedBindings},
				&rbacv1.ClusterRoleBinding{}: {Label: managedBindings},
			}},
		WebhookServer: webhook.NewServer(opts.Webhook),
		Controller:    config.Controller{SkipNameValidation: &opts.Restartable},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := index.Setup(context.Background(), mgr.GetCache()); err != nil {
		return nil, fmt.Errorf("registering indexes: %w", err)
	}
	// The reverse membership index and the store's list order follow the
	// cache through event handlers; readers wait until those have been
	// given every object the cache started with.
	members := membership.NewIndex()
	var handlers []toolscache.ResourceEventHandlerRegistration
	addHandler := func(obj client.Object, h toolscache.ResourceEventHandler) error {
		inf, err := mgr.GetCache().GetInformer(context.Background(), obj)
		if err != nil {
			return err
		}
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			return err
		}
		handlers = append(handlers, reg)
		return nil
	}
	if err := addHandler(&identityv1alpha1.ScimGroup{}, members.GroupHandler()); err != nil {
		return nil, err
	}
	if err := addHandler(&identityv1alpha1.ScimGroupMembers{}, members.ShardHandler()); err != nil {
		return nil, err
	}
	if err := (&controllers.DirectoryReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("scim-operator")}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	// The store is made below; the user controller asks it, once running,
	// whether an identity provider is writing.
	var st *store.Store
	scimBusy := func() bool { return st != nil && time.Since(st.LastWrite()) < scimQuiet }
	if err := (&controllers.UserReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("scim-operator"),
		Apps: &controllers.AccountSuspender{Client: mgr.GetClient()}, Busy: scimBusy}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&controllers.GroupReconciler{Client: mgr.GetClient(), Members: members, APIReader: mgr.GetAPIReader(), ShardGrace: opts.ShardGrace}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&controllers.AppReconciler{Client: mgr.GetClient(), Members: members, Recorder: mgr.GetEventRecorder("scim-operator")}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&controllers.AppAccountReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("scim-operator")}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	for _, cluster := range []bool{false, true} {
		if err := (&controllers.BindingReconciler{Client: mgr.GetClient(), Members: members, Recorder: mgr.GetEventRecorder("scim-operator"), Cluster: cluster}).SetupWithManager(mgr); err != nil {
			return nil, err
		}
	}
	if opts.Webhook.Port != 0 {
		mgr.GetWebhookServer().Register(scimwebhook.BindingPath, &webhook.Admission{
			Handler: &scimwebhook.BindingValidator{Client: mgr.GetClient(), Decoder: admission.NewDecoder(Scheme)},
		})
	}
	st = &store.Store{Client: mgr.GetClient(), Members: members, APIReader: mgr.GetAPIReader(), SyncTimeout: 5 * time.Second, ShardGrace: opts.ShardGrace,
		Recorder: mgr.GetEventRecorder("scim-operator"), EventRate: opts.SCIM.EventRate, EventBurst: opts.SCIM.EventBurst}
	for _, k := range []*store.Kind{store.Users, store.Groups} {
		if err := addHandler(k.NewObject(), st.OrderHandler(k)); err != nil {
			return nil, err
		}
	}
	st.EnableOrder()
	srv := scimserver.NewServer(opts.SCIM, st, &token.Authenticator{Reader: mgr.GetClient()}, mgr.GetClient(), ctrl.Log.WithName("scim"))
	if opts.LeaderElection {
		loc := &leader.Locator{Reader: mgr.GetAPIReader(), Lease: leaseKey, Self: identity, Settle: time.Second, Hold: 3 * time.Second}
		if err := mgr.Add(loc); err != nil {
			return nil, err
		}
		srv.Writers = loc
	}
	if err := mgr.Add(afterHandlers{srv, handlers}); err != nil {
		return nil, err
	}
	if a := opts.Authorization; a.Listener != nil || (a.Addr != "" && a.Addr != "0") {
		az := authz.NewServer(a, &authz.Authorizer{Reader: mgr.GetClient(), Members: members}, ctrl.Log.WithName("authz"))
		if err := mgr.Add(afterHandlers{az, handlers}); err != nil {
			return nil, err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	// Ready once the cache has synced (before that, reads would miss
	// objects) and the SCIM endpoint listens.
	if err := mgr.AddReadyzCheck("cache", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return fmt.Errorf("cache not synced")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("scim", srv.Ready); err != nil {
		return nil, err
	}
	return &Operator{Manager: mgr, SCIM: srv}, nil
}

// afterHandlers starts a server that reads through informer event handlers
// (the membership index, the list order) once each handler has been given
// the objects the cache started with. The manager starts servers after the
// caches have synced, but handlers catch up on their own goroutines.
type afterHandlers struct {
	manager.Runnable
	handlers []toolscache.ResourceEventHandlerRegistration
}

// NeedLeaderElection is false: every replica serves.
func (a afterHandlers) NeedLeaderElection() bool { return false }

func (a afterHandlers) Start(ctx context.Context) error {
	for _, h := range a.handlers {
		for !h.HasSynced() {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return a.Runnable.Start(ctx)
}

// durationOrNil leaves a zero duration to controller-runtime's default.
func durationOrNil(d time.Duration) *time.Duration {
	if d == 0 {
		return nil
	}
	return &d
}
