package lro

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestInstrumentTable calls every hook of the observer, including those
// nothing calls yet (queued work and retries, issue 10), and checks each
// instrument's name, kind, unit, attributes and value against the table
// in docs/OBSERVABILITY.md.
func TestInstrumentTable(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	o, err := newObserver(mp, tp, "memory")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tk := &task{name: "operations/x", ctx: ctx, kind: "export", created: created}
	// The first run fails and is retried; the second is cancelled.
	r := o.runBegin(tk, &Op{attempt: 1})
	o.retrying(&r, 2, 1500*time.Millisecond, status.New(codes.Unavailable, "flaky upstream"))
	o.runEnd(r, tk, created.Add(30*time.Second), nil, errors.New("flaky upstream"), nil, false)
	r = o.runBegin(tk, &Op{attempt: 2})
	o.runEnd(r, tk, created.Add(90*time.Second), nil, nil, failed((*Manager)(nil).cancelledStatus("operations/x")), true)
	o.operationStarted(ctx, "export")
	o.enqueued(ctx, "export")
	o.enqueued(ctx, "export")
	o.dequeued(ctx, "export")
	o.waitBegin(ctx, "")
	o.listScanned(ctx, 7)
	o.storeError(ctx, storeFinish, errors.New("connection reset"))
	o.storeError(ctx, storeGet, ErrNotFound) // not a failure
	o.takeover(ctx, "export")
	var nilCtx context.Context // a caller in process may pass one
	o.waitEnd(nilCtx, "")
	o.waitBegin(nilCtx, "")
	if err := o.observeRunning(func() map[string]int64 { return map[string]int64{"": 0, "export": 2} }); err != nil {
		t.Fatal(err)
	}
	defer o.close()

	type row struct {
		Kind, Unit string
		Points     map[string]float64 // by attribute set; a histogram's sum
	}
	set := func(kvs ...attribute.KeyValue) string {
		s := attribute.NewSet(kvs...)
		return s.Encoded(attribute.DefaultEncoder())
	}
	export := set(attrKind.String("export"))
	want := map[string]row{
		"lro.operations.started":  {"Counter", "{operation}", map[string]float64{export: 1}},
		"lro.operations.finished": {"Counter", "{operation}", map[string]float64{set(attrKind.String("export"), attrStatusCode.String("CANCELLED")): 1}},
		"lro.operation.duration":  {"Histogram", "s", map[string]float64{set(attrKind.String("export"), attrStatusCode.String("CANCELLED")): 90}},
		"lro.operations.running":  {"UpDownCounter", "{operation}", map[string]float64{set(attrKind.String("")): 0, export: 2}},
		"lro.operations.queued":   {"UpDownCounter", "{operation}", map[string]float64{export: 1}},
		"lro.waiters":             {"UpDownCounter", "{waiter}", map[string]float64{set(attrKind.String("")): 1}},
		"lro.list.rows_scanned":   {"Counter", "{row}", map[string]float64{set(attrStore.String("memory")): 7}},
		"lro.store.errors":        {"Counter", "{error}", map[string]float64{set(attrStore.String("memory"), attrStoreMethod.String("Finish")): 1}},
		"lro.lease.takeovers":     {"Counter", "{operation}", map[string]float64{export: 1}},
		"lro.retries":             {"Counter", "{retry}", map[string]float64{set(attrKind.String("export"), attrStatusCode.String("UNAVAILABLE")): 1}},
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]row{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			r := row{Unit: m.Unit, Points: map[string]float64{}}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]: // observed or not
				r.Kind = "UpDownCounter"
				if d.IsMonotonic {
					r.Kind = "Counter"
				}
				for _, dp := range d.DataPoints {
					r.Points[dp.Attributes.Encoded(attribute.DefaultEncoder())] = float64(dp.Value)
				}
			case metricdata.Histogram[float64]:
				r.Kind = "Histogram"
				for _, dp := range d.DataPoints {
					r.Points[dp.Attributes.Encoded(attribute.DefaultEncoder())] = dp.Sum
				}
			}
			got[m.Name] = r
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("instruments (-want +got):\n%s", diff)
	}

	ended := spans.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans, want 2", len(ended))
	}
	var retry []attribute.KeyValue
	var events []string
	for _, e := range ended[0].Events() {
		events = append(events, e.Name)
		if e.Name == "lro.retry" {
			retry = e.Attributes
		}
	}
	if diff := cmp.Diff([]string{"lro.retry"}, events); diff != "" {
		t.Errorf("the retried run's events (-want +got):\n%s", diff)
	}
	if st := ended[0].Status(); st.Code != otelcodes.Error || st.Description != "UNAVAILABLE: flaky upstream" {
		t.Errorf("the retried run's status %v %q, want Error \"UNAVAILABLE: flaky upstream\"", st.Code, st.Description)
	}
	wantRetry := []attribute.KeyValue{
		attribute.Int("lro.retry.attempt", 2),
		attribute.Float64("lro.retry.delay", 1.5),
		attribute.String("error.message", "flaky upstream"),
	}
	if diff := cmp.Diff(wantRetry, retry, cmp.AllowUnexported(attribute.Value{})); diff != "" {
		t.Errorf("lro.retry event attributes (-want +got):\n%s", diff)
	}
}

