package e2e

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/testenv"
)

// TestTwoReplicasOneWriterAndFailover runs two replicas of the binary with the chart's arguments:
// both serve SCIM; the leader runs the controllers and makes every write, the follower passes
// writes on to it. Concurrent POSTs of one userName to both give exactly one 201, concurrent
// PATCHes of one group through both lose no member, and when the leader is SIGKILLed the other
// replica takes over writes and controllers within the Lease duration.
func TestTwoReplicasOneWriterAndFailover(t *testing.T) {
	c := NewCluster(t, ClusterOptions{})
	// A shorter Lease than the chart's default keeps the test quick; the mechanism is the same.
	timing := []string{"--leader-election-lease-duration=6s", "--leader-election-renew-deadline=4s", "--leader-election-retry-period=1s"}
	reps := c.Replicas(t, 2, timing...)
	for _, r := range reps {
		r.WaitReady(t, 90*time.Second)
	}
	dir := c.DefaultDirectory(t)
	tok := c.Token(t, dir.Name, "idp")
	ctx := context.Background()
	leaderOf := func() *Replica {
		l := c.LeaderLease(t)
		if l == nil || l.Spec.HolderIdentity == nil {
			return nil
		}
		for _, r := range reps {
			if strings.HasPrefix(*l.Spec.HolderIdentity, r.SCIMURL+"_") {
				return r
			}
		}
		return nil
	}
	var leader *Replica
	eventually(t, "a leader that names its SCIM URL in the Lease", 60*time.Second, func() bool { leader = leaderOf(); return leader != nil })
	follower := reps[0]
	if follower == leader {
		follower = reps[1]
	}
	cl, cf := c.scim(leader, dir.Name, tok), c.scim(follower, dir.Name, tok)
	eventually(t, "both replicas to accept writes", 60*time.Second, func() bool {
		for i, s := range []*scimClient{cl, cf} {
			r, err := s.do(ctx, "POST", "/Users", map[string]any{"userName": fmt.Sprintf("probe%d@example.com", i)})
			if err != nil || (r.Status != 201 && r.Status != 409) {
				return false
			}
		}
		return true
	})

	// A write through the follower is readable from the follower at once.
	r, err := cf.do(ctx, "POST", "/Users", map[string]any{"userName": "via-follower@example.com"})
	if err != nil || r.Status != 201 {
		t.Fatalf("POST through the follower: %v %d %s", err, r.Status, r.Raw)
	}
	if g, err := cf.do(ctx, "GET", "/Users/"+r.str("id"), nil); err != nil || g.Status != 200 {
		t.Fatalf("GET of the follower's own write: %v %d", err, g.Status)
	}

	// Concurrent POSTs of one userName to both replicas.
	const n = 16
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			s := []*scimClient{cl, cf}[i%2]
			r, err := s.do(ctx, "POST", "/Users", map[string]any{"userName": "Same.Name@example.com"})
			if err != nil {
				t.Errorf("POST %d: %v", i, err)
				return
			}
			statuses[i] = r.Status
			if r.Status != 201 && (r.Status != 409 || r.str("scimType") != "uniqueness") {
				t.Errorf("POST %d: %d %s", i, r.Status, r.Raw)
			}
		})
	}
	close(start)
	wg.Wait()
	if created := countOf(statuses, 201); created != 1 {
		t.Fatalf("%d of %d concurrent POSTs of one userName through two replicas were created, want 1: %v", created, n, statuses)
	}

	// Concurrent member adds to one group through both replicas.
	g, err := cl.do(ctx, "POST", "/Groups", map[string]any{"displayName": "everyone"})
	if err != nil || g.Status != 201 {
		t.Fatalf("POST /Groups: %v %d", err, g.Status)
	}
	members := make([]string, 20)
	for i := range members {
		u, err := cl.do(ctx, "POST", "/Users", map[string]any{"userName": fmt.Sprintf("member%d@example.com", i)})
		if err != nil || u.Status != 201 {
			t.Fatalf("POST /Users: %v %d", err, u.Status)
		}
		members[i] = u.str("id")
	}
	for i, m := range members {
		wg.Go(func() {
			s := []*scimClient{cl, cf}[i%2]
			r, err := s.do(ctx, "PATCH", "/Groups/"+g.str("id"), testenv.PatchOp(testenv.Op("add", "members", []any{map[string]any{"value": m}})))
			if err != nil || (r.Status != 200 && r.Status != 204) {
				t.Errorf("PATCH %d: %v %d %s", i, err, r.Status, r.Raw)
			}
		})
	}
	wg.Wait()
	// Read-your-writes holds on the replica a write went through. Half of
	// the PATCHes went through the other one, and a PATCH that only adds
	// members is answered before even the writer's cache shows it
	// (docs/architecture.md, "Read-your-writes"), so a replica may see the
	// last of them a moment later: allow it a few seconds.
	for _, s := range []*scimClient{cl, cf} {
		var n int
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			got, gerr := s.do(ctx, "GET", "/Groups/"+g.str("id"), nil)
			ms, _ := got.Body["members"].([]any)
			n, err = len(ms), gerr
			if (err == nil && n == len(members)) || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || n != len(members) {
			t.Fatalf("the group has %d members on %s, want %d (%v)", n, s.base, len(members), err)
		}
	}

	// The controllers run on the leader only; the follower passed writes on.
	if n := metricSum(t, c, follower, `controller_runtime_reconcile_total{controller="scimuser"`); n != 0 {
		t.Errorf("the follower ran %v ScimUser reconciles; controllers belong to the leader", n)
	}
	if n := metricSum(t, c, leader, `controller_runtime_reconcile_total{controller="scimuser"`); n == 0 {
		t.Errorf("the leader ran no ScimUser reconciles")
	}
	if n := metricSum(t, c, follower, `scim_operator_scim_forwarded_requests_total{result="forwarded"}`); n == 0 {
		t.Errorf("the follower forwarded no writes")
	}

	// SIGKILL the leader: the follower takes over writes and controllers.
	killed := time.Now()
	leader.Kill(t)
	follower.Eventually(t, "the follower to acquire the Lease", 2*time.Minute, func() bool { return leaderOf() == follower })
	elected := time.Since(killed)
	var took time.Duration
	follower.Eventually(t, "the follower to take over writes", 2*time.Minute, func() bool {
		r, err := cf.do(ctx, "POST", "/Users", map[string]any{"userName": "after-failover@example.com"})
		took = time.Since(killed)
		return err == nil && (r.Status == 201 || r.Status == 409)
	})
	t.Logf("after the leader was killed, the follower held the Lease in %v and wrote in %v (Lease duration 6 s, retry period 1 s, settle 1 s)",
		elected.Round(100*time.Millisecond), took.Round(100*time.Millisecond))
	id := lookup(t, cf, "after-failover@example.com")
	follower.Eventually(t, "the new leader's controllers to reconcile a new user", 2*time.Minute, func() bool {
		var u identityv1alpha1.ScimUser
		return c.Admin.Get(ctx, types.NamespacedName{Namespace: dir.Spec.Namespace, Name: id}, &u) == nil &&
			meta.IsStatusConditionTrue(u.Status.Conditions, identityv1alpha1.ReadyCondition)
	})

	// The killed replica comes back as a follower and passes writes on to the new leader.
	leader.Start(t)
	leader.WaitReady(t, 90*time.Second)
	back := c.scim(leader, dir.Name, tok)
	leader.Eventually(t, "the restarted replica to pass writes on", 60*time.Second, func() bool {
		r, err := back.do(ctx, "POST", "/Users", map[string]any{"userName": "same.name@EXAMPLE.com"})
		return err == nil && r.Status == 409 && r.str("scimType") == "uniqueness"
	})
	r, err = back.do(ctx, "POST", "/Users", map[string]any{"userName": "back@example.com"})
	if err != nil || r.Status != 201 {
		t.Fatalf("POST through the restarted replica: %v %d %s", err, r.Status, r.Raw)
	}
}

func countOf(xs []int, v int) int {
	n := 0
	for _, x := range xs {
		if x == v {
			n++
		}
	}
	return n
}

// lookup finds a user's id by userName.
func lookup(t *testing.T, s *scimClient, userName string) string {
	t.Helper()
	r, err := s.do(context.Background(), "GET", "/Users?filter="+url.QueryEscape(`userName eq "`+userName+`"`), nil)
	res, _ := r.Body["Resources"].([]any)
	if err != nil || len(res) != 1 {
		t.Fatalf("looking up %s: %v %d %s", userName, err, r.Status, r.Raw)
	}
	id, _ := res[0].(map[string]any)["id"].(string)
	return id
}

// metricSum adds up the samples of a replica's metrics whose line starts with prefix.
func metricSum(t *testing.T, c *Cluster, r *Replica, prefix string) float64 {
	t.Helper()
	resp, err := c.Plain.Get(r.MetricsURL)
	if err != nil {
		t.Fatalf("metrics of replica %s: %v", r.Name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			v, _ := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
			sum += v
		}
	}
	return sum
}
