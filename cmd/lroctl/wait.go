package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"

	"github.com/lrokit/lro/lroclient"
)

// waitConfig tunes waitFor.
type waitConfig struct {
	refresh  time.Duration // timeout of each WaitOperation call
	pollOnly bool          // GetOperation only
	pollMax  time.Duration // cap of the pause between polls
	retryFor time.Duration // how long transient errors in a row are retried
}

// pollMin is the first pause between polls (or less, when pollMax is).
const pollMin = 250 * time.Millisecond

// waitFor waits with lroclient.Wait through the backend's waiter until the
// named operation is done, and returns it, a failed one included, calling
// observe with every state it receives. Errors are those of the calls, of
// ctx, or a *gaveUpError once --retry-for runs out.
func waitFor(ctx context.Context, be backend, name string, c waitConfig, observe func(*opView)) (*opView, error) {
	w := be.waiter()
	var (
		last    *opView
		viewErr error
	)
	opts := []lroclient.Option{
		lroclient.WithWaitTimeout(c.refresh),
		lroclient.WithBackoff(min(pollMin, c.pollMax), c.pollMax),
		lroclient.WithRetryLimit(c.retryFor),
		lroclient.WithObserver(func(op *longrunningpb.Operation) {
			v, err := w.view(op)
			if err != nil {
				viewErr = err
				return
			}
			last = v
			observe(v)
		}),
	}
	if c.pollOnly {
		opts = append(opts, lroclient.WithPollOnly())
	}
	_, err := lroclient.Wait(ctx, w, name, nil, opts...)
	var (
		re *lroclient.RetryError
		oe *lroclient.OperationError
	)
	switch {
	case errors.As(err, &re):
		return nil, &gaveUpError{limit: c.retryFor, err: re}
	case err != nil && !errors.As(err, &oe):
		return nil, err
	case viewErr != nil:
		return nil, viewErr
	}
	return last, nil
}

// gaveUpError reports that wait stopped retrying transient errors.
type gaveUpError struct {
	limit time.Duration // --retry-for
	err   *lroclient.RetryError
}

func (e *gaveUpError) Error() string {
	if e.limit == 0 {
		return fmt.Sprintf("%s (not retried: --retry-for 0)", errorText(e.err.Err))
	}
	return fmt.Sprintf("giving up after %d failed calls in %s (--retry-for %s); last error: %s",
		e.err.Failures, e.err.Elapsed.Round(time.Millisecond), e.limit, errorText(e.err.Err))
}

func (e *gaveUpError) Unwrap() error { return e.err }
