package integration

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	userURN       = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupURN      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	searchURN     = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
)

// userNames returns the userName of every resource of a list response.
func userNames(r response) []string {
	var out []string
	list, _ := r.Body["Resources"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		s, _ := m["userName"].(string)
		out = append(out, s)
	}
	return out
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestETagsGiveConditionalRequests(t *testing.T) {
	c := newDirectory(t)
	id := c.createUser("ann@example.com", map[string]any{"displayName": "Ann"})
	r := c.do("GET", "/Users/"+id, nil).expect(t, 200)
	etag := r.Header.Get("ETag")
	meta, _ := r.Body["meta"].(map[string]any)
	if !strings.HasPrefix(etag, `W/"`) || meta["version"] != etag {
		t.Fatalf("ETag %q, meta.version %v", etag, meta["version"])
	}

	// If-None-Match on GET: 304 without a body while unchanged.
	r = c.do("GET", "/Users/"+id, nil, "If-None-Match", etag)
	if r.Status != 304 || r.Raw != "" || r.Header.Get("ETag") != etag {
		t.Fatalf("If-None-Match current: %d %q %q", r.Status, r.Raw, r.Header.Get("ETag"))
	}
	c.do("GET", "/Users/"+id, nil, "If-None-Match", `W/"12345"`).expect(t, 200)
	if r := c.do("GET", "/Users/"+id, nil, "If-None-Match", "*"); r.Status != 304 {
		t.Fatalf("If-None-Match *: %d", r.Status)
	}

	// If-Match with a stale version: 412, and nothing is written.
	stale := `W/"12345"`
	c.do("PATCH", "/Users/"+id, patchOps(op("replace", "displayName", "X")), "If-Match", stale).expect(t, 412)
	c.do("PUT", "/Users/"+id, map[string]any{"userName": "ann@example.com", "displayName": "X"}, "If-Match", stale).expect(t, 412)
	c.do("DELETE", "/Users/"+id, nil, "If-Match", stale).expect(t, 412)
	if u := c.user(id); u.Spec.DisplayName != "Ann" {
		t.Fatalf("written despite If-Match: %+v", u.Spec)
	}

	// The current version (strong or weak form) passes, and the write moves the version on.
	r = c.do("PATCH", "/Users/"+id, patchOps(op("replace", "displayName", "Ann Lee")), "If-Match", etag).expect(t, 200)
	next := r.Header.Get("ETag")
	if next == "" || next == etag {
		t.Fatalf("ETag after a write %q (before %q)", next, etag)
	}
	c.do("GET", "/Users/"+id, nil, "If-None-Match", etag).expect(t, 200)
	c.do("PATCH", "/Users/"+id, patchOps(op("replace", "displayName", "Ann")), "If-Match", etag).expect(t, 412)
	c.do("PUT", "/Users/"+id, map[string]any{"userName": "ann@example.com", "displayName": "Ann L."}, "If-Match", strings.TrimPrefix(next, "W/")).expect(t, 200)
	c.do("PATCH", "/Users/"+id, patchOps(op("replace", "title", "Boss")), "If-Match", "*").expect(t, 200)
	cur := c.do("GET", "/Users/"+id, nil).expect(t, 200).Header.Get("ETag")
	c.do("DELETE", "/Users/"+id, nil, "If-Match", cur).expect(t, 204)
	if n := c.countUsers(); n != 0 {
		t.Fatalf("%d users left", n)
	}
}

func TestAControllerStatusWriteDoesNotInvalidateTheETag(t *testing.T) {
	c := newDirectory(t)
	r := c.do("POST", "/Users", map[string]any{"userName": "ann@example.com"}).expect(t, 201)
	id, etag := r.str("id"), r.Header.Get("ETag")
	// The user controller reports on the new user in its status.
	deadline := time.Now().Add(10 * time.Second)
	for c.user(id).Status.ObservedGeneration == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the user controller never wrote status")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := c.do("GET", "/Users/"+id, nil, "If-None-Match", etag); r.Status != 304 {
		t.Fatalf("GET If-None-Match after a status write: %d", r.Status)
	}
	r = c.do("PATCH", "/Users/"+id, patchOps(op("replace", "active", false)), "If-Match", etag).expect(t, 200)
	etag = r.Header.Get("ETag")
	g := c.createGroup("team")
	c.do("PATCH", "/Groups/"+g, patchOps(op("add", "members", []any{map[string]any{"value": id}}))).expect(t, 204)
	c.do("DELETE", "/Users/"+id, nil, "If-Match", etag).expect(t, 204)
}

