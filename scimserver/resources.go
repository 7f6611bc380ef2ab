package scimserver

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/filter"
	"github.com/scim-operator/scim-operator/scimserver/patch"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// resourceHandler serves one resource type (Users or Groups).
type resourceHandler struct {
	s *Server
	k *store.Kind
}

func (h *resourceHandler) collection(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		h.list(w, r)
	case http.MethodPost:
		h.create(w, r)
	default:
		methodNotAllowed(w, r, "GET, POST")
	}
}

func (h *resourceHandler) item(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		h.get(w, r)
	case http.MethodPut:
		h.replace(w, r)
	case http.MethodPatch:
		h.patch(w, r)
	case http.MethodDelete:
		h.delete(w, r)
	default:
		methodNotAllowed(w, r, "GET, PUT, PATCH, DELETE")
	}
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, scimerr.New(http.StatusMethodNotAllowed, "", "%s is not supported on %s", r.Method, r.URL.Path))
}

// projection is the attributes / excludedAttributes pair of a request.
type projection struct{ attributes, excluded []string }

func projectionFromQuery(q url.Values) projection {
	return projection{schema.ParseAttrList(q.Get("attributes")), schema.ParseAttrList(q.Get("excludedAttributes"))}
}

func (h *resourceHandler) respond(w http.ResponseWriter, status int, res map[string]any, p projection) {
	meta, _ := res["meta"].(map[string]any)
	if v, ok := meta["version"].(string); ok {
		w.Header().Set("ETag", v)
	}
	if status == http.StatusCreated {
		if loc, ok := meta["location"].(string); ok {
			w.Header().Set("Location", loc)
		}
	}
	writeStreamed(w, status, h.projectStreamed(res, p))
}

