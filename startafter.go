package lro

import (
	"container/heap"
	"time"

	"google.golang.org/grpc/codes"
)

// Delayed start. An operation of a registered kind started with
// WithStartAfter is stored queued with Record.RunAfter set, as a retry
// waiting for its backoff is, and no replica claims it before then.

// WithStartAfter starts the operation of a registered kind (StartKind,
// pgstore.StartKindTx) no earlier than t: until then it is queued
// (done=false, listed by the filter queued = true) and can be cancelled or
// deleted like any queued operation. At t, the Manager that started it
// claims it if it registered the kind and has a free slot; any other
// replica claims it at its next look at the queue after t (a queue
// notification, a slot freeing, or its maintenance round every third of
// WithLease). A t not after the start time starts it as without the
// option. A deadline (WithTimeout, KindTimeout) still counts from the
// start, so t must come before it.
//
// Start and Create fail with INVALID_ARGUMENT when given it (a work
// function cannot wait in the store), and so does a start whose deadline
// is not after t.
func WithStartAfter(t time.Time) StartOption {
	return func(c *startConfig) { c.startAfter = t }
}

// startLater sets the RunAfter of rec, the new record of an operation
// (see newRecord), for a start no earlier than at (WithStartAfter), or
// fails with INVALID_ARGUMENT when rec cannot wait for it.
func (m *Manager) startLater(rec *Record, at time.Time) error {
	switch {
	case at.IsZero():
		return nil
	case rec.Kind == "":
		return m.errorf(codes.InvalidArgument, ReasonInvalidStartOption, nil,
			"lro: WithStartAfter: only an operation of a registered kind (StartKind) can start later; a work function cannot wait in the store")
	case !at.After(rec.CreateTime):
		return nil
	}
	at = at.UTC().Truncate(time.Microsecond) // as stores keep it
	if !rec.Deadline.IsZero() && !at.Before(rec.Deadline) {
		return m.errorf(codes.InvalidArgument, ReasonInvalidStartOption, nil,
			"lro: WithStartAfter: %s is not before the operation's deadline %s (WithTimeout and KindTimeout count from the start)",
			at.Format(time.RFC3339Nano), rec.Deadline.Format(time.RFC3339Nano))
	}
	rec.RunAfter = at
	return nil
}

// claimAt makes this Manager look for queued work of the kind at time at
// (a retry after its backoff, WithStartAfter) as well as now. An
// accept-only Manager claims nothing and schedules nothing.
func (m *Manager) claimAt(kind string, at time.Time) {
	if m.cfg.maxRunning == 0 {
		return
	}
	m.mu.Lock()
	m.q.pending[kind] = true
	heap.Push(&m.q.due, at)
	m.mu.Unlock()
	m.wakeQueue()
}

// dueTimes are the times when queued work this Manager scheduled becomes
// claimable, as a min-heap: queueLoop sleeps until the earliest.
type dueTimes []time.Time

func (d dueTimes) Len() int           { return len(d) }
func (d dueTimes) Less(i, j int) bool { return d[i].Before(d[j]) }
func (d dueTimes) Swap(i, j int)      { d[i], d[j] = d[j], d[i] }
func (d *dueTimes) Push(x any)        { *d = append(*d, x.(time.Time)) }
func (d *dueTimes) Pop() any {
	old := *d
	t := old[len(old)-1]
	*d = old[:len(old)-1]
	return t
}

// next returns the earliest due time, or zero for none.
func (d dueTimes) next() time.Time {
	if len(d) == 0 {
		return time.Time{}
	}
	return d[0]
}

// popDue removes the due times not after now and reports whether there
// were any.
func (d *dueTimes) popDue(now time.Time) bool {
	popped := false
	for len(*d) > 0 && !(*d)[0].After(now) {
		heap.Pop(d)
		popped = true
	}
	return popped
}
