package lro_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// workTime is how long, by the fake clock, the work in these tests takes.
const workTime = 3 * time.Second

// TestRunTelemetry runs work that ends each way it can and checks the
// metrics and the span of its run.
func TestRunTelemetry(t *testing.T) {
	tests := []struct {
		desc string
		kind string // "" for Start, else StartKind
		// work runs on the operation; it may block until the test
		// cancels its operation, after started is closed.
		work       func(ctx context.Context) (proto.Message, error)
		cancel     bool
		code       string
		status     string // the span's status description, "" for Unset
		events     []string
		eventAttrs map[string]attribute.KeyValue // an attribute each named event carries
	}{{
		desc: "success",
		work: func(context.Context) (proto.Message, error) { return wrapperspb.String("ok"), nil },
		code: "OK",
	}, {
		desc:   "failure",
		work:   func(context.Context) (proto.Message, error) { return nil, status.Error(codes.NotFound, "no shelf 7") },
		code:   "NOT_FOUND",
		status: "NOT_FOUND: no shelf 7",
	}, {
		desc:       "panic",
		work:       func(context.Context) (proto.Message, error) { panic("shelf collapsed") },
		code:       "INTERNAL",
		status:     "INTERNAL: work panicked: shelf collapsed",
		events:     []string{"exception"},
		eventAttrs: map[string]attribute.KeyValue{"exception": attribute.String("exception.message", "shelf collapsed")},
	}, {
		desc: "cancel",
		work: func(ctx context.Context) (proto.Message, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
		cancel:     true,
		code:       "CANCELLED",
		status:     "CANCELLED: operation cancelled",
		events:     []string{"lro.cancelled"},
		eventAttrs: map[string]attribute.KeyValue{"lro.cancelled": attribute.Bool("lro.cancel_requested", true)},
	}, {
		desc:   "deadline",
		work:   func(context.Context) (proto.Message, error) { return nil, context.DeadlineExceeded },
		code:   "DEADLINE_EXCEEDED",
		status: "DEADLINE_EXCEEDED: context deadline exceeded",
		events: []string{"lro.deadline_exceeded"},
	}, {
		desc: "registered kind",
		kind: "export",
		work: func(context.Context) (proto.Message, error) { return nil, nil },
		code: "OK",
	}}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			clk := lrotest.NewClock(epoch)
			h := newOTelHarness(t, lro.WithClock(clk))
			started := make(chan struct{})
			var childParent trace.SpanContext
			work := func(ctx context.Context, op *lro.Op) (proto.Message, error) {
				// Spans the work starts are children of its run's span.
				_, child := h.tp.Tracer("host").Start(ctx, "host.step")
				childParent = trace.SpanContextFromContext(ctx)
				child.End()
				clk.Advance(workTime)
				close(started)
				return tt.work(ctx)
			}
			if err := lro.Register(h.m, "export", func(ctx context.Context, op *lro.Op, _ *wrapperspb.StringValue) (proto.Message, error) {
				return work(ctx, op)
			}); err != nil {
				t.Fatal(err)
			}

			// The request that starts the operation is traced, and its
			// span ends before the work does.
			ctx, request := h.tp.Tracer("host").Start(context.Background(), "ExportBooks")
			var op *longrunningpb.Operation
			var err error
			if tt.kind == "" {
				op, err = h.m.Start(ctx, work)
			} else {
				op, err = h.m.StartKind(ctx, tt.kind, wrapperspb.String("books"))
			}
			if err != nil {
				t.Fatal(err)
			}
			request.End()
			<-started
			if tt.cancel {
				ms := h.collect(t)
				want := map[string]int64{kindAttr(""): 0, kindAttr("export"): 0}
				want[kindAttr(tt.kind)] = 1
				checkInts(t, ms, "lro.operations.running", want)
				if _, err := h.m.CancelOperation(context.Background(), &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
					t.Fatal(err)
				}
			}
			h.close(t)

			ms := h.collect(t)
			if got := ints(t, ms, "lro.operations.running"); len(got) != 0 {
				t.Errorf("lro.operations.running after Close: %v, want it no longer observed", got)
			}
			checkInts(t, ms, "lro.operations.started", map[string]int64{kindAttr(tt.kind): 1})
			checkInts(t, ms, "lro.operations.finished", map[string]int64{kindCode(tt.kind, tt.code): 1})
			if diff := cmp.Diff(map[string][2]float64{kindCode(tt.kind, tt.code): {1, workTime.Seconds()}}, histogram(t, ms, "lro.operation.duration")); diff != "" {
				t.Errorf("lro.operation.duration [count, sum] (-want +got):\n%s", diff)
			}

			name := "lro.run"
			if tt.kind != "" {
				name += " " + tt.kind
			}
			run := h.spanNamed(t, name)
			want := map[string]attribute.Value{
				"lro.kind":           attribute.StringValue(tt.kind),
				"lro.attempt":        attribute.IntValue(1),
				"lro.operation.name": attribute.StringValue(op.GetName()),
			}
			if tt.code != "OK" {
				want["lro.status_code"] = attribute.StringValue(tt.code)
			}
			if diff := cmp.Diff(want, spanAttrs(run), cmp.AllowUnexported(attribute.Value{})); diff != "" {
				t.Errorf("run span attributes (-want +got):\n%s", diff)
			}
			if run.SpanKind() != trace.SpanKindInternal {
				t.Errorf("run span kind %v, want internal", run.SpanKind())
			}
			if run.Parent().IsValid() || run.SpanContext().TraceID() == request.SpanContext().TraceID() {
				t.Errorf("run span's parent %v: want a new trace, linked to the request rather than its child", run.Parent())
			}
			if links := run.Links(); len(links) != 1 || !links[0].SpanContext.Equal(request.SpanContext()) {
				t.Errorf("run span links %v, want one to the request span %v", links, request.SpanContext())
			}
			if !childParent.Equal(run.SpanContext()) || h.spanNamed(t, "host.step").Parent().SpanID() != run.SpanContext().SpanID() {
				t.Errorf("the work's context carries span %v, want the run's %v", childParent, run.SpanContext())
			}
			wantStatus := otelcodes.Unset
			if tt.status != "" {
				wantStatus = otelcodes.Error
			}
			if got := run.Status(); got.Code != wantStatus || got.Description != tt.status {
				t.Errorf("run span status %v %q, want %v %q", got.Code, got.Description, wantStatus, tt.status)
			}
			if diff := cmp.Diff(tt.events, eventNames(run)); diff != "" {
				t.Errorf("run span events (-want +got):\n%s", diff)
			}
			for _, e := range run.Events() {
				want, ok := tt.eventAttrs[e.Name]
				if !ok {
					continue
				}
				if !hasAttr(e.Attributes, want) {
					t.Errorf("event %s attributes %v, want %v among them", e.Name, e.Attributes, want)
				}
				if e.Name == "exception" && !hasAttrPrefix(e.Attributes, "exception.stacktrace", "goroutine ") {
					t.Errorf("exception event without the panic's stack: %v", e.Attributes)
				}
			}
		})
	}
}

