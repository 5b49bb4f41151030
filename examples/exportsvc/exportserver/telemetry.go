package exportserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/lrokit/lro"
)

// telemetry is the server's OpenTelemetry: metrics exported to Prometheus
// (at /metrics on the HTTP port), spans for the gRPC calls (otelgrpc), the
// REST requests (otelhttp) and each run of an export (the lro.Manager), and
// logs that carry the trace id of the context they are written in.
//
// Its providers are the server's own, not the global ones, so that several
// servers can run in one process (the tests do). A real service would
// usually install them globally (otel.SetMeterProvider, ...) and add a span
// exporter, such as OTLP, with sdktrace.WithBatcher; this example records
// spans for their ids and exports none.
type telemetry struct {
	meters  *sdkmetric.MeterProvider
	tracers *sdktrace.TracerProvider
	metrics http.Handler // the Prometheus scrape endpoint
}

func newTelemetry() (*telemetry, error) {
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return nil, fmt.Errorf("creating the Prometheus exporter: %w", err)
	}
	return &telemetry{
		meters:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)),
		tracers: sdktrace.NewTracerProvider(),
		metrics: promhttp.HandlerFor(registry, promhttp.HandlerOpts{}),
	}, nil
}

// managerOptions makes an lro.Manager record its metrics and spans here.
func (t *telemetry) managerOptions() []lro.Option {
	return []lro.Option{lro.WithMeterProvider(t.meters), lro.WithTracerProvider(t.tracers)}
}

// grpcOptions traces and measures every RPC the gRPC server serves,
// continuing the caller's trace when the request carries a W3C
// traceparent header.
func (t *telemetry) grpcOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.tracers),
		otelgrpc.WithMeterProvider(t.meters),
		otelgrpc.WithPropagators(propagation.TraceContext{}),
	))}
}

// mount serves the metrics at GET /metrics beside h, and traces and
// measures the requests to h (otelhttp), continuing the caller's trace
// from a W3C traceparent header.
func (t *telemetry) mount(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", otelhttp.NewHandler(h, "rest",
		otelhttp.WithTracerProvider(t.tracers),
		otelhttp.WithMeterProvider(t.meters),
		otelhttp.WithPropagators(propagation.TraceContext{}),
	))
	mux.Handle("GET /metrics", t.metrics)
	return mux
}

// shutdown stops the providers; ctx bounds how long it waits.
func (t *telemetry) shutdown(ctx context.Context) error {
	return errors.Join(t.meters.Shutdown(ctx), t.tracers.Shutdown(ctx))
}

// traceLogHandler adds trace_id and span_id to every record logged with a
// context that carries a span (Logger.InfoContext and the like), so that a
// log line leads to its trace.
type traceLogHandler struct{ slog.Handler }

func withTraceIDs(h slog.Handler) slog.Handler { return traceLogHandler{h} }

func (h traceLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceLogHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceLogHandler) WithGroup(name string) slog.Handler {
	return traceLogHandler{h.Handler.WithGroup(name)}
}