// TestCodeNames: status codes are named canonically, and codes outside
// the canonical ones count as UNKNOWN, so a work error cannot grow the
// attribute's values.
func TestCodeNames(t *testing.T) {
	for c, want := range map[codes.Code]string{
		codes.OK: "OK", codes.Canceled: "CANCELLED", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
		codes.Unauthenticated: "UNAUTHENTICATED", 17: "UNKNOWN", 1234: "UNKNOWN",
	} {
		if got := codeName(c); got != want {
			t.Errorf("codeName(%d) = %q, want %q", c, got, want)
		}
	}
}

// TestNilObserverRecordsNothing: every hook of the uninstrumented
// baseline is safe to call.
func TestNilObserverRecordsNothing(t *testing.T) {
	var o *observer
	ctx := context.Background()
	tk := &task{name: "operations/x", ctx: ctx}
	r := o.runBegin(tk, &Op{attempt: 1})
	if r.ctx != ctx {
		t.Error("runBegin of a nil observer changed the work's context")
	}
	o.retrying(&r, 2, time.Second, status.New(codes.Unavailable, "x"))
	o.runEnd(r, tk, time.Now(), nil, nil, failed((*Manager)(nil).cancelledStatus("operations/x")), true)
	o.operationStarted(ctx, "")
	o.ended(ctx, &Record{}, nil)
	o.enqueued(ctx, "")
	o.dequeued(ctx, "")
	o.waitBegin(ctx, "")
	o.waitEnd(ctx, "")
	o.listScanned(ctx, 1)
	o.storeError(ctx, storeGet, errors.New("x"))
	o.takeover(ctx, "")
}

// TestObservedCounts: the counts the provider observes (started,
// finished, queued) are exact under concurrent operations, are summed
// over the Managers that share a provider, and stay reported, unchanged,
// after a Manager closes: they are cumulative, so a closed Manager must
// not make a shared series go down. The observed counters carry no
// exemplars, even when measured in a sampled span's context.
func TestObservedCounts(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	var obs [2]*observer
	for i := range obs {
		o, err := newObserver(mp, tp, "memory")
		if err != nil {
			t.Fatal(err)
		}
		obs[i] = o
	}
	const perGoroutine, goroutines = 200, 4
	var wg sync.WaitGroup
	for g := range goroutines {
		o := obs[g%2]
		wg.Go(func() {
			for range perGoroutine {
				o.operationStarted(ctx, "export")
				o.operationFinished(ctx, o.attrs("export"), codes.OK, time.Second)
				o.enqueued(ctx, "")
				o.dequeued(ctx, "")
			}
		})
	}
	wg.Wait()
	obs[0].operationFinished(ctx, obs[0].noKind, codes.Code(99), time.Second) // counts as UNKNOWN
	obs[1].enqueued(ctx, "")

	set := func(kvs ...attribute.KeyValue) string {
		s := attribute.NewSet(kvs...)
		return s.Encoded(attribute.DefaultEncoder())
	}
	want := map[string]map[string]int64{
		"lro.operations.started": {set(attrKind.String("export")): perGoroutine * goroutines},
		"lro.operations.finished": {
			set(attrKind.String("export"), attrStatusCode.String("OK")): perGoroutine * goroutines,
			set(attrKind.String(""), attrStatusCode.String("UNKNOWN")):  1,
		},
		"lro.operations.queued": {set(attrKind.String("")): 1},
	}
	collect := func(when string) {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		got := map[string]map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				sum, ok := m.Data.(metricdata.Sum[int64])
				if _, counted := want[m.Name]; !counted || !ok {
					continue
				}
				if sum.Temporality != metricdata.CumulativeTemporality || sum.IsMonotonic != (m.Name != "lro.operations.queued") {
					t.Errorf("%s %s: temporality %v, monotonic %v", when, m.Name, sum.Temporality, sum.IsMonotonic)
				}
				got[m.Name] = map[string]int64{}
				for _, dp := range sum.DataPoints {
					got[m.Name][dp.Attributes.Encoded(attribute.DefaultEncoder())] = dp.Value
					if len(dp.Exemplars) != 0 {
						t.Errorf("%s %s: %d exemplars, want none", when, m.Name, len(dp.Exemplars))
					}
				}
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", when, diff)
		}
	}
	collect("open")
	collect("collected again")
	obs[0].close()
	obs[1].close()
	collect("after close")
}
