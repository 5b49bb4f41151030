package lro_test

import (
	"context"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// baseTimers are the timers every idle Manager arms: the sweep and the
// lease loop.
const baseTimers = 2

func wantDeadlineExceeded(t *testing.T, m *lro.Manager, name string) {
	t.Helper()
	op := waitDone(t, m, name)
	if codes.Code(op.GetError().GetCode()) != codes.DeadlineExceeded {
		t.Fatalf("%s: %v; want DEADLINE_EXCEEDED", name, op)
	}
}

// TestTimeoutEndsWorkThatIgnoresItsContext: at the deadline the work's
// context is cancelled and the operation ends, although the work goes on;
// what it returns later is dropped.
func TestTimeoutEndsWorkThatIgnoresItsContext(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m, err := lro.New(lro.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	release := make(chan struct{})
	ctxDone := make(chan error, 1)
	started := make(chan struct{})
	op, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		go func() { <-ctx.Done(); ctxDone <- context.Cause(ctx) }()
		close(started)
		<-release // ignores ctx
		return wrapperspb.String("late"), nil
	}, lro.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if r := record(t, m, op.GetName()); !r.Deadline.Equal(epoch.Add(5 * time.Second)) {
		t.Errorf("stored deadline %v; want creation + 5s", r.Deadline)
	}
	clk.WaitForTimers(baseTimers+1, nil)
	clk.Advance(5*time.Second - time.Millisecond)
	if get(t, m, op.GetName()).GetDone() {
		t.Fatal("done before the deadline")
	}
	clk.Advance(time.Millisecond)
	wantDeadlineExceeded(t, m, op.GetName())
	if cause := <-ctxDone; cause == nil {
		t.Error("the work's context was not cancelled")
	}
	close(release)
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkNoManagerGoroutines(t, m)
	r, _ := m.Store().Get(ctx, op.GetName())
	if codes.Code(r.Operation.GetError().GetCode()) != codes.DeadlineExceeded {
		t.Errorf("after the late result: %v; want it dropped", r.Operation)
	}
}

// TestTimeoutCountsQueuedTime: the deadline runs from creation, so work
// that waits queued past it never runs.
func TestTimeoutCountsQueuedTime(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk), lro.WithMaxRunning(1))
	g := newGate()
	ctx := context.Background()
	first, _ := m.Start(ctx, g.work("first"))
	g.next(t)
	late, err := m.Start(ctx, g.work("late"), lro.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	next, _ := m.Start(ctx, g.work("next"))
	clk.WaitForTimers(baseTimers+1, nil)
	clk.Advance(time.Second)
	wantDeadlineExceeded(t, m, late.GetName())
	g.open("first")
	waitDone(t, m, first.GetName())
	if s := g.next(t); s != "next" {
		t.Fatalf("started %s; want next (late timed out queued)", s)
	}
	g.open("next")
	waitDone(t, m, next.GetName())
}

// TestKindTimeoutOfUnheldQueuedWork: a queued operation of a kind that no
// replica holds is ended by the maintenance tick; WithTimeout overrides
// KindTimeout.
func TestKindTimeoutOfUnheldQueuedWork(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk), lro.WithMaxRunning(0), lro.WithLease(3*time.Second))
	ticks := make(chan struct{}, 10)
	lro.SetAfterMaintain(m, func() { ticks <- struct{}{} })
	if err := lro.Register(m, "k", exportHandler, lro.KindTimeout(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	short, _ := m.StartKind(ctx, "k", wrapperspb.String("short"))
	long, _ := m.StartKind(ctx, "k", wrapperspb.String("long"), lro.WithTimeout(time.Hour))
	if r := record(t, m, long.GetName()); !r.Deadline.Equal(epoch.Add(time.Hour)) {
		t.Errorf("WithTimeout did not override KindTimeout: deadline %v", r.Deadline)
	}
	for range 2 { // the lease loop ticks every second
		clk.WaitForTimers(baseTimers, nil)
		clk.Advance(time.Second)
		<-ticks
	}
	wantDeadlineExceeded(t, m, short.GetName())
	if get(t, m, long.GetName()).GetDone() {
		t.Error("the operation with an hour left timed out")
	}
}

// TestTimeoutOfCreatedOperation: an operation made by Create times out too.
func TestTimeoutOfCreatedOperation(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk))
	ctx := context.Background()
	op, err := m.Create(ctx, lro.WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	clk.WaitForTimers(baseTimers+1, nil)
	clk.Advance(time.Minute)
	wantDeadlineExceeded(t, m, op.GetName())
	wantCode(t, m.Complete(ctx, op.GetName(), nil), codes.FailedPrecondition)
}