func TestAttributesAndExcludedAttributesShapeResponses(t *testing.T) {
	c := newDirectory(t)
	id := c.createUser("ann@example.com", map[string]any{
		"name":        map[string]any{"givenName": "Ann", "familyName": "Lee"},
		"emails":      []any{map[string]any{"value": "ann@example.com", "type": "work"}},
		"title":       "Engineer",
		enterpriseURN: map[string]any{"department": "R&D", "costCenter": "42"},
	})

	r := c.do("GET", "/Users/"+id+"?attributes=userName,name.givenName", nil).expect(t, 200)
	if got := keys(r.Body); !slices.Equal(got, []string{"id", "name", "schemas", "userName"}) {
		t.Fatalf("attributes=userName,name.givenName gave %v: %s", got, r.Raw)
	}
	if name := r.Body["name"].(map[string]any); len(name) != 1 || name["givenName"] != "Ann" {
		t.Fatalf("name %v", name)
	}

	r = c.do("GET", "/Users/"+id+"?excludedAttributes=emails,name.familyName,id,"+enterpriseURN+":costCenter", nil).expect(t, 200)
	if _, ok := r.Body["emails"]; ok {
		t.Fatalf("emails not excluded: %s", r.Raw)
	}
	if r.Body["id"] != id || r.Body["title"] != "Engineer" || r.Body["meta"] == nil {
		t.Fatalf("excludedAttributes removed too much (id is returned always): %s", r.Raw)
	}
	if name := r.Body["name"].(map[string]any); len(name) != 1 || name["givenName"] != "Ann" {
		t.Fatalf("name %v", name)
	}
	if ext := r.Body[enterpriseURN].(map[string]any); len(ext) != 1 || ext["department"] != "R&D" {
		t.Fatalf("enterprise %v", ext)
	}

	r = c.do("GET", "/Users/"+id+"?attributes="+enterpriseURN, nil).expect(t, 200)
	if got := keys(r.Body); !slices.Equal(got, []string{"id", "schemas", enterpriseURN}) {
		t.Fatalf("attributes=<extension URN> gave %v", got)
	}

	// The same on lists, on writes, and case-insensitively.
	r = c.do("GET", "/Users?attributes=USERNAME&filter="+url.QueryEscape(`userName eq "ann@example.com"`), nil).expect(t, 200)
	res := r.Body["Resources"].([]any)[0].(map[string]any)
	if got := keys(res); !slices.Equal(got, []string{"id", "schemas", "userName"}) {
		t.Fatalf("list with attributes gave %v", got)
	}
	r = c.do("PATCH", "/Users/"+id+"?attributes=title", patchOps(op("replace", "title", "Lead"))).expect(t, 200)
	if got := keys(r.Body); !slices.Equal(got, []string{"id", "schemas", "title"}) || r.Body["title"] != "Lead" {
		t.Fatalf("PATCH with attributes gave %s", r.Raw)
	}

	// Groups: members can be left out, and a PATCH that asks for attributes answers 200.
	g := c.createGroup("team", id)
	r = c.do("GET", "/Groups/"+g+"?excludedAttributes=members", nil).expect(t, 200)
	if _, ok := r.Body["members"]; ok || r.Body["displayName"] != "team" {
		t.Fatalf("excludedAttributes=members: %s", r.Raw)
	}
	r = c.do("PATCH", "/Groups/"+g+"?excludedAttributes=members", patchOps(op("replace", "displayName", "Team"))).expect(t, 200)
	if _, ok := r.Body["members"]; ok || r.Body["displayName"] != "Team" {
		t.Fatalf("PATCH with excludedAttributes=members: %s", r.Raw)
	}
	r = c.do("GET", "/Groups?attributes=displayName", nil).expect(t, 200)
	if got := keys(r.Body["Resources"].([]any)[0].(map[string]any)); !slices.Equal(got, []string{"displayName", "id", "schemas"}) {
		t.Fatalf("group list with attributes=displayName gave %v", got)
	}
}