func hasAttr(kvs []attribute.KeyValue, want attribute.KeyValue) bool {
	for _, kv := range kvs {
		if kv.Key == want.Key && kv.Value.Emit() == want.Value.Emit() {
			return true
		}
	}
	return false
}

func hasAttrPrefix(kvs []attribute.KeyValue, key, prefix string) bool {
	for _, kv := range kvs {
		if string(kv.Key) == key && strings.HasPrefix(kv.Value.AsString(), prefix) {
			return true
		}
	}
	return false
}

// kindSampler samples the runs of one kind, deciding by the attributes a
// sampler is given, and keeps the names it was asked about.
type kindSampler struct {
	kind  string
	asked chan string
}

func (s kindSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	s.asked <- p.Name
	for _, kv := range p.Attributes {
		if kv.Key == "lro.kind" && kv.Value.AsString() == s.kind {
			return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample}
		}
	}
	return sdktrace.SamplingResult{Decision: sdktrace.Drop}
}

func (s kindSampler) Description() string { return "kindSampler" }

// TestSamplerSeesTheKind: a sampler can choose runs by kind, and the
// runs it drops record nothing.
func TestSamplerSeesTheKind(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	sampler := kindSampler{kind: "export", asked: make(chan string, 2)}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	m := newManager(t, lro.WithTracerProvider(tp))
	if err := lro.Register(m, "export", exportHandler); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.StartKind(ctx, "export", wrapperspb.String("books")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	asked := []string{<-sampler.asked, <-sampler.asked}
	slices.Sort(asked)
	if diff := cmp.Diff([]string{"lro.run", "lro.run export"}, asked); diff != "" {
		t.Errorf("span names the sampler saw (-want +got):\n%s", diff)
	}
	if got := spanNames(spans.Ended()); !cmp.Equal(got, []string{"lro.run export"}) {
		t.Errorf("recorded spans %v, want only the export's", got)
	}
}

// TestRunSpanIsARoot: a run's span is the root of its own trace, whatever
// the span of the request that started it: a request span still recording
// when the run begins does not count the run among its children, and a
// request span that was not sampled does not make a parent-based sampler
// drop the run. Either way the run links to the request's span.
func TestRunSpanIsARoot(t *testing.T) {
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		Remote:  true,
	})
	for _, sampledRequest := range []bool{true, false} {
		h := newOTelHarness(t) // every span sampled, parent-based
		running, release := make(chan struct{}), make(chan struct{})
		work := func(context.Context, *lro.Op) (proto.Message, error) {
			close(running)
			<-release
			return nil, nil
		}
		ctx, request := h.tp.Tracer("host").Start(context.Background(), "ExportBooks")
		if !sampledRequest {
			ctx = trace.ContextWithRemoteSpanContext(context.Background(), unsampled)
		}
		if _, err := h.m.Start(ctx, work); err != nil {
			t.Fatal(err)
		}
		<-running // the run's span has started; the request's is still open
		request.End()
		close(release)
		h.close(t)

		run := h.spanNamed(t, "lro.run")
		if run.Parent().IsValid() || !run.SpanContext().IsSampled() {
			t.Errorf("sampled request %v: run span parent %v, sampled %v: want a sampled root", sampledRequest, run.Parent(), run.SpanContext().IsSampled())
		}
		want := trace.SpanContextFromContext(ctx)
		if links := run.Links(); len(links) != 1 || !links[0].SpanContext.Equal(want) {
			t.Errorf("sampled request %v: run span links %v, want one to %v", sampledRequest, links, want)
		}
		if sampledRequest {
			if n := h.spanNamed(t, "ExportBooks").ChildSpanCount(); n != 0 {
				t.Errorf("the request span counts %d children, want 0: the run is linked, not its child", n)
			}
		}
	}
}

