package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/membership"
)

// rawUsers creates users with the given userNames straight through the API
// server, which is much cheaper than SCIM POSTs (the memberships under test
// still go through SCIM), and returns their ids.
func rawUsers(t *testing.T, c *scimClient, userNames []string) []string {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, len(userNames))
	for i := range ids {
		ids[i] = string(uuid.NewUUID())
	}
	work := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				u := &identityv1alpha1.ScimUser{
					ObjectMeta: metav1.ObjectMeta{
						Name: ids[i], Namespace: c.namespace,
						Labels:     map[string]string{identityv1alpha1.DirectoryLabel: dirName(c)},
						Finalizers: []string{identityv1alpha1.RevocationFinalizer},
					},
					Spec: identityv1alpha1.ScimUserSpec{UserName: userNames[i]},
				}
				if err := env.Client.Create(ctx, u); err != nil {
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	for i := range ids {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	return ids
}

// numbered returns n userNames: prefix000000@big.example.com and on.
func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%06d@big.example.com", prefix, i)
	}
	return out
}

func memberValues(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"value": id}
	}
	return out
}

// addMembers adds members in PATCHes of batch members each, as Entra does.
func addMembers(t *testing.T, c *scimClient, group string, ids []string, batch int) {
	t.Helper()
	for i := 0; i < len(ids); i += batch {
		c.do("PATCH", "/Groups/"+group, patchOps(op("add", "members", memberValues(ids[i:min(i+batch, len(ids))])))).expect(t, 204)
	}
}

// getMembers GETs a group and returns its member values, sorted.
func getMembers(t *testing.T, c *scimClient, group string) []string {
	t.Helper()
	r := c.do("GET", "/Groups/"+group, nil).expect(t, 200)
	list, _ := r.Body["members"].([]any)
	out := make([]string, 0, len(list))
	for _, m := range list {
		e := m.(map[string]any)
		if e["$ref"] == nil || e["type"] != "User" && e["type"] != "Group" {
			t.Fatalf("member without $ref or type: %v", e)
		}
		out = append(out, e["value"].(string))
	}
	sort.Strings(out)
	return out
}

func sortedCopy(ids []string) []string {
	out := slices.Clone(ids)
	sort.Strings(out)
	return out
}

func shardsOf(t *testing.T, ns, group string) []identityv1alpha1.ScimGroupMembers {
	t.Helper()
	var list identityv1alpha1.ScimGroupMembersList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{identityv1alpha1.GroupLabel: group}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func expectMemberCount(t *testing.T, c *scimClient, group string, n int) {
	t.Helper()
	eventuallyWithin(t, time.Minute, fmt.Sprintf("status.memberCount is %d", n), func() bool {
		return c.group(group).Status.MemberCount == int32(n)
	})
}

// largeGroupMembers is the size of the large group: 10,000 by default (five
// shards, every code path of a sharded group), 100,000 with
// SCIM_LARGE_GROUP_MEMBERS=100000. Creating the users is what costs: each
// one is reconciled by the user controller (about 7 minutes for 100,000 on
// a busy 2-core machine).
func largeGroupMembers(t *testing.T) int {
	if v := os.Getenv("SCIM_LARGE_GROUP_MEMBERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3000 {
			t.Fatalf("SCIM_LARGE_GROUP_MEMBERS=%q: want a number of at least 3000", v)
		}
		return n
	}
	return 10000
}

// waitUsersReconciled waits until the user controller has reconciled every
// user of a namespace, so that the work of a large fill does not delay the
// tests that run after this one.
func waitUsersReconciled(t *testing.T, ns string) {
	t.Helper()
	eventuallyWithin(t, 10*time.Minute, "the user controller catches up", func() bool {
		var l identityv1alpha1.ScimUserList
		if err := env.Client.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, u := range l.Items {
			if u.Status.ObservedGeneration != u.Generation {
				return false
			}
		}
		return true
	})
}

