package lro

import (
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// How the spans of runs end (docs/OBSERVABILITY.md, "When a run's span
// ends").
//
// Ending a span hands it to the tracer provider's span processors. The
// SDK's batching processor takes it over a channel to a goroutine of its
// own, which waits there between spans: each span that ends on its own
// wakes that goroutine for that span alone, and on a busy replica those
// wake-ups cost close to a third of what the span costs (BENCHMARKS.md
// § 6). So
// while other runs are still going, a run's span is held back, with its
// end time, and handed over with theirs: when the last of them ends, when
// spanEndBatch are held, or spanEndWait after the first was held back,
// whichever comes first. A run that ends while no other runs ends its span
// at once, as before.

// spanEndBatch is how many ended spans are held back at most.
const spanEndBatch = 32

// spanEndWait is how long a span is held back at most.
const spanEndWait = time.Millisecond

// heldSpan is the span of a run that has ended, and the option that ends
// it at the time its run ended (kept as an array: ending it passes a slice
// of it, not a new one).
type heldSpan struct {
	span trace.Span
	end  [1]trace.SpanEndOption
}

// spanEnds ends the spans of runs, gathering those that end while others
// run. Its zero value is not ready; use newSpanEnds.
type spanEnds struct {
	wait   time.Duration // spanEndWait, or another bound in tests
	active atomic.Int64  // runs whose span has started and not ended

	mu     sync.Mutex
	held   []heldSpan  // in the order they ended
	spare  []heldSpan  // an emptied batch, for the next
	timer  *time.Timer // calls flushLater; nil until first armed
	armed  bool        // timer will call flushLater
	closed bool        // spans end at once
	late   sync.WaitGroup
}

func newSpanEnds(wait time.Duration) *spanEnds {
	return &spanEnds{wait: wait}
}

// begin counts a run whose span has started.
func (e *spanEnds) begin() { e.active.Add(1) }

// end ends span, the span of a run counted by begin, now or soon: at once
// when no other run is going and none is held back, else with the held
// ones (see above), with the time of this call as its end.
func (e *spanEnds) end(span trace.Span) {
	others := e.active.Add(-1)
	e.mu.Lock()
	if e.closed || (others == 0 && len(e.held) == 0) {
		e.mu.Unlock()
		span.End()
		return
	}
	e.held = append(e.held, heldSpan{span: span, end: [1]trace.SpanEndOption{trace.WithTimestamp(time.Now())}})
	if others > 0 && len(e.held) < spanEndBatch {
		e.armLocked()
		e.mu.Unlock()
		return
	}
	batch := e.takeLocked()
	e.mu.Unlock()
	e.endAll(batch)
}

// armLocked makes sure that what is held is ended within e.wait.
func (e *spanEnds) armLocked() {
	if e.armed {
		return
	}
	e.armed = true
	e.late.Add(1)
	if e.timer == nil {
		e.timer = time.AfterFunc(e.wait, e.flushLater)
		return
	}
	e.timer.Reset(e.wait)
}

// takeLocked returns the held spans and holds none, disarming the timer
// if it has not fired.
func (e *spanEnds) takeLocked() []heldSpan {
	batch := e.held
	e.held, e.spare = e.spare, nil
	if e.armed && e.timer.Stop() {
		e.armed = false
		e.late.Done()
	}
	return batch
}

// endAll ends the spans of batch at their end times, then keeps batch
// for reuse.
func (e *spanEnds) endAll(batch []heldSpan) {
	for i := range batch {
		batch[i].span.End(batch[i].end[:]...)
		batch[i] = heldSpan{}
	}
	e.mu.Lock()
	if e.spare == nil {
		e.spare = batch[:0]
	}
	e.mu.Unlock()
}

// flushLater ends what is held when e.wait has passed.
func (e *spanEnds) flushLater() {
	defer e.late.Done()
	e.mu.Lock()
	e.armed = false // fired: takeLocked has no timer to stop
	batch := e.takeLocked()
	e.mu.Unlock()
	e.endAll(batch)
}

// close ends every span held back, waits for a flushLater that has
// started, and makes every later end immediate.
func (e *spanEnds) close() {
	e.mu.Lock()
	e.closed = true
	batch := e.takeLocked()
	e.mu.Unlock()
	e.endAll(batch)
	e.late.Wait()
}
