package lro

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Op is the handle work uses to learn about and update its operation.
//
// The work's context ends when this replica learns that it no longer owns
// the operation (see WorkFunc): SetMetadata's refusal is one way it learns.
type Op struct {
	m       *Manager
	name    string
	attempt int32
	lost    context.CancelCauseFunc // cancels the work when the operation is lost

	mu sync.Mutex // serialises SetMetadata, so md is what the store holds
	md *anypb.Any // the metadata last written
}

// metadata returns the metadata the work last wrote.
func (o *Op) metadata() *anypb.Any {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.md
}

// Name returns the operation's name.
func (o *Op) Name() string { return o.name }

// Attempt returns which run of the operation this is, starting at 1. Only
// registered work (StartKind) is ever run more than once: after its
// replica was lost, or for a retry (KindRetry).
func (o *Op) Attempt() int { return int(o.attempt) }

// SetMetadata replaces the operation's metadata, for example to publish
// progress; the next Get shows it. Its errors, each a gRPC status with an
// ErrorInfo (see the Reason constants), and what work should do with them:
//
//   - NOT_FOUND (OPERATION_NOT_FOUND): the operation was deleted. Stop:
//     nobody will see the result.
//   - FAILED_PRECONDITION (NOT_OWNER): this replica no longer owns the
//     operation (another replica took it over, or this run was superseded);
//     or (OPERATION_DONE) it is already done, for example cancelled. In both
//     cases SetMetadata also cancels the work's context, with a cause that
//     wraps ErrLeaseLost. Stop: what the work returns is dropped.
//   - INVALID_ARGUMENT: md cannot be packed into an Any (INVALID_METADATA)
//     or is larger than the payload cap, WithMaxPayloadSize
//     (PAYLOAD_TOO_LARGE); or ctx is nil (NIL_ARGUMENT). A bug in the work:
//     the operation keeps its previous metadata; carry on or fail, as suits.
//   - UNAVAILABLE (STORE_UNAVAILABLE): the store is down for now. Carry on:
//     progress is best effort, and the next SetMetadata or the end of the
//     work is written once the store is back.
//   - CANCELLED or DEADLINE_EXCEEDED (REQUEST_CANCELLED,
//     REQUEST_DEADLINE_EXCEEDED): ctx ended. When it is the work's own
//     context, the work is being cancelled: stop.
func (o *Op) SetMetadata(ctx context.Context, md proto.Message) error {
	if err := o.m.checkContext(ctx, "Op.SetMetadata"); err != nil {
		return err
	}
	a, err := o.m.packPayload("metadata", md, o.name)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var lost error
	written := a
	_, err = o.m.store.Update(ctx, o.name, func(r *Record) error {
		lost, written = nil, a // fn may run more than once
		if r.Owner != o.m.cfg.owner || r.Attempt != o.attempt {
			lost = fmt.Errorf("%w: SetMetadata found operation %q owned by %q at attempt %d", ErrLeaseLost, o.name, r.Owner, r.Attempt)
			return o.m.errorf(codes.FailedPrecondition, ReasonNotOwner, map[string]string{ErrorKeyOperation: o.name}, "operation %q: this replica no longer owns it", o.name)
		}
		if r.Done() {
			lost = fmt.Errorf("%w: SetMetadata found operation %q done", ErrLeaseLost, o.name)
			return o.m.operationDone(o.name)
		}
		r.Operation.Metadata = a
		o.m.stampRecord(r, time.Time{})
		written = r.Operation.Metadata
		r.UpdateTime = o.m.now()
		return nil
	})
	o.m.obs.storeError(ctx, storeUpdate, err)
	if err != nil {
		if lost != nil && o.lost != nil {
			o.lost(lost)
		}
		return o.m.storeError(err, o.name)
	}
	o.md = written
	return nil
}
