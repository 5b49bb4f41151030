package lro_test

// Benchmark 6: the cost of OpenTelemetry on Start→done (see BENCHMARKS.md).

import (
	"context"
	"crypto/sha256"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"
)

// benchChunkStore signals on done when the last of a chunk of operations
// has been finished through it.
type benchChunkStore struct {
	lro.Store
	left atomic.Int64
	done chan struct{}
}

func newBenchChunkStore() *benchChunkStore {
	return &benchChunkStore{Store: lro.NewMemoryStore(), done: make(chan struct{}, 1)}
}

func (s *benchChunkStore) Finish(ctx context.Context, p lro.FinishParams) error {
	err := s.Store.(lro.Finisher).Finish(ctx, p)
	if err == nil && s.left.Add(-1) == 0 {
		s.done <- struct{}{}
	}
	return err
}

// benchDiscard is a span exporter that counts the spans it is given and
// drops them.
type benchDiscard struct{ spans atomic.Int64 }

func (d *benchDiscard) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	d.spans.Add(int64(len(spans)))
	return nil
}
func (*benchDiscard) Shutdown(context.Context) error { return nil }

// benchOTelChunk is how many operations each side starts in a row before
// the other side's turn.
const benchOTelChunk = 250

// benchOTelWarmChunks is how many turns each side takes before the
// measured ones.
const benchOTelWarmChunks = 4

// BenchmarkStartThroughputOTel measures what OpenTelemetry costs on the
// Start→done path of no-op operations, against an uninstrumented Manager
// (one that calls no instrument and starts no span) in the same run: the
// two Managers take turns, benchOTelChunk operations at a time, the side
// that goes first alternating, each with benchStarters concurrent starters.
// Each iteration of b.N is one operation on each side. The variants are
// the instrumented Manager's providers:
//
//   - control: no telemetry on either side, to show the noise;
//   - noop: the OTel API's no-op meter and tracer providers (target ≤ 1.1×);
//   - global: the defaults, the global providers, with no SDK installed;
//   - sdk: the OTel SDK, a meter provider with a manual reader and a
//     tracer provider that samples every span and batches it to an
//     exporter that drops it (target ≤ 1.3×);
//   - sdk-simple: as sdk, with the spans handed to the exporter in End by a
//     simple span processor instead of a batcher (not a production
//     setting: it shows what the batcher's hand-off to its goroutine costs);
//   - sdk-no-exemplars: as sdk, with the meter provider's exemplar filter
//     off (by default the SDK keeps an exemplar of each measurement made
//     in a sampled span's context: here, all three per operation);
//   - sdk-metrics: the SDK's meter provider as in sdk, spans off (a no-op
//     tracer provider);
//   - sdk-sampled-10pct: the SDK as in sdk, sampling one run in ten
//     (ParentBased(TraceIDRatioBased(0.1)); a run's span is a root);
//   - sdk-work: as sdk, with work that computes a few microseconds (on
//     both sides; BenchmarkOTelWork) instead of returning at once;
//   - sdk-by-hand: no instrumented Manager: the work of one of two
//     uninstrumented Managers makes the telemetry of its run itself, with
//     the sdk variant's providers (benchByHand).
//
// The Start context carries a sampled span context, so every run span has
// a link. Both sides first take benchOTelWarmChunks turns that are not
// counted. It reports otel/base (wall time) and, where the CPU time can be
// read, otel/base-cpu, with base-ns/op, otel-ns/op, and the heap
// allocations and bytes allocated per operation of each side
// (base-allocs/op, otel-allocs/op, base-B/op, otel-B/op); ns/op is the
// instrumented side alone. Run it with -run '^$': a test that installs
// global providers would change the global variant.
func BenchmarkStartThroughputOTel(b *testing.B) {
	variants := []struct {
		name string
		opts func(b *testing.B) []lro.Option
	}{
		{"control", func(*testing.B) []lro.Option { return []lro.Option{lro.WithoutTelemetry()} }},
		{"noop", func(*testing.B) []lro.Option {
			return []lro.Option{lro.WithMeterProvider(metricnoop.NewMeterProvider()), lro.WithTracerProvider(tracenoop.NewTracerProvider())}
		}},
		{"global", func(*testing.B) []lro.Option { return nil }},
		{"sdk", benchSDKDefault},
		{"sdk-simple", func(b *testing.B) []lro.Option {
			// Not a production setting: spans handed to the exporter in End.
			return benchSDKOptions(b, nil, benchSampleAll, sdktrace.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(new(benchDiscard))))
		}},
		{"sdk-no-exemplars", func(b *testing.B) []lro.Option {
			return benchSDKOptions(b, []sdkmetric.Option{sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter)}, benchSampleAll, benchBatched(b))
		}},
		{"sdk-metrics", func(b *testing.B) []lro.Option {
			mp, _ := benchSDK(b, nil)
			return []lro.Option{lro.WithMeterProvider(mp), lro.WithTracerProvider(tracenoop.NewTracerProvider())}
		}},
		{"sdk-sampled-10pct", func(b *testing.B) []lro.Option {
			return benchSDKOptions(b, nil, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1))), benchBatched(b))
		}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) { benchOTel(b, benchSpin(0), v.opts(b)) })
	}
	// The sdk variant again, with work that computes benchWork sums on
	// both sides instead of returning at once.
	b.Run("sdk-work", func(b *testing.B) { benchOTel(b, benchSpin(benchWork), benchSDKDefault(b)) })
	// The sdk variant's telemetry made by hand instead: both Managers are
	// uninstrumented, and the work of one of them records what the
	// observer records for a run, with the same SDK configuration.
	b.Run("sdk-by-hand", func(b *testing.B) {
		by := benchByHand(b)
		benchOTelWork(b, benchSpin(0), by, lro.WithoutTelemetry())
	})
}

