package main

// Scenario (g): the initial sync of a large directory, as an identity
// provider pushes it, and what the operator looks like afterwards.
//
//  1. Before the sync, ScimRoleBindings in revokeNS bind the largest group
//     ("all employees"), a large one and a nested parent, and a ScimApp
//     (serviceAccount provisioner) takes one mid-size group.
//  2. Sync, timed: -sync-users users and -sync-groups groups pushed over SCIM
//     by -workers clients with the requests Entra and Okta send (every
//     -sync-okta-every-th user and group the Okta way, the rest Entra's):
//     users: GET filter userName eq → POST /Users; groups: GET filter
//     displayName eq → POST /Groups (Entra without members, Okta with the
//     first batch) → PATCH add members, -sync-batch per request; then nested
//     groups (up to 3 levels) added by PATCH. Group sizes are skewed: two
//     "all employees" groups of the largest size, then size/k^1.1 down to 1.
//     -sync-revoke-users users are also put in 50 groups each.
//  3. Convergence: from the last response until every managed RoleBinding
//     names exactly the expected active members, every expected AppAccount is
//     Provisioned, and the controllers' queues are idle.
//  4. Memory: VmRSS and VmHWM of this process (operator + bench client) and
//     the Go heap after a GC, with the cache at that size.
//  5. Reads: eq filters on userName, externalId, emails (Entra's value-path
//     form) and group displayName, and list pages of 100 at random offsets.
//     Reads over slowQueryAt are listed with their start time, to be set
//     beside GODEBUG=gctrace=1's collections.
//  6. Revocation at scale: a user in 50 groups deactivated over SCIM, timed
//     as in (e).
//  7. Raw: the same number of ScimUsers and ScimGroups (groups with their
//     final members) created straight through the controller-runtime client
//     into a second directory, with the same number of workers. It runs
//     last, so that steps 3–6 see a cache holding one directory of the size
//     asked for.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/testenv"
)

// Targets of (g).
const (
	targetSyncRatio     = 1.3              // SCIM sync time / raw write time
	targetConverge      = 30 * time.Second // last request → bindings and app accounts converged
	targetPageP99       = 20 * time.Millisecond
	targetRSS           = 1 << 30
	groupsPerRevokeUser = 50
)

const (
	syncDir    = "bench-sync"
	syncRawDir = "bench-sync-raw"
	syncAppNS  = "bench-sync-app"
	syncApp    = "sync-app"
	// convergePoll is how often convergence is checked (its resolution).
	convergePoll = 250 * time.Millisecond
)

// largestGroupCap is how many members one ScimGroup can hold today; groups
// above it need the sharded representation.
const largestGroupCap = identityv1alpha1.MaxGroupMembers

type syncGroup struct {
	name, externalID string
	id, rawID        string
	users            []int // member users, by index
	children         []int // nested member groups, by index
}

type syncBinding struct {
	name  string
	group int
	want  map[string]bool // Kubernetes user names expected as subjects
}

type syncPlan struct {
	users    []user   // userName set up front, id once POSTed
	rawIDs   []string // ids of the raw directory's users
	groups   []syncGroup
	edges    [][2]int // parent, child
	subjects []int    // users in groupsPerRevokeUser groups each
	bindings []syncBinding
	appGroup int
	appWant  map[string]bool // user ids expected to hold a Provisioned AppAccount
	largest  int
	members  int // user memberships, nested edges excluded
}

// syncResults are the figures of (g).
type syncResults struct {
	users, groups, largest, requested int
	members, edges, patches           int
	usersWall, groupsWall, nestedWall time.Duration
	groupsWallProfile                 wallProfile // -wallprofile
	// chain holds the PATCH latencies of the first largest group, in order:
	// an IdP sends one group's changes one after another, so this chain is
	// the groups phase's critical path.
	chain                       []time.Duration
	conflicts                   map[string]float64 // SCIM writes re-applied, by resource type
	raw                         workResult         // users + groups
	rawUsersWall, rawGroupsWall time.Duration
	requests                    atomic.Int64
	retries, notFound           atomic.Int64 // requests retried; of them after 404
	// convergence, from the last response
	bindingsAt, accountsAt, idleAt, converged time.Duration
	convergeTimedOut                          bool
	accounts                                  int
	// memory of this process, bytes
	rss, hwm, heapLive, goTotal uint64
	benchShare                  uint64 // estimate of the bench client's own data
	rssAfterRaw                 uint64
	reads                       []namedLatencies
	revoke                      revokeResults
}

type namedLatencies struct {
	name   string
	target time.Duration
	lat    latencies
}

// chainSummary describes the largest group's PATCH chain: how many, their
// total and mean, and the mean of its first and last tenth (the first run
// while every client fills a large group, the last mostly alone).
func (s *syncResults) chainSummary() string {
	n := len(s.chain)
	if n == 0 {
		return ""
	}
	mean := func(ds []time.Duration) time.Duration {
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		return sum / time.Duration(max(len(ds), 1))
	}
	tenth := max(n/10, 1)
	return fmt.Sprintf("%d, %v / %v, %v / %v", n, round(mean(s.chain)*time.Duration(n)), round(mean(s.chain)),
		round(mean(s.chain[:tenth])), round(mean(s.chain[n-tenth:])))
}

