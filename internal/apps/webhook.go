package apps

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// Webhook event types; docs/app-webhook-events.md describes when each is sent.
const (
	EventAccountProvisioned = "account.provisioned"
	EventAccountUpdated     = "account.updated"
	EventAccountSuspended   = "account.suspended"
	EventAccountDeleted     = "account.deleted"
	EventSessionsRevoked    = "sessions.revoked"
)

// Headers of a webhook delivery.
const (
	// HeaderEventID repeats the event's id, the idempotency key.
	HeaderEventID = "X-Scim-Operator-Event-Id"
	// HeaderTimestamp is the Unix time (seconds) at which the delivery was signed.
	HeaderTimestamp = "X-Scim-Operator-Timestamp"
	// HeaderSignature is "v1=" and the hex HMAC-SHA256 of timestamp + "." + body.
	HeaderSignature = "X-Scim-Operator-Signature"
	// HeaderKeyID names the signing key, so receivers can rotate keys.
	HeaderKeyID = "X-Scim-Operator-Key-Id"
)

// Keys of the signing key Secret.
const (
	WebhookSecretKey   = "key"
	WebhookSecretKeyID = "keyId"
)

// DefaultReplayWindow is how far a delivery's timestamp may be from the
// receiver's clock before VerifySignature rejects it.
const DefaultReplayWindow = 5 * time.Minute

const (
	// webhookAttempts is how many times one Apply or Remove tries to deliver
	// an event that fails transiently; the controller's requeue does the rest.
	webhookAttempts = 3
	// webhookBackoff is the wait before the first quick retry; it doubles
	// for each further retry and is jittered by ±50%.
	webhookBackoff = 100 * time.Millisecond
	// webhookRequestTimeout bounds one delivery attempt.
	webhookRequestTimeout = 10 * time.Second
	// webhookMaxErrorBody is how much of a failed answer's body goes into the error.
	webhookMaxErrorBody = 200
)

var (
	// ErrBadSignature: the delivery is not signed with the key, or its
	// signature headers are missing or malformed.
	ErrBadSignature = errors.New("webhook signature does not verify")
	// ErrStaleTimestamp: the delivery was signed outside the replay window.
	ErrStaleTimestamp = errors.New("webhook timestamp outside the replay window")
)

// WebhookEvent is the JSON body of a webhook delivery.
type WebhookEvent struct {
	// ID is the idempotency key: a redelivery of the same event has the same ID.
	ID string `json:"id"`
	// Type is one of the Event* constants.
	Type string `json:"type"`
	// Time is when the operator produced the event (RFC 3339).
	Time string `json:"time"`
	// App is the ScimApp as "<namespace>/<name>".
	App string `json:"app"`
	// Account is the account the event is about.
	Account WebhookAccount `json:"account"`
}

// WebhookAccount is the account in a webhook event.
type WebhookAccount struct {
	// User is the user's SCIM id: stable for the user's life, unlike userName.
	User        string         `json:"user"`
	UserName    string         `json:"userName"`
	DisplayName string         `json:"displayName,omitempty"`
	Emails      []WebhookEmail `json:"emails,omitempty"`
	Active      bool           `json:"active"`
	// ExternalID is the identity provider's id of the user.
	ExternalID string `json:"externalId,omitempty"`
}

// WebhookEmail is one of the user's e-mail addresses.
type WebhookEmail struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

// Webhook sends signed JSON events about accounts to the app's URL. It
// keeps no state: which events to send follows from the account's spec and
// the state recorded in its status.
type Webhook struct {
	// Reader reads the signing key Secret.
	Reader client.Reader
	// HTTPClient delivers the events.
	HTTPClient *http.Client

	now     func() time.Time // for tests; time.Now when nil
	backoff time.Duration    // for tests; webhookBackoff when zero
}

