package lro_test

import (
	"context"
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

// delayedManager is a Manager on the fake clock whose maintenance round
// is hours away, so only its own due-time timer can start delayed work,
// with a kind "echo" whose runs are reported on ran.
func delayedManager(t *testing.T, opts ...lro.Option) (*lro.Manager, *lrotest.Clock, <-chan string) {
	t.Helper()
	clk := lrotest.NewClock(epoch)
	m := newManager(t, append([]lro.Option{lro.WithClock(clk), lro.WithLease(24 * time.Hour)}, opts...)...)
	ran := make(chan string, 10)
	if err := lro.Register(m, "echo", func(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
		ran <- req.GetValue()
		return req, nil
	}); err != nil {
		t.Fatal(err)
	}
	return m, clk, ran
}

// nextRun returns the next run reported on ran.
func nextRun(t *testing.T, ran <-chan string) string {
	t.Helper()
	select {
	case s := <-ran:
		return s
	case <-time.After(waitTimeout):
		t.Fatal("nothing ran")
		return ""
	}
}

// waitTimer waits until clk has a timer due d from now.
func waitTimer(t *testing.T, clk *lrotest.Clock, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	timeout := time.AfterFunc(waitTimeout, func() { close(done) })
	defer timeout.Stop()
	if !clk.WaitForTimer(d, done) {
		t.Fatalf("no timer was armed for %v from now", d)
	}
}

// TestStartAfter: a delayed operation is stored queued with its RunAfter,
// although a slot is free, and runs when its time comes; two delayed
// operations each run at their own time, the later one scheduled first.
func TestStartAfter(t *testing.T) {
	m, clk, ran := delayedManager(t)
	ctx := context.Background()
	later, err := m.StartKind(ctx, "echo", wrapperspb.String("later"), lro.WithStartAfter(epoch.Add(2*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	sooner, err := m.StartKind(ctx, "echo", wrapperspb.String("sooner"), lro.WithStartAfter(epoch.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		op *longrunningpb.Operation
		at time.Time
	}{{later, epoch.Add(2 * time.Hour)}, {sooner, epoch.Add(time.Hour)}} {
		r := record(t, m, c.op.GetName())
		if !r.Queued() || r.Owner != "" || !r.RunAfter.Equal(c.at) || c.op.GetDone() {
			t.Errorf("%s: queued %v, owner %q, run after %v; want queued, unowned, run after %v", c.op.GetName(), r.Queued(), r.Owner, r.RunAfter, c.at)
		}
	}

	waitTimer(t, clk, time.Hour)
	clk.Advance(time.Hour)
	if s := nextRun(t, ran); s != "sooner" {
		t.Fatalf("ran %s at +1h; want sooner", s)
	}
	waitDone(t, m, sooner.GetName())
	if get(t, m, later.GetName()).GetDone() {
		t.Fatal("the +2h operation is done at +1h")
	}
	waitTimer(t, clk, time.Hour) // the later one's time is still kept
	clk.Advance(time.Hour)
	if s := nextRun(t, ran); s != "later" {
		t.Fatalf("ran %s at +2h; want later", s)
	}
	waitDone(t, m, later.GetName())
}

// TestStartAfterPastRunsNow: a time not after the start starts the
// operation at once, as without the option.
func TestStartAfterPastRunsNow(t *testing.T) {
	m, _, ran := delayedManager(t)
	op, err := m.StartKind(context.Background(), "echo", wrapperspb.String("now"), lro.WithStartAfter(epoch.Add(-time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if s := nextRun(t, ran); s != "now" {
		t.Fatalf("ran %s", s)
	}
	if r := waitDone(t, m, op.GetName()); r.GetResponse() == nil {
		t.Errorf("%v; want a response", r)
	}
	if r := record(t, m, op.GetName()); !r.RunAfter.IsZero() {
		t.Errorf("RunAfter = %v; want none", r.RunAfter)
	}
}

// TestStartAfterCancel: cancelling a delayed operation ends it CANCELLED
// at once, and it never runs, even once its time has come.
func TestStartAfterCancel(t *testing.T) {
	m, clk, ran := delayedManager(t)
	ctx := context.Background()
	op, err := m.StartKind(ctx, "echo", wrapperspb.String("cancelled"), lro.WithStartAfter(epoch.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatal(err)
	}
	if r := get(t, m, op.GetName()); codes.Code(r.GetError().GetCode()) != codes.Canceled {
		t.Fatalf("%v; want CANCELLED at once", r)
	}
	// A later operation, due at the same time, runs; the cancelled one
	// never does.
	next, err := m.StartKind(ctx, "echo", wrapperspb.String("next"), lro.WithStartAfter(epoch.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	waitTimer(t, clk, time.Hour)
	clk.Advance(time.Hour)
	if s := nextRun(t, ran); s != "next" {
		t.Fatalf("ran %s; want next", s)
	}
	waitDone(t, m, next.GetName())
}

// TestStartAfterRefused: WithStartAfter is refused for work functions,
// Create, and a time not before the deadline.
func TestStartAfterRefused(t *testing.T) {
	m, _, _ := delayedManager(t)
	if err := lro.Register(m, "timed", func(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
		return req, nil
	}, lro.KindTimeout(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hour := lro.WithStartAfter(epoch.Add(time.Hour))
	for name, start := range map[string]func() (*longrunningpb.Operation, error){
		"Start": func() (*longrunningpb.Operation, error) {
			return m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil }, hour)
		},
		"Create": func() (*longrunningpb.Operation, error) { return m.Create(ctx, hour) },
		"KindTimeout": func() (*longrunningpb.Operation, error) {
			return m.StartKind(ctx, "timed", wrapperspb.String("x"), hour)
		},
		"WithTimeout": func() (*longrunningpb.Operation, error) {
			return m.StartKind(ctx, "echo", wrapperspb.String("x"), hour, lro.WithTimeout(time.Hour))
		},
	} {
		if op, err := start(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s = %v, %v; want INVALID_ARGUMENT", name, op, err)
		}
	}
}
