// Command bench measures scim-operator against the raw kube-apiserver, side by
// side, on one local control plane (envtest: a real kube-apiserver and etcd)
// with the whole operator running in this process:
//
//	(a) ScimUser creates per second straight through the controller-runtime
//	    client, with -workers concurrent workers;
//	(b) SCIM POST /Users per second with the same number of workers; target
//	    b/a ≥ 0.8;
//	(c) latency of GET /Users?filter=userName eq "<existing user>" at
//	    -users-small and -users-large users in a directory; targets: p99 at the
//	    large size ≤ 1.5× p99 at the small size, and p99 < 5 ms. A GET of one
//	    ScimUser by name straight from the API server is the raw figure;
//	(d) time to cut access after a group removal: in a directory of
//	    -revoke-users users and -revoke-groups groups, a ScimRoleBinding grants
//	    a ClusterRole (list pods) to a group of -revoke-members members; a SCIM
//	    PATCH removes one member, and SubjectAccessReviews for that user are
//	    polled until refused (the binding controller path: the user stays
//	    active, so the RoleBinding must drop them). -revoke-runs runs; target
//	    p99 < 1 s. Raw figure: a direct edit of a plain RoleBinding (the API
//	    server's own RBAC propagation);
//	(e) time to revoke on deactivation: a SCIM PATCH (Okta's pathless
//	    replace of active) deactivates a member; measured until the first
//	    refused SubjectAccessReview (the webhook path; target p99 < 1 s) and
//	    until status.sessionsRevokedAt is set, beside the operator's own
//	    scim_operator_time_to_revoke_seconds histogram;
//	(f) authorization webhook decisions: -authz-requests SubjectAccessReviews
//	    of mixed kinds POSTed sequentially to the webhook; round trip and the
//	    server-side histogram scim_operator_authorization_decision_duration_seconds
//	    (target: decision p99 < 1 ms, server-side). Raw figure: a
//	    SubjectAccessReview round trip to the kube-apiserver for a user the
//	    webhook never sees;
//	(g) initial sync at scale (see sync.go): -sync-users users and
//	    -sync-groups groups of skewed sizes pushed with Entra's and Okta's
//	    request mix by -workers clients, next to the time raw creates of the
//	    same objects take (target ratio ≤ 1.3); then the time until bindings
//	    and app accounts have converged (≤ 30 s), the process's memory
//	    (≤ 1 GiB), eq filters (p99 < 5 ms) and list pages (p99 < 20 ms) at
//	    that size, and deactivation of a user in 50 groups (p99 < 1 s).
//
// Speed is measured, not asserted: the command prints a table with pass/fail
// against the targets and exits 0 whatever the numbers are; it fails only when
// the benchmark itself cannot run. Progress goes to stderr, the results to
// stdout.
//
// Usage:
//
//	KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go run ./hack/bench [-quick] [flags]
//
// -scenarios picks scenarios (default abcdefg); -skip-large leaves out the
// -users-large fill of (c), by far the slowest part of a full run.
//
// The n creates of (a) and (b) run in -rounds alternating rounds (a, b, a, b),
// so that drift on a shared machine hits both alike; every round ends when the
// operator's cache holds every user and the controllers' queues are empty. The
// directories of (c) are filled with raw creates (-fill-workers) and measured
// once the cache holds them and the controllers are idle. The runs of (d)
// and (e) are sequential; after each timed cut the member is restored (not
// timed) and the next run waits until they have access again and the
// controllers are idle.
//
// A second table breaks every phase down into CPU use of this process
// (operator + bench client), kube-apiserver and etcd (read from /proc on
// Linux), the API server requests the operator made per created user and the
// reconciles it ran. To see where a SCIM create spends its time:
//
//	-wallprofile              samples the goroutines serving SCIM requests
//	                          during (b) and the groups of (g) and prints
//	                          where they are, waiting included (a CPU
//	                          profile cannot see waiting);
//	-cpuprofile f -profile p  writes a pprof CPU profile of this process
//	                          during phase p: scim-create or raw-create (first
//	                          round), fill or filter (large directory),
//	                          group-cut (d), deactivate (e), authz (f), or all.
//	-heapprofile f            writes a pprof heap profile when (g) measures
//	                          memory: what the cache and indexes hold at that
//	                          size (go tool pprof -sample_index=inuse_space).
//	-apiprofile f             writes a pprof CPU profile of the kube-apiserver
//	                          for the first -apiprofile-seconds of the groups
//	                          of (g), which is where the sync waits on it
//	                          (go tool pprof f; symbols come with it).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/discovery"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/testenv"
	"github.com/scim-operator/scim-operator/scimserver"
)

// Targets.
const (
	targetCreateRatio = 0.8
	targetP99Growth   = 1.5
	targetP99         = 5 * time.Millisecond
)

// Phases -profile accepts.
const (
	phaseRawCreate  = "raw-create"
	phaseSCIMCreate = "scim-create"
	phaseFill       = "fill"
	phaseFilter     = "filter"
	phaseGroupCut   = "group-cut"
	phaseDeactivate = "deactivate"
	phaseAuthz      = "authz"
	phaseSync       = "sync"
	phaseSyncReads  = "sync-reads"
	phaseSyncDeact  = "sync-deactivate"
	phaseAll        = "all"
)

type options struct {
	n, workers, rounds       int
	usersSmall, usersLarge   int
	queries, warmupQueries   int
	fillWorkers, warmupCount int
	quick, verbose, wall     bool
	settleTimeout            time.Duration
	cpuprofile, profile      string
	heapprofile              string
	apiprofile               string
	apiprofileSeconds        int
	// (d)–(f)
	revokeUsers, revokeGroups, revokeMembers int
	revokeRuns                               int
	authzRequests, authzWarmup               int
	skipLarge                                bool
	scenarios                                string
	// (g)
	syncUsers, syncGroups, syncMaxGroup, syncBatch int
	syncOktaEvery, syncQueries                     int
	syncRevokeUsers, syncRevokeRuns                int
	memoryLimitMiB                                 int64
}

// runs reports whether scenario s ("a"…"f") was asked for.
func (o options) runs(s string) bool { return strings.Contains(o.scenarios, s) }

