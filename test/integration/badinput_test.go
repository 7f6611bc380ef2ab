package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/uuid"
)

// snapshot is what a rejected request must leave unchanged.
type snapshot struct {
	users, groups, leases int
	user, group           string // spec, generation and annotations of the fixtures
}

func (c *scimClient) snapshot(userID, groupID string) snapshot {
	c.t.Helper()
	u, g := c.user(userID), c.group(groupID)
	us, _ := json.Marshal([]any{u.Spec, u.Generation, u.Annotations})
	gs, _ := json.Marshal([]any{g.Spec, g.Generation, g.Annotations})
	return snapshot{c.countUsers(), c.countGroups(), c.countLeases(), string(us), string(gs)}
}

// TestBadInputIsA4xxAndWritesNothing sends every kind of malformed request
// and checks that each gets a SCIM error with the right status and scimType
// (never a 500, never a panic) and leaves the directory exactly as it was.
func TestBadInputIsA4xxAndWritesNothing(t *testing.T) {
	c := newDirectory(t)
	uid := c.createUser("ann@example.com", map[string]any{
		"displayName": "Ann",
		"emails":      []any{map[string]any{"value": "ann@example.com", "type": "work"}},
	})
	other := c.createUser("bob@example.com", nil)
	gid := c.createGroup("team", uid)
	before := c.snapshot(uid, gid)

	long := func(n int) string { return strings.Repeat("a", n) }
	manyEmails := make([]any, 33)
	for i := range manyEmails {
		manyEmails[i] = map[string]any{"value": "e@x"}
	}
	big := `{"userName": "big", "displayName": "` + long(1<<20) + `"}`
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	patch := func(ops ...map[string]any) map[string]any { return patchOps(ops...) }

	type tc struct {
		name     string
		method   string
		path     string
		body     any
		headers  []string
		status   int
		scimType string
		detail   string // a substring the detail must hold
	}
	users, user, group := "/Users", "/Users/"+uid, "/Groups/"+gid
	cases := []tc{
		// Bodies.
		{name: "malformed JSON", method: "POST", path: users, body: `{"userName": `, status: 400, scimType: "invalidSyntax"},
		{name: "malformed JSON names the byte", method: "POST", path: users, body: `{"userName": "x",, }`, status: 400, scimType: "invalidSyntax", detail: "byte"},
		{name: "an array body", method: "POST", path: users, body: `[{"userName": "x"}]`, status: 400, scimType: "invalidSyntax"},
		{name: "a string body", method: "POST", path: users, body: `"x"`, status: 400, scimType: "invalidSyntax"},
		{name: "a number body", method: "POST", path: users, body: `5`, status: 400, scimType: "invalidSyntax"},
		{name: "a null body", method: "POST", path: users, body: `null`, status: 400, scimType: "invalidSyntax"},
		{name: "an empty body", method: "POST", path: users, body: ``, status: 400, scimType: "invalidSyntax"},
		{name: "two objects", method: "POST", path: users, body: `{"userName": "x"} {"userName": "y"}`, status: 400, scimType: "invalidSyntax"},
		{name: "nesting beyond the JSON decoder's depth", method: "POST", path: users, body: `{"userName": "x", "name": ` + deep + `}`, status: 400, scimType: "invalidSyntax"},
		{name: "a number beyond float64", method: "POST", path: users, body: `{"userName": "x", "active": 1e400}`, status: 400, scimType: "invalidSyntax"},
		{name: "invalid UTF-8 in a string does not trip the decoder", method: "POST", path: users, body: "{\"userName\": \"\xff\xfe\", \"active\": 5}", status: 400, scimType: "invalidValue"},
		{name: "no userName", method: "POST", path: users, body: map[string]any{"displayName": "x"}, status: 400, scimType: "invalidValue", detail: "userName"},
		{name: "a blank userName", method: "POST", path: users, body: map[string]any{"userName": "  "}, status: 400, scimType: "invalidValue"},
		{name: "active is a number", method: "POST", path: users, body: map[string]any{"userName": "x", "active": 5}, status: 400, scimType: "invalidValue", detail: "active"},
		{name: "active is a word", method: "POST", path: users, body: map[string]any{"userName": "x", "active": "yes"}, status: 400, scimType: "invalidValue"},
		// "emails": "x" is not here: schema.Normalize deliberately reads a bare
		// string for a multi-valued complex attribute as [{"value": "x"}]
		// (like "members": ["id"]), so it is stored as an address.
		{name: "emails is a boolean", method: "POST", path: users, body: map[string]any{"userName": "x", "emails": true}, status: 400, scimType: "invalidValue", detail: "emails"},
		{name: "emails is an object of the wrong shape", method: "POST", path: users, body: map[string]any{"userName": "x", "emails": map[string]any{"value": []any{"a", "b"}}}, status: 400, scimType: "invalidValue"},
		{name: "emails holds a number", method: "POST", path: users, body: map[string]any{"userName": "x", "emails": []any{5}}, status: 400, scimType: "invalidValue"},
		{name: "name is a string", method: "POST", path: users, body: map[string]any{"userName": "x", "name": "Bob"}, status: 400, scimType: "invalidValue"},
		{name: "userName is an object", method: "POST", path: users, body: map[string]any{"userName": map[string]any{"a": 1}}, status: 400, scimType: "invalidValue"},
		{name: "two primary emails", method: "POST", path: users, body: map[string]any{"userName": "x", "emails": []any{map[string]any{"value": "a@x", "primary": true}, map[string]any{"value": "b@x", "primary": true}}}, status: 400, scimType: "invalidValue"},
		{name: "the enterprise extension is a string", method: "POST", path: users, body: map[string]any{"userName": "x", enterpriseURN: "x"}, status: 400, scimType: "invalidValue"},
		{name: "a userName beyond the CRD's MaxLength", method: "POST", path: users, body: map[string]any{"userName": long(300)}, status: 400, scimType: "invalidValue", detail: "userName"},
		{name: "an externalId beyond the CRD's MaxLength", method: "POST", path: users, body: map[string]any{"userName": "x", "externalId": long(300)}, status: 400, scimType: "invalidValue"},
		{name: "more emails than the CRD allows", method: "POST", path: users, body: map[string]any{"userName": "x", "emails": manyEmails}, status: 400, scimType: "invalidValue"},
		{name: "a group without displayName", method: "POST", path: "/Groups", body: map[string]any{"members": []any{}}, status: 400, scimType: "invalidValue"},
		{name: "a group member that does not exist", method: "POST", path: "/Groups", body: map[string]any{"displayName": "g2", "members": []any{map[string]any{"value": string(uuid.NewUUID())}}}, status: 400, scimType: "invalidValue"},
		{name: "a group member that is no id", method: "POST", path: "/Groups", body: map[string]any{"displayName": "g2", "members": []any{map[string]any{"value": "nobody"}}}, status: 400, scimType: "invalidValue"},
		{name: "a group member of an unknown type", method: "POST", path: "/Groups", body: map[string]any{"displayName": "g2", "members": []any{map[string]any{"value": uid, "type": "Robot"}}}, status: 400, scimType: "invalidValue"},
		{name: "a user member typed as a group", method: "POST", path: "/Groups", body: map[string]any{"displayName": "g2", "members": []any{map[string]any{"value": uid, "type": "Group"}}}, status: 400, scimType: "invalidValue"},
		{name: "a duplicate userName", method: "POST", path: users, body: map[string]any{"userName": "ANN@example.com"}, status: 409, scimType: "uniqueness"},
		{name: "PUT with a malformed body", method: "PUT", path: user, body: `{"userName"`, status: 400, scimType: "invalidSyntax"},
		{name: "PUT without userName", method: "PUT", path: user, body: map[string]any{"displayName": "Ann"}, status: 400, scimType: "invalidValue"},
		{name: "PUT with a wrong type", method: "PUT", path: user, body: map[string]any{"userName": "ann@example.com", "active": []any{true, false}}, status: 400, scimType: "invalidValue"},
		{name: "PUT with a taken userName", method: "PUT", path: user, body: map[string]any{"userName": "BOB@example.com"}, status: 409, scimType: "uniqueness"},
		{name: "PUT with a userName beyond the CRD's MaxLength", method: "PUT", path: user, body: map[string]any{"userName": long(300)}, status: 400, scimType: "invalidValue"},

		// PATCH requests.
		{name: "PATCH with malformed JSON", method: "PATCH", path: user, body: `{"Operations": [`, status: 400, scimType: "invalidSyntax"},
		{name: "PATCH with an array body", method: "PATCH", path: user, body: `[]`, status: 400, scimType: "invalidSyntax"},
		{name: "PATCH without operations", method: "PATCH", path: user, body: map[string]any{"Operations": []any{}}, status: 400, scimType: "invalidSyntax"},
		{name: "PATCH with Operations as a string", method: "PATCH", path: user, body: map[string]any{"Operations": "x"}, status: 400, scimType: "invalidSyntax"},
		{name: "PATCH with a wrong schema", method: "PATCH", path: user, body: map[string]any{"schemas": []string{userURN}, "Operations": []any{op("replace", "title", "x")}}, status: 400, scimType: "invalidSyntax"},
		{name: "PATCH with an unknown op", method: "PATCH", path: user, body: patch(op("move", "title", "x")), status: 400, scimType: "invalidSyntax"},
		{name: "PATCH with op as a number", method: "PATCH", path: user, body: `{"Operations": [{"op": 1, "path": "title", "value": "x"}]}`, status: 400, scimType: "invalidSyntax"},
		{name: "PATCH add without a value", method: "PATCH", path: user, body: patch(op("add", "title", nil)), status: 400, scimType: "invalidValue"},
		{name: "PATCH with a malformed path", method: "PATCH", path: user, body: patch(op("replace", `emails[type eq "work"`, "x")), status: 400, scimType: "invalidPath", detail: "position"},
		{name: "PATCH of an unknown attribute", method: "PATCH", path: user, body: patch(op("replace", "shoeSize", "x")), status: 400, scimType: "invalidPath"},
		{name: "PATCH of an unknown sub-attribute", method: "PATCH", path: user, body: patch(op("replace", "name.nick", "x")), status: 400, scimType: "invalidPath"},
		{name: "PATCH with a filter on a single-valued attribute", method: "PATCH", path: user, body: patch(op("replace", `name[givenName eq "Ann"].familyName`, "x")), status: 400, scimType: "invalidPath"},
		{name: "PATCH replace with a filter matching nothing", method: "PATCH", path: user, body: patch(op("replace", `emails[type eq "home"]`, map[string]any{"value": "h@x"})), status: 400, scimType: "noTarget"},
		{name: "PATCH remove without a path", method: "PATCH", path: user, body: patch(op("remove", "", nil)), status: 400, scimType: "noTarget"},
		{name: "PATCH of id", method: "PATCH", path: user, body: patch(op("replace", "id", string(uuid.NewUUID()))), status: 400, scimType: "mutability"},
		{name: "PATCH of meta", method: "PATCH", path: user, body: patch(op("replace", "meta", map[string]any{"version": "x"})), status: 400, scimType: "mutability"},
		{name: "PATCH of meta.lastModified", method: "PATCH", path: user, body: patch(op("add", "meta.lastModified", "2020-01-01T00:00:00Z")), status: 400, scimType: "mutability"},
		{name: "PATCH of groups", method: "PATCH", path: user, body: patch(op("add", "groups", []any{map[string]any{"value": gid}})), status: 400, scimType: "mutability"},
		{name: "PATCH with a wrong value type", method: "PATCH", path: user, body: patch(op("replace", "active", "maybe")), status: 400, scimType: "invalidValue"},
		{name: "PATCH pathless with a non-object value", method: "PATCH", path: user, body: patch(op("replace", "", "x")), status: 400, scimType: "invalidValue"},
		{name: "PATCH removing userName", method: "PATCH", path: user, body: patch(op("remove", "userName", nil)), status: 400, scimType: "invalidValue"},
		{name: "PATCH to a taken userName", method: "PATCH", path: user, body: patch(op("replace", "userName", "bob@EXAMPLE.com")), status: 409, scimType: "uniqueness"},
		{name: "PATCH to a userName beyond the CRD's MaxLength", method: "PATCH", path: user, body: patch(op("replace", "userName", long(300))), status: 400, scimType: "invalidValue"},
		{name: "PATCH whose second operation fails", method: "PATCH", path: user, body: patch(op("replace", "displayName", "Changed"), op("replace", "nope", "x")), status: 400, scimType: "invalidPath", detail: "operation 2"},
		{name: "PATCH whose last operation breaks the resource", method: "PATCH", path: user, body: patch(op("replace", "displayName", "Changed"), op("remove", "userName", nil)), status: 400, scimType: "invalidValue"},
		{name: "PATCH of a group member to an unknown user", method: "PATCH", path: group, body: patch(op("add", "members", []any{map[string]any{"value": string(uuid.NewUUID())}})), status: 400, scimType: "invalidValue"},
		{name: "PATCH of a group member's value", method: "PATCH", path: group, body: patch(op("replace", `members[value eq "`+uid+`"].value`, other)), status: 400, scimType: "mutability"},
		{name: "PATCH making a group its own member", method: "PATCH", path: group, body: patch(op("add", "members", []any{map[string]any{"value": gid}})), status: 400, scimType: "invalidValue"},
		{name: "PATCH of a group, second op fails", method: "PATCH", path: group, body: patch(op("remove", "members", nil), op("add", "members", []any{map[string]any{"value": "nobody"}})), status: 400, scimType: "invalidValue"},

		// Filters, paging and sorting.
		{name: "a filter without a value", method: "GET", path: users + "?filter=" + url.QueryEscape(`userName eq`), status: 400, scimType: "invalidFilter", detail: "position 11"},
		{name: "a filter with an unknown operator", method: "GET", path: users + "?filter=" + url.QueryEscape(`userName is "x"`), status: 400, scimType: "invalidFilter", detail: "position 9"},
		{name: "a filter with an unclosed parenthesis", method: "GET", path: users + "?filter=" + url.QueryEscape(`(userName eq "x"`), status: 400, scimType: "invalidFilter", detail: "position"},
		{name: "a filter with a dangling and", method: "GET", path: users + "?filter=" + url.QueryEscape(`userName eq "x" and`), status: 400, scimType: "invalidFilter", detail: "position"},
		{name: "a filter with an unterminated string", method: "GET", path: users + "?filter=" + url.QueryEscape(`userName eq "x`), status: 400, scimType: "invalidFilter", detail: "position 12"},
		{name: "a filter with an unclosed value filter", method: "GET", path: users + "?filter=" + url.QueryEscape(`emails[type eq "work"`), status: 400, scimType: "invalidFilter", detail: "position"},
		{name: "a filter with nested value filters", method: "GET", path: users + "?filter=" + url.QueryEscape(`emails[type[value eq "x"] eq "y"]`), status: 400, scimType: "invalidFilter"},
		{name: "a filter of invalid UTF-8", method: "GET", path: users + "?filter=userName%20eq%20%22%ff%22", status: 400, scimType: "invalidFilter"},
		{name: "a filter nested too deep", method: "GET", path: users + "?filter=" + url.QueryEscape(strings.Repeat("(", 100)+`userName eq "x"`+strings.Repeat(")", 100)), status: 400, scimType: "invalidFilter"},
		{name: "a filter too long", method: "GET", path: users + "?filter=" + url.QueryEscape(`userName eq "`+long(5000)+`"`), status: 400, scimType: "invalidFilter"},
		{name: "gt with a boolean", method: "GET", path: users + "?filter=" + url.QueryEscape(`active gt true`), status: 400, scimType: "invalidFilter"},
		{name: "an invalid filter in .search", method: "POST", path: users + "/.search", body: map[string]any{"filter": `userName eq`}, status: 400, scimType: "invalidFilter"},
		{name: "a .search filter that is no string", method: "POST", path: users + "/.search", body: map[string]any{"filter": 5}, status: 400, scimType: "invalidValue"},
		{name: "a .search with a malformed body", method: "POST", path: users + "/.search", body: `{"filter": `, status: 400, scimType: "invalidSyntax"},
		{name: "a .search count as a word", method: "POST", path: users + "/.search", body: map[string]any{"count": "abc"}, status: 400, scimType: "invalidValue"},
		{name: "a .search startIndex as a boolean", method: "POST", path: users + "/.search", body: map[string]any{"startIndex": true}, status: 400, scimType: "invalidValue"},
		{name: "a .search count as a fraction", method: "POST", path: users + "/.search", body: map[string]any{"count": 1.5}, status: 400, scimType: "invalidValue"},
		{name: "count as a word", method: "GET", path: users + "?count=abc", status: 400, scimType: "invalidValue", detail: "count"},
		{name: "startIndex as a word", method: "GET", path: users + "?startIndex=abc", status: 400, scimType: "invalidValue", detail: "startIndex"},
		{name: "count beyond int64", method: "GET", path: users + "?count=99999999999999999999999", status: 400, scimType: "invalidValue"},
		{name: "an empty count", method: "GET", path: users + "?count=", status: 400, scimType: "invalidValue"},
		{name: "sortOrder unknown", method: "GET", path: users + "?sortOrder=up", status: 400, scimType: "invalidValue"},
		{name: "sortBy no attribute path", method: "GET", path: users + "?sortBy=" + url.QueryEscape(`emails[`), status: 400, scimType: "invalidValue"},

		// Headers, sizes and methods.
		{name: "an unsupported Content-Type", method: "POST", path: users, body: map[string]any{"userName": "x"}, headers: []string{"Content-Type", "text/plain"}, status: 415},
		{name: "a malformed Content-Type", method: "PATCH", path: user, body: patch(op("replace", "title", "x")), headers: []string{"Content-Type", "application/;;"}, status: 415},
		{name: "form-encoded PUT", method: "PUT", path: user, body: "userName=x", headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415},
		{name: "an unacceptable Accept", method: "POST", path: users, body: map[string]any{"userName": "x"}, headers: []string{"Accept", "text/html"}, status: 406},
		{name: "an unacceptable Accept on GET", method: "GET", path: user, headers: []string{"Accept", "application/xml"}, status: 406},
		{name: "an oversized POST", method: "POST", path: users, body: big, status: 413},
		{name: "an oversized PUT", method: "PUT", path: user, body: big, status: 413},
		{name: "an oversized PATCH", method: "PATCH", path: user, body: big, status: 413},
		{name: "an unknown method", method: "FROB", path: users, status: 405},
		{name: "DELETE of the collection", method: "DELETE", path: users, status: 405},
		{name: "PUT of the collection", method: "PUT", path: "/Groups", body: map[string]any{"displayName": "x"}, status: 405},
		{name: "POST to a resource", method: "POST", path: user, body: map[string]any{"userName": "x"}, status: 405},
		{name: "POST to discovery", method: "POST", path: "/ServiceProviderConfig", body: map[string]any{}, status: 405},
		{name: "Bulk is not supported", method: "POST", path: "/Bulk", body: map[string]any{}, status: 404},

		// Ids and paths.
		{name: "a non-UUID id", method: "GET", path: users + "/12345", status: 404},
		{name: "an upper-case UUID", method: "GET", path: users + "/" + strings.ToUpper(uid), status: 404},
		{name: "an id with an escaped slash", method: "GET", path: users + "/a%2Fb", status: 404},
		{name: "an id with a NUL", method: "DELETE", path: users + "/%00", status: 404},
		{name: "a user id at /Groups", method: "GET", path: "/Groups/" + uid, status: 404},
		{name: "a group id at /Users", method: "DELETE", path: "/Users/" + gid, status: 404},
		{name: "PATCH of an unknown id", method: "PATCH", path: users + "/" + string(uuid.NewUUID()), body: patch(op("replace", "title", "x")), status: 404},
		{name: "PUT of a non-UUID id", method: "PUT", path: users + "/x", body: map[string]any{"userName": "x"}, status: 404},
		{name: "a path below a resource", method: "GET", path: user + "/emails", status: 404},
		{name: "an unknown endpoint", method: "GET", path: "/Robots", status: 404},

		// Conditional requests.
		{name: "PATCH with a stale If-Match", method: "PATCH", path: user, body: patch(op("replace", "title", "x")), headers: []string{"If-Match", `W/"12345"`}, status: 412},
		{name: "DELETE with a stale If-Match", method: "DELETE", path: group, headers: []string{"If-Match", `W/"12345"`}, status: 412},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			r := c.do(tt.method, tt.path, tt.body, tt.headers...)
			r.expect(t, tt.status)
			if tt.scimType != "" && r.Body["scimType"] != tt.scimType {
				t.Errorf("scimType %v, want %s: %s", r.Body["scimType"], tt.scimType, r.Raw)
			}
			if d := r.str("detail"); d == "" || !strings.Contains(d, tt.detail) {
				t.Errorf("detail %q should hold %q", d, tt.detail)
			}
			if after := c.snapshot(uid, gid); after != before {
				t.Errorf("the request changed the directory:\nbefore %+v\nafter  %+v", before, after)
				before = after
			}
		})
	}
}

