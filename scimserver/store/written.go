package store

import (
	"context"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Written names the object a SCIM write stored and the resource version it
// got. A replica that forwarded the write to the leader waits until its own
// cache holds that version before it answers, so read-your-writes holds on
// every replica, not only on the one that wrote.
type Written struct {
	Kind            *Kind
	Key             client.ObjectKey
	ResourceVersion string
	Deleted         bool
}

type writtenKey struct{}

// WithWriteRecord returns a context in which the store records the write it
// makes into the returned Written (left zero when nothing was written).
func WithWriteRecord(ctx context.Context) (context.Context, *Written) {
	w := &Written{}
	return context.WithValue(ctx, writtenKey{}, w), w
}

func recordWrite(ctx context.Context, k *Kind, obj client.Object, deleted bool) {
	if w, ok := ctx.Value(writtenKey{}).(*Written); ok {
		*w = Written{Kind: k, Key: client.ObjectKeyFromObject(obj), ResourceVersion: obj.GetResourceVersion(), Deleted: deleted}
	}
}

// String encodes w for a response header: "<endpoint> <namespace> <name>
// <resourceVersion> [deleted]".
func (w Written) String() string {
	if w.Kind == nil {
		return ""
	}
	s := fmt.Sprintf("%s %s %s %s", w.Kind.Endpoint, w.Key.Namespace, w.Key.Name, w.ResourceVersion)
	if w.Deleted {
		s += " deleted"
	}
	return s
}

// ParseWritten decodes what Written.String encoded.
func ParseWritten(s string) (Written, bool) {
	f := strings.Fields(s)
	if len(f) != 4 && (len(f) != 5 || f[4] != "deleted") {
		return Written{}, false
	}
	var k *Kind
	for _, c := range []*Kind{Users, Groups} {
		if c.Endpoint == f[0] {
			k = c
		}
	}
	if k == nil {
		return Written{}, false
	}
	return Written{Kind: k, Key: client.ObjectKey{Namespace: f[1], Name: f[2]}, ResourceVersion: f[3], Deleted: len(f) == 5}, true
}

// WaitWritten waits until this replica's cache shows w (bounded by
// SyncTimeout) and reports whether it does.
func (s *Store) WaitWritten(ctx context.Context, w Written) bool {
	if w.Kind == nil {
		return true
	}
	obj := w.Kind.newObj()
	obj.SetNamespace(w.Key.Namespace)
	obj.SetName(w.Key.Name)
	obj.SetResourceVersion(w.ResourceVersion)
	return s.waitSynced(ctx, w.Kind, obj, w.Deleted)
}
