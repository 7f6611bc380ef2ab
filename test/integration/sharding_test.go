package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers"
)

// TestA20000MemberGroupIsShardedAcrossRoleBindings builds a group of 20,000
// users (two nested groups of 10,000, the most one ScimGroup holds) straight
// through the API server — the SCIM path is proven elsewhere, and this test
// is about the binding — and checks that the RoleBindings split the subjects
// without losing or repeating one.
func TestA20000MemberGroupIsShardedAcrossRoleBindings(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 20,000 users")
	}
	ensurePodReader(t)
	c := newDirectory(t)
	ns := "team-" + dirName(c)
	ensureNamespace(t, ns)
	ctx := context.Background()
	const n = 20000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("u%05d@shard.example.com", i)
	}
	ids := rawUsers(t, c, names)
	group := func(name string, members []identityv1alpha1.Member) string {
		g := &identityv1alpha1.ScimGroup{
			ObjectMeta: metav1.ObjectMeta{Name: string(uuid.NewUUID()), Namespace: c.namespace,
				Labels: map[string]string{identityv1alpha1.DirectoryLabel: dirName(c)}},
			Spec: identityv1alpha1.ScimGroupSpec{DisplayName: name, Members: members},
		}
		if err := env.Client.Create(ctx, g); err != nil {
			t.Fatal(err)
		}
		return g.Name
	}
	half := func(from int) []identityv1alpha1.Member {
		ms := make([]identityv1alpha1.Member, 0, n/2)
		for i := from; i < from+n/2; i++ {
			ms = append(ms, identityv1alpha1.Member{Value: ids[i], Type: identityv1alpha1.MemberUser})
		}
		return ms
	}
	a, b := group("shard-a", half(0)), group("shard-b", half(n/2))
	group("everyone", []identityv1alpha1.Member{{Value: a, Type: identityv1alpha1.MemberGroup}, {Value: b, Type: identityv1alpha1.MemberGroup}})
	binding := createBinding(t, ns, "everyone", dirName(c), identityv1alpha1.GroupRef{DisplayName: "everyone"})

	shards := controllers.ShardCount(n)
	var got identityv1alpha1.ScimRoleBinding
	eventuallyWithin(t, 3*time.Minute, "all users are bound", func() bool {
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(binding), &got)
		return got.Status.BoundUsers == n && len(got.Status.Objects) == shards
	})
	seen := make(map[string]bool, n)
	for _, name := range got.Status.Objects {
		var rb rbacv1.RoleBinding
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &rb); err != nil {
			t.Fatal(err)
		}
		if len(rb.Subjects) > controllers.SubjectsPerObject {
			t.Fatalf("%s holds %d subjects", name, len(rb.Subjects))
		}
		for _, s := range rb.Subjects {
			if seen[s.Name] {
				t.Fatalf("%s appears in two shards", s.Name)
			}
			seen[s.Name] = true
		}
	}
	for _, name := range names {
		if !seen["oidc:"+name] {
			t.Fatalf("%s is in no shard", name)
		}
	}
	expectAccess(t, "oidc:"+names[n-1], ns, true)
}