// benchSampleAll is the sampler option of the sdk variant: every span
// sampled.
var benchSampleAll = sdktrace.WithSampler(sdktrace.AlwaysSample())

// benchBatched returns the span processor option of the sdk variant: a
// new batching span processor, and an exporter that drops the spans,
// which fails b if none reached it by the time the provider was shut
// down. Each tracer provider needs its own: shutting a provider down shuts
// its processors down, and a stopped batcher drops every span at End
// without the hand-off to its goroutine that is part of what is measured.
func benchBatched(b *testing.B) sdktrace.TracerProviderOption {
	d := new(benchDiscard)
	b.Cleanup(func() { // after benchSDK's, which shuts the provider down
		if d.spans.Load() == 0 {
			b.Error("no span reached the exporter: was the batching processor stopped?")
		}
	})
	return sdktrace.WithBatcher(d)
}

// benchSDK returns OTel SDK providers shut down when b ends: a meter
// provider with a manual reader and mopts, and a tracer provider made
// with topts.
func benchSDK(b *testing.B, mopts []sdkmetric.Option, topts ...sdktrace.TracerProviderOption) (*sdkmetric.MeterProvider, *sdktrace.TracerProvider) {
	mp := sdkmetric.NewMeterProvider(append([]sdkmetric.Option{sdkmetric.WithReader(sdkmetric.NewManualReader())}, mopts...)...)
	tp := sdktrace.NewTracerProvider(topts...)
	b.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})
	return mp, tp
}

// benchSDKOptions returns benchSDK's providers as a Manager's options.
func benchSDKOptions(b *testing.B, mopts []sdkmetric.Option, topts ...sdktrace.TracerProviderOption) []lro.Option {
	mp, tp := benchSDK(b, mopts, topts...)
	return []lro.Option{lro.WithMeterProvider(mp), lro.WithTracerProvider(tp)}
}

// benchSDKDefault returns the sdk variant's options: the SDK's default
// configuration with every span sampled.
func benchSDKDefault(b *testing.B) []lro.Option {
	return benchSDKOptions(b, nil, benchSampleAll, benchBatched(b))
}

// benchSpin returns work that computes n SHA-256 sums (none when 0).
func benchSpin(n int) lro.WorkFunc {
	return func(context.Context, *lro.Op) (proto.Message, error) {
		benchCompute(n)
		return nil, nil
	}
}

