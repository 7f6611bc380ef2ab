package membership

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

func user(v string) identityv1alpha1.Member {
	return identityv1alpha1.Member{Value: v, Type: identityv1alpha1.MemberUser}
}

func shard(name string, values ...string) *identityv1alpha1.ScimGroupMembers {
	ms := make([]identityv1alpha1.Member, len(values))
	for i, v := range values {
		ms[i] = user(v)
	}
	SortMembers(ms)
	return &identityv1alpha1.ScimGroupMembers{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: identityv1alpha1.ScimGroupMembersSpec{Group: "g", Members: ms}}
}

func sharded(m identityv1alpha1.GroupMembership, shards ...*identityv1alpha1.ScimGroupMembers) *View {
	g := &identityv1alpha1.ScimGroup{ObjectMeta: metav1.ObjectMeta{Name: "g"}, Spec: identityv1alpha1.ScimGroupSpec{Membership: &m}}
	for _, s := range shards {
		m.Shards = append(m.Shards, s.Name)
	}
	v := &View{Group: g, Shards: shards, skip: map[string]bool{}}
	for _, x := range m.Removed {
		v.skip[x] = true
	}
	for _, a := range m.Added {
		v.skip[a.Value] = true
	}
	return v
}

func values(v *View) []string {
	var out []string
	v.Each(func(m identityv1alpha1.Member) bool { out = append(out, m.Value); return true })
	slices.Sort(out)
	return out
}

func TestEffectiveMembersAreTheShardsWithTheOverlayApplied(t *testing.T) {
	v := sharded(identityv1alpha1.GroupMembership{Added: []identityv1alpha1.Member{user("e"), {Value: "b", Type: "User", Display: "Bee"}}, Removed: []string{"c"}},
		shard("s1", "a", "b"), shard("s2", "c", "d"))
	if got := values(v); fmt.Sprint(got) != "[a b d e]" {
		t.Fatalf("members %v", got)
	}
	if v.Len() != 4 {
		t.Fatalf("Len %d", v.Len())
	}
	if m, ok := v.Get("b"); !ok || m.Display != "Bee" {
		t.Fatalf("b is %+v, the added version should win", m)
	}
	if _, ok := v.Get("c"); ok {
		t.Fatal("a removed member is found")
	}
}

func TestOverlayEditsKeepAddedAndRemovedDisjointAndMinimal(t *testing.T) {
	tests := []struct {
		name        string
		ops         []string // +x adds x, -x removes x
		wantAdded   string
		wantRemoved string
	}{
		{"adding a shard member changes nothing", []string{"+a"}, "[]", "[]"},
		{"removing a non-member changes nothing", []string{"-z"}, "[]", "[]"},
		{"remove then add a shard member cancels out", []string{"-a", "+a"}, "[]", "[]"},
		{"add then remove a new member cancels out", []string{"+z", "-z"}, "[]", "[]"},
		{"a new member is added once", []string{"+z", "+z"}, "[z]", "[]"},
		{"a shard member is removed once", []string{"-a", "-a"}, "[]", "[a]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := sharded(identityv1alpha1.GroupMembership{}, shard("s1", "a", "b"))
			m := v.Group.Spec.Membership
			ov := NewOverlay(m, v.InShards)
			for _, op := range tt.ops {
				if op[0] == '+' {
					ov.Add(user(op[1:]))
				} else {
					ov.Remove(op[1:])
				}
			}
			var added []string
			for _, a := range m.Added {
				added = append(added, a.Value)
			}
			if fmt.Sprint(nilEmpty(added)) != tt.wantAdded || fmt.Sprint(nilEmpty(m.Removed)) != tt.wantRemoved {
				t.Fatalf("added %v removed %v, want %s %s", added, m.Removed, tt.wantAdded, tt.wantRemoved)
			}
		})
	}
}

func nilEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestPackBoundsShardsByCountAndBytes(t *testing.T) {
	ms := make([]identityv1alpha1.Member, 4500)
	for i := range ms {
		ms[i] = user(fmt.Sprintf("%036d", 4500-i))
	}
	parts := Pack(ms)
	if len(parts) != 3 || len(parts[0]) != identityv1alpha1.MaxShardMembers || len(parts[2]) != 500 {
		t.Fatalf("shard sizes %d %d %d", len(parts[0]), len(parts[1]), len(parts[2]))
	}
	if !slices.IsSortedFunc(parts[0], func(a, b identityv1alpha1.Member) int { return strings.Compare(a.Value, b.Value) }) {
		t.Fatal("a shard is not sorted")
	}
	// Long display names make shards smaller, not larger than ShardBytes.
	for i := range ms {
		ms[i].Display = strings.Repeat("x", 1000)
	}
	for _, p := range Pack(ms) {
		if n := JSONSize(p); n > ShardBytes+ShardBytes/10 {
			t.Fatalf("a shard of %d members is %d bytes", len(p), n)
		}
	}
}

