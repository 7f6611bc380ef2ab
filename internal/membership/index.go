package membership

import (
	"slices"
	"strconv"
	"sync"
	"unique"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// Index is the reverse membership index: for a member id, the groups that
// name it inline or in their overlay's added list, and the shards that hold
// it. Informer event handlers keep it (GroupHandler, ShardHandler).
//
// It takes the place of two cache field indexes. client-go's indexer keeps a
// Go map of object keys for every indexed value; here a member id is interned
// once and each membership costs one 8-byte handle on each side. At 100,000
// users and 730,000 memberships it holds about 46 MiB.
//
// The index follows the cache by a moment: handlers run after the informer
// has stored an object. A SCIM write waits for both (Synced), so its answer
// and the next read agree; other readers may see a membership change a few
// milliseconds late, as they would see any other change late.
type Index struct {
	mu sync.RWMutex
	ns map[string]*nsIndex
}

type handle = unique.Handle[string]

type nsIndex struct {
	// inGroups maps a member id to the groups that name it inline or added.
	inGroups map[string][]handle
	// inShards maps a member id to the shards that hold it.
	inShards map[string][]handle
	groups   map[handle]indexed
	shards   map[handle]indexed
}

// indexed is what one object put into the index.
type indexed struct {
	members []handle
	// rv is the resource version the index last saw.
	rv uint64
	// group is a shard's group.
	group handle
	// object is a group's cached object, shared with the informer and never
	// modified: read-only readers take groups from here (Group) instead of
	// copying them out of the cache.
	object *identityv1alpha1.ScimGroup
}

// ShardRef is a shard that holds a member, and the group it belongs to.
type ShardRef struct {
	Name, Group string
}

// NewIndex returns an empty index.
func NewIndex() *Index { return &Index{ns: map[string]*nsIndex{}} }

// Lookup returns the names of the groups that name member inline or added,
// and the shards that hold it, in namespace ns. A nil Index knows nothing.
// The group of a shard still decides whether the shard counts (it must list
// the shard and not have removed the member): see Finder.
func (x *Index) Lookup(ns, member string) (groups []string, shards []ShardRef) {
	if x == nil {
		return nil, nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := x.ns[ns]
	if n == nil {
		return nil, nil
	}
	for _, g := range n.inGroups[member] {
		groups = append(groups, g.Value())
	}
	for _, s := range n.inShards[member] {
		shards = append(shards, ShardRef{Name: s.Value(), Group: n.shards[s].group.Value()})
	}
	return groups, shards
}

// Synced reports whether the index has seen the group ns/name at resource
// version rv or later.
func (x *Index) Synced(ns, name, rv string) bool {
	want, _ := strconv.ParseUint(rv, 10, 64)
	e, ok := x.entry(ns, name, false)
	return ok && e.rv >= want
}

// Group returns the group ns/name as the index last saw it, nil if it does
// not know it. The object is the informer's: it must not be modified.
func (x *Index) Group(ns, name string) *identityv1alpha1.ScimGroup {
	if x == nil {
		return nil
	}
	e, _ := x.entry(ns, name, false)
	return e.object
}

// Deleted reports whether the index has seen the group ns/name deleted, or
// marked for deletion.
func (x *Index) Deleted(ns, name string) bool {
	g := x.Group(ns, name)
	return g == nil || !g.DeletionTimestamp.IsZero()
}

// HasShard reports whether the index has seen the shard ns/name. Shards
// never change, so having seen one is having seen all of it.
func (x *Index) HasShard(ns, name string) bool {
	_, ok := x.entry(ns, name, true)
	return ok
}

// entry returns what the group (or shard) ns/name put into the index.
func (x *Index) entry(ns, name string, shard bool) (indexed, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := x.ns[ns]
	if n == nil {
		return indexed{}, false
	}
	objs := n.groups
	if shard {
		objs = n.shards
	}
	e, ok := objs[unique.Make(name)]
	return e, ok
}

// GroupHandler keeps the index in step with the ScimGroup informer.
func (x *Index) GroupHandler() toolscache.ResourceEventHandler {
	return x.handler(func(o client.Object) (indexed, bool) {
		g, ok := o.(*identityv1alpha1.ScimGroup)
		if !ok {
			return indexed{}, false
		}
		e := indexed{members: make([]handle, 0, len(g.Spec.Members)), object: g}
		for _, m := range g.Spec.Members {
			e.members = append(e.members, unique.Make(m.Value))
		}
		if g.Spec.Membership != nil {
			for _, m := range g.Spec.Membership.Added {
				e.members = append(e.members, unique.Make(m.Value))
			}
		}
		return e, true
	}, false)
}

// ShardHandler keeps the index in step with the ScimGroupMembers informer.
func (x *Index) ShardHandler() toolscache.ResourceEventHandler {
	return x.handler(func(o client.Object) (indexed, bool) {
		s, ok := o.(*identityv1alpha1.ScimGroupMembers)
		if !ok {
			return indexed{}, false
		}
		e := indexed{members: make([]handle, len(s.Spec.Members)), group: unique.Make(s.Spec.Group)}
		for i, m := range s.Spec.Members {
			e.members[i] = unique.Make(m.Value)
		}
		return e, true
	}, true)
}

func (x *Index) handler(read func(client.Object) (indexed, bool), shard bool) toolscache.ResourceEventHandler {
	set := func(obj any) {
		o, ok := obj.(client.Object)
		if !ok {
			return
		}
		e, ok := read(o)
		if !ok {
			return
		}
		e.rv, _ = strconv.ParseUint(o.GetResourceVersion(), 10, 64)
		x.set(o.GetNamespace(), unique.Make(o.GetName()), e, shard)
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if o, ok := obj.(client.Object); ok {
				x.remove(o.GetNamespace(), unique.Make(o.GetName()), shard)
			}
		},
	}
}

// tables returns the namespace's object table and member map for groups or
// shards, creating them.
func (x *Index) tables(ns string, shard bool) (map[handle]indexed, map[string][]handle) {
	n := x.ns[ns]
	if n == nil {
		n = &nsIndex{inGroups: map[string][]handle{}, inShards: map[string][]handle{}, groups: map[handle]indexed{}, shards: map[handle]indexed{}}
		x.ns[ns] = n
	}
	if shard {
		return n.shards, n.inShards
	}
	return n.groups, n.inGroups
}

func (x *Index) set(ns string, obj handle, e indexed, shard bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	objs, byMember := x.tables(ns, shard)
	old, known := objs[obj]
	if known && slices.Equal(old.members, e.members) {
		// Most updates (status, compaction bookkeeping) keep the members.
		old.rv, old.object = e.rv, e.object
		objs[obj] = old
		return
	}
	was := make(map[handle]bool, len(old.members))
	for _, m := range old.members {
		was[m] = true
	}
	is := make(map[handle]bool, len(e.members))
	for _, m := range e.members {
		if is[m] {
			continue
		}
		is[m] = true
		if !was[m] {
			byMember[m.Value()] = append(byMember[m.Value()], obj)
		}
	}
	for m := range was {
		if !is[m] {
			unlink(byMember, m, obj)
		}
	}
	// Keep each member once: a duplicate would be unlinked twice.
	if len(is) < len(e.members) {
		e.members = e.members[:0]
		for m := range is {
			e.members = append(e.members, m)
		}
	}
	objs[obj] = e
}

func (x *Index) remove(ns string, obj handle, shard bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	objs, byMember := x.tables(ns, shard)
	old, ok := objs[obj]
	if !ok {
		return
	}
	for _, m := range old.members {
		unlink(byMember, m, obj)
	}
	delete(objs, obj)
}

// unlink removes obj from member's list, and the list once it is empty.
func unlink(byMember map[string][]handle, member, obj handle) {
	key := member.Value()
	list := byMember[key]
	for i, o := range list {
		if o == obj {
			list[i] = list[len(list)-1]
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(byMember, key)
		return
	}
	byMember[key] = list
}
