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

// Create generates a token for a directory, stores its hash in a new Secret of
// the directory namespace and returns the token (the only time it is known).
func Create(ctx context.Context, c client.Client, dir *identityv1alpha1.ScimDirectory, name string) (string, *corev1.Secret, error) {
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
			Annotations: map[string]string{
				"identity.scim-operator.io/created": time.Now().UTC().Format(time.RFC3339),
			},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{identityv1alpha1.TokenHashKey: []byte(Hash(tok))},
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
}

// Authenticate returns the identity of tok for the directory whose namespace
// is ns, or false. A token of another directory never matches, even when both
// directories share nothing but the cache.
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
		if subtle.ConstantTimeCompare(s.Data[identityv1alpha1.TokenHashKey], []byte(h)) == 1 {
			return Identity{Directory: directory, TokenName: s.Labels[identityv1alpha1.TokenNameLabel]}, true, nil
		}
	}
	return Identity{}, false, nil
}
