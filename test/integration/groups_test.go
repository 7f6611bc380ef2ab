package integration

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// groupsOf returns a user's computed groups as value → type.
func groupsOf(t *testing.T, r response) map[string]string {
	t.Helper()
	out := map[string]string{}
	list, _ := r.Body["groups"].([]any)
	for _, g := range list {
		m, _ := g.(map[string]any)
		v, _ := m["value"].(string)
		typ, _ := m["type"].(string)
		out[v] = typ
	}
	return out
}

func TestNestedGroupsGiveAUserDirectAndIndirectGroups(t *testing.T) {
	c := newDirectory(t)
	ann := c.createUser("ann@example.com", nil)
	bob := c.createUser("bob@example.com", nil)
	inner := c.createGroup("inner", ann)
	outer := c.do("POST", "/Groups", map[string]any{
		"displayName": "outer",
		"members":     []any{map[string]any{"value": inner, "type": "Group"}, map[string]any{"value": bob}},
	}).expect(t, 201)
	outerID := outer.str("id")
	// The member type is found when the client leaves it out, and kept when given.
	if g := c.group(outerID); len(g.Spec.Members) != 2 || g.Spec.Members[0].Type != identityv1alpha1.MemberGroup || g.Spec.Members[1].Type != identityv1alpha1.MemberUser {
		t.Fatalf("stored members %+v", g.Spec.Members)
	}
	// What kubectl shows: a member is one string, typed.
	raw := &unstructured.Unstructured{}
	raw.SetGroupVersionKind(identityv1alpha1.GroupVersion.WithKind("ScimGroup"))
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: c.namespace, Name: outerID}, raw); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedStringSlice(raw.Object, "spec", "members"); fmt.Sprint(got) != fmt.Sprint([]string{"Group/" + inner, "User/" + bob}) {
		t.Fatalf("spec.members as stored: %v", raw.Object["spec"])
	}
	top := c.createGroup("top")
	c.do("PATCH", "/Groups/"+top, patchOps(op("add", "members", []any{map[string]any{"value": outerID}}))).expect(t, 204)

	got := groupsOf(t, c.do("GET", "/Users/"+ann, nil).expect(t, 200))
	want := map[string]string{inner: "direct", outerID: "indirect", top: "indirect"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ann's groups %v, want %v", got, want)
	}
	got = groupsOf(t, c.do("GET", "/Users/"+bob, nil).expect(t, 200))
	want = map[string]string{outerID: "direct", top: "indirect"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("bob's groups %v, want %v", got, want)
	}

	// The computed attribute can be filtered on, indirect memberships included.
	r := c.do("GET", "/Users?filter="+url.QueryEscape(`groups.value eq "`+top+`"`), nil).expect(t, 200)
	if r.Body["totalResults"] != float64(2) {
		t.Fatalf("members of top: %s", r.Raw)
	}
	// And it is read-only: a PUT that carries it changes nothing.
	c.do("PUT", "/Users/"+bob, map[string]any{"userName": "bob@example.com", "groups": []any{map[string]any{"value": inner}}}).expect(t, 200)
	got = groupsOf(t, c.do("GET", "/Users/"+bob, nil).expect(t, 200))
	if _, ok := got[inner]; ok {
		t.Fatalf("PUT groups made bob a member of inner: %v", got)
	}

	// Removing the middle group's membership cuts the indirect ones.
	c.do("PATCH", "/Groups/"+outerID, patchOps(op("remove", `members[value eq "`+inner+`"]`, nil))).expect(t, 204)
	got = groupsOf(t, c.do("GET", "/Users/"+ann, nil).expect(t, 200))
	if fmt.Sprint(got) != fmt.Sprint(map[string]string{inner: "direct"}) {
		t.Fatalf("ann's groups after the cut %v", got)
	}
}

func TestAGroupMembershipCycleDoesNotHang(t *testing.T) {
	c := newDirectory(t)
	ann := c.createUser("ann@example.com", nil)
	a := c.createGroup("A", ann)
	b := c.do("POST", "/Groups", map[string]any{"displayName": "B", "members": []any{map[string]any{"value": a}}}).expect(t, 201).str("id")
	// A → B → A.
	c.do("PATCH", "/Groups/"+a, patchOps(op("add", "members", []any{map[string]any{"value": b}}))).expect(t, 204)
	if g := c.group(a); len(g.Spec.Members) != 2 {
		t.Fatalf("A's members %+v", g.Spec.Members)
	}

	got := groupsOf(t, c.do("GET", "/Users/"+ann, nil).expect(t, 200))
	want := map[string]string{a: "direct", b: "indirect"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ann's groups %v, want %v", got, want)
	}
	c.do("GET", "/Groups/"+a, nil).expect(t, 200)
	c.do("GET", "/Groups", nil).expect(t, 200)
	c.do("GET", "/Users?filter="+url.QueryEscape(`groups.value eq "`+b+`"`), nil).expect(t, 200)

	// A group may not contain itself directly.
	c.do("PATCH", "/Groups/"+a, patchOps(op("add", "members", []any{map[string]any{"value": a}}))).expect(t, 400, "invalidValue")
	c.do("DELETE", "/Groups/"+b, nil).expect(t, 204)
	got = groupsOf(t, c.do("GET", "/Users/"+ann, nil).expect(t, 200))
	if fmt.Sprint(got) != fmt.Sprint(map[string]string{a: "direct"}) {
		t.Fatalf("ann's groups after deleting B %v", got)
	}
}

