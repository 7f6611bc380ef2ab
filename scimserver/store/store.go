// Package store is the one place where SCIM resources map to and from custom
// resources (ScimUser, ScimGroup).
//
// Reads come from the manager's informer cache and its field indexes; writes
// go to the API server with optimistic concurrency, and wait until the cache
// has seen them, so the next read on this replica sees the write
// (read-your-writes). Case-insensitive uniqueness of userName and group
// displayName is decided in memory by the single replica that writes (see
// unique.go): one API write per create.
package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/membership"
	"github.com/scim-operator/scim-operator/internal/metrics"
	"github.com/scim-operator/scim-operator/scimserver/patch"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// Store reads and writes SCIM resources as custom resources.
type Store struct {
	// Client reads from the informer cache and writes to the API server.
	Client client.Client
	// Members is the reverse membership index behind a user's groups and
	// `members eq` filters; writes of groups wait until it has seen them.
	Members *membership.Index
	// APIReader reads from the API server directly; used after a write
	// conflict, when the cache may still hold the old object.
	APIReader client.Reader
	// SyncTimeout bounds how long a write waits for the cache to see it.
	SyncTimeout time.Duration
	// Now is the clock (tests replace it).
	Now func() time.Time

	// Recorder emits an Event for SCIM writes; nil records none.
	Recorder events.EventRecorder
	// EventRate bounds the Created and Updated Events of one directory, per
	// second, with bursts of EventBurst; 0 leaves them unbounded (see event).
	EventRate  float64
	EventBurst int
	// ShardGrace is how long the group controller leaves member shards that
	// no group lists (membership.DefaultGrace if zero); a write must commit
	// the shards it creates well within it.
	ShardGrace time.Duration

	// locks queues this replica's writes to one object (see objectLocks).
	locks objectLocks
	names names
	guard deletionGuard
	// recent holds group writes answered before the cache showed them.
	recent recentGroups
	// order holds each directory's sorted ids once the informers feed it
	// (EnableOrder); until then unfiltered pages read the whole cache.
	order   order
	ordered bool
	// entries holds users' `groups` elements across responses.
	entries groupEntries

	eventMu     sync.Mutex
	eventLimits map[string]*rate.Limiter

	lastWrite atomic.Int64 // unix nanoseconds
}

// noteWrite records that a SCIM write began (see LastWrite).
func (s *Store) noteWrite() { s.lastWrite.Store(time.Now().UnixNano()) }

// LastWrite is when a SCIM write last began on this replica; zero if none
// has. The user controller holds routine status writes back while writes
// keep coming.
func (s *Store) LastWrite() time.Time {
	if n := s.lastWrite.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// EnableOrder is called once OrderHandler feeds the informers of users and
// groups, before the store serves requests.
func (s *Store) EnableOrder() { s.ordered = true }

// Dir is the directory a request addresses.
type Dir struct {
	Name      string
	Namespace string
	// BaseURL is the absolute SCIM base URL, e.g. https://host/scim/v2/default.
	BaseURL string
}

// maxConflictRetries bounds how often a write is re-applied to a fresh object.
const maxConflictRetries = 10

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Get returns the resource with the given id.
func (s *Store) Get(ctx context.Context, d Dir, k *Kind, id string) (map[string]any, error) {
	s.settle(ctx, d)
	obj, err := s.get(ctx, s.Client, d, k, id, readOnly)
	if err != nil {
		return nil, err
	}
	return s.render(ctx, d, k, obj)
}

// Version returns the ETag of a resource: its generation, which moves with
// every change of the spec (the SCIM attributes) and with nothing else. The
// resourceVersion would also move when a controller writes status, which it
// does right after most SCIM writes, so an IdP sending back the ETag it just
// received would be refused with 412 for a change it cannot see. For the
// same reason the compactions of a large group's member shards do not count
// (membership.Version).
func Version(obj client.Object) string {
	return `W/"` + strconv.FormatInt(membership.Version(obj), 10) + `"`
}

func (s *Store) get(ctx context.Context, r client.Reader, d Dir, k *Kind, id string, opts ...client.GetOption) (client.Object, error) {
	if !validID(id) {
		// Okta sends ids it made up: they are unknown, not malformed.
		return nil, notFound(k, id)
	}
	obj := k.newObj()
	key := client.ObjectKey{Namespace: d.Namespace, Name: id}
	err := r.Get(ctx, key, obj, opts...)
	if apierrors.IsNotFound(err) && r == s.Client && s.APIReader != nil {
		// The cache may not show a create yet: after a write the store
		// waits only SyncTimeout for it, and under heavy load (a bulk
		// import) the watch can lag longer. Entra PATCHes a group's
		// members right after creating it; that must not get 404.
		err = s.APIReader.Get(ctx, key, obj)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, notFound(k, id)
		}
		return nil, apiError(err)
	}
	if obj.GetDeletionTimestamp() != nil {
		return nil, notFound(k, id)
	}
	return obj, nil
}

