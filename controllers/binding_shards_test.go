package controllers

import (
	"fmt"
	"slices"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/types"
)

func subjectsNamed(n int, skip int) []rbacv1.Subject {
	out := []rbacv1.Subject{}
	for i := range n {
		if i != skip {
			out = append(out, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("oidc:user%06d@example.com", i)})
		}
	}
	return out
}

func TestRemovingOneSubjectChangesOneShard(t *testing.T) {
	const n = 100000
	before, after := shardSubjects(subjectsNamed(n, -1)), shardSubjects(subjectsNamed(n, 4242))
	if len(before) != ShardCount(n) || len(after) != len(before) {
		t.Fatalf("%d and %d shards, want %d", len(before), len(after), ShardCount(n))
	}
	changed, total := 0, 0
	for i := range before {
		total += len(before[i])
		if len(before[i]) > SubjectsPerObject {
			t.Fatalf("shard %d holds %d subjects", i, len(before[i]))
		}
		if !slices.IsSortedFunc(before[i], func(a, b rbacv1.Subject) int { return compare(a.Name, b.Name) }) {
			t.Fatalf("shard %d is not sorted", i)
		}
		if !slices.Equal(before[i], after[i]) {
			changed++
		}
	}
	if total != n || changed != 1 {
		t.Fatalf("%d subjects in all, %d shards changed by one removal; want %d and 1", total, changed, n)
	}
}

func TestShardCountGrowsByDoubling(t *testing.T) {
	for _, c := range []struct{ n, want int }{{0, 1}, {1, 1}, {shardFill, 1}, {shardFill + 1, 2}, {20000, 8}, {100000, 32}} {
		if got := ShardCount(c.n); got != c.want {
			t.Errorf("ShardCount(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}

func TestThrottleRunsFirstAtOnceThenSpacesOut(t *testing.T) {
	var th throttle
	key := types.NamespacedName{Namespace: "ns", Name: "b"}
	t0 := time.Unix(1000, 0)
	if d := th.wait(key, time.Second, t0); d != 0 {
		t.Fatalf("first wait = %v, want 0", d)
	}
	if d := th.wait(key, time.Second, t0.Add(300*time.Millisecond)); d != 700*time.Millisecond {
		t.Errorf("wait 300ms later = %v, want 700ms", d)
	}
	if d := th.wait(types.NamespacedName{Name: "other"}, time.Second, t0); d != 0 {
		t.Errorf("another key waits %v, want 0", d)
	}
	if d := th.wait(key, time.Second, t0.Add(time.Second)); d != 0 {
		t.Errorf("wait after the interval = %v, want 0", d)
	}
	th.forget(key)
	if d := th.wait(key, time.Second, t0.Add(1100*time.Millisecond)); d != 0 {
		t.Errorf("wait after forget = %v, want 0", d)
	}
}

// While the inputs keep changing the step waits for them to be quiet, but
// never longer than maxDelay after its last run; the first run and a quiet
// object are not held back.
func TestThrottleWaitsForQuietUpToAMaximumDelay(t *testing.T) {
	var th throttle
	key := types.NamespacedName{Namespace: "ns", Name: "b"}
	t0 := time.Unix(1000, 0)
	quiet, maxDelay := 2*time.Second, 10*time.Second
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	if d := th.waitQuiet(key, time.Second, quiet, maxDelay, at(0), at(0)); d != 0 {
		t.Fatalf("first run waits %v, want 0 even with a change just now", d)
	}
	if d := th.waitQuiet(key, time.Second, quiet, maxDelay, at(0), at(500*time.Millisecond)); d != 500*time.Millisecond {
		t.Errorf("within the interval: wait %v, want the rest of the interval, 500ms", d)
	}
	// Changes every few hundred milliseconds: held back until quiet…
	if d := th.waitQuiet(key, time.Second, quiet, maxDelay, at(1400*time.Millisecond), at(1500*time.Millisecond)); d != 1900*time.Millisecond {
		t.Errorf("changed 100ms ago: wait %v, want 1.9s (the rest of the quiet period)", d)
	}
	// …but no longer than maxDelay after the last run.
	if d := th.waitQuiet(key, time.Second, quiet, maxDelay, at(9500*time.Millisecond), at(9600*time.Millisecond)); d != 400*time.Millisecond {
		t.Errorf("changed 100ms ago, 9.6s after the last run: wait %v, want 400ms (maxDelay)", d)
	}
	if d := th.waitQuiet(key, time.Second, quiet, maxDelay, at(9900*time.Millisecond), at(10*time.Second)); d != 0 {
		t.Errorf("at maxDelay: wait %v, want 0", d)
	}
	// Quiet since: runs once the interval has passed.
	if d := th.waitQuiet(key, time.Second, quiet, maxDelay, at(5*time.Second), at(11*time.Second)); d != 0 {
		t.Errorf("quiet for 6s, 1s after the last run: wait %v, want 0", d)
	}
}

func TestNamesUserFindsTheUserInEveryShardThatHoldsIt(t *testing.T) {
	subjects := subjectsNamed(20000, -1)
	subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "oidc:user000007@example.com"})
	slices.SortFunc(subjects, compareSubjects)
	found := 0
	for _, shard := range shardSubjects(subjects) {
		if namesUser(shard, "oidc:user000007@example.com") {
			found++
		}
		if namesUser(shard, "oidc:nobody@example.com") {
			t.Errorf("a shard names a user it does not hold")
		}
	}
	// The Group subject of the same name is not the user.
	if found != 1 {
		t.Errorf("the user was found in %d shards, want 1", found)
	}
	if namesUser([]rbacv1.Subject{{Kind: rbacv1.GroupKind, Name: "oidc:x"}}, "oidc:x") {
		t.Errorf("a Group subject was taken for the User of the same name")
	}
}
