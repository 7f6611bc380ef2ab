package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// throttle spaces out an expensive step per object: the first request runs
// at once, later ones at most once per interval, and the last request of a
// burst is never lost (the caller requeues for the returned wait). A large
// binding or group receives a change every few hundred milliseconds during
// an initial sync; walking its 100,000 members after each one kept a core
// busy without changing the outcome.
type throttle struct {
	mu   sync.Mutex
	last map[types.NamespacedName]time.Time
}

// wait returns 0 and records now when the step may run for key, or how long
// to wait before it may.
func (t *throttle) wait(key types.NamespacedName, interval time.Duration, now time.Time) time.Duration {
	return t.waitQuiet(key, interval, 0, 0, time.Time{}, now)
}

// waitQuiet is wait for a step whose inputs may still be changing: once it
// has run, it also waits until they have been unchanged for quiet (changed
// is when they last changed), but never longer than maxDelay after its last
// run. The first run is never held back.
func (t *throttle) waitQuiet(key types.NamespacedName, interval, quiet, maxDelay time.Duration, changed, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.last[key]; ok {
		since := now.Sub(last)
		if d := interval - since; d > 0 {
			return d
		}
		if calm := now.Sub(changed); calm < quiet && since < maxDelay {
			return min(quiet-calm, maxDelay-since)
		}
	}
	if t.last == nil {
		t.last = map[types.NamespacedName]time.Time{}
	}
	t.last[key] = now
	return 0
}

// forget drops key (the object is gone).
func (t *throttle) forget(key types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.last, key)
}
