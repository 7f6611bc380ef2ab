package store

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/scim-operator/scim-operator/internal/index"
	"github.com/scim-operator/scim-operator/internal/membership"
	"github.com/scim-operator/scim-operator/scimserver/filter"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// Query is a parsed list or search request (RFC 7644 §3.4.2).
type Query struct {
	// Filter selects resources; nil selects all.
	Filter filter.Expr
	// SortBy orders the results; nil keeps the default order (by id).
	SortBy *filter.AttrPath
	// Descending reverses the order (sortOrder=descending).
	Descending bool
	// StartIndex is 1-based.
	StartIndex int
	// Count is the page size; 0 returns only the total.
	Count int
}

// Page is one page of a list.
type Page struct {
	TotalResults int
	Resources    []map[string]any
}

// List answers a list or search request from the cache. An `eq` on an
// indexed attribute (userName, externalId, emails, displayName, members, id)
// narrows the candidates by index before the full filter runs, so its cost
// does not grow with the directory.
func (s *Store) List(ctx context.Context, d Dir, k *Kind, q Query) (*Page, error) {
	s.settle(ctx, d)
	if q.Filter == nil && q.SortBy == nil && s.ordered {
		return s.orderedPage(ctx, d, k, q)
	}
	objs, err := s.candidates(ctx, d, k, q.Filter)
	if err != nil {
		return nil, err
	}
	type row struct {
		obj client.Object
		res map[string]any
	}
	rows := make([]row, 0, len(objs))
	needRes := q.Filter != nil || q.SortBy != nil
	// One finder for the whole list: its users share most of their groups.
	finder := s.groupFinder(d)
	var filterGroups *pageGroups
	if mentionsGroups(q) {
		filterGroups = finder
	}
	withMembers := q.Filter != nil && strings.Contains(strings.ToLower(filter.String(q.Filter)), "members")
	caseExact := s.caseExact(k)
	for _, o := range objs {
		if o.GetDeletionTimestamp() != nil {
			continue
		}
		r := row{obj: o}
		if needRes {
			if r.res, err = s.renderWith(ctx, d, k, o, filterGroups); err != nil {
				return nil, err
			}
			if q.Filter != nil && !filter.Match(q.Filter, matchable(r.res, withMembers), caseExact) {
				continue
			}
		}
		rows = append(rows, r)
	}
	byName := func(a, b row) int { return strings.Compare(a.obj.GetName(), b.obj.GetName()) }
	if q.SortBy != nil {
		attr := *q.SortBy
		exact := caseExact(attr)
		slices.SortStableFunc(rows, func(a, b row) int {
			c := compareSortKeys(sortKey(a.res, attr, exact), sortKey(b.res, attr, exact))
			if c == 0 {
				c = strings.Compare(a.obj.GetName(), b.obj.GetName())
			}
			return c
		})
	} else if q.Descending {
		slices.SortFunc(rows, byName)
	}
	if q.Descending {
		slices.Reverse(rows)
	}
	page := &Page{TotalResults: len(rows), Resources: []map[string]any{}}
	start := max(q.StartIndex, 1) - 1
	if start >= len(rows) || q.Count <= 0 {
		return page, nil
	}
	end := min(start+q.Count, len(rows))
	if q.SortBy == nil && !q.Descending {
		// The default order (by id): only the page needs sorting, which
		// keeps a page of a large directory from sorting all of it.
		selectPage(rows, start, end, byName)
	}
	for _, r := range rows[start:end] {
		res := r.res
		if res == nil || filterGroups == nil {
			if res, err = s.renderWith(ctx, d, k, r.obj, finder); err != nil {
				return nil, err
			}
		}
		page.Resources = append(page.Resources, res)
	}
	return page, nil
}