func TestSortingAndPagingWalkTheDirectoryInOrder(t *testing.T) {
	c := newDirectory(t)
	family := map[string]string{"dora": "Adams", "bob": "Evans", "Ann": "Clark", "carl": "Baker", "eve": ""}
	for name, fam := range family {
		extra := map[string]any{}
		if fam != "" {
			extra["name"] = map[string]any{"familyName": fam}
		}
		c.createUser(name, extra)
	}

	r := c.do("GET", "/Users?sortBy=userName", nil).expect(t, 200)
	if got := userNames(r); !slices.Equal(got, []string{"Ann", "bob", "carl", "dora", "eve"}) {
		t.Fatalf("sortBy=userName (case-insensitive): %v", got)
	}
	r = c.do("GET", "/Users?sortBy=userName&sortOrder=descending", nil).expect(t, 200)
	if got := userNames(r); !slices.Equal(got, []string{"eve", "dora", "carl", "bob", "Ann"}) {
		t.Fatalf("descending: %v", got)
	}
	// Resources without the sort attribute come last (RFC 7644 §3.4.2.3).
	r = c.do("GET", "/Users?sortBy=name.familyName&sortOrder=ascending", nil).expect(t, 200)
	if got := userNames(r); !slices.Equal(got, []string{"dora", "carl", "Ann", "bob", "eve"}) {
		t.Fatalf("sortBy=name.familyName: %v", got)
	}

	// Pages of two, 1-based, cover every user once in order.
	var all []string
	for start := 1; start <= 5; start += 2 {
		r = c.do("GET", fmt.Sprintf("/Users?sortBy=userName&startIndex=%d&count=2", start), nil).expect(t, 200)
		if r.Body["totalResults"] != float64(5) || r.Body["startIndex"] != float64(start) || r.Body["itemsPerPage"] != float64(len(userNames(r))) {
			t.Fatalf("page at %d: %s", start, r.Raw)
		}
		all = append(all, userNames(r)...)
	}
	if !slices.Equal(all, []string{"Ann", "bob", "carl", "dora", "eve"}) {
		t.Fatalf("pages: %v", all)
	}
	r = c.do("GET", "/Users?sortBy=userName&filter="+url.QueryEscape(`userName ne "carl"`)+"&startIndex=2&count=2", nil).expect(t, 200)
	if got := userNames(r); r.Body["totalResults"] != float64(4) || !slices.Equal(got, []string{"bob", "dora"}) {
		t.Fatalf("filtered page: %v %s", got, r.Raw)
	}
	// A negative count means 0 (RFC 7644 §3.4.2.4).
	r = c.do("GET", "/Users?count=-3", nil).expect(t, 200)
	if r.Body["totalResults"] != float64(5) || len(userNames(r)) != 0 {
		t.Fatalf("count=-3: %s", r.Raw)
	}
}

