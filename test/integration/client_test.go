package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"go.uber.org/zap/zapcore"
)

var defaultMapping = identityv1alpha1.KubernetesIdentity{UsernamePrefix: "oidc:"}

func zapLevel() zapcore.Level {
	if testingVerbose() {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

func testingVerbose() bool {
	for _, a := range []string{"-test.v=true", "-test.v"} {
		for _, arg := range osArgs() {
			if arg == a {
				return true
			}
		}
	}
	return false
}

// scimClient speaks SCIM to one directory like an identity provider would.
type scimClient struct {
	t         *testing.T
	base      string
	token     string
	namespace string
}

// response is a decoded SCIM response.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// do sends a request; body may be a string (sent as is) or any JSON value.
func (c *scimClient) do(method, path string, body any, headers ...string) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			c.t.Fatalf("%s %s: response is not a JSON object (%d): %s", method, path, resp.StatusCode, raw)
		}
	}
	return r
}

// expect fails the test unless the response has the status (and scimType).
func (r response) expect(t *testing.T, status int, scimType ...string) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	if status >= 400 {
		if got := r.Body["status"]; got != itoa(status) {
			t.Fatalf("error body status %v, want the string %q: %s", got, itoa(status), r.Raw)
		}
		if len(scimType) > 0 && r.Body["scimType"] != scimType[0] {
			t.Fatalf("scimType %v, want %q: %s", r.Body["scimType"], scimType[0], r.Raw)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
			t.Fatalf("error Content-Type %q", ct)
		}
	}
	return r
}

func (r response) str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// user reads a ScimUser straight from the API server.
func (c *scimClient) user(id string) *identityv1alpha1.ScimUser {
	c.t.Helper()
	var u identityv1alpha1.ScimUser
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: c.namespace, Name: id}, &u); err != nil {
		c.t.Fatalf("reading ScimUser %s: %v", id, err)
	}
	return &u
}

// group reads a ScimGroup straight from the API server.
func (c *scimClient) group(id string) *identityv1alpha1.ScimGroup {
	c.t.Helper()
	var g identityv1alpha1.ScimGroup
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: c.namespace, Name: id}, &g); err != nil {
		c.t.Fatalf("reading ScimGroup %s: %v", id, err)
	}
	return &g
}

// count counts the ScimUsers (or ScimGroups) in the directory namespace.
func (c *scimClient) countUsers() int {
	c.t.Helper()
	var l identityv1alpha1.ScimUserList
	if err := env.Client.List(context.Background(), &l, client.InNamespace(c.namespace)); err != nil {
		c.t.Fatal(err)
	}
	return len(l.Items)
}

// createUser creates a user and returns its id.
func (c *scimClient) createUser(userName string, extra map[string]any) string {
	c.t.Helper()
	body := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": userName}
	for k, v := range extra {
		body[k] = v
	}
	r := c.do("POST", "/Users", body).expect(c.t, 201)
	return r.str("id")
}

// createGroup creates a group with user members and returns its id.
func (c *scimClient) createGroup(name string, members ...string) string {
	c.t.Helper()
	ms := []map[string]any{}
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	r := c.do("POST", "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, "members": ms,
	}).expect(c.t, 201)
	return r.str("id")
}