// benchByHand returns work that makes, with the OTel SDK as in the sdk
// variant of BenchmarkStartThroughputOTel, the telemetry of one successful
// run: the started and finished counts in atomics (as the observer keeps
// them), a root span named lro.run with lro.kind, lro.attempt and
// lro.operation.name given at its start and a link to the span in the
// work's context, and the duration measured in the span's context. It is
// the least any instrumentation of a run can ask of the SDK.
func benchByHand(b *testing.B) lro.WorkFunc {
	mp, tp := benchSDK(b, nil, benchSampleAll, benchBatched(b))
	tracer := tp.Tracer("bench")
	duration, err := mp.Meter("bench").Float64Histogram("lro.operation.duration", metric.WithUnit("s"))
	if err != nil {
		b.Fatal(err)
	}
	rec := metric.WithAttributeSet(attribute.NewSet(attribute.String("lro.kind", ""), attribute.String("lro.status_code", "OK")))
	var started, finished atomic.Int64
	type startOpts struct {
		attrs [3]attribute.KeyValue
		opts  [1]trace.SpanStartOption
	}
	pool := sync.Pool{New: func() any {
		s := new(startOpts)
		s.opts[0] = trace.WithAttributes(s.attrs[:]...)
		return s
	}}
	return func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		t0 := time.Now()
		started.Add(1)
		req := trace.SpanContextFromContext(ctx)
		s := pool.Get().(*startOpts)
		s.attrs = [3]attribute.KeyValue{attribute.String("lro.kind", ""), attribute.Int("lro.attempt", op.Attempt()), attribute.String("lro.operation.name", op.Name())}
		sctx, span := tracer.Start(trace.ContextWithSpan(ctx, nil), "lro.run", s.opts[:]...)
		s.attrs = [3]attribute.KeyValue{}
		pool.Put(s)
		span.AddLink(trace.Link{SpanContext: req})
		finished.Add(1)
		duration.Record(sctx, time.Since(t0).Seconds(), rec)
		span.End()
		return nil, nil
	}
}

// benchSide is one of the two Managers of BenchmarkStartThroughputOTel
// and what it has used so far.
type benchSide struct {
	m      *lro.Manager
	store  *benchChunkStore
	wall   time.Duration
	cpu    time.Duration
	work   lro.WorkFunc
	allocs uint64
	bytes  uint64
}

// benchWork is how many SHA-256 sums of a 1 KiB block the work of
// BenchmarkStartThroughputOTel/sdk-work computes: a few microseconds of CPU
// (BenchmarkOTelWork).
const benchWork = 6

// benchCompute computes n SHA-256 sums of a 1 KiB block.
func benchCompute(n int) {
	var block [1024]byte
	for range n {
		sum := sha256.Sum256(block[:])
		block[0] ^= sum[0]
	}
}

// BenchmarkOTelWork measures the work of
// BenchmarkStartThroughputOTel/sdk-work alone.
func BenchmarkOTelWork(b *testing.B) {
	for b.Loop() {
		benchCompute(benchWork)
	}
}

// benchOTel runs work on an uninstrumented Manager and on one made with
// opts, in turns.
func benchOTel(b *testing.B, work lro.WorkFunc, opts []lro.Option) {
	benchOTelWork(b, work, work, opts...)
}

