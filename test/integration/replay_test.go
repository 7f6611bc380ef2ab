package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/testenv"
)

// The IdP replays: testdata/idp/<idp>/*.json each hold a request sequence an
// identity provider is documented to send (IDP-QUIRKS.md names the sources).
// Every file runs against a fresh directory, one subtest per step.
//
// A step is either a request:
//
//	{"name": "...", "method": "PATCH", "path": "/Users/${userId}",
//	 "headers": {"Accept": "..."},   // "" removes a header (e.g. Authorization)
//	 "body": {...},                  // any JSON value; a string is sent as is
//	 "expectStatus": 200,
//	 "expectBody": {...},            // subset match, see match below
//	 "expectHeaders": {"WWW-Authenticate": "$present"},
//	 "capture": {"userId": "id"}}    // dotted path into the body: "Resources.0.id"
//
// or a check of the stored custom resources:
//
//	{"name": "...", "expectResources": {"userCount": 1, "groupCount": 0,
//	  "users": {"${userId}": {<subset of the ScimUser spec>}},
//	  "groups": {"${groupId}": {<subset of the ScimGroup spec>}}}}
//
// ${var} is replaced in paths, headers, bodies and expectations by captured
// values; query strings are URL-encoded by the runner, so files may write
// filters readably (filter=userName eq "a@b.c").
type replayStep struct {
	Name            string            `json:"name"`
	Method          string            `json:"method"`
	Path            string            `json:"path"`
	Headers         map[string]string `json:"headers"`
	Body            json.RawMessage   `json:"body"`
	ExpectStatus    int               `json:"expectStatus"`
	ExpectBody      any               `json:"expectBody"`
	ExpectHeaders   map[string]string `json:"expectHeaders"`
	Capture         map[string]string `json:"capture"`
	ExpectResources *expectResources  `json:"expectResources"`
}

type expectResources struct {
	UserCount  *int                      `json:"userCount"`
	GroupCount *int                      `json:"groupCount"`
	Users      map[string]map[string]any `json:"users"`
	Groups     map[string]map[string]any `json:"groups"`
}

func TestEntraReplay(t *testing.T)             { runReplays(t, "entra") }
func TestOktaReplay(t *testing.T)              { runReplays(t, "okta") }
func TestAWSIdentityCenterReplay(t *testing.T) { runReplays(t, "aws-identity-center") }
func TestEveryIdPReplay(t *testing.T)          { runReplays(t, "everyone") }

func runReplays(t *testing.T, idp string) {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "testdata", "idp", idp, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no replay files for %s: %v", idp, err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var steps []replayStep
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&steps); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			r := &replayer{c: newDirectory(t), vars: map[string]string{}}
			for i, s := range steps {
				ok := t.Run(fmt.Sprintf("%02d %s", i+1, s.Name), func(t *testing.T) {
					r.c.t = t
					r.run(t, s)
				})
				if !ok {
					t.FailNow() // later steps build on this one
				}
			}
		})
	}
}

type replayer struct {
	c    *scimClient
	vars map[string]string
}

var varRef = regexp.MustCompile(`\$\{(\w+)\}`)

// expand replaces ${var} by captured values.
func (r *replayer) expand(t *testing.T, s string) string {
	t.Helper()
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		v, ok := r.vars[m[2:len(m)-1]]
		if !ok {
			t.Fatalf("%s is not captured yet", m)
		}
		return v
	})
}

// expandJSON expands ${var} in every string of a JSON value (keys included).
func (r *replayer) expandJSON(t *testing.T, v any) any {
	switch x := v.(type) {
	case string:
		return r.expand(t, x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.expandJSON(t, e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[r.expand(t, k)] = r.expandJSON(t, e)
		}
		return out
	}
	return v
}

func (r *replayer) run(t *testing.T, s replayStep) {
	if s.ExpectResources != nil {
		r.checkResources(t, s.ExpectResources)
		return
	}
	var body any
	if len(s.Body) > 0 {
		var v any
		if err := json.Unmarshal(s.Body, &v); err != nil {
			t.Fatal(err)
		}
		if str, ok := v.(string); ok {
			body = r.expand(t, str)
		} else {
			body = r.expandJSON(t, v)
		}
	}
	var headers []string
	for k, v := range s.Headers {
		headers = append(headers, k, r.expand(t, v))
	}
	path := encodeQuery(t, r.expand(t, s.Path))
	resp := r.c.do(s.Method, path, body, headers...)
	if resp.Status != s.ExpectStatus {
		t.Fatalf("%s %s: status %d, want %d: %s", s.Method, path, resp.Status, s.ExpectStatus, resp.Raw)
	}
	if resp.Status >= 400 {
		resp.expect(t, resp.Status) // the RFC 7644 §3.12 error shape, whatever the file says
	}
	if s.ExpectBody != nil {
		if err := match(r.expandJSON(t, s.ExpectBody), any(resp.Body), "body"); err != nil {
			t.Fatalf("%s %s: %v\nresponse: %s", s.Method, path, err, resp.Raw)
		}
	}
	for k, want := range s.ExpectHeaders {
		got := resp.Header.Get(k)
		if want == "$present" && got == "" || want != "$present" && got != r.expand(t, want) {
			t.Fatalf("header %s = %q, want %q", k, got, want)
		}
	}
	for name, p := range s.Capture {
		v, ok := lookupPath(resp.Body, p)
		str, isStr := v.(string)
		if !ok || !isStr || str == "" {
			t.Fatalf("cannot capture %s from %q: %s", name, p, resp.Raw)
		}
		r.vars[name] = str
	}
}

// encodeQuery URL-encodes the query of a path written readably.
func encodeQuery(t *testing.T, p string) string {
	path, query, ok := strings.Cut(p, "?")
	if !ok {
		return p
	}
	var parts []string
	for _, kv := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
	}
	return path + "?" + strings.Join(parts, "&")
}

