package main

// Scenarios (d), (e) and (f): how fast access ends, and what one decision of
// the authorization webhook costs. They share one directory: -revoke-users
// users, -revoke-groups groups of -revoke-members members each, the first
// group ("devs") bound by a ScimRoleBinding to a ClusterRole that lists pods
// in one namespace. Access is proven the way `kubectl auth can-i` proves it:
// SubjectAccessReviews through the kube-apiserver, whose AuthorizationConfiguration
// puts the operator's webhook before RBAC.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime/metrics"
	"sort"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/testenv"
)

// Targets of (d)–(f).
const (
	// targetCut bounds p99 from the SCIM request to the first refused
	// SubjectAccessReview, after a group removal (d) or a deactivation (e).
	targetCut = time.Second
	// targetDecision bounds p99 of one webhook decision, server side (f).
	targetDecision = time.Millisecond
)

const (
	revokeDir  = "bench-revoke"
	revokeNS   = "bench-revoke-team" // where the bound ClusterRole applies
	benchRole  = "scim-bench-pod-reader"
	boundGroup = "devs"
	managedRB  = "scim-" + boundGroup // the RoleBinding the operator writes for it
	// rawBinding is a plain RoleBinding the bench edits itself: the raw
	// figure of (d), the API server's own RBAC propagation. Its users have no
	// "oidc:" prefix, so the webhook never sees them.
	rawBinding    = "bench-raw-readers"
	rawUserPrefix = "bench-raw:user-"

	sarPoll    = 5 * time.Millisecond  // SubjectAccessReview polling while timing a cut
	statusPoll = 10 * time.Millisecond // ScimUser status polling in (e)
	cutTimeout = 30 * time.Second      // a cut not seen by then counts as this long

	timeToRevokeMetric = "scim_operator_time_to_revoke_seconds"
	decisionMetric     = "scim_operator_authorization_decision_duration_seconds"
	patchOpSchema      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// revokeResults are the figures of (d)–(f).
type revokeResults struct {
	// (d)
	groupCut, rawCut           latencies
	groupTimeouts, rawTimeouts int
	groupPatch                 latencies // the SCIM PATCH's own round trip
	groupRB, groupRBToCut      latencies // PATCH sent → managed RoleBinding without the user (watch); → SAR refused
	// (e)
	deniedAfter, revokedAfter   latencies
	denyTimeouts, revokeTimeout int
	deniedByWebhook             int // first refusals that were the webhook's (Denied), not RBAC's
	deniedBeforeResponse        int // first refusals answered before the PATCH's response arrived
	userPatch                   latencies
	deactRB, deactRBToRevoked   latencies // PATCH sent → RoleBinding without the user; → sessionsRevokedAt seen
	timeToRevoke                hist
	// (f)
	authzRT            latencies
	authzKinds         []kindLatencies
	authzServer        hist
	authzByDecision    map[string]hist
	authzRuntime       runtimeDelta // this process while the POSTs were measured
	sarRaw, sarWebhook latencies
}

type kindLatencies struct {
	kind string
	lat  latencies
}

// revokeFixture is the shared directory.
type revokeFixture struct {
	d      *scimDir
	users  []user
	groups []benchGroup // groups[0] is bound
}

type benchGroup struct {
	id, name string
	members  []int // indexes into users
}

// kubeName is the Kubernetes user name of a directory user.
func kubeName(u user) string { return testenv.UsernamePrefix + u.userName }

func rawUser(j int) string { return fmt.Sprintf("%s%03d", rawUserPrefix, j) }

// runRevocation sets up the shared directory and runs the scenarios asked for.
func (b *bench) runRevocation(ctx context.Context, res *results, phases *[]phase) error {
	f, ph, err := b.setupRevocation(ctx)
	if err != nil {
		return err
	}
	*phases = append(*phases, ph)
	rr := &res.revoke
	if b.o.runs("d") {
		if ph, err = b.runGroupCut(ctx, f, rr); err != nil {
			return err
		}
		*phases = append(*phases, ph)
	}
	if b.o.runs("e") {
		if ph, err = b.runDeactivation(ctx, f, rr); err != nil {
			return err
		}
		*phases = append(*phases, ph)
	}
	if b.o.runs("f") {
		if ph, err = b.runAuthz(ctx, f, rr); err != nil {
			return err
		}
		*phases = append(*phases, ph)
	}
	return nil
}

// setupRevocation fills the directory, creates its groups over SCIM, binds
// the first group and the raw RoleBinding, and waits until every member has
// access and the controllers are idle.
func (b *bench) setupRevocation(ctx context.Context) (*revokeFixture, phase, error) {
	o := b.o
	c := b.env.Client
	if err := b.ensureBenchRole(ctx); err != nil {
		return nil, phase{}, err
	}
	mapping := identityv1alpha1.KubernetesIdentity{UsernamePrefix: testenv.UsernamePrefix, GroupPrefix: testenv.UsernamePrefix}
	base, tok, err := b.env.Directory(ctx, revokeDir, revokeDir, mapping)
	if err != nil {
		return nil, phase{}, fmt.Errorf("creating directory %s: %w", revokeDir, err)
	}
	f := &revokeFixture{d: &scimDir{name: revokeDir, namespace: revokeDir, base: base, token: tok}}
	var ph phase
	if f.users, ph, err = b.fill(ctx, "fill-revoke", "(d)–(f)", f.d, o.revokeUsers); err != nil {
		return nil, phase{}, err
	}

	// Groups over SCIM, members spread over the directory (disjoint while
	// groups × members ≤ users).
	f.groups = make([]benchGroup, o.revokeGroups)
	for k := range f.groups {
		g := &f.groups[k]
		g.name = boundGroup
		if k > 0 {
			g.name = fmt.Sprintf("team-%03d", k)
		}
		for j := range o.revokeMembers {
			g.members = append(g.members, (k*o.revokeMembers+j)%len(f.users))
		}
	}
	progress("(d)–(f) creating %d groups of %d members over SCIM", o.revokeGroups, o.revokeMembers)
	r := b.runWorkers(ctx, "(d)–(f) create groups", len(f.groups), 4, func(ctx context.Context, k int) error {
		g := &f.groups[k]
		members := make([]any, len(g.members))
		for j, i := range g.members {
			members[j] = map[string]any{"value": f.users[i].id}
		}
		body, _ := json.Marshal(map[string]any{
			"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": g.name,
			"members":     members,
		})
		status, out, err := b.do(ctx, f.d, http.MethodPost, "/Groups", body)
		if err != nil {
			return err
		}
		if status != http.StatusCreated {
			return fmt.Errorf("POST /Groups: %d %s", status, trim(out))
		}
		var created struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(out, &created); err != nil || created.ID == "" {
			return fmt.Errorf("POST /Groups: no id in %s", trim(out))
		}
		g.id = created.ID
		return nil
	})
	if r.errors > 0 {
		return nil, phase{}, fmt.Errorf("creating groups: %d errors, first: %v", r.errors, r.firstErr)
	}

	sb := &identityv1alpha1.ScimRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: boundGroup, Namespace: revokeNS},
		Spec: identityv1alpha1.ScimBindingSpec{
			Directory: revokeDir,
			Groups:    []identityv1alpha1.GroupRef{{DisplayName: boundGroup}},
			RoleRef:   identityv1alpha1.RoleRef{Kind: "ClusterRole", Name: benchRole},
		},
	}
	if err := c.Create(ctx, sb); err != nil {
		return nil, phase{}, fmt.Errorf("creating ScimRoleBinding: %w", err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: rawBinding, Namespace: revokeNS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: benchRole},
		Subjects:   rawSubjects(o.revokeMembers, -1),
	}
	if err := c.Create(ctx, rb); err != nil {
		return nil, phase{}, fmt.Errorf("creating RoleBinding: %w", err)
	}
	for _, i := range f.groups[0].members {
		if err := b.waitAccess(ctx, kubeName(f.users[i]), true); err != nil {
			return nil, phase{}, fmt.Errorf("member of %s: %w", boundGroup, err)
		}
	}
	for j := range o.revokeMembers {
		if err := b.waitAccess(ctx, rawUser(j), true); err != nil {
			return nil, phase{}, err
		}
	}
	if _, err := b.settle(ctx, "(d)–(f) set-up"); err != nil {
		return nil, phase{}, err
	}
	progress("(d)–(f) set up: %d users, %d groups, every member of %s can list pods in %s", len(f.users), len(f.groups), boundGroup, revokeNS)
	return f, ph, nil
}