func TestGroupDisplayNamesAreUniqueWhateverTheirCase(t *testing.T) {
	c := newDirectory(t)
	eng := c.createGroup("Engineering")
	c.do("POST", "/Groups", map[string]any{"displayName": "engineering"}).expect(t, 409, "uniqueness")
	ops := c.createGroup("Operations")
	c.do("PATCH", "/Groups/"+ops, patchOps(op("replace", "displayName", "ENGINEERING"))).expect(t, 409, "uniqueness")
	c.do("PUT", "/Groups/"+ops, map[string]any{"displayName": "Engineering"}).expect(t, 409, "uniqueness")
	if n := c.countGroups(); n != 2 {
		t.Fatalf("%d groups stored", n)
	}
	if g := c.group(ops); g.Spec.DisplayName != "Operations" {
		t.Fatalf("ops renamed to %q", g.Spec.DisplayName)
	}
	// A group may change the case of its own name, and a freed name is free.
	c.do("PATCH", "/Groups/"+eng, patchOps(op("replace", "displayName", "ENGINEERING"))).expect(t, 204)
	c.do("PATCH", "/Groups/"+eng, patchOps(op("replace", "displayName", "R&D"))).expect(t, 204)
	c.do("PATCH", "/Groups/"+ops, patchOps(op("replace", "displayName", "Engineering"))).expect(t, 204)
	if g := c.group(ops); g.Spec.DisplayName != "Engineering" {
		t.Fatalf("ops not renamed: %q", g.Spec.DisplayName)
	}
}

