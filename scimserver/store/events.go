package store

import (
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/metrics"
)

// event records what a SCIM write did, for `kubectl describe` and auditors.
// It names no attribute values.
//
// Each Event is one more write to the API server. During an initial sync of
// 100,000 users a Created Event per user doubled the API server's writes
// and held every Event in the recorder's memory for minutes, so Created and
// Updated Events are bounded per directory (EventRate, EventBurst); beyond
// the bound they are skipped and counted. Deactivated and Deleted Events,
// the ones that record a leaver, are always emitted. The audit log has one
// line for every request either way.
func (s *Store) event(obj client.Object, reason, note string) {
	if s.Recorder == nil {
		return
	}
	if (reason == "Created" || reason == "Updated") && !s.eventAllowed(obj) {
		metrics.SCIMEventsSkipped.WithLabelValues(obj.GetLabels()[identityv1alpha1.DirectoryLabel], reason).Inc()
		return
	}
	s.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, reason, "SCIM", "%s", note)
}

// eventAllowed takes a token from the Event bucket of obj's directory.
func (s *Store) eventAllowed(obj client.Object) bool {
	if s.EventRate <= 0 {
		return true
	}
	s.eventMu.Lock()
	defer s.eventMu.Unlock()
	ns := obj.GetNamespace()
	l, ok := s.eventLimits[ns]
	if !ok {
		if s.eventLimits == nil {
			s.eventLimits = map[string]*rate.Limiter{}
		}
		l = rate.NewLimiter(rate.Limit(s.EventRate), max(s.EventBurst, 1))
		s.eventLimits[ns] = l
		// Exported at zero from the directory's first write on, so that
		// rate() and alerts see the series before anything is skipped.
		for _, reason := range []string{"Created", "Updated"} {
			metrics.SCIMEventsSkipped.WithLabelValues(obj.GetLabels()[identityv1alpha1.DirectoryLabel], reason).Add(0)
		}
	}
	return l.Allow()
}