func (s *syncResults) wall() time.Duration { return s.usersWall + s.groupsWall + s.nestedWall }

// largestGroup is the size of the biggest groups: -sync-max-group, at most the
// directory and what one ScimGroup holds today.
func (o options) largestGroup() int {
	return min(o.syncMaxGroup, o.syncUsers, largestGroupCap)
}

// planSync draws the directory: users, skewed group sizes, nesting, the
// revocation subjects and the bindings.
func (b *bench) planSync() *syncPlan {
	o := b.o
	p := &syncPlan{largest: o.largestGroup()}
	p.users = make([]user, o.syncUsers)
	p.rawIDs = make([]string, o.syncUsers)
	for i := range p.users {
		p.users[i] = user{userName: userName("u", i, syncDir)}
		p.rawIDs[i] = string(uuid.NewUUID())
	}
	p.groups = make([]syncGroup, o.syncGroups)
	for k := range p.groups {
		g := &p.groups[k]
		g.name = fmt.Sprintf("sync-group-%05d", k)
		if k < 2 {
			g.name = []string{"all-employees", "all-staff"}[k]
		}
		g.externalID = "sync-gext-" + strconv.Itoa(k)
		size := p.largest
		if k >= 2 {
			size = max(1, int(float64(p.largest)/math.Pow(float64(k), 1.1)))
		}
		g.users = b.sample(o.syncUsers, size)
	}
	// Nesting, 3 levels: k ⊃ k+1 ⊃ k+2 for k = 50, 150, 250, …
	for k := 50; k+2 < len(p.groups); k += 100 {
		p.edges = append(p.edges, [2]int{k, k + 1}, [2]int{k + 1, k + 2})
		p.groups[k].children = append(p.groups[k].children, k+1)
		p.groups[k+1].children = append(p.groups[k+1].children, k+2)
	}
	p.appGroup = min(20, len(p.groups)-1)
	// Revocation subjects: in the bound "all employees" group, the app's
	// group and 48 more.
	for s := range min(o.syncRevokeUsers, o.syncUsers) {
		i := (s * 7919) % o.syncUsers
		p.subjects = append(p.subjects, i)
		in := []int{0, p.appGroup}
		for _, k := range b.rnd.Perm(len(p.groups)) {
			if len(in) >= min(groupsPerRevokeUser, len(p.groups)) {
				break
			}
			if k != 0 && k != p.appGroup {
				in = append(in, k)
			}
		}
		for _, k := range in {
			if !contains(p.groups[k].users, i) {
				p.groups[k].users = append(p.groups[k].users, i)
			}
		}
	}
	for k := range p.groups {
		// A subject may push a group one past the largest size: keep the cap.
		if len(p.groups[k].users) > largestGroupCap {
			p.groups[k].users = p.groups[k].users[len(p.groups[k].users)-largestGroupCap:]
		}
		p.members += len(p.groups[k].users)
	}
	p.bindings = []syncBinding{{name: "sync-all", group: 0}}
	if len(p.groups) > 2 {
		p.bindings = append(p.bindings, syncBinding{name: "sync-large", group: 2})
	}
	if len(p.edges) > 0 {
		p.bindings = append(p.bindings, syncBinding{name: "sync-nested", group: p.edges[0][0]})
	}
	for i := range p.bindings {
		p.bindings[i].want = map[string]bool{}
		for _, u := range p.effective(p.bindings[i].group) {
			p.bindings[i].want[kubeName(p.users[u])] = true
		}
	}
	return p
}

