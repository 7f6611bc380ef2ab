// Package leader elects the replica that runs the controllers and makes every
// SCIM write, and tells the other replicas where that is.
//
// The election is controller-runtime's (a coordination.k8s.io Lease); only the
// identity differs: it carries the replica's SCIM URL ("<url>_<uuid>"), so a
// replica that reads the Lease knows where to pass writes on to, with no
// other object to keep in step.
package leader

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LeaseName is the leader election Lease.
const LeaseName = "scim-operator.identity.scim-operator.io"

// Identity returns a leader election identity naming the replica's SCIM URL.
func Identity(scimURL string) string {
	return strings.TrimSuffix(scimURL, "/") + "_" + string(uuid.NewUUID())
}

// URLOf returns the SCIM URL in an identity made by Identity.
func URLOf(identity string) (string, error) {
	i := strings.LastIndex(identity, "_")
	if i < 0 {
		return "", fmt.Errorf("leader identity %q names no SCIM URL", identity)
	}
	u, err := url.Parse(identity[:i])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("leader identity %q names no SCIM URL", identity)
	}
	return identity[:i], nil
}

// Namespace returns the namespace of the Lease: namespace, or when empty the
// pod's own.
func Namespace(namespace string) (string, error) {
	if namespace != "" {
		return namespace, nil
	}
	raw, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		return "", fmt.Errorf("leader election needs a namespace outside a cluster (-leader-election-namespace): %w", err)
	}
	return strings.TrimSpace(string(raw)), nil
}

// NewLock builds the Lease lock controller-runtime would build, with the
// given identity.
func NewLock(cfg *rest.Config, namespace, identity string) (resourcelock.Interface, error) {
	cfg = rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election")
	// As controller-runtime does: a hung request must not outlast the renew
	// deadline (10 s by default).
	cfg.Timeout = 5 * time.Second
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	coord, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return resourcelock.New(resourcelock.LeasesResourceLock, namespace, LeaseName, core, coord,
		resourcelock.ResourceLockConfig{Identity: identity})
}

// Locator implements scimserver.WriterLocator for replicas that elect a
// leader. It is a leader-election Runnable of the manager: Start runs when
// this replica is elected and marks it the writer once Settle has passed.
type Locator struct {
	// Reader reads the Lease from the API server (Leases are not cached).
	Reader client.Reader
	Lease  types.NamespacedName
	// Self is this replica's identity.
	Self string
	// Settle is how long a newly elected replica waits before it writes:
	// its cache must show the last writes of the previous leader. Those
	// finished before the old lease was released or expired, so a moment
	// of cache propagation is all it takes.
	Settle time.Duration
	// Hold is how long a write waits for a writer while there is none (a
	// replica settling after its election, or an election under way)
	// before it is answered 503. A hand-over usually completes within a
	// second or two; holding the write that long spares the identity
	// provider a retry, which some count towards quarantine. 0 answers at
	// once.
	Hold time.Duration

	mu        sync.Mutex
	writing   bool
	electedAt time.Time
	memo      string
	memoErr   error
	memoAt    time.Time
}

// memoFor is how long a read of the Lease is reused.
const memoFor = 250 * time.Millisecond

// NeedLeaderElection makes the manager start the Locator on the leader only.
func (l *Locator) NeedLeaderElection() bool { return true }

// Start records the election and blocks until the replica stops.
//
// A stopping leader keeps writing: on SIGTERM the manager stops this runnable
// while the SCIM server still drains requests it accepted before, and the
// Lease is released only after that drain, so those requests are still the
// leader's to finish (answering them 503 would make every IdP retry them).
// A leader that lost its Lease exits as soon as the manager has stopped.
func (l *Locator) Start(ctx context.Context) error {
	l.mu.Lock()
	l.electedAt = time.Now()
	l.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-time.After(l.Settle):
		l.mu.Lock()
		l.writing = true
		l.mu.Unlock()
		<-ctx.Done()
	}
	return nil
}

// holdPoll is how often a held write looks for a writer again. Lease reads
// are shared through the memo, so waiting writes add no API load.
const holdPoll = 50 * time.Millisecond

// Writer implements scimserver.WriterLocator: it waits up to Hold (and no
// longer than ctx) for a replica that can write.
func (l *Locator) Writer(ctx context.Context) (string, error) {
	deadline := time.Now().Add(l.Hold)
	for {
		target, err := l.writer(ctx)
		if err == nil || !time.Now().Before(deadline) {
			return target, err
		}
		select {
		case <-ctx.Done():
			return target, err
		case <-time.After(holdPoll):
		}
	}
}

// writer answers once from the replica's own state or the Lease.
func (l *Locator) writer(ctx context.Context) (string, error) {
	l.mu.Lock()
	writing, elected := l.writing, !l.electedAt.IsZero()
	if !writing && !elected && time.Since(l.memoAt) < memoFor {
		defer l.mu.Unlock()
		return l.memo, l.memoErr
	}
	l.mu.Unlock()
	switch {
	case writing:
		return "", nil
	case elected:
		return "", errors.New("this replica was just elected and is catching up")
	}
	target, err := l.read(ctx)
	l.mu.Lock()
	l.memo, l.memoErr, l.memoAt = target, err, time.Now()
	l.mu.Unlock()
	return target, err
}

// read finds the writer in the Lease.
func (l *Locator) read(ctx context.Context) (string, error) {
	var lease coordinationv1.Lease
	if err := l.Reader.Get(ctx, l.Lease, &lease); err != nil {
		return "", fmt.Errorf("reading the leader election Lease: %w", err)
	}
	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	if holder == "" {
		return "", errors.New("no leader is elected")
	}
	if holder == l.Self {
		return "", errors.New("this replica is taking over")
	}
	if lease.Spec.RenewTime != nil && lease.Spec.LeaseDurationSeconds != nil &&
		time.Since(lease.Spec.RenewTime.Time) > time.Duration(*lease.Spec.LeaseDurationSeconds)*time.Second {
		return "", errors.New("the leader's lease has expired; an election is under way")
	}
	return URLOf(holder)
}
