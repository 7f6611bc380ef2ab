package store

import (
	"context"
	"sync"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// Uniqueness of userName and group displayName (case-insensitive, per
// directory) is decided in memory, by the one replica that writes SCIM
// resources (the leader; the others forward writes to it, see
// scimserver.Forwarder). A name is taken when the informer cache holds a live
// object with it, or when a write of this replica has reserved it and the
// cache does not show that write yet. Checking and reserving happen under one
// mutex, so of two concurrent POSTs of one userName exactly one goes ahead.
//
// The earlier design reserved every name with a claim Lease: correct with any
// number of writers, but a second API write per create, which halved create
// throughput. A single writer needs no claim: its cache holds every write
// it made (read-your-writes) and, after a fail-over, every write of the
// previous leader, whose lease expired seconds before the new leader was
// elected (see docs/architecture.md, "One writer").

// reservationLinger is how long a name stays reserved after a write whose
// outcome or cache arrival is unknown (a timeout): long enough for the cache
// to show the object if the API server applied the write.
const reservationLinger = time.Minute

// names holds the reservations of in-flight writes, by directory namespace,
// kind and folded name.
type names struct {
	mu   sync.Mutex
	held map[string]string // key → id of the reserving object
}

func nameKey(d Dir, k *Kind, name string) string {
	return d.Namespace + "/" + k.Endpoint + "/" + fold(name)
}

// reserve takes name for the object id, or fails with 409 uniqueness when a
// live object or another in-flight write has it. The caller must call the
// returned release once the outcome of its write is known.
func (s *Store) reserve(ctx context.Context, d Dir, k *Kind, name, id string) (release func(settled bool), err error) {
	key := nameKey(d, k, name)
	s.names.mu.Lock()
	defer s.names.mu.Unlock()
	if other, ok := s.names.held[key]; ok && other != id {
		return nil, duplicate(k, name)
	}
	owner, err := s.ownerInCache(ctx, d, k, name)
	if err != nil {
		return nil, apiError(err)
	}
	if owner != "" && owner != id {
		return nil, duplicate(k, name)
	}
	if s.names.held == nil {
		s.names.held = map[string]string{}
	}
	s.names.held[key] = id
	drop := func() {
		s.names.mu.Lock()
		if s.names.held[key] == id {
			delete(s.names.held, key)
		}
		s.names.mu.Unlock()
	}
	// settled: the write surely failed, or the cache shows its result; the
	// cache answers for the name from now on. Otherwise the reservation
	// lingers until the cache has surely caught up.
	return func(settled bool) {
		if settled {
			drop()
			return
		}
		time.AfterFunc(reservationLinger, drop)
	}, nil
}

// ownerInCache returns the id of a cached live object that already has name.
func (s *Store) ownerInCache(ctx context.Context, d Dir, k *Kind, name string) (string, error) {
	objs, err := s.lookup(ctx, d, k, k.uniqueIndex, fold(name))
	if err != nil {
		return "", err
	}
	for _, o := range objs {
		if o.GetDeletionTimestamp() == nil {
			return o.GetName(), nil
		}
	}
	return "", nil
}

func duplicate(k *Kind, name string) error {
	return scimerr.Conflict("a %s with %s %q already exists in this directory", k.RT.ID, k.uniqueAttr, name)
}
