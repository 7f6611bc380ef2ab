package apps

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

const scimTestToken = "s3cret-token"

// scimDownstream is a tiny in-memory SCIM Users endpoint: POST (409 on a
// duplicate userName), GET with a userName eq filter, pathless-replace PATCH
// and DELETE. It checks the bearer token and the SCIM media types.
type scimDownstream struct {
	t      *testing.T
	mu     sync.Mutex
	users  map[string]map[string]any
	nextID int
	calls  []string // "METHOD /path"
	// fail, when set, answers a request instead of the endpoint.
	fail func(w http.ResponseWriter, r *http.Request) bool
}

var scimFilterRE = regexp.MustCompile(`^userName eq ("(?:[^"\\]|\\.)*")$`)

func newSCIMDownstream(t *testing.T) (*scimDownstream, *httptest.Server) {
	d := &scimDownstream{t: t, users: map[string]map[string]any{}}
	srv := httptest.NewServer(http.StripPrefix("/scim/v2", d))
	t.Cleanup(srv.Close)
	return d, srv
}

func (d *scimDownstream) scimError(w http.ResponseWriter, status int, scimType, detail string) {
	w.Header().Set("Content-Type", scimMediaType)
	w.WriteHeader(status)
	body := map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status":  fmt.Sprint(status),
		"detail":  detail,
	}
	if scimType != "" {
		body["scimType"] = scimType
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (d *scimDownstream) reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", scimMediaType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (d *scimDownstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, r.Method+" "+r.URL.Path)
	if r.Header.Get("Authorization") != "Bearer "+scimTestToken {
		d.scimError(w, http.StatusUnauthorized, "", "bad token")
		return
	}
	if r.Header.Get("Accept") != scimMediaType {
		d.t.Errorf("%s %s: Accept %q", r.Method, r.URL, r.Header.Get("Accept"))
	}
	if d.fail != nil && d.fail(w, r) {
		return
	}
	var body map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		if ct := r.Header.Get("Content-Type"); ct != scimMediaType {
			d.t.Errorf("%s %s: Content-Type %q", r.Method, r.URL, ct)
		}
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &body); err != nil {
			d.scimError(w, http.StatusBadRequest, "invalidSyntax", err.Error())
			return
		}
	}
	id, hasID := strings.CutPrefix(r.URL.Path, "/Users/")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/Users":
		for _, u := range d.users {
			if strings.EqualFold(u["userName"].(string), body["userName"].(string)) {
				d.scimError(w, http.StatusConflict, "uniqueness", "userName is already taken")
				return
			}
		}
		delete(body, "schemas")
		d.nextID++
		body["id"] = fmt.Sprintf("u%d", d.nextID)
		d.users[body["id"].(string)] = body
		d.reply(w, http.StatusCreated, body)
	case r.Method == http.MethodGet && r.URL.Path == "/Users":
		m := scimFilterRE.FindStringSubmatch(r.URL.Query().Get("filter"))
		if m == nil {
			d.scimError(w, http.StatusBadRequest, "invalidFilter", "unsupported filter "+r.URL.Query().Get("filter"))
			return
		}
		var want string
		if err := json.Unmarshal([]byte(m[1]), &want); err != nil {
			d.scimError(w, http.StatusBadRequest, "invalidFilter", err.Error())
			return
		}
		res := []any{}
		for _, u := range d.users {
			if strings.EqualFold(u["userName"].(string), want) {
				res = append(res, u)
			}
		}
		d.reply(w, http.StatusOK, map[string]any{
			"schemas":      []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
			"totalResults": len(res), "Resources": res,
		})
	case r.Method == http.MethodPatch && hasID:
		u, ok := d.users[id]
		if !ok {
			d.scimError(w, http.StatusNotFound, "", "no user "+id)
			return
		}
		ops, _ := body["Operations"].([]any)
		for _, o := range ops {
			op := o.(map[string]any)
			if op["op"] != "replace" || op["path"] != nil {
				d.scimError(w, http.StatusBadRequest, "invalidSyntax", "only pathless replace")
				return
			}
			for k, v := range op["value"].(map[string]any) {
				if v == nil {
					delete(u, k)
				} else {
					u[k] = v
				}
			}
		}
		d.reply(w, http.StatusOK, u)
	case r.Method == http.MethodDelete && hasID:
		if _, ok := d.users[id]; !ok {
			d.scimError(w, http.StatusNotFound, "", "no user "+id)
			return
		}
		delete(d.users, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		d.scimError(w, http.StatusNotFound, "", "no route "+r.Method+" "+r.URL.Path)
	}
}

func (d *scimDownstream) user(id string) map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.users[id]
}

func (d *scimDownstream) seed(u map[string]any) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nextID++
	id := fmt.Sprintf("u%d", d.nextID)
	u["id"] = id
	d.users[id] = u
	return id
}