func (h *resourceHandler) get(w http.ResponseWriter, r *http.Request) {
	req := fromContext(r.Context())
	res, err := h.s.Store.Get(r.Context(), req.dir, h.k, r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if v, _ := res["meta"].(map[string]any)["version"].(string); store.NoneMatch(inm, v) {
			w.Header().Set("ETag", v)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.respond(w, http.StatusOK, res, projectionFromQuery(r.URL.Query()))
}

// body reads a POST or PUT body and turns it into a canonical resource.
func (h *resourceHandler) body(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	in, _, err := h.s.readJSONObject(w, r)
	if err != nil {
		return nil, err
	}
	res, err := schema.Normalize(h.k.RT, in, schema.NormalizeOptions{DropReadOnly: true})
	if err != nil {
		return nil, err
	}
	if err := schema.Validate(h.k.RT, res); err != nil {
		return nil, err
	}
	return res, nil
}

func (h *resourceHandler) create(w http.ResponseWriter, r *http.Request) {
	req := fromContext(r.Context())
	res, err := h.body(w, r)
	if err == nil {
		res, err = h.s.Store.Create(r.Context(), req.dir, h.k, res)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	h.respond(w, http.StatusCreated, res, projectionFromQuery(r.URL.Query()))
}

func (h *resourceHandler) replace(w http.ResponseWriter, r *http.Request) {
	req := fromContext(r.Context())
	res, err := h.body(w, r)
	if err == nil {
		res, err = h.s.Store.Replace(r.Context(), req.dir, h.k, r.PathValue("id"), res, r.Header.Get("If-Match"))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	h.respond(w, http.StatusOK, res, projectionFromQuery(r.URL.Query()))
}

// patch answers 200 with the resource for users. For groups it answers 204
// unless the client asked for attributes: RFC 7644 §3.5.2 allows either, and a
// large group's member list should not travel back on every membership change.
func (h *resourceHandler) patch(w http.ResponseWriter, r *http.Request) {
	req := fromContext(r.Context())
	_, raw, err := h.s.readJSONObject(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	pr, err := patch.DecodeRequest(raw)
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := h.s.Store.Patch(r.Context(), req.dir, h.k, r.PathValue("id"), pr.Operations, r.Header.Get("If-Match"))
	if err != nil {
		writeError(w, err)
		return
	}
	p := projectionFromQuery(r.URL.Query())
	if h.k == store.Groups && p.attributes == nil && p.excluded == nil {
		if v, ok := res["meta"].(map[string]any)["version"].(string); ok {
			w.Header().Set("ETag", v)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.respond(w, http.StatusOK, res, p)
}

func (h *resourceHandler) delete(w http.ResponseWriter, r *http.Request) {
	req := fromContext(r.Context())
	if err := h.s.Store.Delete(r.Context(), req.dir, h.k, r.PathValue("id"), r.Header.Get("If-Match")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listRequest is a list or search request in either of its forms (RFC 7644
// §3.4.2 query parameters, §3.4.3 SearchRequest body).
type listRequest struct {
	Filter             string   `json:"filter"`
	SortBy             string   `json:"sortBy"`
	SortOrder          string   `json:"sortOrder"`
	StartIndex         any      `json:"startIndex"`
	Count              any      `json:"count"`
	Attributes         []string `json:"attributes"`
	ExcludedAttributes []string `json:"excludedAttributes"`
}

func (h *resourceHandler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lr := listRequest{Filter: q.Get("filter"), SortBy: q.Get("sortBy"), SortOrder: q.Get("sortOrder")}
	if q.Has("startIndex") {
		lr.StartIndex = q.Get("startIndex")
	}
	if q.Has("count") {
		lr.Count = q.Get("count")
	}
	h.runList(w, r, lr, projectionFromQuery(q), true)
}

func (h *resourceHandler) search(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, "POST")
		return
	}
	body, _, err := h.s.readJSONObject(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	lr := listRequest{}
	for key, v := range body {
		if v == nil {
			continue // null: not given
		}
		s, isString := v.(string)
		var field *string
		switch strings.ToLower(key) {
		case "filter":
			field = &lr.Filter
		case "sortby":
			field = &lr.SortBy
		case "sortorder":
			field = &lr.SortOrder
		case "startindex":
			lr.StartIndex = v
		case "count":
			lr.Count = v
		case "attributes", "excludedattributes":
			list, ok := stringList(v)
			if !ok {
				writeError(w, scimerr.BadRequest(scimerr.InvalidValue, "%s must be an array of strings", key))
				return
			}
			if strings.EqualFold(key, "attributes") {
				lr.Attributes = list
			} else {
				lr.ExcludedAttributes = list
			}
		}
		if field != nil {
			if !isString {
				writeError(w, scimerr.BadRequest(scimerr.InvalidValue, "%s must be a string", key))
				return
			}
			*field = s
		}
	}
	h.runList(w, r, lr, projection{lr.Attributes, lr.ExcludedAttributes}, false)
}

// stringList accepts a JSON array of strings or one comma-separated string;
// ok is false for anything else.
func stringList(v any) (list []string, ok bool) {
	switch v := v.(type) {
	case string:
		return schema.ParseAttrList(v), true
	case []any:
		var out []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, schema.ParseAttrList(s)...)
		}
		return out, true
	}
	return nil, false
}

func (h *resourceHandler) runList(w http.ResponseWriter, r *http.Request, lr listRequest, p projection, viaGet bool) {
	req := fromContext(r.Context())
	q, err := h.query(lr, viaGet)
	if err != nil {
		writeError(w, err)
		return
	}
	page, err := h.s.Store.List(r.Context(), req.dir, h.k, q)
	if err != nil {
		writeError(w, err)
		return
	}
	resources := make([]streamed, len(page.Resources))
	for i, res := range page.Resources {
		resources[i] = h.projectStreamed(res, p)
	}
	writeStreamedList(w, map[string]any{
		"schemas":      []string{schema.ListResponseURN},
		"totalResults": page.TotalResults,
		"startIndex":   max(q.StartIndex, 1),
		"itemsPerPage": len(resources),
	}, resources)
}

// query validates the parameters of a list request.
func (h *resourceHandler) query(lr listRequest, viaGet bool) (store.Query, error) {
	q := store.Query{StartIndex: 1, Count: MaxResults}
	var err error
	if q.StartIndex, err = intParam("startIndex", lr.StartIndex, 1); err != nil {
		return q, err
	}
	if q.Count, err = intParam("count", lr.Count, MaxResults); err != nil {
		return q, err
	}
	// RFC 7644 §3.4.2.4: startIndex below 1 means 1; negative count means 0;
	// a count above the maximum is capped to it.
	q.StartIndex = max(q.StartIndex, 1)
	q.Count = min(max(q.Count, 0), MaxResults)
	if strings.TrimSpace(lr.Filter) != "" {
		f, err := filter.Parse(lr.Filter)
		if err != nil {
			return q, filter.ToSCIM(err)
		}
		if viaGet {
			if name, ok := h.sensitive(f); ok {
				return q, scimerr.New(http.StatusForbidden, scimerr.Sensitive, "filtering on %q is not allowed in a URL; use POST %s/.search", name, h.k.Endpoint)
			}
		}
		q.Filter = f
	}
	if lr.SortBy != "" {
		p, err := filter.ParseAttrPath(lr.SortBy)
		if err != nil {
			return q, scimerr.BadRequest(scimerr.InvalidValue, "sortBy %q is not an attribute path", lr.SortBy)
		}
		q.SortBy = &p
	}
	switch strings.ToLower(lr.SortOrder) {
	case "", "ascending":
	case "descending":
		q.Descending = true
	default:
		return q, scimerr.BadRequest(scimerr.InvalidValue, "sortOrder must be \"ascending\" or \"descending\", not %q", lr.SortOrder)
	}
	return q, nil
}

// sensitive reports an attribute marked sensitive that the filter names
// (RFC 7644 §7.5.2: such filters must not travel in a URL).
func (h *resourceHandler) sensitive(f filter.Expr) (string, bool) {
	var found string
	var visit func(e filter.Expr, parent string)
	visit = func(e filter.Expr, parent string) {
		switch e := e.(type) {
		case *filter.Compare:
			name := e.Attr.Name
			if parent != "" {
				name = parent
			}
			if a, _ := h.k.RT.Attribute(e.Attr.URN, name); a != nil && a.Sensitive {
				found = e.Attr.String()
			}
		case *filter.Logical:
			visit(e.Left, parent)
			visit(e.Right, parent)
		case *filter.Not:
			visit(e.X, parent)
		case *filter.ValuePath:
			visit(e.Filter, e.Attr.Name)
		}
	}
	visit(f, "")
	return found, found != ""
}

// intParam parses an integer parameter given as a JSON number or a string.
func intParam(name string, v any, def int) (int, error) {
	switch v := v.(type) {
	case nil:
		return def, nil
	case float64:
		if v == float64(int(v)) {
			return int(v), nil
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n, nil
		}
	}
	return 0, scimerr.BadRequest(scimerr.InvalidValue, "%s must be an integer", name)
}

func itoa(n int) string { return strconv.Itoa(n) }
