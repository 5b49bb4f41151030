package demo

import (
	"context"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/lrokit/lro"
)

// Watching is an lro.Manager that also implements lroweb.Watcher, the way
// the proposed (*lro.Manager).WatchOperation would: every read goes through
// GetOperation (so the Authorizer applies), and the store's change
// notification says when to read again.
type Watching struct {
	*lro.Manager
}

// WatchOperation sends name's current state, then its state after each
// change, until it is done (nil), deleted (NOT_FOUND), ctx ends (ctx's
// status) or send fails (send's error).
func (w Watching) WatchOperation(ctx context.Context, name string, send func(*longrunningpb.Operation) error) error {
	changed := make(chan struct{}, 1)
	stop := w.Store().Watch(name, func(lro.Event) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer stop()
	var last *longrunningpb.Operation
	for {
		op, err := w.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
		if err != nil {
			return err
		}
		if !proto.Equal(op, last) {
			if err := send(op); err != nil {
				return err
			}
			last = op
		}
		if op.GetDone() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}
