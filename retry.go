package lro

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Retries of registered work (KindRetry). A retryable failure puts the
// operation back in the store's queue, unowned and not done, with a
// RunAfter time after an exponential backoff with jitter; any replica that
// registered the kind claims it when it falls due, as attempt n+1. The last
// failure becomes the operation's error.

// Defaults of a RetryPolicy.
const (
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = 5 * time.Minute
)

// RetryPolicy says when registered work runs again after a failure.
type RetryPolicy struct {
	// MaxAttempts is the most runs of the work, the first included; at
	// least 1 (1 means no retry).
	MaxAttempts int
	// InitialBackoff is the wait before the second run (default
	// DefaultInitialBackoff); each later wait doubles, up to MaxBackoff
	// (default DefaultMaxBackoff). Each wait is drawn at random between
	// half of it and all of it (jitter).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Retryable decides which errors of the work are retried; nil means
	// DefaultRetryable. Panics, cancellation and deadlines are never
	// retried.
	Retryable func(error) bool
}

// normalized returns p with its defaults filled in, or an error for
// MaxAttempts below 1, a negative backoff, or MaxBackoff below
// InitialBackoff.
func (p RetryPolicy) normalized() (RetryPolicy, error) {
	switch {
	case p.MaxAttempts < 1:
		return p, fmt.Errorf("KindRetry: MaxAttempts %d is below 1", p.MaxAttempts)
	case p.InitialBackoff < 0 || p.MaxBackoff < 0:
		return p, fmt.Errorf("KindRetry: negative backoff (InitialBackoff %v, MaxBackoff %v)", p.InitialBackoff, p.MaxBackoff)
	}
	if p.InitialBackoff == 0 {
		p.InitialBackoff = DefaultInitialBackoff
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = max(DefaultMaxBackoff, p.InitialBackoff)
	}
	if p.MaxBackoff < p.InitialBackoff {
		return p, fmt.Errorf("KindRetry: MaxBackoff %v is below InitialBackoff %v", p.MaxBackoff, p.InitialBackoff)
	}
	if p.Retryable == nil {
		p.Retryable = DefaultRetryable
	}
	return p, nil
}

// backoff is the wait after failed attempt n (1-based): InitialBackoff
// doubled n-1 times, capped at MaxBackoff, then drawn at random from its
// upper half.
func (p *RetryPolicy) backoff(n int) time.Duration {
	d := p.InitialBackoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}

// retryableError marks an error as retryable (Retryable).
type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// Retryable marks err as retryable: returned by the work of a kind with a
// KindRetry policy, it makes the operation run again (DefaultRetryable
// says yes to it). The operation's status stays err's own. Retryable(nil)
// is nil.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &retryableError{err: err}
}

// DefaultRetryable reports whether err is retried by default: it was marked
// with Retryable, or its gRPC status is UNAVAILABLE, ABORTED or
// RESOURCE_EXHAUSTED.
func DefaultRetryable(err error) bool {
	var re *retryableError
	if errors.As(err, &re) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Aborted, codes.ResourceExhausted:
		return true
	}
	return false
}

// errNoRetry tells retryLater's update that the operation must end now.
var errNoRetry = errors.New("lro: no retry")

// retryLater puts the operation of task t back in the queue when its
// failure err is retryable and attempts are left, and reports whether it
// did (or found the operation no longer this run's); a retry is recorded
// on the run's telemetry r. Otherwise the caller finishes the operation
// with err.
func (m *Manager) retryLater(t *task, op *Op, err error, r *runObs) bool {
	k := t.k
	if k == nil || k.retry == nil || int(op.attempt) >= k.retry.MaxAttempts || context.Cause(t.ctx) != nil {
		return false
	}
	var pe *panicError
	if errors.As(err, &pe) || !k.retry.Retryable(err) {
		return false
	}
	now := m.now()
	runAfter := now.Add(k.retry.backoff(int(op.attempt))).Truncate(time.Microsecond) // as stores keep it
	_, uerr := m.store.Update(m.abandonCtx, t.name, func(r *Record) error {
		if r.Done() || r.Owner != m.cfg.owner {
			return ErrLeaseLost
		}
		if r.CancelRequested || (!r.Deadline.IsZero() && !runAfter.Before(r.Deadline)) {
			return errNoRetry // cancelled, or the deadline comes first
		}
		r.Owner = ""
		r.StartTime = time.Time{}
		r.RunAfter = runAfter
		r.UpdateTime = now
		return nil
	})
	switch {
	case errors.Is(uerr, ErrLeaseLost), errors.Is(uerr, ErrNotFound):
		return true // not ours to finish any more
	case uerr != nil:
		if !errors.Is(uerr, errNoRetry) {
			m.log.Warn("lro: could not queue a retry; ending the operation with its error", "operation", t.name, "error", uerr)
		}
		return false
	}
	if m.obs != nil {
		m.obs.retrying(r, op.attempt+1, runAfter.Sub(now), m.errorStatus(err, t.name))
	}
	m.claimAt(k.name, runAfter)
	return true
}
