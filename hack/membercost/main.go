// Command membercost measures what the kube-apiserver spends on one update of
// a member list, by the shape of a member: a ScimGroup's members (one string
// each, "User/<id>") against the same members as objects of value, type and
// display, the form ScimGroup had before, in a throwaway CRD with that
// form's schema. It starts its own kube-apiserver and etcd
// (hack/control-plane.sh), writes each object -updates times with one member
// changed, and prints the API server's CPU time (from /proc) and the wall time
// per update. It is the measurement behind "Where the groups phase goes" in
// docs/performance.md and asserts nothing.
//
//	go run ./hack/membercost -sizes 200,1000,2000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/operator"
	"github.com/scim-operator/scim-operator/internal/testenv"
)

func main() {
	sizes := flag.String("sizes", "200,1000,2000", "member counts to measure, comma-separated")
	updates := flag.Int("updates", 200, "updates per object")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard()) // envtest's own messages are not the figures
	if err := run(*sizes, *updates); err != nil {
		fmt.Fprintln(os.Stderr, "membercost:", err)
		os.Exit(1)
	}
}

// objectCRD has a list of member objects, bounded and validated as
// ScimGroup's member list was before members became strings.
func objectCRD() *apiextensionsv1.CustomResourceDefinition {
	maxItems, atomic := int64(identityv1alpha1.MaxInlineMembers), "atomic"
	minValue, maxValue, maxDisplay := int64(1), int64(identityv1alpha1.MaxMemberValue), int64(identityv1alpha1.MaxMemberDisplay)
	member := apiextensionsv1.JSONSchemaProps{Type: "object", Required: []string{"value"}, Properties: map[string]apiextensionsv1.JSONSchemaProps{
		"value":   {Type: "string", MinLength: &minValue, MaxLength: &maxValue},
		"type":    {Type: "string", Enum: []apiextensionsv1.JSON{{Raw: []byte(`"User"`)}, {Raw: []byte(`"Group"`)}}},
		"display": {Type: "string", MaxLength: &maxDisplay},
	}}
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "objectgroups.membercost.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "membercost.example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "ObjectGroup", ListKind: "ObjectGroupList", Plural: "objectgroups", Singular: "objectgroup"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"members": {Type: "array", MaxItems: &maxItems, XListType: &atomic,
								Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &member}},
						}},
					}}},
			}},
		},
	}
}

func run(sizeList string, updates int) error {
	var sizes []int
	for _, s := range strings.Split(sizeList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > identityv1alpha1.MaxInlineMembers {
			return fmt.Errorf("-sizes: %q is not a member count from 1 to %d", s, identityv1alpha1.MaxInlineMembers)
		}
		sizes = append(sizes, n)
	}
	assets, err := testenv.AssetsDir()
	if err != nil {
		return err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(testenv.RepoRoot(), "config", "crd", "bases")},
		CRDs:                  []*apiextensionsv1.CustomResourceDefinition{objectCRD()},
	}
	cfg, err := env.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme})
	if err != nil {
		return err
	}
	cpu, err := apiServerCPU(env.ControlPlane.GetAPIServer().CertDir)
	if err != nil {
		return err
	}
	id := func(i int) string { return fmt.Sprintf("0f8fad5b-d9cb-469f-a165-%012d", i) }
	ctx := context.Background()

	// measure writes the object once, then times updates that each change one member.
	measure := func(create func() error, update func(u int) error) (cpuPer, wallPer time.Duration, err error) {
		if err := create(); err != nil {
			return 0, 0, err
		}
		cpu0, t0 := cpu(), time.Now()
		for u := range updates {
			if err := update(u); err != nil {
				return 0, 0, err
			}
		}
		return (cpu() - cpu0) / time.Duration(updates), time.Since(t0) / time.Duration(updates), nil
	}
	fmt.Printf("kube-apiserver CPU and wall time per update of a member list (%d updates each)\n\n", updates)
	fmt.Printf("| members | objects (the form before): CPU / wall | strings (ScimGroup): CPU / wall | CPU ratio |\n|---|---|---|---|\n")
	for _, n := range sizes {
		g := &identityv1alpha1.ScimGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "g" + strconv.Itoa(n)},
			Spec: identityv1alpha1.ScimGroupSpec{DisplayName: "g" + strconv.Itoa(n)}}
		for i := range n {
			g.Spec.Members = append(g.Spec.Members, identityv1alpha1.Member{Value: id(i), Type: identityv1alpha1.MemberUser})
		}
		strCPU, strWall, err := measure(func() error { return c.Create(ctx, g) }, func(u int) error {
			g.Spec.Members[u%n].Value = id(n + u)
			return c.Update(ctx, g)
		})
		if err != nil {
			return fmt.Errorf("ScimGroup of %d: %w", n, err)
		}

		o := &unstructured.Unstructured{}
		o.SetAPIVersion("membercost.example.com/v1")
		o.SetKind("ObjectGroup")
		o.SetNamespace("default")
		o.SetName("o" + strconv.Itoa(n))
		values := make([]string, n)
		for i := range values {
			values[i] = id(i)
		}
		members := func() []any {
			out := make([]any, n)
			for i, v := range values {
				out[i] = map[string]any{"value": v, "type": "User"}
			}
			return out
		}
		o.Object["spec"] = map[string]any{"members": members()}
		objCPU, objWall, err := measure(func() error { return c.Create(ctx, o) }, func(u int) error {
			values[u%n] = id(n + u)
			o.Object["spec"] = map[string]any{"members": members()}
			return c.Update(ctx, o)
		})
		if err != nil {
			return fmt.Errorf("ObjectGroup of %d: %w", n, err)
		}
		fmt.Printf("| %d | %s / %s | %s / %s | %.1f |\n", n, ms(objCPU), ms(objWall), ms(strCPU), ms(strWall),
			objCPU.Seconds()/strCPU.Seconds())
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// apiServerCPU returns a reader of the user+system CPU time of the
// kube-apiserver started with certDir.
func apiServerCPU(certDir string) (func() time.Duration, error) {
	pid := testenv.APIServerPID(certDir)
	if pid == 0 {
		return nil, fmt.Errorf("no kube-apiserver process with --cert-dir=%s", certDir)
	}
	stat := filepath.Join("/proc", strconv.Itoa(pid), "stat")
	return func() time.Duration {
		data, err := os.ReadFile(stat)
		if err != nil {
			return 0
		}
		// utime and stime, fields 14 and 15, counted after the command's closing parenthesis.
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if len(f) < 13 {
			return 0
		}
		utime, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		return time.Duration((utime + stime) * float64(10*time.Millisecond)) // USER_HZ is 100 on Linux
	}, nil
}