// effective is the users of group k with nested groups flattened.
func (p *syncPlan) effective(k int) []int {
	seen, out := map[int]bool{}, []int{}
	var walk func(k int)
	walk = func(k int) {
		for _, u := range p.groups[k].users {
			if !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
		for _, c := range p.groups[k].children {
			walk(c)
		}
	}
	walk(k)
	return out
}

// sample draws k distinct indexes of [0, n).
func (b *bench) sample(n, k int) []int {
	if 2*k >= n {
		return b.rnd.Perm(n)[:k]
	}
	seen := make(map[int]bool, k)
	out := make([]int, 0, k)
	for len(out) < k {
		if i := b.rnd.IntN(n); !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

// runSync runs (g).
func (b *bench) runSync(ctx context.Context, res *results, phases *[]phase) error {
	o := b.o
	r := &syncResults{}
	res.initial = r
	if err := b.ensureBenchRole(ctx); err != nil {
		return err
	}
	if err := b.ensureNamespace(ctx, syncAppNS); err != nil {
		return err
	}
	mapping := identityv1alpha1.KubernetesIdentity{UsernamePrefix: testenv.UsernamePrefix, GroupPrefix: testenv.UsernamePrefix}
	base, tok, err := b.env.Directory(ctx, syncDir, syncDir, mapping)
	if err != nil {
		return fmt.Errorf("creating directory %s: %w", syncDir, err)
	}
	d := &scimDir{name: syncDir, namespace: syncDir, base: base, token: tok}
	p := b.planSync()
	r.users, r.groups, r.largest, r.requested = len(p.users), len(p.groups), p.largest, o.syncMaxGroup
	r.members, r.edges = p.members, len(p.edges)
	progress("(g) plan: %d users, %d groups (largest %d members, %d user memberships, %d nested edges), %d users in %d groups each",
		len(p.users), len(p.groups), p.largest, p.members, len(p.edges), len(p.subjects), groupsPerRevokeUser)

	// Bindings and the app exist before the identity provider pushes.
	for _, sb := range p.bindings {
		if err := b.env.Client.Create(ctx, &identityv1alpha1.ScimRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: sb.name, Namespace: revokeNS},
			Spec: identityv1alpha1.ScimBindingSpec{
				Directory: syncDir,
				Groups:    []identityv1alpha1.GroupRef{{DisplayName: p.groups[sb.group].name}},
				RoleRef:   identityv1alpha1.RoleRef{Kind: "ClusterRole", Name: benchRole},
			},
		}); err != nil {
			return fmt.Errorf("creating ScimRoleBinding %s: %w", sb.name, err)
		}
	}
	if err := b.env.Client.Create(ctx, &identityv1alpha1.ScimApp{
		ObjectMeta: metav1.ObjectMeta{Name: syncApp, Namespace: syncAppNS},
		Spec: identityv1alpha1.ScimAppSpec{
			Directory:   syncDir,
			Groups:      []identityv1alpha1.GroupRef{{DisplayName: p.groups[p.appGroup].name}},
			Provisioner: identityv1alpha1.AppProvisioner{ServiceAccount: &identityv1alpha1.ServiceAccountProvisioner{}},
		},
	}); err != nil {
		return fmt.Errorf("creating ScimApp: %w", err)
	}
	if _, err := b.settle(ctx, "(g) set-up"); err != nil {
		return err
	}

	// The sync.
	m := b.startPhase(phaseSync)
	conflictsBefore := counters("scim_operator_scim_write_conflicts_total", "resource_type")
	progress("(g) sync: %d users over SCIM, %d clients (every %d-th the Okta way)", len(p.users), o.workers, o.syncOktaEvery)
	wr := b.runWorkers(ctx, "(g) sync users", len(p.users), o.workers, func(ctx context.Context, i int) error { return b.syncUser(ctx, d, p, i, r) })
	if wr.errors > 0 {
		return fmt.Errorf("(g) sync users: %d errors, first: %v", wr.errors, wr.firstErr)
	}
	r.usersWall = wr.wall
	progress("(g) sync: %d groups over SCIM, members in PATCHes of %d", len(p.groups), o.syncBatch)
	if o.apiprofile != "" {
		b.apiProfile(ctx, o.apiprofile, o.apiprofileSeconds)
	}
	var stopWall func() wallProfile
	if o.wall {
		stopWall = startWallProfile(10 * time.Millisecond)
	}
	var patches atomic.Int64
	wr = b.runWorkers(ctx, "(g) sync groups", len(p.groups), o.workers, func(ctx context.Context, k int) error {
		n, err := b.syncGroup(ctx, d, p, k, r)
		patches.Add(int64(n))
		return err
	})
	if wr.errors > 0 {
		return fmt.Errorf("(g) sync groups: %d errors, first: %v", wr.errors, wr.firstErr)
	}
	r.groupsWall = wr.wall
	if c := r.chainSummary(); c != "" {
		progress("(g) largest group's PATCH chain (count, total / mean, first / last tenth's mean): %s", c)
	}
	if stopWall != nil {
		r.groupsWallProfile = stopWall()
	}
	wr = b.runWorkers(ctx, "(g) sync nested groups", len(p.edges), o.workers, func(ctx context.Context, e int) error {
		parent, child := p.groups[p.edges[e][0]], p.groups[p.edges[e][1]]
		return b.withRetries(ctx, r, func() error {
			r.requests.Add(1)
			return b.scimPatch(ctx, d, "/Groups/"+parent.id, map[string]any{"op": "Add", "path": "members",
				"value": []any{map[string]any{"value": child.id, "type": "Group"}}})
		})
	})
	if wr.errors > 0 {
		return fmt.Errorf("(g) nested groups: %d errors, first: %v", wr.errors, wr.firstErr)
	}
	r.nestedWall = wr.wall
	r.patches = int(patches.Load()) + len(p.edges)
	lastResponse := time.Now()
	r.conflicts = delta(counters("scim_operator_scim_write_conflicts_total", "resource_type"), conflictsBefore)
	b.opsDone(&m)
	progress("(g) sync done in %s: %d requests (%.0f/s)", round(r.wall()), r.requests.Load(), float64(r.requests.Load())/r.wall().Seconds())

	if err := b.waitConverged(ctx, p, lastResponse, r); err != nil {
		return err
	}
	ph := b.endPhase(m, fmt.Sprintf("(g) SCIM sync, %d users + %d groups, %d clients", len(p.users), len(p.groups), o.workers),
		len(p.users)+len(p.groups), r.wall(), r.converged, nil, len(p.users))
	*phases = append(*phases, ph)

	b.measureMemory(p, r)

	m = b.startPhase(phaseSyncReads)
	began := time.Now()
	if err := b.syncReads(ctx, d, p, r); err != nil {
		return err
	}
	b.opsDone(&m)
	*phases = append(*phases, b.endPhase(m, fmt.Sprintf("(g) reads, %d users", len(p.users)), len(r.reads)*(o.syncQueries+o.warmupQueries), time.Since(began), 0, nil, 0))

	if len(p.subjects) > 0 && o.syncRevokeRuns > 0 {
		progress("(g) deactivation of a user in %d groups, %d users: %d runs", groupsPerRevokeUser, len(p.users), o.syncRevokeRuns)
		m = b.startPhase(phaseSyncDeact)
		began = time.Now()
		if err := b.timeDeactivations(ctx, deactTarget{
			label: "(g)", d: d, rb: "scim-" + p.bindings[0].name,
			user: func(run int) user { return p.users[p.subjects[run%len(p.subjects)]] },
		}, o.syncRevokeRuns, &r.revoke); err != nil {
			return err
		}
		b.opsDone(&m)
		*phases = append(*phases, b.endPhase(m, "(g) deactivation, user in 50 groups, + restores", o.syncRevokeRuns, time.Since(began), 0, nil, 0))
	}

	ph, err = b.syncRaw(ctx, p, r)
	if err != nil {
		return err
	}
	*phases = append(*phases, ph)
	r.rssAfterRaw, _ = procMemory()
	return nil
}

// syncUser creates user i the way Entra (lookup, then POST) or Okta (lookup
// with paging parameters, then a POST carrying password, locale, groups)
// does.
func (b *bench) syncUser(ctx context.Context, d *scimDir, p *syncPlan, i int, r *syncResults) error {
	u := &p.users[i]
	okta := i%b.o.syncOktaEvery == 0
	lookup := "/Users?filter=" + url.QueryEscape(`userName eq "`+u.userName+`"`)
	if okta {
		lookup += "&startIndex=1&count=100"
	}
	r.requests.Add(2)
	lr, _, err := b.getList(ctx, d, lookup)
	if err != nil {
		return err
	}
	if lr.TotalResults != 0 {
		return fmt.Errorf("lookup of new user %s: %d results", u.userName, lr.TotalResults)
	}
	body := map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":    u.userName,
		"externalId":  "sync-ext-" + strconv.Itoa(i),
		"name":        map[string]any{"givenName": "Sync", "familyName": "User" + strconv.Itoa(i)},
		"displayName": "Sync User " + strconv.Itoa(i),
		"emails":      []any{map[string]any{"value": u.userName, "type": "work", "primary": true}},
	}
	if okta {
		body["active"] = true
		body["locale"] = "en-US"
		body["groups"] = []any{}
		body["password"] = "not-stored-" + strconv.Itoa(i)
	} else {
		body["schemas"] = append(body["schemas"].([]string), "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
		body["active"] = "True"
		body["meta"] = map[string]any{"resourceType": "User"}
		body["roles"] = []any{}
	}
	id, err := b.scimCreate(ctx, d, "/Users", body)
	u.id = id
	return err
}

// syncGroup creates group k: lookup by displayName, POST (Entra: no members;
// Okta: the first batch), then PATCHes adding the rest. It returns the
// PATCHes sent.
func (b *bench) syncGroup(ctx context.Context, d *scimDir, p *syncPlan, k int, r *syncResults) (int, error) {
	g := &p.groups[k]
	okta := k%b.o.syncOktaEvery == 0
	lookup := "/Groups?filter=" + url.QueryEscape(`displayName eq "`+g.name+`"`)
	if okta {
		lookup += "&startIndex=1&count=100"
	} else {
		lookup += "&excludedAttributes=members"
	}
	r.requests.Add(2)
	lr, _, err := b.getList(ctx, d, lookup)
	if err != nil {
		return 0, err
	}
	if lr.TotalResults != 0 {
		return 0, fmt.Errorf("lookup of new group %s: %d results", g.name, lr.TotalResults)
	}
	refs := func(us []int) []any {
		out := make([]any, len(us))
		for j, i := range us {
			out[j] = map[string]any{"value": p.users[i].id}
		}
		return out
	}
	batch := b.o.syncBatch
	rest := g.users
	body := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": g.name}
	op := "Add"
	if okta {
		first := rest[:min(batch, len(rest))]
		body["members"], rest, op = refs(first), rest[len(first):], "add"
	} else {
		body["externalId"] = g.externalID
	}
	if g.id, err = b.scimCreate(ctx, d, "/Groups", body); err != nil {
		return 0, err
	}
	n := 0
	for len(rest) > 0 {
		chunk := rest[:min(batch, len(rest))]
		rest = rest[len(chunk):]
		n++
		start := time.Now()
		if err := b.withRetries(ctx, r, func() error {
			r.requests.Add(1)
			return b.scimPatch(ctx, d, "/Groups/"+g.id, map[string]any{"op": op, "path": "members", "value": refs(chunk)})
		}); err != nil {
			return n, err
		}
		if k == 0 {
			r.chain = append(r.chain, time.Since(start)) // only group 0's worker appends
		}
	}
	return n, nil
}

// withRetries retries a SCIM request the way identity providers do, after
// 404 (a PATCH reaching a replica whose cache does not hold the group yet),
// 429 or 503: up to 5 times, waiting 1, 2, 4, 8 s. Retries are counted and
// shown; an IdP would log them as failed exports retried later.
func (b *bench) withRetries(ctx context.Context, r *syncResults, req func() error) error {
	for attempt := 0; ; attempt++ {
		err := req()
		se, ok := err.(*statusError)
		if err == nil || !ok || attempt >= 4 || (se.status != http.StatusNotFound && se.status != http.StatusTooManyRequests && se.status != http.StatusServiceUnavailable) {
			return err
		}
		r.retries.Add(1)
		if se.status == http.StatusNotFound {
			r.notFound.Add(1)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(1<<attempt) * time.Second):
		}
	}
}

