package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestQueuedRunLinksToRequest: work of a kind with a global limit, started
// with StartKind or with StartKindTx, is claimed from the queue in
// PostgreSQL, without the Start context; the record keeps the request's
// span (trace_parent), and the run's span links to it.
func TestQueuedRunLinksToRequest(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	store := newStore(t, freshSchema(t))
	m := lrotest.NewManager(t, store, lro.WithTracerProvider(tp), lro.WithMeterProvider(metricnoop.NewMeterProvider()))
	work := func(context.Context, *lro.Op, *wrapperspb.StringValue) (proto.Message, error) { return nil, nil }
	if err := lro.Register(m, "licensed", work, lro.KindMaxRunningGlobal(1)); err != nil {
		t.Fatal(err)
	}
	requests := map[string]trace.SpanContext{}
	for _, inTx := range []bool{false, true} {
		ctx, request := tp.Tracer("host").Start(context.Background(), "Import")
		var name string
		if inTx {
			tx, err := store.Pool().Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			op, err := StartKindTx(ctx, tx, m, "licensed", wrapperspb.String("tx"))
			if err != nil {
				t.Fatalf("StartKindTx: %v", err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			name = op.GetName()
		} else {
			op, err := m.StartKind(ctx, "licensed", wrapperspb.String("plain"))
			if err != nil {
				t.Fatal(err)
			}
			name = op.GetName()
		}
		request.End()
		requests[name] = request.SpanContext()
	}
	for name, request := range requests {
		lrotest.WaitDone(t, m, name)
		r, err := store.Get(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		sc := request
		want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
		if r.TraceParent != want {
			t.Errorf("%s: stored TraceParent %q, want %q", name, r.TraceParent, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), lrotest.WatchTimeout)
	defer cancel()
	if err := m.Close(ctx); err != nil { // every run's span has ended
		t.Fatal(err)
	}
	for name, request := range requests {
		var runs []sdktrace.ReadOnlySpan
		for _, s := range spans.Ended() {
			for _, kv := range s.Attributes() {
				if kv.Key == "lro.operation.name" && kv.Value.AsString() == name {
					runs = append(runs, s)
				}
			}
		}
		if len(runs) != 1 {
			t.Fatalf("%s: %d run spans, want 1", name, len(runs))
		}
		links := runs[0].Links()
		if len(links) != 1 || links[0].SpanContext.TraceID() != request.TraceID() || links[0].SpanContext.SpanID() != request.SpanID() {
			t.Errorf("%s: the claimed run links to %v, want the request span %v", name, links, request)
		}
	}
}

// TestTakenOverRunLinksToRequest: a replica that died left a running
// operation whose record keeps the request's span; another replica takes
// it over once the dead one's lease has lapsed (ClaimExpired, in
// PostgreSQL) and runs it again, and that run's span links to the request.
func TestTakenOverRunLinksToRequest(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	request := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	r := leftByDeadReplica(t, s, "pod-0", func(r *lro.Record) {
		r.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	})

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	m := lrotest.NewManager(t, s, lro.WithOwner("pod-1"), lro.WithLease(3*time.Second),
		lro.WithTracerProvider(tp), lro.WithMeterProvider(metricnoop.NewMeterProvider()))
	if err := lro.Register(m, "echo", func(context.Context, *lro.Op, *wrapperspb.StringValue) (proto.Message, error) {
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	name := r.Operation.GetName()
	lrotest.WaitDone(t, m, name)
	if got, err := s.Get(ctx, name); err != nil || got.Owner != "pod-1" || got.Attempt != 2 {
		t.Fatalf("after the takeover: %+v, %v; want owner pod-1 at attempt 2", got, err)
	}
	cctx, cancel := context.WithTimeout(ctx, lrotest.WatchTimeout)
	defer cancel()
	if err := m.Close(cctx); err != nil { // every run's span has ended
		t.Fatal(err)
	}
	var links []sdktrace.Link
	for _, span := range spans.Ended() {
		for _, kv := range span.Attributes() {
			if kv.Key == "lro.operation.name" && kv.Value.AsString() == name {
				links = append(links, span.Links()...)
			}
		}
	}
	if len(links) != 1 || !links[0].SpanContext.Equal(request.WithRemote(true)) {
		t.Errorf("the run taken over links to %v, want only the request span %v", links, request)
	}
}