// TestALargeGroupIsBuiltAndChangedThroughSCIM builds a large group
// (100,000 users with SCIM_LARGE_GROUP_MEMBERS=100000) with PATCHes of 1,000
// members, then checks every reader of membership and the cost of one more
// change. Timings are logged, never asserted.
func TestALargeGroupIsBuiltAndChangedThroughSCIM(t *testing.T) {
	if testing.Short() {
		t.Skip("creates thousands of users")
	}
	n := largeGroupMembers(t)
	c := newDirectory(t)
	defer waitUsersReconciled(t, c.namespace)
	start := time.Now()
	ids := rawUsers(t, c, numbered("u", n+200))
	ids, spare := ids[:n], ids[n:]
	t.Logf("created %d users in %s", n+200, time.Since(start).Round(time.Millisecond))

	g := c.createGroup("everyone")
	start = time.Now()
	addMembers(t, c, g, ids, 1000)
	t.Logf("added %d members in %d PATCHes in %s", n, n/1000, time.Since(start).Round(time.Millisecond))

	// GET returns every member, once.
	start = time.Now()
	r := c.do("GET", "/Groups/"+g, nil).expect(t, 200)
	t.Logf("GET of the %d-member group: %d bytes in %s", n, len(r.Raw), time.Since(start).Round(time.Millisecond))
	if got := getMembers(t, c, g); !slices.Equal(got, sortedCopy(ids)) {
		t.Fatalf("GET returned %d members, want %d", len(got), n)
	}
	// The object itself stays small: members are in shards of bounded size.
	stored := c.group(g)
	if len(stored.Spec.Members) != 0 || stored.Spec.Membership == nil {
		t.Fatalf("the group is not sharded: %d inline members", len(stored.Spec.Members))
	}
	raw, _ := json.Marshal(stored)
	if len(raw) > 200<<10 {
		t.Fatalf("the ScimGroup object is %d bytes", len(raw))
	}
	for _, s := range shardsOf(t, c.namespace, g) {
		if len(s.Spec.Members) > identityv1alpha1.MaxShardMembers {
			t.Fatalf("shard %s holds %d members", s.Name, len(s.Spec.Members))
		}
		if s.OwnerReferences[0].UID != stored.UID {
			t.Fatalf("shard %s is not owned by the group", s.Name)
		}
	}
	// excludedAttributes=members leaves them out; attributes picks sub-attributes.
	r = c.do("GET", "/Groups/"+g+"?excludedAttributes=members", nil).expect(t, 200)
	if _, ok := r.Body["members"]; ok || len(r.Raw) > 2000 {
		t.Fatalf("excludedAttributes=members: %d bytes", len(r.Raw))
	}
	r = c.do("GET", "/Groups/"+g+"?attributes=members.value", nil).expect(t, 200)
	if first := r.Body["members"].([]any)[0].(map[string]any); len(first) != 1 || first["value"] == nil {
		t.Fatalf("attributes=members.value sent %v", first)
	}
	expectMemberCount(t, c, g, n)

	// A user's groups, and the members filter, see the sharded members.
	if got := groupsOf(t, c.do("GET", "/Users/"+ids[n/2], nil).expect(t, 200)); got[g] != "direct" {
		t.Fatalf("user's groups %v", got)
	}
	for _, f := range []string{`members[value eq "` + ids[777] + `"]`, `members.value eq "` + ids[n-1] + `"`} {
		r = c.do("GET", "/Groups?excludedAttributes=members&filter="+url.QueryEscape(f), nil).expect(t, 200)
		if r.Body["totalResults"] != float64(1) || r.Body["Resources"].([]any)[0].(map[string]any)["id"] != g {
			t.Fatalf("filter %s: %s", f, r.Raw)
		}
	}
	r = c.do("GET", "/Groups?excludedAttributes=members&filter="+url.QueryEscape(`members[value eq "`+spare[0]+`"]`), nil).expect(t, 200)
	if r.Body["totalResults"] != float64(0) {
		t.Fatalf("a non-member matched: %s", r.Raw)
	}

	// One add, one remove, as Entra and Okta send them; latency logged.
	small := c.createGroup("small")
	addMembers(t, c, small, ids[:100], 100)
	measure := func(group string, user string) (add, remove time.Duration) {
		const rounds = 15
		var adds, removes []time.Duration
		for i := range rounds {
			t0 := time.Now()
			c.do("PATCH", "/Groups/"+group, patchOps(op("add", "members", memberValues([]string{user})))).expect(t, 204)
			t1 := time.Now()
			if i%2 == 0 {
				c.do("PATCH", "/Groups/"+group, patchOps(op("remove", `members[value eq "`+user+`"]`, nil))).expect(t, 204)
			} else {
				c.do("PATCH", "/Groups/"+group, patchOps(op("remove", "members", memberValues([]string{user})))).expect(t, 204)
			}
			adds, removes = append(adds, t1.Sub(t0)), append(removes, time.Since(t1))
		}
		slices.Sort(adds)
		slices.Sort(removes)
		return adds[rounds/2], removes[rounds/2]
	}
	addS, remS := measure(small, spare[1])
	addL, remL := measure(g, spare[1])
	t.Logf("median add / remove of one member: 100 members %s / %s, %d members %s / %s (ratio %.2f / %.2f)",
		addS, remS, n, addL, remL, float64(addL)/float64(addS), float64(remL)/float64(remS))

	// The change is visible at once to every reader on this replica.
	c.do("PATCH", "/Groups/"+g, patchOps(op("add", "members", memberValues([]string{spare[2]})))).expect(t, 204)
	if got := groupsOf(t, c.do("GET", "/Users/"+spare[2], nil).expect(t, 200)); got[g] != "direct" {
		t.Fatalf("new member's groups %v", got)
	}
	c.do("PATCH", "/Groups/"+g, patchOps(op("remove", `members[value eq "`+ids[500]+`"]`, nil))).expect(t, 204)
	if got := groupsOf(t, c.do("GET", "/Users/"+ids[500], nil).expect(t, 200)); len(got) != 0 {
		t.Fatalf("removed member's groups %v", got)
	}
	// A PATCH that fails leaves nothing applied.
	c.do("PATCH", "/Groups/"+g, patchOps(op("add", "members", []any{map[string]any{"value": spare[3]}, map[string]any{"value": string(uuid.NewUUID())}}))).expect(t, 400, "invalidValue")
	if got := groupsOf(t, c.do("GET", "/Users/"+spare[3], nil).expect(t, 200)); len(got) != 0 {
		t.Fatalf("a failed PATCH added a member: %v", got)
	}

	// Concurrent PATCHes lose nothing: 8 clients add 20 members each and
	// remove 20 each, one member per request.
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	delete(want, ids[500])
	want[spare[2]] = true
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		adds, removes := spare[10+w*20:10+(w+1)*20], ids[1000+w*20:1000+(w+1)*20]
		for _, id := range adds {
			want[id] = true
		}
		for _, id := range removes {
			delete(want, id)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range adds {
				for _, body := range []any{
					patchOps(op("add", "members", memberValues(adds[i:i+1]))),
					patchOps(op("remove", `members[value eq "`+removes[i]+`"]`, nil)),
				} {
					r, err := c.send("PATCH", "/Groups/"+g, body)
					if err == nil && r.Status != 204 {
						err = fmt.Errorf("status %d: %s", r.Status, r.Raw)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wantList := make([]string, 0, len(want))
	for id := range want {
		wantList = append(wantList, id)
	}
	if got := getMembers(t, c, g); !slices.Equal(got, sortedCopy(wantList)) {
		t.Fatalf("after concurrent PATCHes: %d members, want %d", len(got), len(want))
	}
	expectMemberCount(t, c, g, len(want))
	// The overlay is folded into shards in the background; GET still agrees.
	eventuallyWithin(t, time.Minute, "the overlay is compacted", func() bool {
		return membership.Size(c.group(g).Spec.Membership) == 0
	})
	if got := getMembers(t, c, g); len(got) != len(want) {
		t.Fatalf("after compaction: %d members, want %d", len(got), len(want))
	}
}

// TestABindingMaterialisesAShardedGroupAndOrphanShardsAreSwept binds a group
// big enough to be sharded, and checks that shards nobody lists (a write
// that crashed between creating shards and committing them) are deleted,
// and that deleting the group deletes its shards.
func TestABindingMaterialisesAShardedGroupAndOrphanShardsAreSwept(t *testing.T) {
	ensurePodReader(t)
	c := newDirectory(t)
	ns := "team-" + dirName(c)
	ensureNamespace(t, ns)
	const n = 3000
	ids := rawUsers(t, c, numbered("b", n))
	g := c.createGroup("big")
	addMembers(t, c, g, ids, 1000)
	if c.group(g).Spec.Membership == nil {
		t.Fatal("a group of 3,000 members is not sharded")
	}
	binding := createBinding(t, ns, "big", dirName(c), identityv1alpha1.GroupRef{DisplayName: "big"})
	var got identityv1alpha1.ScimRoleBinding
	eventuallyWithin(t, 2*time.Minute, "every member is bound", func() bool {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(binding), &got)
		return got.Status.BoundUsers == n
	})
	defer waitUsersReconciled(t, c.namespace)
	expectAccess(t, "oidc:b002999@big.example.com", ns, true)
	// Removing a member through SCIM removes the subject.
	c.do("PATCH", "/Groups/"+g, patchOps(op("remove", `members[value eq "`+ids[n-1]+`"]`, nil))).expect(t, 204)
	expectAccess(t, "oidc:b002999@big.example.com", ns, false)

	// An orphan shard, as a crashed write leaves it: swept after the grace period.
	group := c.group(g)
	yes := true
	orphan := &identityv1alpha1.ScimGroupMembers{
		ObjectMeta: metav1.ObjectMeta{Name: g + "-orphan", Namespace: c.namespace,
			Labels: map[string]string{identityv1alpha1.GroupLabel: g, identityv1alpha1.DirectoryLabel: dirName(c)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: identityv1alpha1.GroupVersion.String(), Kind: "ScimGroup",
				Name: g, UID: group.UID, Controller: &yes}}},
		Spec: identityv1alpha1.ScimGroupMembersSpec{Group: g, Count: 1, Members: []identityv1alpha1.Member{{Value: ids[0], Type: identityv1alpha1.MemberUser}}},
	}
	if err := env.Client.Create(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}
	// Unlisted, it is no membership: removing ids[0] is not undone by it.
	c.do("PATCH", "/Groups/"+g, patchOps(op("remove", `members[value eq "`+ids[0]+`"]`, nil))).expect(t, 204)
	if got := groupsOf(t, c.do("GET", "/Users/"+ids[0], nil).expect(t, 200)); len(got) != 0 {
		t.Fatalf("an unlisted shard counts: %v", got)
	}
	eventuallyWithin(t, time.Minute, "the orphan shard is swept", func() bool {
		return !slices.ContainsFunc(shardsOf(t, c.namespace, g), func(s identityv1alpha1.ScimGroupMembers) bool { return s.Name == orphan.Name })
	})
	if got := getMembers(t, c, g); len(got) != n-2 {
		t.Fatalf("%d members after the sweep, want %d", len(got), n-2)
	}
	// Deleting the group deletes its shards.
	c.do("DELETE", "/Groups/"+g, nil).expect(t, 204)
	eventuallyWithin(t, time.Minute, "the shards are deleted with the group", func() bool {
		return len(shardsOf(t, c.namespace, g)) == 0
	})
}
