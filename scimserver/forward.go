package scimserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"

	"time"

	"github.com/scim-operator/scim-operator/internal/metrics"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// Every replica serves SCIM reads from its own cache, but one replica — the
// leader — makes every SCIM write, so that uniqueness of userName and
// displayName is decided in one place without an extra API write per create
// (see store/unique.go). The others pass writes on to it.

// WriterLocator tells a replica where SCIM writes go.
type WriterLocator interface {
	// Writer returns "" when this replica writes, otherwise the URL
	// (scheme://host:port) of the replica that does. An error means that no
	// replica can write right now, e.g. during a leader election; the
	// request is answered 503 with Retry-After.
	Writer(ctx context.Context) (string, error)
}

const (
	// forwardedHeader marks a request passed on by another replica; its
	// value is that replica's request id, for correlating audit lines.
	forwardedHeader = "Scim-Operator-Forwarded"
	// writtenHeader carries store.Written back to the forwarding replica.
	writtenHeader = "Scim-Operator-Written"
)

// isWrite reports whether a request changes resources.
func isWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// route decides where a write goes: "" to serve it here, or the writer's URL.
func (s *Server) route(r *http.Request) (string, error) {
	if s.Writers == nil || !isWrite(r) {
		return "", nil
	}
	target, err := s.Writers.Writer(r.Context())
	switch {
	case err != nil:
		metrics.SCIMForwarded.WithLabelValues("no-writer").Inc()
		return "", &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "no replica can write right now (" + err.Error() + "); retry", RetryAfter: 1}
	case target != "" && r.Header.Get(forwardedHeader) != "":
		// Two replicas each believe the other writes: a leader change is
		// under way. Never pass a request on twice.
		metrics.SCIMForwarded.WithLabelValues("no-writer").Inc()
		return "", &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "the writing replica is changing; retry", RetryAfter: 1}
	}
	return target, nil
}

// forward passes a write to the writer and relays its answer, after this
// replica's cache has caught up with the write (read-your-writes).
func (s *Server) forward(w http.ResponseWriter, r *http.Request, target, reqID string) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		writeError(w, &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "the writing replica's address is invalid; retry", RetryAfter: 1})
		return
	}
	result := "forwarded"
	defer func() { metrics.SCIMForwarded.WithLabelValues(result).Inc() }()
	p := &httputil.ReverseProxy{
		Transport: s.peerTransport(),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// Locations in the answer are built from the Host the
			// identity provider used.
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out.Header.Set(forwardedHeader, reqID)
		},
		ModifyResponse: func(resp *http.Response) error {
			if wr, ok := store.ParseWritten(resp.Header.Get(writtenHeader)); ok {
				s.Store.WaitWritten(resp.Request.Context(), wr)
			}
			resp.Header.Del(writtenHeader)
			resp.Header.Del("X-Request-Id")
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			result = "error"
			s.Log.Info("Could not pass a SCIM write on to the writing replica", "writer", target, "requestID", reqID, "err", err.Error())
			// The write may or may not have been applied; the identity
			// provider retries, and a repeated create then gets 409.
			writeError(w, &scimerr.Error{Status: http.StatusServiceUnavailable, Detail: "the writing replica could not be reached; retry", RetryAfter: 1})
		},
	}
	p.ServeHTTP(w, r)
}

// peerTransport returns the client transport to other replicas, made once.
func (s *Server) peerTransport() http.RoundTripper {
	s.peerOnce.Do(func() {
		s.peerRT = &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       s.peerTLS(),
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			ForceAttemptHTTP2:     true,
		}
	})
	return s.peerRT
}

// peerTLS trusts exactly the certificate this replica serves: every replica
// mounts the same certificate Secret, and a pod IP is rarely among its names.
func (s *Server) peerTLS() *tls.Config {
	if s.CertFile == "" {
		return nil
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pinning below
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			own, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
			if err != nil {
				return err
			}
			if len(rawCerts) == 0 || len(own.Certificate) == 0 || !bytes.Equal(rawCerts[0], own.Certificate[0]) {
				return errors.New("the peer does not serve this replica's certificate")
			}
			return nil
		},
	}
}
