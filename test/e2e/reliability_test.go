package e2e

// Reliability: the operator binary under faults — killed, terminated and cut off from the
// kube-apiserver while identity providers write — must lose no acknowledged write, half-apply
// none, answer what it cannot do with 503 and Retry-After, and converge once the fault is gone.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/testenv"
	"github.com/scim-operator/scim-operator/scimserver"
)

// operatorUnderTest is one replica serving the chart's default directory, with a token.
type operatorUnderTest struct {
	c    *Cluster
	op   *Replica
	dir  *identityv1alpha1.ScimDirectory
	tok  string
	scim *scimClient
}

// startOperator starts a cluster and one replica (extra arguments as NewReplica), creates the
// default directory and a token, and waits until the token is accepted.
func startOperator(t *testing.T, extra ...string) *operatorUnderTest {
	t.Helper()
	c := NewCluster(t, ClusterOptions{})
	op := c.NewReplica(t, "0", extra...)
	op.Start(t)
	op.WaitReady(t, 90*time.Second)
	o := &operatorUnderTest{c: c, op: op, dir: c.DefaultDirectory(t), tok: c.Token(t, "default", "idp")}
	o.scim = c.scim(op, "default", o.tok)
	op.Eventually(t, "the token to be accepted", 30*time.Second, func() bool {
		r, err := o.scim.do(context.Background(), "GET", "/ServiceProviderConfig", nil)
		return err == nil && r.Status == http.StatusOK
	})
	return o
}

// users lists the directory's ScimUsers from the API server (not a cache).
func (o *operatorUnderTest) users(t *testing.T) []identityv1alpha1.ScimUser {
	t.Helper()
	var list identityv1alpha1.ScimUserList
	if err := o.c.Admin.List(context.Background(), &list, client.InNamespace(o.dir.Spec.Namespace)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func userBody(name, title string, active bool) map[string]any {
	return map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":    name,
		"displayName": "User " + name,
		"title":       title,
		"active":      active,
	}
}

func groupBody(name string, members ...string) map[string]any {
	ms := []any{}
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, "members": ms}
}

// patchBody is a PatchOp request body; op is one of its operations.
var patchBody, op = testenv.PatchOp, testenv.Op

// must sends a request that has to succeed with want.
func (s *scimClient) must(t *testing.T, want int, method, path string, body any, headers ...string) scimResponse {
	t.Helper()
	r, err := s.do(context.Background(), method, path, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.Status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Raw, want)
	}
	return r
}

