package store

import (
	"fmt"
	"strings"
	"testing"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/patch"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

func TestMemberAddsAndRemovesAreRecognisedAsDeltas(t *testing.T) {
	id := "6f1d2b8e-0c4a-4a57-9d3e-1a2b3c4d5e6f"
	tests := []struct {
		name  string
		ops   []patch.Operation
		delta bool
		want  string // fmt of the edits
	}{
		{"Entra add", []patch.Operation{{Op: "Add", Path: "members", Value: []any{map[string]any{"value": id, "$ref": nil}}}}, true,
			"[{[{" + id + "  }] [] false}]"},
		{"Entra remove by filter", []patch.Operation{{Op: "Remove", Path: `members[value eq "` + id + `"]`}}, true, "[{[] [" + id + "] false}]"},
		{"Okta and Entra remove with a value list", []patch.Operation{{Op: "remove", Path: "members", Value: []any{map[string]any{"value": id}}}}, true, "[{[] [" + id + "] false}]"},
		{"replace of the list", []patch.Operation{{Op: "replace", Path: "members", Value: []any{map[string]any{"value": id}}}}, true, "[{[{" + id + "  }] [] true}]"},
		{"remove of the whole list", []patch.Operation{{Op: "remove", Path: "members"}}, true, "[{[] [] true}]"},
		{"rename beside a member add", []patch.Operation{{Op: "replace", Path: "displayName", Value: "x"}, {Op: "add", Path: "members", Value: []any{map[string]any{"value": id}}}}, true,
			"[{[{" + id + "  }] [] false}]"},
		{"filter on type", []patch.Operation{{Op: "remove", Path: `members[type eq "Group"]`}}, false, ""},
		{"sub-attribute", []patch.Operation{{Op: "replace", Path: `members[value eq "` + id + `"].display`, Value: "x"}}, false, ""},
		{"pathless members", []patch.Operation{{Op: "add", Value: map[string]any{"members": []any{map[string]any{"value": id}}}}}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, edits, ok, err := splitGroupOps(tt.ops)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.delta {
				t.Fatalf("delta %v, want %v", ok, tt.delta)
			}
			if got := fmt.Sprint(normEdits(edits)); ok && got != tt.want {
				t.Fatalf("edits %s, want %s", got, tt.want)
			}
		})
	}
}

func normEdits(es []memberEdit) []memberEdit {
	for i := range es {
		if es[i].add == nil {
			es[i].add = []identityv1alpha1.Member{}
		}
		if es[i].remove == nil {
			es[i].remove = []string{}
		}
	}
	return es
}

func TestApplyEditsKeepsOrderAndDedupes(t *testing.T) {
	u := func(v string) identityv1alpha1.Member { return identityv1alpha1.Member{Value: v} }
	list := []identityv1alpha1.Member{u("a"), u("b"), u("c")}
	got := applyEdits(list, []memberEdit{{remove: []string{"b"}}, {add: []identityv1alpha1.Member{u("d"), u("a")}}})
	if fmt.Sprint(got) != "[a c d]" {
		t.Fatalf("%v", got)
	}
	got = applyEdits(got, []memberEdit{{replace: true, add: []identityv1alpha1.Member{u("z")}}})
	if fmt.Sprint(got) != "[z]" {
		t.Fatalf("%v", got)
	}
}

func TestMembersOfChecksWhatTheStoredFormCannot(t *testing.T) {
	long := strings.Repeat("x", identityv1alpha1.MaxMemberDisplay+1)
	for _, v := range []any{
		[]any{map[string]any{"value": "a", "display": long}},
		[]any{map[string]any{"value": strings.Repeat("a", identityv1alpha1.MaxMemberValue+1)}},
		[]any{map[string]any{"value": 7.0}},
		[]any{"a"},
		"a",
	} {
		if _, err := membersOf(v); err == nil {
			t.Errorf("%.60v: no error", v)
		} else if e, ok := err.(*scimerr.Error); !ok || e.Status != 400 || e.ScimType != scimerr.InvalidValue {
			t.Errorf("%.60v: %v, want a 400 invalidValue", v, err)
		}
	}
	ms, err := membersOf([]any{map[string]any{"value": "a", "type": "Group", "display": "A"}, map[string]any{"value": "b"}})
	if err != nil || fmt.Sprint(ms) != "[Group/a (A) b]" {
		t.Fatalf("%v, %v", ms, err)
	}
}
