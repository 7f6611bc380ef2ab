package apps

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

var webhookTestKey = []byte("0123456789abcdef0123456789abcdef")

// webhookReceiver is an app's endpoint: it verifies each delivery with
// VerifySignature, answers 503 to the first failFirst deliveries and records
// the events it accepted.
type webhookReceiver struct {
	t         *testing.T
	srv       *httptest.Server
	failFirst int
	status    int    // answer to every delivery after failFirst; 204 when zero
	body      string // body of non-2xx answers

	mu         sync.Mutex
	deliveries int
	events     []WebhookEvent
	keyIDs     []string
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	r := &webhookReceiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *webhookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deliveries++
	if err := VerifySignature(webhookTestKey, req.Header, body, time.Now(), DefaultReplayWindow); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.deliveries <= r.failFirst {
		http.Error(w, "warming up", http.StatusServiceUnavailable)
		return
	}
	if r.status != 0 && (r.status < 200 || r.status > 299) {
		http.Error(w, r.body, r.status)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var ev WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		r.t.Errorf("event is not JSON: %v", err)
	}
	if got := req.Header.Get(HeaderEventID); got != ev.ID {
		r.t.Errorf("%s = %q, body id = %q", HeaderEventID, got, ev.ID)
	}
	r.events = append(r.events, ev)
	r.keyIDs = append(r.keyIDs, req.Header.Get(HeaderKeyID))
	w.WriteHeader(http.StatusNoContent)
}

func (r *webhookReceiver) snapshot() (deliveries int, events []WebhookEvent, keyIDs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deliveries, append([]WebhookEvent(nil), r.events...), append([]string(nil), r.keyIDs...)
}

func (r *webhookReceiver) types() []string {
	_, events, _ := r.snapshot()
	var types []string
	for _, ev := range events {
		types = append(types, ev.Type)
	}
	return types
}

func webhookTestApp(url string) *identityv1alpha1.ScimApp {
	return &identityv1alpha1.ScimApp{
		ObjectMeta: metav1.ObjectMeta{Name: "notebooks", Namespace: "jupyter", UID: "app-uid"},
		Spec: identityv1alpha1.ScimAppSpec{
			Directory: "default",
			Provisioner: identityv1alpha1.AppProvisioner{Webhook: &identityv1alpha1.WebhookProvisioner{
				URL:       url,
				SecretRef: corev1.LocalObjectReference{Name: "signing-key"},
			}},
		},
	}
}

func webhookTestAccount() *identityv1alpha1.AppAccount {
	return &identityv1alpha1.AppAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "notebooks-ann", Namespace: "jupyter", UID: "acct-uid", Generation: 1},
		Spec:       identityv1alpha1.AppAccountSpec{App: "notebooks", User: "64fe11eb-0000-4000-8000-000000000001", UserName: "ann@example.com", Active: true},
	}
}

func webhookTestUser() *identityv1alpha1.ScimUser {
	return &identityv1alpha1.ScimUser{
		ObjectMeta: metav1.ObjectMeta{Name: "64fe11eb-0000-4000-8000-000000000001", Namespace: "directory"},
		Spec: identityv1alpha1.ScimUserSpec{
			UserName:    "ann@example.com",
			DisplayName: "Ann Lee",
			ExternalID:  "idp-ann",
			Emails:      []identityv1alpha1.MultiValue{{Value: "ann@example.com", Type: "work", Primary: true}},
		},
	}
}

func webhookTestSecret(data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "signing-key", Namespace: "jupyter"}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// newTestWebhook builds the provisioner as For does, over a fake API reader
// holding the given objects.
func newTestWebhook(t *testing.T, objs ...*corev1.Secret) *Webhook {
	t.Helper()
	b := fake.NewClientBuilder()
	for _, o := range objs {
		b = b.WithObjects(o)
	}
	c := b.Build()
	p, err := For(webhookTestApp("http://unused"), Deps{Client: c, APIReader: c})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Webhook)
}

