// Package metrics defines the operator's Prometheus metrics, registered with
// controller-runtime's registry and served on the manager's metrics endpoint:
//
//	scim_operator_time_to_revoke_seconds                 histogram  labels: directory
//	    From the SCIM request that deactivated or deleted a user to the last
//	    revocation step (bindings updated, app accounts suspended).
//	scim_operator_authorization_decision_duration_seconds histogram  labels: decision
//	    Time the authorization webhook took to decide one SubjectAccessReview.
//	scim_operator_authorization_decisions_total          counter    labels: decision, reason
//	    Decisions of the authorization webhook: decision is "deny" or "no-opinion".
//	scim_operator_revocations_total                      counter    labels: directory, event
//	    Revocation lifecycle events: "revoked", "restored".
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// TimeToRevoke measures how long revocation took.
	TimeToRevoke = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "scim_operator_time_to_revoke_seconds",
		Help:    "Seconds from the SCIM request that deactivated or deleted a user to the last revocation step.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60},
	}, []string{"directory"})

	// AuthorizationDuration measures webhook decisions.
	AuthorizationDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "scim_operator_authorization_decision_duration_seconds",
		Help:    "Seconds the authorization webhook took to decide one SubjectAccessReview.",
		Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01},
	}, []string{"decision"})

	// AuthorizationDecisions counts webhook decisions.
	AuthorizationDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scim_operator_authorization_decisions_total",
		Help: "Decisions of the authorization webhook.",
	}, []string{"decision", "reason"})

	// Revocations counts revocations and restorations.
	Revocations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scim_operator_revocations_total",
		Help: "Users whose sessions were revoked or whose access was restored.",
	}, []string{"directory", "event"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(TimeToRevoke, AuthorizationDuration, AuthorizationDecisions, Revocations)
}