// TestSIGTERMDrainsInFlightRequestsReleasesTheLeaseAndExitsZero sends SIGTERM while eight
// clients write: every request written before the signal gets a complete 2xx answer and its
// write is stored; every later request is refused at the connection and stores nothing; the
// process exits 0 and the leader election Lease is released.
func TestSIGTERMDrainsInFlightRequestsReleasesTheLeaseAndExitsZero(t *testing.T) {
	o := startOperator(t)
	// One connection per request: with keep-alive, a request written onto an idle connection just
	// as the server closes it is lost in any HTTP/1.1 server's graceful shutdown (clients retry
	// those); without it, every request the server accepted before closing its listener counts.
	tr := o.c.HTTPS.Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	load := &scimClient{http: &http.Client{Timeout: 60 * time.Second, Transport: tr}, base: o.scim.base, token: o.tok}

	type result struct {
		name       string
		wrote      time.Time // when the request was completely written
		answered   time.Time
		status     int
		err        error
		created    bool
		method, id string
	}
	var (
		mu      sync.Mutex
		results []result
		sigAt   time.Time
		stop    = make(chan struct{})
		started sync.WaitGroup
	)
	var acked sync.WaitGroup
	acked.Add(200)
	var ackedCount int
	for w := range 8 {
		started.Add(1)
		go func() {
			defer started.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("term-%d-%d@example.com", w, i)
				var wrote time.Time
				ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
					WroteRequest: func(httptrace.WroteRequestInfo) { wrote = time.Now() },
				})
				r, err := load.do(ctx, "POST", "/Users", userBody(name, "t0", true))
				res := result{name: name, wrote: wrote, answered: time.Now(), status: r.Status, err: err, method: "POST", id: r.str("id")}
				mu.Lock()
				results = append(results, res)
				if err == nil && r.Status == http.StatusCreated && ackedCount < 200 {
					ackedCount++
					acked.Done()
				}
				mu.Unlock()
				if err != nil {
					return // the server is gone
				}
			}
		}()
	}
	acked.Wait() // under load
	mu.Lock()
	sigAt = time.Now()
	mu.Unlock()
	exitErr := o.op.Terminate(t, 60*time.Second)
	close(stop)
	started.Wait()

	if exitErr != nil {
		t.Errorf("after SIGTERM the operator exited with %v, want status 0", exitErr)
	}
	if l := o.c.LeaderLease(t); l == nil {
		t.Errorf("no leader election Lease")
	} else if h := l.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("the leader election Lease is still held by %q after the leader exited", *h)
	}

	stored := map[string]identityv1alpha1.ScimUser{}
	for _, u := range o.users(t) {
		stored[u.Spec.UserName] = u
	}
	var before, drained, refused, acknowledged int
	for _, r := range results {
		if r.err == nil && r.status == http.StatusCreated {
			acknowledged++
		}
		sentBefore := !r.wrote.IsZero() && r.wrote.Before(sigAt)
		u, isStored := stored[r.name]
		switch {
		case sentBefore && r.err != nil:
			t.Errorf("POST %s was written %s before SIGTERM and got no complete answer: %v", r.name, sigAt.Sub(r.wrote), r.err)
		case sentBefore && r.status != http.StatusCreated:
			t.Errorf("POST %s was written before SIGTERM and answered %d, want 201", r.name, r.status)
		case r.err == nil && r.status == http.StatusCreated && (!isStored || string(u.Name) != r.id):
			t.Errorf("POST %s was answered 201 (id %s) but is not stored", r.name, r.id)
		case r.err != nil && isStored:
			t.Errorf("POST %s got no answer (%v) but was stored", r.name, r.err)
		}
		if sentBefore {
			before++
			if r.answered.After(sigAt) {
				drained++
			}
		}
		if r.wrote.IsZero() && r.err != nil {
			refused++
		}
	}
	t.Logf("SIGTERM under load: %d requests written before it, %d of them answered after it (drained), %d refused at the connection afterwards; %d acknowledged, %d users stored; exit %v",
		before, drained, refused, acknowledged, len(stored), exitErr)
	if drained == 0 {
		t.Errorf("no request was in flight when SIGTERM arrived: the test proved nothing about draining")
	}
	if len(stored) != acknowledged {
		t.Errorf("%d users stored, want the %d acknowledged ones", len(stored), acknowledged)
	}
}

