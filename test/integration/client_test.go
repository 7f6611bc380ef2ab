package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/testenv"
	"go.uber.org/zap/zapcore"
)

var defaultMapping = identityv1alpha1.KubernetesIdentity{UsernamePrefix: "oidc:", GroupPrefix: "oidc:"}

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

// httpClient bounds every request, so a server that hangs fails the test
// instead of stalling the suite.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// do sends a request; body may be a string (sent as is), []byte, or any JSON
// value. Header pairs follow; an empty value removes the header.
func (c *scimClient) do(method, path string, body any, headers ...string) response {
	c.t.Helper()
	r, err := c.send(method, path, body, headers...)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// send is do for other goroutines than the test's: it returns errors
// instead of failing the test.
func (c *scimClient) send(method, path string, body any, headers ...string) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, rd)
	if err != nil {
		return response{}, err
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
	resp, err := httpClient.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			return r, fmt.Errorf("%s %s: response is not a JSON object (%d): %s", method, path, resp.StatusCode, raw)
		}
	}
	return r, nil
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

// countUsers counts the ScimUsers in the directory namespace once deleted
// users are gone: a deleted user is held by the revocation finalizer until
// its sessions are revoked, which takes moments.
func (c *scimClient) countUsers() int {
	c.t.Helper()
	return len(settledUsers(c.t, c.namespace).Items)
}

// settledUsers lists the ScimUsers of a namespace after every deleted one
// has finished its revocation and disappeared.
func settledUsers(t *testing.T, ns string) *identityv1alpha1.ScimUserList {
	t.Helper()
	var l identityv1alpha1.ScimUserList
	eventually(t, "deleted users finish revocation", func() bool {
		if err := env.Client.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, u := range l.Items {
			if !u.DeletionTimestamp.IsZero() {
				return false
			}
		}
		return true
	})
	return &l
}

// countGroups counts the ScimGroups in the directory namespace.
func (c *scimClient) countGroups() int {
	c.t.Helper()
	var l identityv1alpha1.ScimGroupList
	if err := env.Client.List(context.Background(), &l, client.InNamespace(c.namespace)); err != nil {
		c.t.Fatal(err)
	}
	return len(l.Items)
}

// countLeases counts the Leases (the store's uniqueness claims) in the
// directory namespace.
func (c *scimClient) countLeases() int {
	c.t.Helper()
	var l coordinationv1.LeaseList
	if err := env.Client.List(context.Background(), &l, client.InNamespace(c.namespace)); err != nil {
		c.t.Fatal(err)
	}
	return len(l.Items)
}

// patchOps is a PatchOp request body; op is one of its operations.
var patchOps, op = testenv.PatchOp, testenv.Op

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
