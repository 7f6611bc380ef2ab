package controllers

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/metrics"
)

// An initial sync creates every user at once, and each new user's first
// status (Ready=Active, the Kubernetes user name) is one more write to the
// API server: 100,000 of them competing with the identity provider's own
// writes, which is where an import's time goes. That status is bookkeeping;
// nothing reads it to grant or cut access. So while the SCIM server is
// writing (UserReconciler.Busy), a routine status write of an active user
// waits in deferredStatus, and the users are reconciled again once the
// writes pause for a moment, or after maxStatusDefer at the latest.
// Revocations, restorations and finalizers never wait.

// maxStatusDefer bounds how long a status write waits for an identity
// provider that never pauses.
const maxStatusDefer = 30 * time.Minute

// statusFlushEvery is how often the deferred users are looked at.
const statusFlushEvery = 250 * time.Millisecond

// deferredStatus is the set of users whose status write waits.
type deferredStatus struct {
	mu    sync.Mutex
	keys  map[types.NamespacedName]struct{}
	since time.Time // when the oldest key was added
	// sending counts keys taken by due and not yet handed to the queue;
	// the gauge shows them too, so that "nothing deferred" also means
	// "nothing on its way back".
	sending int
	ch      chan event.GenericEvent
}

func (d *deferredStatus) gauge() {
	metrics.UserStatusDeferred.Set(float64(len(d.keys) + d.sending))
}

func newDeferredStatus() *deferredStatus {
	return &deferredStatus{keys: map[types.NamespacedName]struct{}{}, ch: make(chan event.GenericEvent, 1024)}
}

func (d *deferredStatus) add(key types.NamespacedName, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.keys) == 0 {
		d.since = now
	}
	d.keys[key] = struct{}{}
	d.gauge()
}

// sent records that a key taken by due is in the queue.
func (d *deferredStatus) sent() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sending--
	d.gauge()
}

// due takes the deferred keys when they may be written: the SCIM server is
// not busy, or the oldest has waited maxStatusDefer.
func (d *deferredStatus) due(busy bool, now time.Time) []types.NamespacedName {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.keys) == 0 || (busy && now.Sub(d.since) < maxStatusDefer) {
		return nil
	}
	out := make([]types.NamespacedName, 0, len(d.keys))
	for k := range d.keys {
		out = append(out, k)
	}
	// A new map, not clear: a Go map keeps the buckets of its largest size,
	// and after a 100,000-user import those were ~6 MB of live heap.
	d.keys = map[types.NamespacedName]struct{}{}
	d.sending += len(out)
	d.gauge()
	return out
}

// statusFlusher puts deferred users back in the user controller's queue
// (through deferredStatus.ch) when they are due. It runs where the
// controller runs: on the leader.
type statusFlusher struct {
	d    *deferredStatus
	busy func() bool
}

func (f statusFlusher) Start(ctx context.Context) error {
	t := time.NewTicker(statusFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, key := range f.d.due(f.busy(), time.Now()) {
			u := &identityv1alpha1.ScimUser{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
			select {
			case f.d.ch <- event.GenericEvent{Object: client.Object(u)}:
				f.d.sent()
			case <-ctx.Done():
				return nil
			}
		}
	}
}
