package lro

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The OpenTelemetry span of each run of work (docs/OBSERVABILITY.md).

// WithTracerProvider sets where the spans of work go; the default is the
// global provider (otel.GetTracerProvider), read once by New. New fails if
// tp is nil. A no-op provider (go.opentelemetry.io/otel/trace/noop) turns
// the spans off altogether.
//
// Each run of work gets a span named "lro.run", or "lro.run {kind}" for
// registered work, with the attributes lro.kind, lro.attempt and
// lro.operation.name (given at the start, so a sampler sees them), and
// lro.status_code when it fails. Its context is the work's, so spans the
// work starts are its children. It is the root of a new trace and links to
// the span in the context given to Start: that request has usually ended
// by the time the work runs. Every run links to it, wherever it runs:
// a retry, work claimed from the store's queue and work taken over from
// another replica link to the span the record keeps (Record.TraceParent).
// The span records how the
// run ended: an error status "CODE: message" for an operation error, for
// the deadline passing while the work runs, and for a failure that is
// retried; an "exception" event for a panic; "lro.cancelled",
// "lro.deadline_exceeded" and "lro.shutdown" events; an "lro.retry" event
// when the work is queued to run again (KindRetry); and
// "lro.result_dropped" when the result could not be recorded (another
// replica took the operation over). A sampled span whose run ends while
// other sampled runs go on is handed to the span processors up to 1 ms
// later, with theirs, and with its run's end as its end time; Close hands
// over every one held (docs/OBSERVABILITY.md, "When a run's span ends").
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return fmt.Errorf("lro: WithTracerProvider: nil provider")
		}
		c.tracerProvider = tp
		return nil
	}
}

// newTracer returns tp's tracer (the global provider's when tp is nil), or
// nil for a no-op provider, which saves starting spans nobody records.
func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if _, ok := tp.(tracenoop.TracerProvider); ok {
		return nil
	}
	return tp.Tracer(instrumentationName)
}

// runObs is what the observer keeps about one run of work.
type runObs struct {
	ctx     context.Context // the work's context: the task's, with the span
	span    trace.Span      // nil without spans
	sampled bool            // span is sampled: o.ends ends it
	k       *kindAttrs      // nil without an observer
	retried bool            // retrying recorded the run's failure
}

// spanStart holds the option that starts a run's span, built once and
// reused (spanStarts) so that starting a span allocates nothing of its
// own: the attributes change from run to run, the option that carries them
// does not. The SDK copies what the option gives it before Start returns.
type spanStart struct {
	attrs [3]attribute.KeyValue    // lro.kind, lro.attempt, lro.operation.name
	opts  [1]trace.SpanStartOption // passed as a slice: no variadic one to allocate
}

var spanStarts = sync.Pool{New: func() any {
	s := new(spanStart)
	s.opts[0] = trace.WithAttributes(s.attrs[:]...) // of kind internal, the default
	return s
}}

// runBegin starts the span of the run number op.attempt of t's work. The
// work runs with the context it returns.
func (o *observer) runBegin(t *task, op *Op) runObs {
	r := runObs{ctx: t.ctx}
	if o == nil {
		return r
	}
	r.k = o.attrs(t.kind)
	if o.tracer == nil {
		return r
	}
	// The span is a root: the request that started the work has ended, or
	// soon will, so the run links to the request's span rather than being
	// its child. The span starts from the work's context with the
	// request's span hidden (a nil span is no span to OpenTelemetry): one
	// small context, where trace.WithNewRoot would make the SDK add a
	// context and a span of its own, and count the run among the request
	// span's children.
	req := trace.SpanContextFromContext(t.ctx)
	ctx := t.ctx
	if req.HasTraceID() || req.HasSpanID() {
		ctx = trace.ContextWithSpan(ctx, nil)
	}
	if !req.IsValid() {
		// A run the store handed out (a retry, a claim from the queue, a
		// takeover) has no request context: its record keeps the
		// request's span (Record.TraceParent). Parsed only here, so the
		// run of a Start in this process pays nothing for it.
		req = parseTraceParent(t.traceParent)
	}
	// Every attribute is given at the start, where a sampler sees them and
	// the SDK stores them in one go.
	s := spanStarts.Get().(*spanStart)
	s.attrs = [3]attribute.KeyValue{r.k.kind, attrAttempt.Int(int(op.attempt)), attrOperationName.String(t.name)}
	r.ctx, r.span = o.tracer.Start(ctx, r.k.spanName, s.opts[:]...)
	s.attrs = [3]attribute.KeyValue{} // keeps no operation name alive
	spanStarts.Put(s)
	if !r.span.SpanContext().IsValid() {
		// A tracer that makes no spans of its own, such as the global
		// one before an SDK is installed, passes the request's span
		// through: the work keeps it, as it would under that tracer, so
		// that a host that only propagates trace context still does.
		r.ctx = t.ctx
	}
	// A sampled span records (asking IsRecording would take the SDK span's
	// lock once more); one that is not may still record (RecordOnly).
	r.sampled = r.span.SpanContext().IsSampled()
	if req.IsValid() && (r.sampled || r.span.IsRecording()) {
		r.span.AddLink(trace.Link{SpanContext: req})
	}
	if r.sampled {
		o.ends.begin()
	}
	return r
}