// orderedPage answers an unfiltered, unsorted list from the sorted ids.
func (s *Store) orderedPage(ctx context.Context, d Dir, k *Kind, q Query) (*Page, error) {
	start := max(q.StartIndex, 1) - 1
	ids, total := s.order.page(orderKey(k, d.Namespace), start, start+max(q.Count, 0), q.Descending)
	page := &Page{TotalResults: total, Resources: []map[string]any{}}
	finder := s.groupFinder(d)
	for _, id := range ids {
		obj, err := s.get(ctx, s.Client, d, k, id, readOnly)
		if err != nil {
			if e, ok := scimerr.As(err); ok && e.Status == http.StatusNotFound {
				continue // deleted since the ids were read
			}
			return nil, err
		}
		res, err := s.renderWith(ctx, d, k, obj, finder)
		if err != nil {
			return nil, err
		}
		page.Resources = append(page.Resources, res)
	}
	return page, nil
}

// matchable returns res with the members of a large group as JSON values,
// which the filter evaluator needs; it costs a pass over the members, so
// only groups that a members filter selected by index, or a filter that
// cannot use an index, pay it.
func matchable(res map[string]any, withMembers bool) map[string]any {
	m, ok := res["members"].(*Members)
	if !ok || !withMembers {
		return res
	}
	out := make(map[string]any, len(res))
	for k, v := range res {
		out[k] = v
	}
	out["members"] = m.Materialise()
	return out
}