// scimCreate POSTs body and returns the new resource's id.
func (b *bench) scimCreate(ctx context.Context, d *scimDir, path string, body map[string]any) (string, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return "", err
	}
	status, out, err := b.do(ctx, d, http.MethodPost, path, raw)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", fmt.Errorf("POST %s: %d %s", path, status, trim(out))
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.ID == "" {
		return "", fmt.Errorf("POST %s: no id in %s", path, trim(out))
	}
	return created.ID, nil
}

// waitConverged polls, from the last response of the sync, until the managed
// RoleBindings name exactly the expected users, the app's accounts are all
// Provisioned, and the controllers are idle, all at once.
func (b *bench) waitConverged(ctx context.Context, p *syncPlan, last time.Time, r *syncResults) error {
	p.appWant = map[string]bool{}
	for _, i := range p.effective(p.appGroup) {
		p.appWant[p.users[i].id] = true
	}
	progress("(g) waiting for %d bindings (%d, …, subjects) and %d app accounts to converge and the queues to empty",
		len(p.bindings), len(p.bindings[0].want), len(p.appWant))
	var bindingsAt, accountsAt time.Duration = -1, -1
	lastLog := time.Now()
	for {
		bindingsOK, err := b.bindingsMatch(ctx, p)
		if err != nil {
			return err
		}
		accounts, err := b.accountsProvisioned(ctx, p)
		if err != nil {
			return err
		}
		depth, active, err := queueState()
		if err != nil {
			return err
		}
		now := time.Since(last)
		accountsOK := accounts == len(p.appWant)
		if bindingsOK && bindingsAt < 0 {
			bindingsAt = now
		} else if !bindingsOK {
			bindingsAt = -1
		}
		if accountsOK && accountsAt < 0 {
			accountsAt = now
		} else if !accountsOK {
			accountsAt = -1
		}
		idle := depth == 0 && active == 0
		if bindingsOK && accountsOK && idle {
			r.bindingsAt, r.accountsAt, r.idleAt, r.converged, r.accounts = bindingsAt, accountsAt, now, now, accounts
			progress("(g) converged %s after the last request (bindings at %s, accounts at %s)", round(now), round(bindingsAt), round(accountsAt))
			return nil
		}
		if time.Since(lastLog) > 5*time.Second {
			progress("(g) converging, %s: bindings match %v, %d/%d accounts provisioned, %.0f queued, %.0f reconciling",
				round(now), bindingsOK, accounts, len(p.appWant), depth, active)
			lastLog = time.Now()
		}
		if now > b.o.settleTimeout {
			r.bindingsAt, r.accountsAt, r.converged, r.accounts, r.convergeTimedOut = bindingsAt, accountsAt, now, accounts, true
			progress("(g) not converged after %s; measuring on", b.o.settleTimeout)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(convergePoll):
		}
	}
}

