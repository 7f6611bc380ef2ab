package store

import (
	"bufio"
	"encoding/json"
	"io"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/membership"
)

// Members is the `members` attribute of a group, inline or in shards, in a
// rendered resource. It is not a []any of maps: a group of 100,000 members
// would cost that many maps on every read, and a read that excludes members
// (as identity providers' look-ups do) should cost nothing for them. The
// HTTP layer streams it (WriteJSON); filters that need it as JSON values
// call Materialise.
type Members struct {
	view    *membership.View
	baseURL string
}

// Len is the number of members.
func (m *Members) Len() int { return m.view.Len() }

// Materialise returns the members as SCIM JSON values, $ref included.
func (m *Members) Materialise() []any {
	out := make([]any, 0, m.view.Len())
	m.view.Each(func(x identityv1alpha1.Member) bool {
		e := memberMap(x)
		e["$ref"] = m.ref(x)
		out = append(out, e)
		return true
	})
	return out
}

func (m *Members) ref(x identityv1alpha1.Member) string {
	endpoint := "Users"
	if x.Type == identityv1alpha1.MemberGroup {
		endpoint = "Groups"
	}
	return m.baseURL + "/" + endpoint + "/" + x.Value
}

// memberJSON is one member as sent; fields are omitted when empty or not
// selected.
type memberJSON struct {
	Value   string `json:"value,omitempty"`
	Ref     string `json:"$ref,omitempty"`
	Type    string `json:"type,omitempty"`
	Display string `json:"display,omitempty"`
}

// WriteJSON writes the members as a JSON array, one member at a time;
// include says which sub-attributes (value, $ref, type, display) to send.
func (m *Members) WriteJSON(w io.Writer, include func(sub string) bool) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	value, ref, typ, display := include("value"), include("$ref"), include("type"), include("display")
	if err := bw.WriteByte('['); err != nil {
		return err
	}
	first := true
	var err error
	m.view.Each(func(x identityv1alpha1.Member) bool {
		if !first {
			if err = bw.WriteByte(','); err != nil {
				return false
			}
		}
		first = false
		var j memberJSON
		if value {
			j.Value = x.Value
		}
		if ref {
			j.Ref = m.ref(x)
		}
		if typ {
			j.Type = string(x.Type)
		}
		if display {
			j.Display = x.Display
		}
		// Encode adds a newline, which JSON allows between elements.
		err = enc.Encode(j)
		return err == nil
	})
	if err != nil {
		return err
	}
	if err := bw.WriteByte(']'); err != nil {
		return err
	}
	return bw.Flush()
}

// MarshalJSON encodes all members with every sub-attribute.
func (m *Members) MarshalJSON() ([]byte, error) {
	return json.Marshal(m.Materialise())
}