func lookupPath(v any, p string) (any, bool) {
	for _, part := range strings.Split(p, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[part]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// match reports how got differs from want: every key of a want object must
// be in got with a matching value ("$absent": must not be there, "$present":
// any value); want arrays match got arrays of the same length element-wise,
// in order; other values must be equal.
func match(want, got any, at string) error {
	switch w := want.(type) {
	case string:
		if w == "$present" {
			if got == nil {
				return fmt.Errorf("%s: missing", at)
			}
			return nil
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %v, want an object", at, got)
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			gv, present := g[k]
			if w[k] == "$absent" {
				if present {
					return fmt.Errorf("%s.%s: got %v, want it absent", at, k, gv)
				}
				continue
			}
			if !present {
				return fmt.Errorf("%s.%s: missing, want %v", at, k, w[k])
			}
			if err := match(w[k], gv, at+"."+k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok && len(w) == 0 && got == nil {
			return nil // an omitted empty list
		}
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: got %v, want %d elements like %v", at, got, len(w), w)
		}
		for i := range w {
			if err := match(w[i], g[i], fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Errorf("%s: got %#v, want %#v", at, got, want)
	}
	return nil
}

// checkResources compares the custom resources stored in the directory
// namespace with an expectResources step.
func (r *replayer) checkResources(t *testing.T, e *expectResources) {
	ctx := context.Background()
	users := settledUsers(t, r.c.namespace)
	var groups identityv1alpha1.ScimGroupList
	if err := env.Client.List(ctx, &groups, client.InNamespace(r.c.namespace)); err != nil {
		t.Fatal(err)
	}
	if e.UserCount != nil && len(users.Items) != *e.UserCount {
		t.Errorf("%d ScimUsers stored, want %d", len(users.Items), *e.UserCount)
	}
	if e.GroupCount != nil && len(groups.Items) != *e.GroupCount {
		t.Errorf("%d ScimGroups stored, want %d", len(groups.Items), *e.GroupCount)
	}
	specs := map[string]any{}
	for i := range users.Items {
		specs["user/"+users.Items[i].Name] = users.Items[i].Spec
	}
	for i := range groups.Items {
		specs["group/"+groups.Items[i].Name] = groups.Items[i].Spec
	}
	check := func(kind string, want map[string]map[string]any) {
		for id, w := range want {
			id = r.expand(t, id)
			spec, ok := specs[kind+"/"+id]
			if !ok {
				t.Errorf("no %s %s stored", kind, id)
				continue
			}
			raw, _ := json.Marshal(spec)
			var got any
			_ = json.Unmarshal(raw, &got)
			if err := match(r.expandJSON(t, any(w)), got, kind+" "+id+" spec"); err != nil {
				t.Errorf("%v\nstored: %s", err, raw)
			}
		}
	}
	check("user", e.Users)
	check("group", e.Groups)
}

// TestReplayMatcherRejectsWhatItShould keeps the replay runner honest: a
// matcher that accepted everything would make every replay pass.
func TestReplayMatcherRejectsWhatItShould(t *testing.T) {
	decode := func(s string) any {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	got := decode(`{"a": 1, "b": "x", "l": [{"v": 1, "w": 2}, {"v": 2}], "o": {"p": true}}`)
	for _, want := range []string{`{"a": 1}`, `{"l": [{"v": 1}, {}]}`, `{"o": {}}`, `{"z": "$absent"}`, `{"b": "$present"}`} {
		if err := match(decode(want), got, "body"); err != nil {
			t.Errorf("%s should match: %v", want, err)
		}
	}
	for _, want := range []string{`{"a": 2}`, `{"a": "1"}`, `{"z": 1}`, `{"l": [{"v": 1}]}`, `{"l": [{"v": 2}, {"v": 1}]}`,
		`{"a": "$absent"}`, `{"z": "$present"}`, `{"o": {"p": false}}`, `{"l": []}`} {
		if err := match(decode(want), got, "body"); err == nil {
			t.Errorf("%s should not match", want)
		}
	}
}