// ensureBenchRole creates the ClusterRole the bench binds (list pods) and the
// namespace SubjectAccessReviews ask about.
func (b *bench) ensureBenchRole(ctx context.Context) error {
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: benchRole},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}},
	}
	if err := b.env.Client.Create(ctx, role); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return b.ensureNamespace(ctx, revokeNS)
}

func (b *bench) ensureNamespace(ctx context.Context, name string) error {
	err := b.env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// rawSubjects are the raw RoleBinding's subjects, without subject skip (-1: all).
func rawSubjects(n, skip int) []rbacv1.Subject {
	out := make([]rbacv1.Subject, 0, n)
	for j := range n {
		if j != skip {
			out = append(out, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: rawUser(j)})
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// (d) group removal

func (b *bench) runGroupCut(ctx context.Context, f *revokeFixture, rr *revokeResults) (phase, error) {
	o := b.o
	progress("(d) group removal → access cut: %d runs, each followed by a direct RoleBinding edit (raw)", o.revokeRuns)
	devs := f.groups[0]
	w, err := b.watchRoleBindings(ctx, revokeNS)
	if err != nil {
		return phase{}, err
	}
	defer w.close()
	m := b.startPhase(phaseGroupCut)
	began := time.Now()
	var ours, raw, patches, toRB, rbToCut []time.Duration
	for run := range o.revokeRuns {
		u := f.users[devs.members[b.rnd.IntN(len(devs.members))]]
		w.reset()
		c, err := b.timeCut(ctx, kubeName(u), func(ctx context.Context) error {
			return b.scimPatch(ctx, f.d, "/Groups/"+devs.id, map[string]any{"op": "remove", "path": fmt.Sprintf("members[value eq %q]", u.id)})
		})
		if err != nil {
			return phase{}, fmt.Errorf("(d) run %d, removing %s from %s: %w", run, u.userName, boundGroup, err)
		}
		ours, patches = append(ours, c.took), append(patches, c.wrote)
		if c.timedOut {
			rr.groupTimeouts++
		}
		if at, ok := w.waitDropped(managedRB, kubeName(u), 5*time.Second); ok {
			rb := at.Sub(c.start)
			toRB, rbToCut = append(toRB, rb), append(rbToCut, max(c.took-rb, 0))
		}
		// Not timed: the member comes back and has access again.
		if err := b.scimPatch(ctx, f.d, "/Groups/"+devs.id, map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": u.id}}}); err != nil {
			return phase{}, fmt.Errorf("(d) re-adding %s: %w", u.userName, err)
		}
		if err := b.waitAccess(ctx, kubeName(u), true); err != nil {
			return phase{}, fmt.Errorf("(d) after re-adding: %w", err)
		}
		b.waitIdle(ctx)

		// Raw: the same cut made by hand on a plain RoleBinding.
		j := b.rnd.IntN(o.revokeMembers)
		c, err = b.timeCut(ctx, rawUser(j), func(ctx context.Context) error { return b.patchRawSubjects(ctx, rawSubjects(o.revokeMembers, j)) })
		if err != nil {
			return phase{}, fmt.Errorf("(d) run %d, raw RoleBinding edit: %w", run, err)
		}
		raw = append(raw, c.took)
		if c.timedOut {
			rr.rawTimeouts++
		}
		if err := b.patchRawSubjects(ctx, rawSubjects(o.revokeMembers, -1)); err != nil {
			return phase{}, err
		}
		if err := b.waitAccess(ctx, rawUser(j), true); err != nil {
			return phase{}, err
		}
		if (run+1)%10 == 0 || run+1 == o.revokeRuns {
			ol, rl := newLatencies(append([]time.Duration(nil), ours...)), newLatencies(append([]time.Duration(nil), raw...))
			progress("(d) %d/%d runs: group removal p50 %s p99 %s; raw RoleBinding edit p50 %s p99 %s",
				run+1, o.revokeRuns, ms(ol.p(50)), ms(ol.p(99)), ms(rl.p(50)), ms(rl.p(99)))
		}
	}
	b.opsDone(&m)
	rr.groupCut, rr.rawCut, rr.groupPatch = newLatencies(ours), newLatencies(raw), newLatencies(patches)
	rr.groupRB, rr.groupRBToCut = newLatencies(toRB), newLatencies(rbToCut)
	return b.endPhase(m, "(d) group removal → cut, + raw edit, + restores", o.revokeRuns, time.Since(began), 0, nil, 0), nil
}

// patchRawSubjects replaces the raw RoleBinding's subjects with one merge patch.
func (b *bench) patchRawSubjects(ctx context.Context, subjects []rbacv1.Subject) error {
	body, err := json.Marshal(map[string]any{"subjects": subjects})
	if err != nil {
		return err
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: rawBinding, Namespace: revokeNS}}
	return b.env.Client.Patch(ctx, rb, client.RawPatch(types.MergePatchType, body))
}

// ---------------------------------------------------------------------------
// (e) deactivation

func (b *bench) runDeactivation(ctx context.Context, f *revokeFixture, rr *revokeResults) (phase, error) {
	o := b.o
	progress("(e) deactivation → first refused SubjectAccessReview and status.sessionsRevokedAt: %d runs", o.revokeRuns)
	devs := f.groups[0]
	m := b.startPhase(phaseDeactivate)
	began := time.Now()
	err := b.timeDeactivations(ctx, deactTarget{
		label: "(e)", d: f.d, rb: managedRB,
		user: func(int) user { return f.users[devs.members[b.rnd.IntN(len(devs.members))]] },
	}, o.revokeRuns, rr)
	if err != nil {
		return phase{}, err
	}
	b.opsDone(&m)
	return b.endPhase(m, "(e) deactivation → cut + revoked, + restores", o.revokeRuns, time.Since(began), 0, nil, 0), nil
}

// deactTarget says whom a series of timed deactivations deactivates.
type deactTarget struct {
	label string // scenario, for progress lines
	d     *scimDir
	// user is the user to deactivate in run i; they must have access
	// (through a ScimRoleBinding in revokeNS) while active.
	user func(run int) user
	// rb is the managed RoleBinding in revokeNS whose loss of the user is
	// timed through a watch.
	rb string
}

// timeDeactivations deactivates a user over SCIM runs times, each time
// measuring until the first refused SubjectAccessReview and until
// status.sessionsRevokedAt, then reactivates them (not timed). The figures
// go into rr's deactivation fields.
func (b *bench) timeDeactivations(ctx context.Context, t deactTarget, runs int, rr *revokeResults) error {
	before := gatherHist(timeToRevokeMetric, "directory", t.d.name)
	w, err := b.watchRoleBindings(ctx, revokeNS)
	if err != nil {
		return err
	}
	defer w.close()
	var denied, revoked, patches, toRB, rbToRevoked []time.Duration
	for run := range runs {
		u := t.user(run)
		key := client.ObjectKey{Namespace: t.d.namespace, Name: u.id}
		w.reset()
		t0 := time.Now()
		wctx, cancel := context.WithCancelCause(ctx)
		written := make(chan error, 1)
		var wrote time.Duration
		go func() {
			// Okta's deactivation: a pathless replace.
			err := b.scimPatch(ctx, t.d, "/Users/"+u.id, map[string]any{"op": "replace", "value": map[string]any{"active": false}})
			wrote = time.Since(t0)
			if err != nil {
				cancel(err)
			}
			written <- err
		}()
		var (
			deniedAfter, revokedAfter time.Duration
			deniedTO, revokedTO       bool
			byWebhook                 bool
			derr, rerr                error
			wg                        sync.WaitGroup
		)
		wg.Go(func() {
			deniedAfter, deniedTO, derr = pollUntil(wctx, t0, sarPoll, func(ctx context.Context) (bool, error) {
				st, err := b.sar(ctx, kubeName(u), nil)
				if err == nil && !st.Allowed {
					byWebhook = st.Denied
				}
				return err == nil && !st.Allowed, err
			})
		})
		wg.Go(func() {
			revokedAfter, revokedTO, rerr = pollUntil(wctx, t0, statusPoll, func(ctx context.Context) (bool, error) {
				var su identityv1alpha1.ScimUser
				err := b.env.Client.Get(ctx, key, &su)
				return err == nil && su.Status.SessionsRevokedAt != nil, err
			})
		})
		wg.Wait()
		werr := <-written
		cancel(nil)
		for _, err := range []error{werr, derr, rerr} {
			if err != nil {
				return fmt.Errorf("%s run %d, deactivating %s: %w", t.label, run, u.userName, err)
			}
		}
		denied, revoked, patches = append(denied, deniedAfter), append(revoked, revokedAfter), append(patches, wrote)
		if deniedAfter < wrote {
			rr.deniedBeforeResponse++
		}
		if at, ok := w.waitDropped(t.rb, kubeName(u), 5*time.Second); ok {
			rb := at.Sub(t0)
			toRB, rbToRevoked = append(toRB, rb), append(rbToRevoked, max(revokedAfter-rb, 0))
		}
		if deniedTO {
			rr.denyTimeouts++
		}
		if revokedTO {
			rr.revokeTimeout++
		}
		if byWebhook {
			rr.deniedByWebhook++
		}

		// Not timed: reactivate, and wait until access and status are back.
		if err := b.scimPatch(ctx, t.d, "/Users/"+u.id, map[string]any{"op": "replace", "value": map[string]any{"active": true}}); err != nil {
			return fmt.Errorf("%s reactivating %s: %w", t.label, u.userName, err)
		}
		if err := b.waitAccess(ctx, kubeName(u), true); err != nil {
			return fmt.Errorf("%s after reactivating: %w", t.label, err)
		}
		if _, to, err := pollUntil(ctx, time.Now(), statusPoll, func(ctx context.Context) (bool, error) {
			var su identityv1alpha1.ScimUser
			err := b.env.Client.Get(ctx, key, &su)
			return err == nil && su.Status.DeactivatedAt == nil && su.Status.SessionsRevokedAt == nil, err
		}); err != nil || to {
			return fmt.Errorf("%s status of reactivated %s not cleared (timed out %v): %v", t.label, u.userName, to, err)
		}
		b.waitIdle(ctx)
		if (run+1)%10 == 0 || run+1 == runs {
			d, r := newLatencies(append([]time.Duration(nil), denied...)), newLatencies(append([]time.Duration(nil), revoked...))
			rb, after := newLatencies(append([]time.Duration(nil), toRB...)), newLatencies(append([]time.Duration(nil), rbToRevoked...))
			progress("%s %d/%d runs: first refusal p50 %s p99 %s; sessionsRevokedAt p50 %s p99 %s (RoleBinding without the user p50 %s p99 %s, then p50 %s p99 %s)",
				t.label, run+1, runs, ms(d.p(50)), ms(d.p(99)), ms(r.p(50)), ms(r.p(99)), ms(rb.p(50)), ms(rb.p(99)), ms(after.p(50)), ms(after.p(99)))
		}
	}
	rr.deniedAfter, rr.revokedAfter, rr.userPatch = newLatencies(denied), newLatencies(revoked), newLatencies(patches)
	rr.deactRB, rr.deactRBToRevoked = newLatencies(toRB), newLatencies(rbToRevoked)
	rr.timeToRevoke = gatherHist(timeToRevokeMetric, "directory", t.d.name).sub(before)
	return nil
}

// ---------------------------------------------------------------------------
// Timing helpers

// cut is one timed cut of access.
type cut struct {
	start    time.Time
	took     time.Duration // write sent → answer of the first refusing SubjectAccessReview
	wrote    time.Duration // write sent → its response
	timedOut bool
}

// timeCut starts write and polls SubjectAccessReviews for user (no groups)
// until one is not allowed: the time from the write being sent to that
// review's answer. A cut not seen within cutTimeout counts as cutTimeout.
func (b *bench) timeCut(ctx context.Context, user string, write func(context.Context) error) (cut, error) {
	t0 := time.Now()
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	written := make(chan error, 1)
	c := cut{start: t0}
	go func() {
		err := write(ctx)
		c.wrote = time.Since(t0)
		if err != nil {
			cancel(err)
		}
		written <- err
	}()
	var err error
	c.took, c.timedOut, err = pollUntil(wctx, t0, sarPoll, func(ctx context.Context) (bool, error) {
		st, err := b.sar(ctx, user, nil)
		return err == nil && !st.Allowed, err
	})
	if werr := <-written; werr != nil {
		return cut{}, werr
	}
	return c, err
}

// pollUntil calls cond every interval until it holds, and returns the time
// since t0 at that moment; after cutTimeout it gives up (timedOut).
func pollUntil(ctx context.Context, t0 time.Time, every time.Duration, cond func(context.Context) (bool, error)) (took time.Duration, timedOut bool, err error) {
	for {
		ok, err := cond(ctx)
		if ctx.Err() != nil {
			return 0, false, context.Cause(ctx)
		}
		if err != nil {
			return 0, false, err
		}
		if ok {
			return time.Since(t0), false, nil
		}
		if time.Since(t0) > cutTimeout {
			return cutTimeout, true, nil
		}
		select {
		case <-ctx.Done():
			return 0, false, context.Cause(ctx)
		case <-time.After(every):
		}
	}
}

// sar asks the kube-apiserver whether user (with groups) may list pods in revokeNS.
func (b *bench) sar(ctx context.Context, user string, groups []string) (authorizationv1.SubjectAccessReviewStatus, error) {
	r := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods", Namespace: revokeNS},
	}}
	err := b.env.Client.Create(ctx, r)
	return r.Status, err
}

