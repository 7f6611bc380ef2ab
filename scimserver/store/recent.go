package store

import (
	"context"
	"strconv"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// recentGroups holds the groups this replica wrote and answered before its
// cache showed them. Only writes that add members qualify (see
// groupWrite.early): an identity provider filling a 100,000-member group
// sends 1,000 PATCHes in a row, and waiting for the watch after each one was
// a fifth of every request on that chain. Read-your-writes still holds:
//
//   - the next write of the same group starts from the object written here
//     when the cache is behind it (writeGroup);
//   - every read that could see the group or the membership index — a GET,
//     a list or filter, the user a user write answers with (its groups), a
//     group delete's precondition — first waits until the cache shows all
//     of the directory's recent groups (settle), which is what the write
//     used to wait for. A user write settles after its own write, so a
//     deactivation never waits for a group fill.
//
// Writes that remove members keep waiting before they answer, so the
// authorization webhook, which reads the same cache, already denies what a
// removal took away when the identity provider gets its answer.
type recentGroups struct {
	mu sync.Mutex
	m  map[client.ObjectKey]*identityv1alpha1.ScimGroup
}

func (r *recentGroups) put(g *identityv1alpha1.ScimGroup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[client.ObjectKey]*identityv1alpha1.ScimGroup{}
	}
	r.m[client.ObjectKeyFromObject(g)] = g
}

// newer returns the recent write of key when it is newer than cached (nil
// when the cache has caught up or there is none). The result is shared:
// read it, never modify it.
func (r *recentGroups) newer(key client.ObjectKey, cached client.Object) *identityv1alpha1.ScimGroup {
	r.mu.Lock()
	g := r.m[key]
	r.mu.Unlock()
	if g == nil || !olderThan(cached, g) {
		return nil
	}
	return g
}

// inNamespace returns the recent writes of one directory.
func (r *recentGroups) inNamespace(ns string) []*identityv1alpha1.ScimGroup {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*identityv1alpha1.ScimGroup
	for k, g := range r.m {
		if k.Namespace == ns {
			out = append(out, g)
		}
	}
	return out
}

// drop forgets g unless a later write of the same group replaced it.
func (r *recentGroups) drop(g *identityv1alpha1.ScimGroup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := client.ObjectKeyFromObject(g)
	if r.m[key] == g {
		delete(r.m, key)
	}
}

// olderThan reports whether a is older than b by resource version. The API
// server calls resource versions opaque, but etcd's increase monotonically,
// and comparing them is what makes waiting for "this write or a later one"
// possible.
func olderThan(a, b client.Object) bool {
	av, _ := strconv.ParseUint(a.GetResourceVersion(), 10, 64)
	bv, _ := strconv.ParseUint(b.GetResourceVersion(), 10, 64)
	return av < bv
}

// settle waits until the cache and the membership index show every group of
// directory d that this replica wrote without waiting (bounded by
// SyncTimeout each, as the writes themselves were before). A group deleted
// by other means than SCIM before any read settled it costs one such wait.
func (s *Store) settle(ctx context.Context, d Dir) {
	for _, g := range s.recent.inNamespace(d.Namespace) {
		s.waitSynced(ctx, Groups, g, false)
		s.recent.drop(g)
	}
}
