package store

import (
	"context"
	"sync"
)

// objectLocks serialises the writes of this replica to one object. Without
// it, concurrent PATCHes of one group (an IdP adding many members at once)
// all read the same version, all but one lose the write race, and re-apply
// on the next version only to lose again: n concurrent writers cost O(n²)
// attempts and exhaust the retry budget. Queued behind a lock, each write
// reads the version the previous one left in the cache and succeeds at once;
// conflicts remain possible only with other replicas and controllers
// (status updates), which the retry in update absorbs.
type objectLocks struct {
	mu    sync.Mutex
	locks map[string]*objectLock
}

type objectLock struct {
	sem  chan struct{}
	refs int
}

// lock waits until key is free or ctx is done, and returns the unlock function.
func (l *objectLocks) lock(ctx context.Context, key string) (func(), error) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*objectLock{}
	}
	ol := l.locks[key]
	if ol == nil {
		ol = &objectLock{sem: make(chan struct{}, 1)}
		l.locks[key] = ol
	}
	ol.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if ol.refs--; ol.refs == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
	select {
	case ol.sem <- struct{}{}:
		return func() { <-ol.sem; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