// candidates returns the objects the filter can match: by id or by index when
// the filter pins an indexed attribute with `eq`, otherwise the whole directory.
func (s *Store) candidates(ctx context.Context, d Dir, k *Kind, f filter.Expr) ([]client.Object, error) {
	for _, t := range indexedTerms(f) {
		name := strings.ToLower(t.Attr.Name)
		if t.Attr.Sub != "" {
			name += "." + strings.ToLower(t.Attr.Sub)
		}
		if t.Attr.URN != "" && !strings.EqualFold(t.Attr.URN, k.RT.Schema.ID) {
			continue
		}
		value := t.Value.(string)
		if name == "id" {
			obj, err := s.get(ctx, s.Client, d, k, value, readOnly)
			if err != nil {
				return nil, nil //nolint:nilerr // an unknown id matches nothing
			}
			return []client.Object{obj}, nil
		}
		ix, ok := k.eqIndexes[name]
		if !ok {
			continue
		}
		if ix.fold {
			value = fold(value)
		}
		if ix.key == memberIndex {
			// Members of large groups live in shards: ask membership.
			groups, err := membership.DirectGroups(ctx, s.Client, s.Members, d.Namespace, value)
			if err != nil {
				return nil, apiError(err)
			}
			out := make([]client.Object, len(groups))
			for i, g := range groups {
				out[i] = g
			}
			return out, nil
		}
		objs, err := s.lookup(ctx, d, k, ix.key, value)
		if err != nil {
			return nil, apiError(err)
		}
		return objs, nil
	}
	list := k.newList()
	if err := s.Client.List(ctx, list, client.InNamespace(d.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, apiError(err)
	}
	return k.items(list), nil
}

// lookup returns the cached objects of d whose index key holds value (in the
// index's normal form), shared with the cache: read them, never modify them.
func (s *Store) lookup(ctx context.Context, d Dir, k *Kind, key, value string) ([]client.Object, error) {
	list := k.newList()
	if err := s.Client.List(ctx, list, client.InNamespace(d.Namespace), client.MatchingFields{key: index.Key(key, value)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	// A user index answers with a bucket of users: keep those with value.
	objs := k.items(list)
	out := objs[:0]
	for _, o := range objs {
		if index.Matches(key, o, value) {
			out = append(out, o)
		}
	}
	return out, nil
}

// selectPage reorders rows so that rows[lo:hi] hold, sorted, what a full sort
// would put there (expected O(n), against O(n log n) for sorting everything).
// cmp must order distinct keys (ties are left in no particular order).
func selectPage[T any](rows []T, lo, hi int, cmp func(a, b T) int) {
	nthElement(rows, lo, cmp)
	if hi < len(rows) {
		nthElement(rows[lo:], hi-lo, cmp)
	}
	slices.SortFunc(rows[lo:hi], cmp)
}

// nthElement reorders s so that s[n] is what a sort would put there, with
// nothing greater before it and nothing smaller after it (quickselect with a
// median-of-three pivot).
func nthElement[T any](s []T, n int, cmp func(a, b T) int) {
	for len(s) > 1 && n < len(s) {
		last, mid := len(s)-1, len(s)/2
		if cmp(s[mid], s[0]) < 0 {
			s[mid], s[0] = s[0], s[mid]
		}
		if cmp(s[last], s[0]) < 0 {
			s[last], s[0] = s[0], s[last]
		}
		if cmp(s[mid], s[last]) < 0 {
			s[mid], s[last] = s[last], s[mid]
		}
		// s[last] is now the median of the three: the pivot.
		store := 0
		for i := range last {
			if cmp(s[i], s[last]) < 0 {
				s[i], s[store] = s[store], s[i]
				store++
			}
		}
		s[store], s[last] = s[last], s[store]
		switch {
		case n == store:
			return
		case n < store:
			s = s[:store]
		default:
			s, n = s[store+1:], n-store-1
		}
	}
}

// indexedTerms returns the AND-ed `eq` comparisons of a filter, including the
// `value` comparison inside Entra's `emails[type eq "work"].value eq "x"` form,
// rewritten as `emails.value eq "x"`.
func indexedTerms(f filter.Expr) []filter.Compare {
	if f == nil {
		return nil
	}
	terms := filter.EqTerms(f)
	var visit func(e filter.Expr)
	visit = func(e filter.Expr) {
		switch e := e.(type) {
		case *filter.Logical:
			if e.And {
				visit(e.Left)
				visit(e.Right)
			}
		case *filter.ValuePath:
			for _, t := range filter.EqTerms(e.Filter) {
				if strings.EqualFold(t.Attr.Name, "value") && t.Attr.Sub == "" {
					terms = append(terms, filter.Compare{
						Attr:  filter.AttrPath{URN: e.Attr.URN, Name: e.Attr.Name, Sub: "value"},
						Op:    filter.OpEq,
						Value: t.Value,
					})
				}
			}
		}
	}
	visit(f)
	return terms
}

// mentionsGroups reports whether a query filters or sorts on a user's groups.
func mentionsGroups(q Query) bool {
	text := ""
	if q.Filter != nil {
		text = filter.String(q.Filter)
	}
	if q.SortBy != nil {
		text += " " + q.SortBy.String()
	}
	return strings.Contains(strings.ToLower(text), "groups")
}

// caseExact tells the filter evaluator which attributes compare case-exactly.
func (s *Store) caseExact(k *Kind) func(filter.AttrPath) bool {
	return func(p filter.AttrPath) bool {
		a, _ := k.RT.Attribute(p.URN, p.Name)
		if a != nil && p.Sub != "" {
			a = a.Sub(p.Sub)
		}
		return a != nil && a.CaseExact
	}
}

// sortKey is the value a resource sorts by: for a multi-valued attribute, its
// primary (or first) element's value (RFC 7644 §3.4.2.3).
func sortKey(res map[string]any, p filter.AttrPath, exact bool) any {
	var v any = res
	if p.URN != "" && !strings.EqualFold(p.URN, schema.UserSchemaURN) && !strings.EqualFold(p.URN, schema.GroupSchemaURN) {
		v = lookupFold(res, p.URN)
	}
	v = lookupFold(v, p.Name)
	if list, ok := v.([]any); ok {
		var pick any
		for _, e := range list {
			if m, ok := e.(map[string]any); ok && m["primary"] == true {
				pick = e
			}
		}
		if pick == nil && len(list) > 0 {
			pick = list[0]
		}
		v = pick
		if p.Sub == "" {
			v = lookupFold(v, "value")
		}
	}
	if p.Sub != "" {
		v = lookupFold(v, p.Sub)
	}
	if s, ok := v.(string); ok && !exact {
		return strings.ToLower(s)
	}
	return v
}

func lookupFold(v any, key string) any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if x, ok := m[key]; ok {
		return x
	}
	for k, x := range m {
		if strings.EqualFold(k, key) {
			return x
		}
	}
	return nil
}

// compareSortKeys orders values of one attribute; missing values sort last
// (RFC 7644 §3.4.2.3).
func compareSortKeys(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y)
		}
	case float64:
		if y, ok := b.(float64); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	case bool:
		if y, ok := b.(bool); ok && x != y {
			if !x {
				return -1
			}
			return 1
		}
		return 0
	}
	return 0
}
