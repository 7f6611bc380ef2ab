package store

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// A bulk import must not emit an Event per write, but a leaver's Events and
// another directory's Events must not be skipped because of it.
func TestEventsAreBoundedPerDirectoryExceptForLeavers(t *testing.T) {
	rec := events.NewFakeRecorder(100)
	s := &Store{Recorder: rec, EventRate: 0.001, EventBurst: 2}
	user := func(ns string) *identityv1alpha1.ScimUser {
		return &identityv1alpha1.ScimUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "u"}}
	}
	for range 5 {
		s.event(user("scim-a"), "Created", "Created through SCIM")
	}
	s.event(user("scim-a"), "Updated", "Updated through SCIM")
	s.event(user("scim-a"), "Deactivated", "Deactivated through SCIM")
	s.event(user("scim-a"), "Deleted", "Deleted through SCIM")
	s.event(user("scim-b"), "Created", "Created through SCIM")
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, e)
	}
	want := []string{
		"Normal Created Created through SCIM", "Normal Created Created through SCIM",
		"Normal Deactivated Deactivated through SCIM", "Normal Deleted Deleted through SCIM",
		"Normal Created Created through SCIM",
	}
	if len(got) != len(want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d = %q, want %q", i, got[i], want[i])
		}
	}
}
