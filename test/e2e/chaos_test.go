package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// userState is what an IdP believes one of its users is.
type userState struct {
	exists bool
	title  string
	active bool
}

// modelUser is one user an IdP client owns: its last acknowledged state, or, after a write that
// never got a definite answer, the two states it may be in (before or after that write, never a
// mixture). Such a user is not written again.
type modelUser struct {
	name      string
	id        string
	state     userState
	alt       *userState
	groups    map[int]bool // acknowledged membership in the shared groups
	unsureIn  map[int]bool // memberships whose last change got no definite answer
	writeSeen int
}

// chaosStats are the figures the test reports.
type chaosStats struct {
	sent, acknowledged, retried, unanswered, phantom409, serverErrors atomic.Int64
}

// idpClient writes like an identity provider: it retries connection errors, 429 and 503 (after
// Retry-After, capped), treats a retried POST's 409 uniqueness as "already exists" and looks the
// user up by filter, a retried DELETE's 404 as done, a retried member removal's noTarget as done.
type idpClient struct {
	t     *testing.T
	s     *scimClient
	stats *chaosStats
	// giveUp bounds the retries of one write; after it the write counts as unanswered.
	giveUp time.Duration
}

// write sends one write until it gets a definite answer; ok is false if it never did. attempts
// is the number of requests sent.
func (c *idpClient) write(method, path string, body any) (r scimResponse, attempts int, ok bool) {
	start := time.Now()
	for {
		attempts++
		c.stats.sent.Add(1)
		resp, err := c.s.do(context.Background(), method, path, body)
		switch {
		case err == nil && resp.Status >= 500 && resp.Status != http.StatusServiceUnavailable:
			c.stats.serverErrors.Add(1)
			c.t.Errorf("%s %s answered %d: %s", method, path, resp.Status, resp.Raw)
		case err == nil && resp.Status != http.StatusServiceUnavailable && resp.Status != http.StatusTooManyRequests:
			if attempts > 1 {
				c.stats.retried.Add(1)
			}
			return resp, attempts, true
		}
		if time.Since(start) > c.giveUp {
			c.stats.unanswered.Add(1)
			return resp, attempts, false
		}
		wait := 200 * time.Millisecond * time.Duration(min(attempts, 5))
		if err == nil {
			if s, _ := strconv.Atoi(resp.Header.Get("Retry-After")); s > 0 {
				wait = min(time.Duration(s)*time.Second, 2*time.Second)
			}
		}
		time.Sleep(wait)
	}
}

