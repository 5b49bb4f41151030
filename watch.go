package lro

import (
	"context"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// WatchOperation sends the operation's current state to send, then its
// state after each change (changes may be merged into one), until the
// operation is done. It is the live feed behind a console page: unlike
// WaitOperation it reports metadata changes too. The caller is authorized
// as for GetOperation.
//
// It returns nil after sending a done state; NOT_FOUND once the operation
// is deleted or expires; the context's status when ctx ends; UNAVAILABLE
// when the Manager closes; and send's own error, unchanged, when send
// fails. Changes are learnt from the store's notifications; for a store
// whose notifications can be lost, the Manager's one re-read pass of the
// operations waited on reports the end (not metadata changes) while they
// do not flow (see WaitOperation).
func (m *Manager) WatchOperation(ctx context.Context, name string, send func(*longrunningpb.Operation) error) error {
	if ctx == nil {
		return status.Error(codes.InvalidArgument, "lro: WatchOperation: nil context")
	}
	if send == nil {
		return status.Error(codes.InvalidArgument, "lro: WatchOperation: nil send")
	}
	if err := m.checkName(ctx, MethodGet, name); err != nil {
		return err
	}
	changed := make(chan struct{}, 1)
	stop := m.store.Watch(name, func(Event) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer stop()
	if m.polled {
		defer m.waiting.add(name, changed)()
	}
	var last *longrunningpb.Operation
	for {
		r, err := m.lookup(ctx, name)
		if err != nil {
			return err
		}
		if op := r.Operation; !proto.Equal(op, last) {
			if err := send(op); err != nil {
				return err
			}
			last = op
		}
		if r.Done() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-m.stopBG:
			return errManagerClosed()
		}
	}
}

// errManagerClosed is the answer of a call that needs a Manager that is
// no longer running.
func errManagerClosed() error {
	return status.Error(codes.Unavailable, "lro: the operations manager is closed")
}
