// Package membership is the one place that knows how a group's members are
// stored, and answers "who are the effective direct members of this group"
// and "which groups contain this member" for every consumer: the SCIM store
// (GET, filters, a user's groups), the group, binding and app controllers
// (counts, flattening, cycles) and the authorization webhook.
//
// A small group keeps its members inline in spec.members. A group past
// InlineMembers keeps them in immutable ScimGroupMembers shards, owned by the
// group and listed in spec.membership.shards, plus a small overlay of the
// changes since the shards were written (spec.membership.added/removed):
//
//	effective = (members of the listed shards − removed − added values) + added
//
// A SCIM write of a group is one update of the ScimGroup (the commit point,
// under optimistic concurrency): it edits the overlay, so adding one member
// costs the same in a group of 100 as in one of 100,000. When the overlay
// grows past OverlayMembers, or the group controller finds it non-empty,
// compaction folds it into new shards copy-on-write: create the new shards,
// commit them with one update of the group (resourceVersion precondition),
// then delete the replaced ones. A crash anywhere leaves only shards that no
// group lists; the group controller deletes those once they are older than
// the grace period (Sweep).
//
// Invariants the writers keep: listed shards are disjoint and each is sorted
// by value; removed values are present in some listed shard; added and
// removed share no value.
package membership

