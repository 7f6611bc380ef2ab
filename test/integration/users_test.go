package integration

import (
	"net/url"
	"testing"
)

func TestUserLifecycleOverHTTPIsStoredAsScimUser(t *testing.T) {
	c := newDirectory(t)
	r := c.do("POST", "/Users", map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "Ann@Example.com",
		"name":     map[string]any{"givenName": "Ann", "familyName": "Lee"},
		"emails":   []any{map[string]any{"value": "ann@example.com", "type": "work", "primary": true}},
		"password": "hunter2",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "R&D"},
	}).expect(t, 201)
	id := r.str("id")
	if r.Header.Get("Location") != c.base+"/Users/"+id || r.Header.Get("ETag") == "" {
		t.Fatalf("Location %q ETag %q", r.Header.Get("Location"), r.Header.Get("ETag"))
	}
	if _, ok := r.Body["password"]; ok {
		t.Fatal("password returned")
	}
	u := c.user(id)
	if u.Spec.UserName != "Ann@Example.com" || u.Spec.Name.GivenName != "Ann" || u.Spec.Enterprise.Department != "R&D" || !u.Spec.IsActive() {
		t.Fatalf("stored spec %+v", u.Spec)
	}

	// Read-your-writes: the filter sees the user at once, case-insensitively.
	r = c.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "ann@example.COM"`), nil).expect(t, 200)
	if r.Body["totalResults"] != float64(1) {
		t.Fatalf("filter found %v: %s", r.Body["totalResults"], r.Raw)
	}

	c.do("PATCH", "/Users/"+id, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}},
	}).expect(t, 200)
	if c.user(id).Spec.IsActive() {
		t.Fatal("user still active after deactivation")
	}

	c.do("DELETE", "/Users/"+id, nil).expect(t, 204)
	c.do("GET", "/Users/"+id, nil).expect(t, 404)
	c.do("DELETE", "/Users/"+id, nil).expect(t, 404)
	if n := c.countUsers(); n != 0 {
		t.Fatalf("%d users left", n)
	}
}

func TestDuplicateUserNameIsAConflictWhateverItsCase(t *testing.T) {
	c := newDirectory(t)
	c.createUser("bob@example.com", nil)
	c.do("POST", "/Users", map[string]any{"userName": "BOB@example.com"}).expect(t, 409, "uniqueness")
	if n := c.countUsers(); n != 1 {
		t.Fatalf("%d users stored", n)
	}
}
