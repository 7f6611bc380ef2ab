package filter

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// validFilters maps inputs to their canonical String form. It covers every
// filter example of RFC 7644 §3.4.2.2 and forms sent by Entra ID and Okta.
var validFilters = []struct {
	name, in, want string
}{
	// RFC 7644 §3.4.2.2 examples.
	{"RFC: equality on userName", `userName eq "bjensen"`, `userName eq "bjensen"`},
	{"RFC: contains with an apostrophe in a sub-attribute", `name.familyName co "O'Malley"`, `name.familyName co "O'Malley"`},
	{"RFC: starts with", `userName sw "J"`, `userName sw "J"`},
	{"RFC: core URN-qualified attribute", `urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, `urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`},
	{"RFC: present", `title pr`, `title pr`},
	{"RFC: greater than a date", `meta.lastModified gt "2011-05-13T04:42:34Z"`, `meta.lastModified gt "2011-05-13T04:42:34Z"`},
	{"RFC: greater or equal to a date", `meta.lastModified ge "2011-05-13T04:42:34Z"`, `meta.lastModified ge "2011-05-13T04:42:34Z"`},
	{"RFC: less than a date", `meta.lastModified lt "2011-05-13T04:42:34Z"`, `meta.lastModified lt "2011-05-13T04:42:34Z"`},
	{"RFC: less or equal to a date", `meta.lastModified le "2011-05-13T04:42:34Z"`, `meta.lastModified le "2011-05-13T04:42:34Z"`},
	{"RFC: present and equal", `title pr and userType eq "Employee"`, `title pr and userType eq "Employee"`},
	{"RFC: present or equal", `title pr or userType eq "Intern"`, `title pr or userType eq "Intern"`},
	{"RFC: schemas equal to an extension URN", `schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`, `schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`},
	{"RFC: and with a parenthesised or", `userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`, `userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`},
	{"RFC: and not", `userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`, `userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`},
	{"RFC: redundant parentheses are dropped", `userType eq "Employee" and (emails.type eq "work")`, `userType eq "Employee" and emails.type eq "work"`},
	{"RFC: and with a complex attribute filter", `userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`, `userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`},
	{"RFC: or of two complex attribute filters", `emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`, `emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`},

	// Identity provider forms.
	{"Entra: userName with an e-mail address", `userName eq "a@b.c"`, `userName eq "a@b.c"`},
	{"Okta: upper-case operator", `userName EQ "x"`, `userName eq "x"`},
	{"Entra: unquoted externalId", `externalId eq jyoung`, `externalId eq "jyoung"`},
	{"Entra: unquoted value on a capitalised sub-attribute", `name.FamilyName eq Employee`, `name.FamilyName eq "Employee"`},
	{"Entra: value filter followed by a sub-attribute comparison", `emails[type eq "work"].value eq "a@b.c"`, `emails[type eq "work" and value eq "a@b.c"]`},
	{"Entra: group by displayName", `displayName eq "Group One"`, `displayName eq "Group One"`},
	{"Okta: lookup by id", `id eq "7c8a1f4e-8b1e-4d5a-9c3b-2f6e0a1b2c3d"`, `id eq "7c8a1f4e-8b1e-4d5a-9c3b-2f6e0a1b2c3d"`},
	{"Entra: enterprise extension attribute", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7"`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7"`},
	{"Entra: extension sub-attribute", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`},

	// Grammar details.
	{"keywords are case-insensitive", `title PR And NOT (userType Eq "x") OR active eq TRUE`, `title pr and not (userType eq "x") or active eq true`},
	{"and binds tighter than or on the left", `a pr or b pr and c pr`, `a pr or b pr and c pr`},
	{"and binds tighter than or on the right", `a pr and b pr or c pr`, `a pr and b pr or c pr`},
	{"or inside and keeps its parentheses", `(a pr or b pr) and c pr`, `(a pr or b pr) and c pr`},
	{"right-nested or keeps its parentheses", `a pr or (b pr or c pr)`, `a pr or (b pr or c pr)`},
	{"left-nested or loses its parentheses", `(a pr or b pr) or c pr`, `a pr or b pr or c pr`},
	{"double negation", `not (not (a pr))`, `not (not (a pr))`},
	{"not without a space", `not(a pr)`, `not (a pr)`},
	{"an attribute may be called not", `not pr`, `not pr`},
	{"attributes may be called and and or", `and eq "x" or or eq "y"`, `and eq "x" or or eq "y"`},
	{"tabs and extra spaces", "\t userName  \t eq\t\"x\"  and ( title pr ) ", `userName eq "x" and title pr`},
	{"no space before a string", `userName eq"x"`, `userName eq "x"`},
	{"string escapes", `displayName eq "a\"b\\c\u00e9\n"`, `displayName eq "a\"b\\cé\u000a"`},
	{"true false and null", `active eq true or active ne False or title eq NULL`, `active eq true or active ne false or title eq null`},
	{"integer", `age gt 42`, `age gt 42`},
	{"negative decimal with exponent", `x lt -1.5e3`, `x lt -1500`},
	{"large exponent", `x eq 1E21`, `x eq 1e+21`},
	{"bare word after co stays a string", `phone co 555`, `phone co "555"`},
	{"bare word that is not a JSON number", `version eq 1.2.3`, `version eq "1.2.3"`},
	{"bare URN value", `schemas eq urn:ietf:params:scim:schemas:core:2.0:User`, `schemas eq "urn:ietf:params:scim:schemas:core:2.0:User"`},
	{"$ref sub-attribute", `members.$ref pr`, `members.$ref pr`},
	{"attribute names with digits, dash and underscore", `x509Certificates pr and a-b_c pr`, `x509Certificates pr and a-b_c pr`},
	{"space before a value filter", `emails [type eq "work"]`, `emails[type eq "work"]`},
	{"value filter with not and parentheses", `emails[not (type eq "work") and (primary eq true or value pr)]`, `emails[not (type eq "work") and (primary eq true or value pr)]`},
	{"Entra form with an or inside the brackets", `emails[type eq "a" or type eq "b"].value pr`, `emails[(type eq "a" or type eq "b") and value pr]`},
	{"extension multi-valued attribute with a value filter", `urn:example:ext:1.0:User:badges[kind eq "gold"]`, `urn:example:ext:1.0:User:badges[kind eq "gold"]`},
}

func TestParseValid(t *testing.T) {
	for _, tc := range validFilters {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got := String(e); got != tc.want {
				t.Errorf("String(Parse(%q)) = %s, want %s", tc.in, got, tc.want)
			}
			again, err := Parse(String(e))
			if err != nil || !reflect.DeepEqual(again, e) {
				t.Errorf("canonical form %s does not re-parse to the same AST (err %v)", String(e), err)
			}
		})
	}
}

func TestParseAST(t *testing.T) {
	tests := []struct {
		name, in string
		want     Expr
	}{
		{"a URN is everything up to the last colon",
			`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7"`,
			&Compare{Attr: AttrPath{URN: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", Name: "employeeNumber"}, Op: OpEq, Value: "7"}},
		{"a URN-qualified sub-attribute",
			`urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw "B"`,
			&Compare{Attr: AttrPath{URN: "urn:ietf:params:scim:schemas:core:2.0:User", Name: "name", Sub: "givenName"}, Op: OpSw, Value: "B"}},
		{"names keep their case",
			`name.FamilyName eq Employee`,
			&Compare{Attr: AttrPath{Name: "name", Sub: "FamilyName"}, Op: OpEq, Value: "Employee"}},
		{"pr has no value",
			`title pr`,
			&Compare{Attr: AttrPath{Name: "title"}, Op: OpPr}},
		{"numbers are float64, booleans bool, null nil",
			`a eq 1 and b eq true and c eq null`,
			&Logical{And: true,
				Left:  &Logical{And: true, Left: &Compare{Attr: AttrPath{Name: "a"}, Op: OpEq, Value: 1.0}, Right: &Compare{Attr: AttrPath{Name: "b"}, Op: OpEq, Value: true}},
				Right: &Compare{Attr: AttrPath{Name: "c"}, Op: OpEq}}},
		{"Entra's sub-attribute after a value filter is AND-ed into the filter",
			`emails[type eq "work"].value eq "a@b.c"`,
			&ValuePath{Attr: AttrPath{Name: "emails"}, Filter: &Logical{And: true,
				Left:  &Compare{Attr: AttrPath{Name: "type"}, Op: OpEq, Value: "work"},
				Right: &Compare{Attr: AttrPath{Name: "value"}, Op: OpEq, Value: "a@b.c"}}}},
		{"not wraps its group",
			`not (a pr)`,
			&Not{X: &Compare{Attr: AttrPath{Name: "a"}, Op: OpPr}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) = %s, want %s", tc.in, String(got), String(tc.want))
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name, in string
		pos      int
		msg      string
	}{
		{"empty filter", ``, 0, `expected an attribute name, "not" or "(", found end of filter`},
		{"blank filter", `   `, 3, `found end of filter`},
		{"unknown operator", `userName foo "x"`, 9, `expected a comparison operator after "userName", found "foo"`},
		{"missing operator", `userName`, 8, `expected a comparison operator after "userName", found end of filter`},
		{"missing value", `userName eq`, 11, `expected a value after "eq", found end of filter`},
		{"missing value before a parenthesis", `(userName eq)`, 12, `expected a value after "eq", found ")"`},
		{"pr takes no value", `title pr "x"`, 9, `expected "and", "or" or end of filter, found the string "x"`},
		{"gt with true", `active gt true`, 10, `"gt" cannot compare with true; only eq and ne can`},
		{"le with null", `x le NULL`, 5, `"le" cannot compare with null`},
		{"unterminated string", `userName eq "abc`, 12, `unterminated string`},
		{"bad escape", `userName eq "a\qb"`, 12, `invalid JSON string "a\qb"`},
		{"raw control character in a string", "userName eq \"a\x01b\"", 12, `invalid JSON string`},
		{"unclosed parenthesis", `(title pr`, 9, `expected "and", "or" or ")", found end of filter`},
		{"unclosed bracket", `emails[type eq "work"`, 21, `expected "and", "or" or "]", found end of filter`},
		{"stray closing parenthesis", `title pr)`, 8, `expected "and", "or" or end of filter, found ")"`},
		{"two values", `name.familyName eq Employee Smith`, 28, `expected "and", "or" or end of filter, found "Smith"`},
		{"dangling and", `title pr and`, 12, `expected an attribute name, "not" or "(", found end of filter`},
		{"glued keyword", `title pr andx pr`, 9, `found "andx"`},
		{"not without parentheses", `not title pr`, 4, `expected "(" after "not", found "title"`},
		{"empty parentheses", `()`, 1, `expected an attribute name, "not" or "(", found ")"`},
		{"nested value filters", `emails[type[x eq 1] pr]`, 11, `value filters cannot be nested`},
		{"value filter after a sub-attribute", `name.givenName[x pr]`, 14, `a value filter cannot follow the sub-attribute "name.givenName"`},
		{"operator after a value filter", `emails[type eq "work"] eq "x"`, 23, `expected "and", "or" or end of filter, found "eq"`},
		{"missing sub-attribute after a value filter", `emails[type eq "work"]. eq "x"`, 24, `expected a sub-attribute name after ".", found "eq"`},
		{"attribute name starting with a digit", `1abc eq "x"`, 0, `expected an attribute name, found "1abc"`},
		{"attribute name with punctuation", `userName=x`, 0, `expected an attribute name, found "userName=x"`},
		{"two levels of sub-attributes", `name.a.b pr`, 5, `expected a sub-attribute name after "name", found "a.b"`},
		{"URN without an attribute name", `urn:ietf:params:scim:schemas:core:2.0:User: pr`, 43, `expected an attribute name after "urn:ietf:params:scim:schemas:core:2.0:User:"`},
		{"colon without a URN", `:userName pr`, 0, `expected a schema URN before ":"`},
		{"invalid UTF-8", "userName eq \"\xff\"", 13, `filter is not valid UTF-8`},
		{"too long", `userName eq "` + strings.Repeat("x", MaxLength) + `"`, MaxLength, `filter is 4110 bytes long, more than the maximum of 4096`},
		{"too deep with parentheses", strings.Repeat("(", MaxDepth+1) + "a pr" + strings.Repeat(")", MaxDepth+1), MaxDepth, `filter nests more than 32 levels deep`},
		{"too deep with not", strings.Repeat("not (", MaxDepth+1) + "a pr" + strings.Repeat(")", MaxDepth+1), 5*MaxDepth + 4, `nests more than 32 levels deep`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.in)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, %v; want a *SyntaxError", tc.in, e, err)
			}
			if se.Pos != tc.pos || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("Parse(%q) error = %q at %d, want %q at %d", tc.in, se.Msg, se.Pos, tc.msg, tc.pos)
			}
			if se.Input != tc.in {
				t.Errorf("Input = %q, want %q", se.Input, tc.in)
			}
		})
	}
}