// readOnly reads from the cache without a deep copy: the object shares its
// maps and slices with the cache and must not be modified. Rendering only
// reads, and a page of 100 users deep-copied 100 objects for nothing.
var readOnly = client.UnsafeDisableDeepCopy

func notFound(k *Kind, id string) error {
	return scimerr.NotFound("%s %q not found", k.RT.ID, id)
}

// validID accepts what this server generates: lower-case UUIDs.
func validID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, c := range id {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// Create stores a new resource. res must be normalised and validated.
func (s *Store) Create(ctx context.Context, d Dir, k *Kind, res map[string]any) (map[string]any, error) {
	s.noteWrite()
	obj := k.newObj()
	if err := k.fromSCIM(res, obj); err != nil {
		return nil, err
	}
	id := string(uuid.NewUUID())
	obj.SetName(id)
	obj.SetNamespace(d.Namespace)
	obj.SetLabels(map[string]string{identityv1alpha1.DirectoryLabel: d.Name})
	if k == Users {
		// Set here, not by the controller, so a user deleted right after its
		// creation is still held until its sessions are revoked.
		obj.SetFinalizers([]string{identityv1alpha1.RevocationFinalizer})
	}
	s.stamp(obj)
	if err := s.checkWrite(ctx, d, k, nil, obj); err != nil {
		return nil, err
	}
	release, err := s.reserve(ctx, d, k, k.uniqueName(obj), id)
	if err != nil {
		return nil, err
	}
	if err := s.Client.Create(ctx, obj); err != nil {
		// After a timeout the object may exist: the reservation lingers so
		// that a quick retry gets 409 instead of a duplicate.
		release(definiteFailure(err))
		return nil, apiError(err)
	}
	release(s.waitSynced(ctx, k, obj, false))
	recordWrite(ctx, k, obj, false)
	s.event(obj, "Created", "Created through SCIM")
	return s.render(ctx, d, k, obj)
}

// Replace implements PUT: the resource becomes res, with the same id.
func (s *Store) Replace(ctx context.Context, d Dir, k *Kind, id string, res map[string]any, ifMatch string) (map[string]any, error) {
	s.noteWrite()
	if k == Groups {
		return s.replaceGroup(ctx, d, id, res, ifMatch)
	}
	return s.update(ctx, d, k, id, ifMatch, func(map[string]any) (map[string]any, error) { return res, nil })
}

// Patch implements PATCH: the operations are applied to the current resource;
// after a write conflict they are applied again to the fresh object, so
// concurrent PATCHes never lose each other's changes.
func (s *Store) Patch(ctx context.Context, d Dir, k *Kind, id string, ops []patch.Operation, ifMatch string) (map[string]any, error) {
	s.noteWrite()
	if k == Groups {
		return s.patchGroup(ctx, d, id, ops, ifMatch)
	}
	return s.update(ctx, d, k, id, ifMatch, func(cur map[string]any) (map[string]any, error) {
		out, err := patch.Apply(k.RT, cur, ops)
		if err != nil {
			return nil, err
		}
		if err := schema.Validate(k.RT, out); err != nil {
			return nil, err
		}
		return out, nil
	})
}

// update reads the current object, computes the new resource with change and
// writes it, retrying on conflict; with If-Match, only as long as the version
// (generation) still matches, so a status write never causes a 412.
func (s *Store) update(ctx context.Context, d Dir, k *Kind, id, ifMatch string, change func(map[string]any) (map[string]any, error)) (map[string]any, error) {
	unlock, err := s.locks.lock(ctx, d.Namespace+"/"+id)
	if err != nil {
		return nil, &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "the request was cancelled while waiting for concurrent updates; retry", RetryAfter: 1}
	}
	defer unlock()
	var reader client.Reader = s.Client
	admitted := false // the deletion guard counts a deactivation once, not per retry
	for attempt := 0; ; attempt++ {
		cur, err := s.get(ctx, reader, d, k, id)
		if err != nil {
			return nil, err
		}
		if !matches(ifMatch, cur) {
			return nil, preconditionFailed(cur)
		}
		curRes, err := k.toSCIM(cur)
		if err != nil {
			return nil, err
		}
		newRes, err := change(curRes)
		if err != nil {
			return nil, err
		}
		next := cur.DeepCopyObject().(client.Object)
		if err := k.fromSCIM(newRes, next); err != nil {
			return nil, err
		}
		if equalSpec(k, cur, next) {
			s.settle(ctx, d) // the answer renders the user's groups
			return s.render(ctx, d, k, cur)
		}
		s.stamp(next)
		if err := s.checkWrite(ctx, d, k, cur, next); err != nil {
			return nil, err
		}
		deactivating := deactivation(cur, next)
		if deactivating && !admitted {
			if err := s.admit(ctx, d); err != nil {
				return nil, err
			}
			admitted = true
		}
		release := func(bool) {}
		if newName := k.uniqueName(next); fold(k.uniqueName(cur)) != fold(newName) {
			if release, err = s.reserve(ctx, d, k, newName, id); err != nil {
				return nil, err
			}
		}
		err = s.Client.Update(ctx, next)
		if err == nil {
			release(s.waitSynced(ctx, k, next, false))
			recordWrite(ctx, k, next, false)
			if deactivating {
				s.event(next, "Deactivated", "Deactivated through SCIM")
			} else {
				s.event(next, "Updated", "Updated through SCIM")
			}
			// After the write, not before it: a deactivation must not wait
			// for a group write of the directory to reach the cache.
			s.settle(ctx, d)
			return s.render(ctx, d, k, next)
		}
		release(definiteFailure(err))
		if !apierrors.IsConflict(err) {
			return nil, apiError(err)
		}
		countConflict(k, err)
		// Someone else wrote the object since it was read: a status update,
		// or a change of the spec. Read it again; with If-Match, the check
		// at the top then answers 412 if the spec (its version) moved on.
		if attempt >= maxConflictRetries {
			return nil, &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "too many concurrent updates; retry", RetryAfter: 1}
		}
		// The cache may lag behind the write that beat us: read the API
		// server, after a short random pause so that writers on other
		// replicas do not collide again in lockstep.
		reader = s.APIReader
		select {
		case <-ctx.Done():
			return nil, &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "the request was cancelled; retry", RetryAfter: 1}
		case <-time.After(rand.N(time.Duration(attempt+1) * 5 * time.Millisecond)):
		}
	}
}