// webhookHTTPClient is shared by all webhook apps so that connections are
// reused across reconciles. It does not follow redirects: a signed event is
// delivered to the configured URL or not at all.
var webhookHTTPClient = &http.Client{
	Transport: func() http.RoundTripper {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		return t
	}(),
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func newWebhook(d Deps) (Provisioner, error) {
	if d.APIReader == nil {
		return nil, errors.New("the webhook provisioner needs an API reader for its signing key")
	}
	return &Webhook{Reader: d.APIReader, HTTPClient: webhookHTTPClient}, nil
}

// Apply implements Provisioner. An active account gets account.provisioned,
// or account.updated once its state is Provisioned; an inactive one gets
// sessions.revoked then account.suspended, unless it is already Suspended.
// Webhook apps have no account id, so the returned id is empty.
func (w *Webhook) Apply(ctx context.Context, app *identityv1alpha1.ScimApp, acct *identityv1alpha1.AppAccount, user *identityv1alpha1.ScimUser) (string, error) {
	var types []string
	switch {
	case acct.Spec.Active && acct.Status.State == identityv1alpha1.AccountProvisioned:
		types = []string{EventAccountUpdated}
	case acct.Spec.Active:
		types = []string{EventAccountProvisioned}
	case acct.Status.State == identityv1alpha1.AccountSuspended:
		return "", nil
	default:
		types = []string{EventSessionsRevoked, EventAccountSuspended}
	}
	return "", w.send(ctx, app, acct, webhookAccount(acct, user), types...)
}

// Remove implements Provisioner: it sends account.deleted, built from the
// AppAccount alone because the user may be gone.
func (w *Webhook) Remove(ctx context.Context, app *identityv1alpha1.ScimApp, acct *identityv1alpha1.AppAccount) error {
	return w.send(ctx, app, acct, webhookAccount(acct, nil), EventAccountDeleted)
}

// send delivers one event of each type, in order, stopping at the first failure.
func (w *Webhook) send(ctx context.Context, app *identityv1alpha1.ScimApp, acct *identityv1alpha1.AppAccount, account WebhookAccount, types ...string) error {
	spec := app.Spec.Provisioner.Webhook
	if spec == nil {
		return fmt.Errorf("app %s has no webhook provisioner", app.Name)
	}
	key, keyID, err := w.signingKey(ctx, app.Namespace, spec.SecretRef.Name)
	if err != nil {
		return err
	}
	for _, typ := range types {
		ev := WebhookEvent{
			ID:      webhookEventID(app, acct, typ, account),
			Type:    typ,
			Time:    w.clock().UTC().Format(time.RFC3339),
			App:     app.Namespace + "/" + app.Name,
			Account: account,
		}
		if err := w.deliver(ctx, spec.URL, key, keyID, ev); err != nil {
			return fmt.Errorf("webhook %s event: %w", typ, err)
		}
	}
	return nil
}

// signingKey reads the key and its id from the app's Secret.
func (w *Webhook) signingKey(ctx context.Context, namespace, name string) (key []byte, keyID string, err error) {
	if name == "" {
		return nil, "", errors.New("webhook secretRef names no Secret")
	}
	var s corev1.Secret
	if err := w.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "", fmt.Errorf("webhook signing key Secret %s/%s not found", namespace, name)
		}
		return nil, "", fmt.Errorf("reading webhook signing key Secret %s/%s: %w", namespace, name, err)
	}
	key = s.Data[WebhookSecretKey]
	if len(key) == 0 {
		return nil, "", fmt.Errorf("webhook signing key Secret %s/%s has no key %q (or it is empty)", namespace, name, WebhookSecretKey)
	}
	keyID = string(s.Data[WebhookSecretKeyID])
	if keyID == "" {
		keyID = name
	}
	return key, keyID, nil
}

// webhookAccount is the account as events show it. user is nil when the
// user may be gone; the account then carries what the AppAccount knows.
func webhookAccount(acct *identityv1alpha1.AppAccount, user *identityv1alpha1.ScimUser) WebhookAccount {
	a := WebhookAccount{User: acct.Spec.User, UserName: acct.Spec.UserName}
	if user == nil {
		return a
	}
	a.Active = acct.Spec.Active
	if user.Spec.UserName != "" {
		a.UserName = user.Spec.UserName
	}
	a.DisplayName = user.Spec.DisplayName
	a.ExternalID = user.Spec.ExternalID
	for _, e := range user.Spec.Emails {
		a.Emails = append(a.Emails, WebhookEmail{Value: e.Value, Type: e.Type, Primary: e.Primary})
	}
	return a
}