func (d *scimDownstream) takeCalls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.calls
	d.calls = nil
	return c
}

type scimFixture struct {
	d    *scimDownstream
	p    Provisioner
	app  *identityv1alpha1.ScimApp
	acct *identityv1alpha1.AppAccount
	user *identityv1alpha1.ScimUser
}

func newSCIMFixture(t *testing.T, secrets ...*corev1.Secret) *scimFixture {
	t.Helper()
	d, srv := newSCIMDownstream(t)
	if secrets == nil {
		secrets = []*corev1.Secret{{
			ObjectMeta: metav1.ObjectMeta{Name: "app-token", Namespace: "tools"},
			Data:       map[string][]byte{"token": []byte(scimTestToken + "\n")},
		}}
	}
	b := fake.NewClientBuilder()
	for _, s := range secrets {
		b = b.WithObjects(s)
	}
	app := &identityv1alpha1.ScimApp{
		ObjectMeta: metav1.ObjectMeta{Name: "tool", Namespace: "tools"},
		Spec: identityv1alpha1.ScimAppSpec{Directory: "default", Provisioner: identityv1alpha1.AppProvisioner{
			SCIM: &identityv1alpha1.SCIMProvisioner{
				URL:            srv.URL + "/scim/v2/",
				TokenSecretRef: corev1.LocalObjectReference{Name: "app-token"},
			},
		}},
	}
	p, err := For(app, Deps{APIReader: b.Build()})
	if err != nil {
		t.Fatal(err)
	}
	const userID = "7d9f2b1e-0c4a-4e8e-9f0a-3b1c2d4e5f60"
	return &scimFixture{
		d: d, p: p, app: app,
		acct: &identityv1alpha1.AppAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "tool-" + userID, Namespace: "tools"},
			Spec:       identityv1alpha1.AppAccountSpec{App: "tool", User: userID, UserName: "ann@example.com", Active: true},
		},
		user: &identityv1alpha1.ScimUser{
			ObjectMeta: metav1.ObjectMeta{Name: userID, Namespace: "idp"},
			Spec: identityv1alpha1.ScimUserSpec{
				UserName:    "ann@example.com",
				ExternalID:  "idp-00042",
				DisplayName: "Ann Lee",
				Name:        &identityv1alpha1.Name{GivenName: "Ann", FamilyName: "Lee"},
				Emails:      []identityv1alpha1.MultiValue{{Value: "ann@example.com", Type: "work", Primary: true}},
				Title:       "not provisioned",
			},
		},
	}
}

// apply runs Apply and records the id as the controller does.
func (f *scimFixture) apply(t *testing.T) string {
	t.Helper()
	id, err := f.p.Apply(context.Background(), f.app, f.acct, f.user)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if id == "" {
		t.Fatal("Apply returned no id")
	}
	f.acct.Status.ExternalID = id
	return id
}

func jsonEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	var gv, wv any
	_ = json.Unmarshal(g, &gv)
	_ = json.Unmarshal(w, &wv)
	g, _ = json.Marshal(gv)
	w, _ = json.Marshal(wv)
	if string(g) != string(w) {
		t.Errorf("%s = %s, want %s", what, g, w)
	}
}

func callsEqual(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestSCIMCreate(t *testing.T) {
	f := newSCIMFixture(t)
	if _, ok := f.p.(*SCIM); !ok {
		t.Fatalf("For returned %T, want *SCIM", f.p)
	}
	id := f.apply(t)
	callsEqual(t, f.d.takeCalls(), "POST /Users")
	jsonEqual(t, "created user", f.d.user(id), map[string]any{
		"id":          id,
		"userName":    "ann@example.com",
		"externalId":  f.user.Name, // the SCIM id, not the IdP's externalId
		"displayName": "Ann Lee",
		"name":        map[string]any{"givenName": "Ann", "familyName": "Lee"},
		"emails":      []any{map[string]any{"value": "ann@example.com", "type": "work", "primary": true}},
		"active":      true,
	})
}

func TestSCIMAdoptOn409(t *testing.T) {
	f := newSCIMFixture(t)
	f.user.Spec.UserName = `Ann"Q"@example.com` // quotes must be escaped in the filter
	other := f.d.seed(map[string]any{"userName": "bob@example.com", "active": true})
	existing := f.d.seed(map[string]any{
		"userName": `ann"q"@EXAMPLE.com`, "displayName": "Old Name", "active": false,
		"nickName": "kept",
	})
	id := f.apply(t)
	if id != existing {
		t.Fatalf("Apply = %q, want the existing account %q", id, existing)
	}
	callsEqual(t, f.d.takeCalls(), "POST /Users", "GET /Users", "PATCH /Users/"+existing)
	jsonEqual(t, "adopted user", f.d.user(existing), map[string]any{
		"id":          existing,
		"userName":    `Ann"Q"@example.com`,
		"externalId":  f.user.Name,
		"displayName": "Ann Lee",
		"name":        map[string]any{"givenName": "Ann", "familyName": "Lee"},
		"emails":      []any{map[string]any{"value": "ann@example.com", "type": "work", "primary": true}},
		"active":      true,
		"nickName":    "kept",
	})
	if f.d.user(other)["userName"] != "bob@example.com" {
		t.Error("another account was touched")
	}
}

func TestSCIMAdopt409WithoutMatch(t *testing.T) {
	f := newSCIMFixture(t)
	f.d.fail = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost {
			f.d.scimError(w, http.StatusConflict, "uniqueness", "email already in use")
			return true
		}
		return false
	}
	_, err := f.p.Apply(context.Background(), f.app, f.acct, f.user)
	if err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "email already in use") ||
		!strings.Contains(err.Error(), "no account with userName") {
		t.Fatalf("Apply error = %v, want the 409 and that nothing could be adopted", err)
	}
}

