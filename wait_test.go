package lro_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestWaitDoneReturnsAtOnce(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk))
	ctx := context.Background()
	op, _ := m.Create(ctx)
	_ = m.Complete(ctx, op.GetName(), nil)
	// No clock advance and no deadline: only an immediate answer passes.
	got, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Hour)})
	if err != nil || !got.GetDone() {
		t.Fatalf("Wait on a done operation: %v, %v", got, err)
	}
}

func TestWaitWakesOnCompletion(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk))
	ctx := context.Background()
	op, _ := m.Create(ctx)
	type result struct {
		op  *longrunningpb.Operation
		err error
	}
	res := make(chan result, 1)
	go func() {
		got, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Hour)})
		res <- result{got, err}
	}()
	// The waiter has armed its timer: it is blocked.
	if !clk.WaitForTimers(3, nil) { // sweep, lease, and the waiter
		t.Fatal("waiter never armed its timer")
	}
	select {
	case r := <-res:
		t.Fatalf("Wait returned before completion: %v %v", r.op, r.err)
	default:
	}
	if err := m.Complete(ctx, op.GetName(), wrapperspb.String("ok")); err != nil {
		t.Fatal(err)
	}
	r := <-res // the fake clock never moved: the notification woke it
	if r.err != nil || !r.op.GetDone() {
		t.Fatalf("Wait after completion: %v, %v", r.op, r.err)
	}
}

func TestWaitTimeoutReturnsLatestState(t *testing.T) {
	tests := []struct {
		desc    string
		timeout *durationpb.Duration
		maxWait time.Duration
		advance time.Duration
	}{
		{"request timeout", durationpb.New(10 * time.Second), time.Minute, 10 * time.Second},
		{"server cap shorter than timeout", durationpb.New(time.Hour), 30 * time.Second, 30 * time.Second},
		{"no timeout uses the cap", nil, 20 * time.Second, 20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			clk := lrotest.NewClock(epoch)
			m := newManager(t, lro.WithClock(clk), lro.WithMaxWait(tt.maxWait))
			ctx := context.Background()
			op, _ := m.Create(ctx, lro.WithMetadata(wrapperspb.Int32(1)))
			res := make(chan *longrunningpb.Operation, 1)
			errc := make(chan error, 1)
			go func() {
				got, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: tt.timeout})
				res <- got
				errc <- err
			}()
			clk.WaitForTimers(3, nil)
			_ = m.SetMetadata(ctx, op.GetName(), wrapperspb.Int32(2))
			clk.Advance(tt.advance - time.Microsecond)
			select {
			case got := <-res:
				t.Fatalf("Wait returned early: %v", got)
			default:
			}
			clk.Advance(time.Microsecond)
			got := <-res
			if err := <-errc; err != nil {
				t.Fatalf("timeout is not an error, got %v", err)
			}
			if got.GetDone() {
				t.Fatalf("got done %v", got)
			}
			if diff := cmp.Diff(mustAny(t, wrapperspb.Int32(2)), got.GetMetadata(), protocmp.Transform()); diff != "" {
				t.Errorf("Wait did not return the latest state (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWaitZeroTimeoutAndNegative(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk))
	ctx := context.Background()
	op, _ := m.Create(ctx)
	got, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(0)})
	if err != nil || got.GetDone() {
		t.Fatalf("zero timeout: %v %v, want the running operation at once", got, err)
	}
	_, err = m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(-time.Second)})
	wantCode(t, err, codes.InvalidArgument)
	_, err = m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: &durationpb.Duration{Seconds: 1, Nanos: -5}})
	wantCode(t, err, codes.InvalidArgument)
}

func TestWaitHonoursRPCDeadline(t *testing.T) {
	clk := lrotest.NewClock(epoch) // never advanced: only the deadline can end the wait
	m := newManager(t, lro.WithClock(clk))
	op, _ := m.Create(context.Background())
	// Wait answers a tenth of the time left before the deadline, at most
	// 100 ms: the whole 100 ms here, margin for a loaded machine running
	// the race detector.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	got, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatalf("Wait hitting the RPC deadline: %v, want the latest state", err)
	}
	if got.GetDone() || got.GetName() != op.GetName() {
		t.Fatalf("got %v", got)
	}
	if ctx.Err() != nil {
		t.Errorf("Wait answered after the deadline had passed; the client would not get the answer")
	}
}
