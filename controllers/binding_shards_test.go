package controllers

import (
	"fmt"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
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