// waitAccess polls until user's access is want (up to a minute).
func (b *bench) waitAccess(ctx context.Context, user string, want bool) error {
	_, timedOut, err := pollUntil(ctx, time.Now(), 2*sarPoll, func(ctx context.Context) (bool, error) {
		st, err := b.sar(ctx, user, nil)
		return err == nil && st.Allowed == want, err
	})
	if err == nil && timedOut {
		err = fmt.Errorf("%s: access still not %v after %s", user, want, cutTimeout)
	}
	return err
}

// waitIdle waits briefly until the controllers have nothing queued or
// running (three quiet looks 10 ms apart), so that one run does not pay for
// the last one's follow-up work. Unlike settle it does not insist on half a
// second of quiet.
func (b *bench) waitIdle(ctx context.Context) {
	deadline := time.Now().Add(10 * time.Second)
	for quiet := 0; quiet < 3 && time.Now().Before(deadline) && ctx.Err() == nil; {
		depth, active, err := queueState()
		if err != nil {
			return
		}
		if depth == 0 && active == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// scimPatch sends one SCIM PatchOp with ops.
func (b *bench) scimPatch(ctx context.Context, d *scimDir, path string, ops ...map[string]any) error {
	body, err := json.Marshal(map[string]any{"schemas": []string{patchOpSchema}, "Operations": ops})
	if err != nil {
		return err
	}
	status, out, err := b.do(ctx, d, http.MethodPatch, path, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK && status != http.StatusNoContent {
		return &statusError{fmt.Sprintf("PATCH %s", path), status, trim(out)}
	}
	return nil
}

// statusError is a SCIM request answered with an unexpected status.
type statusError struct {
	request string
	status  int
	body    string
}

func (e *statusError) Error() string { return fmt.Sprintf("%s: %d %s", e.request, e.status, e.body) }

// ---------------------------------------------------------------------------
// (f) webhook decisions

// authzCase is one SubjectAccessReview body sent straight to the webhook and
// the decision it must get.
type authzCase struct {
	kind string
	body []byte
	deny bool
}

// authzKinds is the mix, in the order requests cycle through it.
var authzKinds = []string{"active member", "deactivated user", "unknown user", "member's group claim", "stale group claim"}

func (b *bench) runAuthz(ctx context.Context, f *revokeFixture, rr *revokeResults) (phase, error) {
	o := b.o
	n := len(f.users)
	inGroup := make([]map[int]bool, len(f.groups))
	grouped := map[int]bool{}
	for k, g := range f.groups {
		inGroup[k] = map[int]bool{}
		for _, i := range g.members {
			inGroup[k][i] = true
			grouped[i] = true
		}
	}
	// Deactivated users: preferably in no group, at least not in the bound one.
	var deact []int
	for _, pass := range []func(int) bool{func(i int) bool { return !grouped[i] }, func(i int) bool { return !inGroup[0][i] }} {
		for i := n - 1; i >= 0 && len(deact) < 20; i-- {
			if pass(i) && !contains(deact, i) {
				deact = append(deact, i)
			}
		}
	}
	if len(deact) == 0 {
		return phase{}, fmt.Errorf("(f) every user is in %s; raise -revoke-users", boundGroup)
	}
	progress("(f) deactivating %d users that the mix asks about", len(deact))
	for _, i := range deact {
		if err := b.scimPatch(ctx, f.d, "/Users/"+f.users[i].id, map[string]any{"op": "replace", "value": map[string]any{"active": false}}); err != nil {
			return phase{}, err
		}
	}
	if _, err := b.settle(ctx, "(f) deactivations"); err != nil {
		return phase{}, err
	}

	body := func(user string, groups ...string) []byte {
		out, _ := json.Marshal(authorizationv1.SubjectAccessReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SubjectAccessReview"},
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: append(groups, "system:authenticated"),
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: revokeNS, Verb: "list", Version: "v1", Resource: "pods"},
			},
		})
		return out
	}
	groupClaim := func(k int) string { return testenv.UsernamePrefix + f.groups[k].name }
	claimed := func(v int) int { // a group other than the bound one when there is one
		if len(f.groups) == 1 {
			return 0
		}
		return 1 + v%(len(f.groups)-1)
	}
	const variants = 50
	var cases [][]authzCase // by variant, then kind
	for v := range variants {
		devs := f.groups[0].members
		k := claimed(v)
		// A member's claim: an active member of group k claims it.
		ms := f.groups[k].members
		mi := -1
		for t := range ms {
			if i := ms[(v+t)%len(ms)]; !contains(deact, i) {
				mi = i
				break
			}
		}
		if mi < 0 {
			return phase{}, fmt.Errorf("(f) no active member in group %s", f.groups[k].name)
		}
		member := f.users[mi]
		// A stale claim: an active user outside group k claims it.
		stale := -1
		for t := range n {
			i := (v*7919 + t) % n
			if !inGroup[k][i] && !contains(deact, i) {
				stale = i
				break
			}
		}
		if stale < 0 {
			return phase{}, fmt.Errorf("(f) no user outside group %s", f.groups[k].name)
		}
		cases = append(cases, []authzCase{
			{authzKinds[0], body(kubeName(f.users[devs[v%len(devs)]])), false},
			{authzKinds[1], body(kubeName(f.users[deact[v%len(deact)]])), true},
			{authzKinds[2], body(fmt.Sprintf("%snobody-%d@%s.example.com", testenv.UsernamePrefix, v, revokeDir)), false},
			{authzKinds[3], body(kubeName(member), groupClaim(k)), false},
			{authzKinds[4], body(kubeName(f.users[stale]), groupClaim(k)), true},
		})
	}
	pick := func(i int) authzCase { return cases[(i/len(authzKinds))%variants][i%len(authzKinds)] }

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		// The self-signed serving certificate of the local webhook.
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // bench against a local self-signed certificate
		ForceAttemptHTTP2:   true,                                  // as the kube-apiserver's webhook client does
		MaxIdleConnsPerHost: 2,
		DisableCompression:  true,
	}}
	defer hc.CloseIdleConnections()
	post := func(c authzCase) (time.Duration, error) {
		t := time.Now()
		resp, err := hc.Post(b.env.AuthzURL, "application/json", bytes.NewReader(c.body))
		if err != nil {
			return 0, err
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(t)
		if err != nil {
			return 0, err
		}
		var r authorizationv1.SubjectAccessReview
		if err := json.Unmarshal(out, &r); err != nil {
			return 0, fmt.Errorf("%d %s: %w", resp.StatusCode, trim(out), err)
		}
		if r.Status.EvaluationError != "" || r.Status.Allowed || r.Status.Denied != c.deny {
			return 0, fmt.Errorf("%s: want denied=%v, got %+v", c.kind, c.deny, r.Status)
		}
		return took, nil
	}

	progress("(f) webhook: %d SubjectAccessReviews POSTed to %s (after %d warm-up), mix: %s",
		o.authzRequests, b.env.AuthzURL, o.authzWarmup, strings.Join(authzKinds, ", "))
	m := b.startPhase(phaseAuthz)
	began := time.Now()
	for i := range o.authzWarmup {
		if _, err := post(pick(i)); err != nil {
			return phase{}, fmt.Errorf("(f) warm-up: %w", err)
		}
	}
	decisions := []string{"deny", "no-opinion"}
	beforeAll := gatherHist(decisionMetric, "", "")
	beforeBy := map[string]hist{}
	for _, d := range decisions {
		beforeBy[d] = gatherHist(decisionMetric, "decision", d)
	}
	rtBefore := readRuntime()
	all := make([]time.Duration, 0, o.authzRequests)
	byKind := make([][]time.Duration, len(authzKinds))
	for i := range o.authzRequests {
		took, err := post(pick(i))
		if err != nil {
			return phase{}, fmt.Errorf("(f) request %d: %w", i, err)
		}
		all = append(all, took)
		byKind[i%len(authzKinds)] = append(byKind[i%len(authzKinds)], took)
	}
	rr.authzRuntime = readRuntime().sub(rtBefore)
	rr.authzServer = gatherHist(decisionMetric, "", "").sub(beforeAll)
	rr.authzByDecision = map[string]hist{}
	for _, d := range decisions {
		rr.authzByDecision[d] = gatherHist(decisionMetric, "decision", d).sub(beforeBy[d])
	}
	rr.authzRT = newLatencies(all)
	for k, l := range byKind {
		rr.authzKinds = append(rr.authzKinds, kindLatencies{authzKinds[k], newLatencies(l)})
	}
	progress("(f) webhook round trip p50 %s p99 %s; server-side decisions: %d, mean %s, p99 in %s",
		fmtDur(rr.authzRT.p(50)), fmtDur(rr.authzRT.p(99)), rr.authzServer.count, fmtDur(rr.authzServer.mean()), rr.authzServer.fmtQuantile(0.99))

	// Through the kube-apiserver, alternately: a user the webhook never sees
	// (RBAC alone: the raw figure) and an active member (webhook, then RBAC).
	progress("(f) kube-apiserver: %d SubjectAccessReviews each for %s (RBAC only) and for an oidc: member (webhook + RBAC), alternating", o.authzRequests, rawUser(0))
	member := kubeName(f.users[f.groups[0].members[0]])
	var raw, viaWebhook []time.Duration
	for i := range 2 * (o.authzWarmup + o.authzRequests) {
		user := rawUser(0)
		if i%2 == 1 {
			user = member
		}
		t := time.Now()
		st, err := b.sar(ctx, user, nil)
		took := time.Since(t)
		if err != nil {
			return phase{}, err
		}
		if !st.Allowed {
			return phase{}, fmt.Errorf("(f) %s not allowed: %+v", user, st)
		}
		if i < 2*o.authzWarmup {
			continue
		}
		if i%2 == 0 {
			raw = append(raw, took)
		} else {
			viaWebhook = append(viaWebhook, took)
		}
	}
	b.opsDone(&m)
	rr.sarRaw, rr.sarWebhook = newLatencies(raw), newLatencies(viaWebhook)
	progress("(f) SubjectAccessReview via kube-apiserver: RBAC only p50 %s p99 %s; oidc: user (webhook consulted) p50 %s p99 %s",
		fmtDur(rr.sarRaw.p(50)), fmtDur(rr.sarRaw.p(99)), fmtDur(rr.sarWebhook.p(50)), fmtDur(rr.sarWebhook.p(99)))
	ops := o.authzWarmup + o.authzRequests + 2*(o.authzWarmup+o.authzRequests)
	return b.endPhase(m, "(f) webhook POSTs + SARs via kube-apiserver", ops, time.Since(began), 0, nil, 0), nil
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// Go runtime of this process (operator + bench client): what can stretch a
// decision that costs tens of microseconds of CPU.

type runtimeSnap struct {
	gcCycles, gcCPU, assistCPU float64
	pauses, sched              *metrics.Float64Histogram
}

type runtimeDelta struct {
	gcCycles          float64
	gcCPU, assistCPU  time.Duration // all GC CPU; of it, mark assists charged to allocating goroutines
	pauses            int           // stop-the-world pauses
	pausesOver100us   int
	maxPause          time.Duration // upper bound of the highest non-empty bucket
	schedWaits        int           // goroutines made runnable
	schedOver1ms      int           // of them, waiting over 1 ms for a CPU
	schedOver250us    int
	schedMaxWaitBound time.Duration
}

func readRuntime() runtimeSnap {
	samples := []metrics.Sample{
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/gc/mark/assist:cpu-seconds"},
		{Name: "/sched/pauses/total/gc:seconds"},
		{Name: "/sched/latencies:seconds"},
	}
	metrics.Read(samples)
	var r runtimeSnap
	if samples[0].Value.Kind() == metrics.KindUint64 {
		r.gcCycles = float64(samples[0].Value.Uint64())
	}
	if samples[1].Value.Kind() == metrics.KindFloat64 {
		r.gcCPU = samples[1].Value.Float64()
	}
	if samples[2].Value.Kind() == metrics.KindFloat64 {
		r.assistCPU = samples[2].Value.Float64()
	}
	if samples[3].Value.Kind() == metrics.KindFloat64Histogram {
		r.pauses = samples[3].Value.Float64Histogram()
	}
	if samples[4].Value.Kind() == metrics.KindFloat64Histogram {
		r.sched = samples[4].Value.Float64Histogram()
	}
	return r
}

func (r runtimeSnap) sub(o runtimeSnap) runtimeDelta {
	d := runtimeDelta{gcCycles: r.gcCycles - o.gcCycles, gcCPU: secs(r.gcCPU - o.gcCPU), assistCPU: secs(r.assistCPU - o.assistCPU)}
	// counts over threshold, total, and the highest non-empty bucket's upper bound
	walk := func(now, before *metrics.Float64Histogram, over float64) (total, above int, maxBound time.Duration) {
		if now == nil || before == nil || len(now.Counts) != len(before.Counts) {
			return 0, 0, 0
		}
		for i, c := range now.Counts {
			n := int(c - before.Counts[i])
			if n == 0 {
				continue
			}
			total += n
			// Buckets[i] and Buckets[i+1] bound bucket i.
			if now.Buckets[i] >= over {
				above += n
			}
			if hi := now.Buckets[i+1]; !math.IsInf(hi, 1) {
				maxBound = secs(hi)
			} else {
				maxBound = secs(now.Buckets[i])
			}
		}
		return total, above, maxBound
	}
	d.pauses, d.pausesOver100us, d.maxPause = walk(r.pauses, o.pauses, 100e-6)
	d.schedWaits, d.schedOver1ms, d.schedMaxWaitBound = walk(r.sched, o.sched, 1e-3)
	_, d.schedOver250us, _ = walk(r.sched, o.sched, 250e-6)
	return d
}

// ---------------------------------------------------------------------------
// Histograms of controller-runtime's registry (the operator runs in-process)

// hist is a Prometheus histogram (or the difference of two snapshots).
type hist struct {
	count  uint64
	sum    float64
	bounds []float64 // upper bounds, ascending
	cum    []uint64  // cumulative count at each bound
}

// gatherHist sums the histogram name over the series whose label has value
// (every series when label is empty).
func gatherHist(name, label, value string) hist {
	var h hist
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return h
	}
	byBound := map[float64]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
			hm := m.GetHistogram()
			h.count += hm.GetSampleCount()
			h.sum += hm.GetSampleSum()
			for _, bk := range hm.GetBucket() {
				byBound[bk.GetUpperBound()] += bk.GetCumulativeCount()
			}
		}
	}
	for bound := range byBound {
		h.bounds = append(h.bounds, bound)
	}
	sort.Float64s(h.bounds)
	for _, bound := range h.bounds {
		h.cum = append(h.cum, byBound[bound])
	}
	return h
}

