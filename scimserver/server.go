// Package scimserver serves the SCIM 2.0 protocol (RFC 7644) for every
// ScimDirectory under /scim/v2/<directory>/. The handlers are thin: they
// authenticate, parse and validate the request with the pure protocol
// packages (filter, path, patch, schema) and hand canonical resources to the
// store, the one place that knows custom resources.
package scimserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/httpserver"
	"github.com/scim-operator/scim-operator/internal/token"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// Defaults of the server's limits.
const (
	DefaultMaxBodyBytes = 1 << 20
	// MaxResults is the largest page a list returns; advertised in
	// ServiceProviderConfig as filter.maxResults.
	MaxResults = 1000
	// lastRequestFlushInterval is how often directory status learns about
	// the last request, so busy endpoints do not write status per request.
	lastRequestFlushInterval = 30 * time.Second
	// RequestTimeout bounds the work of one request (503 with Retry-After
	// beyond). It is shorter than the graceful shutdown's 30 s, so every
	// request in flight at shutdown still gets its answer.
	RequestTimeout = 25 * time.Second
)

// Options configure a Server.
type Options struct {
	// Addr is the listen address, e.g. ":8443".
	Addr string
	// CertFile and KeyFile enable HTTPS; the files are reloaded when they change.
	CertFile, KeyFile string
	// ExternalURL, when set, is the scheme://host[:port] identity providers use;
	// otherwise resource locations are built from each request's Host.
	ExternalURL string
	// MaxBodyBytes limits request bodies (413 beyond).
	MaxBodyBytes int64
	// RatePerToken is each token's sustained request rate (requests per
	// second, 429 beyond); 0 means unlimited. RateBurst is its bucket size.
	RatePerToken float64
	RateBurst    int
	// MaxConcurrent bounds the requests served at once (503 beyond); 0 means unbounded.
	MaxConcurrent int
	// ShutdownDelay keeps serving new requests this long after a stop is
	// requested, with readiness failing, before draining (see httpserver).
	ShutdownDelay time.Duration
	// EventRate bounds the Created and Updated Events of SCIM writes per
	// directory and second, with bursts of EventBurst; 0 means unbounded.
	EventRate  float64
	EventBurst int
}

// The binary's defaults for EventRate and EventBurst: an IdP's steady
// trickle of changes leaves an Event for each, a bulk import does not.
const (
	DefaultEventRate  = 10
	DefaultEventBurst = 100
)

// Server is the SCIM HTTP endpoint; it runs as a controller-runtime Runnable.
type Server struct {
	Options
	Store *store.Store
	Auth  *token.Authenticator
	// Client reads ScimDirectories (from the cache) and patches their status.
	Client client.Client
	Log    logr.Logger
	// Writers says which replica makes SCIM writes; nil: this one.
	Writers WriterLocator

	peerOnce sync.Once
	peerRT   http.RoundTripper

	limits *limiter

	mu          sync.Mutex
	lastRequest map[string]time.Time
	// lastUsed remembers when each token Secret (namespace/name) last
	// authenticated a request; flushed to the Secret's annotation.
	lastUsed map[string]time.Time

	listening chan string
	ready     atomic.Bool
}

// NewServer returns a server with defaults filled in.
func NewServer(opts Options, st *store.Store, auth *token.Authenticator, c client.Client, log logr.Logger) *Server {
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &Server{Options: opts, Store: st, Auth: auth, Client: c, Log: log,
		limits:      newLimiter(opts.RatePerToken, opts.RateBurst, opts.MaxConcurrent),
		lastRequest: map[string]time.Time{}, lastUsed: map[string]time.Time{}, listening: make(chan string, 1)}
}

// NeedLeaderElection is false: every replica serves SCIM.
func (s *Server) NeedLeaderElection() bool { return false }

// Listening returns a channel that yields the bound address once serving.
func (s *Server) Listening() <-chan string { return s.listening }

// Start serves until ctx is done, then shuts down gracefully, letting
// in-flight requests finish so no write is cut off mid-way.
func (s *Server) Start(ctx context.Context) error {
	go s.flushLastRequests(ctx)
	bound := make(chan string, 1)
	go func() {
		select {
		case addr := <-bound:
			s.ready.Store(true)
			s.listening <- addr
		case <-ctx.Done():
		}
	}()
	return httpserver.Serve(ctx, httpserver.Config{
		Name: "scim", Addr: s.Addr, CertFile: s.CertFile, KeyFile: s.KeyFile,
		Handler: s.Handler(), Log: s.Log, Listening: bound,
		ShutdownDelay: s.ShutdownDelay, Stopping: func() { s.ready.Store(false) },
	})
}

// Ready is the readiness check of the SCIM endpoint: it fails until the
// server listens.
func (s *Server) Ready(*http.Request) error {
	if !s.ready.Load() {
		return errors.New("the SCIM endpoint is not listening yet")
	}
	return nil
}

// touch remembers that a directory was called with a token.
func (s *Server) touch(dir, tokenSecret string) {
	now := time.Now()
	s.mu.Lock()
	s.lastRequest[dir] = now
	s.lastUsed[tokenSecret] = now
	s.mu.Unlock()
}

// flushLastRequests writes the remembered request times to directory status.
func (s *Server) flushLastRequests(ctx context.Context) {
	t := time.NewTicker(lastRequestFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		pending, used := s.lastRequest, s.lastUsed
		s.lastRequest, s.lastUsed = map[string]time.Time{}, map[string]time.Time{}
		s.mu.Unlock()
		for key, at := range used {
			ns, name, _ := strings.Cut(key, "/")
			sec := &corev1.Secret{}
			sec.Namespace, sec.Name = ns, name
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, token.LastUsedAnnotation, at.UTC().Format(time.RFC3339))
			if err := s.Client.Patch(ctx, sec, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
				s.Log.V(1).Info("Could not record token use", "secret", key, "err", err.Error())
			}
		}
		for name, at := range pending {
			dir := &identityv1alpha1.ScimDirectory{}
			dir.Name = name
			patch := fmt.Sprintf(`{"status":{"lastRequestTime":%q}}`, at.UTC().Format(time.RFC3339))
			if err := s.Client.Status().Patch(ctx, dir, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
				s.Log.V(1).Info("Could not record last request time", "directory", name, "err", err.Error())
			}
		}
	}
}
