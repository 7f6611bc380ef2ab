// Command groupbench measures what one membership change costs in a small
// and in a large group: it starts the local control plane and the operator
// (internal/testenv), creates users straight through the API server, builds
// a group of -small and one of -large members through SCIM PATCHes of 1,000,
// then times -rounds single-member adds and removes (Entra's forms) on each
// and prints the medians side by side with their ratio. The target is a
// ratio of at most 2. It asserts nothing.
//
//	go run ./hack/groupbench -large 100000
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/testenv"
)

func main() {
	small := flag.Int("small", 100, "members of the small group")
	large := flag.Int("large", 100000, "members of the large group")
	rounds := flag.Int("rounds", 21, "adds and removes timed per group")
	flag.Parse()
	if err := run(*small, *large, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type client struct{ base, token string }

func (c client) do(method, path string, body any) (int, []byte, error) {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes(), nil
}

func patch(c client, group string, ops ...map[string]any) error {
	status, body, err := c.do(http.MethodPatch, "/Groups/"+group, map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops})
	if err == nil && status != http.StatusNoContent {
		err = fmt.Errorf("PATCH: %d %s", status, body)
	}
	return err
}

func values(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"value": id}
	}
	return out
}

func run(small, large, rounds int) error {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		return err
	}
	defer env.Stop()
	ctx := context.Background()
	base, tok, err := env.Directory(ctx, "bench", "scim-bench", identityv1alpha1.KubernetesIdentity{})
	if err != nil {
		return err
	}
	c := client{base, tok}
	n := large + 1
	ids := make([]string, n)
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 48 {
		wg.Go(func() {
			for i := range work {
				ids[i] = string(uuid.NewUUID())
				u := &identityv1alpha1.ScimUser{ObjectMeta: metav1.ObjectMeta{Name: ids[i], Namespace: "scim-bench",
					Labels: map[string]string{identityv1alpha1.DirectoryLabel: "bench"}},
					Spec: identityv1alpha1.ScimUserSpec{UserName: fmt.Sprintf("u%07d@bench.example.com", i)}}
				if err := env.Client.Create(ctx, u); err != nil {
					fmt.Fprintln(os.Stderr, "creating a user:", err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	fmt.Fprintf(os.Stderr, "created %d users in %s\n", n, time.Since(start).Round(time.Second))

	type result struct{ add, remove time.Duration }
	measure := func(name string, size int) (result, error) {
		status, body, err := c.do(http.MethodPost, "/Groups", map[string]any{"displayName": name})
		if err != nil || status != http.StatusCreated {
			return result{}, fmt.Errorf("POST group: %d %s %v", status, body, err)
		}
		var g struct{ ID string }
		_ = json.Unmarshal(body, &g)
		start := time.Now()
		for i := 0; i < size; i += 1000 {
			if err := patch(c, g.ID, map[string]any{"op": "add", "path": "members", "value": values(ids[i:min(i+1000, size)])}); err != nil {
				return result{}, err
			}
		}
		fmt.Fprintf(os.Stderr, "built %s (%d members) in %s\n", name, size, time.Since(start).Round(time.Millisecond))
		time.Sleep(3 * time.Second) // let the background compaction settle
		extra := ids[n-1]
		var adds, removes []time.Duration
		for range rounds {
			t0 := time.Now()
			if err := patch(c, g.ID, map[string]any{"op": "Add", "path": "members", "value": values([]string{extra})}); err != nil {
				return result{}, err
			}
			t1 := time.Now()
			if err := patch(c, g.ID, map[string]any{"op": "Remove", "path": `members[value eq "` + extra + `"]`}); err != nil {
				return result{}, err
			}
			adds, removes = append(adds, t1.Sub(t0)), append(removes, time.Since(t1))
		}
		slices.Sort(adds)
		slices.Sort(removes)
		return result{adds[rounds/2], removes[rounds/2]}, nil
	}
	s, err := measure("small", small)
	if err != nil {
		return err
	}
	l, err := measure("large", large)
	if err != nil {
		return err
	}
	fmt.Printf("%-22s %12s %12s\n", "median of "+fmt.Sprint(rounds), "add 1", "remove 1")
	fmt.Printf("%-22s %12s %12s\n", fmt.Sprintf("%d members", small), s.add.Round(10*time.Microsecond), s.remove.Round(10*time.Microsecond))
	fmt.Printf("%-22s %12s %12s\n", fmt.Sprintf("%d members", large), l.add.Round(10*time.Microsecond), l.remove.Round(10*time.Microsecond))
	fmt.Printf("%-22s %12.2f %12.2f\n", "ratio (target <= 2)", float64(l.add)/float64(s.add), float64(l.remove)/float64(s.remove))
	return nil
}
