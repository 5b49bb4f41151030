package lro

import (
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// endLog records, in order, the spans of a test that have ended.
type endLog struct {
	mu    sync.Mutex
	ended []*loggedSpan
	next  chan *loggedSpan // each End is sent here too when not nil
}

// loggedSpan is a span that records its End in its endLog.
type loggedSpan struct {
	tracenoop.Span
	id  int
	log *endLog
	at  time.Time // the end time End was given, zero for "now"
}

func (s *loggedSpan) End(opts ...trace.SpanEndOption) {
	cfg := trace.NewSpanEndConfig(opts...)
	s.at = cfg.Timestamp()
	s.log.mu.Lock()
	s.log.ended = append(s.log.ended, s)
	next := s.log.next
	s.log.mu.Unlock()
	if next != nil {
		next <- s
	}
}

func (l *endLog) span(id int) *loggedSpan { return &loggedSpan{id: id, log: l} }

// ids returns the ids of the spans ended so far, in order.
func (l *endLog) ids() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := []int{}
	for _, s := range l.ended {
		ids = append(ids, s.id)
	}
	return ids
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSpanEnds pins when the span of a run ends: at once with no other
// run going, held back while others run, and handed over with the rest
// when the last run ends, when spanEndBatch are held, or at close. The
// bound on the wait is an hour here: no timer fires.
func TestSpanEnds(t *testing.T) {
	type step struct {
		begin int   // runs that begin
		end   int   // then the span with this id ends (0: none)
		close bool  // then spanEnds closes
		want  []int // the ids ended so far
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a lone run ends its span at once", []step{
			{begin: 1, end: 1, want: []int{1}},
			{begin: 1, end: 2, want: []int{1, 2}},
		}},
		{"held while another runs, ended with the last", []step{
			{begin: 3, end: 1, want: []int{}},
			{end: 2, want: []int{}},
			{end: 3, want: []int{1, 2, 3}},
			{begin: 1, end: 4, want: []int{1, 2, 3, 4}},
		}},
		{"a full batch is ended by the span that fills it", func() []step {
			steps := []step{{begin: spanEndBatch + 1}}
			for id := 1; id < spanEndBatch; id++ {
				steps = append(steps, step{end: id, want: []int{}})
			}
			all := []int{}
			for id := 1; id <= spanEndBatch; id++ {
				all = append(all, id)
			}
			return append(steps, step{end: spanEndBatch, want: all})
		}()},
		{"close ends what is held, and every later span at once", []step{
			{begin: 3, end: 1, want: []int{}},
			{close: true, want: []int{1}},
			{end: 2, want: []int{1, 2}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSpanEnds(time.Hour)
			log := &endLog{}
			for i, s := range tt.steps {
				for range s.begin {
					e.begin()
				}
				if s.end != 0 {
					e.end(log.span(s.end))
				}
				if s.close {
					e.close()
				}
				if got := log.ids(); s.want != nil && !equalInts(got, s.want) {
					t.Fatalf("after step %d: ended %v, want %v", i, got, s.want)
				}
			}
			e.close()
		})
	}
}

// TestSpanEndsKeepTheEndTime checks that a span held back ends at the time
// its run ended, not when it is handed over, and that a span ended at once
// on its own is left to take its own.
func TestSpanEndsKeepTheEndTime(t *testing.T) {
	e := newSpanEnds(time.Hour)
	log := &endLog{}
	e.begin()
	e.begin()
	before := time.Now()
	held := log.span(1)
	e.end(held)
	after := time.Now()
	last := log.span(2)
	e.end(last)
	if held.at.IsZero() || held.at.Before(before) || held.at.After(after) {
		t.Errorf("held span ended at %v, want its run's end, between %v and %v", held.at, before, after)
	}
	if !last.at.IsZero() && last.at.Before(after) {
		t.Errorf("last span ended at %v, before its run ended (after %v)", last.at, after)
	}
	lone := log.span(3)
	e.begin()
	e.end(lone)
	if !lone.at.IsZero() {
		t.Errorf("a lone span ended with the time %v given, want none (it ends at once, at its own time)", lone.at)
	}
	e.close()
}

// TestSpanEndsWaitIsBounded checks that a held span ends within the wait
// while another run goes on, and that a later one is held and ended again.
func TestSpanEndsWaitIsBounded(t *testing.T) {
	e := newSpanEnds(time.Millisecond)
	defer e.close()
	log := &endLog{next: make(chan *loggedSpan, 2)}
	e.begin() // a run that does not end during the test
	for id := 1; id <= 2; id++ {
		e.begin()
		e.end(log.span(id))
		select {
		case s := <-log.next:
			if s.id != id {
				t.Fatalf("span %d ended, want %d", s.id, id)
			}
		case <-time.After(spanEndTestLimit):
			t.Fatalf("span %d still held after %v with another run going", id, spanEndTestLimit)
		}
	}
}

// TestSpanEndsCloseWaitsForTheTimer checks, with the race detector, that
// close and a firing timer end each held span once, and that close returns
// only after the timer's flush has.
func TestSpanEndsCloseWaitsForTheTimer(t *testing.T) {
	for range 50 {
		e := newSpanEnds(time.Microsecond)
		log := &endLog{}
		e.begin()
		e.begin()
		e.end(log.span(1))
		e.close()
		if got := log.ids(); !equalInts(got, []int{1}) {
			t.Fatalf("after close: ended %v, want [1]", got)
		}
		e.end(log.span(2))
	}
}

// spanEndTestLimit is how long the tests here wait for a held span before
// failing: far above spanEndWait, so it only ends a test that would hang.
const spanEndTestLimit = 10 * time.Second
