package scimserver

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/store"
)

// FuzzListQuery feeds arbitrary query strings through the parsing of a list
// request (filter, sortBy, sortOrder, startIndex, count, attributes): it
// must answer with a SCIM error or a valid query, never panic.
func FuzzListQuery(f *testing.F) {
	for _, seed := range []string{
		`filter=userName%20eq%20%22a%40b.c%22&startIndex=1&count=100`,
		`filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22x%22`,
		`count=-5&startIndex=0&sortBy=name.familyName&sortOrder=descending`,
		`count=99999999999999999999&sortOrder=sideways`,
		`filter=password%20eq%20%22x%22&attributes=userName,emails.value`,
		`filter=((((a%20pr`,
	} {
		f.Add(seed)
	}
	h := &resourceHandler{k: store.Users}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lr := listRequest{Filter: q.Get("filter"), SortBy: q.Get("sortBy"), SortOrder: q.Get("sortOrder")}
		if q.Has("startIndex") {
			lr.StartIndex = q.Get("startIndex")
		}
		if q.Has("count") {
			lr.Count = q.Get("count")
		}
		if sq, err := h.query(lr, true); err == nil && (sq.Count < 0 || sq.Count > MaxResults || sq.StartIndex < 1) {
			t.Fatalf("query out of range: %+v", sq)
		}
		_ = projectionFromQuery(q)
	})
}

// FuzzHeaders feeds arbitrary Authorization and Accept headers through their
// parsing.
func FuzzHeaders(f *testing.F) {
	f.Add("Bearer scimop_abc", "application/scim+json; charset=utf-8")
	f.Add("bearer   x y", "text/html, */*;q=0.1")
	f.Add("Basic Zm9vOmJhcg==", "application/json;;;")
	f.Fuzz(func(t *testing.T, auth, accept string) {
		r := &http.Request{Header: http.Header{"Authorization": {auth}, "Accept": {accept}}}
		if tok, ok := bearer(r); ok && tok == "" {
			t.Fatal("an empty token was accepted")
		}
		_ = acceptable(r.Header.Values("Accept"))
		_ = resourceID(BasePath + auth)
		_ = resourceType(BasePath + accept)
	})
}
