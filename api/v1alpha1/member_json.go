package v1alpha1

import (
	"encoding/json"
	"net/url"
	"strings"
)

// The stored form of a Member is one string, the way a resource.Quantity is,
// not an object: the kube-apiserver decodes, coerces, prunes and validates an
// object per member on every write of a member list, and a list of 1,000
// objects costs it about four times the CPU of the same members as strings
// (docs/performance.md). The forms are
//
//	User/<value>                 a user
//	Group/<value>                a nested group
//	<value>                      type not known (written without one)
//	User/<value> (<display>)     any of the above with a display name
//
// In <value>, "%", "/" and " " are written %25, %2F and %20, so every
// member has exactly one form (SCIM ids need none of them). A string that
// fits none of the forms reads as a member of unknown type with that value,
// so a hand edit can never stop the operator's informers.
//
// Builds before this form stored {"value", "type", "display"} objects. Under
// "type: string" the API server prunes such an item to {} when it reads it
// from etcd, so their members cannot be recovered here: {} reads as a member
// with no value, which names nothing, so the group's status counts it as
// unresolved (Ready=False, UnresolvedMembers) until the identity provider
// writes the group again (docs/upgrade.md); a fold of shards drops it.
// Keeping those objects unpruned would need untyped items, which no schema
// rule could then require to be strings (x-kubernetes-int-or-string
// excludes preserving unknown fields, and CEL does not see untyped items),
// and the shards' immutability rule would be lost with them.

const (
	memberTypeSep = '/'
	displayOpen   = " ("
	displayClose  = ')'
)

// valueEscaper escapes what would make a value ambiguous in the stored form;
// url.PathUnescape undoes it.
var valueEscaper = strings.NewReplacer("%", "%25", "/", "%2F", " ", "%20")

// String returns the member's stored form.
func (m Member) String() string {
	var b strings.Builder
	b.Grow(len(m.Type) + 1 + len(m.Value) + len(m.Display) + 3)
	if m.Type != "" {
		b.WriteString(string(m.Type))
		b.WriteByte(memberTypeSep)
	}
	b.WriteString(valueEscaper.Replace(m.Value))
	if m.Display != "" {
		b.WriteString(displayOpen)
		b.WriteString(m.Display)
		b.WriteByte(displayClose)
	}
	return b.String()
}

// ParseMember reads a member's stored form. It accepts every string: one
// that fits no form is a member of unknown type with that value, so an
// object edited by hand can never stop the operator from reading its list.
func ParseMember(s string) Member {
	var m Member
	head := s
	if i := strings.IndexByte(s, ' '); i >= 0 {
		tail := s[i:]
		if len(tail) < len(displayOpen)+1 || !strings.HasPrefix(tail, displayOpen) || tail[len(tail)-1] != displayClose {
			return Member{Value: s}
		}
		head, m.Display = s[:i], tail[len(displayOpen):len(tail)-1]
	}
	if i := strings.IndexByte(head, memberTypeSep); i >= 0 {
		switch t := MemberType(head[:i]); t {
		case MemberUser, MemberGroup:
			m.Type, head = t, head[i+1:]
		default:
			return Member{Value: s}
		}
	}
	m.Value = head
	if v, err := url.PathUnescape(head); err == nil {
		m.Value = v // a bad escape ("%zz") leaves the value as it is
	}
	return m
}

// MarshalJSON writes the member as its stored form.
func (m Member) MarshalJSON() ([]byte, error) {
	s := m.String()
	if plainJSON(s) {
		out := make([]byte, 0, len(s)+2)
		out = append(out, '"')
		out = append(out, s...)
		return append(out, '"'), nil
	}
	return json.Marshal(s)
}

// plainJSON reports whether s needs no escaping inside a JSON string (the
// common case: an id with a type prefix).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// legacyMember is the object form members had before they were strings.
type legacyMember struct {
	Value   string     `json:"value"`
	Type    MemberType `json:"type,omitempty"`
	Display string     `json:"display,omitempty"`
}

// UnmarshalJSON reads the stored form. It also reads the object form of
// earlier builds, and, so that decoding never fails on what a schema change
// or a hand edit left, anything else as a member of unknown type whose value
// is the JSON text.
func (m *Member) UnmarshalJSON(data []byte) error {
	switch {
	case len(data) >= 2 && data[0] == '"' && data[len(data)-1] == '"' && plainQuoted(data[1:len(data)-1]):
		*m = ParseMember(string(data[1 : len(data)-1]))
		return nil
	case len(data) > 0 && data[0] == '{':
		var l legacyMember
		if json.Unmarshal(data, &l) != nil {
			l = legacyMember{Value: string(data)}
		}
		*m = Member(l)
		return nil
	case string(data) == "null":
		*m = Member{}
		return nil
	case len(data) > 0 && data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*m = ParseMember(s)
		return nil
	}
	*m = Member{Value: string(data)}
	return nil
}

// plainQuoted reports whether the inside of a JSON string has no escapes.
func plainQuoted(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c == '"' || c < 0x20 {
			return false
		}
	}
	return true
}