// at is the cumulative count at bound (0 when the histogram has none yet).
func (h hist) at(bound float64) uint64 {
	for i, x := range h.bounds {
		if math.Abs(x-bound) <= 1e-12*math.Max(1, bound) {
			return h.cum[i]
		}
	}
	return 0
}

// sub is what was observed between snapshot o and h.
func (h hist) sub(o hist) hist {
	out := hist{count: h.count - o.count, sum: h.sum - o.sum, bounds: h.bounds}
	for i, bound := range h.bounds {
		out.cum = append(out.cum, h.cum[i]-o.at(bound))
	}
	return out
}

func (h hist) mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return secs(h.sum / float64(h.count))
}

// share is the fraction of observations at or below bound.
func (h hist) share(bound float64) float64 {
	if h.count == 0 {
		return 0
	}
	return float64(h.at(bound)) / float64(h.count)
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// fmtDur shows sub-millisecond durations in µs.
func fmtDur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
	return ms(d)
}

// fmtQuantile renders the bucket the q-quantile falls in, e.g. "100–250 ms":
// with buckets this coarse, an interpolated figure would claim a precision
// the histogram does not have.
func (h hist) fmtQuantile(q float64) string {
	if h.count == 0 || len(h.bounds) == 0 {
		return "–"
	}
	rank := q * float64(h.count)
	lo := 0.0
	for i, bound := range h.bounds {
		if float64(h.cum[i]) >= rank {
			return fmtRange(secs(lo), secs(bound))
		}
		lo = bound
	}
	return "> " + fmtDur(secs(lo))
}

