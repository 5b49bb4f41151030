package main

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// retryBudget bounds how long wait keeps retrying transient errors
// (UNAVAILABLE, and DEADLINE_EXCEEDED that is not the run's own --timeout)
// in a row: a call that succeeds starts the count again.
type retryBudget struct {
	limit time.Duration // 0: never retry
	now   func() time.Time

	since    time.Time // first failure of the current run of failures; zero after a success
	failures int       // failures in the current run
}

func newRetryBudget(limit time.Duration, now func() time.Time) *retryBudget {
	if now == nil {
		now = time.Now
	}
	return &retryBudget{limit: limit, now: now}
}

// transient reports whether err is an error wait retries.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// check records the outcome of a call. It returns err unchanged, except
// for a transient error once failures have lasted past the limit, which
// becomes a *gaveUpError (not itself transient).
func (b *retryBudget) check(ctx context.Context, err error) error {
	if err == nil {
		b.since, b.failures = time.Time{}, 0
		return nil
	}
	if !transient(ctx, err) {
		return err
	}
	t := b.now()
	if b.failures == 0 {
		b.since = t
	}
	b.failures++
	if elapsed := t.Sub(b.since); elapsed >= b.limit {
		return &gaveUpError{limit: b.limit, elapsed: elapsed, failures: b.failures, last: err}
	}
	return err
}

// gaveUpError reports that wait stopped retrying. It deliberately does not
// unwrap to the last error, whose status would make lroclient.Wait retry it.
type gaveUpError struct {
	limit    time.Duration
	elapsed  time.Duration
	failures int
	last     error
}

func (e *gaveUpError) Error() string {
	if e.limit == 0 {
		return fmt.Sprintf("%s (not retried: --retry-for 0)", errorText(e.last))
	}
	return fmt.Sprintf("giving up after %d failed calls in %s (--retry-for %s); last error: %s",
		e.failures, e.elapsed.Round(time.Millisecond), e.limit, errorText(e.last))
}

// budgetClient is the OperationsClient that wait gives lroclient.Wait: the
// calls Wait makes go through a retryBudget, which ends the retries of
// transient errors that Wait would make forever.
type budgetClient struct {
	longrunningpb.OperationsClient
	budget *retryBudget
}

func (c budgetClient) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest, opts ...grpc.CallOption) (*longrunningpb.Operation, error) {
	op, err := c.OperationsClient.GetOperation(ctx, req, opts...)
	return op, c.budget.check(ctx, err)
}

func (c budgetClient) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest, opts ...grpc.CallOption) (*longrunningpb.Operation, error) {
	op, err := c.OperationsClient.WaitOperation(ctx, req, opts...)
	return op, c.budget.check(ctx, err)
}