import (
	"cmp"
	"encoding/json"
	"slices"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

const (
	// InlineMembers is the most members a group keeps inline; a write that
	// grows it past this moves its members to shards.
	InlineMembers = 1000
	// OverlayMembers bounds the overlay: a write that would grow it past
	// this folds it into shards in the same request.
	OverlayMembers = 1000
	// CompactAt is the overlay size at which the group controller compacts
	// at once; a smaller non-empty overlay is compacted once the group has
	// been quiet for CompactQuiet.
	CompactAt = 200
	// ShardBytes bounds the estimated JSON size of one shard's members
	// (MaxShardMembers bounds their number), far below the API server's
	// object size limit.
	ShardBytes = 200 << 10
)

// Overlay edits a GroupMembership's added/removed lists, keeping them
// disjoint. inShards reports whether a value is a member of the listed
// shards, and with which attributes.
type Overlay struct {
	m        *identityv1alpha1.GroupMembership
	inShards func(value string) (identityv1alpha1.Member, bool)
}

// NewOverlay edits m in place.
func NewOverlay(m *identityv1alpha1.GroupMembership, inShards func(string) (identityv1alpha1.Member, bool)) *Overlay {
	return &Overlay{m: m, inShards: inShards}
}

// Add makes x a member. Adding a member already present changes nothing
// (its value, and its type once set, are immutable), except that a member
// removed and added again in the overlay takes x's attributes.
func (o *Overlay) Add(x identityv1alpha1.Member) {
	if i := slices.Index(o.m.Removed, x.Value); i >= 0 {
		o.m.Removed = slices.Delete(o.m.Removed, i, i+1)
		if cur, ok := o.inShards(x.Value); ok && cur == x {
			return
		}
		o.m.Added = append(o.m.Added, x)
		return
	}
	if i := slices.IndexFunc(o.m.Added, func(a identityv1alpha1.Member) bool { return a.Value == x.Value }); i >= 0 {
		if o.m.Added[i].Type == "" {
			o.m.Added[i].Type = x.Type
		}
		return
	}
	if _, ok := o.inShards(x.Value); ok {
		return
	}
	o.m.Added = append(o.m.Added, x)
}

// Remove makes value no member; removing a non-member is a no-op.
func (o *Overlay) Remove(value string) {
	o.m.Added = slices.DeleteFunc(o.m.Added, func(a identityv1alpha1.Member) bool { return a.Value == value })
	if _, ok := o.inShards(value); ok && !slices.Contains(o.m.Removed, value) {
		o.m.Removed = append(o.m.Removed, value)
	}
}

// Size is the number of overlay entries.
func Size(m *identityv1alpha1.GroupMembership) int {
	if m == nil {
		return 0
	}
	return len(m.Added) + len(m.Removed)
}

// SortMembers sorts members by value, the order of a shard.
func SortMembers(ms []identityv1alpha1.Member) {
	slices.SortFunc(ms, func(a, b identityv1alpha1.Member) int { return cmp.Compare(a.Value, b.Value) })
}

// estimate is the JSON size of one member in a shard, with some slack.
func estimate(m identityv1alpha1.Member) int {
	return len(m.Value) + len(m.Type) + len(m.Display) + 40
}

// Pack sorts members by value and cuts them into shards of at most
// MaxShardMembers members and about ShardBytes of JSON each.
func Pack(ms []identityv1alpha1.Member) [][]identityv1alpha1.Member {
	SortMembers(ms)
	var out [][]identityv1alpha1.Member
	start, size := 0, 0
	for i, m := range ms {
		n := estimate(m)
		if i > start && (i-start >= identityv1alpha1.MaxShardMembers || size+n > ShardBytes) {
			out = append(out, ms[start:i:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(ms) {
		out = append(out, ms[start:])
	}
	return out
}

// FoldPlan says how to fold an overlay into shards: keep the listed shards
// in Keep, and write Pool (packed) as new shards replacing the Replaced ones.
type FoldPlan struct {
	Keep     []string
	Replaced []string
	Pool     []identityv1alpha1.Member
}

// SmallShards is how many shards under half of MaxShardMembers a group may
// list before a fold merges them. Merging the one small shard at every fold
// rewrote it again and again while an IdP filled a large group (200, 400,
// 600, ... members written for every 200 added); letting a few accumulate
// writes each member about twice instead.
const SmallShards = 3

// Plan folds the overlay of m into the listed shards (resolved, in the
// order of m.Shards). Only shards that hold an overlay value are rewritten,
// and small shards once more than SmallShards of them would be listed: the
// cost of a fold grows with the overlay, not with the group.
func Plan(m *identityv1alpha1.GroupMembership, shards []*identityv1alpha1.ScimGroupMembers) FoldPlan {
	touched := make(map[string]bool, Size(m))
	for _, v := range m.Removed {
		touched[v] = true
	}
	for _, a := range m.Added {
		touched[a.Value] = true
	}
	small := func(s *identityv1alpha1.ScimGroupMembers) bool {
		return len(s.Spec.Members) < identityv1alpha1.MaxShardMembers/2
	}
	dirty := make([]bool, len(shards))
	smallKept := 0
	for i, s := range shards {
		for v := range touched {
			if _, ok := Find(s.Spec.Members, v); ok {
				dirty[i] = true
				break
			}
		}
		if !dirty[i] && small(s) {
			smallKept++
		}
	}
	if len(m.Added) > 0 {
		smallKept++ // the shard the added members will make, counted as small
	}
	mergeSmall := smallKept > SmallShards
	var p FoldPlan
	for i, s := range shards {
		if !dirty[i] && !(mergeSmall && small(s)) {
			p.Keep = append(p.Keep, s.Name)
			continue
		}
		p.Replaced = append(p.Replaced, s.Name)
		for _, x := range s.Spec.Members {
			if !touched[x.Value] && x.Value != "" {
				p.Pool = append(p.Pool, x)
			}
		}
	}
	// A member without a value is what the API server leaves of a member
	// stored as an object by an earlier build (see api/v1alpha1's
	// member_json.go): it names nothing and cannot be written again.
	for _, a := range m.Added {
		if a.Value != "" {
			p.Pool = append(p.Pool, a)
		}
	}
	return p
}

// Find looks value up in members sorted by value.
func Find(sorted []identityv1alpha1.Member, value string) (identityv1alpha1.Member, bool) {
	i, ok := slices.BinarySearchFunc(sorted, value, func(a identityv1alpha1.Member, v string) int { return cmp.Compare(a.Value, v) })
	if !ok {
		return identityv1alpha1.Member{}, false
	}
	return sorted[i], true
}

// JSONSize is the encoded size of members, for tests and diagnostics.
func JSONSize(ms []identityv1alpha1.Member) int {
	raw, _ := json.Marshal(ms)
	return len(raw)
}
