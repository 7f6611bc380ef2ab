package scimserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/metrics"
	"github.com/scim-operator/scim-operator/internal/token"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// BasePath is the prefix of every directory's SCIM base URL.
const BasePath = "/scim/v2/"

// request is what the middleware learned about a request before the handler runs.
type request struct {
	dir      store.Dir
	identity token.Identity
	// forwardedTo is the writing replica a write was passed on to.
	forwardedTo string
}

type ctxKey struct{}

func fromContext(ctx context.Context) *request { return ctx.Value(ctxKey{}).(*request) }

// Handler returns the HTTP handler of the SCIM endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, k := range []*store.Kind{store.Users, store.Groups} {
		h := &resourceHandler{s: s, k: k}
		mux.HandleFunc(BasePath+"{dir}/"+k.Endpoint, h.collection)
		mux.HandleFunc(BasePath+"{dir}/"+k.Endpoint+"/{id}", h.item)
		mux.HandleFunc(BasePath+"{dir}/"+k.Endpoint+"/.search", h.search)
	}
	mux.HandleFunc(BasePath+"{dir}/ServiceProviderConfig", s.serviceProviderConfig)
	mux.HandleFunc(BasePath+"{dir}/ResourceTypes", s.resourceTypes)
	mux.HandleFunc(BasePath+"{dir}/ResourceTypes/{name}", s.resourceTypes)
	mux.HandleFunc(BasePath+"{dir}/Schemas", s.schemas)
	mux.HandleFunc(BasePath+"{dir}/Schemas/{name}", s.schemas)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, scimerr.NotFound("no SCIM endpoint at %s; the base URL is %s<directory>/", r.URL.Path, BasePath))
	})
	return s.middleware(mux)
}

// statusRecorder remembers the response status for the audit line and, for
// a write passed on by another replica, tells that replica what was written.
type statusRecorder struct {
	http.ResponseWriter
	status  int
	written *store.Written
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	if r.written != nil && r.written.Kind != nil {
		r.ResponseWriter.Header().Set(writtenHeader, r.written.String())
	}
	r.ResponseWriter.WriteHeader(code)
}

// middleware recovers panics, authenticates, negotiates content types and
// writes one audit line per request. The audit line never holds a token, a
// body or any attribute value: only who (token name), what (method, resource
// type, id) and the outcome.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The request's work is bounded by RequestTimeout and is not cut
		// short when the client goes away or the server shuts down: an IdP
		// whose POST timed out retries it, and must then find the user
		// created completely or not at all (not a name claimed for a user
		// that was never created); a graceful shutdown drains in-flight
		// writes instead of cancelling them half-way.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		reqID := string(uuid.NewUUID())
		w.Header().Set("X-Request-Id", reqID)
		req := &request{}
		defer func() {
			if p := recover(); p != nil {
				s.Log.Error(nil, "Panic serving SCIM request", "panic", p, "requestID", reqID)
				writeError(rec, errors.New("panic"))
			}
			resource, method, dur := metricLabel(resourceType(r.URL.Path), knownResources), metricLabel(r.Method, knownMethods), time.Since(start)
			metrics.SCIMRequests.WithLabelValues(req.dir.Name, resource, method, strconv.Itoa(rec.status)).Inc()
			metrics.SCIMRequestDuration.WithLabelValues(req.dir.Name, resource, method).Observe(dur.Seconds())
			kv := []any{"requestID", reqID, "directory", req.dir.Name, "token", req.identity.TokenName,
				"clientIP", clientIP(r), "method", r.Method, "resourceType", resourceType(r.URL.Path), "resourceID", resourceID(r.URL.Path),
				"status", rec.status, "latency", dur.String()}
			if req.forwardedTo != "" {
				kv = append(kv, "forwardedTo", req.forwardedTo)
			}
			if from := r.Header.Get(forwardedHeader); from != "" {
				kv = append(kv, "forwardedRequestID", from)
			}
			s.Log.Info("SCIM request", kv...)
		}()
		release, err := s.limits.acquire()
		if err != nil {
			writeError(rec, err)
			return
		}
		defer release()
		if err := s.prepare(r, req); err != nil {
			writeError(rec, err)
			return
		}
		target, err := s.route(r)
		if err != nil {
			writeError(rec, err)
			return
		}
		if target != "" {
			req.forwardedTo = target
			s.forward(rec, r, target, reqID)
			return
		}
		ctx = context.WithValue(r.Context(), ctxKey{}, req)
		if isWrite(r) && r.Header.Get(forwardedHeader) != "" {
			ctx, rec.written = store.WithWriteRecord(ctx)
		}
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}