// Delete removes a resource. With If-Match, the object is deleted only if
// its resourceVersion is still the one whose version (generation) was
// checked; a conflict caused by a status write is retried.
func (s *Store) Delete(ctx context.Context, d Dir, k *Kind, id, ifMatch string) error {
	s.noteWrite()
	if k == Groups {
		s.settle(ctx, d) // If-Match is checked against the cached version
	}
	var reader client.Reader = s.Client
	for attempt := 0; ; attempt++ {
		cur, err := s.get(ctx, reader, d, k, id)
		if err != nil {
			return err
		}
		if !matches(ifMatch, cur) {
			return preconditionFailed(cur)
		}
		if attempt == 0 {
			if err := s.admit(ctx, d); err != nil {
				return err
			}
		}
		uid := cur.GetUID()
		pre := metav1.Preconditions{UID: &uid}
		if ifMatch != "" && ifMatch != "*" {
			rv := cur.GetResourceVersion()
			pre.ResourceVersion = &rv
		}
		err = s.Client.Delete(ctx, cur, &client.DeleteOptions{Preconditions: &pre})
		switch {
		case err == nil:
			s.event(cur, "Deleted", "Deleted through SCIM")
			s.waitSynced(ctx, k, cur, true)
			recordWrite(ctx, k, cur, true)
			return nil
		case apierrors.IsNotFound(err):
			return notFound(k, id)
		case !apierrors.IsConflict(err):
			return apiError(err)
		case attempt >= maxConflictRetries:
			return &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "too many concurrent updates; retry", RetryAfter: 1}
		}
		countConflict(k, err)
		reader = s.APIReader
	}
}

// deactivation reports whether a write turns an active user inactive.
func deactivation(cur, next client.Object) bool {
	a, ok1 := cur.(*identityv1alpha1.ScimUser)
	b, ok2 := next.(*identityv1alpha1.ScimUser)
	return ok1 && ok2 && a.Spec.IsActive() && !b.Spec.IsActive()
}

// stamp records meta.lastModified.
func (s *Store) stamp(obj client.Object) {
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[identityv1alpha1.LastModifiedAnnotation] = s.now().UTC().Format(time.RFC3339Nano)
	obj.SetAnnotations(ann)
}

