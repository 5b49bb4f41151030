package lroclient_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro/lroclient"
)

// call is one answer of the clocked client: the fake clock moves by
// advance, then the call fails with err, or returns the running operation
// when err is nil.
type call struct {
	advance time.Duration
	err     error
}

// clocked is a polling Client whose calls move a fake clock.
type clocked struct {
	t     *testing.T
	now   time.Time
	calls []call
	made  int
	// during runs inside each call (nil: nothing).
	during func()
}

func (c *clocked) GetOperation(context.Context, *longrunningpb.GetOperationRequest, ...grpc.CallOption) (*longrunningpb.Operation, error) {
	if c.during != nil {
		c.during()
	}
	c.made++
	if len(c.calls) == 0 {
		return succeeded(wrapperspb.String("ok")), nil
	}
	next := c.calls[0]
	c.calls = c.calls[1:]
	c.now = c.now.Add(next.advance)
	if next.err != nil {
		return nil, next.err
	}
	return running(), nil
}

func (c *clocked) WaitOperation(context.Context, *longrunningpb.WaitOperationRequest, ...grpc.CallOption) (*longrunningpb.Operation, error) {
	c.t.Error("WaitOperation called in poll-only mode")
	return nil, status.Error(codes.Internal, "unexpected")
}

// TestWaitRetryLimit drives WithRetryLimit with a fake clock: transient
// errors are retried until they have lasted the limit, a success starts
// the count over, other errors end Wait unchanged.
func TestWaitRetryLimit(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "connection refused")
	deadline := status.Error(codes.DeadlineExceeded, "slow")
	notFound := status.Error(codes.NotFound, "no such operation")
	tests := []struct {
		name     string
		limit    time.Duration // negative: no WithRetryLimit
		calls    []call        // then, unless Wait ended, the operation is done
		wantErr  error         // the error Wait returns, or RetryError's Err
		failures int           // > 0: a RetryError of that many failures
		elapsed  time.Duration
	}{
		{name: "success", limit: 30 * time.Second, calls: []call{{0, nil}, {time.Hour, nil}}},
		{name: "gives up at the limit", limit: 30 * time.Second, calls: []call{
			{0, unavailable},
			{10 * time.Second, unavailable},
			{19 * time.Second, deadline},
			{time.Second, unavailable},
		}, wantErr: unavailable, failures: 4, elapsed: 30 * time.Second},
		{name: "success starts over", limit: 30 * time.Second, calls: []call{
			{0, unavailable},
			{29 * time.Second, unavailable},
			{0, nil},
			{time.Minute, unavailable},
			{29 * time.Second, unavailable},
			{time.Second, unavailable},
		}, wantErr: unavailable, failures: 3, elapsed: 30 * time.Second},
		{name: "zero never retries", limit: 0, calls: []call{{0, unavailable}}, wantErr: unavailable, failures: 1},
		{name: "other errors pass", limit: 0, calls: []call{{0, notFound}}, wantErr: notFound},
		{name: "no limit retries on", limit: -1, calls: []call{{0, unavailable}, {time.Hour, deadline}, {time.Hour, unavailable}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clocked{t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), calls: tt.calls}
			opts := []lroclient.Option{
				lroclient.WithPollOnly(),
				lroclient.WithBackoff(time.Microsecond, time.Microsecond),
				lroclient.WithClock(func() time.Time { return c.now }),
			}
			if tt.limit >= 0 {
				opts = append(opts, lroclient.WithRetryLimit(tt.limit))
			}
			wantCalls := len(tt.calls)
			if tt.wantErr == nil {
				wantCalls++ // the final, done answer
			}
			_, err := lroclient.Wait(context.Background(), c, "operations/x", nil, opts...)
			if c.made != wantCalls {
				t.Errorf("%d calls, want %d", c.made, wantCalls)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Wait: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Wait: %v, want %v", err, tt.wantErr)
			}
			var re *lroclient.RetryError
			if gaveUp := errors.As(err, &re); gaveUp != (tt.failures > 0) {
				t.Fatalf("Wait: %v; RetryError %v, want %v", err, gaveUp, tt.failures > 0)
			}
			if re == nil {
				if err != tt.wantErr {
					t.Errorf("Wait: %v, want the client's error unchanged", err)
				}
				return
			}
			if re.Failures != tt.failures || re.Elapsed != tt.elapsed {
				t.Errorf("RetryError after %d failures in %s, want %d in %s", re.Failures, re.Elapsed, tt.failures, tt.elapsed)
			}
			if !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("%q does not say the last error", err)
			}
			if status.Code(err) != status.Code(tt.wantErr) {
				t.Errorf("code %v, want the last error's %v", status.Code(err), status.Code(tt.wantErr))
			}
		})
	}

	// An error of a call whose context ended is the context's, not a
	// transient error to count, even with a limit of 0.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &clocked{t: t, calls: []call{{0, unavailable}}, during: cancel}
	_, err := lroclient.Wait(ctx, c, "operations/x", nil, lroclient.WithPollOnly(), lroclient.WithRetryLimit(0))
	var re *lroclient.RetryError
	if status.Code(err) != codes.Canceled || !errors.Is(err, context.Canceled) || errors.As(err, &re) {
		t.Errorf("cancelled context: %v, want CANCELLED", err)
	}
}