func parseFlags() options {
	var o options
	flag.IntVar(&o.n, "n", 2000, "users created in each create scenario (a) and (b)")
	flag.IntVar(&o.workers, "workers", 16, "concurrent workers of the create scenarios")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds the n creates of (a) and (b) are split into, run alternately")
	flag.IntVar(&o.usersSmall, "users-small", 1000, "directory size of the small filter measurement")
	flag.IntVar(&o.usersLarge, "users-large", 100000, "directory size of the large filter measurement")
	flag.IntVar(&o.queries, "queries", 2000, "sequential filter queries (and raw GETs) per directory size")
	flag.IntVar(&o.warmupQueries, "warmup-queries", 200, "unmeasured queries before each latency measurement")
	flag.IntVar(&o.warmupCount, "warmup", 100, "unmeasured creates before each create scenario")
	flag.IntVar(&o.fillWorkers, "fill-workers", 64, "concurrent raw creates when filling a directory for (c)")
	flag.BoolVar(&o.quick, "quick", false, "smoke run of every scenario with small sizes (n=200, users-large=5000, sync-users=3000, …) unless set explicitly")
	flag.BoolVar(&o.verbose, "v", false, "show the operator's info logs")
	flag.DurationVar(&o.settleTimeout, "settle-timeout", 20*time.Minute, "longest wait for the controllers to drain their queues between phases")
	flag.BoolVar(&o.wall, "wallprofile", false, "sample the SCIM request goroutines every 10 ms during (b) and the groups of (g), and print where the requests spend their wall-clock time (perturbs the figures a little)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a pprof CPU profile of this process (operator + bench client) during the -profile phase to this file")
	flag.StringVar(&o.heapprofile, "heapprofile", "", "write a pprof heap profile of this process (operator + bench client) to this file when (g) measures memory")
	flag.StringVar(&o.apiprofile, "apiprofile", "", "write a pprof CPU profile of the kube-apiserver during the groups of (g) to this file")
	flag.IntVar(&o.apiprofileSeconds, "apiprofile-seconds", 30, "length of the -apiprofile profile")
	flag.StringVar(&o.profile, "profile", phaseSCIMCreate, "phase -cpuprofile covers: raw-create or scim-create (first round), fill or filter (large directory), group-cut (d), deactivate (e), authz (f), sync, sync-reads or sync-deactivate (g), or all")
	flag.IntVar(&o.revokeUsers, "revoke-users", 10000, "directory size of (d), (e) and (f)")
	flag.IntVar(&o.revokeGroups, "revoke-groups", 50, "groups in the directory of (d)–(f); the first one is bound")
	flag.IntVar(&o.revokeMembers, "revoke-members", 50, "members of each group of (d)–(f)")
	flag.IntVar(&o.revokeRuns, "revoke-runs", 200, "timed removals of (d) and deactivations of (e)")
	flag.IntVar(&o.authzRequests, "authz-requests", 5000, "sequential SubjectAccessReviews measured in (f), each way")
	flag.IntVar(&o.authzWarmup, "authz-warmup", 500, "unmeasured SubjectAccessReviews before each measurement of (f)")
	flag.BoolVar(&o.skipLarge, "skip-large", false, "skip the -users-large fill of (c) and the reads on it")
	flag.StringVar(&o.scenarios, "scenarios", "abcdefg", "scenarios to run, any of a b c d e f g ((a) and (b) run together; (g) runs first)")
	flag.IntVar(&o.syncUsers, "sync-users", 100000, "users pushed over SCIM in the initial sync (g)")
	flag.IntVar(&o.syncGroups, "sync-groups", 5000, "groups pushed in the initial sync (g)")
	flag.IntVar(&o.syncMaxGroup, "sync-max-group", 100000, fmt.Sprintf("members of the largest groups of (g), capped at -sync-users and at %d (one ScimGroup's limit until groups are sharded)", largestGroupCap))
	flag.IntVar(&o.syncBatch, "sync-batch", 100, "members per PATCH when (g) fills groups")
	flag.IntVar(&o.syncOktaEvery, "sync-okta-every", 3, "every n-th user and group of (g) is pushed the Okta way, the rest Entra's")
	flag.IntVar(&o.syncQueries, "sync-queries", 1000, "sequential reads of each kind measured in (g)")
	flag.IntVar(&o.syncRevokeUsers, "sync-revoke-users", 20, "users of (g) put in 50 groups each and deactivated in turn")
	flag.IntVar(&o.syncRevokeRuns, "sync-revoke-runs", 100, "timed deactivations in (g)")
	flag.Int64Var(&o.memoryLimitMiB, "memory-limit", 0, "Go memory limit of this process in MiB, as the binary sets from the container limit (the chart's 1 GiB limit gives 921); 0 leaves the Go default. Not GOMEMLIMIT: the kube-apiserver and etcd the bench starts would inherit it")
	flag.Parse()
	if o.quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for _, d := range []struct {
			flag string
			v    *int
			to   int
		}{
			{"n", &o.n, 200}, {"users-large", &o.usersLarge, 5000}, {"warmup", &o.warmupCount, 20},
			{"revoke-users", &o.revokeUsers, 2000}, {"revoke-runs", &o.revokeRuns, 30},
			{"authz-requests", &o.authzRequests, 1000}, {"authz-warmup", &o.authzWarmup, 100},
			{"sync-users", &o.syncUsers, 3000}, {"sync-groups", &o.syncGroups, 150},
			{"sync-queries", &o.syncQueries, 200}, {"sync-revoke-runs", &o.syncRevokeRuns, 20},
		} {
			if !set[d.flag] {
				*d.v = d.to
			}
		}
	}
	if strings.Trim(o.scenarios, "abcdefg") != "" || o.scenarios == "" {
		fmt.Fprintf(os.Stderr, "bench: -scenarios %q: want letters of abcdefg\n", o.scenarios)
		os.Exit(2)
	}
	switch o.profile {
	case phaseRawCreate, phaseSCIMCreate, phaseFill, phaseFilter, phaseGroupCut, phaseDeactivate, phaseAuthz, phaseSync, phaseSyncReads, phaseSyncDeact, phaseAll:
	default:
		fmt.Fprintf(os.Stderr, "bench: -profile %q: want raw-create, scim-create, fill, filter, group-cut, deactivate, authz, sync, sync-reads, sync-deactivate or all\n", o.profile)
		os.Exit(2)
	}
	if o.n < 1 || o.workers < 1 || o.rounds < 1 || o.rounds > o.n || o.usersSmall < 1 || o.usersLarge < 1 || o.queries < 1 || o.fillWorkers < 1 || o.warmupCount < 0 || o.warmupQueries < 0 ||
		o.revokeGroups < 1 || o.revokeMembers < 1 || o.revokeUsers < o.revokeMembers || o.revokeRuns < 1 || o.authzRequests < 1 || o.authzWarmup < 0 ||
		o.syncUsers < 1 || o.syncGroups < 1 || o.syncMaxGroup < 1 || o.syncBatch < 1 || o.syncOktaEvery < 1 || o.syncQueries < 1 || o.syncRevokeUsers < 0 || o.syncRevokeRuns < 0 {
		fmt.Fprintln(os.Stderr, "bench: sizes and worker counts must be positive")
		os.Exit(2)
	}
	return o
}