func TestSCIMUpdate(t *testing.T) {
	f := newSCIMFixture(t)
	id := f.apply(t)
	f.d.takeCalls()

	f.user.Spec.DisplayName = "Ann Lee-Smith"
	f.user.Spec.Name = &identityv1alpha1.Name{GivenName: "Ann", FamilyName: "Lee-Smith"}
	f.user.Spec.Emails = nil
	if got := f.apply(t); got != id {
		t.Fatalf("Apply = %q, want %q", got, id)
	}
	callsEqual(t, f.d.takeCalls(), "PATCH /Users/"+id)
	jsonEqual(t, "updated user", f.d.user(id), map[string]any{
		"id":          id,
		"userName":    "ann@example.com",
		"externalId":  f.user.Name,
		"displayName": "Ann Lee-Smith",
		"name":        map[string]any{"givenName": "Ann", "familyName": "Lee-Smith"},
		"active":      true,
	})
}

func TestSCIMSuspendAndRestore(t *testing.T) {
	f := newSCIMFixture(t)
	id := f.apply(t)
	f.d.takeCalls()

	f.acct.Spec.Active = false
	f.user.Spec.DisplayName = "" // a deleted user reaches Apply as a stub: keep the attributes
	if got := f.apply(t); got != id {
		t.Fatalf("Apply = %q, want %q", got, id)
	}
	callsEqual(t, f.d.takeCalls(), "PATCH /Users/"+id)
	u := f.d.user(id)
	if u["active"] != false {
		t.Errorf("active = %v after suspension, want false", u["active"])
	}
	if u["displayName"] != "Ann Lee" {
		t.Errorf("displayName = %v after suspension, want it kept", u["displayName"])
	}

	f.acct.Spec.Active = true
	f.user.Spec.DisplayName = "Ann Lee"
	f.apply(t)
	if u := f.d.user(id); u["active"] != true {
		t.Errorf("active = %v after restore, want true", u["active"])
	}
}

func TestSCIMCreateSuspended(t *testing.T) {
	f := newSCIMFixture(t)
	f.acct.Spec.Active = false
	id := f.apply(t)
	if u := f.d.user(id); u["active"] != false {
		t.Errorf("active = %v, want false", u["active"])
	}
}

func TestSCIMRecreateAfter404(t *testing.T) {
	f := newSCIMFixture(t)
	f.acct.Status.ExternalID = "lost"
	id := f.apply(t)
	if id == "lost" {
		t.Fatal("Apply kept the lost id")
	}
	callsEqual(t, f.d.takeCalls(), "PATCH /Users/lost", "POST /Users")
	if u := f.d.user(id); u["userName"] != "ann@example.com" || u["active"] != true {
		t.Errorf("recreated user = %v", u)
	}
}

func TestSCIMRemove(t *testing.T) {
	f := newSCIMFixture(t)
	id := f.apply(t)
	f.d.takeCalls()
	ctx := context.Background()
	if err := f.p.Remove(ctx, f.app, f.acct); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if f.d.user(id) != nil {
		t.Error("the account still exists")
	}
	// Again: the app answers 404, which is success.
	if err := f.p.Remove(ctx, f.app, f.acct); err != nil {
		t.Fatalf("Remove of a removed account: %v", err)
	}
	callsEqual(t, f.d.takeCalls(), "DELETE /Users/"+id, "DELETE /Users/"+id)
}