// runEnd ends the run r of t's work, which returned werr (nil on success)
// and whose context ended with cause, at now: final is the operation's end
// and recorded whether the store took it. It ends the span, then counts
// the operation as finished, only when recorded, with its duration in the
// span's context (an exemplar can point at the run). A sampled span's end
// goes through o.ends, which hands it over with others while other runs
// go on (spanend.go).
func (o *observer) runEnd(r runObs, t *task, now time.Time, cause, werr error, final *longrunningpb.Operation, recorded bool) {
	if o == nil {
		return
	}
	c := finalCode(final)
	if r.span != nil {
		// A recorded success leaves nothing to describe: End alone,
		// without asking IsRecording (the SDK span's lock) first.
		if !quietEnd(r, c, werr, final, recorded) && r.span.IsRecording() {
			describeEnd(r, c, cause, werr, final, recorded)
		}
		if r.sampled {
			o.ends.end(r.span)
		} else {
			r.span.End()
		}
	}
	if recorded {
		o.operationFinished(r.ctx, r.k, c, now.Sub(t.created))
	}
}

// quietEnd reports whether run r ended in a way describeEnd adds nothing
// for: work that returned without an error and whose successful end was
// recorded.
func quietEnd(r runObs, c codes.Code, werr error, final *longrunningpb.Operation, recorded bool) bool {
	return werr == nil && !r.retried && recorded && final != nil && c == codes.OK
}

// describeEnd records on r's span how its run ended (see runEnd).
func describeEnd(r runObs, c codes.Code, cause, werr error, final *longrunningpb.Operation, recorded bool) {
	span := r.span
	if werr != nil {
		if pe := asPanic(werr); pe != nil {
			span.AddEvent("exception", trace.WithAttributes(
				attribute.String("exception.type", fmt.Sprintf("%T", pe.value)),
				attribute.String("exception.message", fmt.Sprint(pe.value)),
				attribute.String("exception.stacktrace", string(pe.stack))))
		}
	}
	switch {
	case r.retried:
		return // retrying described the run
	case final == nil && errors.Is(cause, errDeadline):
		// The deadline ended the operation while the work ran; what the
		// work returned is dropped.
		span.AddEvent("lro.deadline_exceeded")
		failSpan(span, codes.DeadlineExceeded, errDeadline.Error())
		return
	case c == codes.Canceled:
		span.AddEvent("lro.cancelled", trace.WithAttributes(attribute.Bool("lro.cancel_requested", errors.Is(cause, errCancelled))))
	case c == codes.DeadlineExceeded:
		span.AddEvent("lro.deadline_exceeded")
	case c == codes.Unavailable && errors.Is(cause, errClosing):
		span.AddEvent("lro.shutdown")
	}
	if !recorded {
		span.AddEvent("lro.result_dropped")
	}
	// Success leaves the status unset, as OpenTelemetry asks of libraries.
	if e := final.GetError(); e != nil {
		failSpan(span, c, e.GetMessage())
	}
}

// failSpan marks span as failed with code c: the lro.status_code attribute
// and an error status "CODE: message".
func failSpan(span trace.Span, c codes.Code, message string) {
	name := codeName(c)
	span.SetAttributes(attrStatusCode.String(name))
	span.SetStatus(otelcodes.Error, name+": "+message)
}

// asPanic returns the panic err reports, or nil if it reports none.
func asPanic(err error) *panicError {
	if err == nil {
		return nil
	}
	var pe *panicError // allocated: only for an error
	if !errors.As(err, &pe) {
		return nil
	}
	return pe
}

// retrying records that run r failed with st and that its work runs
// again as attempt next after delay: a count in lro.retries by kind and
// st's code; on the span, an "lro.retry" event and the failure (as
// failSpan). runEnd then adds nothing more to the span.
func (o *observer) retrying(r *runObs, next int32, delay time.Duration, st *status.Status) {
	if o == nil {
		return
	}
	r.retried = true
	o.retries.Add(r.ctx, 1, r.k.byCode[codeIndex(st.Code())].add...)
	if r.span == nil || !r.span.IsRecording() {
		return
	}
	r.span.AddEvent("lro.retry", trace.WithAttributes(
		attribute.Int("lro.retry.attempt", int(next)),
		attribute.Float64("lro.retry.delay", delay.Seconds()),
		attribute.String("error.message", st.Message())))
	failSpan(r.span, st.Code(), st.Message())
}
