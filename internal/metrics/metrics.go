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
//	scim_operator_scim_requests_total                    counter    labels: directory, resource, method, status
//	    SCIM requests served, refused ones included (directory is empty when
//	    the request named no known directory or failed authentication).
//	scim_operator_scim_request_duration_seconds          histogram  labels: directory, resource, method
//	    Time to serve a SCIM request.
//	scim_operator_scim_forwarded_requests_total          counter    labels: result
//	    SCIM writes this replica passed on to the writing replica (the
//	    leader): "forwarded", "error" (unreachable) or "no-writer" (answered
//	    503 during a leader change).
//	scim_operator_users                                  gauge      labels: directory, state
//	    Users per state: "active", "inactive" (revocation under way) and "revoked".
//	scim_operator_groups                                 gauge      labels: directory
//	    Groups per directory.
//	scim_operator_token_expiry_timestamp_seconds         gauge      labels: directory, token
//	    When each expiring token stops working (Unix seconds).
//	scim_operator_app_accounts                           gauge      labels: app_namespace, app, state
//	    App accounts per state: "Provisioned", "Suspended", "Failed".
//	scim_operator_app_sync_duration_seconds              histogram  labels: provisioner, result
//	    Time to apply one account to its app; result is "success" or "failure".
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
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1, 2, 5, 10, 30, 60},
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

	// SCIMRequests counts SCIM requests.
	SCIMRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scim_operator_scim_requests_total",
		Help: "SCIM requests served, by directory, resource type, method and HTTP status.",
	}, []string{"directory", "resource", "method", "status"})

	// SCIMRequestDuration measures SCIM requests.
	SCIMRequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "scim_operator_scim_request_duration_seconds",
		Help:    "Seconds to serve a SCIM request.",
		Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
	}, []string{"directory", "resource", "method"})

	// SCIMForwarded counts writes passed on to the writing replica.
	SCIMForwarded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scim_operator_scim_forwarded_requests_total",
		Help: "SCIM writes this replica passed on to the writing replica (the leader), by result.",
	}, []string{"result"})

	// SCIMEventsSkipped counts Created/Updated Events of SCIM writes left
	// out above the per-directory Event rate (the audit log has every write).
	SCIMEventsSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scim_operator_scim_events_skipped_total",
		Help: "Created and Updated Events of SCIM writes not emitted because the directory exceeded -scim-event-rate (bulk imports); the audit log still has one line per request.",
	}, []string{"directory", "reason"})

	// SCIMWriteConflicts counts SCIM writes that met a newer version of
	// their object and were applied again to it.
	SCIMWriteConflicts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scim_operator_scim_write_conflicts_total",
		Help: "SCIM writes re-applied to a fresh object after an optimistic-concurrency conflict (a controller or another write changed it first), by resource type. A steady rate on Groups during a fill means compaction and the identity provider's PATCHes are racing.",
	}, []string{"resource_type"})

	// Users counts users by state.
	Users = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scim_operator_users",
		Help: "Users per directory and state (active, inactive, revoked).",
	}, []string{"directory", "state"})

	// UserStatusDeferred counts users whose routine status write waits for
	// the SCIM server to pause (see controllers.deferredStatus).
	UserStatusDeferred = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "scim_operator_user_status_deferred",
		Help: "Users whose first or routine status write waits until the identity provider's SCIM writes pause (at most 30 minutes). Revocations never wait.",
	})

	// Groups counts groups.
	Groups = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scim_operator_groups",
		Help: "Groups per directory.",
	}, []string{"directory"})

	// AppAccounts counts app accounts by state.
	AppAccounts = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scim_operator_app_accounts",
		Help: "App accounts per app and state.",
	}, []string{"app_namespace", "app", "state"})

	// AppSyncDuration measures deliveries to apps.
	AppSyncDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "scim_operator_app_sync_duration_seconds",
		Help:    "Seconds to apply one account to its app, by provisioner and result.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"provisioner", "result"})

	// TokenExpiry tells when expiring tokens stop working.
	TokenExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scim_operator_token_expiry_timestamp_seconds",
		Help: "When each expiring bearer token stops working, in Unix seconds.",
	}, []string{"directory", "token"})
)

func init() {
	// Every result is exported from the start, at zero, so dashboards and
	// alerts see the series before the first leader change.
	for _, result := range []string{"forwarded", "error", "no-writer"} {
		SCIMForwarded.WithLabelValues(result)
	}
	for _, rt := range []string{"Users", "Groups"} {
		SCIMWriteConflicts.WithLabelValues(rt)
	}
	ctrlmetrics.Registry.MustRegister(TimeToRevoke, AuthorizationDuration, AuthorizationDecisions, Revocations,
		SCIMRequests, SCIMRequestDuration, SCIMForwarded, SCIMEventsSkipped, SCIMWriteConflicts, Users, UserStatusDeferred, Groups, TokenExpiry, AppAccounts, AppSyncDuration)
}