// bindingsMatch reports whether every binding's RoleBindings (all shards),
// read from the API server, name exactly its expected users.
func (b *bench) bindingsMatch(ctx context.Context, p *syncPlan) (bool, error) {
	for _, sb := range p.bindings {
		var list rbacv1.RoleBindingList
		if err := b.env.Client.List(ctx, &list, client.InNamespace(revokeNS), client.MatchingLabels{identityv1alpha1.BindingLabel: sb.name}); err != nil {
			return false, err
		}
		n := 0
		for _, rb := range list.Items {
			for _, s := range rb.Subjects {
				if s.Kind != rbacv1.UserKind || !sb.want[s.Name] {
					return false, nil
				}
				n++
			}
		}
		if n != len(sb.want) {
			return false, nil
		}
	}
	return true, nil
}

// accountsProvisioned counts the app's expected accounts that are active and
// Provisioned; any unexpected account makes it -1.
func (b *bench) accountsProvisioned(ctx context.Context, p *syncPlan) (int, error) {
	var list identityv1alpha1.AppAccountList
	if err := b.env.Client.List(ctx, &list, client.InNamespace(syncAppNS), client.MatchingLabels{identityv1alpha1.AppLabel: syncApp}); err != nil {
		return 0, err
	}
	n := 0
	for _, a := range list.Items {
		if !p.appWant[a.Spec.User] {
			return -1, nil
		}
		if a.Spec.Active && a.Status.State == identityv1alpha1.AccountProvisioned {
			n++
		}
	}
	return n, nil
}

