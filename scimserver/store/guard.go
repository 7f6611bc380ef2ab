package store

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// deletionGuard counts a directory's deletions and deactivations in a
// sliding window (per replica: with several replicas the cap applies to each)
// and refuses more than ScimDirectory.spec.deletionGuard allows. Once tripped,
// it stays tripped — also across restarts and replicas, through the directory
// annotation it sets — until an administrator releases it.
type deletionGuard struct {
	mu     sync.Mutex
	recent map[string][]time.Time
}

// admit records one deletion or deactivation in directory d, or refuses it.
func (s *Store) admit(ctx context.Context, d Dir) error {
	var dir identityv1alpha1.ScimDirectory
	if err := s.Client.Get(ctx, types.NamespacedName{Name: d.Name}, &dir); err != nil {
		return apiError(err)
	}
	g := dir.Spec.DeletionGuard
	if g == nil {
		return nil
	}
	now := s.now()
	tripped, _ := time.Parse(time.RFC3339, dir.Annotations[identityv1alpha1.DeletionGuardTrippedAnnotation])
	released, _ := time.Parse(time.RFC3339, dir.Annotations[identityv1alpha1.DeletionGuardReleaseAnnotation])
	window := g.Window.Duration
	if window <= 0 {
		window = time.Hour
	}
	refuse := &scimerr.Error{Status: http.StatusServiceUnavailable, RetryAfter: int(window.Seconds()),
		Detail: fmt.Sprintf("the deletion guard of directory %s allows %d deletions and deactivations per %s and has tripped; an administrator must release it", d.Name, g.MaxOperations, window)}
	if !tripped.IsZero() && released.Before(tripped) {
		return refuse
	}

	s.guard.mu.Lock()
	if s.guard.recent == nil {
		s.guard.recent = map[string][]time.Time{}
	}
	kept := s.guard.recent[d.Name][:0]
	for _, t := range s.guard.recent[d.Name] {
		// Operations before a release do not count against the next window.
		if now.Sub(t) < window && t.After(released) {
			kept = append(kept, t)
		}
	}
	over := int32(len(kept)) >= g.MaxOperations
	if !over {
		kept = append(kept, now)
	}
	s.guard.recent[d.Name] = kept
	s.guard.mu.Unlock()
	if !over {
		return nil
	}
	patch := client.MergeFrom(dir.DeepCopy())
	if dir.Annotations == nil {
		dir.Annotations = map[string]string{}
	}
	dir.Annotations[identityv1alpha1.DeletionGuardTrippedAnnotation] = now.UTC().Format(time.RFC3339)
	if err := s.Client.Patch(ctx, &dir, patch); err != nil {
		return apiError(err)
	}
	return refuse
}
