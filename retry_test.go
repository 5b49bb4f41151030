package lro_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// attempts is a registered handler that reports each run's attempt and
// returns what the test sends for it.
type attempts struct {
	ran     chan int
	results chan error
}

func newAttempts() *attempts {
	return &attempts{ran: make(chan int, 10), results: make(chan error, 10)}
}

func (a *attempts) handler(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
	a.ran <- op.Attempt()
	select {
	case err := <-a.results:
		if err != nil {
			return nil, err
		}
		return wrapperspb.String(fmt.Sprint("ok on ", op.Attempt())), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (a *attempts) next(t *testing.T) int {
	t.Helper()
	select {
	case n := <-a.ran:
		return n
	case <-time.After(waitTimeout):
		t.Fatal("no attempt ran")
		return 0
	}
}

func (a *attempts) noneRan(t *testing.T) {
	t.Helper()
	select {
	case n := <-a.ran:
		t.Fatalf("attempt %d ran; want none", n)
	default:
	}
}

// waitQueued waits, through the store's watch, until the operation is
// queued again after a failed attempt, and returns its record.
func waitQueued(t *testing.T, m *lro.Manager, name string) *lro.Record {
	t.Helper()
	changed := make(chan struct{}, 1)
	stop := m.Store().Watch(name, func(lro.Event) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer stop()
	deadline := time.After(waitTimeout)
	for {
		r := record(t, m, name)
		if r.Queued() && r.Attempt > 0 {
			return r
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s was not queued again: %+v", name, r)
		}
	}
}

var retryPolicy = lro.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: 10 * time.Second}

// TestRetryWithBackoff: retryable failures run the work again after the
// backoff, the operation staying not done and queued in between; the
// attempt counts.
func TestRetryWithBackoff(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk))
	a := newAttempts()
	if err := lro.Register(m, "k", a.handler, lro.KindRetry(retryPolicy)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	op, _ := m.StartKind(ctx, "k", wrapperspb.String("x"))
	if n := a.next(t); n != 1 {
		t.Fatalf("first run is attempt %d", n)
	}
	failedAt := clk.Now()
	a.results <- status.Error(codes.Unavailable, "try later")
	r := waitQueued(t, m, op.GetName())
	if r.Owner != "" || r.Attempt != 1 || get(t, m, op.GetName()).GetDone() {
		t.Fatalf("between attempts: owner %q attempt %d; want unowned, not done", r.Owner, r.Attempt)
	}
	if d := r.RunAfter.Sub(failedAt); d < 500*time.Millisecond || d > time.Second {
		t.Fatalf("first backoff %v; want within [0.5s, 1s]", d)
	}
	if q := listNames(t, m, "queued = true"); !q[op.GetName()] {
		t.Error("an operation waiting for its retry is not listed as queued")
	}
	clk.WaitForTimers(baseTimers+1, nil) // the retry's timer
	clk.Advance(r.RunAfter.Sub(clk.Now()) - time.Millisecond)
	a.noneRan(t)
	clk.Advance(time.Millisecond)
	if n := a.next(t); n != 2 {
		t.Fatalf("second run is attempt %d", n)
	}
	a.results <- status.Error(codes.ResourceExhausted, "quota")
	r = waitQueued(t, m, op.GetName())
	if d := r.RunAfter.Sub(clk.Now()); d < time.Second || d > 2*time.Second {
		t.Fatalf("second backoff %v; want within [1s, 2s]", d)
	}
	clk.WaitForTimers(baseTimers+1, nil)
	clk.Advance(2 * time.Second)
	if n := a.next(t); n != 3 {
		t.Fatalf("third run is attempt %d", n)
	}
	a.results <- nil
	done := waitDone(t, m, op.GetName())
	var resp wrapperspb.StringValue
	if err := done.GetResponse().UnmarshalTo(&resp); err != nil || resp.GetValue() != "ok on 3" {
		t.Errorf("response %q, %v", resp.GetValue(), err)
	}
}

// TestRetryEnds: a non-retryable error ends the operation at once, and
// after MaxAttempts the last failure is the operation's error; errors
// marked with lro.Retryable are retried.
func TestRetryEnds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		errs     []error
		wantCode codes.Code
		wantMsg  string
	}{
		{"not retryable", []error{status.Error(codes.InvalidArgument, "bad")}, codes.InvalidArgument, "bad"},
		{"plain error", []error{errors.New("plain")}, codes.Unknown, "plain"},
		{"exhausted", []error{status.Error(codes.Aborted, "one"), status.Error(codes.Unavailable, "two"), status.Error(codes.Unavailable, "three")}, codes.Unavailable, "three"},
		{"marked retryable", []error{lro.Retryable(errors.New("flaky")), status.Error(codes.NotFound, "gone")}, codes.NotFound, "gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := lrotest.NewClock(epoch)
			m := newManager(t, lro.WithClock(clk))
			a := newAttempts()
			if err := lro.Register(m, "k", a.handler, lro.KindRetry(retryPolicy)); err != nil {
				t.Fatal(err)
			}
			op, _ := m.StartKind(context.Background(), "k", wrapperspb.String("x"))
			for i, err := range tc.errs {
				if n := a.next(t); n != i+1 {
					t.Fatalf("run %d is attempt %d", i+1, n)
				}
				a.results <- err
				if i < len(tc.errs)-1 {
					waitQueued(t, m, op.GetName())
					clk.WaitForTimers(baseTimers+1, nil)
					clk.Advance(10 * time.Second)
				}
			}
			done := waitDone(t, m, op.GetName())
			if e := done.GetError(); codes.Code(e.GetCode()) != tc.wantCode || e.GetMessage() != tc.wantMsg {
				t.Errorf("error %v; want %v %q", e, tc.wantCode, tc.wantMsg)
			}
			a.noneRan(t)
		})
	}
}

