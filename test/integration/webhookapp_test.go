package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/apps"
)

// receiver is an app's event endpoint: it checks every signature, refuses
// the first deliveries to force retries, and records what it accepted.
type receiver struct {
	key      []byte
	mu       sync.Mutex
	refuse   int
	events   []string
	ids      map[string]bool
	badSigns int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := apps.VerifySignature(rc.key, r.Header, body, time.Now(), apps.DefaultReplayWindow); err != nil {
		rc.badSigns++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if rc.refuse > 0 {
		rc.refuse--
		http.Error(w, "warming up", http.StatusServiceUnavailable)
		return
	}
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &ev)
	if !rc.ids[ev.ID] { // at-least-once delivery: receivers dedupe by id
		rc.ids[ev.ID] = true
		rc.events = append(rc.events, ev.Type)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.events...)
}

func TestWebhookAppReceivesSignedOrderedEventsDespiteFailures(t *testing.T) {
	c := newDirectory(t)
	ns := "apps-" + dirName(c)
	ensureNamespace(t, ns)
	ctx := context.Background()
	rc := &receiver{key: []byte("a-signing-key-of-32-bytes-length"), refuse: 2, ids: map[string]bool{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "signing-key", Namespace: ns}, Data: map[string][]byte{"key": rc.key}}
	if err := env.Client.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	ann := c.createUser("ann@"+dirName(c)+".example.com", map[string]any{"displayName": "Ann"})
	app := &identityv1alpha1.ScimApp{
		ObjectMeta: metav1.ObjectMeta{Name: "hooks", Namespace: ns},
		Spec: identityv1alpha1.ScimAppSpec{Directory: dirName(c), Provisioner: identityv1alpha1.AppProvisioner{
			Webhook: &identityv1alpha1.WebhookProvisioner{URL: srv.URL + "/events", SecretRef: corev1.LocalObjectReference{Name: "signing-key"}},
		}},
	}
	if err := env.Client.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the account is provisioned after the refused deliveries", func() bool {
		a := account(t, ns, "hooks", ann)
		return a != nil && a.Status.State == identityv1alpha1.AccountProvisioned
	})
	c.do("PATCH", "/Users/"+ann, patchOps(op("replace", "displayName", "Ann Lee"))).expect(t, 200)
	eventually(t, "the update is delivered", func() bool { return len(rc.got()) >= 2 })
	c.do("PATCH", "/Users/"+ann, patchOps(op("replace", "active", false))).expect(t, 200)
	eventually(t, "the account is suspended", func() bool {
		a := account(t, ns, "hooks", ann)
		return a != nil && a.Status.State == identityv1alpha1.AccountSuspended
	})
	want := []string{apps.EventAccountProvisioned, apps.EventAccountUpdated, apps.EventSessionsRevoked, apps.EventAccountSuspended}
	got := rc.got()
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	if rc.badSigns != 0 {
		t.Fatalf("%d deliveries had a bad signature", rc.badSigns)
	}
	eventually(t, "the revocation waited for the app and completed", func() bool { return c.user(ann).Status.SessionsRevokedAt != nil })
}