func main() {
	o := parseFlags()
	level := zapcore.ErrorLevel
	if o.verbose {
		level = zapcore.InfoLevel
	}
	// Errors still show, without stack traces, except write conflicts of
	// reconcilers (they retry; the phase table counts reconcile errors).
	zl := zap.New(zap.WriteTo(os.Stderr), zap.Level(level), zap.StacktraceLevel(zapcore.PanicLevel))
	logger := logr.New(quietSink{zl.GetSink()})
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// quietSink drops error logs of optimistic-concurrency conflicts.
type quietSink struct{ logr.LogSink }

func (s quietSink) Error(err error, msg string, kv ...any) {
	if apierrors.IsConflict(err) {
		return
	}
	s.LogSink.Error(err, msg, kv...)
}
func (s quietSink) WithValues(kv ...any) logr.LogSink { return quietSink{s.LogSink.WithValues(kv...)} }
func (s quietSink) WithName(name string) logr.LogSink { return quietSink{s.LogSink.WithName(name)} }

// progress writes a progress line to stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

type bench struct {
	o    options
	env  *testenv.Env
	http *http.Client
	cpu  *cpuMeter
	prof *os.File
	rnd  *rand.Rand
}

// scimDir is a directory the bench talks SCIM to.
type scimDir struct {
	name, namespace, base, token string
}

// user is one user the bench created: its SCIM id (object name) and userName.
type user struct{ id, userName string }

func run(ctx context.Context, o options) error {
	if o.memoryLimitMiB > 0 {
		debug.SetMemoryLimit(o.memoryLimitMiB << 20)
	}
	began := time.Now()
	progress("starting the local control plane and the operator")
	// The binary's Event limits, so the sync costs what it costs in a cluster.
	env, err := testenv.Start(testenv.Options{EventRate: scimserver.DefaultEventRate, EventBurst: scimserver.DefaultEventBurst})
	if err != nil {
		return err
	}
	defer func() {
		progress("stopping the control plane")
		env.Stop()
	}()
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * max(o.workers, o.fillWorkers),
		MaxIdleConnsPerHost: 2 * max(o.workers, o.fillWorkers),
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	b := &bench{
		o:    o,
		env:  env,
		http: &http.Client{Transport: tr, Timeout: 60 * time.Second},
		cpu:  newCPUMeter(),
		rnd:  rand.New(rand.NewPCG(1, 2)),
	}
	if o.cpuprofile != "" {
		if b.prof, err = os.Create(o.cpuprofile); err != nil {
			return err
		}
		defer b.prof.Close()
		if o.profile == phaseAll {
			if err := pprof.StartCPUProfile(b.prof); err != nil {
				return err
			}
			defer func() {
				pprof.StopCPUProfile()
				progress("CPU profile written to %s", o.cpuprofile)
			}()
		}
	}
	serverVersion := "unknown"
	if dc, err := discovery.NewDiscoveryClientForConfig(env.Config); err == nil {
		if v, err := dc.ServerVersion(); err == nil {
			serverVersion = v.GitVersion
		}
	}
	// hack/control-plane.sh builds kube-apiserver without version stamps,
	// pinned to the Kubernetes release of k8s.io/api.
	if strings.HasPrefix(serverVersion, "v0.0.0") {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, dep := range bi.Deps {
				if dep.Path == "k8s.io/api" {
					serverVersion = "v1." + strings.TrimPrefix(dep.Version, "v0.") + " (built from source)"
				}
			}
		}
	}
	if !b.cpu.ok() {
		progress("kube-apiserver/etcd processes not found under /proc: CPU columns will be empty")
	}

	mapping := identityv1alpha1.KubernetesIdentity{UsernamePrefix: "oidc:"}
	dirs := map[string]*scimDir{}
	for _, name := range []string{"bench-raw", "bench-scim", "bench-small", "bench-large"} {
		base, tok, err := env.Directory(ctx, name, name, mapping)
		if err != nil {
			return fmt.Errorf("creating directory %s: %w", name, err)
		}
		dirs[name] = &scimDir{name: name, namespace: name, base: base, token: tok}
	}
	if _, err := b.settle(ctx, "start-up"); err != nil {
		return err
	}

	var phases []phase
	res := results{}

	// (g) first: its memory figure is taken with one directory of its size
	// in the cache, before other scenarios add theirs.
	if o.runs("g") {
		if err := b.runSync(ctx, &res, &phases); err != nil {
			return err
		}
	}

	// (a) raw creates, (b) SCIM creates. Both warm up first. The n creates
	// of each are split into -rounds rounds run alternately (a, b, a, b…),
	// so drift (a growing etcd, a noisy neighbour) hits both alike; every
	// round ends when the operator's cache holds every user and the
	// controllers are idle, so neither scenario pays for the other's
	// leftovers.
	if o.runs("a") || o.runs("b") {
		raw, scim := dirs["bench-raw"], dirs["bench-scim"]
		if o.warmupCount > 0 {
			progress("warm-up: %d raw and %d SCIM creates", o.warmupCount, o.warmupCount)
			if r := b.runWorkers(ctx, "warm-up raw", o.warmupCount, o.workers, b.rawCreateOp(raw, "warm")); r.errors > 0 {
				return fmt.Errorf("raw warm-up: %d errors, first: %v", r.errors, r.firstErr)
			}
			if r := b.runWorkers(ctx, "warm-up SCIM", o.warmupCount, o.workers, b.scimCreateOp(scim, "warm")); r.errors > 0 {
				return fmt.Errorf("SCIM warm-up: %d errors, first: %v", r.errors, r.firstErr)
			}
			for _, d := range []*scimDir{raw, scim} {
				if err := b.waitCache(ctx, d, o.warmupCount); err != nil {
					return err
				}
			}
			if _, err := b.settle(ctx, "warm-up"); err != nil {
				return err
			}
		}
		var rawPhase, scimPhase phase
		for round := range o.rounds {
			size := o.n / o.rounds
			if round == o.rounds-1 {
				size = o.n - size*(o.rounds-1)
			}
			key := func(k string) string {
				if round > 0 {
					return k + "-round-" + strconv.Itoa(round+1)
				}
				return k // only the first round is CPU-profiled
			}
			label := fmt.Sprintf("round %d/%d", round+1, o.rounds)

			progress("(a) raw ScimUser creates, %s: %d creates, %d workers", label, size, o.workers)
			m := b.startPhase(key(phaseRawCreate))
			wr := b.runWorkers(ctx, "(a) raw create, "+label, size, o.workers, b.rawCreateOp(raw, "raw"+strconv.Itoa(round)))
			b.opsDone(&m)
			res.rawCreate = res.rawCreate.add(wr)
			if err := b.waitCache(ctx, raw, o.warmupCount+res.rawCreate.ok()); err != nil {
				return err
			}
			settled, err := b.settle(ctx, "(a), "+label)
			if err != nil {
				return err
			}
			rawPhase = rawPhase.add(b.endPhase(m, "(a) raw create", wr.ok(), wr.wall, settled, map[string]float64{"POST": float64(wr.n)}, wr.ok()))

			progress("(b) SCIM POST /Users, %s: %d creates, %d workers", label, size, o.workers)
			m = b.startPhase(key(phaseSCIMCreate))
			var stopWall func() wallProfile
			if o.wall {
				stopWall = startWallProfile(10 * time.Millisecond)
			}
			wr = b.runWorkers(ctx, "(b) SCIM create, "+label, size, o.workers, b.scimCreateOp(scim, "scim"+strconv.Itoa(round)))
			b.opsDone(&m)
			if stopWall != nil {
				res.wall = res.wall.merge(stopWall())
			}
			res.scimCreate = res.scimCreate.add(wr)
			if err := b.waitCache(ctx, scim, o.warmupCount+res.scimCreate.ok()); err != nil {
				return err
			}
			if settled, err = b.settle(ctx, "(b), "+label); err != nil {
				return err
			}
			scimPhase = scimPhase.add(b.endPhase(m, "(b) SCIM create", wr.ok(), wr.wall, settled, nil, wr.ok()))
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if o.rounds > 1 {
			progress("(a) raw create: %.0f/s, (b) SCIM create: %.0f/s over %d rounds; ratio %.2f",
				res.rawCreate.rate(), res.scimCreate.rate(), o.rounds, res.scimCreate.rate()/res.rawCreate.rate())
		}
		phases = append(phases, rawPhase, scimPhase)
	}

	// (c) filter latency at two directory sizes.
	if o.runs("c") {
		if err := b.runFilter(ctx, dirs, &res, &phases); err != nil {
			return err
		}
	}

	// (d), (e), (f) share one directory with a bound group.
	if o.runs("d") || o.runs("e") || o.runs("f") {
		if err := b.runRevocation(ctx, &res, &phases); err != nil {
			return err
		}
	}

	printResults(os.Stdout, o, res, phases, serverVersion, time.Since(began))
	return nil
}

// runFilter runs (c).
func (b *bench) runFilter(ctx context.Context, dirs map[string]*scimDir, res *results, phases *[]phase) error {
	o := b.o
	small, large := dirs["bench-small"], dirs["bench-large"]
	smallUsers, ph, err := b.fill(ctx, "fill-small", "(c)", small, o.usersSmall)
	if err != nil {
		return err
	}
	*phases = append(*phases, ph)
	if res.filterSmall, res.getSmall, ph, err = b.measureReads(ctx, "filter-small", small, smallUsers); err != nil {
		return err
	}
	*phases = append(*phases, ph)
	if o.skipLarge {
		return nil
	}
	largeUsers, ph, err := b.fill(ctx, phaseFill, "(c)", large, o.usersLarge)
	if err != nil {
		return err
	}
	*phases = append(*phases, ph)
	if res.filterLarge, res.getLarge, ph, err = b.measureReads(ctx, phaseFilter, large, largeUsers); err != nil {
		return err
	}
	*phases = append(*phases, ph)
	// The small directory again, now that the cache holds the large one too:
	// separates "directory size" from "everything the cache holds".
	if res.filterSmallAfter, _, ph, err = b.measureReads(ctx, "filter-small-again", small, smallUsers); err != nil {
		return err
	}
	ph.name += " (again, after large fill)"
	*phases = append(*phases, ph)
	return nil
}

// results are the measured figures.
type results struct {
	rawCreate, scimCreate    workResult
	filterSmall, filterLarge latencies
	getSmall, getLarge       latencies
	filterSmallAfter         latencies
	wall                     wallProfile
	revoke                   revokeResults
	initial                  *syncResults // (g); nil when not run
}

// ---------------------------------------------------------------------------
// Workers and latencies

type workResult struct {
	n, errors int
	firstErr  error
	wall      time.Duration
	lat       latencies
}

func (r workResult) ok() int { return r.n - r.errors }

// add sums two runs: rates over the summed wall time, latencies pooled.
func (r workResult) add(q workResult) workResult {
	first := r.firstErr
	if first == nil {
		first = q.firstErr
	}
	return workResult{n: r.n + q.n, errors: r.errors + q.errors, firstErr: first, wall: r.wall + q.wall,
		lat: newLatencies(slices.Concat(r.lat, q.lat))}
}

// rate is successful operations per second.
func (r workResult) rate() float64 {
	if r.wall <= 0 {
		return 0
	}
	return float64(r.ok()) / r.wall.Seconds()
}

// runWorkers runs op for i in [0, n) on workers goroutines and measures each call.
func (b *bench) runWorkers(ctx context.Context, label string, n, workers int, op func(ctx context.Context, i int) error) workResult {
	var next, done, failed atomic.Int64
	var mu sync.Mutex
	var firstErr error
	lat := make([][]time.Duration, workers)
	stopProgress := b.ticker(2*time.Second, func(elapsed time.Duration) {
		d := done.Load()
		progress("%s: %d/%d (%.0f/s, %d errors)", label, d, n, float64(d)/elapsed.Seconds(), failed.Load())
	})
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			mine := make([]time.Duration, 0, n/workers+1)
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					break
				}
				t := time.Now()
				err := op(ctx, i)
				mine = append(mine, time.Since(t))
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
				done.Add(1)
			}
			lat[w] = mine
		})
	}
	wg.Wait()
	wall := time.Since(start)
	stopProgress()
	r := workResult{n: int(done.Load()), errors: int(failed.Load()), firstErr: firstErr, wall: wall, lat: newLatencies(slices.Concat(lat...))}
	progress("%s: %d in %s = %.0f/s, p50 %s p99 %s, %d errors", label, r.n, round(wall), r.rate(), ms(r.lat.p(50)), ms(r.lat.p(99)), r.errors)
	if firstErr != nil {
		progress("%s: first error: %v", label, firstErr)
	}
	return r
}

