// Package lroclient waits for google.longrunning operations from the client
// side, through any Client: a longrunningpb.OperationsClient, or anything
// else that makes its GetOperation and WaitOperation calls.
//
// Wait long-polls with WaitOperation, so the caller learns that an
// operation finished as soon as the server does, instead of at the next
// tick of a polling loop. Servers that do not implement WaitOperation
// (they answer UNIMPLEMENTED) are polled with GetOperation under a capped,
// jittered exponential backoff.
package lroclient

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Defaults of the options.
const (
	// DefaultWaitTimeout is the timeout asked of each WaitOperation call.
	DefaultWaitTimeout = 60 * time.Second
	// DefaultMinBackoff is the first pause between GetOperation polls.
	DefaultMinBackoff = 250 * time.Millisecond
	// DefaultMaxBackoff caps the pause between GetOperation polls.
	DefaultMaxBackoff = 5 * time.Second
)

// Client holds the calls Wait makes. Every longrunningpb.OperationsClient
// is a Client; so is anything else that reaches an Operations server (a
// REST client, a fake in a test) and answers with gRPC status errors.
type Client interface {
	// GetOperation returns the latest state of an operation.
	GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest, opts ...grpc.CallOption) (*longrunningpb.Operation, error)
	// WaitOperation returns an operation once it is done or the request's
	// timeout has passed. A Client without it answers UNIMPLEMENTED, and
	// Wait polls GetOperation instead.
	WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest, opts ...grpc.CallOption) (*longrunningpb.Operation, error)
}

// Option configures Wait.
type Option func(*config)

type config struct {
	waitTimeout time.Duration
	minBackoff  time.Duration
	maxBackoff  time.Duration
	pollOnly    bool
	observe     func(*longrunningpb.Operation)
	retryLimit  time.Duration // with limitRetry: how long transient errors may go on in a row
	limitRetry  bool
	now         func() time.Time // reads the clock for the retry limit
}

// WithBackoff sets the bounds of the pause between GetOperation polls (when
// the server does not implement WaitOperation) and between retries after a
// transient error: the first pause is about initial, each next one half as
// long again, with ±50% jitter, never more than ceiling. Non-positive values
// keep the defaults (DefaultMinBackoff, DefaultMaxBackoff).
func WithBackoff(initial, ceiling time.Duration) Option {
	return func(c *config) {
		if initial > 0 {
			c.minBackoff = initial
		}
		if ceiling > 0 {
			c.maxBackoff = ceiling
		}
	}
}

// WithWaitTimeout sets the timeout asked of each WaitOperation call
// (DefaultWaitTimeout by default). When a call ends with the operation
// still running, Wait calls again, so this bounds how long a single RPC
// stays open, not how long Wait waits: the context does that. A short
// timeout also makes WithObserver see metadata changes sooner.
func WithWaitTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.waitTimeout = d
		}
	}
}

// WithPollOnly makes Wait poll with GetOperation from the start, for
// servers known to lack WaitOperation.
func WithPollOnly() Option {
	return func(c *config) { c.pollOnly = true }
}

// WithObserver calls f with every state of the operation Wait receives,
// the final one included, from the goroutine that called Wait. It suits
// progress displays that read the operation's metadata.
func WithObserver(f func(op *longrunningpb.Operation)) Option {
	return func(c *config) { c.observe = f }
}

// WithRetryLimit bounds how long Wait retries transient errors (UNAVAILABLE,
// and DEADLINE_EXCEEDED that does not come from the context): once they
// have gone on for d in a row, counted from the first failed call to the
// latest, Wait gives up and returns a *RetryError that wraps the latest
// error. A call that succeeds starts the count again. A d of 0 or less
// gives up at the first transient error. Without this option Wait retries
// them until its context ends.
func WithRetryLimit(d time.Duration) Option {
	return func(c *config) {
		c.limitRetry = true
		c.retryLimit = max(d, 0)
	}
}

