package authz

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/scim-operator/scim-operator/internal/httpserver"
	"github.com/scim-operator/scim-operator/internal/metrics"
)

// Path is where the API server posts SubjectAccessReviews.
const Path = "/authorize"

// maxReviewBytes bounds a SubjectAccessReview body; real ones are a few KB.
const maxReviewBytes = 1 << 20

// ServeHTTP answers one SubjectAccessReview. Anything that goes wrong —
// a malformed review, a cache error — is answered "no opinion" with an
// evaluation error: the webhook never denies by accident, and RBAC decides.
func (a *Authorizer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a SubjectAccessReview", http.StatusMethodNotAllowed)
		return
	}
	var review authorizationv1.SubjectAccessReview
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes))
	if err == nil {
		err = json.Unmarshal(raw, &review)
	}
	review.APIVersion, review.Kind = "authorization.k8s.io/v1", "SubjectAccessReview"
	review.Status = authorizationv1.SubjectAccessReviewStatus{}
	decision := "no-opinion"
	rule := ""
	if err != nil {
		review.Status.EvaluationError = "malformed SubjectAccessReview: " + err.Error()
	} else if d, derr := a.Decide(r.Context(), &review.Spec); derr != nil {
		review.Status.EvaluationError = "scim-operator could not decide: " + derr.Error()
	} else if d.Deny {
		review.Status.Denied, review.Status.Reason = true, d.Reason
		decision, rule = "deny", d.Rule
	}
	review.Spec = authorizationv1.SubjectAccessReviewSpec{}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&review)
	metrics.AuthorizationDuration.WithLabelValues(decision).Observe(time.Since(start).Seconds())
	metrics.AuthorizationDecisions.WithLabelValues(decision, rule).Inc()
}

// Server serves the webhook as a manager Runnable on every replica.
type Server struct {
	httpserver.Config
}

// NewServer returns a webhook server for the authorizer.
func NewServer(cfg httpserver.Config, a *Authorizer, log logr.Logger) *Server {
	mux := http.NewServeMux()
	mux.Handle(Path, a)
	cfg.Name, cfg.Handler, cfg.Log = "authorization-webhook", mux, log
	return &Server{Config: cfg}
}

// NeedLeaderElection is false: every replica answers.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx is done.
func (s *Server) Start(ctx context.Context) error { return httpserver.Serve(ctx, s.Config) }