// benchOTelWork runs baseWork on an uninstrumented Manager and work on one
// made with opts, in turns.
func benchOTelWork(b *testing.B, baseWork, work lro.WorkFunc, opts ...lro.Option) {
	base := &benchSide{store: newBenchChunkStore(), work: baseWork}
	base.m = benchManager(b, lro.WithStore(base.store), lro.WithoutTelemetry())
	inst := &benchSide{store: newBenchChunkStore(), work: work}
	inst.m = benchManager(b, append([]lro.Option{lro.WithStore(inst.store)}, opts...)...)

	// The span of the request that starts each operation.
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	_, cpuOK := benchRusage()

	var failed atomic.Pointer[error]
	run := func(s *benchSide, n int) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		a0, b0 := ms.Mallocs, ms.TotalAlloc
		c0, _ := benchRusage()
		t0 := time.Now()
		s.store.left.Store(int64(n))
		benchFanOut(n, func(int64) {
			if _, err := s.m.Start(ctx, s.work); err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
		if e := failed.Load(); e != nil {
			b.Fatalf("Start: %v", *e)
		}
		<-s.store.done
		s.wall += time.Since(t0)
		c1, _ := benchRusage()
		s.cpu += c1 - c0
		runtime.ReadMemStats(&ms)
		s.allocs += ms.Mallocs - a0
		s.bytes += ms.TotalAlloc - b0
	}

	// Warm up both sides before anything is counted: their worker pools,
	// the stores' indexes, and on the instrumented side the SDK's first
	// span batch and the aggregations it makes on first use.
	for range benchOTelWarmChunks {
		run(base, benchOTelChunk)
		run(inst, benchOTelChunk)
	}
	*base, *inst = benchSide{m: base.m, store: base.store, work: baseWork}, benchSide{m: inst.m, store: inst.store, work: work}

	b.ResetTimer()
	for i, turn := 0, 0; i < b.N; i, turn = i+benchOTelChunk, turn+1 {
		n := min(benchOTelChunk, b.N-i)
		if turn%2 == 0 {
			run(base, n)
			run(inst, n)
		} else {
			run(inst, n)
			run(base, n)
		}
	}
	b.StopTimer()

	perOp := func(d time.Duration) float64 { return float64(d) / float64(b.N) }
	b.ReportMetric(perOp(inst.wall), "ns/op")
	b.ReportMetric(perOp(base.wall), "base-ns/op")
	b.ReportMetric(perOp(inst.wall), "otel-ns/op")
	b.ReportMetric(inst.wall.Seconds()/base.wall.Seconds(), "otel/base")
	if cpuOK && base.cpu > 0 {
		b.ReportMetric(inst.cpu.Seconds()/base.cpu.Seconds(), "otel/base-cpu")
	}
	b.ReportMetric(float64(base.allocs)/float64(b.N), "base-allocs/op")
	b.ReportMetric(float64(inst.allocs)/float64(b.N), "otel-allocs/op")
	b.ReportMetric(float64(base.bytes)/float64(b.N), "base-B/op")
	b.ReportMetric(float64(inst.bytes)/float64(b.N), "otel-B/op")
}

// BenchmarkOTelSDKSpanFloor measures what the OTel SDK alone costs for one
// span like a run's (a root, started from a context whose span is hidden;
// kind, attempt and operation name given at the start by options built
// beforehand; and a link) with the sdk variant's tracer provider: the
// least any recorded span per run can add to
// BenchmarkStartThroughputOTel/sdk. The new-root sub-benchmark starts it
// with trace.WithNewRoot instead.
func BenchmarkOTelSDKSpanFloor(b *testing.B) {
	_, tp := benchSDK(b, nil, benchSampleAll, benchBatched(b))
	tracer := tp.Tracer("bench")
	link := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), link)
	attrs := trace.WithAttributes(
		attribute.String("lro.kind", ""), attribute.Int("lro.attempt", 1), attribute.String("lro.operation.name", "operations/5zrtchzj665yst3olqyjovcwye"))
	b.Run("hidden", func(b *testing.B) {
		start := []trace.SpanStartOption{attrs}
		b.ReportAllocs()
		for b.Loop() {
			_, span := tracer.Start(trace.ContextWithSpan(ctx, nil), "lro.run", start...)
			span.AddLink(trace.Link{SpanContext: link})
			span.End()
		}
	})
	b.Run("new-root", func(b *testing.B) {
		start := []trace.SpanStartOption{trace.WithNewRoot(), attrs}
		b.ReportAllocs()
		for b.Loop() {
			_, span := tracer.Start(ctx, "lro.run", start...)
			span.AddLink(trace.Link{SpanContext: link})
			span.End()
		}
	})
}
