package lro

import (
	"context"
	"encoding/hex"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The trace context a record keeps (Record.TraceParent): the span of the
// request that started the operation, as a W3C Trace Context traceparent
// (https://www.w3.org/TR/trace-context/#traceparent-header), so that every
// run of the work links to it, wherever and whenever it runs.

// traceParentHeader is the carrier key of a traceparent for the W3C
// propagator.
const traceParentHeader = "traceparent"

// appendTraceParent appends sc as a version 00 traceparent to b, or
// nothing when sc is not valid. The trace state is not kept.
func appendTraceParent(b []byte, sc trace.SpanContext) []byte {
	if !sc.IsValid() {
		return b
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	flags := [1]byte{byte(sc.TraceFlags())}
	b = append(b, "00-"...)
	b = hex.AppendEncode(b, tid[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, sid[:])
	b = append(b, '-')
	return hex.AppendEncode(b, flags[:])
}

// parseTraceParent returns the span context a stored traceparent s
// describes, marked remote, or an invalid (zero) one when s is empty or
// malformed: a stored value never fails a run, a malformed one only costs
// the link. It reads s with OpenTelemetry's W3C Trace Context propagator,
// which accepts what the specification asks a parser to accept. Only runs
// the store hands out parse one, so its allocations (a map, a context)
// stay off the path of a Start's own run.
func parseTraceParent(s string) trace.SpanContext {
	if s == "" {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{traceParentHeader: s})
	return trace.SpanContextFromContext(ctx)
}