// fmtRange renders lo–hi in one unit.
func fmtRange(lo, hi time.Duration) string {
	if hi <= time.Millisecond {
		return fmt.Sprintf("%.0f–%.0f µs", float64(lo)/float64(time.Microsecond), float64(hi)/float64(time.Microsecond))
	}
	if hi < time.Second {
		return fmt.Sprintf("%g–%g ms", float64(lo)/float64(time.Millisecond), float64(hi)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%g–%g s", lo.Seconds(), hi.Seconds())
}

// ---------------------------------------------------------------------------
// Output

func (r revokeResults) printRows(o options, row func(...string)) {
	timeouts := func(n int) string {
		if n == 0 {
			return ""
		}
		return fmt.Sprintf(" (%d timed out)", n)
	}
	rawRows := len(r.rawCut) > 0
	rawP := func(q float64) string {
		if !rawRows {
			return "–"
		}
		return ms(r.rawCut.p(q)) + " (RoleBinding edit)"
	}
	rawRatio := func(ours latencies, q float64) string {
		if !rawRows {
			return ""
		}
		return ratio(float64(ours.p(q)), float64(r.rawCut.p(q)))
	}
	if o.runs("d") && len(r.groupCut) > 0 {
		row(fmt.Sprintf("(d) group removal → SAR refused, %d runs: p50", len(r.groupCut)), ms(r.groupCut.p(50)), rawP(50), rawRatio(r.groupCut, 50), "", "info")
		row(fmt.Sprintf("(d) group removal → SAR refused, %d runs: p99", len(r.groupCut)), ms(r.groupCut.p(99)), rawP(99)+timeouts(r.rawTimeouts), rawRatio(r.groupCut, 99),
			"< "+targetCut.String(), verdict(r.groupCut.p(99) < targetCut && r.groupTimeouts == 0)+timeouts(r.groupTimeouts))
		row("    of which the SCIM PATCH /Groups round trip: p50 / p99", ms(r.groupPatch.p(50))+" / "+ms(r.groupPatch.p(99)), "", "", "", "info")
		row("    PATCH sent → RoleBinding without the user (watch): p50 / p99", ms(r.groupRB.p(50))+" / "+ms(r.groupRB.p(99)), "", "", "", "info")
		row("    RoleBinding seen → SAR refused: p50 / p99", ms(r.groupRBToCut.p(50))+" / "+ms(r.groupRBToCut.p(99)), "", "", "", "info")
	}
	if o.runs("e") && len(r.deniedAfter) > 0 {
		r.deactivationRows("(e) deactivation", rawP, rawRatio, row)
	}
	if o.runs("f") && len(r.authzRT) > 0 {
		raw := func(q float64) string { return fmtDur(r.sarRaw.p(q)) + " (SAR via API server, RBAC only)" }
		row(fmt.Sprintf("(f) webhook round trip (POST, TLS, %d-kind mix), n=%d: p50", len(authzKinds), len(r.authzRT)), fmtDur(r.authzRT.p(50)), raw(50),
			ratio(float64(r.authzRT.p(50)), float64(r.sarRaw.p(50))), "", "info")
		row(fmt.Sprintf("(f) webhook round trip (POST, TLS, %d-kind mix), n=%d: p99", len(authzKinds), len(r.authzRT)), fmtDur(r.authzRT.p(99)), raw(99),
			ratio(float64(r.authzRT.p(99)), float64(r.sarRaw.p(99))), "", "info")
		h := r.authzServer
		row("(f) webhook decision, server side (histogram): p99 bucket / mean",
			fmt.Sprintf("%s / %s (%.2f%% ≤ 1 ms)", h.fmtQuantile(0.99), fmtDur(h.mean()), 100*h.share(targetDecision.Seconds())), "", "",
			"p99 < "+fmtDur(targetDecision), verdict(h.count > 0 && h.share(targetDecision.Seconds()) >= 0.99))
		row("(f) SAR via API server, oidc: user (webhook + RBAC): p50 / p99", fmtDur(r.sarWebhook.p(50))+" / "+fmtDur(r.sarWebhook.p(99)),
			fmtDur(r.sarRaw.p(50))+" / "+fmtDur(r.sarRaw.p(99))+" (RBAC only)", ratio(float64(r.sarWebhook.p(99)), float64(r.sarRaw.p(99))), "", "info")
	}
}

// deactivationRows prints the deactivation figures of (e) or (g); rawP and
// rawRatio give the raw column (a RoleBinding edit, or nothing).
func (r revokeResults) deactivationRows(label string, rawP func(float64) string, rawRatio func(latencies, float64) string, row func(...string)) {
	timeouts := func(n int) string {
		if n == 0 {
			return ""
		}
		return fmt.Sprintf(" (%d timed out)", n)
	}
	row(fmt.Sprintf("%s → first SAR refused, %d runs: p50", label, len(r.deniedAfter)), ms(r.deniedAfter.p(50)), rawP(50), rawRatio(r.deniedAfter, 50), "", "info")
	row(fmt.Sprintf("%s → first SAR refused, %d runs: p99", label, len(r.deniedAfter)), ms(r.deniedAfter.p(99)), rawP(99), rawRatio(r.deniedAfter, 99),
		"< "+targetCut.String(), verdict(r.deniedAfter.p(99) < targetCut && r.denyTimeouts == 0)+timeouts(r.denyTimeouts))
	row("    of which the SCIM PATCH /Users round trip: p50 / p99", ms(r.userPatch.p(50))+" / "+ms(r.userPatch.p(99)), "", "", "", "info")
	row(label+" → status.sessionsRevokedAt seen: p50 / p99", ms(r.revokedAfter.p(50))+" / "+ms(r.revokedAfter.p(99))+timeouts(r.revokeTimeout), "", "", "", "info")
	row("    PATCH sent → RoleBinding without the user (watch): p50 / p99", ms(r.deactRB.p(50))+" / "+ms(r.deactRB.p(99)), "", "", "", "info")
	row("    RoleBinding seen → sessionsRevokedAt seen: p50 / p99", ms(r.deactRBToRevoked.p(50))+" / "+ms(r.deactRBToRevoked.p(99)), "", "", "", "info")
	h := r.timeToRevoke
	row("    operator's time_to_revoke histogram: n, mean, p50, p99 bucket", fmt.Sprintf("n=%d, %s, %s, %s", h.count, ms(h.mean()), h.fmtQuantile(0.5), h.fmtQuantile(0.99)), "", "", "", "info")
}

func (r revokeResults) printNotes(w io.Writer, o options) {
	if o.runs("d") && len(r.groupCut) > 0 {
		fmt.Fprintf(w, "\n(d): clock from sending the SCIM PATCH that removes the member until the answer to the first SubjectAccessReview\n"+
			"(user only, no groups; polled every %s through the kube-apiserver) that is not allowed. The user stays active, so the\n"+
			"cut is the binding controller's: RoleBinding re-applied without the user, then the API server's RBAC watch. Raw: the\n"+
			"same polling after a merge patch that drops a user from a plain RoleBinding (the API server's own propagation).\n"+
			"RoleBinding times come from a watch on the namespace (the stream the API server's RBAC authorizer follows too);\n"+
			"%d of %d runs had one.\n", sarPoll, len(r.groupRB), len(r.groupCut))
	}
	if o.runs("e") && len(r.deniedAfter) > 0 {
		fmt.Fprintf(w, "\n(e): clock from sending the SCIM PATCH {\"op\":\"replace\",\"value\":{\"active\":false}}; %d of %d first refusals were the\n"+
			"webhook's (denied), the rest RBAC's (not allowed); %d came before the PATCH's own response (the SCIM store answers\n"+
			"once the operator's cache holds the write, and the webhook decides from that cache). sessionsRevokedAt is polled\n"+
			"on the API server every %s; the histogram is the operator's own scim_operator_time_to_revoke_seconds (from the\n"+
			"request time the SCIM store stamps to sessionsRevokedAt; p50/p99 shown as the bucket they fall in:\n"+
			"50ms,100ms,250ms,500ms,1s,…).\n",
			r.deniedByWebhook, len(r.deniedAfter), r.deniedBeforeResponse, statusPoll)
	}
	if o.runs("f") && len(r.authzRT) > 0 {
		fmt.Fprintf(w, "\n(f): the target applies to the server-side decision (scim_operator_authorization_decision_duration_seconds: from\n"+
			"the request reaching the handler to the answer encoded, JSON included; its p99 is shown as the bucket it falls in:\n"+
			"50µs,100µs,250µs,500µs,1ms,…; the verdict is exact: ≥ 99%% of decisions ≤ 1 ms). The round trip adds TLS, HTTP/2\n"+
			"and the client. Round trip by kind, p50 / p99:\n")
		for _, k := range r.authzKinds {
			fmt.Fprintf(w, "    %-22s %s / %s\n", k.kind, fmtDur(k.lat.p(50)), fmtDur(k.lat.p(99)))
		}
		h := r.authzServer
		fmt.Fprintf(w, "    server side, all:        n=%d; over 1 ms: %d, over 2.5 ms: %d, over 5 ms: %d, over 10 ms: %d\n", h.count,
			h.count-h.at(0.001), h.count-h.at(0.0025), h.count-h.at(0.005), h.count-h.at(0.01))
		for _, d := range []string{"deny", "no-opinion"} {
			h := r.authzByDecision[d]
			fmt.Fprintf(w, "    server side, %-11s n=%d mean %s p50 in %s, p99 in %s\n", d+":", h.count, fmtDur(h.mean()), h.fmtQuantile(0.5), h.fmtQuantile(0.99))
		}
		rt := r.authzRuntime
		fmt.Fprintf(w, "    Go runtime of this process (operator + bench client) meanwhile: %.0f GC cycles, GC CPU %s (mark assists %s);\n"+
			"    %d stop-the-world pauses, %d over 100 µs, longest ≤ %s; goroutines runnable but waiting for a CPU: %d of %d over\n"+
			"    250 µs, %d over 1 ms, longest ≤ %s.\n",
			rt.gcCycles, ms(rt.gcCPU), ms(rt.assistCPU), rt.pauses, rt.pausesOver100us, fmtDur(rt.maxPause),
			rt.schedOver250us, rt.schedWaits, rt.schedOver1ms, fmtDur(rt.schedMaxWaitBound))
	}
}