// TestRequestsOutsideADirectoryAreAnsweredWithoutLeakingIt checks the paths
// no directory client can reach.
func TestRequestsOutsideADirectoryAreAnsweredWithoutLeakingIt(t *testing.T) {
	c := newDirectory(t)
	for _, tt := range []struct{ path, token string }{
		{"/scim/v2/no-such-directory/Users", c.token},
		{"/scim/v2/no-such-directory/Users", ""},
	} {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://"+env.SCIMAddr+tt.path, nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d", tt.path, resp.StatusCode)
		}
	}
	// Another directory's token does not open this one.
	d := newDirectory(t)
	d.token = c.token
	d.do("GET", "/Users", nil).expect(t, 401)
	d.do("POST", "/Users", map[string]any{"userName": "x"}).expect(t, 401)
	if n := d.countUsers(); n != 0 {
		t.Fatalf("%d users written with a foreign token", n)
	}
	// Outside the SCIM base path.
	resp, err := httpClient.Get("http://" + env.SCIMAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
}

// TestUnknownAttributesAreIgnoredAndNotStored: IdPs send extras; they are
// dropped without failing the request.
func TestUnknownAttributesAreIgnoredAndNotStored(t *testing.T) {
	c := newDirectory(t)
	r := c.do("POST", "/Users", map[string]any{
		"schemas":                     []string{userURN, "urn:example:custom:1.0:User"},
		"userName":                    "ann@example.com",
		"shoeSize":                    42,
		"name":                        map[string]any{"givenName": "Ann", "nick": "A"},
		"urn:example:custom:1.0:User": map[string]any{"badge": 7},
		enterpriseURN:                 map[string]any{"department": "R&D", "badge": 7},
	}).expect(t, 201)
	for _, k := range []string{"shoeSize", "urn:example:custom:1.0:User"} {
		if _, ok := r.Body[k]; ok {
			t.Errorf("%s returned: %s", k, r.Raw)
		}
	}
	u := c.user(r.str("id"))
	raw, _ := json.Marshal(u.Spec)
	for _, s := range []string{"shoeSize", "nick", "badge", "custom"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("%s stored: %s", s, raw)
		}
	}
	if u.Spec.Name.GivenName != "Ann" || u.Spec.Enterprise.Department != "R&D" {
		t.Fatalf("known attributes lost: %s", raw)
	}
	// PATCH: unknown keys of a pathless value are ignored, a path naming one is not.
	c.do("PATCH", "/Users/"+r.str("id"), patchOps(op("add", "", map[string]any{"shoeSize": 43, "title": "Boss"}))).expect(t, 200)
	if u := c.user(r.str("id")); u.Spec.Title != "Boss" {
		t.Fatalf("title %q", u.Spec.Title)
	}
}
