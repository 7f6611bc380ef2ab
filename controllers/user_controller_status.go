package controllers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/metrics"
)

// setReadyCondition sets Ready (whose reason is the STATUS column: Active,
// Revoking or Revoked) and SessionsRevoked.
func (r *UserReconciler) setReadyCondition(s *userScope) {
	u := s.user
	st := &u.Status
	gen := u.Generation
	switch {
	case s.dir == nil:
		setReady(&st.Conditions, gen, false, identityv1alpha1.ReasonDirectoryNotFound,
			"directory "+u.Labels[identityv1alpha1.DirectoryLabel]+" does not exist")
		return
	case st.SessionsRevokedAt != nil:
		setReady(&st.Conditions, gen, true, identityv1alpha1.ReasonRevoked, revokedMessage(u))
	case st.DeactivatedAt != nil:
		setReady(&st.Conditions, gen, false, identityv1alpha1.ReasonRevoking,
			"Waiting for bindings and app accounts to drop the user; the authorization webhook already denies them")
	default:
		setReady(&st.Conditions, gen, true, identityv1alpha1.ReasonActive, "User is active")
	}
	st.ObservedGeneration = gen
	cond := metav1.Condition{Type: identityv1alpha1.SessionsRevokedCondition, ObservedGeneration: gen}
	switch {
	case st.SessionsRevokedAt != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, identityv1alpha1.ReasonRevoked, revokedMessage(u)
	case st.DeactivatedAt != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, identityv1alpha1.ReasonRevoking, "Revocation under way"
	case st.ReactivatedAt != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, identityv1alpha1.ReasonReactivated,
			"Access restored at "+st.ReactivatedAt.UTC().Format(time.RFC3339)
	default:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, identityv1alpha1.ReasonActive, "User is active"
	}
	meta.SetStatusCondition(&st.Conditions, cond)
}

func revokedMessage(u *identityv1alpha1.ScimUser) string {
	why := "deactivated by the identity provider"
	if !u.DeletionTimestamp.IsZero() {
		why = "deleted by the identity provider"
	}
	return "User " + why + "; sessions revoked at " + u.Status.SessionsRevokedAt.UTC().Format(time.RFC3339)
}

// requestTime is when the SCIM request that deactivated or deleted the user
// arrived: the store stamps lastModified with every write; a deletion is
// dated by its deletionTimestamp (whole seconds).
func requestTime(u *identityv1alpha1.ScimUser) time.Time {
	if !u.DeletionTimestamp.IsZero() {
		return u.DeletionTimestamp.Time
	}
	if t, err := time.Parse(time.RFC3339Nano, u.Annotations[identityv1alpha1.LastModifiedAnnotation]); err == nil {
		return t
	}
	return u.Status.DeactivatedAt.Time
}

func (r *UserReconciler) recordRevoked(s *userScope) {
	u := s.user
	dir := u.Labels[identityv1alpha1.DirectoryLabel]
	took := u.Status.SessionsRevokedAt.Sub(requestTime(u))
	metrics.TimeToRevoke.WithLabelValues(dir).Observe(max(took, 0).Seconds())
	metrics.Revocations.WithLabelValues(dir, "revoked").Inc()
	r.Recorder.Eventf(u, nil, corev1.EventTypeNormal, identityv1alpha1.ReasonRevoked, "Revoke",
		"Sessions revoked %s after the identity provider's request: the authorization webhook denies the user, no managed binding names them, app accounts are suspended",
		took.Round(time.Millisecond))
}

func (r *UserReconciler) recordRestored(s *userScope) {
	u := s.user
	metrics.Revocations.WithLabelValues(u.Labels[identityv1alpha1.DirectoryLabel], "restored").Inc()
	r.Recorder.Eventf(u, nil, corev1.EventTypeNormal, identityv1alpha1.ReasonReactivated, "Restore",
		"User reactivated by the identity provider; access restored")
}