// measureMemory reads this process's resident memory (operator and bench
// client together) and the Go heap after a collection, and estimates the
// bench client's own share: the plan it holds.
func (b *bench) measureMemory(p *syncPlan, r *syncResults) {
	r.rss, r.hwm = procMemory()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	r.heapLive, r.goTotal = s[0].Value.Uint64(), s[1].Value.Uint64()
	// Strings and slice headers the plan holds (users: id, userName, raw id;
	// groups: member indexes).
	est := uint64(len(p.users)) * (2*16 + 36 + 40 + 16 + 36)
	for _, g := range p.groups {
		est += uint64(len(g.users)+len(g.children))*8 + 200
	}
	r.benchShare = est
	if b.o.heapprofile != "" {
		if err := writeHeapProfile(b.o.heapprofile); err != nil {
			progress("(g) heap profile: %v", err)
		}
	}
	progress("(g) memory: VmRSS %s, VmHWM %s, Go heap live %s (bench plan ≈ %s)", mib(r.rss), mib(r.hwm), mib(r.heapLive), mib(est))
}

// writeHeapProfile writes the in-use heap, as of the last collection, to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// procMemory reads VmRSS and VmHWM of this process from /proc (0 elsewhere).
func procMemory() (rss, hwm uint64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

func mib(n uint64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// syncReads times the reads an identity provider and a console make against
// the synced directory.
func (b *bench) syncReads(ctx context.Context, d *scimDir, p *syncPlan, r *syncResults) error {
	o := b.o
	pickUser := func() (int, user) { i := b.rnd.IntN(len(p.users)); return i, p.users[i] }
	one := func(path, id string) (time.Duration, error) {
		lr, took, err := b.getList(ctx, d, path)
		if err == nil && (lr.TotalResults != 1 || len(lr.Resources) != 1 || lr.Resources[0].ID != id) {
			err = fmt.Errorf("GET %s: want exactly id %s, got %d results", path, id, lr.TotalResults)
		}
		return took, err
	}
	kinds := []struct {
		name string
		q    func() (time.Duration, error)
	}{
		{"userName eq", func() (time.Duration, error) {
			_, u := pickUser()
			return one("/Users?filter="+url.QueryEscape(`userName eq "`+u.userName+`"`), u.id)
		}},
		{"externalId eq", func() (time.Duration, error) {
			i, u := pickUser()
			return one("/Users?filter="+url.QueryEscape(`externalId eq "sync-ext-`+strconv.Itoa(i)+`"`), u.id)
		}},
		{`emails[type eq "work"].value eq`, func() (time.Duration, error) {
			_, u := pickUser()
			return one("/Users?filter="+url.QueryEscape(`emails[type eq "work"].value eq "`+u.userName+`"`), u.id)
		}},
		{"Groups displayName eq (excludedAttributes=members)", func() (time.Duration, error) {
			g := p.groups[b.rnd.IntN(len(p.groups))]
			return one("/Groups?filter="+url.QueryEscape(`displayName eq "`+g.name+`"`)+"&excludedAttributes=members", g.id)
		}},
		{"list page, count=100 at a random startIndex", func() (time.Duration, error) {
			start := 1 + b.rnd.IntN(max(len(p.users)-99, 1))
			lr, took, err := b.getList(ctx, d, fmt.Sprintf("/Users?startIndex=%d&count=100", start))
			if err == nil && (lr.TotalResults < len(p.users) || len(lr.Resources) != min(100, len(p.users)-start+1)) {
				err = fmt.Errorf("list page at %d: %d of %d", start, len(lr.Resources), lr.TotalResults)
			}
			return took, err
		}},
	}
	for _, k := range kinds {
		progress("(g) reads: %d × %s (after %d warm-up)", o.syncQueries, k.name, o.warmupQueries)
		var slow []slowQuery
		q := func() (time.Duration, error) {
			at := sinceStart()
			took, err := k.q()
			if took > slowQueryAt {
				slow = append(slow, slowQuery{at, took})
			}
			return took, err
		}
		lat, err := timeQueries(o.syncQueries, o.warmupQueries, q)
		if len(slow) > 0 {
			progress("(g) %s: %d over %s, at (s since the process started, as GODEBUG=gctrace=1 prints): %v", k.name, len(slow), slowQueryAt, slow)
		}
		if err != nil {
			return fmt.Errorf("(g) %s: %w", k.name, err)
		}
		target := targetP99
		if strings.HasPrefix(k.name, "list page") {
			target = targetPageP99
		}
		r.reads = append(r.reads, namedLatencies{k.name, target, lat})
		progress("(g) %s: p50 %s p99 %s", k.name, ms(lat.p(50)), ms(lat.p(99)))
	}
	return nil
}

// slowQueryAt is the latency from which a read of (g) is listed with the
// moment it started, to be set beside the garbage collector's cycles.
const slowQueryAt = 15 * time.Millisecond

type slowQuery struct{ at, took time.Duration }

func (q slowQuery) String() string { return fmt.Sprintf("%.3f:%s", q.at.Seconds(), ms(q.took)) }

// sinceStart is the time since this process started, from /proc (the
// runtime's own clock, which gctrace prints, starts a few ms later).
func sinceStart() time.Duration {
	stat, err1 := os.ReadFile("/proc/self/stat")
	uptime, err2 := os.ReadFile("/proc/uptime")
	if err1 != nil || err2 != nil {
		return 0
	}
	// Field 22 of stat, counted after the command's closing parenthesis.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 20 {
		return 0
	}
	ticks, _ := strconv.ParseFloat(f[19], 64)
	up, _ := strconv.ParseFloat(strings.Fields(string(uptime))[0], 64)
	return time.Duration((up - ticks/100) * float64(time.Second)) // USER_HZ is 100 on Linux
}

// syncRaw writes the same objects straight to the API server: the users,
// then the groups with their final members (nested groups included), at most
// MaxInlineMembers of them: one object cannot hold a 100,000-member list,
// which is why the operator shards large groups.
func (b *bench) syncRaw(ctx context.Context, p *syncPlan, r *syncResults) (phase, error) {
	o := b.o
	if _, _, err := b.env.Directory(ctx, syncRawDir, syncRawDir, identityv1alpha1.KubernetesIdentity{UsernamePrefix: "raw:"}); err != nil {
		return phase{}, err
	}
	progress("(g) raw: %d ScimUsers + %d ScimGroups through the controller-runtime client, %d workers", len(p.users), len(p.groups), o.workers)
	m := b.startPhase("sync-raw")
	wu := b.runWorkers(ctx, "(g) raw users", len(p.users), o.workers, func(ctx context.Context, i int) error {
		return b.env.Client.Create(ctx, newScimUser(syncRawDir, syncRawDir, p.rawIDs[i], userName("u", i, syncRawDir), i))
	})
	for k := range p.groups {
		p.groups[k].rawID = string(uuid.NewUUID())
	}
	wg := b.runWorkers(ctx, "(g) raw groups", len(p.groups), o.workers, func(ctx context.Context, k int) error {
		g := p.groups[k]
		members := make([]identityv1alpha1.Member, 0, len(g.users)+len(g.children))
		for _, i := range g.users {
			members = append(members, identityv1alpha1.Member{Value: p.rawIDs[i]})
		}
		for _, c := range g.children {
			members = append(members, identityv1alpha1.Member{Value: p.groups[c].rawID, Type: identityv1alpha1.MemberGroup})
		}
		members = members[:min(len(members), identityv1alpha1.MaxInlineMembers)]
		return b.env.Client.Create(ctx, &identityv1alpha1.ScimGroup{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: syncRawDir, Name: g.rawID,
				Labels:      map[string]string{identityv1alpha1.DirectoryLabel: syncRawDir},
				Annotations: map[string]string{identityv1alpha1.LastModifiedAnnotation: time.Now().UTC().Format(time.RFC3339Nano)},
			},
			Spec: identityv1alpha1.ScimGroupSpec{DisplayName: g.name, ExternalID: g.externalID, Members: members},
		})
	})
	b.opsDone(&m)
	r.raw = wu.add(wg)
	r.rawUsersWall, r.rawGroupsWall = wu.wall, wg.wall
	if r.raw.errors > 0 {
		return phase{}, fmt.Errorf("(g) raw writes: %d errors, first: %v", r.raw.errors, r.raw.firstErr)
	}
	settled, err := b.settle(ctx, "(g) raw writes")
	if err != nil {
		return phase{}, err
	}
	return b.endPhase(m, fmt.Sprintf("(g) raw create, %d users + %d groups", len(p.users), len(p.groups)), r.raw.ok(), r.raw.wall, settled,
		map[string]float64{"POST": float64(r.raw.n)}, len(p.users)), nil
}