func TestWebhookDeliversProvisionSuspendAndRemoveInOrderRetryingTransientFailures(t *testing.T) {
	recv := newWebhookReceiver(t)
	recv.failFirst = 2
	w := newTestWebhook(t, webhookTestSecret(map[string]string{"key": string(webhookTestKey), "keyId": "2025-01"}))
	app, acct, user := webhookTestApp(recv.srv.URL), webhookTestAccount(), webhookTestUser()
	ctx := context.Background()

	start := time.Now()
	if _, err := w.Apply(ctx, app, acct, user); err != nil {
		t.Fatalf("Apply (provision) after two 503s: %v", err)
	}
	// Two waits of 100 ms and 200 ms, each at least half that.
	if elapsed := time.Since(start); elapsed < 150*time.Millisecond {
		t.Errorf("three attempts took %s: the retries did not back off", elapsed)
	}
	if n, _, _ := recv.snapshot(); n != 3 {
		t.Errorf("deliveries = %d, want 3 (two 503s, then success)", n)
	}

	acct.Status.State = identityv1alpha1.AccountProvisioned
	acct.Spec.Active = false
	acct.Generation = 2
	if _, err := w.Apply(ctx, app, acct, user); err != nil {
		t.Fatalf("Apply (suspend): %v", err)
	}
	acct.Status.State = identityv1alpha1.AccountSuspended
	if _, err := w.Apply(ctx, app, acct, user); err != nil {
		t.Fatalf("Apply (already suspended): %v", err)
	}
	if err := w.Remove(ctx, app, acct); err != nil {
		t.Fatalf("Remove: %v", err)
	}

	want := []string{EventAccountProvisioned, EventSessionsRevoked, EventAccountSuspended, EventAccountDeleted}
	if got := recv.types(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("event types = %v, want %v", got, want)
	}
	_, events, keyIDs := recv.snapshot()
	ids := map[string]bool{}
	for i, ev := range events {
		if ids[ev.ID] || len(ev.ID) != 32 {
			t.Errorf("event %d id %q is repeated or malformed", i, ev.ID)
		}
		ids[ev.ID] = true
		if ev.App != "jupyter/notebooks" {
			t.Errorf("event %d app = %q", i, ev.App)
		}
		if _, err := time.Parse(time.RFC3339, ev.Time); err != nil {
			t.Errorf("event %d time %q: %v", i, ev.Time, err)
		}
		if keyIDs[i] != "2025-01" {
			t.Errorf("event %d key id = %q, want 2025-01", i, keyIDs[i])
		}
		if ev.Account.User != acct.Spec.User || ev.Account.UserName != "ann@example.com" {
			t.Errorf("event %d account = %+v", i, ev.Account)
		}
	}
	prov := events[0].Account
	if !prov.Active || prov.DisplayName != "Ann Lee" || prov.ExternalID != "idp-ann" ||
		len(prov.Emails) != 1 || prov.Emails[0] != (WebhookEmail{Value: "ann@example.com", Type: "work", Primary: true}) {
		t.Errorf("provisioned account = %+v", prov)
	}
	for _, ev := range events[1:] {
		if ev.Account.Active {
			t.Errorf("%s account is active", ev.Type)
		}
	}
	if del := events[3].Account; del.DisplayName != "" || del.ExternalID != "" {
		t.Errorf("deleted account carries user attributes it cannot know: %+v", del)
	}
}

func TestWebhookSendsUpdatedOnceProvisionedAndRetriesCarryTheSameID(t *testing.T) {
	recv := newWebhookReceiver(t)
	w := newTestWebhook(t, webhookTestSecret(map[string]string{"key": string(webhookTestKey)}))
	app, acct, user := webhookTestApp(recv.srv.URL), webhookTestAccount(), webhookTestUser()
	ctx := context.Background()

	acct.Status.State = identityv1alpha1.AccountFailed
	for range 2 { // a failure half-way and a requeue repeat the transition
		if _, err := w.Apply(ctx, app, acct, user); err != nil {
			t.Fatal(err)
		}
	}
	acct.Status.State = identityv1alpha1.AccountProvisioned
	if _, err := w.Apply(ctx, app, acct, user); err != nil {
		t.Fatal(err)
	}
	user.Spec.DisplayName = "Ann Lee-Smith" // same AppAccount generation, new attributes
	if _, err := w.Apply(ctx, app, acct, user); err != nil {
		t.Fatal(err)
	}
	other := webhookTestApp(recv.srv.URL)
	other.UID = "other-app-uid"
	if _, err := w.Apply(ctx, other, acct, user); err != nil {
		t.Fatal(err)
	}

	_, events, keyIDs := recv.snapshot()
	want := []string{EventAccountProvisioned, EventAccountProvisioned, EventAccountUpdated, EventAccountUpdated, EventAccountUpdated}
	if got := recv.types(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("event types = %v, want %v", got, want)
	}
	if events[0].ID != events[1].ID {
		t.Errorf("a repeated transition got a new id: %s, %s", events[0].ID, events[1].ID)
	}
	if events[2].ID == events[3].ID {
		t.Errorf("two different updates share id %s: the receiver would drop the second", events[2].ID)
	}
	if events[3].ID == events[4].ID {
		t.Errorf("the same update to two apps shares id %s", events[3].ID)
	}
	if keyIDs[0] != "signing-key" {
		t.Errorf("key id = %q, want the Secret name when keyId is unset", keyIDs[0])
	}
}

