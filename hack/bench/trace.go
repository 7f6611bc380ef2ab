package main

// Where the time of a cut goes: when the managed RoleBinding stopped naming
// the user, seen through a watch (the same stream the kube-apiserver's RBAC
// authorizer follows).

import (
	"context"
	"strings"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// rbWatch follows the RoleBindings of one namespace and remembers, since the
// last reset, when each object was seen with which user subjects.
type rbWatch struct {
	mu     sync.Mutex
	events []rbEvent
	stop   context.CancelFunc
	done   chan struct{}
}

type rbEvent struct {
	at    time.Time
	name  string
	users map[string]bool
}

// watchRoleBindings starts following namespace ns; stop with close.
func (b *bench) watchRoleBindings(ctx context.Context, ns string) (*rbWatch, error) {
	wc, err := client.NewWithWatch(b.env.Config, client.Options{Scheme: b.env.Client.Scheme()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &rbWatch{stop: cancel, done: make(chan struct{})}
	first, err := wc.Watch(ctx, &rbacv1.RoleBindingList{}, client.InNamespace(ns))
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		defer close(w.done)
		wi := first
		for {
			for ev := range wi.ResultChan() {
				rb, ok := ev.Object.(*rbacv1.RoleBinding)
				if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
					continue
				}
				e := rbEvent{at: time.Now(), name: rb.Name, users: map[string]bool{}}
				for _, s := range rb.Subjects {
					if s.Kind == rbacv1.UserKind {
						e.users[s.Name] = true
					}
				}
				w.mu.Lock()
				w.events = append(w.events, e)
				w.mu.Unlock()
			}
			wi.Stop()
			// The API server ends watches now and then; follow on (a gap
			// only loses the breakdown of the run it falls in).
			for ctx.Err() == nil {
				if wi, err = wc.Watch(ctx, &rbacv1.RoleBindingList{}, client.InNamespace(ns)); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if ctx.Err() != nil {
				return
			}
		}
	}()
	return w, nil
}

func (w *rbWatch) close() { w.stop(); <-w.done }

// reset forgets what was seen so far.
func (w *rbWatch) reset() {
	w.mu.Lock()
	w.events = w.events[:0]
	w.mu.Unlock()
}

// dropped is when object name (or one of its shards, name-1, name-2, …) was
// first seen, since the last reset, without user among its subjects. A
// binding big enough to be sharded rewrites only the shard that held the
// user and the ones after it, so the first event of any shard is the drop.
func (w *rbWatch) dropped(name, user string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if (e.name == name || strings.HasPrefix(e.name, name+"-")) && !e.users[user] {
			return e.at, true
		}
	}
	return time.Time{}, false
}

// waitDropped waits up to d for dropped to hold.
func (w *rbWatch) waitDropped(name, user string, d time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(d)
	for {
		if at, ok := w.dropped(name, user); ok || time.Now().After(deadline) {
			return at, ok
		}
		time.Sleep(2 * time.Millisecond)
	}
}