// TestCancelBetweenAttempts: an operation waiting for its retry is
// cancelled at once and never runs again; one cancelled while it runs is
// not retried.
func TestCancelBetweenAttempts(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk))
	a := newAttempts()
	if err := lro.Register(m, "k", a.handler, lro.KindRetry(retryPolicy)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cancel := func(name string) {
		if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	op, _ := m.StartKind(ctx, "k", wrapperspb.String("x"))
	a.next(t)
	a.results <- status.Error(codes.Unavailable, "later")
	waitQueued(t, m, op.GetName())
	cancel(op.GetName())
	if got := get(t, m, op.GetName()); codes.Code(got.GetError().GetCode()) != codes.Canceled {
		t.Fatalf("cancelled between attempts: %v", got)
	}
	clk.Advance(2 * time.Second) // past the backoff
	a.noneRan(t)

	running, _ := m.StartKind(ctx, "k", wrapperspb.String("y"))
	a.next(t)
	cancel(running.GetName()) // the handler returns ctx.Err(): not retried
	if got := waitDone(t, m, running.GetName()); codes.Code(got.GetError().GetCode()) != codes.Canceled {
		t.Fatalf("cancelled while running: %v", got)
	}
	a.noneRan(t)
}

// TestRetryOnAnotherReplica: the retry of an operation is claimed by any
// replica that registered its kind.
func TestRetryOnAnotherReplica(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	store := lro.NewMemoryStore()
	a := newAttempts()
	first, err := lro.New(lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("first"))
	if err != nil {
		t.Fatal(err)
	}
	if err := lro.Register(first, "k", a.handler, lro.KindRetry(retryPolicy)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	op, _ := first.StartKind(ctx, "k", wrapperspb.String("x"))
	a.next(t)
	a.results <- status.Error(codes.Unavailable, "later")
	waitQueued(t, first, op.GetName())
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	second := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("second"))
	if err := lro.Register(second, "k", a.handler, lro.KindRetry(retryPolicy)); err != nil {
		t.Fatal(err)
	}
	a.noneRan(t) // not due yet
	// The second replica finds it on its maintenance tick (every 10s).
	clk.WaitForTimers(baseTimers, nil)
	clk.Advance(10 * time.Second)
	if n := a.next(t); n != 2 {
		t.Fatalf("retry ran as attempt %d", n)
	}
	if r := record(t, second, op.GetName()); r.Owner != "second" {
		t.Errorf("retry owned by %q", r.Owner)
	}
	a.results <- nil
	waitDone(t, second, op.GetName())
}
