package lro

// Benchmark 6, the hooks alone: what the observer adds to one run of work
// beyond what the OTel SDK itself costs for the same telemetry.

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// benchHookDiscard is a span exporter that drops what it is given.
type benchHookDiscard struct{}

func (benchHookDiscard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (benchHookDiscard) Shutdown(context.Context) error                             { return nil }

// BenchmarkOTelHooks measures, with the SDK providers of
// BenchmarkStartThroughputOTel/sdk (every span sampled, batched to an
// exporter that drops it; a manual reader), the telemetry of one
// successful run of work: the observer's hooks (operationStarted, runBegin,
// runEnd) against the least the SDK can be asked to do for the same record
// with synchronous instruments (sdk-floor: a root span with the same name,
// attributes and link, started as runBegin starts it, from a context whose
// span is hidden, with its start options built beforehand, and the three
// measurements, started, finished and duration, with attribute sets built
// beforehand). The sub-benchmarks run in the same process. The observer
// counts started and finished in atomics that the provider observes when
// it collects, so its hooks make one SDK measurement (the duration) where
// sdk-floor makes three. hooks-metrics is the observer with spans off (a
// no-op tracer provider): the metrics' share.
func BenchmarkOTelHooks(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(benchHookDiscard{}))
	b.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})
	link := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	reqCtx := trace.ContextWithSpanContext(context.Background(), link)
	wctx, cancel := context.WithCancelCause(context.WithoutCancel(reqCtx))
	defer cancel(nil)
	const name = "operations/5zrtchzj665yst3olqyjovcwye"
	created := time.Now()
	final := succeeded(nil)

	// hooks runs the observer's hooks for one successful run with tp.
	hooks := func(tp trace.TracerProvider) func(*testing.B) {
		return func(b *testing.B) {
			o, err := newObserver(mp, tp, "memory")
			if err != nil {
				b.Fatal(err)
			}
			t := &task{name: name, ctx: wctx, created: created}
			op := &Op{attempt: 1}
			b.ReportAllocs()
			for b.Loop() {
				o.operationStarted(reqCtx, "")
				r := o.runBegin(t, op)
				o.runEnd(r, t, time.Now(), nil, nil, final, true)
			}
		}
	}
	b.Run("hooks", hooks(tp))
	b.Run("hooks-metrics", hooks(tracenoop.NewTracerProvider()))
	b.Run("sdk-floor", func(b *testing.B) {
		meter := mp.Meter("bench")
		started, _ := meter.Int64Counter("started")
		finished, _ := meter.Int64Counter("finished")
		duration, _ := meter.Float64Histogram("duration", metric.WithExplicitBucketBoundaries(durationBuckets...))
		kind := metric.WithAttributeSet(attribute.NewSet(attrKind.String("")))
		kindCode := metric.WithAttributeSet(attribute.NewSet(attrKind.String(""), attrStatusCode.String("OK")))
		tracer := tp.Tracer("bench")
		start := []trace.SpanStartOption{trace.WithAttributes(attrKind.String(""), attrAttempt.Int(1), attrOperationName.String(name))}
		b.ReportAllocs()
		for b.Loop() {
			started.Add(reqCtx, 1, kind)
			ctx, span := tracer.Start(trace.ContextWithSpan(wctx, nil), "lro.run", start...)
			span.AddLink(trace.Link{SpanContext: link})
			d := time.Since(created)
			finished.Add(ctx, 1, kindCode)
			duration.Record(ctx, d.Seconds(), kindCode)
			span.End()
		}
	})
}
