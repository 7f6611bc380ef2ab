package controllers

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// setStatus records the outcome of a reconcile in the binding's conditions.
func (r *BindingReconciler) setStatus(s *bindingScope, err error) {
	b := s.binding
	status := b.BindingStatus()
	gen := b.GetGeneration()
	r.setGroupsResolvedCondition(s)
	switch {
	case err != nil:
		setReady(&status.Conditions, gen, false, identityv1alpha1.ReasonApplyFailed, err.Error())
		return
	case s.expired:
		status.BoundUsers, status.UnresolvedGroups, status.UnresolvedUsers = 0, nil, nil
		setReady(&status.Conditions, gen, false, identityv1alpha1.ReasonExpired,
			"Access expired at "+b.BindingSpec().ExpiresAt.UTC().Format("2006-01-02T15:04:05Z")+"; the RBAC objects were removed")
	case s.dir == nil:
		status.BoundUsers = 0
		setReady(&status.Conditions, gen, false, identityv1alpha1.ReasonDirectoryNotFound,
			"ScimDirectory "+b.BindingSpec().Directory+" does not exist; nothing is granted")
	case !s.roleFound:
		ref := b.BindingSpec().RoleRef
		setReady(&status.Conditions, gen, false, identityv1alpha1.ReasonRoleNotFound,
			fmt.Sprintf("%s %s does not exist; the binding grants nothing until it does", ref.Kind, ref.Name))
	default:
		setReady(&status.Conditions, gen, true, identityv1alpha1.ReasonBound,
			fmt.Sprintf("%d users bound through %d objects: %s", status.BoundUsers, len(status.Objects), strings.Join(status.Objects, ", ")))
	}
	status.ObservedGeneration = gen
}

// setGroupsResolvedCondition says whether every reference matched and
// whether nested groups form a cycle.
func (r *BindingReconciler) setGroupsResolvedCondition(s *bindingScope) {
	status := s.binding.BindingStatus()
	cond := metav1.Condition{
		Type: identityv1alpha1.GroupsResolvedCondition, Status: metav1.ConditionTrue,
		Reason: identityv1alpha1.ReasonResolved, Message: "Every group and user reference matched",
		ObservedGeneration: s.binding.GetGeneration(),
	}
	var missing []string
	missing = append(missing, status.UnresolvedGroups...)
	missing = append(missing, status.UnresolvedUsers...)
	switch {
	case len(missing) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, identityv1alpha1.ReasonGroupsNotFound
		cond.Message = "No match in the directory for: " + strings.Join(missing, ", ")
	case s.cycle != nil:
		cond.Reason = identityv1alpha1.ReasonMembershipCycle
		cond.Message = "Nested groups form a cycle (" + strings.Join(s.cycle, " -> ") + "); each group is counted once"
	}
	meta.SetStatusCondition(&status.Conditions, cond)
}

// recordChange emits an Event when what the binding grants changed.
func (r *BindingReconciler) recordChange(b identityv1alpha1.ScimBinding, before *identityv1alpha1.ScimBindingStatus) {
	after := b.BindingStatus()
	ready := meta.FindStatusCondition(after.Conditions, identityv1alpha1.ReadyCondition)
	if ready == nil {
		return
	}
	was := meta.FindStatusCondition(before.Conditions, identityv1alpha1.ReadyCondition)
	if was != nil && was.Reason == ready.Reason && before.BoundUsers == after.BoundUsers &&
		len(before.UnresolvedGroups)+len(before.UnresolvedUsers) == len(after.UnresolvedGroups)+len(after.UnresolvedUsers) {
		return
	}
	typ := corev1.EventTypeNormal
	if ready.Status != metav1.ConditionTrue {
		typ = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(b, nil, typ, ready.Reason, "Reconcile", "%s", ready.Message)
	if len(after.UnresolvedGroups)+len(after.UnresolvedUsers) > 0 {
		r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, identityv1alpha1.ReasonGroupsNotFound, "Resolve",
			"No match in directory %s for: %s", b.BindingSpec().Directory, strings.Join(append(after.UnresolvedGroups, after.UnresolvedUsers...), ", "))
	}
}
