// Package token creates, finds and checks the bearer tokens identity providers
// use to call a directory's SCIM endpoint.
//
// A token is shown once, when it is created; the cluster keeps only its
// SHA-256 in a labelled Secret of the directory namespace. SHA-256 (rather
// than a slow password hash) is enough because tokens carry 256 bits of
// randomness: there is nothing to guess, and every request can be checked in
// microseconds.
package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/index"
)

// Prefix starts every token, so secret scanners can recognise a leaked one.
const Prefix = "scimop_"

// Hash returns the hex SHA-256 of a token, as stored in its Secret.
func Hash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// Generate returns a new random token.
func Generate() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Annotations on token Secrets.
const (
	// CreatedAnnotation is when the token was created (RFC 3339).
	CreatedAnnotation = "identity.scim-operator.io/created"
	// ExpiresAnnotation is when the token stops working (RFC 3339); absent means never.
	ExpiresAnnotation = "identity.scim-operator.io/expires"
	// LastUsedAnnotation is when the token last authenticated a request
	// (RFC 3339, written at most every LastUsedInterval).
	LastUsedAnnotation = "identity.scim-operator.io/last-used"
)

// ExpiringWithin is how close to its expiry a token is reported (a Warning
// Event and the directory's TokensExpiring condition).
const ExpiringWithin = 7 * 24 * time.Hour

// Expiry returns when a token Secret expires, or the zero time for never.
func Expiry(s *corev1.Secret) time.Time {
	t, _ := time.Parse(time.RFC3339, s.Annotations[ExpiresAnnotation])
	return t
}

// Create generates a token for a directory, stores its hash in a new Secret of
// the directory namespace and returns the token (the only time it is known).
// A zero ttl makes a token that does not expire.
func Create(ctx context.Context, c client.Client, dir *identityv1alpha1.ScimDirectory, name string, ttl time.Duration) (string, *corev1.Secret, error) {
	tok, err := Generate()
	if err != nil {
		return "", nil, err
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: dir.Spec.Namespace,
			Name:      SecretName(dir.Name, name),
			Labels: map[string]string{
				identityv1alpha1.TokenLabel:     "true",
				identityv1alpha1.DirectoryLabel: dir.Name,
				identityv1alpha1.TokenNameLabel: name,
			},
			Annotations: map[string]string{CreatedAnnotation: time.Now().UTC().Format(time.RFC3339)},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{identityv1alpha1.TokenHashKey: []byte(Hash(tok))},
	}
	if ttl > 0 {
		sec.Annotations[ExpiresAnnotation] = time.Now().Add(ttl).UTC().Format(time.RFC3339)
	}
	if err := c.Create(ctx, sec); err != nil {
		return "", nil, fmt.Errorf("storing token %q: %w", name, err)
	}
	return tok, sec, nil
}

// SecretName is the name of the Secret that holds a directory's named token.
func SecretName(directory, name string) string {
	return "scim-token-" + directory + "-" + name
}

// Authenticator checks bearer tokens against the token Secrets in a cache.
type Authenticator struct {
	// Reader must serve Secrets with the index.TokenHash field index.
	Reader client.Reader
}

// Identity is who a valid token speaks for.
type Identity struct {
	Directory string
	TokenName string
	// Secret names the token's Secret (namespace/name), the key of its rate limit.
	Secret string
}

// Authenticate returns the identity of tok for the directory whose namespace
// is ns, or false. A token of another directory never matches, even when both
// directories share nothing but the cache; an expired token never matches.
func (a *Authenticator) Authenticate(ctx context.Context, directory, ns, tok string) (Identity, bool, error) {
	if !strings.HasPrefix(tok, Prefix) {
		return Identity{}, false, nil
	}
	h := Hash(tok)
	var list corev1.SecretList
	if err := a.Reader.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{index.TokenHash: h}); err != nil {
		return Identity{}, false, err
	}
	for i := range list.Items {
		s := &list.Items[i]
		if s.Labels[identityv1alpha1.TokenLabel] != "true" || s.Labels[identityv1alpha1.DirectoryLabel] != directory {
			continue
		}
		if subtle.ConstantTimeCompare(s.Data[identityv1alpha1.TokenHashKey], []byte(h)) != 1 {
			continue
		}
		if exp := Expiry(s); !exp.IsZero() && !time.Now().Before(exp) {
			return Identity{}, false, nil
		}
		return Identity{Directory: directory, TokenName: s.Labels[identityv1alpha1.TokenNameLabel], Secret: s.Namespace + "/" + s.Name}, true, nil
	}
	return Identity{}, false, nil
}