// ticker calls f every interval until the returned stop is called.
func (b *bench) ticker(interval time.Duration, f func(elapsed time.Duration)) (stop func()) {
	start := time.Now()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f(time.Since(start))
			}
		}
	}()
	return func() { close(done); <-finished }
}

type latencies []time.Duration // sorted

func newLatencies(d []time.Duration) latencies {
	slices.Sort(d)
	return d
}

// p is the q-th percentile (nearest rank).
func (l latencies) p(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	i := int(float64(len(l))*q/100+0.5) - 1
	return l[min(max(i, 0), len(l)-1)]
}

// ---------------------------------------------------------------------------
// Operations

// newScimUser is the object a raw create writes: what a SCIM POST of
// scimBody(userName, i) stores, label, annotation and finalizer included, so
// that the operator has no more follow-up work on it than on a SCIM create.
func newScimUser(namespace, dir, id, userName string, i int) *identityv1alpha1.ScimUser {
	active := true
	return &identityv1alpha1.ScimUser{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   namespace,
			Name:        id,
			Labels:      map[string]string{identityv1alpha1.DirectoryLabel: dir},
			Annotations: map[string]string{identityv1alpha1.LastModifiedAnnotation: time.Now().UTC().Format(time.RFC3339Nano)},
			Finalizers:  []string{identityv1alpha1.RevocationFinalizer},
		},
		Spec: identityv1alpha1.ScimUserSpec{
			UserName:    userName,
			ExternalID:  "ext-" + strconv.Itoa(i),
			Name:        &identityv1alpha1.Name{GivenName: "Bench", FamilyName: "User" + strconv.Itoa(i)},
			DisplayName: "Bench User " + strconv.Itoa(i),
			Active:      &active,
			Emails:      []identityv1alpha1.MultiValue{{Value: userName, Type: "work", Primary: true}},
		},
	}
}

func scimBody(userName string, i int) []byte {
	body, _ := json.Marshal(map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":    userName,
		"externalId":  "ext-" + strconv.Itoa(i),
		"name":        map[string]any{"givenName": "Bench", "familyName": "User" + strconv.Itoa(i)},
		"displayName": "Bench User " + strconv.Itoa(i),
		"active":      true,
		"emails":      []any{map[string]any{"value": userName, "type": "work", "primary": true}},
	})
	return body
}

func userName(prefix string, i int, dir string) string {
	return fmt.Sprintf("%s-%07d@%s.example.com", prefix, i, dir)
}

