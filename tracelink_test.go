package lro_test

import (
	"context"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The runs the store hands out (a retry: TestRetryTelemetry; a claim from
// the queue; a takeover) link to the span of the request that started the
// operation, which the record keeps (Record.TraceParent).

// runSpans returns the ended run spans of the operation called name, in
// the order they started.
func runSpans(h *otelHarness, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range h.spans.Ended() {
		if v, ok := spanAttrs(s)["lro.operation.name"]; ok && v.AsString() == name {
			out = append(out, s)
		}
	}
	return out
}

// checkLinkedTo checks that span links to request and to nothing else.
func checkLinkedTo(t *testing.T, what string, span sdktrace.ReadOnlySpan, request trace.SpanContext) {
	t.Helper()
	links := span.Links()
	if len(links) != 1 {
		t.Errorf("%s: %d links %v, want one to the request span %v", what, len(links), links, request)
		return
	}
	got := links[0].SpanContext
	if got.TraceID() != request.TraceID() || got.SpanID() != request.SpanID() || got.TraceFlags() != request.TraceFlags() {
		t.Errorf("%s: links to %v, want the request span %v", what, got, request)
	}
}

// TestQueuedRunLinksToRequest: work of a kind with a global limit waits
// in the store's queue and is claimed from there, without the Start
// context; its run links to the span of the request that started it, each
// operation to its own.
func TestQueuedRunLinksToRequest(t *testing.T) {
	h := newOTelHarness(t)
	g := newGate()
	if err := lro.Register(h.m, "licensed", g.handler, lro.KindMaxRunningGlobal(1)); err != nil {
		t.Fatal(err)
	}
	requests := map[string]trace.SpanContext{}
	var names []string
	for _, l := range []string{"a", "b"} {
		ctx, request := h.tp.Tracer("host").Start(context.Background(), "Import "+l)
		op, err := h.m.StartKind(ctx, "licensed", wrapperspb.String(l))
		request.End()
		if err != nil {
			t.Fatal(err)
		}
		if r := record(t, h.m, op.GetName()); r.TraceParent == "" {
			t.Errorf("%s: the record keeps no trace context", op.GetName())
		}
		requests[op.GetName()] = request.SpanContext()
		names = append(names, op.GetName())
	}
	for range names {
		g.open(g.next(t))
	}
	for _, n := range names {
		waitDone(t, h.m, n)
	}
	h.close(t)
	for _, n := range names {
		runs := runSpans(h, n)
		if len(runs) != 1 {
			t.Fatalf("%s: %d run spans, want 1", n, len(runs))
		}
		checkLinkedTo(t, "the claimed run of "+n, runs[0], requests[n])
	}
}

// TestTakenOverRunLinksToRequest: work whose Manager stopped renewing its
// lease (its clock stands still: it hangs, or is cut off) is taken over by
// another Manager once the lease lapsed; the run there links to the span
// of the request that started the operation on the first Manager.
func TestTakenOverRunLinksToRequest(t *testing.T) {
	store := lro.NewMemoryStore()
	work := func(ctx context.Context, op *lro.Op, _ *wrapperspb.StringValue) (proto.Message, error) {
		if op.Attempt() == 1 {
			<-ctx.Done() // until the operation is taken over, or Close
			return nil, context.Cause(ctx)
		}
		return nil, nil
	}
	first := newManager(t, lro.WithStore(store), lro.WithClock(lrotest.NewClock(epoch)), lro.WithOwner("first"),
		lro.WithLease(testLease), lro.WithoutTelemetry())
	if err := lro.Register(first, "export", work); err != nil {
		t.Fatal(err)
	}
	clk := lrotest.NewClock(epoch.Add(testLease + time.Microsecond)) // the first Manager's lease has lapsed
	h := newOTelHarness(t, lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("second"), lro.WithLease(testLease))
	if err := lro.Register(h.m, "export", work); err != nil {
		t.Fatal(err)
	}
	ctx, request := h.tp.Tracer("host").Start(context.Background(), "Export")
	op, err := first.StartKind(ctx, "export", wrapperspb.String("x"))
	request.End()
	if err != nil {
		t.Fatal(err)
	}
	if r := record(t, first, op.GetName()); r.Owner != "first" || r.Attempt != 1 {
		t.Fatalf("started on the first Manager: owner %q attempt %d", r.Owner, r.Attempt)
	}

	tick(clk, maintained(h.m))
	waitDone(t, h.m, op.GetName())
	if r := record(t, h.m, op.GetName()); r.Owner != "second" || r.Attempt != 2 {
		t.Fatalf("finished by %q at attempt %d, want taken over by the second Manager at attempt 2", r.Owner, r.Attempt)
	}
	h.close(t)
	runs := runSpans(h, op.GetName())
	if len(runs) != 1 {
		t.Fatalf("%d run spans on the second Manager, want 1", len(runs))
	}
	checkLinkedTo(t, "the run taken over", runs[0], request.SpanContext())
}

// TestMalformedTraceParentRunsWithoutLink: a record whose stored trace
// context is not a traceparent still runs, to success; its run's span has
// no link.
func TestMalformedTraceParentRunsWithoutLink(t *testing.T) {
	for _, stored := range []string{
		"garbage",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", // uppercase
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
	} {
		store := lro.NewMemoryStore()
		acceptor := newManager(t, lro.WithStore(store), lro.WithMaxRunning(0), lro.WithOwner("acceptor"), lro.WithoutTelemetry())
		ran := make(chan struct{}, 1)
		work := func(context.Context, *lro.Op, *wrapperspb.StringValue) (proto.Message, error) {
			ran <- struct{}{}
			return nil, nil
		}
		if err := lro.Register(acceptor, "export", work); err != nil {
			t.Fatal(err)
		}
		h := newOTelHarness(t, lro.WithStore(store), lro.WithOwner("worker"))
		ctx, request := h.tp.Tracer("host").Start(context.Background(), "Export")
		op, err := acceptor.StartKind(ctx, "export", wrapperspb.String("x"))
		request.End()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Update(context.Background(), op.GetName(), func(r *lro.Record) error {
			r.TraceParent = stored
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := lro.Register(h.m, "export", work); err != nil { // the worker claims it now
			t.Fatal(err)
		}
		<-ran
		if done := waitDone(t, h.m, op.GetName()); done.GetError() != nil {
			t.Errorf("stored %q: the operation failed: %v", stored, done.GetError())
		}
		h.close(t)
		runs := runSpans(h, op.GetName())
		if len(runs) != 1 {
			t.Fatalf("stored %q: %d run spans, want 1", stored, len(runs))
		}
		if links := runs[0].Links(); len(links) != 0 {
			t.Errorf("stored %q: the run links to %v, want nothing", stored, links)
		}
	}
}
