package scimserver

import (
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// limiter holds one token bucket per bearer token, so one noisy or stolen
// token cannot starve the others, and a semaphore that bounds the requests
// served at once.
type limiter struct {
	perSecond rate.Limit
	burst     int
	inFlight  chan struct{}

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newLimiter(perSecond float64, burst, maxConcurrent int) *limiter {
	l := &limiter{perSecond: rate.Limit(perSecond), burst: burst, buckets: map[string]*rate.Limiter{}}
	if perSecond <= 0 {
		l.perSecond = rate.Inf
	}
	if l.burst <= 0 {
		l.burst = 1
	}
	if maxConcurrent > 0 {
		l.inFlight = make(chan struct{}, maxConcurrent)
	}
	return l
}

// allow takes one request from the token's bucket, or says how long to wait.
func (l *limiter) allow(key string) error {
	if l.perSecond == rate.Inf {
		return nil
	}
	l.mu.Lock()
	b := l.buckets[key]
	if b == nil {
		b = rate.NewLimiter(l.perSecond, l.burst)
		l.buckets[key] = b
	}
	l.mu.Unlock()
	r := b.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return &scimerr.Error{Status: http.StatusTooManyRequests, RetryAfter: int(math.Ceil(max(d, time.Second).Seconds())),
			Detail: "too many requests for this token; retry after the time in Retry-After"}
	}
	return nil
}

// acquire takes a slot for a request, or refuses at once when all are busy:
// queueing would only hold the IdP's connection past its own timeout.
func (l *limiter) acquire() (func(), error) {
	if l.inFlight == nil {
		return func() {}, nil
	}
	select {
	case l.inFlight <- struct{}{}:
		return func() { <-l.inFlight }, nil
	default:
		return nil, &scimerr.Error{Status: http.StatusServiceUnavailable, RetryAfter: 1, Detail: "the server is busy; retry"}
	}
}
