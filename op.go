package lro

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
// progress; the next Get shows it. It fails with INVALID_ARGUMENT for a nil
// ctx, or metadata that cannot be packed or is larger than the payload cap
// (WithMaxPayloadSize); with NOT_FOUND once the operation was deleted; and
// with FAILED_PRECONDITION once this replica no longer owns it (another
// replica took it over, or this run was superseded) or it is done. In
// those last two cases it also cancels the work's context, with a cause
// that wraps ErrLeaseLost.
func (o *Op) SetMetadata(ctx context.Context, md proto.Message) error {
	if err := checkContext(ctx, "Op.SetMetadata"); err != nil {
		return err
	}
	a, err := o.m.packPayload("metadata", md)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var lost error
	_, err = o.m.store.Update(ctx, o.name, func(r *Record) error {
		lost = nil // fn may run more than once
		if r.Owner != o.m.cfg.owner || r.Attempt != o.attempt {
			lost = fmt.Errorf("%w: SetMetadata found operation %q owned by %q at attempt %d", ErrLeaseLost, o.name, r.Owner, r.Attempt)
			return status.Errorf(codes.FailedPrecondition, "operation %q: this replica no longer owns it", o.name)
		}
		if r.Done() {
			lost = fmt.Errorf("%w: SetMetadata found operation %q done", ErrLeaseLost, o.name)
			return status.Errorf(codes.FailedPrecondition, "operation %q is done", o.name)
		}
		r.Operation.Metadata = a
		r.UpdateTime = o.m.now()
		return nil
	})
	o.m.obs.storeError(ctx, storeUpdate, err)
	if err != nil {
		if lost != nil && o.lost != nil {
			o.lost(lost)
		}
		return storeError(err, o.name)
	}
	o.md = a
	return nil
}