// lookupUser finds users by userName through the SCIM filter, as an IdP does after a 409.
func (s *scimClient) lookupUser(t *testing.T, name string) []string {
	t.Helper()
	r := s.must(t, http.StatusOK, "GET", "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`), nil)
	var ids []string
	list, _ := r.Body["Resources"].([]any)
	for _, res := range list {
		id, _ := res.(map[string]any)["id"].(string)
		ids = append(ids, id)
	}
	return ids
}

// TestRetriedPOSTsAndDELETEsAreIdempotent plays an IdP whose first POST of each user times out
// at a different moment and who retries it: the retry answers 201 or 409 uniqueness, and after a
// 409 the user is found by filter, exactly once. Repeated DELETEs answer 404 and change nothing:
// no object, no Event, no revocation.
func TestRetriedPOSTsAndDELETEsAreIdempotent(t *testing.T) {
	o := startOperator(t)
	ctx := context.Background()
	tr := o.c.HTTPS.Transport.(*http.Transport).Clone()
	const n = 30
	var created, conflicts, firstAnswered int
	ids := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("retry-%02d@example.com", i)
		body := userBody(name, "x", true)
		// The first attempt gives up after 0.4..12 ms: before, during or after the server's writes.
		hurried := &scimClient{http: &http.Client{Timeout: time.Duration(1+i) * 400 * time.Microsecond, Transport: tr}, base: o.scim.base, token: o.tok}
		first, firstErr := hurried.do(ctx, "POST", "/Users", body)
		if firstErr == nil {
			firstAnswered++
			if first.Status != http.StatusCreated {
				t.Fatalf("first POST %s: %d %s", name, first.Status, first.Raw)
			}
		}
		r, err := o.scim.do(ctx, "POST", "/Users", body)
		if err != nil {
			t.Fatalf("retried POST %s: %v", name, err)
		}
		switch {
		case r.Status == http.StatusCreated && firstErr == nil:
			t.Fatalf("POST %s was answered 201 twice: a duplicate", name)
		case r.Status == http.StatusCreated:
			created++
			ids[name] = r.str("id")
		case r.Status == http.StatusConflict && r.str("scimType") == "uniqueness":
			conflicts++
			// "Already exists": the IdP looks it up. The first request may still be finishing.
			var found []string
			o.op.Eventually(t, "the user of a 409 to be found by filter", 40*time.Second, func() bool {
				found = o.scim.lookupUser(t, name)
				return len(found) > 0
			})
			if len(found) != 1 {
				t.Fatalf("filter userName eq %s found %d users: %v", name, len(found), found)
			}
			if firstErr == nil && found[0] != first.str("id") {
				t.Fatalf("filter found %s, the first POST created %s", found[0], first.str("id"))
			}
			ids[name] = found[0]
		default:
			t.Fatalf("retried POST %s: %d %s", name, r.Status, r.Raw)
		}
	}
	stored := map[string]int{}
	for _, u := range o.users(t) {
		stored[u.Spec.UserName]++
		if ids[u.Spec.UserName] != u.Name {
			t.Errorf("ScimUser %s (%s) is not the user the IdP was given (%s)", u.Name, u.Spec.UserName, ids[u.Spec.UserName])
		}
		if u.Spec.Title != "x" || !u.Spec.IsActive() {
			t.Errorf("ScimUser %s is half-written: %+v", u.Name, u.Spec)
		}
	}
	for name, count := range stored {
		if count != 1 {
			t.Errorf("%s is stored %d times", name, count)
		}
	}
	if len(stored) != n {
		t.Errorf("%d users stored, want %d", len(stored), n)
	}
	t.Logf("retried POSTs: %d first attempts answered, %d retries created the user, %d answered 409 and found it by filter; %d users stored", firstAnswered, created, conflicts, len(stored))

	// Repeated DELETEs. A group holds the deleted user and another one.
	gone, kept := ids["retry-00@example.com"], ids["retry-01@example.com"]
	o.scim.must(t, http.StatusCreated, "POST", "/Groups", groupBody("idempotent", gone, kept))
	o.scim.must(t, http.StatusNoContent, "DELETE", "/Users/"+gone, nil)
	o.op.Eventually(t, "the deleted user to be revoked and removed", 60*time.Second, func() bool {
		var u identityv1alpha1.ScimUser
		err := o.c.Admin.Get(ctx, types.NamespacedName{Namespace: o.dir.Spec.Namespace, Name: gone}, &u)
		return err != nil && client.IgnoreNotFound(err) == nil
	})
	snapshot := func() map[string]string {
		out := map[string]string{}
		ns := client.InNamespace(o.dir.Spec.Namespace)
		var users identityv1alpha1.ScimUserList
		var groups identityv1alpha1.ScimGroupList
		var events corev1.EventList
		var bindings rbacv1.RoleBindingList
		for _, l := range []client.ObjectList{&users, &groups, &events, &bindings} {
			if err := o.c.Admin.List(ctx, l, ns); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range users.Items {
			out["ScimUser/"+u.Name] = u.ResourceVersion
		}
		for _, g := range groups.Items {
			out["ScimGroup/"+g.Name] = g.ResourceVersion
		}
		for _, e := range events.Items {
			out["Event/"+e.Name] = e.ResourceVersion
		}
		for _, b := range bindings.Items {
			out["RoleBinding/"+b.Name] = b.ResourceVersion
		}
		return out
	}
	// Let the controllers finish with the deletion before comparing.
	prev := snapshot()
	o.op.Eventually(t, "the directory's objects to settle", 60*time.Second, func() bool {
		time.Sleep(2 * time.Second)
		cur := snapshot()
		same := equalMaps(prev, cur)
		prev = cur
		return same
	})
	for range 3 {
		r := o.scim.must(t, http.StatusNotFound, "DELETE", "/Users/"+gone, nil)
		if r.str("status") != "404" {
			t.Errorf("repeated DELETE: body %s", r.Raw)
		}
	}
	o.scim.must(t, http.StatusNotFound, "DELETE", "/Users/00000000-0000-4000-8000-000000000000", nil)
	// Side effects, if any, would follow within the controllers' reaction time.
	time.Sleep(3 * time.Second)
	after := snapshot()
	for k, v := range prev {
		if after[k] != v {
			t.Errorf("a repeated DELETE changed %s (resourceVersion %s -> %q)", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := prev[k]; !ok {
			t.Errorf("a repeated DELETE created %s", k)
		}
	}
	t.Logf("repeated DELETEs: 3 x 404 and 1 x 404 for an unknown id; %d objects and Events unchanged", len(prev))
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestAPIServerOutageIsAnswered503AndRecoveredWithoutRestart kills the kube-apiserver while the
// operator runs: every SCIM write answers 503 with Retry-After (never 500, never past the request
// timeout) and stores nothing, reads answer from the cache (or 503); once the kube-apiserver is
// back, the same process accepts writes again and its controllers reconcile them. The leader's
// renew deadline is raised so that it keeps its Lease through the outage.
func TestAPIServerOutageIsAnswered503AndRecoveredWithoutRestart(t *testing.T) {
	o := startOperator(t, "--leader-election-lease-duration=120s", "--leader-election-renew-deadline=90s")
	ctx := context.Background()
	ann := o.scim.must(t, http.StatusCreated, "POST", "/Users", userBody("ann@example.com", "before", true)).str("id")
	group := o.scim.must(t, http.StatusCreated, "POST", "/Groups", groupBody("outage-devs", ann)).str("id")
	rb := o.bindGroup(t, "outage-devs")
	o.op.Eventually(t, "the RoleBinding to name ann", 60*time.Second, func() bool {
		return slices.Equal(o.subjects(t, rb), []string{"oidc:ann@example.com"})
	})
	pid := o.op.Pid()
	annBefore := o.scim.must(t, http.StatusOK, "GET", "/Users/"+ann, nil).Raw

	apiDown := time.Now()
	o.c.KillAPIServer(t)
	if err := o.c.Admin.Get(ctx, types.NamespacedName{Name: "default"}, &identityv1alpha1.ScimDirectory{}); err == nil {
		t.Fatal("the kube-apiserver still answers after it was stopped")
	}
	// The client waits longer than the server's request timeout, so a hang shows as an error.
	patient := &scimClient{http: &http.Client{Timeout: scimserver.RequestTimeout + 15*time.Second, Transport: o.c.HTTPS.Transport}, base: o.scim.base, token: o.tok}
	type outcome struct {
		what   string
		status int
	}
	var writes, reads []outcome
	counts := map[string]int{}
	// Longer than the default renew deadline (10 s), which would have ended the leader.
	for round := 0; round < 6 || time.Since(apiDown) < 15*time.Second; round++ {
		for _, w := range []struct {
			what, method, path string
			body               any
		}{
			{"POST user", "POST", "/Users", userBody(fmt.Sprintf("outage-%d@example.com", round), "x", true)},
			{"PUT user", "PUT", "/Users/" + ann, userBody("ann@example.com", fmt.Sprintf("put-%d", round), true)},
			{"PATCH user", "PATCH", "/Users/" + ann, patchBody(op("replace", "title", fmt.Sprintf("patch-%d", round)))},
			{"PATCH deactivate", "PATCH", "/Users/" + ann, patchBody(op("replace", "active", false))},
			{"PATCH members", "PATCH", "/Groups/" + group, patchBody(op("remove", `members[value eq "`+ann+`"]`, nil))},
			{"POST group", "POST", "/Groups", groupBody(fmt.Sprintf("outage-group-%d", round))},
			{"DELETE user", "DELETE", "/Users/" + ann, nil},
			{"DELETE group", "DELETE", "/Groups/" + group, nil},
		} {
			r, err := patient.do(ctx, w.method, w.path, w.body)
			if err != nil {
				t.Fatalf("%s during the outage: no answer: %v", w.what, err)
			}
			writes = append(writes, outcome{w.what, r.Status})
			counts[w.what+" "+strconv.Itoa(r.Status)]++
			if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || r.str("status") != "503" {
				t.Errorf("%s during the outage: %d Retry-After=%q %s, want 503 with Retry-After", w.what, r.Status, r.Header.Get("Retry-After"), r.Raw)
			}
		}
		for _, rd := range []struct{ what, path string }{
			{"GET user", "/Users/" + ann},
			{"GET group", "/Groups/" + group},
			{"filter users", "/Users?filter=" + url.QueryEscape(`userName eq "ann@example.com"`)},
			{"list groups", "/Groups"},
		} {
			r, err := patient.do(ctx, "GET", rd.path, nil)
			if err != nil {
				t.Fatalf("%s during the outage: no answer: %v", rd.what, err)
			}
			reads = append(reads, outcome{rd.what, r.Status})
			counts[rd.what+" "+strconv.Itoa(r.Status)]++
			switch {
			case r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") != "":
			case r.Status != http.StatusOK:
				t.Errorf("%s during the outage: %d %s, want 200 from the cache or 503", rd.what, r.Status, r.Raw)
			case rd.what == "GET user" && string(r.Raw) != string(annBefore):
				t.Errorf("GET user during the outage answered %s, before it %s", r.Raw, annBefore)
			case rd.what == "filter users" && fmt.Sprint(r.Body["totalResults"]) != "1":
				t.Errorf("filter during the outage: %s", r.Raw)
			}
		}
		time.Sleep(time.Second)
	}
	outage := time.Since(apiDown)
	o.c.StartAPIServer(t)
	t.Logf("kube-apiserver down for %s: %d writes, %d reads answered: %v", outage.Round(time.Second), len(writes), len(reads), counts)

	// The same process recovers: writes succeed again (an IdP retries them)...
	if !o.op.Running() || o.op.Pid() != pid {
		t.Fatalf("the operator exited during the outage (%v)", o.op.ExitErr())
	}
	var bob string
	o.op.Eventually(t, "a write to succeed after the outage", 120*time.Second, func() bool {
		r, err := o.scim.do(ctx, "POST", "/Users", userBody("bob@example.com", "after", true))
		if err == nil && r.Status == http.StatusConflict {
			ids := o.scim.lookupUser(t, "bob@example.com")
			if len(ids) == 1 {
				bob = ids[0]
			}
			return bob != ""
		}
		bob = r.str("id")
		return err == nil && r.Status == http.StatusCreated
	})
	o.scim.must(t, http.StatusNoContent, "PATCH", "/Groups/"+group, patchBody(op("add", "members", []any{map[string]any{"value": bob}})))
	// ...nothing written during the outage was stored...
	for _, u := range o.users(t) {
		if u.Name == ann && (u.Spec.Title != "before" || !u.Spec.IsActive() || u.DeletionTimestamp != nil) {
			t.Errorf("a write refused during the outage changed ann: %+v", u.Spec)
		}
		if u.Name != ann && u.Name != bob {
			t.Errorf("a POST refused during the outage stored %s", u.Spec.UserName)
		}
	}
	var groups identityv1alpha1.ScimGroupList
	if err := o.c.Admin.List(ctx, &groups, client.InNamespace(o.dir.Spec.Namespace)); err != nil {
		t.Fatal(err)
	}
	if len(groups.Items) != 1 {
		t.Errorf("%d groups stored, want only the one from before the outage", len(groups.Items))
	}
	// ...and the controllers reconcile: the new member is bound.
	o.op.Eventually(t, "the RoleBinding to name ann and bob after the outage", 120*time.Second, func() bool {
		return slices.Equal(o.subjects(t, rb), []string{"oidc:ann@example.com", "oidc:bob@example.com"})
	})
	if o.op.Pid() != pid || !o.op.Running() {
		t.Fatalf("the operator was restarted")
	}
}

// bindGroup creates a ScimRoleBinding in namespace "bound" that binds a ClusterRole to the
// members of the group with displayName; it returns the RoleBinding the operator materialises.
func (o *operatorUnderTest) bindGroup(t *testing.T, displayName string) types.NamespacedName {
	t.Helper()
	ctx := context.Background()
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bound"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "bound-reader"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}},
		&identityv1alpha1.ScimRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: displayName, Namespace: "bound"},
			Spec: identityv1alpha1.ScimBindingSpec{
				Directory: "default",
				Groups:    []identityv1alpha1.GroupRef{{DisplayName: displayName}},
				RoleRef:   identityv1alpha1.RoleRef{Kind: "ClusterRole", Name: "bound-reader"},
			},
		},
	} {
		if err := o.c.Admin.Create(ctx, obj); client.IgnoreAlreadyExists(err) != nil {
			t.Fatal(err)
		}
	}
	return types.NamespacedName{Namespace: "bound", Name: "scim-" + displayName}
}

// subjects are the sorted user names a materialised RoleBinding binds (nil if it does not exist).
func (o *operatorUnderTest) subjects(t *testing.T, rb types.NamespacedName) []string {
	t.Helper()
	var b rbacv1.RoleBinding
	if err := o.c.Admin.Get(context.Background(), rb, &b); err != nil {
		return nil
	}
	var out []string
	for _, s := range b.Subjects {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}
