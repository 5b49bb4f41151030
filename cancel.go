package lro

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// CancelOperation asks for an operation to stop. Running work sees its
// context cancelled (on whichever replica runs it) and, when it returns,
// the operation ends with CANCELLED unless the work finished anyway. An
// operation made by Create, which nothing here runs, and a queued
// operation, whose work has not started, end with CANCELLED at once; the
// queued work never runs. Cancelling a done operation changes nothing and succeeds. It
// fails as GetOperation does.
func (m *Manager) CancelOperation(ctx context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	name := req.GetName()
	if err := m.checkName(ctx, MethodCancel, name); err != nil {
		return nil, err
	}
	r, err := m.store.Update(ctx, name, func(r *Record) error {
		if m.expired(r) {
			return ErrNotFound
		}
		if r.Done() || r.CancelRequested {
			return errNoChange
		}
		if r.Owner == "" || r.Queued() {
			r.CancelRequested = true // for the metadata; ending clears it
			m.endRecord(r, failed(m.cancelledStatus(name)))
			return nil
		}
		r.CancelRequested = true
		m.stampRecord(r, time.Time{})
		r.UpdateTime = m.now()
		return nil
	})
	m.obs.storeError(ctx, storeUpdate, err)
	m.obs.ended(ctx, r, err)
	if err != nil && !errors.Is(err, errNoChange) {
		return nil, m.storeError(err, name)
	}
	m.dropQueued(name)
	// Work running here hears of it at once; elsewhere, through the store.
	m.mu.Lock()
	t := m.running[name]
	m.mu.Unlock()
	if t != nil {
		t.cancel(errCancelled)
	}
	return &emptypb.Empty{}, nil
}

// onEvent cancels the task's work when another replica took the
// operation over (with a cause wrapping ErrLeaseLost), or when a
// cancellation is requested, wherever the request came from.
func (t *task) onEvent(ev Event) {
	switch {
	case !ev.Deleted && ev.Owner != "" && ev.Owner != t.owner:
		t.cancel(fmt.Errorf("%w: replica %q took operation %q over", ErrLeaseLost, ev.Owner, t.name))
	case ev.CancelRequested:
		t.cancel(errCancelled)
	}
}
