package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// TestUpgradeFromObjectMembers upgrades a cluster whose ScimGroups and shards were written by a
// build that stored a member as an object ({value, type, display}): the CRDs are replaced as
// `helm upgrade` does, then the operator starts. The API server prunes those members to {} when
// it reads them (docs/upgrade.md says so); what this checks is that the operator still runs,
// that every such group reports it (Ready=False, UnresolvedMembers), and that the identity
// provider's next write of the group repairs it, in the string form.
func TestUpgradeFromObjectMembers(t *testing.T) {
	// Install the earlier ScimGroup and ScimGroupMembers CRDs beside the current others.
	crdDir := t.TempDir()
	for _, dir := range []string{filepath.Join(repoRoot(), "config", "crd", "bases"), filepath.Join(repoRoot(), "testdata", "upgrade", "object-members")} {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("CRDs in %s: %v", dir, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(crdDir, filepath.Base(f)), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := NewCluster(t, ClusterOptions{CRDDir: crdDir})
	ctx := context.Background()
	op := c.NewReplica(t, "0")
	op.Start(t)
	op.WaitReady(t, 60*time.Second)
	dir := c.DefaultDirectory(t)
	ns := dir.Spec.Namespace
	sc := c.scim(op, "default", c.Token(t, "default", "upgrade"))
	scim := func(method, path string, body any) scimResponse {
		t.Helper()
		var r scimResponse
		op.Eventually(t, method+" "+path, 30*time.Second, func() bool {
			var err error
			r, err = sc.do(ctx, method, path, body)
			return err == nil && r.Status != http.StatusUnauthorized && r.Status != http.StatusServiceUnavailable
		})
		return r
	}
	var ids []string
	for _, name := range []string{"ann", "bob", "carl", "dave"} {
		r := scim("POST", "/Users", map[string]any{"userName": name + "@example.com"})
		if r.Status != http.StatusCreated {
			t.Fatalf("creating %s: %d %v", name, r.Status, r.Body)
		}
		ids = append(ids, r.str("id"))
	}
	ann, bob, carl, dave := ids[0], ids[1], ids[2], ids[3]
	if err := op.Terminate(t, 60*time.Second); err != nil {
		t.Fatalf("stopping the operator before the upgrade: %v", err)
	}

	// What the earlier version stored: an inline group, and a sharded one with an overlay.
	obj := func(kind, name string, spec map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": identityv1alpha1.GroupVersion.String(), "kind": kind,
			"metadata": map[string]any{"name": name, "namespace": ns,
				"labels": map[string]any{identityv1alpha1.DirectoryLabel: "default"}},
			"spec": spec,
		}}
		return u
	}
	member := func(id, typ, display string) map[string]any {
		m := map[string]any{"value": id, "type": typ}
		if display != "" {
			m["display"] = display
		}
		return m
	}
	inline, sharded := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	shardIDs := []string{ann, bob}
	slices.Sort(shardIDs) // a shard is sorted by value
	shardName := sharded + "-legacy00"
	shard := obj("ScimGroupMembers", shardName, map[string]any{"group": sharded, "count": int64(2),
		"members": []any{member(shardIDs[0], "User", ""), member(shardIDs[1], "User", "")}})
	shard.SetLabels(map[string]string{identityv1alpha1.DirectoryLabel: "default", identityv1alpha1.GroupLabel: sharded})
	for _, o := range []*unstructured.Unstructured{
		obj("ScimGroup", inline, map[string]any{"displayName": "legacy inline",
			"members": []any{member(ann, "User", ""), member(bob, "User", "Bob Jensen")}}),
		shard,
		obj("ScimGroup", sharded, map[string]any{"displayName": "legacy sharded",
			"membership": map[string]any{"shards": []any{shardName}, "added": []any{member(carl, "User", "")}}}),
	} {
		if err := c.Admin.Create(ctx, o); err != nil {
			t.Fatalf("creating the earlier version's %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}

	// The upgrade replaces the CRDs; the new schema is in force once a string member is accepted.
	for _, name := range []string{"scimgroups", "scimgroupmembers"} {
		data, err := os.ReadFile(filepath.Join(repoRoot(), "config", "crd", "bases", "identity.scim-operator.io_"+name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		next := &unstructured.Unstructured{}
		if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096).Decode(&next.Object); err != nil {
			t.Fatal(err)
		}
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(next.GroupVersionKind())
		if err := c.Admin.Get(ctx, client.ObjectKey{Name: next.GetName()}, cur); err != nil {
			t.Fatal(err)
		}
		next.SetResourceVersion(cur.GetResourceVersion())
		if err := c.Admin.Update(ctx, next); err != nil {
			t.Fatalf("upgrading CRD %s: %v", next.GetName(), err)
		}
	}
	probe := obj("ScimGroup", "33333333-3333-4333-8333-333333333333", map[string]any{"displayName": "probe", "members": []any{"User/" + ann}})
	eventually(t, "the new ScimGroup schema to be served", 30*time.Second, func() bool {
		return c.Admin.Create(ctx, probe.DeepCopy()) == nil
	})
	if err := c.Admin.Delete(ctx, probe); err != nil {
		t.Fatal(err)
	}

	// The API server prunes the old members to {} as it reads them.
	raw := func(kind, name string) map[string]any {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(identityv1alpha1.GroupVersion.WithKind(kind))
		if err := c.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
			t.Fatal(err)
		}
		spec, _ := u.Object["spec"].(map[string]any)
		return spec
	}
	if got := fmt.Sprint(raw("ScimGroup", inline)["members"]); got != "[map[] map[]]" {
		t.Logf("the earlier build's members read as %s after the upgrade (the API server no longer prunes them?)", got)
	}

	// The upgraded operator runs, and an inline group says that its members are gone. (The
	// sharded group's overlay is folded at once, and the fold drops what has no value.)
	op.Start(t)
	op.WaitReady(t, 60*time.Second)
	for _, id := range []string{inline} {
		var g identityv1alpha1.ScimGroup
		op.Eventually(t, "group "+id+" to report unresolved members", 30*time.Second, func() bool {
			if c.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: id}, &g) != nil {
				return false
			}
			ready := meta.FindStatusCondition(g.Status.Conditions, identityv1alpha1.ReadyCondition)
			return g.Status.UnresolvedMembers > 0 && ready != nil && ready.Status == metav1.ConditionFalse &&
				ready.Reason == identityv1alpha1.ReasonUnresolvedMembers
		})
	}

	// The identity provider writes the groups again (Entra and Okta send a PUT or PATCH with
	// the members); that repairs them, in the string form.
	members := func(id string) []string {
		t.Helper()
		r := scim("GET", "/Groups/"+id, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET group %s: %d %v", id, r.Status, r.Body)
		}
		var out []string
		list, _ := r.Body["members"].([]any)
		for _, m := range list {
			mm, _ := m.(map[string]any)
			s := fmt.Sprint(mm["value"])
			if d, ok := mm["display"]; ok {
				s += " (" + fmt.Sprint(d) + ")"
			}
			out = append(out, s)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	for id, want := range map[string][]string{inline: {ann, bob}, sharded: {ann, bob, carl, dave}} {
		list := []any{}
		for _, v := range want {
			list = append(list, map[string]any{"value": v})
		}
		r := scim("PATCH", "/Groups/"+id, map[string]any{
			"schemas":    []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "members", "value": list}},
		})
		if r.Status != http.StatusNoContent && r.Status != http.StatusOK {
			t.Fatalf("PATCH replace members of %s: %d %v", id, r.Status, r.Body)
		}
		if got := members(id); !slices.Equal(got, sorted(want...)) {
			t.Fatalf("group %s after the write: %v, want %v", id, got, sorted(want...))
		}
		var g identityv1alpha1.ScimGroup
		op.Eventually(t, "group "+id+" to be Ready", 30*time.Second, func() bool {
			return c.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: id}, &g) == nil &&
				meta.IsStatusConditionTrue(g.Status.Conditions, identityv1alpha1.ReadyCondition) && g.Status.UnresolvedMembers == 0
		})
	}
	if got, want := fmt.Sprint(raw("ScimGroup", inline)["members"]), fmt.Sprint([]any{"User/" + ann, "User/" + bob}); got != want {
		t.Fatalf("the repaired group is stored as %s, want %s", got, want)
	}
}
