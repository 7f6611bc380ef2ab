package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// otherReplica writes an object straight to the API server n times, as another replica (or a
// controller) would, so that the SCIM writes of this replica meet real resourceVersion conflicts.
// change applies one write to the fresh object; the number of writes made is returned.
func otherReplica[T client.Object](t *testing.T, key client.ObjectKey, obj T, n int, change func(i int, o T)) func() int {
	done := make(chan int, 1)
	go func() {
		made := 0
		for i := range n {
			var err error
			// Conflicts with the SCIM writes are expected; try again on the fresh object.
			for attempt := 0; attempt == 0 || apierrors.IsConflict(err) && attempt < 1000; attempt++ {
				if err = env.Client.Get(context.Background(), key, obj); err != nil {
					break
				}
				change(i, obj)
				err = env.Client.Update(context.Background(), obj)
			}
			if err != nil {
				t.Errorf("the other writer's write %d: %v", i, err)
				break
			}
			made++
		}
		done <- made
	}()
	return func() int { return <-done }
}

// sendUntilAnswered sends a write, retrying 503 (too many conflicts: retry) as an IdP does.
func (c *scimClient) sendUntilAnswered(method, path string, body any) (response, error) {
	for attempt := 0; ; attempt++ {
		r, err := c.send(method, path, body)
		if err != nil || r.Status != 503 || attempt == 20 {
			return r, err
		}
	}
}

func TestConcurrentPatchesOfDifferentUserAttributesAllLandDespiteAnotherWriter(t *testing.T) {
	c := newDirectory(t)
	id := c.createUser("ann@example.com", nil)
	attrs := []string{"title", "displayName", "nickName", "userType", "preferredLanguage", "locale", "timezone",
		"profileUrl", "name.givenName", "name.familyName", "name.middleName",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"}
	values := map[string]string{}
	for i, a := range attrs {
		values[a] = fmt.Sprintf("v%d", i)
	}
	values["profileUrl"] = "https://example.com/ann"
	values["preferredLanguage"] = "en-US"
	values["locale"] = "en-US"
	values["timezone"] = "Europe/Berlin"

	// Another writer changes externalId (an attribute no PATCH here touches) meanwhile.
	other := otherReplica(t, client.ObjectKey{Namespace: c.namespace, Name: id}, &identityv1alpha1.ScimUser{}, 15,
		func(i int, u *identityv1alpha1.ScimUser) { u.Spec.ExternalID = fmt.Sprintf("ext-%d", i) })
	var wg sync.WaitGroup
	statuses := make([]int, len(attrs))
	raws := make([]string, len(attrs))
	for i, a := range attrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.sendUntilAnswered("PATCH", "/Users/"+id, patchOps(op("replace", a, values[a])))
			if err != nil {
				t.Error(err)
			}
			statuses[i], raws[i] = r.Status, r.Raw
		}()
	}
	wg.Wait()
	made := other()
	for i, a := range attrs {
		if statuses[i] != 200 {
			t.Errorf("PATCH %s: %d %s", a, statuses[i], raws[i])
		}
	}
	r := c.do("GET", "/Users/"+id, nil).expect(t, 200)
	for _, a := range attrs {
		if got := lookupAttr(r.Body, a); got != values[a] {
			t.Errorf("%s = %v after concurrent PATCHes, want %q (lost update)", a, got, values[a])
		}
	}
	if got, want := c.user(id).Spec.ExternalID, fmt.Sprintf("ext-%d", made-1); got != want {
		t.Errorf("externalId = %q, want the other writer's last %q: a PATCH overwrote it blindly", got, want)
	}
}

// lookupAttr reads a SCIM attribute path (one sub-attribute level, or an extension URN prefix).
func lookupAttr(res map[string]any, path string) any {
	const ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	if rest, ok := strings.CutPrefix(path, ext+":"); ok {
		m, _ := res[ext].(map[string]any)
		return m[rest]
	}
	if parent, sub, ok := strings.Cut(path, "."); ok {
		m, _ := res[parent].(map[string]any)
		return m[sub]
	}
	return res[path]
}

func TestConcurrentMemberAddsSurviveAnotherReplicasMemberWrites(t *testing.T) {
	c := newDirectory(t)
	const viaSCIM, viaOther = 16, 8
	users := make([]string, viaSCIM+viaOther)
	for i := range users {
		users[i] = c.createUser(fmt.Sprintf("m%02d@example.com", i), nil)
	}
	g := c.createGroup("crowd")
	// The other replica adds its members by updating the object it read.
	other := otherReplica(t, client.ObjectKey{Namespace: c.namespace, Name: g}, &identityv1alpha1.ScimGroup{}, viaOther,
		func(i int, grp *identityv1alpha1.ScimGroup) {
			grp.Spec.Members = append(grp.Spec.Members, identityv1alpha1.Member{Value: users[viaSCIM+i]})
		})
	var wg sync.WaitGroup
	for i := range viaSCIM {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.sendUntilAnswered("PATCH", "/Groups/"+g, patchOps(op("add", "members", []any{map[string]any{"value": users[i]}})))
			if err != nil || r.Status != 204 {
				t.Errorf("PATCH add member %d: %v %d %s", i, err, r.Status, r.Raw)
			}
		}()
	}
	wg.Wait()
	if made := other(); made != viaOther {
		t.Fatalf("the other writer made %d of %d writes", made, viaOther)
	}
	var got []string
	for _, m := range c.group(g).Spec.Members {
		got = append(got, m.Value)
	}
	slices.Sort(got)
	want := slices.Clone(users)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%d members stored, want %d (an update was lost): %v", len(got), len(want), got)
	}
}

func TestIfMatchWithAVersionAnotherReplicaMovedOnIs412AndKeepsItsChange(t *testing.T) {
	c := newDirectory(t)
	id := c.createUser("ann@example.com", map[string]any{"displayName": "Ann"})
	etag := c.do("GET", "/Users/"+id, nil).expect(t, 200).Header.Get("ETag")
	// Another replica changes an attribute, straight through the API server.
	otherReplica(t, client.ObjectKey{Namespace: c.namespace, Name: id}, &identityv1alpha1.ScimUser{}, 1,
		func(_ int, u *identityv1alpha1.ScimUser) { u.Spec.DisplayName = "Ann (other replica)" })()
	// This replica's cache may not have seen that write yet: the answer must still be 412.
	c.do("PATCH", "/Users/"+id, patchOps(op("replace", "title", "x")), "If-Match", etag).expect(t, 412)
	c.do("PUT", "/Users/"+id, map[string]any{"userName": "ann@example.com", "displayName": "Ann"}, "If-Match", etag).expect(t, 412)
	c.do("DELETE", "/Users/"+id, nil, "If-Match", etag).expect(t, 412)
	u := c.user(id)
	if u.Spec.DisplayName != "Ann (other replica)" || u.Spec.Title != "" {
		t.Fatalf("a write with a stale If-Match changed the user: %+v", u.Spec)
	}
}