// equalSpec reports whether a write would change nothing, so it can be skipped.
func equalSpec(k *Kind, a, b client.Object) bool {
	return equality.Semantic.DeepEqual(k.spec(a), k.spec(b))
}

// matches reports whether an If-Match header value accepts the object.
func matches(ifMatch string, obj client.Object) bool {
	if ifMatch == "" {
		return true
	}
	for _, tag := range strings.Split(ifMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || etagValue(tag) == strconv.FormatInt(membership.Version(obj), 10) {
			return true
		}
	}
	return false
}

// etagValue strips the weak prefix and quotes from an entity tag.
func etagValue(tag string) string {
	tag = strings.TrimPrefix(tag, "W/")
	return strings.Trim(tag, `"`)
}

// NoneMatch reports whether an If-None-Match header value names the
// resource's current version (a GET then answers 304).
func NoneMatch(ifNoneMatch, version string) bool {
	for _, tag := range strings.Split(ifNoneMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || (tag != "" && etagValue(tag) == etagValue(version)) {
			return true
		}
	}
	return false
}

func preconditionFailed(obj client.Object) error {
	return scimerr.New(http.StatusPreconditionFailed, "", "If-Match does not match the current version %s", Version(obj))
}

// waitSynced waits until the cache holds obj's resource version (or, for a
// delete, no longer holds obj), and reports whether it does. It gives up
// quietly after SyncTimeout: the write itself has succeeded.
func (s *Store) waitSynced(ctx context.Context, k *Kind, obj client.Object, deleted bool) bool {
	timeout := s.SyncTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	key := client.ObjectKeyFromObject(obj)
	err := wait.PollUntilContextTimeout(ctx, time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		cached := k.newObj()
		// Polled every millisecond: only metadata is read, nothing copied.
		err := s.Client.Get(ctx, key, cached, client.UnsafeDisableDeepCopy)
		// Users' groups are read from the membership index, which follows
		// the cache a moment later: a group write waits for it too.
		skipIndex := k != Groups || s.Members == nil
		if apierrors.IsNotFound(err) {
			return deleted && (skipIndex || s.Members.Deleted(key.Namespace, key.Name)), nil
		}
		if err != nil {
			return false, nil
		}
		if deleted {
			// A finalizer may hold the object: being deleted is enough.
			return cached.GetDeletionTimestamp() != nil && (skipIndex || s.Members.Deleted(key.Namespace, key.Name)), nil
		}
		if olderThan(cached, obj) {
			return false, nil
		}
		return skipIndex || s.Members.Synced(key.Namespace, key.Name, cached.GetResourceVersion()), nil
	})
	return err == nil
}

// countConflict counts a write that is applied again after err, when err is
// an optimistic-concurrency conflict.
func countConflict(k *Kind, err error) {
	if apierrors.IsConflict(err) {
		metrics.SCIMWriteConflicts.WithLabelValues(k.Endpoint).Inc()
	}
}

// definiteFailure reports whether the API server surely did not apply a write.
func definiteFailure(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err) ||
		apierrors.IsAlreadyExists(err) || apierrors.IsRequestEntityTooLargeError(err) || apierrors.IsConflict(err)
}

// apiError turns an API server error into a SCIM error. Anything the client
// cannot fix is answered 503 with Retry-After: identity providers retry those
// and quarantine endpoints that answer 500.
func apiError(err error) error {
	if e, ok := scimerr.As(err); ok {
		return e
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		st := status.Status()
		switch {
		case apierrors.IsInvalid(err):
			msgs := []string{}
			if st.Details != nil {
				for _, c := range st.Details.Causes {
					msgs = append(msgs, strings.TrimPrefix(c.Field, "spec.")+": "+c.Message)
				}
			}
			if len(msgs) == 0 {
				msgs = append(msgs, st.Message)
			}
			return scimerr.BadRequest(scimerr.InvalidValue, "%s", strings.Join(msgs, "; "))
		case apierrors.IsRequestEntityTooLargeError(err):
			return scimerr.New(http.StatusRequestEntityTooLarge, "", "the resource is too large to store")
		case apierrors.IsBadRequest(err):
			return scimerr.BadRequest(scimerr.InvalidValue, "%s", st.Message)
		}
	}
	return &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "the Kubernetes API server is unavailable; retry later", RetryAfter: 5}
}

func fold(s string) string { return strings.ToLower(s) }