func TestSearchWithPOSTAcceptsWhatGETDoesAndSensitiveFilters(t *testing.T) {
	c := newDirectory(t)
	for _, n := range []string{"alice", "albert", "bob"} {
		c.createUser(n, map[string]any{"title": "t-" + n})
	}
	r := c.do("POST", "/Users/.search", map[string]any{
		"schemas":    []string{searchURN},
		"filter":     `userName sw "al"`,
		"sortBy":     "userName",
		"sortOrder":  "descending",
		"startIndex": 1,
		"count":      10,
		"attributes": []string{"userName"},
	}).expect(t, 200)
	if got := userNames(r); !slices.Equal(got, []string{"alice", "albert"}) || r.Body["totalResults"] != float64(2) {
		t.Fatalf(".search: %s", r.Raw)
	}
	if res := r.Body["Resources"].([]any)[0].(map[string]any); res["title"] != nil {
		t.Fatalf("attributes not applied: %v", res)
	}
	r = c.do("POST", "/Users/.search", map[string]any{"excludedAttributes": "title", "count": "1"}).expect(t, 200)
	if r.Body["totalResults"] != float64(3) || r.Body["itemsPerPage"] != float64(1) {
		t.Fatalf(".search with count as a string: %s", r.Raw)
	}
	if res := r.Body["Resources"].([]any)[0].(map[string]any); res["title"] != nil {
		t.Fatalf("excludedAttributes not applied: %v", res)
	}
	c.do("POST", "/Groups/.search", map[string]any{"filter": `displayName pr`}).expect(t, 200)

	// A filter on a sensitive attribute must not travel in a URL (RFC 7644 §7.5.2),
	// but may in a .search body.
	c.do("GET", "/Users?filter="+url.QueryEscape(`password eq "secret"`), nil).expect(t, 403, "sensitive")
	r = c.do("POST", "/Users/.search", map[string]any{"filter": `password eq "secret"`}).expect(t, 200)
	if r.Body["totalResults"] != float64(0) {
		t.Fatalf("passwords are not stored, so none matches: %s", r.Raw)
	}
	c.do("GET", "/Users/.search", nil).expect(t, 405)
}

