package apps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/clip"
)

const (
	// SCIMTokenKey is the key of the ScimApp's token Secret that holds the
	// bearer token for the app's SCIM endpoint.
	SCIMTokenKey = "token"
	// scimRequestTimeout bounds each request to the app.
	scimRequestTimeout = 10 * time.Second
	// scimMaxResponse bounds how much of a response is read.
	scimMaxResponse = 1 << 20
	// scimMaxDetail bounds the app's error detail quoted in an error.
	scimMaxDetail = 200

	scimMediaType  = "application/scim+json"
	scimUserURN    = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimPatchOpURN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// SCIM provisions accounts into an app that has its own SCIM 2.0 endpoint:
// the operator is the app's SCIM client. The account's id in the app is
// recorded as the AppAccount's externalId; the app's User carries the
// ScimUser's SCIM id as its externalId, so either side can correlate.
//
//   - Apply without an externalId POSTs the user; a 409 (the userName is
//     taken) adopts the existing User found by a userName filter and PATCHes
//     it to the desired state.
//   - Apply with an externalId PATCHes the User (a pathless replace); a 404
//     means the app lost it, and it is created again.
//   - Suspension is a PATCH of active to false; removal is a DELETE, for
//     which a 404 is success.
//
// The bearer token is read from the app's Secret on every call, so a
// rotated token is used at once.
type SCIM struct {
	// Reader reads the token Secret (Deps.APIReader).
	Reader client.Reader
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Timeout bounds each request; zero means 10 s.
	Timeout time.Duration
}

func newSCIM(d Deps) (Provisioner, error) {
	if d.APIReader == nil {
		return nil, errors.New("the scim provisioner needs an API reader")
	}
	return &SCIM{Reader: d.APIReader}, nil
}

// SCIMError is a non-2xx answer of the app's SCIM endpoint.
type SCIMError struct {
	Method string
	URL    string
	// Status is the HTTP status code.
	Status int
	// ScimType is the RFC 7644 §3.12 scimType, if the app sent one.
	ScimType string
	// Detail is the app's error detail (or the start of its body),
	// truncated to 200 characters.
	Detail string
}

func (e *SCIMError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scim %s %s: HTTP %d", e.Method, e.URL, e.Status)
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	if e.ScimType != "" {
		b.WriteString(" (" + e.ScimType + ")")
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// scimStatus returns the HTTP status of a *SCIMError in err's chain, or 0.
func scimStatus(err error) int {
	var e *SCIMError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// scimUser is the part of a SCIM User the provisioner writes and reads.
type scimUser struct {
	Schemas     []string                      `json:"schemas,omitempty"`
	ID          string                        `json:"id,omitempty"`
	UserName    string                        `json:"userName"`
	ExternalID  string                        `json:"externalId,omitempty"`
	Name        *identityv1alpha1.Name        `json:"name,omitempty"`
	DisplayName string                        `json:"displayName,omitempty"`
	Emails      []identityv1alpha1.MultiValue `json:"emails,omitempty"`
	Active      bool                          `json:"active"`
}

// scimListResponse is an RFC 7644 §3.4.2 ListResponse of Users.
type scimListResponse struct {
	Resources []scimUser `json:"Resources"`
}

// scimErrorBody is an RFC 7644 §3.12 error; status may be a string or a number.
type scimErrorBody struct {
	ScimType string `json:"scimType"`
	Detail   string `json:"detail"`
}

// scimConn is one call's view of an app's SCIM endpoint.
type scimConn struct {
	p     *SCIM
	base  string
	token string
}

func (p *SCIM) connect(ctx context.Context, app *identityv1alpha1.ScimApp) (*scimConn, error) {
	spec := app.Spec.Provisioner.SCIM
	if spec == nil {
		return nil, fmt.Errorf("app %s has no scim provisioner", app.Name)
	}
	u, err := url.Parse(spec.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("scim provisioner: invalid url %q: want http(s)://host/path", spec.URL)
	}
	name := spec.TokenSecretRef.Name
	if name == "" {
		return nil, errors.New("scim provisioner: tokenSecretRef.name is empty")
	}
	var s corev1.Secret
	if err := p.Reader.Get(ctx, types.NamespacedName{Namespace: app.Namespace, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("scim provisioner: token Secret %s/%s not found", app.Namespace, name)
		}
		return nil, fmt.Errorf("scim provisioner: reading token Secret %s/%s: %w", app.Namespace, name, err)
	}
	token := strings.TrimSpace(string(s.Data[SCIMTokenKey]))
	if token == "" {
		return nil, fmt.Errorf("scim provisioner: token Secret %s/%s has no key %q", app.Namespace, name, SCIMTokenKey)
	}
	return &scimConn{p: p, base: strings.TrimRight(spec.URL, "/"), token: token}, nil
}

// Apply implements Provisioner.
func (p *SCIM) Apply(ctx context.Context, app *identityv1alpha1.ScimApp, acct *identityv1alpha1.AppAccount, user *identityv1alpha1.ScimUser) (string, error) {
	if user == nil || user.Spec.UserName == "" {
		return "", fmt.Errorf("scim provisioner: account %s has no user with a userName", acct.Name)
	}
	c, err := p.connect(ctx, app)
	if err != nil {
		return "", err
	}
	if id := acct.Status.ExternalID; id != "" {
		err := c.update(ctx, id, acct, user)
		if err == nil {
			return id, nil
		}
		if scimStatus(err) != http.StatusNotFound {
			return "", err
		}
		// The app lost the account: create it again.
	}
	return c.create(ctx, acct, user)
}

// Remove implements Provisioner.
func (p *SCIM) Remove(ctx context.Context, app *identityv1alpha1.ScimApp, acct *identityv1alpha1.AppAccount) error {
	c, err := p.connect(ctx, app)
	if err != nil {
		return err
	}
	ids := []string{acct.Status.ExternalID}
	if ids[0] == "" {
		// The account may have been created without its id being recorded
		// (a failed status write): delete the app's User only if it carries
		// this user's SCIM id, so another account is never touched.
		if acct.Spec.UserName == "" {
			return nil
		}
		found, err := c.findByUserName(ctx, acct.Spec.UserName)
		if err != nil {
			return err
		}
		ids = ids[:0]
		for _, u := range found {
			if u.ExternalID == acct.Spec.User {
				ids = append(ids, u.ID)
			}
		}
	}
	for _, id := range ids {
		err := c.do(ctx, http.MethodDelete, "/Users/"+url.PathEscape(id), nil, nil)
		if err != nil && scimStatus(err) != http.StatusNotFound {
			return err
		}
	}
	return nil
}

// create POSTs the user; on a uniqueness conflict it adopts the app's User
// with the same userName.
func (c *scimConn) create(ctx context.Context, acct *identityv1alpha1.AppAccount, user *identityv1alpha1.ScimUser) (string, error) {
	body := desiredUser(acct, user)
	body.Schemas = []string{scimUserURN}
	var created scimUser
	err := c.do(ctx, http.MethodPost, "/Users", body, &created)
	switch {
	case err == nil:
		if created.ID == "" {
			return "", fmt.Errorf("scim POST %s/Users: the response has no id", c.base)
		}
		return created.ID, nil
	case scimStatus(err) != http.StatusConflict:
		return "", err
	}
	found, ferr := c.findByUserName(ctx, user.Spec.UserName)
	if ferr != nil {
		return "", fmt.Errorf("%w; looking up the existing account: %w", err, ferr)
	}
	var ids []string
	for _, u := range found {
		if strings.EqualFold(u.UserName, user.Spec.UserName) && u.ID != "" {
			ids = append(ids, u.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("%w; no account with userName %q found to adopt", err, user.Spec.UserName)
	case 1:
	default:
		return "", fmt.Errorf("%w; %d accounts with userName %q found, not adopting any", err, len(ids), user.Spec.UserName)
	}
	if err := c.update(ctx, ids[0], acct, user); err != nil {
		return "", fmt.Errorf("adopting existing account %s: %w", ids[0], err)
	}
	return ids[0], nil
}

// update PATCHes the app's User to the desired state with one pathless
// replace. An active account gets all the attributes the provisioner owns,
// with null for those the user no longer has (RFC 7643 §2.5: unassigned);
// a suspended one only gets active false, so its attributes are kept as
// they were while the user was active.
func (c *scimConn) update(ctx context.Context, id string, acct *identityv1alpha1.AppAccount, user *identityv1alpha1.ScimUser) error {
	value := map[string]any{"active": acct.Spec.Active}
	if acct.Spec.Active {
		d := desiredUser(acct, user)
		value["userName"] = d.UserName
		value["externalId"] = d.ExternalID
		value["displayName"] = orNull(d.DisplayName != "", d.DisplayName)
		value["name"] = orNull(d.Name != nil, d.Name)
		value["emails"] = orNull(len(d.Emails) > 0, d.Emails)
	}
	body := map[string]any{
		"schemas":    []string{scimPatchOpURN},
		"Operations": []map[string]any{{"op": "replace", "value": value}},
	}
	return c.do(ctx, http.MethodPatch, "/Users/"+url.PathEscape(id), body, nil)
}

func orNull(ok bool, v any) any {
	if ok {
		return v
	}
	return nil
}

// findByUserName returns the app's Users whose userName equals userName.
func (c *scimConn) findByUserName(ctx context.Context, userName string) ([]scimUser, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b) // a filter value is a JSON string (RFC 7644 §3.4.2.2)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(userName); err != nil {
		return nil, err
	}
	q := url.Values{"filter": {"userName eq " + strings.TrimSpace(b.String())}}
	var list scimListResponse
	// %20 rather than "+" for the spaces: not every server decodes "+" in a query.
	if err := c.do(ctx, http.MethodGet, "/Users?"+strings.ReplaceAll(q.Encode(), "+", "%20"), nil, &list); err != nil {
		return nil, err
	}
	return list.Resources, nil
}

// desiredUser is the app's User as the account wants it.
func desiredUser(acct *identityv1alpha1.AppAccount, user *identityv1alpha1.ScimUser) scimUser {
	u := scimUser{
		UserName:    user.Spec.UserName,
		ExternalID:  user.Name, // the ScimUser's SCIM id
		DisplayName: user.Spec.DisplayName,
		Emails:      user.Spec.Emails,
		Active:      acct.Spec.Active,
	}
	if u.ExternalID == "" {
		u.ExternalID = acct.Spec.User
	}
	if n := user.Spec.Name; n != nil && *n != (identityv1alpha1.Name{}) {
		u.Name = n
	}
	return u
}

// do sends one request to the app and decodes a 2xx response into out.
func (c *scimConn) do(ctx context.Context, method, rel string, in, out any) error {
	timeout := c.p.Timeout
	if timeout <= 0 {
		timeout = scimRequestTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	target := c.base + rel
	shown := target
	if u, err := url.Parse(target); err == nil {
		shown = u.Redacted()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return fmt.Errorf("scim %s %s: %w", method, shown, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", scimMediaType)
	req.Header.Set("User-Agent", "scim-operator")
	if in != nil {
		req.Header.Set("Content-Type", scimMediaType)
	}
	hc := c.p.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is said once, below
		}
		return fmt.Errorf("scim %s %s: %w", method, shown, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, scimMaxResponse))
	if err != nil {
		return fmt.Errorf("scim %s %s: reading the response: %w", method, shown, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &SCIMError{Method: method, URL: shown, Status: resp.StatusCode}
		var eb scimErrorBody
		if json.Unmarshal(data, &eb) == nil && (eb.Detail != "" || eb.ScimType != "") {
			e.ScimType, e.Detail = truncateDetail(eb.ScimType), truncateDetail(eb.Detail)
		} else {
			e.Detail = truncateDetail(string(data))
		}
		return e
	}
	if out == nil {
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("scim %s %s: HTTP %d with an empty body", method, shown, resp.StatusCode)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("scim %s %s: decoding the response: %w", method, shown, err)
	}
	return nil
}

// truncateDetail makes s one line of at most scimMaxDetail bytes.
func truncateDetail(s string) string {
	return clip.String(strings.Join(strings.Fields(s), " "), scimMaxDetail)
}
