package integration

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/testenv"
)

// TestTwoReplicasShareOneWriter runs two replicas with leader election (the
// suite's own operator, which runs without it, is stopped meanwhile): both
// serve SCIM, the follower passes writes on to the leader, and the
// guarantees of a single replica hold across both.
func TestTwoReplicasShareOneWriter(t *testing.T) {
	c := newDirectory(t)
	ensureNamespace(t, "replicas")
	env.StopOperator()
	t.Cleanup(func() {
		if err := env.StartOperator(); err != nil {
			t.Fatalf("restarting the suite's operator: %v", err)
		}
	})
	a, err := env.StartReplica("replicas")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	b, err := env.StartReplica("replicas")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	// Each replica, as the identity provider sees it.
	on := func(r *testenv.Replica) *scimClient {
		cc := *c
		cc.base = r.URL + c.base[strings.Index(c.base, "/scim/v2/"):]
		return &cc
	}
	ca, cb := on(a), on(b)
	eventually(t, "both replicas accept writes", func() bool {
		ra, err1 := ca.send("POST", "/Users", map[string]any{"userName": "probe-a@example.com"})
		rb, err2 := cb.send("POST", "/Users", map[string]any{"userName": "probe-b@example.com"})
		return err1 == nil && err2 == nil && (ra.Status == 201 || ra.Status == 409) && (rb.Status == 201 || rb.Status == 409)
	})

	// Read-your-writes on the replica that passed the write on.
	for _, cc := range []*scimClient{ca, cb} {
		id := cc.createUser(fmt.Sprintf("ryw-%p@example.com", cc), nil)
		cc.do("GET", "/Users/"+id, nil).expect(t, 200)
		cc.do("GET", "/Users?filter="+url.QueryEscape(`id eq "`+id+`"`), nil).expect(t, 200)
	}

	// Concurrent POSTs of one userName to both replicas: exactly one 201.
	const n = 16
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			cc := ca
			if i%2 == 1 {
				cc = cb
			}
			r, err := cc.send("POST", "/Users", map[string]any{"userName": "Twin@Example.com"})
			statuses[i], errs[i] = r.Status, err
			if err == nil && r.Status != 201 && (r.Status != 409 || r.Body["scimType"] != "uniqueness") {
				errs[i] = fmt.Errorf("POST %d: %d %s", i, r.Status, r.Raw)
			}
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if statuses[i] == 201 {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d concurrent POSTs of one userName were created, want 1: %v", created, n, statuses)
	}
	if r := ca.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "twin@example.com"`), nil).expect(t, 200); r.Body["totalResults"] != float64(1) {
		t.Fatalf("%v users named twin@example.com", r.Body["totalResults"])
	}

	// Concurrent member adds to one group through both replicas lose nothing.
	members := make([]string, 12)
	for i := range members {
		members[i] = ca.createUser(fmt.Sprintf("member-%d@example.com", i), nil)
	}
	group := ca.createGroup("shared")
	for i, m := range members {
		wg.Go(func() {
			cc := ca
			if i%2 == 1 {
				cc = cb
			}
			r, err := cc.send("PATCH", "/Groups/"+group, patchOps(op("add", "members", []any{map[string]any{"value": m}})))
			if err == nil && r.Status != 200 && r.Status != 204 {
				err = fmt.Errorf("PATCH: %d %s", r.Status, r.Raw)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Stored: exactly, at once. Each replica guarantees read-your-writes for
	// the writes it answered; the other replica's last write reaches its
	// cache moments later.
	var stored identityv1alpha1.ScimGroup
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ca.namespace, Name: group}, &stored); err != nil {
		t.Fatal(err)
	}
	if len(stored.Spec.Members) != len(members) {
		t.Fatalf("the stored group has %d members, want %d", len(stored.Spec.Members), len(members))
	}
	for _, cc := range []*scimClient{ca, cb} {
		eventually(t, "each replica serves every member", func() bool {
			got := cc.do("GET", "/Groups/"+group, nil).expect(t, 200)
			ms, _ := got.Body["members"].([]any)
			return len(ms) == len(members)
		})
	}

	// The leader steps down (a rollout): the other replica takes over the
	// writes without a restart.
	leader, follower := a, cb
	select {
	case <-a.Operator.Elected():
	default:
		leader, follower = b, ca
	}
	stopped := time.Now()
	leader.Stop()
	eventuallyWithin(t, 2*time.Minute, "the remaining replica writes", func() bool {
		r, err := follower.send("POST", "/Users", map[string]any{"userName": "after-failover@example.com"})
		return err == nil && (r.Status == 201 || r.Status == 409)
	})
	t.Logf("the remaining replica took over the writes %v after the leader began to stop", time.Since(stopped))
	follower.do("POST", "/Users", map[string]any{"userName": "twin@example.com"}).expect(t, 409, "uniqueness")
}