// Wait waits until the named operation is done and returns it.
//
// When the operation succeeded and resp is not nil, its response is
// unpacked into resp; a response of another type is an error. When the
// operation failed, Wait returns it with an error that status.FromError
// and status.Code understand, carrying the operation's google.rpc.Status
// (code, message and details).
//
// Wait returns early with the context's error (which also reports
// CANCELLED or DEADLINE_EXCEEDED through status.Code, and matches
// context.Canceled or context.DeadlineExceeded with errors.Is), or with the
// first RPC error that is not transient, as the client returned it.
// UNAVAILABLE is retried with backoff, as is a DEADLINE_EXCEEDED that did
// not come from ctx, until WithRetryLimit's limit (if given) ends the
// retries with a *RetryError. A nil client or an empty name is
// INVALID_ARGUMENT. The operation returned with an error is the latest one
// seen, or nil.
func Wait(ctx context.Context, client Client, name string, resp proto.Message, opts ...Option) (*longrunningpb.Operation, error) {
	c := config{waitTimeout: DefaultWaitTimeout, minBackoff: DefaultMinBackoff, maxBackoff: DefaultMaxBackoff, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	if c.maxBackoff < c.minBackoff {
		c.maxBackoff = c.minBackoff
	}
	if client == nil {
		return nil, status.Error(codes.InvalidArgument, "lroclient: nil Client")
	}
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "lroclient: empty operation name")
	}
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     c.minBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          1.5,
		MaxInterval:         c.maxBackoff,
	}
	bo.Reset()
	pause := func() error {
		d := min(bo.NextBackOff(), c.maxBackoff)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctxError{ctx.Err()}
		case <-t.C:
			return nil
		}
	}

	longPoll := !c.pollOnly
	var (
		last     *longrunningpb.Operation
		failures int       // transient errors in a row
		since    time.Time // when the first of them came
	)
	for {
		if err := ctx.Err(); err != nil {
			return last, ctxError{err}
		}
		var (
			op  *longrunningpb.Operation
			err error
		)
		began := time.Now()
		if longPoll {
			op, err = client.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(c.waitTimeout)})
			if status.Code(err) == codes.Unimplemented {
				longPoll = false
				op, err = client.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
			}
		} else {
			op, err = client.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
		}
		if err != nil {
			if ctx.Err() != nil {
				return last, ctxError{ctx.Err()}
			}
			if !transient(err) {
				return last, err
			}
			now := c.now()
			if failures == 0 {
				since = now
			}
			failures++
			if c.limitRetry && now.Sub(since) >= c.retryLimit {
				return last, &RetryError{Failures: failures, Elapsed: now.Sub(since), Err: err}
			}
			if err := pause(); err != nil {
				return last, err
			}
			continue
		}
		failures = 0
		last = op
		if c.observe != nil {
			c.observe(op)
		}
		if op.GetDone() {
			return op, result(op, resp)
		}
		// A long poll that came back well before its timeout, from a
		// server that ignores the timeout or caps it low, must not turn
		// into a busy loop; one that blocked resets the backoff.
		if longPoll && time.Since(began) >= min(c.waitTimeout/2, time.Second) {
			bo.Reset()
			continue
		}
		if err := pause(); err != nil {
			return last, err
		}
	}
}

// transient reports whether Wait retries err, the error of a call made
// under a context that has not ended.
func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// result unpacks the outcome of a done operation.
func result(op *longrunningpb.Operation, resp proto.Message) error {
	switch r := op.GetResult().(type) {
	case *longrunningpb.Operation_Error:
		return &OperationError{Name: op.GetName(), Status: r.Error}
	case *longrunningpb.Operation_Response:
		if resp == nil {
			return nil
		}
		if err := anypb.UnmarshalTo(r.Response, resp, proto.UnmarshalOptions{}); err != nil {
			return fmt.Errorf("lroclient: unpacking the response of %s (%s) into %T: %w", op.GetName(), r.Response.GetTypeUrl(), resp, err)
		}
	}
	return nil
}