// webhookEventID is the idempotency key of an event: a hash of the app and
// AppAccount UIDs, the user, the event type, the AppAccount's generation and
// the account as sent. A retry of the same transition carries the same id;
// a new transition (a new generation, or changed user attributes at the
// same generation) or a re-created AppAccount gets a new one.
func webhookEventID(app *identityv1alpha1.ScimApp, acct *identityv1alpha1.AppAccount, typ string, account WebhookAccount) string {
	h := sha256.New()
	for _, s := range []string{string(app.UID), string(acct.UID), acct.Spec.User, typ, strconv.FormatInt(acct.Generation, 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	// Marshalling a struct cannot fail.
	b, _ := json.Marshal(account)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// deliver POSTs one event, retrying transient failures (connection errors,
// 429 and 5xx answers) a few times with jittered exponential backoff.
func (w *Webhook) deliver(ctx context.Context, target string, key []byte, keyID string, ev WebhookEvent) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	log := ctrl.LoggerFrom(ctx)
	base := w.backoff
	if base <= 0 {
		base = webhookBackoff
	}
	for attempt := 1; ; attempt++ {
		transient, err := w.post(ctx, target, key, keyID, ev.ID, body)
		if err == nil {
			return nil
		}
		if !transient || attempt == webhookAttempts {
			if attempt > 1 {
				return fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return err
		}
		wait := webhookJitter(base << (attempt - 1))
		log.V(1).Info("Retrying webhook delivery", "event", ev.ID, "type", ev.Type, "attempt", attempt, "wait", wait, "error", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up retrying: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// post makes one delivery attempt. transient says whether a quick retry may help.
func (w *Webhook) post(ctx context.Context, target string, key []byte, keyID, id string, body []byte) (transient bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, webhookRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold credentials
		}
		return false, fmt.Errorf("bad webhook URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "scim-operator")
	req.Header.Set(HeaderEventID, id)
	setWebhookSignature(req.Header, key, keyID, w.clock(), body)

	hc := w.HTTPClient
	if hc == nil {
		hc = webhookHTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return false, ctx.Err()
		case rctx.Err() != nil:
			// It already took the whole timeout: leave the next try to the
			// controller's backoff rather than block the worker longer.
			return false, fmt.Errorf("no answer within %s", webhookRequestTimeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold credentials
		}
		var cve *tls.CertificateVerificationError
		return !errors.As(err, &cve), err
	}
	defer func() {
		// Drain a little so that the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	transient = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
	if snippet := webhookBodySnippet(resp.Body); snippet != "" {
		return transient, fmt.Errorf("answered %s: %s", resp.Status, snippet)
	}
	return transient, fmt.Errorf("answered %s", resp.Status)
}

// webhookBodySnippet is the start of a failed answer's body on one line, at most
// webhookMaxErrorBody characters.
func webhookBodySnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 4*webhookMaxErrorBody))
	s := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b), "?"))
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > webhookMaxErrorBody {
		s = string([]rune(s)[:webhookMaxErrorBody-1]) + "…"
	}
	return s
}

func (w *Webhook) clock() time.Time {
	if w.now != nil {
		return w.now()
	}
	return time.Now()
}

// webhookJitter spreads d by ±50%.
func webhookJitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d+1)
}

// webhookSignature is the HMAC-SHA256 of timestamp + "." + body.
func webhookSignature(key []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// setWebhookSignature sets the timestamp, signature and key id headers of a delivery.
func setWebhookSignature(h http.Header, key []byte, keyID string, at time.Time, body []byte) {
	ts := strconv.FormatInt(at.Unix(), 10)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, "v1="+hex.EncodeToString(webhookSignature(key, ts, body)))
	h.Set(HeaderKeyID, keyID)
}

// VerifySignature checks a webhook delivery as a receiver should: body must
// be the raw request body, key the signing key that header's
// X-Scim-Operator-Key-Id names. It returns an error wrapping ErrBadSignature
// unless one of the "v1=" signatures (comma-separated) is the HMAC-SHA256 of
// the timestamp header + "." + body, and one wrapping ErrStaleTimestamp if
// the timestamp is more than window away from now (window <= 0 means
// DefaultReplayWindow). Receivers should also drop events whose id they have
// already processed.
func VerifySignature(key []byte, header http.Header, body []byte, now time.Time, window time.Duration) error {
	if window <= 0 {
		window = DefaultReplayWindow
	}
	if len(key) == 0 {
		return fmt.Errorf("%w: no key", ErrBadSignature)
	}
	ts := header.Get(HeaderTimestamp)
	if ts == "" {
		return fmt.Errorf("%w: no %s header", ErrBadSignature, HeaderTimestamp)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not a Unix time", ErrBadSignature, HeaderTimestamp)
	}
	sigs := header.Get(HeaderSignature)
	if sigs == "" {
		return fmt.Errorf("%w: no %s header", ErrBadSignature, HeaderSignature)
	}
	want := webhookSignature(key, ts, body)
	ok := false
	for part := range strings.SplitSeq(sigs, ",") {
		h, found := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !found {
			continue
		}
		if got, err := hex.DecodeString(h); err == nil && hmac.Equal(got, want) {
			ok = true
			break
		}
	}
	if !ok {
		return ErrBadSignature
	}
	if age := now.Sub(time.Unix(unix, 0)); age > window || age < -window {
		return fmt.Errorf("%w: signed %s ago, the window is %s", ErrStaleTimestamp, age.Truncate(time.Second), window)
	}
	return nil
}
