package integration

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/testenv"
	"github.com/scim-operator/scim-operator/internal/token"
	"github.com/scim-operator/scim-operator/scimserver"
)

// hardenedServer starts a second SCIM server on the running operator's store,
// with TLS and tight limits, as a production deployment would run it.
func hardenedServer(t *testing.T, opts scimserver.Options) string {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM, err := testenv.SelfSignedCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	opts.CertFile, opts.KeyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(opts.CertFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(opts.KeyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	opts.Addr = "127.0.0.1:0"
	op := env.Operator
	srv := scimserver.NewServer(opts, op.SCIM.Store, op.SCIM.Auth, op.SCIM.Client, ctrl.Log.WithName("scim-hardened"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case addr := <-srv.Listening():
		return addr
	case err := <-done:
		t.Fatal(err)
	}
	return ""
}

var tlsClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // self-signed test certificate
}}

func TestSecurityTableEveryRefusalHasItsStatusAndChangesNothing(t *testing.T) {
	c := newDirectory(t)
	other := newDirectory(t)
	ctx := context.Background()
	var dir identityv1alpha1.ScimDirectory
	if err := env.Client.Get(ctx, client.ObjectKey{Name: dirName(c)}, &dir); err != nil {
		t.Fatal(err)
	}
	expired, _, err := token.Create(ctx, env.Client, &dir, "expired", time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	revoked, sec, err := token.Create(ctx, env.Client, &dir, "revoked", 0)
	if err != nil {
		t.Fatal(err)
	}
	flood, _, err := token.Create(ctx, env.Client, &dir, "flood", 0)
	if err != nil {
		t.Fatal(err)
	}
	addr := hardenedServer(t, scimserver.Options{RatePerToken: 1, RateBurst: 40, MaxBodyBytes: 2048})
	base := "https://" + addr + scimserver.BasePath + dirName(c)
	eventually(t, "new tokens reach the cache", func() bool {
		return send(t, "GET", base+"/Users?count=0", "Bearer "+revoked, "").status == 200 &&
			send(t, "GET", base+"/Users?count=0", "Bearer "+flood, "").status == 200
	})
	if err := env.Client.Delete(ctx, sec); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the revoked token stops working", func() bool {
		return send(t, "GET", base+"/Users?count=0", "Bearer "+revoked, "").status == 401
	})
	id := c.createUser("ann@example.com", nil)
	users := c.countUsers()

	good := "Bearer " + c.token
	deep := strings.Repeat("(", 40) + `userName eq "x"` + strings.Repeat(")", 40)
	for _, tc := range []struct {
		name, method, path, auth, body string
		status                         int
		scimType                       string
	}{
		{"no token", "GET", "/Users", "", "", 401, ""},
		{"malformed header", "GET", "/Users", "Bearer", "", 401, ""},
		{"basic instead of bearer", "GET", "/Users", "Basic " + c.token, "", 401, ""},
		{"wrong token", "GET", "/Users", "Bearer scimop_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", 401, ""},
		{"token of another directory", "GET", "/Users", "Bearer " + other.token, "", 401, ""},
		{"expired token", "GET", "/Users", "Bearer " + expired, "", 401, ""},
		{"revoked token", "GET", "/Users", "Bearer " + revoked, "", 401, ""},
		{"token in the query string", "GET", "/Users?access_token=" + url.QueryEscape(c.token), "", "", 401, ""},
		{"unknown directory", "GET", "/../nope/Users", good, "", 401, ""},
		{"oversized body", "POST", "/Users", good, `{"userName":"big","displayName":"` + strings.Repeat("x", 4096) + `"}`, 413, ""},
		{"deep filter", "GET", "/Users?filter=" + url.QueryEscape(deep), good, "", 400, "invalidFilter"},
		{"long filter", "GET", "/Users?filter=" + url.QueryEscape(`userName eq "`+strings.Repeat("a", 5000)+`"`), good, "", 400, "invalidFilter"},
		{"count beyond an integer", "GET", "/Users?count=99999999999999999999999", good, "", 400, "invalidValue"},
		{"sensitive GET filter", "GET", "/Users?filter=" + url.QueryEscape(`password eq "x"`), good, "", 403, "sensitive"},
		{"PATCH of a read-only attribute", "PATCH", "/Users/" + id, good, `{"Operations":[{"op":"replace","path":"id","value":"x"}]}`, 400, "mutability"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, tc.method, strings.Replace(base+tc.path, "/"+dirName(c)+"/../nope", "/nope", 1), tc.auth, tc.body)
			if r.status != tc.status || !strings.Contains(r.body, `"status":"`+itoa(tc.status)+`"`) {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.scimType != "" && !strings.Contains(r.body, `"scimType":"`+tc.scimType+`"`) {
				t.Fatalf("want scimType %s: %s", tc.scimType, r.body)
			}
			if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}

	t.Run("huge count is capped to maxResults", func(t *testing.T) {
		r := send(t, "GET", base+"/Users?count=100000000", good, "")
		if r.status != 200 || !strings.Contains(r.body, `"itemsPerPage":1`) {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("over-rate gets 429 with Retry-After", func(t *testing.T) {
		var last response2
		for i := 0; i < 60; i++ {
			if last = send(t, "GET", base+"/Users?count=0", "Bearer "+flood, ""); last.status == 429 {
				break
			}
		}
		if last.status != 429 || last.header.Get("Retry-After") == "" || !strings.Contains(last.body, `"status":"429"`) {
			t.Fatalf("no 429 after 60 requests: %d %s", last.status, last.body)
		}
		// Other tokens are not affected.
		if r := send(t, "GET", base+"/Users?count=0", good, ""); r.status != 200 {
			t.Fatalf("another token was throttled: %d", r.status)
		}
	})
	t.Run("TLS 1.1 handshake is refused", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}) //nolint:gosec // the point of the test
		if err == nil {
			conn.Close()
			t.Fatal("TLS 1.1 handshake succeeded")
		}
	})
	if n := c.countUsers(); n != users {
		t.Fatalf("refused requests changed the directory: %d users, want %d", n, users)
	}
}

type response2 struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, method, u, auth, body string) response2 {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := tlsClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response2{resp.StatusCode, resp.Header, string(raw)}
}