// ---------------------------------------------------------------------------
// Output

func (r *syncResults) printRows(o options, row func(...string)) {
	if r == nil {
		return
	}
	sync, raw := r.wall(), r.raw.wall
	row(fmt.Sprintf("(g) initial sync, %d users + %d groups, %d clients: total time", r.users, r.groups, o.workers),
		round(sync).String(), round(raw).String()+" (CR creates)", ratio(sync.Seconds(), raw.Seconds()),
		fmt.Sprintf("≤ %.1f", targetSyncRatio), verdict(raw > 0 && sync.Seconds()/raw.Seconds() <= targetSyncRatio))
	if c := r.chainSummary(); c != "" {
		row("    largest group's PATCHes, one after another: count, total / mean, first / last tenth's mean", c, "", "", "", "info")
	}
	row("    users (lookup + POST) / groups (lookup + POST + PATCHes) / nesting",
		round(r.usersWall).String()+" / "+round(r.groupsWall).String()+" / "+round(r.nestedWall).String(),
		round(r.rawUsersWall).String()+" / "+round(r.rawGroupsWall).String()+" / –", "", "", "info")
	retried := "0"
	if n := r.retries.Load(); n > 0 {
		retried = fmt.Sprintf("%d (%d after 404 on a group POSTed with 201)", n, r.notFound.Load())
	}
	row("    SCIM requests retried (IdP-style, up to 5×, backing off)", retried, "", "", "", verdict(r.notFound.Load() == 0))
	row("    SCIM writes re-applied after a conflict: Users / Groups", fmt.Sprintf("%.0f / %.0f", r.conflicts["Users"], r.conflicts["Groups"]), "", "", "", "info")
	row("    SCIM requests, rate", fmt.Sprintf("%d, %.0f/s", r.requests.Load(), float64(r.requests.Load())/sync.Seconds()),
		fmt.Sprintf("%d, %.0f/s", r.raw.n, r.raw.rate()), "", "", "info")
	// The target is the bindings and the app accounts; the queues' drain
	// (mostly the user statuses held back during the import) is shown
	// beside it, since nothing that grants or cuts access waits for it.
	at := func(d time.Duration) string {
		if d < 0 {
			return "not reached"
		}
		return round(d).String()
	}
	grants := max(r.bindingsAt, r.accountsAt)
	if r.bindingsAt < 0 || r.accountsAt < 0 {
		grants = -1
	}
	row("(g) last request → every binding and app account converged", at(grants), "", "", "≤ "+targetConverge.String(),
		verdict(grants >= 0 && grants <= targetConverge))
	row("    bindings matched at / app accounts provisioned at", at(r.bindingsAt)+" / "+at(r.accountsAt)+fmt.Sprintf(" (%d accounts)", r.accounts), "", "", "", "info")
	idle := round(r.converged).String()
	if r.convergeTimedOut {
		idle = "> " + idle + " (timed out)"
	}
	row("    controllers' queues empty (held-back user statuses written) at", idle, "", "", "", "info")
	row("(g) process memory after the sync: VmHWM (peak) / VmRSS", mib(r.hwm)+" / "+mib(r.rss), "", "", "≤ "+mib(targetRSS), verdict(r.hwm > 0 && r.hwm <= targetRSS))
	row("    Go heap live after GC / Go runtime total / bench client's plan ≈", mib(r.heapLive)+" / "+mib(r.goTotal)+" / "+mib(r.benchShare), "", "", "", "info")
	if r.rssAfterRaw > 0 {
		row("    VmRSS after the raw directory too (2× the objects cached)", mib(r.rssAfterRaw), "", "", "", "info")
	}
	for _, q := range r.reads {
		row(fmt.Sprintf("(g) %s, %d users: p50 / p99", q.name, r.users), ms(q.lat.p(50))+" / "+ms(q.lat.p(99)), "", "",
			"p99 < "+ms(q.target), verdict(q.lat.p(99) < q.target))
	}
	if len(r.revoke.deniedAfter) > 0 {
		none := func(float64) string { return "" }
		noRatio := func(latencies, float64) string { return "" }
		r.revoke.deactivationRows(fmt.Sprintf("(g) deactivation of a user in %d groups, %d users", groupsPerRevokeUser, r.users), none, noRatio, row)
	}
}

