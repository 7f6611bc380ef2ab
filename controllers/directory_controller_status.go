package controllers

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/metrics"
	"github.com/scim-operator/scim-operator/internal/token"
)

// setDeletionGuardCondition reports whether the deletion guard refuses
// deletions and deactivations (the SCIM server marks a trip with an
// annotation; an administrator's release annotation ends it).
func (r *DirectoryReconciler) setDeletionGuardCondition(dir *identityv1alpha1.ScimDirectory, before *identityv1alpha1.ScimDirectoryStatus) {
	tripped, _ := time.Parse(time.RFC3339, dir.Annotations[identityv1alpha1.DeletionGuardTrippedAnnotation])
	released, _ := time.Parse(time.RFC3339, dir.Annotations[identityv1alpha1.DeletionGuardReleaseAnnotation])
	cond := metav1.Condition{Type: identityv1alpha1.DeletionGuardCondition, ObservedGeneration: dir.Generation,
		Status: metav1.ConditionFalse, Reason: identityv1alpha1.ReasonReleased, Message: "Deletions and deactivations are allowed"}
	if dir.Spec.DeletionGuard == nil {
		meta.RemoveStatusCondition(&dir.Status.Conditions, identityv1alpha1.DeletionGuardCondition)
		return
	}
	if !tripped.IsZero() && released.Before(tripped) {
		cond.Status, cond.Reason = metav1.ConditionTrue, identityv1alpha1.ReasonTripped
		cond.Message = "More than " + strconv.Itoa(int(dir.Spec.DeletionGuard.MaxOperations)) + " deletions and deactivations within " +
			dir.Spec.DeletionGuard.Window.Duration.String() + "; further ones are refused until an administrator sets the annotation " +
			identityv1alpha1.DeletionGuardReleaseAnnotation + " to the current time"
		if !meta.IsStatusConditionTrue(before.Conditions, identityv1alpha1.DeletionGuardCondition) {
			r.Recorder.Eventf(dir, nil, corev1.EventTypeWarning, identityv1alpha1.ReasonTripped, "Guard", "%s", cond.Message)
		}
	}
	meta.SetStatusCondition(&dir.Status.Conditions, cond)
}

// setTokensExpiringCondition reports tokens that expire within a week (or
// have expired) and returns when to look again.
func (r *DirectoryReconciler) setTokensExpiringCondition(ctx context.Context, dir *identityv1alpha1.ScimDirectory, before *identityv1alpha1.ScimDirectoryStatus) (time.Duration, error) {
	var secrets corev1.SecretList
	if err := r.Client.List(ctx, &secrets, client.InNamespace(dir.Spec.Namespace), client.MatchingLabels{
		identityv1alpha1.TokenLabel: "true", identityv1alpha1.DirectoryLabel: dir.Name,
	}); err != nil {
		return 0, err
	}
	now := time.Now()
	var expiring []string
	var next time.Duration
	metrics.TokenExpiry.DeletePartialMatch(prometheus.Labels{"directory": dir.Name})
	for i := range secrets.Items {
		exp := token.Expiry(&secrets.Items[i])
		if exp.IsZero() {
			continue
		}
		name := secrets.Items[i].Labels[identityv1alpha1.TokenNameLabel]
		metrics.TokenExpiry.WithLabelValues(dir.Name, name).Set(float64(exp.Unix()))
		switch warnAt := exp.Add(-token.ExpiringWithin); {
		case !now.Before(exp):
			expiring = append(expiring, name+" (expired)")
		case !now.Before(warnAt):
			expiring = append(expiring, name+" (expires "+exp.UTC().Format(time.RFC3339)+")")
			next = minPositive(next, exp.Sub(now))
		default:
			next = minPositive(next, warnAt.Sub(now))
		}
	}
	sort.Strings(expiring)
	cond := metav1.Condition{Type: identityv1alpha1.TokensExpiringCondition, ObservedGeneration: dir.Generation,
		Status: metav1.ConditionFalse, Reason: identityv1alpha1.ReasonValid, Message: "No token expires within a week"}
	if len(expiring) > 0 {
		cond.Status, cond.Reason = metav1.ConditionTrue, identityv1alpha1.ReasonExpiring
		cond.Message = "Rotate: " + strings.Join(expiring, ", ")
		if was := meta.FindStatusCondition(before.Conditions, cond.Type); was == nil || was.Message != cond.Message {
			r.Recorder.Eventf(dir, nil, corev1.EventTypeWarning, identityv1alpha1.ReasonExpiring, "Check", "Tokens expire soon or have expired: %s", strings.Join(expiring, ", "))
		}
	}
	meta.SetStatusCondition(&dir.Status.Conditions, cond)
	return next, nil
}

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}