func TestWebhookGivesUpAfterThreeAttemptsWithAShortReason(t *testing.T) {
	recv := newWebhookReceiver(t)
	recv.status = http.StatusBadGateway
	recv.body = strings.Repeat("upstream\nexploded ", 100)
	w := newTestWebhook(t, webhookTestSecret(map[string]string{"key": string(webhookTestKey)}))

	_, err := w.Apply(context.Background(), webhookTestApp(recv.srv.URL), webhookTestAccount(), webhookTestUser())
	if err == nil {
		t.Fatal("Apply succeeded against an app answering 502")
	}
	msg := err.Error()
	if !strings.Contains(msg, "502 Bad Gateway") || !strings.Contains(msg, EventAccountProvisioned) || !strings.Contains(msg, "3 attempts") {
		t.Errorf("error %q does not give the event, the status and the attempts", msg)
	}
	if strings.Contains(msg, "\n") || len([]rune(msg)) > 300 {
		t.Errorf("error dumps the body (%d characters): %q", len([]rune(msg)), msg)
	}
	if n, _, _ := recv.snapshot(); n != webhookAttempts {
		t.Errorf("deliveries = %d, want %d", n, webhookAttempts)
	}
}

func TestWebhookDoesNotRetryAClientError(t *testing.T) {
	recv := newWebhookReceiver(t)
	recv.status = http.StatusBadRequest
	recv.body = "unknown user"
	w := newTestWebhook(t, webhookTestSecret(map[string]string{"key": string(webhookTestKey)}))

	_, err := w.Apply(context.Background(), webhookTestApp(recv.srv.URL), webhookTestAccount(), webhookTestUser())
	if err == nil || !strings.Contains(err.Error(), "400 Bad Request: unknown user") {
		t.Fatalf("error = %v, want the 400 and its reason", err)
	}
	if n, _, _ := recv.snapshot(); n != 1 {
		t.Errorf("deliveries = %d, want 1: a 400 is not transient", n)
	}
}

func TestWebhookReportsAConnectionError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	w := newTestWebhook(t, webhookTestSecret(map[string]string{"key": string(webhookTestKey)}))

	err := w.Remove(context.Background(), webhookTestApp(url), webhookTestAccount())
	if err == nil || !strings.Contains(err.Error(), EventAccountDeleted) || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("error = %v, want the event type after 3 attempts", err)
	}
}

func TestWebhookStopsRetryingWhenTheContextEnds(t *testing.T) {
	recv := newWebhookReceiver(t)
	recv.status = http.StatusServiceUnavailable
	w := newTestWebhook(t, webhookTestSecret(map[string]string{"key": string(webhookTestKey)}))
	w.backoff = time.Hour

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := w.Apply(ctx, webhookTestApp(recv.srv.URL), webhookTestAccount(), webhookTestUser())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want the context's deadline", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Apply returned %s after the context ended", elapsed)
	}
}

func TestWebhookDeliveryWithAnOldTimestampIsRejectedByTheReceiver(t *testing.T) {
	recv := newWebhookReceiver(t)
	w := newTestWebhook(t, webhookTestSecret(map[string]string{"key": string(webhookTestKey)}))
	w.now = func() time.Time { return time.Now().Add(-10 * time.Minute) }

	_, err := w.Apply(context.Background(), webhookTestApp(recv.srv.URL), webhookTestAccount(), webhookTestUser())
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "replay window") {
		t.Fatalf("error = %v, want the receiver's 401 for a stale timestamp", err)
	}
}