func (r *syncResults) printNotes(w io.Writer, o options) {
	if r == nil {
		return
	}
	capped := ""
	if o.syncMaxGroup > r.largest {
		capped = fmt.Sprintf(" (asked %d; capped at the directory size and at %d, what one ScimGroup holds until groups are sharded)", o.syncMaxGroup, largestGroupCap)
	}
	fmt.Fprintf(w, "\n(g): %d users, %d groups; two groups of %d members%s, then size/k^1.1 down to 1; %d user memberships, %d nested\n"+
		"edges (3 levels), %d PATCHes of up to %d members; 1 in %d users and groups the Okta way, the rest Entra's. The sync time runs\n"+
		"from the first request to the last response. Raw: the same number of ScimUsers, then ScimGroups with their final members,\n"+
		"straight to the API server into a second directory, after steps 3–6 (so convergence, memory and reads see one directory).\n"+
		"Memory is this process's: the operator runs in-process, so VmRSS/VmHWM include the bench client (its plan is estimated\n"+
		"above; its HTTP and API clients are small); the verdict uses the peak, VmHWM, over the whole run so far.\n",
		r.users, r.groups, r.largest, capped, r.members, r.edges, r.patches, o.syncBatch, o.syncOktaEvery)
	if r.groupsWallProfile.samples > 0 {
		r.groupsWallProfile.print(w, "the SCIM requests of (g)'s groups phase")
	}
}