func (b *bench) rawCreateOp(d *scimDir, prefix string) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		return b.env.Client.Create(ctx, newScimUser(d.namespace, d.name, string(uuid.NewUUID()), userName(prefix, i, d.name), i))
	}
}

func (b *bench) scimCreateOp(d *scimDir, prefix string) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		status, body, err := b.do(ctx, d, http.MethodPost, "/Users", scimBody(userName(prefix, i, d.name), i))
		if err != nil {
			return err
		}
		if status != http.StatusCreated {
			return fmt.Errorf("POST /Users: %d %s", status, trim(body))
		}
		return nil
	}
}

// do sends one SCIM request and reads the whole response.
func (b *bench) do(ctx context.Context, d *scimDir, method, path string, body []byte) (int, []byte, error) {
	var out bytes.Buffer
	status, err := b.doInto(ctx, d, method, path, body, &out)
	return status, out.Bytes(), err
}

// readBuffers holds the response buffers of the timed reads. The bench
// client shares the operator's heap, and reading a 150 KB list page with
// io.ReadAll allocated about twice that, which an identity provider's own
// process would not charge to the operator's garbage collector.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// doInto sends one SCIM request and reads the whole response into out.
func (b *bench) doInto(ctx context.Context, d *scimDir, method, path string, body []byte, out *bytes.Buffer) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Accept", "application/scim+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	out.Reset()
	_, err = out.ReadFrom(resp.Body)
	return resp.StatusCode, err
}

func trim(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// totalResults asks the operator how many users its cache holds for d.
func (b *bench) totalResults(ctx context.Context, d *scimDir) (int, error) {
	status, body, err := b.do(ctx, d, http.MethodGet, "/Users?count=0", nil)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("GET /Users?count=0: %d %s", status, trim(body))
	}
	var lr struct {
		TotalResults int `json:"totalResults"`
	}
	if err := json.Unmarshal(body, &lr); err != nil {
		return 0, err
	}
	return lr.TotalResults, nil
}

// waitCache polls a SCIM list with count=0 until it reports want users.
func (b *bench) waitCache(ctx context.Context, d *scimDir, want int) error {
	start := time.Now()
	last := time.Now()
	for {
		got, err := b.totalResults(ctx, d)
		if err != nil {
			return err
		}
		if got >= want {
			if got > want {
				// A create that failed on the client (say, a timeout) may
				// still have been stored.
				progress("directory %s holds %d users, %d more than created successfully", d.name, got, got-want)
			}
			return nil
		}
		if time.Since(last) > 5*time.Second {
			progress("waiting for the operator's cache: %s holds %d/%d users", d.name, got, want)
			last = time.Now()
		}
		if time.Since(start) > b.o.settleTimeout {
			return fmt.Errorf("the operator's cache holds %d/%d users of %s after %s", got, want, d.name, b.o.settleTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ---------------------------------------------------------------------------
// (c) fill and read latency

// fill creates count users in d straight through the API server with many
// workers (retrying transient errors), then waits until the operator's cache
// has them all and its controllers are idle.
func (b *bench) fill(ctx context.Context, key, scenario string, d *scimDir, count int) ([]user, phase, error) {
	progress("%s filling %s with %d users (raw creates, %d workers)", scenario, d.name, count, b.o.fillWorkers)
	users := make([]user, count)
	for i := range users {
		users[i] = user{id: string(uuid.NewUUID()), userName: userName("u", i, d.name)}
	}
	var attempts, created atomic.Int64
	// How far the operator's cache trails the API server while filling: a
	// SCIM read sees only what the cache holds.
	var maxLag, lagSamples int64
	stopLag := b.ticker(10*time.Second, func(time.Duration) {
		c := created.Load()
		got, err := b.totalResults(ctx, d)
		if err != nil {
			return
		}
		lag := c - int64(got)
		maxLag, lagSamples = max(maxLag, lag), lagSamples+1
		progress("fill %s: %d created, the operator's cache holds %d (%d behind)", d.name, c, got, lag)
	})
	m := b.startPhase(key)
	r := b.runWorkers(ctx, "fill "+d.name, count, b.o.fillWorkers, func(ctx context.Context, i int) error {
		obj := newScimUser(d.namespace, d.name, users[i].id, users[i].userName, i)
		for attempt := 0; ; attempt++ {
			attempts.Add(1)
			err := b.env.Client.Create(ctx, obj.DeepCopy())
			if err == nil || apierrors.IsAlreadyExists(err) {
				created.Add(1)
				return nil
			}
			if ctx.Err() != nil || attempt >= 10 {
				return err
			}
			time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
		}
	})
	b.opsDone(&m)
	stopLag()
	if err := ctx.Err(); err != nil {
		return nil, phase{}, err
	}
	if r.errors > 0 {
		return nil, phase{}, fmt.Errorf("filling %s: %d creates failed, first: %v", d.name, r.errors, r.firstErr)
	}
	cacheStart := time.Now()
	if err := b.waitCache(ctx, d, count); err != nil {
		return nil, phase{}, err
	}
	caughtUp := time.Since(cacheStart)
	progress("fill %s: the operator's cache caught up %s after the last create", d.name, round(caughtUp))
	settled, err := b.settle(ctx, "fill "+d.name)
	if err != nil {
		return nil, phase{}, err
	}
	ph := b.endPhase(m, fmt.Sprintf("%s fill %s (raw, %d workers)", scenario, d.name, b.o.fillWorkers), count, r.wall, settled,
		map[string]float64{"POST": float64(attempts.Load())}, count)
	if lagSamples > 0 {
		ph.note = fmt.Sprintf("%s: the operator's cache trailed the API server by up to %d users while filling (sampled every 10 s) and caught up %s after the last create",
			ph.name, maxLag, round(caughtUp))
	}
	return users, ph, nil
}

// measureReads measures sequential filter queries for random existing users,
// and GETs of one ScimUser by name straight from the API server.
func (b *bench) measureReads(ctx context.Context, key string, d *scimDir, users []user) (filter, get latencies, ph phase, err error) {
	progress("(c) %s: %d filter queries and %d raw GETs (after %d warm-up each)", d.name, b.o.queries, b.o.queries, b.o.warmupQueries)
	m := b.startPhase(key)
	began := time.Now()
	doFilter := func(u user) (time.Duration, error) {
		lr, took, err := b.getList(ctx, d, "/Users?filter="+url.QueryEscape(`userName eq "`+u.userName+`"`))
		if err == nil && (lr.TotalResults != 1 || len(lr.Resources) != 1 || lr.Resources[0].ID != u.id) {
			err = fmt.Errorf("filter for %s: want exactly id %s, got %d results", u.userName, u.id, lr.TotalResults)
		}
		return took, err
	}
	doGet := func(u user) (time.Duration, error) {
		var obj identityv1alpha1.ScimUser
		t := time.Now()
		err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: d.namespace, Name: u.id}, &obj)
		return time.Since(t), err
	}
	if filter, err = timeQueries(b.o.queries, b.o.warmupQueries, func() (time.Duration, error) { return doFilter(users[b.rnd.IntN(len(users))]) }); err != nil {
		return nil, nil, phase{}, err
	}
	if get, err = timeQueries(b.o.queries, b.o.warmupQueries, func() (time.Duration, error) { return doGet(users[b.rnd.IntN(len(users))]) }); err != nil {
		return nil, nil, phase{}, err
	}
	b.opsDone(&m)
	progress("(c) %s: filter p50 %s p99 %s; raw GET p50 %s p99 %s", d.name, ms(filter.p(50)), ms(filter.p(99)), ms(get.p(50)), ms(get.p(99)))
	ph = b.endPhase(m, fmt.Sprintf("(c) reads, %d users (filter + raw GET)", len(users)), 2*(b.o.queries+b.o.warmupQueries), time.Since(began), 0,
		map[string]float64{"GET": float64(b.o.queries + b.o.warmupQueries)}, 0)
	return filter, get, ph, nil
}

// listResponse is the part of a SCIM ListResponse the bench checks.
type listResponse struct {
	TotalResults int `json:"totalResults"`
	ItemsPerPage int `json:"itemsPerPage"`
	Resources    []struct {
		ID string `json:"id"`
	} `json:"Resources"`
}

// getList sends one SCIM GET of a list or filter and times its round trip,
// reading and decoding excluded.
func (b *bench) getList(ctx context.Context, d *scimDir, path string) (listResponse, time.Duration, error) {
	var lr listResponse
	buf := readBuffers.Get().(*bytes.Buffer)
	defer readBuffers.Put(buf)
	t := time.Now()
	status, err := b.doInto(ctx, d, http.MethodGet, path, nil, buf)
	took := time.Since(t)
	body := buf.Bytes()
	if err != nil {
		return lr, 0, err
	}
	if status != http.StatusOK {
		return lr, 0, fmt.Errorf("GET %s: %d %s", path, status, trim(body))
	}
	if err := json.Unmarshal(body, &lr); err != nil {
		return lr, 0, fmt.Errorf("GET %s: %w", path, err)
	}
	return lr, took, nil
}

// timeQueries runs warmup unmeasured, then n measured sequential calls of q,
// which returns the latency of one query.
func timeQueries(n, warmup int, q func() (time.Duration, error)) (latencies, error) {
	samples := make([]time.Duration, 0, n)
	for i := range warmup + n {
		took, err := q()
		if err != nil {
			return nil, err
		}
		if i >= warmup {
			samples = append(samples, took)
		}
	}
	return newLatencies(samples), nil
}

// ---------------------------------------------------------------------------
// Settling: the controllers have nothing queued and nothing running.

// queueState sums the controllers' workqueue depths and active workers from
// controller-runtime's metrics registry (it is filled even when no metrics
// endpoint is served).
func queueState() (depth, active float64, err error) {
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0, 0, err
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "workqueue_depth":
			for _, m := range mf.GetMetric() {
				depth += m.GetGauge().GetValue()
			}
		case "controller_runtime_active_workers":
			for _, m := range mf.GetMetric() {
				active += m.GetGauge().GetValue()
			}
		case "scim_operator_user_status_deferred":
			// Status writes held back while SCIM writes came in: work
			// the controllers still have to do.
			for _, m := range mf.GetMetric() {
				depth += m.GetGauge().GetValue()
			}
		}
	}
	return depth, active, nil
}