func TestWebhookSigningKeyProblemsSayWhichSecretAndKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret *corev1.Secret
		want   string
	}{
		{"missing Secret", nil, "Secret jupyter/signing-key not found"},
		{"missing key", webhookTestSecret(map[string]string{"keyId": "k1"}), `Secret jupyter/signing-key has no key "key"`},
		{"empty key", webhookTestSecret(map[string]string{"key": ""}), `Secret jupyter/signing-key has no key "key"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recv := newWebhookReceiver(t)
			var w *Webhook
			if tc.secret == nil {
				w = newTestWebhook(t)
			} else {
				w = newTestWebhook(t, tc.secret)
			}
			_, err := w.Apply(context.Background(), webhookTestApp(recv.srv.URL), webhookTestAccount(), webhookTestUser())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if n, _, _ := recv.snapshot(); n != 0 {
				t.Errorf("%d deliveries without a signing key", n)
			}
		})
	}
}

func TestVerifySignature(t *testing.T) {
	now := time.Unix(1_750_000_000, 0)
	body := []byte(`{"id":"x","type":"account.provisioned"}`)
	signed := func(at time.Time) http.Header {
		h := http.Header{}
		setWebhookSignature(h, webhookTestKey, "k1", at, body)
		return h
	}
	withSig := func(sig string) http.Header {
		h := signed(now)
		h.Set(HeaderSignature, sig)
		return h
	}
	good := signed(now).Get(HeaderSignature)

	for _, tc := range []struct {
		name   string
		key    []byte
		header http.Header
		body   []byte
		want   error
	}{
		{"a valid delivery verifies", webhookTestKey, signed(now), body, nil},
		{"a delivery signed 4 minutes ago verifies", webhookTestKey, signed(now.Add(-4 * time.Minute)), body, nil},
		{"one matching signature among several verifies", webhookTestKey, withSig("v1=00ff, " + good), body, nil},
		{"a changed body is rejected", webhookTestKey, signed(now), append([]byte(" "), body...), ErrBadSignature},
		{"another key is rejected", []byte("another key"), signed(now), body, ErrBadSignature},
		{"no key is rejected", nil, signed(now), body, ErrBadSignature},
		{"a forged signature is rejected", webhookTestKey, withSig("v1=" + strings.Repeat("ab", 32)), body, ErrBadSignature},
		{"an unknown scheme is rejected", webhookTestKey, withSig(strings.Replace(good, "v1=", "v0=", 1)), body, ErrBadSignature},
		{"a missing signature is rejected", webhookTestKey, withSig(""), body, ErrBadSignature},
		{"a missing timestamp is rejected", webhookTestKey, http.Header{HeaderSignature: {good}}, body, ErrBadSignature},
		{"a timestamp changed after signing is rejected", webhookTestKey, func() http.Header {
			h := signed(now)
			h.Set(HeaderTimestamp, "1750000001")
			return h
		}(), body, ErrBadSignature},
		{"a delivery signed 6 minutes ago is rejected", webhookTestKey, signed(now.Add(-6 * time.Minute)), body, ErrStaleTimestamp},
		{"a delivery signed 6 minutes ahead is rejected", webhookTestKey, signed(now.Add(6 * time.Minute)), body, ErrStaleTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.key, tc.header, tc.body, now, DefaultReplayWindow)
			if tc.want == nil && err != nil {
				t.Fatalf("VerifySignature = %v, want success", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("VerifySignature = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestWebhookBodySnippetIsOneShortLine(t *testing.T) {
	got := webhookBodySnippet(strings.NewReader("line one\r\n\tline two\x00" + strings.Repeat("é", 500)))
	if strings.ContainsAny(got, "\r\n\t\x00") {
		t.Errorf("snippet has control characters: %q", got)
	}
	if n := len([]rune(got)); n != webhookMaxErrorBody {
		t.Errorf("snippet has %d characters, want %d", n, webhookMaxErrorBody)
	}
	if !strings.HasPrefix(got, "line one line two ") {
		t.Errorf("snippet = %q", got)
	}
}

func TestWebhookErrorsDoNotRevealTheURL(t *testing.T) {
	w := newTestWebhook(t, webhookTestSecret(map[string]string{"key": string(webhookTestKey)}))
	for _, target := range []string{
		"http://user:hunter2@127.0.0.1:1/events?token=hunter2",
		"http://127.0.0.1:1/events?token=hunter2\x7f",
	} {
		_, err := w.Apply(context.Background(), webhookTestApp(target), webhookTestAccount(), webhookTestUser())
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error = %v, want a failure that does not show the URL's secrets", err)
		}
	}
}