func TestDeepButValidNesting(t *testing.T) {
	in := strings.Repeat("(", MaxDepth) + "a pr" + strings.Repeat(")", MaxDepth)
	if _, err := Parse(in); err != nil {
		t.Fatalf("nesting of exactly MaxDepth should parse: %v", err)
	}
}

func TestErrorText(t *testing.T) {
	_, err := Parse(`userName foo`)
	want := `expected a comparison operator after "userName", found "foo" at position 9`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	se := ToSCIM(err)
	if se.Status != http.StatusBadRequest || se.ScimType != scimerr.InvalidFilter {
		t.Errorf("ToSCIM = %d %s, want 400 invalidFilter", se.Status, se.ScimType)
	}
	if wantDetail := `invalid filter "userName foo": ` + want; se.Detail != wantDetail {
		t.Errorf("detail = %s, want %s", se.Detail, wantDetail)
	}
	if ToSCIM(nil) != nil {
		t.Error("ToSCIM(nil) should be nil")
	}
	tooMany := scimerr.New(http.StatusBadRequest, scimerr.TooMany, "x")
	if ToSCIM(tooMany) != tooMany {
		t.Error("ToSCIM should pass a *scimerr.Error through")
	}
}

func TestParseAttrPath(t *testing.T) {
	tests := []struct {
		in   string
		want AttrPath
		err  string
	}{
		{in: "userName", want: AttrPath{Name: "userName"}},
		{in: " name.givenName ", want: AttrPath{Name: "name", Sub: "givenName"}},
		{in: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.$ref", want: AttrPath{URN: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", Name: "manager", Sub: "$ref"}},
		{in: "", err: "expected an attribute name, found end of attribute path at position 0"},
		{in: "emails[type eq \"work\"]", err: `expected end of attribute path, found "[" at position 6`},
	}
	for _, tc := range tests {
		got, err := ParseAttrPath(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseAttrPath(%q) error = %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseAttrPath(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if again, _ := ParseAttrPath(got.String()); again != got {
			t.Errorf("%q does not round-trip", got.String())
		}
	}
}

func TestAttrPathEqualFold(t *testing.T) {
	a := AttrPath{URN: "urn:ietf:params:scim:schemas:core:2.0:User", Name: "name", Sub: "givenName"}
	b := AttrPath{URN: "URN:IETF:params:scim:schemas:core:2.0:user", Name: "NAME", Sub: "GIVENNAME"}
	if !a.EqualFold(b) || a.EqualFold(AttrPath{Name: "name", Sub: "givenName"}) {
		t.Error("EqualFold is wrong")
	}
}

func TestEqTerms(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // String() of each term
		simple   bool
	}{
		{"single eq", `userName eq "bjensen"`, []string{`userName eq "bjensen"`}, true},
		{"unquoted eq", `externalId eq jyoung`, []string{`externalId eq "jyoung"`}, true},
		{"eq on a number is not a term", `age eq 3`, nil, false},
		{"and-ed eq terms", `userName eq "a" and title pr and (externalId eq "b" and x eq "c")`, []string{`userName eq "a"`, `externalId eq "b"`, `x eq "c"`}, false},
		{"or hides its terms", `userName eq "a" or externalId eq "b"`, nil, false},
		{"or beside an and-ed term", `userName eq "a" and (title pr or x pr)`, []string{`userName eq "a"`}, false},
		{"not hides its term", `not (userName eq "a")`, nil, false},
		{"value path is not a term", `emails[type eq "work"].value eq "a@b.c"`, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range EqTerms(e) {
				got = append(got, String(&c))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("EqTerms = %q, want %q", got, tc.want)
			}
			attr, v, ok := SimpleEq(e)
			if ok != tc.simple {
				t.Errorf("SimpleEq ok = %v, want %v", ok, tc.simple)
			}
			if ok && String(&Compare{Attr: attr, Op: OpEq, Value: v}) != tc.want[0] {
				t.Errorf("SimpleEq = %v, %q", attr, v)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range validFilters {
		f.Add(tc.in)
	}
	for _, s := range []string{`(a pr`, `emails[type eq "work"].value`, `x eq "\ud800"`, `not (`, `a eq -0`, `a eq 1e400`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos < 0 || se.Pos > len(s) {
				t.Fatalf("Parse(%q): bad error %#v", s, err)
			}
			return
		}
		text := String(e)
		again, err := Parse(text)
		if err != nil {
			// Quoting bare words may make the text longer, and Entra's
			// attr[a or b].sub form gains a level of parentheses.
			var se *SyntaxError
			if errors.As(err, &se) && (len(text) > MaxLength || strings.Contains(se.Msg, "levels deep")) {
				t.Skip()
			}
			t.Fatalf("Parse(%q) ok, but its String %q fails: %v", s, text, err)
		}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("Parse(%q) and Parse(String) = Parse(%q) differ: %s", s, text, String(again))
		}
		_ = Match(e, map[string]any{"a": []any{map[string]any{"value": "x"}}, "userName": "x"}, nil)
	})
}