// TestNoLostOrPhantomWritesWhileTheOperatorIsKilled runs 10,000 SCIM writes (create, PUT, PATCH
// of attributes and of group members, deactivation, delete) from eight IdP clients against the
// operator binary, which is killed with SIGKILL and restarted at random moments. Afterwards
// every user and membership is in its last acknowledged state (or, for a write that never got an
// answer, wholly before or wholly after it), no user exists twice or without having been created,
// and the controllers converge: each group's RoleBinding names exactly its active members, and
// every deactivated user has its sessions revoked.
func TestNoLostOrPhantomWritesWhileTheOperatorIsKilled(t *testing.T) {
	const (
		clients = 8
		writes  = 10000
		kills   = 4
		groups  = 4
	)
	o := startOperator(t)
	ctx := context.Background()
	stats := &chaosStats{}
	groupIDs := make([]string, groups)
	bindings := make([]string, groups)
	for g := range groups {
		name := "chaos-" + strconv.Itoa(g)
		groupIDs[g] = o.scim.must(t, http.StatusCreated, "POST", "/Groups", groupBody(name)).str("id")
		bindings[g] = name
		o.bindGroup(t, name)
	}
	tokens := make([]string, clients)
	for i := range tokens {
		tokens[i] = o.c.Token(t, "default", "idp-"+strconv.Itoa(i))
	}
	o.op.Eventually(t, "the tokens to be accepted", 60*time.Second, func() bool {
		for _, tok := range tokens {
			r, err := o.c.scim(o.op, "default", tok).do(ctx, "GET", "/ServiceProviderConfig", nil)
			if err != nil || r.Status != http.StatusOK {
				return false
			}
		}
		return true
	})

	// The killer: SIGKILL at random points of the load, restart after a random pause.
	var done atomic.Int64
	killAt := make([]int64, kills)
	for i := range killAt {
		killAt[i] = int64(writes*(i*2+1)/(kills*2+1)) + rand.Int64N(writes/(kills*2+1))
	}
	killed := 0
	killerDone := make(chan struct{})
	stopKiller := make(chan struct{})
	go func() {
		defer close(killerDone)
		for _, at := range killAt {
			for done.Load() < at {
				select {
				case <-stopKiller:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
			if err := o.op.signal(syscall.SIGKILL); err != nil {
				t.Errorf("kill: %v", err)
				return
			}
			<-o.op.Exited()
			killed++
			time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond)
			o.op.Start(t)
			// The next kill comes after this replica served again.
			for {
				if !o.op.Running() {
					// Not t.Fatalf: this is not the test's goroutine.
					t.Errorf("the restarted operator exited (%v)", o.op.ExitErr())
					return
				}
				resp, err := o.c.Plain.Get(o.op.ReadyURL)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()

	models := make([][]*modelUser, clients)
	var wg sync.WaitGroup
	var budget atomic.Int64
	budget.Store(writes)
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &idpClient{t: t, s: o.c.scim(o.op, "default", tokens[w]), stats: stats, giveUp: 90 * time.Second}
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			take := func() bool {
				if budget.Add(-1) < 0 {
					return false
				}
				done.Add(1)
				return true
			}
			var live []*modelUser // certain and existing
			seq := 0
			for {
				seq++
				if len(live) < 3 || rng.IntN(100) < 22 {
					if !take() {
						return
					}
					u := &modelUser{name: fmt.Sprintf("c%d-u%d@example.com", w, seq), groups: map[int]bool{}, unsureIn: map[int]bool{}}
					models[w] = append(models[w], u)
					c.create(u)
					if u.alt == nil && u.state.exists {
						live = append(live, u)
					}
					continue
				}
				i := rng.IntN(len(live))
				u := live[i]
				p := rng.IntN(100)
				switch {
				case p < 20: // PUT
					if !take() {
						return
					}
					next := userState{exists: true, title: "put-" + strconv.Itoa(seq), active: u.state.active}
					r, _, ok := c.write("PUT", "/Users/"+u.id, userBody(u.name, next.title, next.active))
					c.settle(u, next, r, ok, http.StatusOK)
				case p < 40: // PATCH an attribute
					if !take() {
						return
					}
					next := u.state
					next.title = "patch-" + strconv.Itoa(seq)
					r, _, ok := c.write("PATCH", "/Users/"+u.id, patchBody(op("replace", "title", next.title)))
					c.settle(u, next, r, ok, http.StatusOK)
				case p < 72: // PATCH members of a shared group
					if !take() {
						return
					}
					g := rng.IntN(groups)
					if u.unsureIn[g] {
						continue
					}
					add := !u.groups[g]
					body := patchBody(op("add", "members", []any{map[string]any{"value": u.id}}))
					if !add {
						body = patchBody(op("remove", `members[value eq "`+u.id+`"]`, nil))
					}
					r, attempts, ok := c.write("PATCH", "/Groups/"+groupIDs[g], body)
					switch {
					case !ok:
						u.unsureIn[g] = true
					case r.Status == http.StatusNoContent, !add && attempts > 1 && r.Status == http.StatusBadRequest && r.str("scimType") == "noTarget":
						c.stats.acknowledged.Add(1)
						u.groups[g] = add
					default:
						t.Errorf("PATCH group %d (add=%v) for %s: %d %s", g, add, u.name, r.Status, r.Raw)
						u.unsureIn[g] = true
					}
				case p < 85: // deactivate
					if !take() {
						return
					}
					next := u.state
					next.active = false
					r, _, ok := c.write("PATCH", "/Users/"+u.id, patchBody(op("replace", "active", false)))
					c.settle(u, next, r, ok, http.StatusOK)
				default: // delete
					if !take() {
						return
					}
					r, attempts, ok := c.write("DELETE", "/Users/"+u.id, nil)
					switch {
					case !ok:
						u.alt = &userState{}
					case r.Status == http.StatusNoContent, attempts > 1 && r.Status == http.StatusNotFound:
						c.stats.acknowledged.Add(1)
						u.state = userState{}
					default:
						t.Errorf("DELETE %s: %d %s", u.name, r.Status, r.Raw)
						u.alt = &userState{}
					}
				}
				if u.alt != nil || !u.state.exists {
					live = slices.Delete(live, i, i+1)
				}
			}
		}()
	}
	wg.Wait()
	close(stopKiller)
	<-killerDone
	if !o.op.Running() {
		o.op.Start(t)
	}
	o.op.WaitReady(t, 90*time.Second)

	// Users: the last acknowledged state, exactly once; nothing else.
	var stored []identityv1alpha1.ScimUser
	o.op.Eventually(t, "deleted users to be revoked and removed", 5*time.Minute, func() bool {
		stored = o.users(t)
		return !slices.ContainsFunc(stored, func(u identityv1alpha1.ScimUser) bool { return u.DeletionTimestamp != nil })
	})
	byName := map[string][]identityv1alpha1.ScimUser{}
	for _, u := range stored {
		byName[u.Spec.UserName] = append(byName[u.Spec.UserName], u)
	}
	var verified, lost, duplicated, phantom, uncertain, memberships int
	known := map[string]bool{}
	for _, list := range models {
		for _, u := range list {
			known[u.name] = true
			have := byName[u.name]
			if len(have) > 1 {
				duplicated++
				t.Errorf("%s is stored %d times", u.name, len(have))
				continue
			}
			got := userState{}
			if len(have) == 1 {
				got = userState{exists: true, title: have[0].Spec.Title, active: have[0].Spec.IsActive()}
				if u.id != "" && have[0].Name != u.id {
					t.Errorf("%s is stored as %s, the IdP was given %s", u.name, have[0].Name, u.id)
					lost++
					continue
				}
			}
			switch {
			case got == u.state:
				verified++
			case u.alt != nil && got == *u.alt:
				verified++
			case u.alt != nil:
				lost++
				t.Errorf("%s is %+v: neither before (%+v) nor after (%+v) its unanswered write", u.name, got, u.state, *u.alt)
			case !u.state.exists:
				phantom++
				t.Errorf("%s is stored (%+v) but was deleted or never created", u.name, got)
			default:
				lost++
				t.Errorf("%s is %+v, acknowledged as %+v", u.name, got, u.state)
			}
			if u.alt != nil {
				uncertain++
			}
		}
	}
	for name := range byName {
		if !known[name] {
			phantom++
			t.Errorf("%s is stored but no client ever wrote it", name)
		}
	}
	// Memberships of users that exist and are certain.
	var groupList identityv1alpha1.ScimGroupList
	if err := o.c.Admin.List(ctx, &groupList, client.InNamespace(o.dir.Spec.Namespace)); err != nil {
		t.Fatal(err)
	}
	members := map[string]map[string]bool{}
	for _, g := range groupList.Items {
		members[g.Name] = map[string]bool{}
		for _, m := range g.Spec.Members {
			members[g.Name][m.Value] = true
		}
	}
	for _, list := range models {
		for _, u := range list {
			if u.alt != nil || !u.state.exists {
				continue
			}
			for g, id := range groupIDs {
				if u.unsureIn[g] {
					continue
				}
				memberships++
				if members[id][u.id] != u.groups[g] {
					lost++
					t.Errorf("%s in group %d: stored %v, acknowledged %v", u.name, g, members[id][u.id], u.groups[g])
				}
			}
		}
	}
	t.Logf("writes: %d requests sent for %d operations, %d acknowledged, %d answered only after retries, %d never answered (uncertain users: %d), %d 5xx other than 503; kills: %d",
		stats.sent.Load(), writes, stats.acknowledged.Load(), stats.retried.Load(), stats.unanswered.Load(), uncertain, stats.serverErrors.Load(), killed)
	t.Logf("users: %d stored, %d verified, lost %d, duplicated %d, phantom %d; memberships verified: %d; 409s whose user was not found yet: %d",
		len(stored), verified, lost, duplicated, phantom, memberships, stats.phantom409.Load())
	if killed < kills {
		t.Errorf("the operator was killed %d times, want %d", killed, kills)
	}

	// Convergence: RoleBindings name exactly the active members; deactivated users are revoked.
	active := map[string]string{} // id -> kubernetes user name
	for _, u := range stored {
		if u.Spec.IsActive() {
			active[u.Name] = "oidc:" + u.Spec.UserName
		}
	}
	for g, id := range groupIDs {
		var want []string
		for m := range members[id] {
			if name, ok := active[m]; ok {
				want = append(want, name)
			}
		}
		slices.Sort(want)
		rb := o.bindGroup(t, bindings[g])
		var got []string
		o.op.Eventually(t, "the RoleBinding of group "+bindings[g]+" to name its active members", 5*time.Minute, func() bool {
			got = o.subjects(t, rb)
			return slices.Equal(got, want)
		})
	}
	o.op.Eventually(t, "every deactivated user to have its sessions revoked", 5*time.Minute, func() bool {
		for _, u := range o.users(t) {
			if !u.Spec.IsActive() && u.Status.SessionsRevokedAt == nil {
				return false
			}
		}
		return true
	})
}

// create POSTs a new user until it has a definite answer. A retried POST's 409 means that an
// earlier attempt created it: the user is looked up by filter (it may still be in the making,
// or its name may be claimed by an attempt that died with the operator; then the POST is
// retried).
func (c *idpClient) create(u *modelUser) {
	next := userState{exists: true, title: "t0", active: true}
	start := time.Now()
	for {
		r, attempts, ok := c.write("POST", "/Users", userBody(u.name, next.title, next.active))
		switch {
		case !ok:
			u.state, u.alt = userState{}, &next
			return
		case r.Status == http.StatusCreated:
			c.stats.acknowledged.Add(1)
			u.id, u.state = r.str("id"), next
			return
		case r.Status == http.StatusConflict && r.str("scimType") == "uniqueness" && (attempts > 1 || time.Since(start) > time.Second):
			lookup, err := c.s.do(context.Background(), "GET", "/Users?filter=userName%20eq%20%22"+u.name+"%22", nil)
			if err == nil && lookup.Status == http.StatusOK {
				if list, _ := lookup.Body["Resources"].([]any); len(list) == 1 {
					c.stats.acknowledged.Add(1)
					u.id, _ = list[0].(map[string]any)["id"].(string)
					u.state = next
					return
				}
			}
			c.stats.phantom409.Add(1)
			if time.Since(start) > 2*c.giveUp {
				u.state, u.alt = userState{}, &next
				c.stats.unanswered.Add(1)
				return
			}
			time.Sleep(time.Second)
		default:
			c.t.Errorf("POST %s: %d %s", u.name, r.Status, r.Raw)
			u.state, u.alt = userState{}, &next
			return
		}
	}
}

// settle records the outcome of a write to u that should answer want.
func (c *idpClient) settle(u *modelUser, next userState, r scimResponse, ok bool, want int) {
	switch {
	case !ok:
		u.alt = &next
	case r.Status == want:
		c.stats.acknowledged.Add(1)
		u.state = next
	default:
		c.t.Errorf("write to %s: %d %s, want %d", u.name, r.Status, r.Raw, want)
		u.alt = &next
	}
}
