package store

import (
	"slices"
	"sync"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// order keeps the ids of every directory's live users and groups sorted, so a
// page of an unfiltered list (GET /Users?startIndex=k&count=100, what Okta
// and auditors page through) costs the page, not the directory: without it
// every page listed and ordered all 100,000 users of a large directory.
//
// It is fed by the informers' event handlers. The initial list of a starting
// informer arrives in no order and is sorted once, when first read; later
// changes are kept in place with a binary search.
type order struct {
	mu   sync.Mutex
	dirs map[string]*sortedIDs // by Kind.Endpoint + "/" + namespace
}

type sortedIDs struct {
	ids   []string
	dirty bool // appended to; sort and drop duplicates before reading
}

func orderKey(k *Kind, namespace string) string { return k.Endpoint + "/" + namespace }

// OrderHandler returns the informer event handler that keeps k's order.
func (s *Store) OrderHandler(k *Kind) toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj any, initial bool) { s.track(k, obj, initial) },
		UpdateFunc: func(_, obj any) { s.track(k, obj, false) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if o, ok := obj.(client.Object); ok {
				s.order.remove(orderKey(k, o.GetNamespace()), o.GetName())
			}
		},
	}
}

// track records an added or updated object: live ones are listed, ones
// being deleted (a finalizer still holds them) are not, as List skips them.
func (s *Store) track(k *Kind, obj any, initial bool) {
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	key := orderKey(k, o.GetNamespace())
	if o.GetDeletionTimestamp() != nil {
		s.order.remove(key, o.GetName())
		return
	}
	s.order.insert(key, o.GetName(), initial)
}

func (ord *order) insert(key, id string, initial bool) {
	ord.mu.Lock()
	defer ord.mu.Unlock()
	if ord.dirs == nil {
		ord.dirs = map[string]*sortedIDs{}
	}
	d := ord.dirs[key]
	if d == nil {
		d = &sortedIDs{}
		ord.dirs[key] = d
	}
	if initial || d.dirty {
		d.ids = append(d.ids, id)
		d.dirty = true
		return
	}
	if i, found := slices.BinarySearch(d.ids, id); !found {
		d.ids = slices.Insert(d.ids, i, id)
	}
}

func (ord *order) remove(key, id string) {
	ord.mu.Lock()
	defer ord.mu.Unlock()
	d := ord.dirs[key]
	if d == nil {
		return
	}
	d.settle()
	if i, found := slices.BinarySearch(d.ids, id); found {
		d.ids = slices.Delete(d.ids, i, i+1)
	}
}

func (d *sortedIDs) settle() {
	if d.dirty {
		slices.Sort(d.ids)
		d.ids = slices.Compact(d.ids)
		d.dirty = false
	}
}

// page returns the ids at [start, end) of the directory's sorted ids (from
// the end when descending) and how many there are in all.
func (ord *order) page(key string, start, end int, descending bool) ([]string, int) {
	ord.mu.Lock()
	defer ord.mu.Unlock()
	d := ord.dirs[key]
	if d == nil {
		return nil, 0
	}
	d.settle()
	n := len(d.ids)
	start, end = min(start, n), min(end, n)
	if descending {
		start, end = n-end, n-start
	}
	out := slices.Clone(d.ids[start:end])
	if descending {
		slices.Reverse(out)
	}
	return out, n
}
