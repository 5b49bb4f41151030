package lro_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// otelHarness is a Manager whose metrics go to an in-memory reader and
// whose spans go to a recorder, both of the OpenTelemetry SDK.
type otelHarness struct {
	m      *lro.Manager
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
}

func newOTelHarness(t *testing.T, opts ...lro.Option) *otelHarness {
	t.Helper()
	h := &otelHarness{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	h.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = h.tp.Shutdown(context.Background())
	})
	h.m = newManager(t, append([]lro.Option{lro.WithMeterProvider(mp), lro.WithTracerProvider(h.tp)}, opts...)...)
	return h
}

// close closes the Manager, which waits until every run of work has ended
// and recorded its metrics and span.
func (h *otelHarness) close(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := h.m.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// collect returns the Manager's metrics, by instrument name.
func (h *otelHarness) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collecting metrics: %v", err)
	}
	got := make(map[string]metricdata.Metrics)
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/lrokit/lro" {
			t.Errorf("metrics of scope %q, want github.com/lrokit/lro", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			got[m.Name] = m
		}
	}
	return got
}

// ints returns the data points of an int64 counter or up-down counter, as
// a map from their attribute set's encoding to their value.
func ints(t *testing.T, ms map[string]metricdata.Metrics, name string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	m, ok := ms[name]
	if !ok {
		return got
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s: data %T, want an int64 sum", name, m.Data)
	}
	for _, dp := range sum.DataPoints {
		got[attrs(dp.Attributes.ToSlice()...)] = dp.Value
	}
	return got
}

// histogram returns the data points of a float64 histogram by attribute
// set, as [count, sum].
func histogram(t *testing.T, ms map[string]metricdata.Metrics, name string) map[string][2]float64 {
	t.Helper()
	got := map[string][2]float64{}
	m, ok := ms[name]
	if !ok {
		return got
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s: data %T, want a float64 histogram", name, m.Data)
	}
	for _, dp := range h.DataPoints {
		got[attrs(dp.Attributes.ToSlice()...)] = [2]float64{float64(dp.Count), dp.Sum}
	}
	return got
}

// attrs encodes an attribute set for comparisons: "k=v,k=v" in key order.
func attrs(kvs ...attribute.KeyValue) string {
	set := attribute.NewSet(kvs...)
	return set.Encoded(attribute.DefaultEncoder())
}

func kindAttr(kind string) string { return attrs(attribute.String("lro.kind", kind)) }

func kindCode(kind, code string) string {
	return attrs(attribute.String("lro.kind", kind), attribute.String("lro.status_code", code))
}

// spanNamed returns the one ended span called name.
func (h *otelHarness) spanNamed(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range h.spans.Ended() {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d ended spans named %q, want 1 (all: %v)", len(found), name, spanNames(h.spans.Ended()))
	}
	return found[0]
}

func spanNames(spans []sdktrace.ReadOnlySpan) []string {
	var names []string
	for _, s := range spans {
		names = append(names, s.Name())
	}
	return names
}

// spanAttrs returns a span's attributes by key.
func spanAttrs(s sdktrace.ReadOnlySpan) map[string]attribute.Value {
	got := map[string]attribute.Value{}
	for _, kv := range s.Attributes() {
		got[string(kv.Key)] = kv.Value
	}
	return got
}

// eventNames returns the names of a span's events.
func eventNames(s sdktrace.ReadOnlySpan) []string {
	var names []string
	for _, e := range s.Events() {
		names = append(names, e.Name)
	}
	return names
}

// checkInts checks every data point of an int64 sum instrument.
func checkInts(t *testing.T, ms map[string]metricdata.Metrics, name string, want map[string]int64) {
	t.Helper()
	if diff := cmp.Diff(want, ints(t, ms, name)); diff != "" {
		t.Errorf("%s by attributes (-want +got):\n%s", name, diff)
	}
}