// passThroughProvider makes no spans of its own: like the global provider
// before an SDK is installed, its spans carry the span context of the
// context they start from.
type passThroughProvider struct{ embedded.TracerProvider }

func (passThroughProvider) Tracer(string, ...trace.TracerOption) trace.Tracer {
	return passThroughTracer{}
}

type passThroughTracer struct{ embedded.Tracer }

func (passThroughTracer) Start(ctx context.Context, _ string, _ ...trace.SpanStartOption) (context.Context, trace.Span) {
	ctx = trace.ContextWithSpanContext(ctx, trace.SpanContextFromContext(ctx))
	return ctx, trace.SpanFromContext(ctx)
}

// TestPassThroughTracerKeepsTheRequestSpan: under a tracer that makes no
// spans of its own, the work's context still carries the span of the
// request that started it, so a host that only propagates trace context
// forwards it from the work too.
func TestPassThroughTracerKeepsTheRequestSpan(t *testing.T) {
	m := newManager(t, lro.WithTracerProvider(passThroughProvider{}))
	request := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	got := make(chan trace.SpanContext, 1)
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), request)
	if _, err := m.Start(ctx, func(ctx context.Context, _ *lro.Op) (proto.Message, error) {
		got <- trace.SpanContextFromContext(ctx)
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if sc := <-got; !sc.Equal(request) {
		t.Errorf("the work's context carries span %v, want the request's %v", sc, request)
	}
}

// TestDurationExemplarIsTheRun: lro.operation.duration is measured in the
// context of the run's span, so that, with the SDK's default exemplar
// filter and a sampled run, its data point carries an exemplar pointing at
// that run, although the span has ended by then.
func TestDurationExemplarIsTheRun(t *testing.T) {
	h := newOTelHarness(t)
	if _, err := h.m.Start(context.Background(), func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	h.close(t)
	run := h.spanNamed(t, "lro.run").SpanContext()
	hist, ok := h.collect(t)["lro.operation.duration"].Data.(metricdata.Histogram[float64])
	if !ok || len(hist.DataPoints) != 1 {
		t.Fatalf("lro.operation.duration: %+v, want one data point", hist)
	}
	exs := hist.DataPoints[0].Exemplars
	sid, tid := run.SpanID(), run.TraceID()
	if len(exs) != 1 || !bytes.Equal(exs[0].SpanID, sid[:]) || !bytes.Equal(exs[0].TraceID, tid[:]) {
		t.Errorf("duration exemplars %+v, want one of the run span %v", exs, run)
	}
}

// TestRetryTelemetry: a run that fails and is retried counts in
// lro.retries by kind and code, and its span carries an lro.retry event
// and the failure; the operation is counted as finished once, when the
// retry succeeds.
func TestRetryTelemetry(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	h := newOTelHarness(t, lro.WithClock(clk))
	a := newAttempts()
	if err := lro.Register(h.m, "k", a.handler, lro.KindRetry(retryPolicy)); err != nil {
		t.Fatal(err)
	}
	ctx, request := h.tp.Tracer("host").Start(context.Background(), "Import")
	op, err := h.m.StartKind(ctx, "k", wrapperspb.String("x"))
	if err != nil {
		t.Fatal(err)
	}
	request.End()
	if n := a.next(t); n != 1 {
		t.Fatalf("first run is attempt %d", n)
	}
	failedAt := clk.Now()
	a.results <- status.Error(codes.Unavailable, "try later")
	r := waitQueued(t, h.m, op.GetName())
	clk.WaitForTimers(baseTimers+1, nil) // the retry's timer
	clk.Advance(r.RunAfter.Sub(clk.Now()))
	if n := a.next(t); n != 2 {
		t.Fatalf("second run is attempt %d", n)
	}
	a.results <- nil
	waitDone(t, h.m, op.GetName())
	h.close(t)

	ms := h.collect(t)
	checkInts(t, ms, "lro.retries", map[string]int64{kindCode("k", "UNAVAILABLE"): 1})
	checkInts(t, ms, "lro.operations.started", map[string]int64{kindAttr("k"): 1})
	checkInts(t, ms, "lro.operations.finished", map[string]int64{kindCode("k", "OK"): 1})

	var runs []sdktrace.ReadOnlySpan
	for _, s := range h.spans.Ended() {
		if s.Name() == "lro.run k" {
			runs = append(runs, s)
		}
	}
	if len(runs) != 2 {
		t.Fatalf("%d run spans, want 2 (all: %v)", len(runs), spanNames(h.spans.Ended()))
	}
	slices.SortFunc(runs, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	first, second := runs[0], runs[1]
	if got := spanAttrs(first); got["lro.attempt"].AsInt64() != 1 || got["lro.status_code"].AsString() != "UNAVAILABLE" {
		t.Errorf("the failed run's attributes %v, want lro.attempt 1 and lro.status_code UNAVAILABLE", got)
	}
	if st := first.Status(); st.Code != otelcodes.Error || st.Description != "UNAVAILABLE: try later" {
		t.Errorf("the failed run's status %v %q, want Error \"UNAVAILABLE: try later\"", st.Code, st.Description)
	}
	if diff := cmp.Diff([]string{"lro.retry"}, eventNames(first)); diff != "" {
		t.Fatalf("the failed run's events (-want +got):\n%s", diff)
	}
	ev := first.Events()[0].Attributes
	delay := r.RunAfter.Sub(failedAt).Seconds()
	for _, want := range []attribute.KeyValue{
		attribute.Int("lro.retry.attempt", 2),
		attribute.Float64("lro.retry.delay", delay),
		attribute.String("error.message", "try later"),
	} {
		if !hasAttr(ev, want) {
			t.Errorf("lro.retry event attributes %v, want %v among them", ev, want)
		}
	}
	if delay < 0.5 || delay > 1 {
		t.Errorf("retry delay %vs, want the first backoff, within [0.5s, 1s]", delay)
	}
	if links := first.Links(); len(links) != 1 || !links[0].SpanContext.Equal(request.SpanContext()) {
		t.Errorf("the first run's links %v, want one to the request span", links)
	}
	if got := spanAttrs(second); got["lro.attempt"].AsInt64() != 2 {
		t.Errorf("the retry's attributes %v, want lro.attempt 2", got)
	}
	// The retry is claimed from the store's queue, without the Start
	// context: it links to the span the record keeps.
	checkLinkedTo(t, "the retry", second, request.SpanContext())
	if st := second.Status(); st.Code != otelcodes.Unset || len(second.Events()) != 0 {
		t.Errorf("the successful retry: status %v, events %v; want unset, none", st.Code, eventNames(second))
	}
}

// TestDeadlineTelemetry: work still running at its operation's deadline
// has a span that records the deadline, and the operation the deadline
// ends counts as finished DEADLINE_EXCEEDED, with its duration.
func TestDeadlineTelemetry(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	h := newOTelHarness(t, lro.WithClock(clk))
	release := make(chan struct{})
	started := make(chan struct{})
	op, err := h.m.Start(context.Background(), func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		close(started)
		<-release // ignores ctx
		return wrapperspb.String("late"), nil
	}, lro.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	clk.WaitForTimers(baseTimers+1, nil)
	clk.Advance(5 * time.Second)
	wantDeadlineExceeded(t, h.m, op.GetName())
	close(release)
	h.close(t)

	ms := h.collect(t)
	checkInts(t, ms, "lro.operations.finished", map[string]int64{kindCode("", "DEADLINE_EXCEEDED"): 1})
	if diff := cmp.Diff(map[string][2]float64{kindCode("", "DEADLINE_EXCEEDED"): {1, 5}}, histogram(t, ms, "lro.operation.duration")); diff != "" {
		t.Errorf("lro.operation.duration [count, sum] (-want +got):\n%s", diff)
	}
	run := h.spanNamed(t, "lro.run")
	if diff := cmp.Diff([]string{"lro.deadline_exceeded"}, eventNames(run)); diff != "" {
		t.Errorf("run span events (-want +got):\n%s", diff)
	}
	if st := run.Status(); st.Code != otelcodes.Error || st.Description != "DEADLINE_EXCEEDED: operation deadline exceeded" {
		t.Errorf("run span status %v %q, want Error \"DEADLINE_EXCEEDED: operation deadline exceeded\"", st.Code, st.Description)
	}
	if got := spanAttrs(run)["lro.status_code"].AsString(); got != "DEADLINE_EXCEEDED" {
		t.Errorf("run span lro.status_code %q, want DEADLINE_EXCEEDED", got)
	}
}

// endSignal is a span processor that sends the name of each span that
// ends.
type endSignal struct {
	sdktrace.SpanProcessor // the rest do nothing: a recorder's
	ended                  chan sdktrace.ReadOnlySpan
}

func (s endSignal) OnEnd(span sdktrace.ReadOnlySpan) { s.ended <- span }

// TestRunSpanEndsWhileOtherWorkRuns: a run that ends while other work
// still runs has its span's end held back to be handed over with theirs
// (docs/OBSERVABILITY.md), but only for a moment: it reaches the span
// processors while the other work is still running; the other run's span
// ends when it does. (TestSpanEndsKeepTheEndTime checks the end time a
// held span is given.)
func TestRunSpanEndsWhileOtherWorkRuns(t *testing.T) {
	sig := endSignal{SpanProcessor: tracetest.NewSpanRecorder(), ended: make(chan sdktrace.ReadOnlySpan, 2)}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sig))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	m := newManager(t, lro.WithTracerProvider(tp))

	running, release := make(chan struct{}), make(chan struct{})
	long, err := m.Start(context.Background(), func(context.Context, *lro.Op) (proto.Message, error) {
		close(running)
		<-release
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	<-running
	short, err := m.Start(context.Background(), func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	ended := waitDone(t, m, short.GetName())
	var span sdktrace.ReadOnlySpan
	select {
	case span = <-sig.ended:
	case <-time.After(waitTimeout):
		t.Fatalf("the span of %s has not ended %v after its run, while other work runs", short.GetName(), waitTimeout)
	}
	received := time.Now()
	if got := spanAttrs(span)["lro.operation.name"].AsString(); got != short.GetName() {
		t.Fatalf("ended the span of %q first, want %q's", got, short.GetName())
	}
	if !ended.GetDone() || span.EndTime().Before(span.StartTime()) || span.EndTime().After(received) {
		t.Errorf("span of the short run: start %v, end %v, want an end between its start and %v", span.StartTime(), span.EndTime(), received)
	}

	close(release)
	select {
	case span = <-sig.ended:
	case <-time.After(waitTimeout):
		t.Fatalf("the span of %s has not ended %v after its run", long.GetName(), waitTimeout)
	}
	if got := spanAttrs(span)["lro.operation.name"].AsString(); got != long.GetName() {
		t.Errorf("then ended the span of %q, want %q's", got, long.GetName())
	}
}
