// Package httpserver runs the operator's own HTTPS servers (the SCIM endpoint
// and the authorization webhook) the same way: timeouts against slow clients,
// TLS 1.2 or later with certificates reloaded when their files change, and a
// graceful shutdown that lets in-flight requests finish.
package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// Config describes one server.
type Config struct {
	// Name appears in logs.
	Name string
	// Addr is the listen address; ignored when Listener is set.
	Addr string
	// Listener, when set, is used instead of listening on Addr.
	Listener net.Listener
	// CertFile and KeyFile enable TLS; without them the server speaks plain HTTP.
	CertFile, KeyFile string
	Handler           http.Handler
	Log               logr.Logger
	// Listening, when set, receives the bound address once serving.
	Listening chan<- string
	// ShutdownDelay keeps accepting connections for a while after ctx is
	// done, before the graceful shutdown: a client may have written a
	// request on a connection still in the listen backlog, and Kubernetes
	// takes a moment to stop sending traffic to a terminating pod.
	// Stopping, when set, is called when the delay begins (e.g. to fail
	// readiness).
	ShutdownDelay time.Duration
	Stopping      func()
}

// Serve serves until ctx is done, then shuts down gracefully.
func Serve(ctx context.Context, c Config) error {
	srv := &http.Server{
		Handler:           c.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// Connections outlive ctx: a shutdown stops accepting new ones and
		// waits for those it accepted (TLS handshakes included) to finish
		// their requests, instead of cancelling them.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln := c.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", c.Addr); err != nil {
			return fmt.Errorf("%s: listening on %s: %w", c.Name, c.Addr, err)
		}
	}
	if c.CertFile != "" {
		cw, err := certwatcher.New(c.CertFile, c.KeyFile)
		if err != nil {
			return fmt.Errorf("%s: loading TLS certificate: %w", c.Name, err)
		}
		go func() { _ = cw.Start(ctx) }()
		ln = tls.NewListener(ln, &tls.Config{
			MinVersion: tls.VersionTLS12,
			// TLS 1.2 suites limited to forward-secret AEAD ones (TLS 1.3's
			// are fixed by the standard library).
			CipherSuites: []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
				tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
				tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
			},
			GetCertificate: cw.GetCertificate,
			NextProtos:     []string{"h2", "http/1.1"},
		})
	}
	if c.Listening != nil {
		c.Listening <- ln.Addr().String()
	}
	c.Log.Info("Serving", "server", c.Name, "addr", ln.Addr().String(), "tls", c.CertFile != "")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if c.Stopping != nil {
		c.Stopping()
	}
	if c.ShutdownDelay > 0 {
		select {
		case err := <-errc:
			return err
		case <-time.After(c.ShutdownDelay):
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