func TestSCIMRemoveWithoutExternalID(t *testing.T) {
	f := newSCIMFixture(t)
	ours := f.apply(t)
	f.acct.Status.ExternalID = "" // the id was never recorded
	f.user.Spec.UserName = "ann2@example.com"
	f.user.Name = "someone-else"
	theirs := f.apply(t) // an account correlated to another ScimUser
	f.acct.Status.ExternalID = ""
	f.d.takeCalls()

	f.acct.Spec.UserName = "ann2@example.com"
	if err := f.p.Remove(context.Background(), f.app, f.acct); err != nil {
		t.Fatal(err)
	}
	if f.d.user(theirs) == nil {
		t.Error("an account correlated to another user was deleted")
	}
	f.acct.Spec.UserName = "ann@example.com"
	if err := f.p.Remove(context.Background(), f.app, f.acct); err != nil {
		t.Fatal(err)
	}
	if f.d.user(ours) != nil {
		t.Error("the account with this user's SCIM id was not deleted")
	}
	callsEqual(t, f.d.takeCalls(), "GET /Users", "GET /Users", "DELETE /Users/"+ours)
}

func TestSCIMTokenSecret(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secrets []*corev1.Secret
		want    string
	}{
		{"missing", []*corev1.Secret{}, `token Secret tools/app-token not found`},
		{"no key", []*corev1.Secret{{
			ObjectMeta: metav1.ObjectMeta{Name: "app-token", Namespace: "tools"},
			Data:       map[string][]byte{"password": []byte("x")},
		}}, `token Secret tools/app-token has no key "token"`},
		{"other namespace", []*corev1.Secret{{
			ObjectMeta: metav1.ObjectMeta{Name: "app-token", Namespace: "elsewhere"},
			Data:       map[string][]byte{"token": []byte(scimTestToken)},
		}}, `token Secret tools/app-token not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSCIMFixture(t, tc.secrets...)
			_, err := f.p.Apply(context.Background(), f.app, f.acct, f.user)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Apply error = %v, want %q", err, tc.want)
			}
			err = f.p.Remove(context.Background(), f.app, f.acct)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Remove error = %v, want %q", err, tc.want)
			}
			if calls := f.d.takeCalls(); len(calls) != 0 {
				t.Errorf("requests sent without a token: %q", calls)
			}
		})
	}
}

func TestSCIMErrors(t *testing.T) {
	long := strings.Repeat("d", 190) + "0123456789TAIL"
	for _, tc := range []struct {
		name    string
		fail    func(w http.ResponseWriter, r *http.Request)
		want    []string
		notWant []string
	}{
		{"scim error", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", scimMediaType)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":400,"scimType":"invalidValue","detail":"`+long+`"}`)
		}, []string{"POST", "/scim/v2/Users", "HTTP 400 Bad Request", "(invalidValue)", strings.Repeat("d", 190) + "0123456789…"}, []string{"TAIL", scimTestToken}},
		{"plain text", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "upstream\nexploded", http.StatusBadGateway)
		}, []string{"HTTP 502 Bad Gateway: upstream exploded"}, nil},
		{"unauthorized", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
		}, []string{"HTTP 401 Unauthorized"}, []string{scimTestToken}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSCIMFixture(t)
			f.d.fail = func(w http.ResponseWriter, r *http.Request) bool { tc.fail(w, r); return true }
			_, err := f.p.Apply(context.Background(), f.app, f.acct, f.user)
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			for _, s := range tc.notWant {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains %q", err, s)
				}
			}
		})
	}

	t.Run("update failure is not a re-create", func(t *testing.T) {
		f := newSCIMFixture(t)
		f.acct.Status.ExternalID = "u1"
		f.d.fail = func(w http.ResponseWriter, _ *http.Request) bool {
			f.d.scimError(w, http.StatusInternalServerError, "", "database down")
			return true
		}
		_, err := f.p.Apply(context.Background(), f.app, f.acct, f.user)
		if err == nil || !strings.Contains(err.Error(), "HTTP 500") || !strings.Contains(err.Error(), "database down") {
			t.Errorf("Apply error = %v", err)
		}
		callsEqual(t, f.d.takeCalls(), "PATCH /Users/u1")
	})

	t.Run("delete failure", func(t *testing.T) {
		f := newSCIMFixture(t)
		f.acct.Status.ExternalID = "u1"
		f.d.fail = func(w http.ResponseWriter, _ *http.Request) bool {
			f.d.scimError(w, http.StatusForbidden, "", "read-only app")
			return true
		}
		err := f.p.Remove(context.Background(), f.app, f.acct)
		if err == nil || !strings.Contains(err.Error(), "HTTP 403") || !strings.Contains(err.Error(), "read-only app") {
			t.Errorf("Remove error = %v", err)
		}
	})
}

func TestSCIMTimeout(t *testing.T) {
	f := newSCIMFixture(t)
	f.p.(*SCIM).Timeout = 50 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	f.d.fail = func(http.ResponseWriter, *http.Request) bool {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		return true
	}
	start := time.Now()
	_, err := f.p.Apply(context.Background(), f.app, f.acct, f.user)
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("Apply error = %v, want a deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Apply took %v", d)
	}
}