func TestDeletionGuardRefusesPastItsCapUntilReleased(t *testing.T) {
	c := newDirectory(t)
	ctx := context.Background()
	var dir identityv1alpha1.ScimDirectory
	if err := env.Client.Get(ctx, client.ObjectKey{Name: dirName(c)}, &dir); err != nil {
		t.Fatal(err)
	}
	dir.Spec.DeletionGuard = &identityv1alpha1.DeletionGuard{MaxOperations: 2, Window: metav1.Duration{Duration: time.Hour}}
	if err := env.Client.Update(ctx, &dir); err != nil {
		t.Fatal(err)
	}
	ids := []string{c.createUser("a@example.com", nil), c.createUser("b@example.com", nil), c.createUser("c@example.com", nil)}
	eventually(t, "the guard reaches the cache", func() bool {
		var d identityv1alpha1.ScimDirectory
		return env.Operator.GetCache().Get(ctx, client.ObjectKey{Name: dirName(c)}, &d) == nil && d.Spec.DeletionGuard != nil
	})
	c.do("DELETE", "/Users/"+ids[0], nil).expect(t, 204)
	c.do("PATCH", "/Users/"+ids[1], patchOps(op("replace", "active", false))).expect(t, 200)
	r := c.do("DELETE", "/Users/"+ids[2], nil).expect(t, 503)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	c.do("PATCH", "/Users/"+ids[1], patchOps(op("replace", "active", true))).expect(t, 200) // reactivation is no deletion
	c.do("PATCH", "/Users/"+ids[2], patchOps(op("replace", "active", false))).expect(t, 503)
	if u := c.user(ids[2]); !u.Spec.IsActive() || !u.DeletionTimestamp.IsZero() {
		t.Fatal("a refused operation was applied")
	}
	eventually(t, "the directory reports the tripped guard", func() bool {
		var d identityv1alpha1.ScimDirectory
		_ = env.Client.Get(ctx, client.ObjectKey{Name: dirName(c)}, &d)
		return meta.IsStatusConditionTrue(d.Status.Conditions, identityv1alpha1.DeletionGuardCondition)
	})

	// An administrator releases the guard.
	if err := env.Client.Get(ctx, client.ObjectKey{Name: dirName(c)}, &dir); err != nil {
		t.Fatal(err)
	}
	dir.Annotations[identityv1alpha1.DeletionGuardReleaseAnnotation] = time.Now().Add(time.Second).UTC().Format(time.RFC3339)
	if err := env.Client.Update(ctx, &dir); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the release names a time after the trip, in whole seconds
	eventually(t, "the release takes effect", func() bool {
		return c.do("DELETE", "/Users/"+ids[2], nil).Status == 204
	})
}

func TestTokensNearExpiryAreReportedOnTheDirectory(t *testing.T) {
	c := newDirectory(t)
	ctx := context.Background()
	var dir identityv1alpha1.ScimDirectory
	if err := env.Client.Get(ctx, client.ObjectKey{Name: dirName(c)}, &dir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := token.Create(ctx, env.Client, &dir, "short-lived", time.Hour); err != nil {
		t.Fatal(err)
	}
	eventually(t, "TokensExpiring names the token", func() bool {
		var d identityv1alpha1.ScimDirectory
		_ = env.Client.Get(ctx, client.ObjectKey{Name: dirName(c)}, &d)
		cond := meta.FindStatusCondition(d.Status.Conditions, identityv1alpha1.TokensExpiringCondition)
		return cond != nil && cond.Status == metav1.ConditionTrue && strings.Contains(cond.Message, "short-lived")
	})
}

func TestSCIMWritesLeaveEventsOnTheResources(t *testing.T) {
	c := newDirectory(t)
	id := c.createUser("ann@example.com", nil)
	c.do("PATCH", "/Users/"+id, patchOps(op("replace", "displayName", "Ann"))).expect(t, 200)
	c.do("PATCH", "/Users/"+id, patchOps(op("replace", "active", false))).expect(t, 200)
	c.do("DELETE", "/Users/"+id, nil).expect(t, 204)
	eventually(t, "Created, Updated, Deactivated and Deleted events exist", func() bool {
		var evs corev1.EventList
		if env.Client.List(context.Background(), &evs, client.InNamespace(c.namespace)) != nil {
			return false
		}
		seen := map[string]bool{}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == id {
				seen[e.Reason] = true
			}
		}
		return seen["Created"] && seen["Updated"] && seen["Deactivated"] && seen["Deleted"]
	})
}