// prepare authenticates the request and checks its headers.
func (s *Server) prepare(r *http.Request, req *request) error {
	rest, ok := strings.CutPrefix(r.URL.Path, BasePath)
	if !ok {
		return nil // answered 404 by the mux
	}
	name, _, _ := strings.Cut(rest, "/")
	var dir identityv1alpha1.ScimDirectory
	err := s.Client.Get(r.Context(), client.ObjectKey{Name: name}, &dir)
	if err != nil && !apierrors.IsNotFound(err) {
		return &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "directory unavailable; retry later", RetryAfter: 5}
	}
	// An unknown directory is answered like a bad token, so directory names
	// cannot be probed without credentials.
	tok, hasBearer := bearer(r)
	if err != nil || !hasBearer {
		return scimerr.New(http.StatusUnauthorized, "", "a valid bearer token is required")
	}
	id, ok, err := s.Auth.Authenticate(r.Context(), dir.Name, dir.Spec.Namespace, tok)
	if err != nil {
		return &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "authentication unavailable; retry later", RetryAfter: 5}
	}
	if !ok {
		return scimerr.New(http.StatusUnauthorized, "", "a valid bearer token is required")
	}
	req.identity = id
	req.dir = store.Dir{Name: dir.Name, Namespace: dir.Spec.Namespace, BaseURL: s.baseURL(r, dir.Name)}
	s.touch(dir.Name, id.Secret)
	if err := s.limits.allow(id.Secret); err != nil {
		return err
	}
	if !acceptable(r.Header.Values("Accept")) {
		return scimerr.New(http.StatusNotAcceptable, "", "responses are application/scim+json; the Accept header allows neither it nor application/json")
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || (mt != "application/scim+json" && mt != "application/json") {
				return scimerr.New(http.StatusUnsupportedMediaType, "", "request bodies must be application/scim+json or application/json, not %q", ct)
			}
		}
	}
	return nil
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	return tok, ok && strings.EqualFold(scheme, "Bearer") && tok != ""
}

// acceptable reports whether Accept headers allow a SCIM JSON response.
func acceptable(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			switch mt {
			case "application/scim+json", "application/json", "application/*", "*/*":
				return true
			}
		}
	}
	return false
}

func (s *Server) baseURL(r *http.Request, dir string) string {
	if s.ExternalURL != "" {
		return strings.TrimSuffix(s.ExternalURL, "/") + BasePath + dir
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + BasePath + dir
}

// clientIP is the peer address; forwarded headers are not trusted.
func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndex(host, ":"); i > 0 {
		host = host[:i]
	}
	return host
}

// resourceType names the endpoint of a path for the audit line, e.g. "Users".
func resourceType(p string) string {
	rest, ok := strings.CutPrefix(p, BasePath)
	if !ok {
		return ""
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// Metric labels take only known values, so clients cannot grow the number
// of time series with made-up paths or methods.
var (
	knownResources = []string{"Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas"}
	knownMethods   = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
)

func metricLabel(v string, known []string) string {
	if slices.Contains(known, v) {
		return v
	}
	return "other"
}

// resourceID is the id segment of a path, e.g. the user id of /Users/<id>;
// ids are server-generated UUIDs, not personal data.
func resourceID(p string) string {
	rest, ok := strings.CutPrefix(p, BasePath)
	if !ok {
		return ""
	}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) != 3 || strings.HasPrefix(parts[2], ".") {
		return ""
	}
	return parts[2]
}

// readJSONObject reads a request body that must be one JSON object.
func (s *Server) readJSONObject(w http.ResponseWriter, r *http.Request) (map[string]any, []byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, nil, scimerr.New(http.StatusRequestEntityTooLarge, "", "request body exceeds %d bytes", s.MaxBodyBytes)
		}
		return nil, nil, scimerr.BadRequest(scimerr.InvalidSyntax, "could not read the request body")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var body map[string]any
	if err := dec.Decode(&body); err != nil {
		return nil, nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the body is not a JSON object: %s", jsonError(err))
	}
	if dec.More() {
		return nil, nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the body holds data after its JSON object")
	}
	if body == nil {
		return nil, nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the body must be a JSON object")
	}
	return body, raw, nil
}

func jsonError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error() + " at byte " + itoa(int(se.Offset))
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "expected an object, found " + te.Value
	}
	if errors.Is(err, io.EOF) {
		return "the body is empty"
	}
	return err.Error()
}
