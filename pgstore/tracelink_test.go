package pgstore

import (
	"context"
	"testing"

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