func TestDiscoveryDocumentsTellTheTruth(t *testing.T) {
	c := newDirectory(t)
	spc := c.do("GET", "/ServiceProviderConfig", nil).expect(t, 200).Body
	feature := func(name string) map[string]any { m, _ := spc[name].(map[string]any); return m }
	if feature("patch")["supported"] != true || feature("bulk")["supported"] != false || feature("filter")["supported"] != true ||
		feature("sort")["supported"] != true || feature("etag")["supported"] != true || feature("changePassword")["supported"] != false {
		t.Fatalf("ServiceProviderConfig: %v", spc)
	}
	schemes, _ := spc["authenticationSchemes"].([]any)
	if len(schemes) != 1 || schemes[0].(map[string]any)["type"] != "oauthbearertoken" {
		t.Fatalf("authenticationSchemes %v", schemes)
	}
	// filter.maxResults is honoured: a larger count is capped to it.
	maxResults := feature("filter")["maxResults"].(float64)
	r := c.do("GET", fmt.Sprintf("/Users?count=%d", int(maxResults)*10), nil).expect(t, 200)
	if r.Body["itemsPerPage"].(float64) > maxResults {
		t.Fatalf("count above maxResults: %s", r.Raw)
	}

	rts := c.do("GET", "/ResourceTypes", nil).expect(t, 200)
	if rts.Body["totalResults"] != float64(2) {
		t.Fatalf("ResourceTypes: %s", rts.Raw)
	}
	user := c.do("GET", "/ResourceTypes/User", nil).expect(t, 200).Body
	exts, _ := user["schemaExtensions"].([]any)
	if user["endpoint"] != "/Users" || user["schema"] != userURN || len(exts) != 1 ||
		exts[0].(map[string]any)["schema"] != enterpriseURN || exts[0].(map[string]any)["required"] != false {
		t.Fatalf("ResourceTypes/User: %v", user)
	}
	if g := c.do("GET", "/ResourceTypes/Group", nil).expect(t, 200).Body; g["endpoint"] != "/Groups" || g["schema"] != groupURN {
		t.Fatalf("ResourceTypes/Group: %v", g)
	}
	c.do("GET", "/ResourceTypes/Robot", nil).expect(t, 404)

	all := c.do("GET", "/Schemas", nil).expect(t, 200)
	var ids []string
	for _, s := range all.Body["Resources"].([]any) {
		ids = append(ids, s.(map[string]any)["id"].(string))
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{groupURN, userURN, enterpriseURN}) {
		t.Fatalf("Schemas: %v", ids)
	}
	c.do("GET", "/Schemas/urn:example:nope", nil).expect(t, 404)

	// Every readWrite attribute the User schemas advertise is stored and
	// returned: write a value for each, read it back.
	body := map[string]any{}
	want := map[string]any{}
	for _, urn := range []string{userURN, enterpriseURN} {
		doc := c.do("GET", "/Schemas/"+urn, nil).expect(t, 200).Body
		if doc["id"] != urn {
			t.Fatalf("Schemas/%s: %v", urn, doc)
		}
		target := body
		if urn != userURN {
			target = map[string]any{}
			body[urn] = target
		}
		for _, a := range doc["attributes"].([]any) {
			attr := a.(map[string]any)
			name := attr["name"].(string)
			switch {
			case name == "userName":
				target[name] = "probe@example.com"
			case attr["mutability"] != "readWrite":
				checkNotWritable(t, attr)
				continue
			default:
				target[name] = sampleValue(attr)
			}
			want[urn+":"+name] = target[name]
		}
	}
	r = c.do("POST", "/Users", body).expect(t, 201)
	for key, w := range want {
		urn, name := key[:strings.LastIndex(key, ":")], key[strings.LastIndex(key, ":")+1:]
		var got any
		if urn == userURN {
			got = r.Body[name]
		} else if ext, ok := r.Body[urn].(map[string]any); ok {
			got = ext[name]
		}
		if err := match(w, got, key); err != nil {
			t.Errorf("advertised attribute not stored as sent: %v", err)
		}
	}
	// Stored means stored: the same after a fresh read.
	r2 := c.do("GET", "/Users/"+r.str("id"), nil).expect(t, 200)
	delete(r.Body, "meta")
	delete(r2.Body, "meta")
	if err := match(r.Body, r2.Body, "GET"); err != nil {
		t.Errorf("GET differs from the POST response: %v", err)
	}
}

// checkNotWritable checks what the schema says of an attribute a client cannot write.
func checkNotWritable(t *testing.T, attr map[string]any) {
	t.Helper()
	switch attr["name"] {
	case "password":
		if attr["mutability"] != "writeOnly" || attr["returned"] != "never" {
			t.Errorf("password: %v", attr)
		}
	case "groups":
		if attr["mutability"] != "readOnly" {
			t.Errorf("groups: %v", attr)
		}
	default:
		t.Errorf("unexpected non-writable attribute %v", attr)
	}
}

// sampleValue builds a value for an attribute from its schema description.
func sampleValue(attr map[string]any) any {
	name := attr["name"].(string)
	var v any
	switch attr["type"] {
	case "boolean":
		v = true
	case "integer", "decimal":
		v = float64(7)
	case "reference":
		v = "https://example.com/" + name
	case "binary":
		v = "TUlJQ..."
	case "dateTime":
		v = "2024-01-02T03:04:05Z"
	case "complex":
		m := map[string]any{}
		for _, s := range attr["subAttributes"].([]any) {
			sub := s.(map[string]any)
			if sub["mutability"] == "readOnly" {
				continue
			}
			if sub["name"] == "type" {
				if cv, ok := sub["canonicalValues"].([]any); ok && len(cv) > 0 {
					m["type"] = cv[0]
					continue
				}
			}
			m[sub["name"].(string)] = sampleValue(sub)
		}
		v = m
	default:
		v = "x-" + name
	}
	if attr["multiValued"] == true {
		return []any{v}
	}
	return v
}
