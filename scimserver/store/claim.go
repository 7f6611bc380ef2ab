package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// claimGrace is how long a claim whose holder does not exist yet is honoured:
// the holder may be between creating its claim and creating itself.
const claimGrace = 30 * time.Second

// claimName is the Lease that reserves a unique name, case-insensitively.
func (k *Kind) claimName(name string) string {
	sum := sha256.Sum256([]byte(fold(name)))
	return k.claimPrefix + hex.EncodeToString(sum[:20])
}

// claim reserves name for the object id, or fails with 409 uniqueness.
func (s *Store) claim(ctx context.Context, d Dir, k *Kind, name, id string) error {
	// Answer the common duplicate from the cache, without a write.
	if owner, err := s.ownerInCache(ctx, d, k, name); err != nil {
		return apiError(err)
	} else if owner != "" && owner != id {
		return duplicate(k, name)
	}
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: d.Namespace,
			Name:      k.claimName(name),
			Labels: map[string]string{
				identityv1alpha1.ClaimLabel:     k.uniqueAttr,
				identityv1alpha1.DirectoryLabel: d.Name,
			},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &id},
	}
	for attempt := 0; attempt < 3; attempt++ {
		err := s.Client.Create(ctx, lease.DeepCopy())
		if err == nil {
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return apiError(err)
		}
		held, err := s.claimHeld(ctx, d, k, name, id)
		if err != nil || held {
			if err == nil {
				err = duplicate(k, name)
			}
			return err
		}
	}
	return duplicate(k, name)
}

// claimHeld reports whether an existing claim on name belongs to another live
// object. A stale claim (its holder is gone or was renamed, e.g. after a crash
// between two writes) is deleted so the caller can try again; a claim already
// held by id is released and re-made as well.
func (s *Store) claimHeld(ctx context.Context, d Dir, k *Kind, name, id string) (bool, error) {
	var lease coordinationv1.Lease
	if err := s.APIReader.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: k.claimName(name)}, &lease); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, apiError(err)
	}
	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	if holder != id {
		obj := k.newObj()
		err := s.APIReader.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: holder}, obj)
		switch {
		case err == nil && obj.GetDeletionTimestamp() == nil && fold(k.uniqueName(obj)) == fold(name):
			return true, nil
		case err != nil && !apierrors.IsNotFound(err):
			return false, apiError(err)
		case err != nil && time.Since(lease.CreationTimestamp.Time) < claimGrace:
			return true, nil
		}
	}
	uid, rv := lease.UID, lease.ResourceVersion
	err := s.Client.Delete(ctx, &lease, &client.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return false, apiError(err)
	}
	return false, nil
}

// release drops id's claim on name. Failures are ignored: a leftover claim is
// recognised as stale by the next claimant.
func (s *Store) release(ctx context.Context, d Dir, k *Kind, name, id string) {
	var lease coordinationv1.Lease
	if err := s.APIReader.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: k.claimName(name)}, &lease); err != nil {
		return
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != id {
		return
	}
	uid := lease.UID
	_ = s.Client.Delete(ctx, &lease, &client.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
}

// ownerInCache returns the id of a cached object that already has name.
func (s *Store) ownerInCache(ctx context.Context, d Dir, k *Kind, name string) (string, error) {
	list := k.newList()
	if err := s.Client.List(ctx, list, client.InNamespace(d.Namespace), client.MatchingFields{k.uniqueIndex: fold(name)}); err != nil {
		return "", err
	}
	for _, o := range k.items(list) {
		if o.GetDeletionTimestamp() == nil {
			return o.GetName(), nil
		}
	}
	return "", nil
}

func duplicate(k *Kind, name string) error {
	return scimerr.Conflict("a %s with %s %q already exists in this directory", k.RT.ID, k.uniqueAttr, name)
}