// settle waits until the controllers' queues stay empty for half a second.
func (b *bench) settle(ctx context.Context, label string) (time.Duration, error) {
	start := time.Now()
	last := start
	quiet := 0
	for quiet < 5 {
		depth, active, err := queueState()
		if err != nil {
			return 0, err
		}
		if depth == 0 && active == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if time.Since(last) > 5*time.Second {
			progress("settling after %s: %.0f queued, %.0f reconciling", label, depth, active)
			last = time.Now()
		}
		if time.Since(start) > b.o.settleTimeout {
			progress("settling after %s: gave up after %s (%.0f still queued); measuring anyway", label, b.o.settleTimeout, depth)
			break
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	took := time.Since(start)
	if took > time.Second {
		progress("settled after %s in %s", label, round(took))
	}
	return took, nil
}

// ---------------------------------------------------------------------------
// Phase accounting: CPU per process and API server requests per user.

type phase struct {
	name    string
	ops     int
	wall    time.Duration // the operations themselves
	settle  time.Duration // waiting for cache and controllers afterwards
	opsCPU  cpuSample     // while the operations ran
	cpu     cpuSample     // whole phase, settling included
	reqs    map[string]float64
	perUser int // users created in the phase, for requests per user; 0: none
	// reconciles and reconcileErrors by controller, settling included.
	reconciles, reconcileErrors map[string]float64
	note                        string // printed under the table
}

type phaseStart struct {
	key                         string
	profiling                   bool
	cpu, opsCPU                 cpuSample
	reqs                        map[string]float64
	reconciles, reconcileErrors map[string]float64
}

// opsDone marks the end of a phase's operations (settling follows).
func (b *bench) opsDone(s *phaseStart) { s.opsCPU = b.cpu.sample() }

// startPhase opens a phase; key is what -profile names (the small fill and
// reads use keys -profile does not accept, so the large ones are profiled).
func (b *bench) startPhase(key string) phaseStart {
	s := phaseStart{key: key}
	if b.prof != nil && b.o.profile == key {
		if err := pprof.StartCPUProfile(b.prof); err != nil {
			progress("CPU profile: %v", err)
		} else {
			s.profiling = true
			progress("CPU profile on (%s)", key)
		}
	}
	s.cpu, s.reqs = b.cpu.sample(), counters("rest_client_requests_total", "method")
	s.reconciles = counters("controller_runtime_reconcile_total", "controller")
	s.reconcileErrors = counters("controller_runtime_reconcile_errors_total", "controller")
	return s
}

// endPhase closes a phase. own is what the bench itself sent to the API
// server in it (by method), so that it is not counted as the operator's;
// users is how many users the phase created (0: requests per user are not
// shown).
func (b *bench) endPhase(s phaseStart, name string, ops int, wall, settle time.Duration, own map[string]float64, users int) phase {
	if s.profiling {
		pprof.StopCPUProfile()
		progress("CPU profile of %s written to %s", s.key, b.o.cpuprofile)
	}
	reqs := delta(counters("rest_client_requests_total", "method"), s.reqs)
	for k, v := range own {
		reqs[k] -= v
	}
	return phase{
		name: name, ops: ops, wall: wall, settle: settle,
		opsCPU: s.opsCPU.sub(s.cpu), cpu: b.cpu.sample().sub(s.cpu),
		reqs: reqs, perUser: users,
		reconciles:      delta(counters("controller_runtime_reconcile_total", "controller"), s.reconciles),
		reconcileErrors: delta(counters("controller_runtime_reconcile_errors_total", "controller"), s.reconcileErrors),
	}
}

// add sums two phases of the same kind (rounds).
func (p phase) add(q phase) phase {
	sum := func(a, b map[string]float64) map[string]float64 {
		out := map[string]float64{}
		for k, v := range a {
			out[k] += v
		}
		for k, v := range b {
			out[k] += v
		}
		return out
	}
	return phase{
		name: q.name, ops: p.ops + q.ops, wall: p.wall + q.wall, settle: p.settle + q.settle,
		opsCPU: p.opsCPU.add(q.opsCPU), cpu: p.cpu.add(q.cpu),
		reqs: sum(p.reqs, q.reqs), perUser: p.perUser + q.perUser,
		reconciles: sum(p.reconciles, q.reconciles), reconcileErrors: sum(p.reconcileErrors, q.reconcileErrors),
	}
}

func delta(now, before map[string]float64) map[string]float64 {
	for k, v := range before {
		now[k] -= v
	}
	return now
}

// counters sums a counter of controller-runtime's metrics registry by one
// label, e.g. this process's API server requests by method.
func counters(name, label string) map[string]float64 {
	out := map[string]float64{}
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

type cpuSample struct{ self, apiserver, etcd time.Duration }

func (a cpuSample) add(b cpuSample) cpuSample {
	return cpuSample{a.self + b.self, a.apiserver + b.apiserver, a.etcd + b.etcd}
}

func (a cpuSample) sub(b cpuSample) cpuSample {
	return cpuSample{a.self - b.self, a.apiserver - b.apiserver, a.etcd - b.etcd}
}

// cpuMeter reads user+system CPU time of this process and of the
// kube-apiserver and etcd it started, from /proc (Linux only; elsewhere the
// figures stay zero).
type cpuMeter struct{ apiserver, etcd int }

func newCPUMeter() *cpuMeter {
	m := &cpuMeter{}
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, _, ok := procStat(pid)
		if !ok || ppid != self {
			continue
		}
		switch comm {
		case "kube-apiserver":
			m.apiserver = pid
		case "etcd":
			m.etcd = pid
		}
	}
	return m
}

func (m *cpuMeter) ok() bool { return m.apiserver != 0 && m.etcd != 0 }

func (m *cpuMeter) sample() cpuSample {
	cpu := func(pid int) time.Duration {
		if pid == 0 {
			return 0
		}
		_, _, t, _ := procStat(pid)
		return t
	}
	return cpuSample{self: cpu(os.Getpid()), apiserver: cpu(m.apiserver), etcd: cpu(m.etcd)}
}

// procStat parses /proc/<pid>/stat: command, parent pid and user+system CPU.
func procStat(pid int) (comm string, ppid int, cpu time.Duration, ok bool) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, 0, false
	}
	s := string(raw)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, 0, false
	}
	comm = s[open+1 : closing]
	f := strings.Fields(s[closing+1:])
	// f[0] is field 3 (state) of proc(5): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return "", 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on every Linux the bench runs on
	return comm, ppid, time.Duration(utime+stime) * time.Second / clkTck, true
}

