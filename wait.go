package lro

import (
	"context"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/status"
)

// WaitOperation blocks until the operation is done or until the shortest of
// the request's timeout, the RPC deadline and the server cap (WithMaxWait)
// has passed, then returns its latest state: a timeout is not an error. An
// unset timeout means the server cap; a negative one is INVALID_ARGUMENT.
// Otherwise it fails as GetOperation does, or with the status of ctx's
// error when the caller goes away.
// Waiters are woken by the store's change notification, never by polling
// an in-process store. For a store whose notifications can be lost
// (Poller), one pass per Manager re-reads the operations waited on, and
// none while the store reports its notifications flow (NotifyHealth).
func (m *Manager) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	name := req.GetName()
	if err := m.checkName(ctx, MethodWait, name); err != nil {
		return nil, err
	}
	wait := m.cfg.maxWait
	if req.Timeout != nil {
		if err := req.Timeout.CheckValid(); err != nil {
			return nil, invalidArgument("timeout: %v", err)
		}
		d := req.Timeout.AsDuration()
		if d < 0 {
			return nil, invalidArgument("timeout %v is negative", d)
		}
		wait = min(wait, d)
	}

	wake := make(chan struct{}, 1)
	stop := m.store.Watch(name, func(ev Event) {
		if ev.Done || ev.Deleted {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
	defer stop()
	if m.polled {
		defer m.waiting.add(name, wake)()
	}

	r, err := m.lookup(ctx, name)
	if err != nil || r.Done() || wait == 0 {
		return r.opOrNil(), err
	}

	m.obs.waitBegin(ctx, r.Kind)
	defer m.obs.waitEnd(ctx, r.Kind)
	timer := m.clock.NewTimer(wait)
	defer timer.Stop()
	// Answer a little before the RPC deadline so the answer still arrives.
	var deadline <-chan time.Time
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		t := time.NewTimer(max(left-min(left/10, 100*time.Millisecond), 0))
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case <-wake:
		case <-timer.C():
			return m.current(ctx, name)
		case <-deadline:
			return m.current(context.WithoutCancel(ctx), name)
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-m.stopBG:
			// Closed: nothing here will finish the operation any more.
			return m.current(ctx, name)
		}
		if r, err = m.lookup(ctx, name); err != nil || r.Done() {
			return r.opOrNil(), err
		}
	}
}
