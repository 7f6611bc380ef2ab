package schema

import (
	"encoding/json"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// FuzzNormalize feeds arbitrary JSON objects through Normalize, Validate and
// Project: none may panic, every error must be a SCIM error, and a
// normalized resource must be a fixed point of Normalize.
func FuzzNormalize(f *testing.F) {
	f.Add([]byte(entraPost))
	f.Add([]byte(oktaPut))
	f.Add([]byte(storedUser))
	f.Add([]byte(`{"displayName": "G", "members": [{"value": "u1", "type": "User"}, "u2", null]}`))
	f.Add([]byte(`{"` + ent + `:manager": ["m"], "name.givenName": "x", "emails": {"primary": "TRUE"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var in map[string]any
		if json.Unmarshal(data, &in) != nil {
			return
		}
		for _, rt := range []*ResourceType{UserResourceType, GroupResourceType} {
			for _, opts := range []NormalizeOptions{{}, {DropReadOnly: true}} {
				out, err := Normalize(rt, in, opts)
				if err != nil {
					if _, ok := scimerr.As(err); !ok {
						t.Fatalf("non-SCIM error %v", err)
					}
					continue
				}
				again, err := Normalize(rt, out, opts)
				if err != nil {
					t.Fatalf("normalized resource rejected: %v", err)
				}
				a, _ := json.Marshal(out)
				b, _ := json.Marshal(again)
				if string(a) != string(b) {
					t.Fatalf("Normalize is not idempotent:\n%s\n%s", a, b)
				}
				_ = Validate(rt, out)
				Project(rt, out, []string{"userName", "emails.value", ent}, []string{"meta"})
			}
		}
	})
}
