package lro

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Deadlines. An operation started with WithTimeout, or of a kind with
// KindTimeout, carries a Deadline in its record: CreateTime plus the
// timeout, so time spent queued counts. The replica that holds the
// operation enforces it with a timer: at the deadline it cancels the work's
// context and ends the operation with DEADLINE_EXCEEDED, without waiting
// for the work to return; what the work returns later is dropped. Queued
// operations of a kind, which no replica holds, and operations made with
// Create are ended by the maintenance tick of any replica (expireOverdue).

// errDeadline is the cause of a work context cancelled at the deadline.
var errDeadline = errors.New("operation deadline exceeded")

// timeoutFor is the timeout of an operation started with sc, of kind k
// (nil for none): WithTimeout's, else KindTimeout's, else none (0).
func timeoutFor(sc startConfig, k *kindInfo) time.Duration {
	if sc.timeout > 0 {
		return sc.timeout
	}
	if k != nil {
		return k.timeout
	}
	return 0
}

// deadlineStatus is the status of an operation that missed its deadline.
func (m *Manager) deadlineStatus(name string) *status.Status {
	return m.newStatus(codes.DeadlineExceeded, ReasonOperationDeadlineExceeded, map[string]string{ErrorKeyOperation: name}, "operation deadline exceeded")
}

// armDeadline ends the named operation at its deadline at, unless the
// returned stop is called first, or, when untilClose is set, Close begins
// (the maintenance tick of a replica enforces it then), or the Manager
// stops. A zero at arms nothing. The timer is counted in m.bg, so Close
// waits for it; the caller holds m.mu, and either Close has not begun or
// the timer belongs to a task, which ends before the Manager stops.
func (m *Manager) armDeadline(name string, at time.Time, untilClose bool) (stop func()) {
	if at.IsZero() {
		return noop
	}
	done := make(chan struct{})
	t := m.clock.NewTimer(at.Sub(m.now()))
	var closing <-chan struct{}
	if untilClose {
		closing = m.closing
	}
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		select {
		case <-t.C():
			m.expire(m.abandonCtx, name)
		case <-done:
			t.Stop()
		case <-closing:
			t.Stop()
		case <-m.stopBG:
			t.Stop()
		}
	}()
	return sync.OnceFunc(func() { close(done) })
}

// expire ends the named operation with DEADLINE_EXCEEDED if it is not done
// and this Manager holds it (or nobody does): its work's context is
// cancelled first, so the work's own result is dropped.
func (m *Manager) expire(ctx context.Context, name string) {
	m.mu.Lock()
	t := m.running[name]
	el := m.q.byName[name]
	if el != nil {
		m.q.local.Remove(el)
		delete(m.q.byName, name)
	}
	m.mu.Unlock()
	if el != nil {
		m.obs.dequeued(ctx, "")
	}
	if t != nil {
		t.cancel(errDeadline)
	}
	ended, err := m.store.Update(ctx, name, func(r *Record) error {
		if r.Done() || (r.Owner != "" && r.Owner != m.cfg.owner) {
			return errNoChange
		}
		m.endRecord(r, failed(m.deadlineStatus(name)))
		return nil
	})
	m.obs.storeError(ctx, storeUpdate, err)
	m.obs.ended(ctx, ended, err)
	if err != nil && !errors.Is(err, errNoChange) && !errors.Is(err, ErrNotFound) {
		m.log.Warn("lro: ending an operation at its deadline", "operation", name, "error", err)
	}
}

// expireOverdue ends the operations nobody holds (queued kinds, Create)
// whose deadline has passed.
func (m *Manager) expireOverdue(ctx context.Context) {
	now := m.now()
	recs, err := m.store.ClaimQueued(ctx, QueueClaimParams{
		Owner: m.cfg.owner, Now: now, Limit: sweepBatch, Overdue: true,
	})
	if err != nil {
		m.log.Warn("lro: ending overdue operations", "error", err)
	}
	for _, r := range recs {
		m.expire(ctx, r.Operation.GetName())
	}
}
