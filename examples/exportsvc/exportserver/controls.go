package exportserver

import (
	"errors"
	"fmt"
	"time"

	"github.com/lrokit/lro"
)

// How exports are run when Config leaves a control at zero.
const (
	// DefaultMaxRunning is how many exports a server runs at once.
	DefaultMaxRunning = 4
	// DefaultTimeout ends an export that has not finished this long after
	// it was accepted, time spent queued included.
	DefaultTimeout = 10 * time.Minute
	// DefaultRetryBackoff is the wait before the second attempt of an
	// export that failed transiently; later waits double.
	DefaultRetryBackoff = time.Second
	// exportAttempts is the most runs of an export, the first included.
	exportAttempts = 3
)

// controls are the work controls of a server, resolved from a Config.
type controls struct {
	acceptOnly   bool
	maxRunning   int
	timeout      time.Duration
	retryBackoff time.Duration
}

// newControls resolves cfg's controls, filling in the defaults. It fails
// for a negative value, and for an accept-only server without a shared
// Store: its exports would wait in memory for a worker that cannot see
// them.
func newControls(cfg Config) (controls, error) {
	c := controls{
		acceptOnly:   cfg.AcceptOnly,
		maxRunning:   orDefault(cfg.MaxRunning, DefaultMaxRunning),
		timeout:      orDefault(cfg.Timeout, DefaultTimeout),
		retryBackoff: orDefault(cfg.RetryBackoff, DefaultRetryBackoff),
	}
	switch {
	case cfg.MaxRunning < 0:
		return c, fmt.Errorf("MaxRunning %d is negative", cfg.MaxRunning)
	case cfg.Timeout < 0:
		return c, fmt.Errorf("timeout %v is negative", cfg.Timeout)
	case cfg.RetryBackoff < 0:
		return c, fmt.Errorf("retry backoff %v is negative", cfg.RetryBackoff)
	case cfg.AcceptOnly && cfg.Store == nil:
		return c, errors.New("an accept-only server needs a shared store (--database or --spanner): with operations in memory no other server could run its exports")
	}
	return c, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// managerOptions are the Manager options of the controls: an accept-only
// server runs no work at all (lro.WithMaxRunning(0)).
func (c controls) managerOptions() []lro.Option {
	if c.acceptOnly {
		return []lro.Option{lro.WithMaxRunning(0)}
	}
	return nil
}

// kindOptions are the options of the export kind: at most maxRunning at
// once on this server (the others wait queued, for this server or any
// other worker sharing the store), a deadline, and up to exportAttempts
// runs when an attempt fails with a transient error (UNAVAILABLE, ABORTED
// or RESOURCE_EXHAUSTED; lro.DefaultRetryable), after a backoff that
// starts at retryBackoff and doubles.
func (c controls) kindOptions() []lro.KindOption {
	return []lro.KindOption{
		lro.KindMaxRunning(c.maxRunning),
		lro.KindTimeout(c.timeout),
		lro.KindRetry(lro.RetryPolicy{
			MaxAttempts:    exportAttempts,
			InitialBackoff: c.retryBackoff,
			MaxBackoff:     max(c.retryBackoff, 30*time.Second),
		}),
	}
}