func TestRenamingAUserToATakenUserNameIsAConflictAndChangesNothing(t *testing.T) {
	c := newDirectory(t)
	c.createUser("ann@example.com", nil)
	bob := c.createUser("bob@example.com", map[string]any{"displayName": "Bob"})
	before := c.user(bob)

	c.do("PATCH", "/Users/"+bob, patchOps(
		op("replace", "displayName", "Robert"),
		op("replace", "userName", "ANN@example.com"),
	)).expect(t, 409, "uniqueness")
	c.do("PATCH", "/Users/"+bob, patchOps(op("replace", "", map[string]any{"userName": "ann@EXAMPLE.com", "displayName": "Robert"}))).expect(t, 409, "uniqueness")
	c.do("PUT", "/Users/"+bob, map[string]any{"userName": "Ann@Example.com", "displayName": "Robert"}).expect(t, 409, "uniqueness")

	after := c.user(bob)
	if after.Generation != before.Generation || after.Spec.UserName != "bob@example.com" || after.Spec.DisplayName != "Bob" {
		t.Fatalf("bob changed: %+v", after.Spec)
	}
	r := c.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "ann@example.com"`), nil).expect(t, 200)
	if r.Body["totalResults"] != float64(1) {
		t.Fatalf("ann lookup: %s", r.Raw)
	}
	// bob's own name stays his: changing its case is fine; after a rename the old name is free.
	c.do("PATCH", "/Users/"+bob, patchOps(op("replace", "userName", "BOB@example.com"))).expect(t, 200)
	c.do("PATCH", "/Users/"+bob, patchOps(op("replace", "userName", "robert@example.com"))).expect(t, 200)
	c.createUser("bob@example.com", nil)
	if n := c.countUsers(); n != 3 {
		t.Fatalf("%d users", n)
	}
}

func TestConcurrentCreatesOfOneUserNameStoreExactlyOneUser(t *testing.T) {
	c := newDirectory(t)
	const n = 20
	statuses := make([]int, n)
	types := make([]any, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Same name, different case in every request.
			name := []byte("racer@example.com")
			for j := range name {
				if i>>(j%5)&1 == 1 && name[j] >= 'a' && name[j] <= 'z' {
					name[j] -= 'a' - 'A'
				}
			}
			r, err := c.send("POST", "/Users", map[string]any{"userName": string(name)})
			statuses[i], types[i], errs[i] = r.Status, r.Body["scimType"], err
		}()
	}
	close(start)
	wg.Wait()
	created := 0
	for i := range n {
		switch {
		case errs[i] != nil:
			t.Fatal(errs[i])
		case statuses[i] == 201:
			created++
		case statuses[i] != 409 || types[i] != "uniqueness":
			t.Errorf("request %d: %d %v", i, statuses[i], types[i])
		}
	}
	if created != 1 {
		t.Fatalf("%d creates succeeded, want 1 (statuses %v)", created, statuses)
	}
	if got := c.countUsers(); got != 1 {
		t.Fatalf("%d ScimUsers stored", got)
	}
}

func TestConcurrentMemberAddsToOneGroupAreAllKept(t *testing.T) {
	c := newDirectory(t)
	const n = 20
	users := make([]string, n)
	for i := range users {
		users[i] = c.createUser(fmt.Sprintf("member%02d@example.com", i), nil)
	}
	g := c.createGroup("crowd")
	statuses := make([]int, n)
	raws := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := c.send("PATCH", "/Groups/"+g, patchOps(op("add", "members", []any{map[string]any{"value": users[i]}})))
			statuses[i], raws[i], errs[i] = r.Status, r.Raw, err
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if statuses[i] != 204 {
			t.Errorf("PATCH %d: %d %s", i, statuses[i], raws[i])
		}
	}
	var got []string
	for _, m := range c.group(g).Spec.Members {
		got = append(got, m.Value)
	}
	slices.Sort(got)
	slices.Sort(users)
	if !slices.Equal(got, users) {
		t.Fatalf("%d members stored, want %d: %v", len(got), n, got)
	}
}

func TestANewGroupHoldsAtMostMaxInlineMembers(t *testing.T) {
	c := newDirectory(t)
	ann := c.createUser("ann@example.com", nil)
	// The size limit is checked before any member is looked up, so ids that
	// name nobody show it cheaply.
	members := make([]any, identityv1alpha1.MaxInlineMembers+1)
	for i := range members {
		members[i] = map[string]any{"value": string(uuid.NewUUID())}
	}
	r := c.do("POST", "/Groups", map[string]any{"displayName": "huge", "members": members}).expect(t, 400, "invalidValue")
	want := fmt.Sprintf("at most %d members", identityv1alpha1.MaxInlineMembers)
	if d := r.str("detail"); !strings.Contains(d, want) {
		t.Fatalf("detail %q does not say %q", d, want)
	}
	g := c.createGroup("small", ann)
	c.do("PATCH", "/Groups/"+g, patchOps(op("add", "members", members))).expect(t, 400, "invalidValue")
	c.do("PUT", "/Groups/"+g, map[string]any{"displayName": "small", "members": members}).expect(t, 400, "invalidValue")
	if n := c.countGroups(); n != 1 {
		t.Fatalf("%d groups stored", n)
	}
	if got := c.group(g).Spec.Members; len(got) != 1 || got[0].Value != ann {
		t.Fatalf("small's members %+v", got)
	}
}

// Member adds are answered before the operator's cache shows them (the next
// write of the group starts from what this replica wrote); every read must
// still see each add at once.
func TestEveryReadSeesTheMemberAddsBeforeIt(t *testing.T) {
	c := newDirectory(t)
	g := c.createGroup("chain")
	const n = 12
	for i := range n {
		u := c.createUser(fmt.Sprintf("chain%02d@example.com", i), nil)
		c.do("PATCH", "/Groups/"+g, patchOps(op("add", "members", []any{map[string]any{"value": u}}))).expect(t, 204)
		if got := groupsOf(t, c.do("GET", "/Users/"+u, nil).expect(t, 200)); got[g] != "direct" {
			t.Fatalf("add %d: the user's groups %v miss the group", i, got)
		}
		members, _ := c.do("GET", "/Groups/"+g, nil).expect(t, 200).Body["members"].([]any)
		if len(members) != i+1 {
			t.Fatalf("add %d: GET shows %d members", i, len(members))
		}
	}
	// Adds in a row with no read between them, then a filter over the
	// computed attribute.
	var last string
	for i := range n {
		last = c.createUser(fmt.Sprintf("burst%02d@example.com", i), nil)
		c.do("PATCH", "/Groups/"+g, patchOps(op("add", "members", []any{map[string]any{"value": last}}))).expect(t, 204)
	}
	r := c.do("GET", "/Users?filter="+url.QueryEscape(`groups.value eq "`+g+`"`), nil).expect(t, 200)
	if r.Body["totalResults"] != float64(2*n) {
		t.Fatalf("members of the group by filter: %s", r.Raw)
	}
	// A removal right after the adds is applied to the latest members.
	c.do("PATCH", "/Groups/"+g, patchOps(op("remove", `members[value eq "`+last+`"]`, nil))).expect(t, 204)
	if got := len(c.group(g).Spec.Members); got != 2*n-1 {
		t.Fatalf("%d members stored after the removal, want %d", got, 2*n-1)
	}
}
