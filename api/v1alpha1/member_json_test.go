package v1alpha1

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMemberStoredForm(t *testing.T) {
	id := "2819c223-7f76-453a-919d-413861904646"
	cases := []struct {
		m    Member
		want string
	}{
		{Member{Value: id, Type: MemberUser}, "User/" + id},
		{Member{Value: id, Type: MemberGroup}, "Group/" + id},
		{Member{Value: id}, id},
		{Member{Value: id, Type: MemberUser, Display: "Barbara Jensen (HR)"}, "User/" + id + " (Barbara Jensen (HR))"},
		{Member{Value: "a/b c%d"}, "a%2Fb%20c%25d"},
		{Member{Value: "User/x"}, "User%2Fx"},
		{Member{Value: "x", Display: "a/b"}, "x (a/b)"},
	}
	for _, c := range cases {
		if got := c.m.String(); got != c.want {
			t.Errorf("%+v: stored as %q, want %q", c.m, got, c.want)
		}
		if got := ParseMember(c.want); got != c.m {
			t.Errorf("%q: read as %+v, want %+v", c.want, got, c.m)
		}
	}
}

func TestParseMemberReadsAnyString(t *testing.T) {
	// Strings no writer of the operator produces (edited by hand) read as a
	// member of unknown type with that value, never as an error.
	for _, s := range []string{"Robot/x", "x y", "x (y", "User/x trailing", "%zz", "%4", ""} {
		want := Member{Value: s} // bad escapes ("%zz") stay as they are too
		if got := ParseMember(s); got != want {
			t.Errorf("%q: read as %+v, want %+v", s, got, want)
		}
	}
}

func TestMemberJSON(t *testing.T) {
	in := []Member{
		{Value: "u1", Type: MemberUser},
		{Value: "g1", Type: MemberGroup, Display: `Ops "on call" <all>`},
		{Value: "raw"},
	}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `["User/u1","Group/g1 (Ops \"on call\" \u003call\u003e)","raw"]`; string(raw) != want {
		t.Errorf("marshalled %s, want %s", raw, want)
	}
	var out []Member
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("read %d members, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i] != in[i] {
			t.Errorf("member %d: read %+v, want %+v", i, out[i], in[i])
		}
	}
}

func TestMemberReadsTheLegacyObjectForm(t *testing.T) {
	var out []Member
	if err := json.Unmarshal([]byte(`[{"value":"u1","type":"User","display":"A"},{"value":"g1","type":"Group"},null]`), &out); err != nil {
		t.Fatal(err)
	}
	want := []Member{{Value: "u1", Type: MemberUser, Display: "A"}, {Value: "g1", Type: MemberGroup}, {}}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("member %d: read %+v, want %+v", i, out[i], want[i])
		}
	}
	// Whatever else a schema change or a hand edit left reads as a member
	// rather than stopping the informer.
	if err := json.Unmarshal([]byte(`[42,true,["x"],{"value":7}]`), &out); err != nil || fmt.Sprint(out) != `[42 true ["x"] {"value":7}]` {
		t.Errorf("a number, a boolean, a list and a bad object read as %v, %v", out, err)
	}
}

// FuzzMemberForm checks that every member the operator can hold is stored
// as one string that reads back as the same member, through JSON as well.
func FuzzMemberForm(f *testing.F) {
	f.Add("2819c223-7f76-453a-919d-413861904646", "User", "Barbara Jensen")
	f.Add("a/b c%d", "", "x) (y")
	f.Add("", "Group", " (")
	f.Fuzz(func(t *testing.T, value, typ, display string) {
		switch MemberType(typ) {
		case "", MemberUser, MemberGroup:
		default:
			typ = ""
		}
		m := Member{Value: value, Type: MemberType(typ), Display: display}
		s := m.String()
		if got := ParseMember(s); got != m {
			t.Fatalf("%+v stored as %q reads as %+v", m, s, got)
		}
		if !utf8.ValidString(value) || !utf8.ValidString(display) {
			return // JSON replaces invalid UTF-8
		}
		raw, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var back Member
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if back != m {
			t.Fatalf("%+v through JSON %s reads as %+v", m, raw, back)
		}
		if strings.Count(s[:strings.IndexByte(s+" ", ' ')], "/") > 1 {
			t.Fatalf("%q: a value's slash was not escaped", s)
		}
	})
}