// ---------------------------------------------------------------------------
// Output

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

func round(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func printResults(w io.Writer, o options, r results, phases []phase, serverVersion string, total time.Duration) {
	fmt.Fprintf(w, "\nscim-operator bench — %d CPUs (GOMAXPROCS %d), %s/%s, %s, kube-apiserver %s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), serverVersion)
	large := strconv.Itoa(o.usersLarge)
	if o.skipLarge {
		large = "skipped"
	}
	fmt.Fprintf(w, "scenarios=%s n=%d (in %d alternating rounds) workers=%d users-small=%d users-large=%s queries=%d (after %d warm-up)%s\n",
		o.scenarios, o.n, o.rounds, o.workers, o.usersSmall, large, o.queries, o.warmupQueries, map[bool]string{true: " [quick]"}[o.quick])
	fmt.Fprintf(w, "revoke-users=%d revoke-groups=%d revoke-members=%d revoke-runs=%d authz-requests=%d (after %d warm-up)\n\n",
		o.revokeUsers, o.revokeGroups, o.revokeMembers, o.revokeRuns, o.authzRequests, o.authzWarmup)
	if o.runs("g") {
		fmt.Fprintf(w, "sync-users=%d sync-groups=%d sync-max-group=%d (largest group %d) sync-batch=%d sync-okta-every=%d sync-queries=%d sync-revoke-runs=%d\n\n",
			o.syncUsers, o.syncGroups, o.syncMaxGroup, o.largestGroup(), o.syncBatch, o.syncOktaEvery, o.syncQueries, o.syncRevokeRuns)
	}

	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	row := func(cols ...string) { fmt.Fprintln(tw, " "+strings.Join(cols, "\t ")+"\t") }
	row("scenario", "ours", "raw kube-apiserver", "ratio", "target", "result")
	row("--------", "----", "------------------", "-----", "------", "------")

	if o.runs("a") || o.runs("b") {
		a, s := r.rawCreate, r.scimCreate
		createOK := a.errors == 0 && s.errors == 0
		createRatio := 0.0
		if a.rate() > 0 {
			createRatio = s.rate() / a.rate()
		}
		result := verdict(createOK && createRatio >= targetCreateRatio)
		if !createOK {
			result += fmt.Sprintf(" (%d+%d errors)", a.errors, s.errors)
		}
		row(fmt.Sprintf("(b)/(a) create user, %d workers, n=%d: SCIM POST vs CR create", o.workers, o.n),
			fmt.Sprintf("%.0f /s", s.rate()), fmt.Sprintf("%.0f /s", a.rate()), ratio(s.rate(), a.rate()),
			fmt.Sprintf("≥ %.2f", targetCreateRatio), result)
		row("     create latency p50", ms(s.lat.p(50)), ms(a.lat.p(50)), ratio(float64(s.lat.p(50)), float64(a.lat.p(50))), "", "info")
		row("     create latency p99", ms(s.lat.p(99)), ms(a.lat.p(99)), ratio(float64(s.lat.p(99)), float64(a.lat.p(99))), "", "info")
	}
	if o.runs("c") {
		latRows := func(size int, f, g latencies) {
			row(fmt.Sprintf("(c) filter userName eq, %d users: p50", size), ms(f.p(50)), ms(g.p(50))+" (GET by name)", ratio(float64(f.p(50)), float64(g.p(50))), "", "info")
			row(fmt.Sprintf("(c) filter userName eq, %d users: p99", size), ms(f.p(99)), ms(g.p(99))+" (GET by name)", ratio(float64(f.p(99)), float64(g.p(99))),
				"< "+ms(targetP99), verdict(f.p(99) < targetP99))
		}
		latRows(o.usersSmall, r.filterSmall, r.getSmall)
		if !o.skipLarge {
			latRows(o.usersLarge, r.filterLarge, r.getLarge)
			growth := float64(r.filterLarge.p(99)) / float64(r.filterSmall.p(99))
			rawGrowth := float64(r.getLarge.p(99)) / float64(r.getSmall.p(99))
			row(fmt.Sprintf("(c) p99 growth %d → %d users", o.usersSmall, o.usersLarge),
				fmt.Sprintf("%.2f×", growth), fmt.Sprintf("%.2f× (GET by name)", rawGrowth), "", fmt.Sprintf("≤ %.1f×", targetP99Growth), verdict(growth <= targetP99Growth))
			row(fmt.Sprintf("    filter, %d users, measured again after the %d fill: p50 / p99", o.usersSmall, o.usersLarge),
				ms(r.filterSmallAfter.p(50))+" / "+ms(r.filterSmallAfter.p(99)), "", "", "", "info")
		}
	}
	r.revoke.printRows(o, row)
	r.initial.printRows(o, row)
	tw.Flush()

	fmt.Fprintf(w, "\nWhere the time goes. CPU%% is of one core while the operations ran (%d cores in all); CPU ms/op counts\n"+
		"the whole phase including settling (the controllers' follow-up work). API requests are this process's (operator),\n"+
		"the bench's own excluded.\n\n", runtime.NumCPU())
	tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	row("phase", "ops", "wall", "ops/s", "CPU% ours/api/etcd", "settle", "CPU ms/op ours+api+etcd", "operator API requests/user", "reconciles (errors)")
	row("-----", "---", "----", "-----", "------------------", "------", "-----------------------", "--------------------------", "-------------------")
	for _, p := range phases {
		pct := func(d time.Duration) string {
			if p.wall <= 0 {
				return "–"
			}
			return strconv.FormatFloat(100*d.Seconds()/p.wall.Seconds(), 'f', 0, 64)
		}
		perOp := "–"
		if p.ops > 0 {
			f := func(d time.Duration) string {
				return strconv.FormatFloat(d.Seconds()*1000/float64(p.ops), 'f', 2, 64)
			}
			perOp = f(p.cpu.self) + "+" + f(p.cpu.apiserver) + "+" + f(p.cpu.etcd)
		}
		reqs := "–"
		if p.perUser > 0 {
			reqs = formatReqs(p.reqs, p.perUser)
		}
		rate := 0.0
		if p.wall > 0 {
			rate = float64(p.ops) / p.wall.Seconds()
		}
		row(p.name, strconv.Itoa(p.ops), round(p.wall).String(), fmt.Sprintf("%.0f", rate),
			pct(p.opsCPU.self)+"/"+pct(p.opsCPU.apiserver)+"/"+pct(p.opsCPU.etcd), round(p.settle).String(),
			perOp, reqs, formatReconciles(p.reconciles, p.reconcileErrors))
	}
	tw.Flush()
	for _, p := range phases {
		if p.note != "" {
			fmt.Fprintf(w, "\n%s.", p.note)
		}
	}
	fmt.Fprintln(w)
	r.revoke.printNotes(w, o)
	r.initial.printNotes(w, o)
	if r.wall.samples > 0 {
		r.wall.print(w, "SCIM POST /Users requests of (b)")
	}
	fmt.Fprintf(w, "\ntotal duration %s\n", round(total))
}

// formatReconciles renders reconciles by controller, e.g. "scimuser 2000 (0)".
func formatReconciles(total, errs map[string]float64) string {
	names := make([]string, 0, len(total))
	for n, v := range total {
		if v >= 0.5 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.0f (%.0f)", n, total[n], errs[n])
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

// formatReqs renders requests per user by method, e.g. "POST 1.00 PUT 1.00".
func formatReqs(reqs map[string]float64, users int) string {
	methods := make([]string, 0, len(reqs))
	for m, v := range reqs {
		if v/float64(users) >= 0.005 {
			methods = append(methods, m)
		}
	}
	sort.Strings(methods)
	if len(methods) == 0 {
		return "0"
	}
	parts := make([]string, len(methods))
	for i, m := range methods {
		parts[i] = fmt.Sprintf("%s %.2f", m, reqs[m]/float64(users))
	}
	return strings.Join(parts, " ")
}

// ---------------------------------------------------------------------------
// Wall-clock profile of SCIM requests

// wallProfile counts, over periodic goroutine profiles, where goroutines
// serving SCIM requests are: the innermost frame of the SCIM store (or, for
// a request not in the store, of the SCIM server) with its file:line, and
// the function it is calling. A goroutine waiting on the API server or
// sleeping in a poll loop shows up as much as one burning CPU, which is the
// point: a CPU profile cannot see waiting.
type wallProfile struct {
	samples int            // profiles taken
	total   int            // request goroutines seen, summed over profiles
	at      map[string]int // goroutines by location
}

func (wp wallProfile) merge(q wallProfile) wallProfile {
	out := wallProfile{samples: wp.samples + q.samples, total: wp.total + q.total, at: map[string]int{}}
	for k, v := range wp.at {
		out.at[k] += v
	}
	for k, v := range q.at {
		out.at[k] += v
	}
	return out
}

func startWallProfile(every time.Duration) (stop func() wallProfile) {
	wp := wallProfile{at: map[string]int{}}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var buf bytes.Buffer
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			buf.Reset()
			if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
				continue
			}
			wp.samples++
			wp.add(buf.String())
		}
	}()
	return func() wallProfile { close(done); <-finished; return wp }
}

// add parses a goroutine profile in debug=1 form: records of
// "<count> @ <pcs>" followed by "#\t<pc>\t<func>+<off>\t<file>:<line>" frames,
// innermost first.
func (wp *wallProfile) add(text string) {
	for _, rec := range strings.Split(text, "\n\n") {
		lines := strings.Split(strings.TrimSpace(rec), "\n")
		if len(lines) < 2 {
			continue
		}
		head := strings.Fields(lines[0])
		if len(head) < 2 || head[1] != "@" {
			continue
		}
		count, err := strconv.Atoi(head[0])
		if err != nil {
			continue
		}
		type frame struct{ fn, loc string }
		var frames []frame
		for _, l := range lines[1:] {
			f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(l), "#"))
			if len(f) < 3 {
				continue
			}
			fn := f[1]
			if i := strings.LastIndex(fn, "+0x"); i > 0 {
				fn = fn[:i]
			}
			frames = append(frames, frame{fn: fn, loc: filepath.Base(f[2])})
		}
		inRequest := false
		for _, f := range frames {
			if strings.Contains(f.fn, "scimserver.(*Server).") && strings.Contains(f.fn, "(*Server).middleware") {
				inRequest = true
			}
		}
		if !inRequest {
			continue
		}
		key := ""
		for _, pkg := range []string{"/scimserver/store.", "/scimserver."} {
			for i, f := range frames {
				if strings.Contains(f.fn, pkg) {
					callee := "(running)"
					if i > 0 {
						callee = shortFunc(frames[i-1].fn)
					}
					key = shortFunc(f.fn) + " " + f.loc + " → " + callee
					break
				}
			}
			if key != "" {
				break
			}
		}
		wp.at[key] += count
		wp.total += count
	}
}

// shortFunc trims the import path of a function name.
func shortFunc(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

func (wp wallProfile) print(w io.Writer, what string) {
	fmt.Fprintf(w, "\nWhere %s spend their wall-clock time (%d goroutine profiles, %d request samples;\n"+
		"location = innermost store (or server) frame, file:line → the call it is in):\n\n", what, wp.samples, wp.total)
	type kv struct {
		k string
		v int
	}
	var rows []kv
	for k, v := range wp.at {
		rows = append(rows, kv{k, v})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].v > rows[j].v || rows[i].v == rows[j].v && rows[i].k < rows[j].k })
	for i, r := range rows {
		if i == 20 {
			break
		}
		fmt.Fprintf(w, "  %5.1f%%  %s\n", 100*float64(r.v)/float64(max(wp.total, 1)), r.k)
	}
}