func TestPlanRewritesOnlyShardsTheOverlayTouches(t *testing.T) {
	full := func(name string, from int) *identityv1alpha1.ScimGroupMembers {
		vs := make([]string, identityv1alpha1.MaxShardMembers)
		for i := range vs {
			vs[i] = fmt.Sprintf("%s%05d", name, from+i)
		}
		return shard(name, vs...)
	}
	// s3 is small, but one small shard more than the fold makes is allowed.
	s1, s2, s3 := full("a", 0), full("b", 0), shard("c", "c1", "c2")
	m := identityv1alpha1.GroupMembership{Added: []identityv1alpha1.Member{user("new")}, Removed: []string{"b00007"}}
	p := Plan(&m, []*identityv1alpha1.ScimGroupMembers{s1, s2, s3})
	if fmt.Sprint(p.Keep) != "[a c]" || fmt.Sprint(p.Replaced) != "[b]" {
		t.Fatalf("keep %v replace %v", p.Keep, p.Replaced)
	}
	if len(p.Pool) != identityv1alpha1.MaxShardMembers-1+1 {
		t.Fatalf("pool of %d", len(p.Pool))
	}
	// With SmallShards small shards listed, the new one would be one too
	// many: every small shard is merged into the pool.
	s4, s5 := shard("d", "d1"), shard("e", "e1", "e2", "e3")
	if p := Plan(&m, []*identityv1alpha1.ScimGroupMembers{s1, s3, s4, s5}); fmt.Sprint(p.Keep) != "[a]" || fmt.Sprint(p.Replaced) != "[c d e]" || len(p.Pool) != 2+1+3+1 {
		t.Fatalf("keep %v replace %v pool of %d", p.Keep, p.Replaced, len(p.Pool))
	}
	// A fold that only removes makes no shard, so three small ones stay.
	rm := identityv1alpha1.GroupMembership{Removed: []string{"a00001"}}
	if p := Plan(&rm, []*identityv1alpha1.ScimGroupMembers{s1, s3, s4, s5}); fmt.Sprint(p.Keep) != "[c d e]" || fmt.Sprint(p.Replaced) != "[a]" {
		t.Fatalf("keep %v replace %v", p.Keep, p.Replaced)
	}
	for _, x := range p.Pool {
		if x.Value == "b00007" {
			t.Fatal("the removed member is still in the pool")
		}
	}
	// Folding keeps the effective members.
	before := values(sharded(m, s1, s2, s3))
	var after []string
	for _, x := range p.Pool {
		after = append(after, x.Value)
	}
	for _, s := range []*identityv1alpha1.ScimGroupMembers{s1, s3} {
		for _, x := range s.Spec.Members {
			after = append(after, x.Value)
		}
	}
	slices.Sort(after)
	if !slices.Equal(before, after) {
		t.Fatalf("fold changed the members: %d before, %d after", len(before), len(after))
	}
}

func TestVersionIgnoresCompactions(t *testing.T) {
	g := &identityv1alpha1.ScimGroup{ObjectMeta: metav1.ObjectMeta{Generation: 7}}
	if Version(g) != 7 {
		t.Fatal(Version(g))
	}
	CountCompaction(g)
	g.Generation++
	if Version(g) != 7 {
		t.Fatalf("a compaction moved the version to %d", Version(g))
	}
}

// What the API server leaves of a member an earlier build stored as an
// object is a member without a value; a fold drops it instead of failing to
// write it again, forever.
func TestPlanDropsMembersWithoutAValue(t *testing.T) {
	old := shard("old", "", "x")
	m := identityv1alpha1.GroupMembership{Added: []identityv1alpha1.Member{{}, user("y")}, Removed: []string{"x"}}
	p := Plan(&m, []*identityv1alpha1.ScimGroupMembers{old})
	if fmt.Sprint(p.Replaced) != "[old]" || fmt.Sprint(p.Pool) != "[User/y]" {
		t.Fatalf("replace %v, pool %v", p.Replaced, p.Pool)
	}
}
